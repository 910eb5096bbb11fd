"""V6-NS is stored once per name server (issue 18 item 4): three websites of one zone whose
name server ns1.test has no IPv6, recorded as a scan records them (ScanRecorder.on_asset,
the SQLite store): one V6-NS finding on ``ns:ns1.test`` naming the three websites, opened
once, counted once in the scan's failed total; each website's V6-SCORE still counts it and
names its key. Fixed in the next scan: resolved once. A name without a website (sw1.test)
gets no website indicator."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sentinel.model import (
    Asset,
    AttemptStatus,
    Context,
    Endpoint,
    Observation,
    ScanRecord,
)
from sentinel.playbook import Segment, Site, WebProbeConfig, load_playbook
from sentinel.probes.base import Target
from sentinel.probes.site import SiteProbe
from sentinel.scan.engine import AssetPlan, Job
from sentinel.scan.run import ScanRecorder
from sentinel.store.sqlite import SqliteStore
from tests.unit.test_playbook import MINIMAL

WHEN = datetime(2026, 11, 2, 8, tzinfo=UTC)
WEBSITES = ("a.test", "b.test", "c.test")
SEGMENT = Segment(id="web-seg", agency="web", zone="internet-facing",
                  cidrs=("198.18.13.0/24", "2001:db8:13::/64"))


def _home() -> dict[str, Any]:
    return {"address": "198.18.13.10", "attempts": 3, "successes": 3, "success_rate": 1.0,
            "statuses": [200] * 3, "title": "t", "size": 100, "connect_ms": 1.0,
            "first_byte_ms": 2.0}


def _site(hostname: str, *, url: bool = True, ns1_ok: bool = False) -> dict[str, Any]:
    ns1_aaaa = ["2001:db8:30::54"] if ns1_ok else []
    return {
        "hostname": hostname, "url": f"http://{hostname}/" if url else None,
        "dns": {"a": ["198.18.13.10"], "aaaa": ["2001:db8:13::10"],
                "dns_ms": {"ipv4": 1.0, "ipv6": 1.0}, "zone": "test.",
                "name_servers": [
                    {"name": "ns0.test", "aaaa": ["2001:db8:30::53"],
                     "answers_v6": {"2001:db8:30::53": True}, "v6_ok": True},
                    {"name": "ns1.test", "aaaa": ns1_aaaa,
                     "answers_v6": dict.fromkeys(ns1_aaaa, True), "v6_ok": ns1_ok}]},
        "home": {"ipv4": _home(), "ipv6": _home()},
        "links": {"2": {"total": 1, "ok": 1, "ratio": 1.0, "failed": []},
                  "3": {"total": 1, "ok": 1, "ratio": 1.0, "failed": []}},
    }


def _scan(db: SqliteStore, scan_id: str, when: datetime, *, ns1_ok: bool,
          agency_of: dict[str, str] | None = None) -> ScanRecorder:
    book = load_playbook(Path("x.yml"), text=MINIMAL)
    record = ScanRecord(id=scan_id, playbook="v6", started=when)
    db.save_scan(record)
    recorder = ScanRecorder.start(book, db, record)
    for name, url in [*((w, True) for w in WEBSITES), ("sw1.test", False)]:
        agency = (agency_of or {}).get(name, "web")
        ctx = Context(scan_id=scan_id, agency_id=agency, agency_name=agency,
                      segment_id="web-seg")
        asset = Asset(id=f"site:{name}", name=name)
        target = Target(Endpoint(address="198.18.13.10"), asset, ctx, SEGMENT)
        probe = SiteProbe(Site(agency=agency, hostname=name), (), WebProbeConfig())
        observation = Observation(probe="site", context=ctx, asset=asset,
                                  endpoint=target.endpoint, status=AttemptStatus.COMPLETED,
                                  facts=_site(name, url=url, ns1_ok=ns1_ok), started=when)
        asyncio.run(recorder.on_asset(AssetPlan(asset.id, (Job(probe, target),)),
                                      [observation]))
    db.save_scan(record.model_copy(update={"status": "completed", "finished": when,
                                           "findings": recorder.failed}))
    return recorder


def test_one_v6_ns_per_name_server(tmp_path: Path) -> None:
    db = SqliteStore(tmp_path / "s.db")
    recorder = _scan(db, "scan-1", WHEN, ns1_ok=False)
    every = db.findings(scan_id="scan-1", check_id="V6-NS", evaluations=("failed", "passed"))
    assert sorted((d["host"]["id"], d["result"]["evaluation"]) for d in every) == [
        ("ns:ns0.test@web", "passed"), ("ns:ns1.test@web", "failed")]  # not one per website
    (ns1,) = [d for d in every if d["host"]["id"] == "ns:ns1.test@web"]
    assert ns1["host"]["name"] == "ns1.test"
    assert ns1["sentinel"]["evidence"]["websites"] == list(WEBSITES)
    assert ns1["sentinel"]["evidence"]["zones"] == ["test."]
    assert ns1["sentinel"]["evidence"]["not_v6"] == ["ns1.test"]
    # each website's V6-SCORE still counts the name server and names its finding
    scores = db.findings(scan_id="scan-1", check_id="V6-SCORE", evaluations=("failed", "passed"))
    assert sorted(d["host"]["name"] for d in scores) == list(WEBSITES)  # not sw1.test
    for score in scores:
        evidence = score["sentinel"]["evidence"]
        assert evidence["components"]["ns"] == 0.5
        assert ns1["sentinel"]["finding"]["key"] in evidence["name_server_findings"]
    # opened once, counted once: the scan's failed total is the store's
    opened = [e for e in db.events("scan-1") if e["event"]["action"] == "finding-opened"
              and e.get("host", {}).get("id") == "ns:ns1.test@web"]
    assert len(opened) == 1
    assert recorder.failed == db.failed_count("scan-1")
    judged = {d["host"]["name"] for d in db.findings(scan_id="scan-1",
                                                      evaluations=("failed", "passed"))}
    assert "sw1.test" not in judged  # no website, no website indicators

    _scan(db, "scan-2", WHEN + timedelta(days=1), ns1_ok=True)  # ns1.test gets IPv6
    assert not db.findings(scan_id="scan-2", check_id="V6-NS")  # nothing failed
    resolved = [e for e in db.events("scan-2") if e["event"]["action"] == "finding-resolved"
                and e.get("host", {}).get("id") == "ns:ns1.test@web"]
    assert len(resolved) == 1
    assert db.asset_states("ns:ns1.test@web")[ns1["sentinel"]["finding"]["key"]].status.value \
        == "resolved"


def test_a_name_server_two_agencies_depend_on_is_in_both_reports(tmp_path: Path) -> None:
    """ns1.test serves a.test and b.test of agency web and c.test of agency mail: each
    agency's findings hold its own V6-NS on ns1.test naming only its own websites, and each
    website's V6-SCORE names the finding of its own agency."""
    db = SqliteStore(tmp_path / "s.db")
    recorder = _scan(db, "scan-1", WHEN, ns1_ok=False, agency_of={"c.test": "mail"})
    mine: dict[str, dict[str, Any]] = {}
    for agency, websites in (("web", ["a.test", "b.test"]), ("mail", ["c.test"])):
        (ns1,) = [d for d in db.findings(scan_id="scan-1", agency_id=agency, check_id="V6-NS")
                  if d["host"]["name"] == "ns1.test"]
        assert ns1["result"]["evaluation"] == "failed"
        assert ns1["host"]["id"] == f"ns:ns1.test@{agency}"
        assert ns1["sentinel"]["evidence"]["websites"] == websites
        mine[agency] = ns1
        for score in db.findings(scan_id="scan-1", agency_id=agency, check_id="V6-SCORE",
                                 evaluations=("failed", "passed")):
            assert ns1["sentinel"]["finding"]["key"] in \
                score["sentinel"]["evidence"]["name_server_findings"]
    assert mine["web"]["sentinel"]["finding"]["key"] != mine["mail"]["sentinel"]["finding"]["key"]
    assert recorder.failed == db.failed_count("scan-1")
