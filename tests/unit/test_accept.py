"""Risk acceptance (--accept FILE): accepted findings are shown as accepted, not counted as
failed, and open again when their acceptance expires; a bad file is a located error (exit 2).
"""

from __future__ import annotations

import csv
import io
import json
from datetime import date
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sentinel.accept import AcceptanceError, Acceptances, counted, is_accepted, load_acceptances
from sentinel.cli.main import app
from sentinel.export import export_document
from sentinel.store.sqlite import SqliteStore
from tests.unit.test_export import build

DAY = date(2026, 10, 1)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> SqliteStore:
    db = SqliteStore(tmp_path_factory.mktemp("accept") / "s.db")
    build(db)
    return db


def key_of(store: SqliteStore, check_id: str) -> str:
    (doc,) = store.findings(scan_id="scan-x", check_id=check_id)
    return str(doc["sentinel"]["finding"]["key"])


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def accept_file(tmp_path: Path, store: SqliteStore, *, proto_expires: str = "2999-12-31",
                cert_expires: str = "2999-12-31") -> Path:
    return write(tmp_path / "accept.yml", f"""\
accepted:
  - key: {key_of(store, "TLS-PROTO-10")}
    reason: 旧终端仍需 TLS 1.0，2027 年更换
    approver: 张三 (信息中心)
    expires: {proto_expires}
  - check: TLS-CERT-LIFE
    asset: gm.test
    reason: certificate renewal booked
    approver: Li Si
    expires: {cert_expires}
""")


def test_active_and_expired_on_a_given_day(store: SqliteStore, tmp_path: Path) -> None:
    path = accept_file(tmp_path, store, proto_expires="2026-10-01", cert_expires="2026-09-30")
    docs = store.findings(scan_id="scan-x")
    marked = load_acceptances(path, today=DAY).mark(docs)
    by_check = {d["rule"]["id"]: d for d in marked}
    proto = by_check["TLS-PROTO-10"]["sentinel"]["acceptance"]
    assert proto["state"] == "active" and proto["by"] == "key"  # through its expiry day
    assert proto["approver"] == "张三 (信息中心)" and proto["expires"] == "2026-10-01"
    cert = by_check["TLS-CERT-LIFE"]["sentinel"]["acceptance"]
    assert cert["state"] == "expired" and cert["by"] == "check+asset"  # open again
    assert "acceptance" not in by_check["GM-TLCP-ABSENT"]["sentinel"]
    assert [d["rule"]["id"] for d in counted(marked)] == [
        d["rule"]["id"] for d in marked if d["rule"]["id"] != "TLS-PROTO-10"]
    next_day = load_acceptances(path, today=date(2026, 10, 2)).mark(docs)
    assert not any(is_accepted(d) for d in next_day)  # the day after: counted again
    assert "acceptance" not in store.findings(scan_id="scan-x", check_id="TLS-PROTO-10")[0][
        "sentinel"]  # the store's documents are not changed


def test_check_and_asset_must_both_match(store: SqliteStore, tmp_path: Path) -> None:
    path = write(tmp_path / "a.yml", "accepted:\n  - check: TLS-CERT-LIFE\n    asset: www.test\n"
                 "    reason: r\n    approver: a\n    expires: 2999-01-01\n")
    marked = load_acceptances(path, today=DAY).mark(store.findings(scan_id="scan-x"))
    assert not any(is_accepted(d) for d in marked)  # TLS-CERT-LIFE is on gm.test


@pytest.mark.parametrize(("text", "line", "field", "says"), [
    ("accepted:\n  - key: abc\n    reason: r\n    expires: 2027-01-01\n", 2, "accepted.0.approver",
     "missing required field 'approver'"),
    ("accepted:\n  - key: abc\n    check: TLS-PROTO-10\n    reason: r\n    approver: a\n"
     "    expires: 2027-01-01\n", 2, "accepted.0.key", "either key, or check and asset"),
    ("accepted:\n  - check: TLS-PROTO-10\n    reason: r\n    approver: a\n"
     "    expires: 2027-01-01\n", 2, "accepted.0.asset", "missing required field 'asset'"),
    ("accepted:\n  - key: abc\n    reason: r\n    approver: a\n    expires: next year\n", 5,
     "accepted.0.expires", "date"),
    ("accepted:\n  - key: abc\n    reason: r\n    approver: a\n    expires: 2027-01-01\n"
     "    owner: x\n", 6, "accepted.0.owner", "unknown field 'owner'"),
    ("- key: abc\n", 1, None, "a mapping with one list, 'accepted'"),
])
def test_a_bad_file_is_a_located_error(tmp_path: Path, text: str, line: int,
                                       field: str | None, says: str) -> None:
    path = write(tmp_path / "bad.yml", text)
    with pytest.raises(AcceptanceError) as caught:
        load_acceptances(path)
    error = caught.value
    assert error.exit_status == 2 and says in error.message
    assert error.location is not None and error.location.file == str(path)
    assert (error.location.line, error.location.field) == (line, field)


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.parametrize("command", [["findings"], ["export", "--format", "csv"],
                                     ["report", "--all"]])
