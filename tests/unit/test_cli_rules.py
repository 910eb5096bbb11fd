"""``sentinel rules ...`` and ``sentinel detect`` over a real SQLite store."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from typer.testing import CliRunner

from sentinel.cli.main import app
from sentinel.model import Asset, Context, Endpoint, Evaluation, Event, Finding, ScanRecord, Text
from sentinel.severity import Severity
from sentinel.store.sqlite import SqliteStore

T0 = datetime(2026, 11, 20, 23, 0, tzinfo=UTC)
runner = CliRunner()


def fill(path: Path) -> None:
    ctx = Context(scan_id="s1", agency_id="agency-a", segment_id="seg-1")
    with SqliteStore(path) as store:
        store.save_scan(
            ScanRecord(id="s1", playbook="p", started=T0, finished=T0, status="completed")
        )
        store.add_findings(
            [
                Finding(
                    check_id="DB-CES-CREDPLAIN",
                    title=Text(zh="明文", en="cleartext"),
                    evaluation=Evaluation.FAILED,
                    severity=Severity.HIGH,
                    context=ctx,
                    asset=Asset(id="h1", addresses=("198.18.1.5",)),
                    endpoint=Endpoint(address="198.18.1.5", port=23),
                    probe="tcp",
                    observed_at=T0,
                )
            ]
        )
        store.add_events(
            Event(
                action="national-crypto-lost",
                category="change",
                message=Text(zh="不再支持国密", en="national crypto lost"),
                context=ctx,
                asset=Asset(id=f"h{n}"),
                endpoint=Endpoint(address=f"198.18.1.{n}", port=443),
                severity=Severity.HIGH,
                created=T0 + timedelta(hours=n),
            )
            for n in range(3)
        )


def test_detect_stores_and_prints_alerts(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    fill(db)
    done = runner.invoke(app, ["detect", "--store", str(db), "--json"])
    assert done.exit_code == 0, done.output
    docs = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    titles = {d["rule"]["name"] for d in docs}
    assert "Telnet exposed (cleartext remote login)" in titles
    assert "Agency lost national crypto on 3 or more hosts within a day" in titles
    corr = next(d for d in docs if d["rule"]["name"].startswith("Agency lost"))
    assert len(corr["sentinel"]["alert"]["matched"]) == 3
    assert corr["sentinel"]["alert"]["group"] == {"organization.id": "agency-a"}
    # a second run stores no duplicates
    runner.invoke(app, ["detect", "--store", str(db)])
    with SqliteStore(db) as store:
        count = store._db.execute("SELECT COUNT(*) FROM alerts").fetchone()[0]
    assert count == len(docs)


def test_detect_time_range_and_bad_time(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    fill(db)
    done = runner.invoke(app, ["detect", "--store", str(db), "--since", "2026-11-21T00:30:00Z"])
    assert done.exit_code == 0 and "Agency lost" not in done.stdout
    assert "national crypto support lost" in done.stdout.lower()
    bad = runner.invoke(app, ["detect", "--store", str(db), "--since", "yesterday"])
    assert bad.exit_code == 2


def test_rules_list_test_convert_export(tmp_path: Path) -> None:
    listed = runner.invoke(app, ["rules", "list"])
    assert listed.exit_code == 0 and len(listed.stdout.splitlines()) >= 30
    tested = runner.invoke(app, ["rules", "test"])
    assert tested.exit_code == 0 and "FAIL" not in tested.stdout
    converted = runner.invoke(app, ["rules", "convert", "-t", "lucene"])
    assert (
        converted.exit_code == 0
        and "event.action.lower:national\\-crypto\\-lost" in converted.stdout
    )
    assert runner.invoke(app, ["rules", "convert", "-t", "splunk"]).exit_code == 2
    out = tmp_path / "k.ndjson"
    assert runner.invoke(app, ["rules", "export-kibana", "-o", str(out)]).exit_code == 0
    rules = [json.loads(line) for line in out.read_text().splitlines()]
    assert {r["type"] for r in rules} == {"query", "threshold"}
    assert all(r["index"][0].startswith("sentinel-") and r["threat"] == [] for r in rules)


def test_detect_prints_which_hosts(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    fill(db)
    done = runner.invoke(app, ["detect", "--store", str(db)])
    assert done.exit_code == 0, done.output
    lines = done.stdout.splitlines()
    telnet = next(line for line in lines if "Telnet exposed" in line)
    assert telnet.startswith("high ")
    assert "host=h1 198.18.1.5:23 segment=seg-1 check=DB-CES-CREDPLAIN 1 doc(s)" in telnet
    corr = next(line for line in lines if "Agency lost national crypto" in line)
    assert "hosts=h0,h1,h2 segment=seg-1" in corr and "3 doc(s)" in corr
    as_json = runner.invoke(app, ["detect", "--store", str(db), "--json"])
    docs = [json.loads(line) for line in as_json.stdout.splitlines() if line.startswith("{")]
    alert = next(d for d in docs if d["rule"]["name"].startswith("Telnet exposed"))
    assert alert["host"] == {"id": ["h1"]} and alert["organization"] == {"id": "agency-a"}
    assert alert["destination"] == {"ip": ["198.18.1.5"], "port": [23]}
    assert alert["sentinel"]["segment"] == ["seg-1"]
    assert alert["sentinel"]["alert"]["check"] == ["DB-CES-CREDPLAIN"]
    assert [d["id"] for d in alert["sentinel"]["alert"]["documents"]] == alert["sentinel"][
        "alert"]["matched"]
