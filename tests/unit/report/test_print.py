"""The printed report (issue 18 item 6): the classification marking (playbook or --marking,
escaped in the page and in the page margins' CSS), the table of contents, the remediation
receipt, the coordinator's landscape section, and chart legends that are not cut."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sentinel.cli.main import app
from sentinel.errors import PlaybookError, UsageError
from sentinel.playbook import load_playbook
from sentinel.report import charts
from sentinel.report.html import (
    agency_document,
    css_string,
    find_scan,
    marking_for,
    render_agency,
    render_all,
)
from sentinel.report.view import agency_view
from sentinel.store.sqlite import SqliteStore
from tests import samples as sample

BOOK = """\
name: print
agencies: [{id: agency-000, name: {zh: 省政务服务数据管理局, en: Provincial Data Bureau}}]
scope: {authorised: ["198.18.0.0/15"]}
segments: [{id: seg-000, agency: agency-000, cidrs: ["198.18.0.0/24"], zone: extranet}]
"""


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> SqliteStore:
    db = SqliteStore(tmp_path_factory.mktemp("print") / "s.db")
    sample.build(db, agencies=2, assets=2, scans=2)
    return db


def test_css_string_cannot_leave_the_string_rule_or_style() -> None:
    quoted = css_string('内部"; } </style><script>x\x1b')
    assert quoted.startswith('"') and quoted.endswith('"')
    assert re.fullmatch(r'"(?:[A-Za-z0-9]|\\[0-9a-f]{6})*"', quoted)
    assert "\\005185\\0090e8" in quoted  # 内部
    assert quoted.endswith('x\\00005cx1b"')  # the ESC shown as \x1b, like any text


def test_marking_comes_from_the_option_else_the_playbook(tmp_path: Path) -> None:
    book = load_playbook(tmp_path / "b.yml", text=BOOK + "report: {marking: 工作秘密}\n")
    assert marking_for(None, book) == "工作秘密"
    assert marking_for("内部", book) == "内部"
    assert marking_for(None, None) is None
    assert marking_for(None, load_playbook(tmp_path / "c.yml", text=BOOK)) is None
    for bad in ("  ", "密" * 41):
        with pytest.raises(UsageError):
            marking_for(bad, None)


@pytest.mark.parametrize("extra", ["report: {marking: ''}\n", f"report: {{marking: {'密' * 41}}}\n",
                                   "report: {classification: 内部}\n"])
def test_playbook_refuses_a_bad_report_section(tmp_path: Path, extra: str) -> None:
    with pytest.raises(PlaybookError):
        load_playbook(tmp_path / "b.yml", text=BOOK + extra)


def test_marking_is_escaped_in_the_banner_and_the_page_margins(store: SqliteStore) -> None:
    view = agency_view(store, "agency-000", find_scan(store, None))
    html = agency_document(view, "html", "zh", "内部<b>&")
    assert isinstance(html, str)
    assert html.count('<div class="marking" role="note" aria-label="密级标志">'
                      "内部&lt;b&gt;&amp;</div>") == 2
    assert "<b>&" not in html
    margins = '"\\005185\\0090e8\\00003cb\\00003e\\000026"'
    assert f"@top-center {{ content: {margins};" in html
    assert f"@bottom-center {{ content: {margins};" in html
    plain = agency_document(view, "html", "zh")
    assert isinstance(plain, str)
    assert 'class="marking"' not in plain and "@top-center" not in plain


def test_toc_points_at_every_section_and_the_receipt_lists_every_action(
        store: SqliteStore) -> None:
    view = agency_view(store, "agency-001", find_scan(store, None))
    html = agency_document(view, "html", "zh")
    assert isinstance(html, str)
    toc = html[html.index('<nav class="toc"'):html.index("</nav>")]
    targets = re.findall(r'href="#([a-z]+)"', toc)
    assert targets == ["actions", "scores", "changes", "findings", "appendix", "receipt"]
    for target in targets:
        assert f'<section id="{target}"' in html
    receipt = html[html.index('<section id="receipt"'):]
    assert "整改回执" in receipt and "synthetic-1" in receipt and "agency-001" in receipt
    rows = re.findall(r'<tr><td class="num nowrap">(\d+)</td>', receipt)
    assert view.actions and rows == [str(a["rank"]) for a in view.actions]
    assert receipt.count('<td class="blank"></td>') == 3 * len(view.actions)
    for word in ("整改措施", "完成时间", "责任人", "单位负责人（签字）", "单位（盖章）"):
        assert word in receipt, word
    english = agency_document(view, "html", "en")
    assert isinstance(english, str)
    receipt_en = english[english.index('<section id="receipt"'):]
    assert "Remediation receipt" in receipt_en and "整改" not in receipt_en


def test_coordinator_leaderboard_is_on_the_wide_page(store: SqliteStore, tmp_path: Path) -> None:
    render_all(store, tmp_path, fmt="html", marking="内部")
    index = (tmp_path / "index.html").read_text(encoding="utf-8")
    assert '<section id="leaderboard" class="wide">' in index
    assert "@page wide { size: A4 landscape; }" in index and ".wide { page: wide; }" in index
    assert index.count('<div class="marking"') == 2


def test_report_command_takes_marking(store: SqliteStore, tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["report", "--agency", "agency-000", "--store",
                                      str(store.path), "--out", str(tmp_path),
                                      "--marking", "工作秘密"])
    assert result.exit_code == 0, result.stderr
    assert "工作秘密</div>" in (tmp_path / "agency-000.html").read_text(encoding="utf-8")
    refused = CliRunner().invoke(app, ["report", "--agency", "agency-000", "--store",
                                       str(store.path), "--out", str(tmp_path),
                                       "--marking", " "])
    assert refused.exit_code == 2 and "--marking" in refused.stderr


def test_render_agency_uses_the_playbook_marking(store: SqliteStore, tmp_path: Path) -> None:
    book = load_playbook(tmp_path / "b.yml", text=BOOK + "report: {marking: 内部}\n")
    page = render_agency(store, "agency-000", tmp_path, playbook=book).read_text(encoding="utf-8")
    assert "内部</div>" in page and "省政务服务数据管理局" in page


def test_line_chart_legend_and_end_labels_fit() -> None:
    name = "National-crypto compliance (D/A)"
    chart = charts.line_chart(["09-01 02:00 drill-2026-q4-long", "09-08 02:00"],
                              [charts.Series(name, [50.0, 60.0])], title="trend")
    width = float(re.search(r'width="(\d+)"', chart).group(1))  # type: ignore[union-attr]
    legend_x = float(re.search(r'<text x="([\d.]+)"[^>]*>National', chart).group(1))  # type: ignore[union-attr]
    assert legend_x + charts.text_width(name) <= width
    first_x = float(re.search(r'<text x="([\d.]+)"[^>]*>09-01', chart).group(1))  # type: ignore[union-attr]
    assert first_x - charts.text_width("09-01 02:00 drill-2026-q4-long") / 2 >= 0