def test_cli_bad_file_exits_2_with_its_location(store: SqliteStore, tmp_path: Path,
                                                command: list[str]) -> None:
    bad = write(tmp_path / "bad.yml", "accepted:\n  - key: abc\n    reason: r\n")
    out = ["-o", str(tmp_path / "x.csv")] if command[0] == "export" else \
        ["--out", str(tmp_path / "r")] if command[0] == "report" else []
    status, stdout, stderr = run(*command, "--accept", str(bad), "--store", str(store.path),
                                 *out)
    assert status == 2 and stdout == ""
    assert f"{bad}:2" in stderr and "accepted.0.approver" in stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.yml"]


def test_findings_shows_accepted_and_does_not_count_them(store: SqliteStore,
                                                         tmp_path: Path) -> None:
    path = accept_file(tmp_path, store, cert_expires="2000-01-01")
    status, plain, _ = run("findings", "--store", str(store.path))
    assert status == 0 and "failed 3" in plain and "accepted" not in plain
    status, stdout, stderr = run("findings", "--store", str(store.path), "--accept", str(path))
    assert status == 0, stderr
    assert "failed 2" in stdout and "accepted 1" in stdout
    row = next(line for line in stdout.splitlines() if "TLS-PROTO-10" in line)
    assert "accepted" in row and "failed" not in row
    cert = next(line for line in stdout.splitlines() if "TLS-CERT-LIFE" in line)
    assert "failed" in cert  # its acceptance expired: open and counted again
    # --fail-on does not fire for an accepted finding
    status, _, _ = run("findings", "--store", str(store.path), "--accept", str(path),
                       "--check", "TLS-PROTO-10", "--fail-on", "high")
    assert status == 0
    status, _, _ = run("findings", "--store", str(store.path), "--check", "TLS-PROTO-10",
                       "--fail-on", "high")
    assert status == 1


def test_exports_mark_accepted_findings(store: SqliteStore, tmp_path: Path) -> None:
    acceptances = load_acceptances(accept_file(tmp_path, store, cert_expires="2000-01-01"),
                                   today=DAY)
    rows = list(csv.DictReader(io.StringIO(export_document(
        store, "csv", acceptances=acceptances).decode("utf-8"))))
    by_check = {r["check_id"]: r for r in rows}
    assert by_check["TLS-PROTO-10"]["status"] == "accepted"
    assert by_check["TLS-PROTO-10"]["accepted_by"] == "张三 (信息中心)"
    assert by_check["TLS-PROTO-10"]["accepted_until"] == "2999-12-31"
    assert by_check["TLS-CERT-LIFE"]["status"] == "open"
    log = json.loads(export_document(store, "sarif", acceptances=acceptances))
    results = {r["ruleId"]: r for r in log["runs"][0]["results"]}
    (suppression,) = results["TLS-PROTO-10"]["suppressions"]
    assert suppression["status"] == "accepted" and "张三" in suppression["justification"]
    assert "suppressions" not in results["TLS-CERT-LIFE"]
    from tests.unit.test_export import _sarif_validator

    _sarif_validator().validate(log)


def test_no_file_accepts_nothing(store: SqliteStore) -> None:
    docs = store.findings(scan_id="scan-x")
    assert Acceptances(()).mark(docs) == docs


def test_report_lists_accepted_apart_and_does_not_count_them(store: SqliteStore,
                                                             tmp_path: Path) -> None:
    from sentinel.report.html import find_scan, render_agency
    from sentinel.report.view import agency_view

    scan = find_scan(store, None)
    acceptances = load_acceptances(accept_file(tmp_path, store), today=DAY)
    plain = agency_view(store, "gov-a", scan)
    view = agency_view(store, "gov-a", scan, acceptances=acceptances)
    assert plain.counts["high"] - view.counts["high"] == 1  # TLS-PROTO-10 is high
    assert plain.changes["new"] - view.changes["new"] == 1  # and not new either
    assert "TLS-PROTO-10" in {g["check_id"] for g in plain.groups}
    assert "TLS-PROTO-10" not in {g["check_id"] for g in view.groups}
    (item,) = view.accepted
    assert (item["check_id"], item["asset"], item["port"], item["expires"]) == (
        "TLS-PROTO-10", "www.test", 443, "2999-12-31")
    status, _, stderr = run("report", "--agency", "gov-a", "--format", "json", "--out",
                                 str(tmp_path / "r"), "--store", str(store.path), "--accept",
                                 str(tmp_path / "accept.yml"))
    assert status == 0, stderr
    doc = json.loads((tmp_path / "r" / "gov-a.json").read_text(encoding="utf-8"))
    assert [a["check_id"] for a in doc["accepted"]] == ["TLS-PROTO-10"]
    assert doc["counts"] == view.counts
    for lang, heading in (("zh", "已接受的风险"), ("en", "Accepted risks")):
        html = render_agency(store, "gov-a", tmp_path / lang, lang=lang,
                             acceptances=acceptances).read_text(encoding="utf-8")
        section = html[html.index('id="accepted"'):]
        assert heading in section and "张三 (信息中心)" in section and "2999-12-31" in section
    assert 'id="accepted"' not in render_agency(store, "gov-a", tmp_path / "none").read_text(
        encoding="utf-8")
