"""``sentinel findings`` streams (issue 20 item 4): the documents are read from the store's
cursor and written as they come, and what is written is byte for byte what the whole list
gave before: the JSON array with ``indent=1``, JSON Lines, the table's totals."""

from __future__ import annotations

import io
import json
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from sentinel.catalog import checks as catalog
from sentinel.cli import table
from sentinel.cli.main import app
from sentinel.model import Asset, Context, Endpoint, Evaluation, Finding, ScanRecord
from sentinel.store.sqlite import SqliteStore

WHEN = datetime(2026, 9, 1, 2, 0, tzinfo=UTC)
CHECKS = ("TLS-PROTO-10", "DB-CES-HIGHRISKPORT", "V6-AAAA", "TLS-CIPHER-CBC", "TLS-CERT-LIFE")


def _store(path: Path, hosts: int) -> None:
    """``hosts`` assets in two agencies, each failing every check in CHECKS (one errored)."""
    with SqliteStore(path) as db:
        db.save_scan(ScanRecord(id="s1", playbook="book.yml", started=WHEN,
                                finished=WHEN + timedelta(minutes=3), status="completed"))
        found = []
        for n in range(hosts):
            ctx = Context(scan_id="s1", agency_id=f"a{n % 2}", agency_name="单位\n二",
                          segment_id=f"seg-{n % 3}")
            asset = Asset(id=f"h{n:03d}", name=f"h{n:03d}.test", addresses=(f"198.18.0.{n}",))
            for i, check_id in enumerate(CHECKS):
                spec = catalog.check(check_id)
                found.append(Finding(
                    check_id=check_id, title=spec.title,
                    evaluation=Evaluation.ERROR if i == 3 else Evaluation.FAILED,
                    severity=spec.severity, context=ctx, asset=asset,
                    endpoint=Endpoint(address=f"198.18.0.{n}", port=400 + i), probe="tls",
                    evidence={"note": "tab\there, quote \" and 中文"}, observed_at=WHEN))
        db.add_findings(found)


def _cli(store: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["findings", "--store", str(store), *args])
    return result.exit_code, result.stdout


def test_json_array_is_json_dump_byte_for_byte() -> None:
    docs: list[dict[str, Any]] = [{"a": "中\n文", "b": [1, {"c": None}], "d": {}},
                                  {"e": []}, {"f": "\"x\""}]
    for some in ([], docs[:1], docs):
        whole = io.StringIO()
        json.dump(some, whole, ensure_ascii=False, indent=1)
        assert "".join(table.json_array(iter(some))) == whole.getvalue()


def test_cli_output_is_the_whole_list_written_as_before(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    _store(path, 40)
    with SqliteStore(path, create=False) as db:
        docs = db.findings(scan_id="s1", agency_id="a1")
    assert len(docs) == 100
    code, out = _cli(path, "--agency", "a1", "--json")
    assert code == 0
    assert out == json.dumps(docs, ensure_ascii=False, indent=1) + "\n"
    code, out = _cli(path, "--agency", "a1", "--jsonl")
    assert out.splitlines() == [json.dumps(d, ensure_ascii=False, separators=(",", ":"))
                                for d in docs]
    code, out = _cli(path, "--agency", "a1")
    lines = out.splitlines()
    assert len(lines) == 2 + 100 + 1
    assert lines[-1] == "total: 100 findings: high 40, medium 20, low 40 | failed 80, error 20"
    # A segment filtered in SQL gives what the documents' own segment field gives.
    code, out = _cli(path, "--segment", "seg-1", "--json")
    assert [d["sentinel"]["segment"] for d in json.loads(out)] == ["seg-1"] * 5 * 13
    assert _cli(path, "--segment", "seg-9")[0] == 2


def test_rows_are_read_as_they_are_written(tmp_path: Path) -> None:
    """The first document is given before the last is read: damage at the end of the order
    is met only there (a list would have failed before anything was written)."""
    path = tmp_path / "s.db"
    _store(path, 3)
    con = sqlite3.connect(path)
    con.execute("UPDATE findings SET doc = 'not json' WHERE check_id = 'TLS-CERT-LIFE'"
                " AND asset_id = 'h002'")
    con.commit()
    con.close()
    with SqliteStore(path, create=False) as db:
        rows = db.iter_findings(scan_id="s1")
        first = next(rows)
        assert first["rule"]["id"] in CHECKS
        code, out = _cli(path)
    assert code == 1
    assert out.startswith("scan s1 completed 2026-09-01 02:00:00 UTC (book.yml)\n")
    assert len(out.splitlines()) > 2
