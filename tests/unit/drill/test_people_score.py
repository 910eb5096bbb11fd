"""Manual injects judged from a real SQLite store with fixed times (no wall clock): verified
inside the window only; times to detect, acknowledge and remediate; missing is missing."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from typer.testing import CliRunner

from sentinel.cli.main import app
from sentinel.drill.people import verify
from sentinel.drill.plan import load_drill
from sentinel.drill.score import manual_scores, ranked, shown
from sentinel.model import (
    Asset,
    AttemptStatus,
    Context,
    Endpoint,
    Evaluation,
    Finding,
    Observation,
    ScanRecord,
    Text,
)
from sentinel.severity import Severity
from sentinel.store.sqlite import SqliteStore

PLAN = """\
id: people
name: {zh: 人工演练, en: people drill}
playbook: lab.yml
agencies: [city-gov, cloud-t1, prov-data]
window: {start: "2026-09-01T09:00:00+08:00", end: "2026-09-01T18:00:00+08:00"}
injects:
  - id: rt-telnet
    performed_by: people
    target: 198.18.13.10
    window: {start: "2026-09-01T10:00:00+08:00", end: "2026-09-01T12:00:00+08:00"}
    expect: {check: DB-CES-HIGHRISKPORT, asset: www.city.test, port: 23}
  - id: rt-late
    performed_by: people
    target: 198.18.20.31
    window: {start: "2026-09-01T10:00:00+08:00", end: "2026-09-01T11:00:00+08:00"}
    expect: {check: DB-CES-HIGHRISKPORT, asset: tlcp.cloud.test, port: 23}
