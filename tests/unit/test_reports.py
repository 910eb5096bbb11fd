"""Reports from a synthetic store: escaping in every format, scores, SLA, change since the
previous scan, charts, the coordinator index."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sentinel.catalog.scoring import scoring, sla
from sentinel.report import charts
from sentinel.report.html import agency_document, find_scan, render_agency, render_all
from sentinel.report.inventory import AssetInventory
from sentinel.report.safe import dumps, visible
from sentinel.report.scores import exposure, ipv6_readiness
from sentinel.report.view import agency_view
from sentinel.severity import Severity
from sentinel.store.sqlite import SqliteStore
from tests import samples as sample

HOSTILE = "<script>alert(1)</script>登录\x1b[0m\u202e"


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> SqliteStore:
    db = SqliteStore(tmp_path_factory.mktemp("reports") / "s.db")
    sample.build(db, agencies=3, assets=2, scans=2, hostile=HOSTILE)
    return db


def test_html_escapes_markup_and_shows_control_characters(store: SqliteStore,
                                                         tmp_path: Path) -> None:
    html = render_agency(store, "agency-001", tmp_path).read_text(encoding="utf-8")
    assert "<script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;登录\\x1b[0m\\u202e" in html
    assert "\x1b" not in html and "\u202e" not in html
    assert "banner: &lt;b&gt;x&lt;/b&gt;\\x1b[31m" in html  # evidence: escaped, as text


def test_json_is_inert_and_clean(store: SqliteStore, tmp_path: Path) -> None:
    text = render_agency(store, "agency-001", tmp_path, fmt="json").read_text(encoding="utf-8")
    assert "<" not in text and ">" not in text and "\x1b" not in text and "\u202e" not in text
    doc = json.loads(text)
    banners = [p["banner"] for a in doc["inventory"] for p in a["ports"]]
    assert any(b.startswith("<script>alert(1)</script>登录\\x1b[0m\\u202e") for b in banners)
    assert doc["scores"]["crypto_k"] == "未测"


def test_lang_chooses_which_language_leads(store: SqliteStore) -> None:
    view = agency_view(store, "agency-000", find_scan(store, None))
    zh, en = agency_document(view, "html", "zh"), agency_document(view, "html", "en")
    assert isinstance(zh, str) and isinstance(en, str)
    # Chinese leads with the English in grey; an English report is English only (issue 18).
    assert zh.index("评分") < zh.index("Scores") and "Scores" in en and "评分" not in en
    assert '<html lang="en">' in en and '<html lang="zh-CN">' in zh


def test_change_since_previous_scan_and_due_dates(store: SqliteStore) -> None:
    view = agency_view(store, "agency-002", find_scan(store, None))
    changes = view.changes
    assert changes["previous_scan"] == "synthetic-0"
    total_now = sum(len(g["items"]) for g in view.groups)
    assert changes["new"] + changes["still_open"] == total_now
    items = [i for g in view.groups for i in g["items"]]
    still = [i for i in items if i["change"] == "still-open"]
    assert all(i["days_open"] == 7 for i in still)  # first seen one scan (a week) earlier
    high = [i for i in items if i["severity"] == "high"]
    for item in high:
        assert item["due"]  # the SLA gives high findings a deadline
    assert sla().sla_days[Severity.HIGH] == 7


def test_scores_follow_the_data() -> None:
    both = AssetInventory("a", "a", ports=[
        {"address": "198.18.1.1", "port": 443}, {"address": "2001:db8::1", "port": 443},
        {"address": "198.18.1.1", "port": 22}])
    v4_only = AssetInventory("b", "b", ports=[{"address": "198.18.1.2", "port": 80}])
    assert ipv6_readiness([both, v4_only]) == pytest.approx(25.0)
    finding = {"rule": {"id": "DB-CES-HIGHRISKPORT"}, "result": {"evaluation": "failed"},
               "sentinel": {"severity": "high"}}
    assert exposure([finding, finding], scoring()) == 100 - 2 * 15


def test_charts_escape_labels_and_draw_lines() -> None:
    bar = charts.hbar([("<b>x</b>\x1b", 50.0), ("k", None)], title="t<")
    assert "<b>" not in bar and "&lt;b&gt;x&lt;/b&gt;\\x1b" in bar and "未测" in bar
    line = charts.line_chart(["a", "b", "c"], [charts.Series("s", [10.0, None, 90.0])],
                             title="trend")
    assert line.count("<circle") == 2 and "<polyline" in line


def test_coordinator_index_ranks_every_agency(store: SqliteStore, tmp_path: Path) -> None:
    written = render_all(store, tmp_path, fmt="json")
    assert {p.name for p in written} >= {"agency-000.json", "coordinator.json"}
    board = json.loads((tmp_path / "coordinator.json").read_text(encoding="utf-8"))
    ranks = board["leaderboard"]
    assert [r["rank"] for r in ranks] == [1, 2, 3]
    overall = [r["scores"]["overall"] for r in ranks]
    assert overall == sorted(overall, reverse=True)
    assert len(board["trend"]["labels"]) == 2
    render_all(store, tmp_path, fmt="html")
    index = (tmp_path / "index.html").read_text(encoding="utf-8")
    assert "<polyline" in index and 'href="agency-000.html"' in index


def test_visible_and_dumps() -> None:
    assert visible("a\x00b\u2066c") == "a\\x00b\\u2066c"
    assert dumps({"k": "<&>"}) == '{\n "k": "\\u003c\\u0026\\u003e"\n}'
