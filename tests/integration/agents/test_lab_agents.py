"""The lab scanned through agents: `sentinel lab up --agents` puts one real `sentinel agent
run` inside each segment (its own namespace on the segment's bridge), the coordinator uses the
broker URL `lab status --json` gives, and the scan finds what the in-process scan of the same
playbook finds, plus what only an agent on a segment's link sees (router advertisements, hosts
answering ARP / ff02::1).
"""

from __future__ import annotations

import json
import sqlite3
from collections import Counter
from pathlib import Path
from typing import Any

from sentinel.lab import LabStatus, Manifest
from sentinel.lab.playbook import SNMP_AUTH_ENV, SNMP_PRIV_ENV
from tests.integration.agents.conftest import ROOT, Env

BOOK = ROOT / "playbooks" / "lab.yml"
# Checks whose verdict is a measurement of time (IPv6 against IPv4 response times, and the
# score that counts it): the key must come back, the verdict may differ between two scans.
TIMED = {"V6-PERF", "V6-SCORE"}


def _docs(env: Env, store: Path, scan_id: str) -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = json.loads(env.sentinel(
        "findings", "--json", "--all-results", "--scan", scan_id, "--store", str(store),
        with_broker=False).stdout)
    return docs


def _where(d: dict[str, Any]) -> tuple[str, int, str]:
    return (d.get("host", {}).get("id", ""), d.get("destination", {}).get("port", 0),
            d["sentinel"].get("probe", ""))


def _timed_out(docs: list[dict[str, Any]]) -> set[tuple[str, int, str]]:
    """Where a probe ran out of time (on a loaded machine): its results exist only where it
    finished, in either scan, so that probe on that endpoint is compared in neither."""
    return {_where(d) for d in docs if d["rule"]["id"] == "SEN-PROBE-ERROR"
            and (d["sentinel"].get("evidence") or {}).get("reason") == "timeout"}


def _keys(docs: list[dict[str, Any]], skip: set[tuple[str, int, str]]
          ) -> Counter[tuple[str, str, str]]:
    """Every finding as (key, verdict, asset); a timed check's verdict is left out."""
    return Counter((d["sentinel"]["finding"]["key"],
                    "*" if d["rule"]["id"] in TIMED else d["result"]["evaluation"],
                    d.get("host", {}).get("id", "")) for d in docs if _where(d) not in skip)


def _explain(keys: set[str], *sides: tuple[str, list[dict[str, Any]]]) -> str:
    """Both scans' documents of the keys that differ, for the failure message."""
    lines = []
    for name, docs in sides:
        for d in docs:
            if d["sentinel"]["finding"]["key"] in keys:
                lines.append(f"{name}: {json.dumps(d, ensure_ascii=False, default=str)[:1500]}")
    return "\n".join(lines)


def _record(store: Path, scan_id: str) -> dict[str, Any]:
    row = sqlite3.connect(store).execute("SELECT doc FROM scans WHERE id = ?",
                                         (scan_id,)).fetchone()
    record: dict[str, Any] = json.loads(row[0])
    return record


