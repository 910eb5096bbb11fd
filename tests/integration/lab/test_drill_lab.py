"""A drill on the lab: three injects (telnet opened, TLCP replaced by plain TLS, IPv6 address
dropped) are applied, detected, reverted and verified; scorecards are written. The injects
are reverted again at teardown whatever happened, so other lab tests never see them."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from sentinel.drill.plan import Drill, load_drill
from sentinel.drill.run import DrillResult, run_drill
from sentinel.drill.score import write_scorecards
from sentinel.lab import LabStatus, lab_status, load_manifest
from sentinel.lab.injects import revert
from sentinel.lab.state import LabPaths
from sentinel.model import now
from sentinel.store.sqlite import SqliteStore

pytestmark = pytest.mark.lab


def _drill_file(tmp_path: Path) -> Path:
    start, end = now() - timedelta(hours=1), now() + timedelta(hours=1)
    text = (Path(__file__).parents[3] / "playbooks" / "drills" / "lab-joint.yml").read_text(
        encoding="utf-8")
    text = text.replace('"2026-01-01T00:00:00+08:00"', f'"{start.isoformat()}"')
    text = text.replace('"2028-01-01T00:00:00+08:00"', f'"{end.isoformat()}"')
    path = tmp_path / "drill.yml"  # playbook: lab.yml resolves to the shipped one
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def drill_run(lab: LabStatus, tmp_path: Path) -> Iterator[tuple[Drill, DrillResult]]:
    assert lab.up
    drill, playbook = load_drill(_drill_file(tmp_path))
    manifest, paths = load_manifest(), LabPaths.from_env()
    try:
        with SqliteStore(tmp_path / "s.db") as store:
            outcome = asyncio.run(run_drill(drill, playbook, store, manifest=manifest,
                                            paths=paths, name="drill.yml"))
        yield drill, outcome
    finally:
        for inject in drill.injects:
            revert(inject.kind, manifest, paths, inject.host, inject.port)


def _open(address: str, port: int) -> bool:
    try:
        with socket.create_connection((address, port), timeout=2):
            return True
    except OSError:
        return False


def test_drill_detects_reverts_and_scores(drill_run: tuple[Drill, DrillResult],
                                          tmp_path: Path) -> None:
    drill, outcome = drill_run
    assert not outcome.revert_errors
    by_id = {r.inject.id: r for r in outcome.results}
    for result in by_id.values():
        assert result.detected, (result.inject.id, result.expectations)
        assert result.ttd_s is not None and 0 <= result.ttd_s < 120
        assert result.verified, result.inject.id
    assert by_id["telnet-on-web"].agency == "city-gov"
    assert by_id["tlcp-downgrade"].agency == "cloud-t1"
    # The lab is as the manifest built it again.
    assert not _open("198.18.13.10", 23)
    assert _open("2001:db8:10::10", 443)
    assert lab_status().up
    written = write_scorecards(outcome, tmp_path / "cards", "en")
    card = json.loads((tmp_path / "cards" / drill.id / "cloud-t1.scorecard.json").read_text(
        encoding="utf-8"))
    assert card["score"] == 100.0 and card["injects"][0]["detected"] is True
    html = (tmp_path / "cards" / drill.id / "city-gov.scorecard.html").read_text(
        encoding="utf-8")
    assert "telnet-on-web" in html and "Time to detect" in html
    assert len(written) == 2 * len(drill.agencies) + 1