"""
T0 = datetime(2026, 9, 1, 2, 0, tzinfo=UTC)  # both injects' window start (10:00 +08:00)
ASSETS = {"www.city.test": ("city-gov", "city", "198.18.13.10"),
          "tlcp.cloud.test": ("cloud-t1", "cloud", "198.18.20.31")}


def _scan(store: SqliteStore, scan_id: str, start: datetime, failing: dict[str, datetime]
          ) -> None:
    """A completed scan that observed both assets, with telnet failing where named."""
    store.save_scan(ScanRecord(id=scan_id, playbook="lab.yml", started=start,
                               finished=start + timedelta(minutes=2), status="completed"))
    for asset_id, (agency, segment, address) in ASSETS.items():
        context = Context(scan_id=scan_id, agency_id=agency, segment_id=segment)
        asset = Asset(id=asset_id, name=asset_id, addresses=(address,))
        endpoint = Endpoint(address=address, port=23)
        store.add_observations([Observation(probe="tcp", context=context, asset=asset,
                                            endpoint=endpoint, status=AttemptStatus.COMPLETED,
                                            started=start)])
        if asset_id in failing:
            store.add_findings([Finding(
                check_id="DB-CES-HIGHRISKPORT", title=Text(zh="高危端口", en="high-risk port"),
                evaluation=Evaluation.FAILED, severity=Severity.HIGH, context=context,
                asset=asset, endpoint=endpoint, probe="tcp", observed_at=failing[asset_id])])


def _store(tmp_path: Path) -> Path:
    path = tmp_path / "s.db"
    with SqliteStore(path) as store:
        _scan(store, "s0", T0 - timedelta(minutes=30), {})  # before: nothing
        # 02:20 UTC: telnet seen on the city web server (inside its window, 21 min in)
        _scan(store, "s1", T0 + timedelta(minutes=20),
              {"www.city.test": T0 + timedelta(minutes=21)})
        # 03:10: the city fixed it; the cloud's telnet appears, after its window ended (03:00)
        _scan(store, "s2", T0 + timedelta(minutes=70),
              {"tlcp.cloud.test": T0 + timedelta(minutes=71)})
        store.add_ack("people", "city-gov", "rt-telnet", at=T0 - timedelta(minutes=5),
                      by="early")  # before the inject started: does not count
        store.add_ack("people", "city-gov", "rt-telnet", at=T0 + timedelta(minutes=40),
                      by="王工")
    return path


def test_times_per_agency_from_scans_and_acks(tmp_path: Path) -> None:
    drill, playbook = load_drill(_write(tmp_path))
    with SqliteStore(_store(tmp_path)) as store:
        results = {r.inject.id: r for r in verify(drill, playbook, store)}
    city, cloud = results["rt-telnet"], results["rt-late"]
    assert city.verified and city.scan_id == "s1"
    assert (city.ttd_s, city.tta_s, city.ttr_s) == (21 * 60.0, 40 * 60.0, 72 * 60.0)
    assert city.acked_by == "王工" and city.remediated_scan == "s2"
    # Seen only after its window: not verified, and no time is made up.
    assert not cloud.verified and cloud.seen_outside_window
    assert (cloud.ttd_s, cloud.tta_s, cloud.ttr_s) == (None, None, None)

    rows = {r["agency"]: r for r in ranked(manual_scores(drill, list(results.values())))}
    assert rows["city-gov"]["rank"] == 1
    assert rows["city-gov"]["injects"] == {"total": 1, "verified": 1, "acknowledged": 1,
                                           "remediated": 1}
    assert (rows["city-gov"]["ttd_s"], rows["city-gov"]["ttr_s"]) == (1260.0, 4320.0)
    assert rows["cloud-t1"]["ttd_s"] is None and rows["cloud-t1"]["items"][0]["verified"] is False
    # An agency without manual injects has no times: missing, not 0.
    assert rows["prov-data"]["injects"]["total"] == 0 and rows["prov-data"]["tta_s"] is None
    assert shown(rows["cloud-t1"]["ttr_s"], "未完成") == "未完成"
    assert shown(4320.0, "未完成") == "72 min 00 s"


def test_a_finding_that_was_never_fixed_has_no_time_to_remediate(tmp_path: Path) -> None:
    drill, playbook = load_drill(_write(tmp_path))
    with SqliteStore(tmp_path / "s.db") as store:
        _scan(store, "s1", T0 + timedelta(minutes=5), {"www.city.test": T0 + timedelta(minutes=6)})
        _scan(store, "s2", T0 + timedelta(minutes=50),
              {"www.city.test": T0 + timedelta(minutes=51)})
        (city, _) = verify(drill, playbook, store)
    assert city.verified and city.ttd_s == 360.0
    assert city.ttr_s is None and city.tta_s is None


def test_ack_and_status_commands(tmp_path: Path) -> None:
    plan, db = _write(tmp_path), _store(tmp_path)
    runner = CliRunner()
    wrong = runner.invoke(app, ["drill", "ack", "--drill", "people", "--agency", "cloud-t1",
                                "--inject", "rt-telnet", "--plan", str(plan), "--store", str(db)])
    assert wrong.exit_code == 2 and "rt-telnet is city-gov's" in wrong.output
    naive = runner.invoke(app, ["drill", "ack", "--drill", "people", "--agency", "cloud-t1",
                                "--inject", "rt-late", "--at", "2026-09-01T10:30:00",
                                "--store", str(db)])
    assert naive.exit_code == 2 and "time zone" in naive.output
    done = runner.invoke(app, ["drill", "ack", "--drill", "people", "--agency", "cloud-t1",
                               "--inject", "rt-late", "--by", "李工", "--plan", str(plan),
                               "--at", "2026-09-01T10:30:00+08:00", "--store", str(db)])
    assert done.exit_code == 0, done.output
    shown_ = runner.invoke(app, ["drill", "status", str(plan), "--store", str(db),
                                 "--out", str(tmp_path / "out")])
    assert shown_.exit_code == 0, shown_.output
    assert "未完成" in shown_.output
    board = json.loads((tmp_path / "out" / "people" / "people.json").read_text("utf-8"))
    cloud = next(r for r in board["leaderboard"] if r["agency"] == "cloud-t1")
    assert cloud["tta_s"] == 1800.0 and cloud["ttd_s"] is None and cloud["ttr_s"] is None
    assert cloud["items"][0]["acknowledged_by"] == "李工"
    # The coordinator's columns beside the times: the last scan's score, progress, overdue.
    city = next(r for r in board["leaderboard"] if r["agency"] == "city-gov")
    assert (city["resolved"], city["open"], city["overdue"]) == (0, 0, 0)
    assert isinstance(city["score"], float)


def _write(tmp_path: Path) -> Path:
    path = tmp_path / "d.yml"
    path.write_text(PLAN, encoding="utf-8")
    return path
