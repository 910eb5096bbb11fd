"""The coordinator SIGKILLed mid-scan and started again: it resumes following the same scan.
The assets it had stored stay as they are, the unit that ended while no coordinator ran
waits on the scan's durable results queue and is taken by the new one, nothing is probed or
recorded twice, and a second coordinator cannot follow a scan that one already follows."""

from __future__ import annotations

import json
import sqlite3
from collections import Counter
from pathlib import Path
from typing import Any

from kombu import Connection

from tests.integration.agents.conftest import Env, wait_for
from tests.integration.agents.test_agents import observations, playbook, scan_record


def _stored(store: Path) -> set[str]:
    if not store.exists():
        return set()
    try:
        rows = sqlite3.connect(store).execute("SELECT asset_id FROM observations").fetchall()
    except sqlite3.OperationalError:  # the schema is not there yet
        return set()
    return {r[0] for r in rows}


def _running(store: Path) -> str | None:
    try:
        row = sqlite3.connect(store).execute(
            "SELECT id FROM scans WHERE json_extract(doc, '$.status') = 'running'").fetchone()
    except sqlite3.OperationalError:
        return None
    return row[0] if row else None


def test_killed_coordinator_is_resumed_and_loses_nothing(env: Env, tag: str,
                                                         servers: Any) -> None:
    seg = f"{tag}-c"
    first = servers("127.0.24.1", 23, b"login: ")
    second = servers("127.0.24.2", 23, b"login: ", delay=3.0)  # its unit lasts 3 s
    book = playbook(env, "resume", {seg: ["127.0.24.1", "127.0.24.2"]}, ports=[23],
                    banner_wait=5.0, probe_timeout=10)
    env.agent(book, seg, f"{tag}-agent")  # one agent: the units run one after the other
    store = env.tmp / "resume.db"
    scan = env.process_scan(book, store, "--shard-size", "1", "--deadline", "120")
    # The first host stored, the second one's unit running: SIGKILL the coordinator.
    wait_for(lambda: "127.0.24.1" in _stored(store) and second.connections, 60,
             "the first asset stored and the second unit running")
    scan_id = _running(store)
    assert scan_id is not None
    # While it follows, no second coordinator can follow the same scan.
    other = env.sentinel("scan", "--playbook", str(book), "--store", str(store),
                         "--resume", scan_id, check=False)
    assert other.returncode == 2 and "followed by another coordinator" in other.stderr
    scan.kill()
    scan.wait(timeout=10)
    assert scan_record(store, scan_id)["status"] == "running"
    assert _stored(store) == {"127.0.24.1"}

    # The second unit's result waits on the durable results queue, nobody consuming it.
    def waiting() -> int:
        with Connection(env.broker["SENTINEL_BROKER"]) as conn:
            return int(conn.default_channel.queue_declare(
                queue=f"sentinel.results.{scan_id}", passive=True).message_count)

    wait_for(waiting, 30, "the second unit's result on the results queue", step=0.2)

    # Started again (no --resume: the running scan of this playbook is picked up).
    done = env.sentinel("scan", "--playbook", str(book), "--store", str(store),
                        "--shard-size", "1")
    assert done.stdout.strip() == scan_id
    assert f"scan {scan_id} of this playbook is still running" in done.stderr
    assert "resuming scan" in done.stderr and "1 of 2 work units to follow" in done.stderr
    record = scan_record(store, scan_id)
    assert record["status"] == "completed" and record["unfinished"] == [], done.stderr
    assert record["attempts"] == {"completed": 2}
    # Nothing probed again (the units were not published again), nothing recorded twice.
    assert first.connections == 1 and second.connections == 1
    assert observations(store, scan_id) == Counter({
        ("127.0.24.1", "127.0.24.1", 23, "tcp"): 1, ("127.0.24.2", "127.0.24.2", 23, "tcp"): 1})
    actions = Counter(json.loads(r[0])["event"]["action"] for r in sqlite3.connect(store)
                      .execute("SELECT doc FROM events WHERE scan_id = ?", (scan_id,)))
    assert actions["scan-started"] == actions["scan-resumed"] == 1
    assert actions["units-published"] == actions["scan-finished"] == 1
    # The scan's queues are gone once it ended; a finished scan is not resumed.
    assert _gone(env, scan_id)
    again = env.sentinel("scan", "--playbook", str(book), "--store", str(store),
                         "--resume", scan_id, check=False)
    assert again.returncode == 2 and "a completed scan" in again.stderr


def _gone(env: Env, scan_id: str) -> bool:
    with Connection(env.broker["SENTINEL_BROKER"]) as conn:
        try:
            conn.channel().queue_declare(queue=f"sentinel.results.{scan_id}", passive=True)
        except Exception:
            return True
    return False
