"""A manual inject on the lab, performed by a "person" (this test): telnet opened on the city
web server inside the inject's window, seen by a scan (verified, time to detect), acknowledged
with ``sentinel drill ack``, closed again by the person, and a rescan gives the time to
remediate. The service is closed at teardown whatever happened."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sentinel.cli.main import app
from sentinel.drill.plan import load_drill
from sentinel.lab import LabStatus, load_manifest
from sentinel.lab.injects import apply, revert
from sentinel.lab.state import LabPaths
from sentinel.model import now
from sentinel.scan.run import run_scan
from sentinel.store.sqlite import SqliteStore

pytestmark = pytest.mark.lab


def _plan(tmp_path: Path) -> Path:
    start = now() - timedelta(seconds=1)
    text = f"""\
id: people-lab
name: {{zh: 人工注入演练, en: manual inject drill}}
playbook: lab.yml
agencies: [city-gov, cloud-t1]
window: {{start: "{(start - timedelta(hours=1)).isoformat()}",
          end: "{(start + timedelta(hours=2)).isoformat()}"}}
injects:
  - id: rt-telnet
    performed_by: people
    target: 198.18.13.10
    window: {{start: "{start.isoformat()}", end: "{(start + timedelta(hours=1)).isoformat()}"}}
    expect: {{check: DB-CES-HIGHRISKPORT, asset: www.city.test, port: 23}}
"""
    path = tmp_path / "people.yml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def person(lab: LabStatus) -> Iterator[LabPaths]:
    """The person's hands: the lab's own way of opening a service in a host's namespace."""
    assert lab.up
    manifest, paths = load_manifest(), LabPaths.from_env()
    try:
        yield paths
    finally:
        revert("open-service", manifest, paths, "web", 23)


def test_a_manual_inject_is_verified_acknowledged_and_remediated(person: LabPaths,
                                                                 tmp_path: Path) -> None:
    plan = _plan(tmp_path)
    drill, playbook = load_drill(plan)
    db, manifest = tmp_path / "s.db", load_manifest()
    runner = CliRunner()
    # The red team opens telnet on the authorised target, inside the window.
    apply("open-service", manifest, person, "web", 23, banner="login: ")
    with SqliteStore(db) as store:
        seen = asyncio.run(run_scan(playbook, store, playbook_name="lab.yml"))
    # The agency acknowledges, then fixes it; a rescan sees it fixed.
    done = runner.invoke(app, ["drill", "ack", "--drill", drill.id, "--agency", "city-gov",
                               "--inject", "rt-telnet", "--by", "城市网管", "--plan", str(plan),
                               "--store", str(db)])
    assert done.exit_code == 0, done.output
    revert("open-service", manifest, person, "web", 23)
    with SqliteStore(db) as store:
        fixed = asyncio.run(run_scan(playbook, store, playbook_name="lab.yml"))
    done = runner.invoke(app, ["drill", "status", str(plan), "--store", str(db), "--out",
                               str(tmp_path / "out"), "--lang", "en"])
    assert done.exit_code == 0, done.output
    board = json.loads((tmp_path / "out" / drill.id / "people.json").read_text("utf-8"))
    rows = {r["agency"]: r for r in board["leaderboard"]}
    (item,) = rows["city-gov"]["items"]
    assert item["verified"] and item["scan"] == seen.id
    assert item["remediated_scan"] == fixed.id and item["acknowledged_by"] == "城市网管"
    # Detected in the first scan, acknowledged after it, remediated by the later rescan.
    assert item["ttd_s"] is not None and item["tta_s"] is not None
    assert item["ttr_s"] is not None
    assert item["ttd_s"] <= item["tta_s"] <= item["ttr_s"]
    assert rows["city-gov"]["rank"] == 1
    # The other agency had no manual inject: its times are missing, shown as not done.
    assert rows["cloud-t1"]["ttd_s"] is None
    assert "not done" in done.output
