"""The drill scorecards carry the classification marking as the reports do (escaped)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from sentinel.drill.plan import load_drill
from sentinel.drill.run import DrillResult
from sentinel.drill.score import write_scorecards

ROOT = Path(__file__).resolve().parents[3]
WHEN = datetime(2026, 9, 1, 2, 0, tzinfo=UTC)


def test_scorecards_show_the_marking_escaped_and_none_without_it(tmp_path: Path) -> None:
    plan = sorted((ROOT / "playbooks" / "drills").glob("*.yml"))[0]
    drill, _ = load_drill(plan)
    outcome = DrillResult(drill=drill, scans={}, started=WHEN, finished=WHEN, results=[],
                          revert_errors=[], rules="local")
    marked = write_scorecards(outcome, tmp_path / "marked", "zh", "内部<b>&")
    plain = write_scorecards(outcome, tmp_path / "plain", "zh")
    pages = [p for p in marked if p.suffix == ".html"]
    assert len(pages) == len(drill.agencies) > 0
    for page in pages:
        html = page.read_text(encoding="utf-8")
        assert html.count('<div class="marking"') == 2
        assert "内部&lt;b&gt;&amp;" in html and "内部<b>" not in html
    for page in (p for p in plain if p.suffix == ".html"):
        assert 'class="marking"' not in page.read_text(encoding="utf-8")
