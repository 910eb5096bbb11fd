"""A report's HTML is written as it is rendered (issue 20: the page of a 100,000-finding
report is never held whole), and the file a person opens is the same as before: identical
text, hostile strings still escaped, and an interrupted run leaves the earlier report as it
was with no half-written file beside it."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from sentinel.report.html import (
    agency_charts,
    agency_document,
    agency_output,
    find_scan,
    render_agency,
    render_template,
    write_atomic,
)
from sentinel.report.view import agency_view
from sentinel.store.sqlite import SqliteStore
from tests import samples as sample

MINUTE = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d UTC")


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> SqliteStore:
    db = SqliteStore(tmp_path_factory.mktemp("stream") / "s.db")
    sample.build(db, agencies=2, assets=40, scans=2)
    return db


def _same(a: str, b: str) -> bool:
    # The footer's generation minute may tick between two renderings.
    return MINUTE.sub("T", a) == MINUTE.sub("T", b)


def test_streamed_report_is_the_rendered_page_in_pieces(store: SqliteStore,
                                                        tmp_path: Path) -> None:
    scan = find_scan(store, None)
    view = agency_view(store, "agency-000", scan, None)
    whole = render_template("agency.html.j2", "zh", view=view,
                            charts=agency_charts(view, "zh"), marking="内部")
    assert _same(str(agency_document(view, "html", "zh", "内部")), whole)
    pieces = agency_output(view, "html", "zh", "内部")
    assert not isinstance(pieces, (str, bytes))
    parts = list(pieces)
    joined = "".join(parts)
    assert _same(joined, whole)
    # Pieces, not the page: no piece is more than a small part of the whole.
    assert len(parts) > 5
    assert max(map(len, parts)) < len(joined) / 4
    written = render_agency(store, "agency-000", tmp_path, marking="内部")
    assert _same(written.read_text(encoding="utf-8"), whole)
    # A server's markup reaches the file escaped, as before.
    text = written.read_text(encoding="utf-8")
    assert "<script>alert(1)</script>" not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text


def test_json_and_pdf_are_not_pieces(store: SqliteStore) -> None:
    view = agency_view(store, "agency-000", find_scan(store, None), None)
    assert isinstance(agency_output(view, "json", "zh"), str)


def test_interrupted_stream_keeps_the_earlier_report(tmp_path: Path) -> None:
    target = tmp_path / "agency-000.html"
    target.write_text("<p>last week's report</p>", encoding="utf-8")

    def pieces() -> Iterator[str]:
        yield "<html><body>" * 1000
        raise RuntimeError("the store went away while the page was rendered")

    with pytest.raises(RuntimeError):
        write_atomic(target, pieces())
    assert target.read_text(encoding="utf-8") == "<p>last week's report</p>"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["agency-000.html"]


def test_interrupted_first_report_leaves_nothing(tmp_path: Path) -> None:
    def pieces() -> Iterator[str]:
        yield "<html>"
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write_atomic(tmp_path / "out" / "a.html", pieces())
    assert list((tmp_path / "out").iterdir()) == []