def test_lab_through_agents_same_findings_plus_the_links(lab: LabStatus, manifest: Manifest,
                                                          env: Env) -> None:
    snmp = next(p for h in manifest.hosts for s in h.services if (p := s.properties).v3_user)
    secrets: dict[str, Any] = {SNMP_AUTH_ENV: snmp.v3_auth_pass or "",
                               SNMP_PRIV_ENV: snmp.v3_priv_pass or ""}
    env.sentinel("lab", "up", "--agents", with_broker=False, timeout=300)
    try:
        status = json.loads(env.sentinel("lab", "status", "--json", with_broker=False).stdout)
        assert status["up"] and status["broker"].startswith("amqp://")
        assert status["agents"] == {"agents-broker-relay": True,
                                    **{f"agent-{s.id}": True for s in manifest.segments}}
        local, distributed = env.tmp / "local.db", env.tmp / "agents.db"
        in_process = env.sentinel("scan", "--playbook", str(BOOK), "--store", str(local),
                                  with_broker=False, timeout=600, **secrets).stdout.strip()
        done = env.sentinel("scan", "--playbook", str(BOOK), "--store", str(distributed),
                            timeout=900, SENTINEL_BROKER=status["broker"],
                            SENTINEL_AGENT_KEY="", SENTINEL_AGENT_KEY_FILE=status[
                                "agent_key_file"])
        through_agents = done.stdout.strip()
        record = _record(distributed, through_agents)
        assert record["status"] == "completed", done.stderr[-3000:]
        assert record["unfinished"] == []

        local_docs = _docs(env, local, in_process)
        agent_docs = _docs(env, distributed, through_agents)
        skip = _timed_out(local_docs) | _timed_out(agent_docs)
        # V6-NS is stored per name server and agency. An agency whose segments have no IPv6
        # (psb) sees its websites' name servers from an agent with no IPv6 path: a name
        # server with AAAA records is not measured there, so not judged (probes/dns:
        # has_route), where the in-process scan, from a vantage with IPv6, judges it; one
        # without AAAA is judged alike from anywhere. Only that differs; it is checked, then
        # left out of the comparison.
        v4_only = {s.agency for s in manifest.segments if s.v6 is None} - {
            s.agency for s in manifest.segments if s.v6 is not None}
        assert v4_only == {"prov-psb"}

        def v4_only_ns(docs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
            return {d["sentinel"]["finding"]["key"]: d for d in docs
                    if d["rule"]["id"] == "V6-NS" and any(
                        d.get("host", {}).get("id", "").endswith(f"@{a}") for a in v4_only)}

        here, there = v4_only_ns(local_docs), v4_only_ns(agent_docs)
        with_aaaa = {k for k, d in here.items() if d["sentinel"]["evidence"].get("aaaa")}
        assert with_aaaa and with_aaaa.isdisjoint(there)  # ns1.test: measured here only
        assert set(here) - with_aaaa == set(there)  # ns2.test (no AAAA): judged on both
        local_docs = [d for d in local_docs
                      if d["sentinel"]["finding"]["key"] not in with_aaaa]
        mine, theirs = _keys(local_docs, skip), _keys(agent_docs, skip)
        assert any(e == "failed" for _, e, _ in mine)
        # Every finding of the in-process scan, with the same key and verdict, and the same
        # number of times; what the agents add is only what their links showed.
        missing = mine - theirs
        assert missing == Counter(), _explain({k for k, _, _ in missing},
                                              ("in-process", local_docs),
                                              ("agents", agent_docs))
        added = theirs - mine
        in_process_assets = {asset for _, _, asset in mine}
        assert all(asset not in in_process_assets for _, _, asset in added), added
        link_assets = {asset for _, _, asset in added}
        ra_segments = {f"segment:{s.id}" for s in manifest.segments if s.ra}
        assert ra_segments <= link_assets, link_assets
        # The sweep ran from the agents: every listed address has its discovery attempt.
        swept = sqlite3.connect(distributed).execute(
            "SELECT COUNT(*) FROM observations WHERE scan_id = ? AND probe = 'discovery' "
            "AND asset_id NOT LIKE 'segment:%'", (through_agents,)).fetchone()[0]
        local_swept = sqlite3.connect(local).execute(
            "SELECT COUNT(*) FROM observations WHERE scan_id = ? AND probe = 'discovery'",
            (in_process,)).fetchone()[0]
        assert swept >= local_swept > 0
        events = [json.loads(r[0]) for r in sqlite3.connect(distributed).execute(
            "SELECT doc FROM events")]
        finished = [e for e in events if e["event"]["action"] == "scan-finished"]
        assert sorted(finished[0]["sentinel"]["after"]["agents"]) == sorted(
            f"lab-{s.id}" for s in manifest.segments)
    finally:
        env.sentinel("lab", "down", "--agents", with_broker=False, timeout=120)
    status = json.loads(env.sentinel("lab", "status", "--json", with_broker=False).stdout)
    assert status["up"] and status["broker"] is None and status["agents"] is None
    assert not [n for n in status["namespaces"] if n.startswith("sl-a-")]
