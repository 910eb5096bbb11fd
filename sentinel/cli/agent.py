"""``sentinel agent run``, ``sentinel agents`` and the coordinator behind ``sentinel scan
--broker``. Thin: parse, call :mod:`sentinel.agent`, print.

The broker URL comes from ``--broker`` or ``$SENTINEL_BROKER`` (so a URL with credentials need
not appear on a command line); the agent key from ``$SENTINEL_AGENT_KEY`` or the 0600 file
named by ``$SENTINEL_AGENT_KEY_FILE``. See docs/agents.md.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import sys
from contextlib import nullcontext
from pathlib import Path
from typing import Annotated

import typer

from sentinel.cli.output import fail, say
from sentinel.errors import SentinelError, UsageError

app = typer.Typer(no_args_is_help=True, help="An agent inside a segment, on a broker.")

BrokerOption = Annotated[
    str | None,
    typer.Option("--broker", help="Broker URL, amqp:// or amqps:// (default: $SENTINEL_BROKER)."),
]
StoreOption = Annotated[
    Path | None,
    typer.Option("--store", help="SQLite store (default: $SENTINEL_STORE or "
                 "~/.local/share/sentinel/sentinel.db)"),
]


@app.command("run")
def run_command(
    playbook: Annotated[Path, typer.Option("--playbook", "-p", help="This agent's playbook: "
                                           "its scope and limits bound every unit.")],
    segment: Annotated[list[str], typer.Option("--segment", help="A segment (or tenant) id "
                                               "this agent serves; repeat for several.")],
    broker: BrokerOption = None,
    name: Annotated[str | None, typer.Option(
        "--name", help="Agent id (default: <host>-<segments>); unique per agent.")] = None,
    heartbeat: Annotated[float, typer.Option(
        "--heartbeat", help="Seconds between heartbeats.", min=0.2, max=3600)] = 10.0,
    allow_public: Annotated[bool, typer.Option(
        "--allow-public-scope", help="Let the playbook's authorised scope reach public "
        "space.")] = False,
) -> None:
    """Consume the work units of the given segments until SIGTERM (the unit in hand ends)."""
    from sentinel.agent.broker import broker_url, redacted
    from sentinel.agent.protocol import load_key
    from sentinel.agent.worker import Agent
    from sentinel.playbook import load_playbook

    try:
        url = broker_url(broker)
        key = load_key()
        book = load_playbook(playbook)
        segments = tuple(segment)
        agent_id = name or f"{socket.gethostname()}-{'+'.join(segments)}"
        if not agent_id or len(agent_id) > 128 or any(c.isspace() for c in agent_id):
            raise UsageError(f"--name {agent_id!r}: 1-128 characters, no spaces")
        agent = Agent(book, segments, key, url, agent_id=agent_id, interval_s=heartbeat,
                      allow_public=allow_public)
    except SentinelError as exc:
        fail(exc)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    say(f"agent {agent_id} for {', '.join(agent.segments)} on {redacted(url)}")
    agent.run()


def agents_command(
    as_json: Annotated[bool, typer.Option("--json", help="A JSON array of agents.")] = False,
    broker: BrokerOption = None,
    store: StoreOption = None,
) -> None:
    """List agents from their heartbeats (first taking those waiting on the broker, when a
    broker is configured)."""
    from sentinel.agent.broker import BROKER_ENV, broker_url
    from sentinel.agent.coordinator import drain_heartbeats, record_heartbeats
    from sentinel.agent.protocol import load_key
    from sentinel.model import now
    from sentinel.store.sqlite import SqliteStore, default_path

    drain = bool(broker or os.environ.get(BROKER_ENV))
    try:
        with SqliteStore(store or default_path(), create=drain) as db:
            if drain:
                beats, ignored = drain_heartbeats(broker_url(broker), load_key())
                asyncio.run(record_heartbeats(db, None, beats))
                if ignored:
                    say(f"{ignored} heartbeat message(s) ignored: bad signature or malformed")
            agents = db.agents()
    except SentinelError as exc:
        fail(exc)
    moment = now()
    if as_json:
        docs = [{**a.model_dump(mode="json"), "live": a.live(moment)} for a in agents]
        json.dump(docs, sys.stdout, ensure_ascii=False, indent=1)
        print()
        return
    for a in agents:
        state = "live" if a.live(moment) else ("stopped" if a.state == "stopped" else "silent")
        print(f"{a.agent_id:<32} {state:<8} {','.join(a.segments):<24} "
              f"{','.join(a.vantage):<20} done {a.units_done} failed {a.units_failed} "
              f"refused {a.units_refused}  last seen {a.seen.isoformat(timespec='seconds')}")


def scan_through_agents(
    playbook: Path,
    broker: str,
    *,
    store: Path | None,
    es_url: str | None,
    deadline: float | None,
    shard_size: int,
    unit_timeout: float | None,
    allow_public: bool = False,
    resume: str | None = None,
) -> None:
    """``sentinel scan --broker``: the coordinator. Prints the scan id on stdout. Without
    ``--resume``, a ``running`` scan through agents of the same playbook in the store (its
    coordinator was killed) is resumed rather than a new one started."""
    from sentinel.agent.broker import broker_url
    from sentinel.agent.coordinator import Coordinator
    from sentinel.agent.protocol import load_key
    from sentinel.cli.es import open_sink
    from sentinel.playbook import load_playbook
    from sentinel.store.sqlite import SqliteStore, default_path

    try:
        url = broker_url(broker)
        key = load_key()
        book = load_playbook(playbook)
        with (
            SqliteStore(store or default_path()) as db,
            open_sink(es_url) if es_url else nullcontext() as sink,
        ):
            if resume is None:
                running = [r for r in db.scans() if r.status == "running" and r.units
                           and r.playbook == str(playbook)]
                if running:
                    resume = running[-1].id
                    say(f"scan {resume} of this playbook is still running (its coordinator "
                        "is gone?): resuming it")
            coordinator = Coordinator(
                book, db, playbook_name=str(playbook), url=url, key=key, sink=sink,
                deadline_s=deadline, shard_size=shard_size, unit_timeout_s=unit_timeout,
                allow_public=allow_public, notify=lambda text: say(f"warning: {text}"),
                resume=resume)
            record = asyncio.run(coordinator.run())
    except SentinelError as exc:
        fail(exc)
    say(
        f"scan {record.id} {record.status}: {record.units} work units, "
        f"{sum(record.attempts.values())} attempts "
        f"({', '.join(f'{k} {v}' for k, v in sorted(record.attempts.items()))}), "
        f"{record.findings} failed checks"
    )
    for unit in record.unfinished:
        say(f"  unfinished {unit.unit} ({unit.segment}, {unit.probe}): {unit.reason}")
    print(record.id)
