"""The agents' Sigma rules with real processes: an agent SIGKILLed (its heartbeats stop
without a last ``stopped`` one) is reported silent by the coordinator of the next scan of its
segment, a segment without an agent is reported missing, and ``sentinel detect`` over the
coordinator's store raises both alerts."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from tests.integration.agents.conftest import Env, wait_for
from tests.integration.agents.test_agents import playbook

SILENT_RULE = "5cce72f0-5d20-500a-9483-ffa2168fa4fe"
MISSING_RULE = "c38ee85b-abe0-52c5-ae8c-4e41b1ac816c"


def test_silent_agent_and_segment_without_agent_raise_alerts(env: Env, tag: str,
                                                             servers: Any) -> None:
    seg, empty = f"{tag}-s", f"{tag}-e"
    servers("127.0.22.1", 23, b"login: ")
    book = playbook(env, "silent", {seg: ["127.0.22.1"], empty: ["127.0.23.1"]}, ports=[23])
    store = env.tmp / "silent.db"
    # An agent that beats every half second, killed: its last heartbeat says "running".
    doomed = env.agent(book, seg, f"{tag}-doomed", heartbeat=0.5)

    def heard() -> bool:  # its heartbeats taken into the store the coordinator will use
        agents = json.loads(env.sentinel("agents", "--json", "--store", str(store)).stdout)
        return any(a["agent_id"] == f"{tag}-doomed" for a in agents)

    wait_for(heard, 30, "the doomed agent's heartbeat in the store", step=0.2)
    doomed.kill()
    env.agent(book, seg, f"{tag}-alive", heartbeat=1.0)  # 2 s before it would be silent
    done = env.sentinel("scan", "--playbook", str(book), "--store", str(store),
                        "--deadline", "60")
    scan_id = done.stdout.strip()
    assert f"agent {tag}-doomed ({seg}) silent" in done.stderr
    assert f"agent {tag}-alive" not in done.stderr
    assert f"segment {empty}: no live agent" in done.stderr
    events = [json.loads(r[0]) for r in sqlite3.connect(store).execute(
        "SELECT doc FROM events WHERE scan_id = ? AND action = 'agent-silent'", (scan_id,))]
    assert [e["sentinel"]["after"]["agent"] for e in events] == [f"{tag}-doomed"]
    assert events[0]["sentinel"]["segment"] == seg

    detected = env.sentinel("detect", "--scan", scan_id, "--store", str(store), "--json",
                            with_broker=False)
    alerts = [json.loads(line) for line in detected.stdout.splitlines() if line.strip()]
    fired = sorted(a["rule"]["id"] for a in alerts
                   if a["rule"]["id"] in (SILENT_RULE, MISSING_RULE))
    assert fired == sorted([SILENT_RULE, MISSING_RULE]), detected.stdout
