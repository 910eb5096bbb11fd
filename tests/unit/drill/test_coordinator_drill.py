"""The coordinator's report for drills: an overdue column per agency, and a first scan
that states there is no progress yet instead of drawing bars at 0 %."""

from __future__ import annotations

import json
from pathlib import Path

from sentinel.report.html import render_all
from sentinel.store.sqlite import SqliteStore
from tests import samples


def _section(html: str, name: str) -> str:
    start = html.index(f'<section id="{name}"')
    return html[start:html.index("</section>", start)]


def test_a_first_scan_states_no_progress_instead_of_a_chart(tmp_path: Path) -> None:
    with SqliteStore(tmp_path / "s.db") as store:
        samples.build(store, agencies=3, assets=2, scans=1)
        render_all(store, tmp_path, fmt="html", lang="en")
    html = (tmp_path / "index.html").read_text(encoding="utf-8")
    for name in ("progress", "trend"):
        part = _section(html, name)
        assert "<svg" not in part and "First scan: there is no remediation progress" in part
    assert "<svg" in _section(html, "leaderboard")  # the scores are drawn


def test_a_second_scan_draws_the_progress(tmp_path: Path) -> None:
    with SqliteStore(tmp_path / "s.db") as store:
        samples.build(store, agencies=3, assets=2, scans=2)
        render_all(store, tmp_path, fmt="html")
    html = (tmp_path / "index.html").read_text(encoding="utf-8")
    assert "<svg" in _section(html, "progress") and "首次扫描" not in html


def test_overdue_column_counts_each_agencys_findings_past_due(tmp_path: Path) -> None:
    # Three weekly scans: the first scan's high findings (due in 7 days) are 14 days old.
    with SqliteStore(tmp_path / "s.db") as store:
        samples.build(store, agencies=3, assets=2, scans=3)
        render_all(store, tmp_path, fmt="json")
        render_all(store, tmp_path, fmt="html")
    board = json.loads((tmp_path / "coordinator.json").read_text(encoding="utf-8"))
    overdue = {r["agency"]["id"]: r["overdue"] for r in board["leaderboard"]}
    for agency, count in overdue.items():
        doc = json.loads((tmp_path / f"{agency}.json").read_text(encoding="utf-8"))
        late = [i for g in doc["findings"] for i in g["items"]
                if i["evaluation"] == "failed" and i["overdue"]]
        assert count == len(late)
    assert sum(overdue.values()) > 0
    table = _section((tmp_path / "index.html").read_text(encoding="utf-8"), "leaderboard")
    assert "<th>已逾期" in table
    for agency, count in overdue.items():  # the new cell, just before the report link
        assert f'<td class="num">{count}</td>\n<td><a href="{agency}.html">' in table
