"""The broker: a Celery app built from a URL, and the queues agents and coordinators share.

Nothing here is a module-level app: :func:`make_app` builds one per process from the URL it
is given (``--broker`` or ``$SENTINEL_BROKER``). Everything on the broker is durable and every
message persistent:

- ``sentinel.units`` (topic exchange): work units, routing key ``sentinel.seg.<segment>.<scan>``;
- ``sentinel.seg.<segment>`` (quorum queue, bound to ``sentinel.seg.<segment>.*``): one per
  segment, consumed only by that segment's agents; units are acknowledged late (after the
  agent has sent its result), so a lost agent's unit goes to another agent of the segment;
  a unit returned more than ``DELIVERY_LIMIT`` times, or rejected (refused), is dead-lettered
  to ``sentinel.dlx`` with its routing key;
- ``sentinel.dead.<scan>`` (quorum, bound to ``sentinel.dlx`` with ``sentinel.seg.*.<scan>``):
  one scan's dead units, read by its coordinator;
- ``sentinel.results.<scan>`` (quorum, default exchange): one scan's results;
- ``sentinel.heartbeats`` (fanout exchange and quorum queue): agents' heartbeats, drained into
  a store by a coordinator or ``sentinel agents``.
"""

from __future__ import annotations

import os
import ssl
from typing import Any
from urllib.parse import urlsplit

from celery import Celery
from kombu import Connection, Exchange, Queue
from kombu.utils.url import sanitize_url

from sentinel.agent.protocol import (
    DEAD_EXCHANGE,
    DELIVERY_LIMIT,
    HEARTBEAT_EXCHANGE,
    HEARTBEAT_QUEUE,
    UNITS_EXCHANGE,
    dead_queue,
    results_queue,
    segment_queue,
)
from sentinel.errors import BrokerError, UsageError

BROKER_ENV = "SENTINEL_BROKER"
CA_ENV = "SENTINEL_BROKER_CA"
HEARTBEAT_BACKLOG = 100_000  # heartbeats kept while nobody drains them (oldest dropped)


def broker_url(given: str | None) -> str:
    """``--broker`` when given, else ``$SENTINEL_BROKER``."""
    url = given or os.environ.get(BROKER_ENV, "")
    if not url:
        raise UsageError(f"no broker: pass --broker URL or set ${BROKER_ENV} "
                         "(make broker prints it)")
    scheme = urlsplit(url).scheme
    if scheme not in ("amqp", "amqps"):
        raise UsageError(f"broker URL scheme {scheme!r}: expected amqp:// or amqps://")
    return url


def redacted(url: str) -> str:
    """The URL without its password, for messages and logs."""
    return str(sanitize_url(url))


def tls_options(url: str) -> dict[str, Any] | None:
    """py-amqp's TLS options for an ``amqps://`` URL: the CA from ``$SENTINEL_BROKER_CA``
    (else the system's), the certificate required, the host name checked. A dict, as py-amqp
    silently replaces an ``SSLContext`` with default options."""
    parts = urlsplit(url)
    if parts.scheme != "amqps":
        return None
    options: dict[str, Any] = {"cert_reqs": ssl.CERT_REQUIRED,
                               "server_hostname": parts.hostname or "localhost"}
    ca = os.environ.get(CA_ENV)
    if ca:
        options["ca_certs"] = ca
    return options


def connection(url: str, *, confirm: bool = True) -> Connection:
    """A kombu connection; with ``confirm``, a publish returns once the broker has the
    message (without, the caller takes the confirms itself: the coordinator pipelines
    them)."""
    return Connection(url, ssl=tls_options(url) or False, connect_timeout=10,
                      transport_options={"confirm_publish": True} if confirm else {})


def connect(url: str, retries: int = 2) -> Connection:
    """An open connection (``retries`` more tries, half a second apart), or
    :class:`BrokerError` naming the broker without its password."""
    conn = connection(url)
    try:
        conn.ensure_connection(max_retries=retries, interval_start=0.5, interval_step=0.5)
    except Exception as exc:
        conn.release()
        raise BrokerError(f"broker {redacted(url)}: {why(exc)}") from None
    return conn


def why(exc: BaseException) -> str:
    """An exception's message for people, never echoing a URL's credentials."""
    text = str(exc) or type(exc).__name__
    return text if "@" not in text else type(exc).__name__


def units_exchange() -> Exchange:
    return Exchange(UNITS_EXCHANGE, type="topic", durable=True)


def dead_exchange() -> Exchange:
    return Exchange(DEAD_EXCHANGE, type="topic", durable=True)


def heartbeat_exchange() -> Exchange:
    return Exchange(HEARTBEAT_EXCHANGE, type="fanout", durable=True)


def segment_units(segment: str) -> Queue:
    """A segment's queue of work units (the same arguments wherever it is declared)."""
    name = segment_queue(segment)
    return Queue(name, units_exchange(), routing_key=f"{name}.*", durable=True,
                 queue_arguments={"x-queue-type": "quorum", "x-delivery-limit": DELIVERY_LIMIT,
                                  "x-dead-letter-exchange": DEAD_EXCHANGE})


def scan_results(scan_id: str) -> Queue:
    name = results_queue(scan_id)
    return Queue(name, routing_key=name, durable=True,
                 queue_arguments={"x-queue-type": "quorum"})


def scan_dead(scan_id: str) -> Queue:
    return Queue(dead_queue(scan_id), dead_exchange(), routing_key=f"sentinel.seg.*.{scan_id}",
                 durable=True, queue_arguments={"x-queue-type": "quorum"})


def heartbeats() -> Queue:
    return Queue(HEARTBEAT_QUEUE, heartbeat_exchange(), durable=True,
                 queue_arguments={"x-queue-type": "quorum", "x-max-length": HEARTBEAT_BACKLOG})


def make_app(url: str, segments: tuple[str, ...] = ()) -> Celery:
    """A Celery app on ``url`` (an agent passes its segments: their queues are the only ones
    its worker consumes). Late acknowledgement, reject on worker loss, one unit prefetched,
    persistent JSON messages, no result backend (results travel on the scan's own queue), no
    remote control and no events (nobody but the coordinator steers an agent)."""
    app = Celery("sentinel-agent", broker=url, set_as_current=False)
    app.conf.update(
        broker_use_ssl=tls_options(url) or False,
        broker_transport_options={"confirm_publish": True},
        broker_connection_retry_on_startup=True,
        broker_connection_max_retries=None,
        task_serializer="json",
        accept_content=["json"],
        result_backend=None,
        task_ignore_result=True,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_default_delivery_mode="persistent",
        task_queues=[segment_units(s) for s in segments],
        task_create_missing_queues=False,
        task_default_exchange=UNITS_EXCHANGE,
        task_default_exchange_type="topic",
        worker_enable_remote_control=False,
        worker_send_task_events=False,
        worker_hijack_root_logger=False,
        worker_redirect_stdouts=False,
        worker_detect_quorum_queues=True,
    )
    return app
