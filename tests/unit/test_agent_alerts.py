"""The Sigma rules on agents fire on the documents Sentinel writes: a store holding a stale
heartbeat, the coordinator's ``agent-silent`` audit event built from it, and the local
engine reading the store as ``sentinel detect`` does (no broker here; the same path with
real processes is tests/integration/agents/test_agent_alerts.py)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from sentinel.agent.coordinator import silence_event, silent_agents
from sentinel.detect.local import LocalEngine, store_items
from sentinel.detect.sigma import load_rules
from sentinel.model import AgentHeartbeat, Context, Text, now
from sentinel.scan.run import audit_event
from sentinel.severity import Severity
from sentinel.store.sqlite import SqliteStore

SILENT_RULE = "5cce72f0-5d20-500a-9483-ffa2168fa4fe"
MISSING_RULE = "c38ee85b-abe0-52c5-ae8c-4e41b1ac816c"


def beat(agent: str, seen_s_ago: float, *, segments: tuple[str, ...] = ("seg-a",),
         state: str = "running") -> AgentHeartbeat:
    moment = now() - timedelta(seconds=seen_s_ago)
    return AgentHeartbeat(agent_id=agent, hostname="h", version="0", protocol=1,
                          segments=segments, started=moment, seen=moment, interval_s=10,
                          state=state)  # type: ignore[arg-type]


def test_a_stale_heartbeat_in_the_store_raises_the_silent_agent_alert(tmp_path: Path) -> None:
    ctx = Context(scan_id="scan1", agency_id="dsj", segment_id="*", zone="extranet")
    with SqliteStore(tmp_path / "s.db") as store:
        store.save_heartbeats([
            beat("stale", 25),  # two intervals and more: silent
            beat("late", 15),  # its beat is late, but by less than an interval
            beat("stopped", 600, state="stopped"),  # a clean stop is not silence
            beat("elsewhere", 600, segments=("seg-z",)),  # not a segment of this scan
        ])
        moment = now()
        silent = silent_agents(store.agents(), {"seg-a", "seg-b"}, moment)
        assert [b.agent_id for b in silent] == ["stale"]
        store.add_events([silence_event(b, ctx, {"seg-a", "seg-b"}, moment) for b in silent])
        store.add_events([audit_event(
            "agent-missing", Text(zh="网段无在线代理", en="no live agent for the segment"),
            ctx.model_copy(update={"segment_id": "seg-b"}), Severity.HIGH,
            {"segment": "seg-b", "units": 1, "at_start": True})])
        alerts = LocalEngine(load_rules()).run(store_items(store, scan_id="scan1"))
    fired = sorted((a.rule_id, len(a.matched_ids)) for a in alerts)
    assert fired == sorted([(SILENT_RULE, 1), (MISSING_RULE, 1)])
