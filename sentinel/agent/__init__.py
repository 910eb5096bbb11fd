"""Agents: a scan spread over segments and cloud tenants, on Celery over RabbitMQ.

``protocol`` (signed work units, results and heartbeats), ``broker`` (the Celery app factory
and the queues), ``worker`` (the agent inside a segment), ``coordinator`` (cuts the plan into
units, follows them, and assesses and stores like an in-process scan). See docs/agents.md.
"""
