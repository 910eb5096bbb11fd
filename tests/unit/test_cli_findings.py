"""``sentinel findings`` as the operator sees it: a table with a title, a header and totals,
a host column for site findings, IPv6 endpoints in brackets, sorting and filtering by the
documents' fields, ``--fail-on`` for pipelines, JSON Lines beside the JSON array. And
``sentinel scan --dry-run``: agencies, segments and an estimated duration."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sentinel.catalog import checks as catalog
from sentinel.cli.main import app
from sentinel.model import Asset, Context, Endpoint, Evaluation, Finding, ScanRecord
from sentinel.store.sqlite import SqliteStore

WHEN = datetime(2026, 9, 1, 2, 0, tzinfo=UTC)
WEB = Asset(id="web1", name="web1.a1.test", addresses=("198.18.1.10", "2001:db8:1::10"))
SITE = Asset(id="site:www.a2.test", name="www.a2.test")
BARE = Asset(id="198.18.2.20", addresses=("198.18.2.20",))
A1 = Context(scan_id="s1", agency_id="a1", agency_name="一号单位", segment_id="seg-a")
A2 = Context(scan_id="s1", agency_id="a2", agency_name="二号单位", segment_id="seg-b")


def _finding(check_id: str, evaluation: Evaluation, ctx: Context, asset: Asset,
             endpoint: Endpoint | None) -> Finding:
    spec = catalog.check(check_id)
    return Finding(check_id=check_id, title=spec.title, evaluation=evaluation,
                   severity=spec.severity, context=ctx, asset=asset, endpoint=endpoint,
                   probe="tls", references=spec.references, evidence={}, observed_at=WHEN)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("findings") / "s.db"
    with SqliteStore(path) as db:
        db.save_scan(ScanRecord(id="s1", playbook="book.yml", started=WHEN,
                                finished=WHEN + timedelta(minutes=3), status="completed"))
        db.add_findings([
            _finding("TLS-PROTO-10", Evaluation.FAILED, A1, WEB,
                     Endpoint(address="2001:db8:1::10", port=443)),        # high
            _finding("DB-CES-HIGHRISKPORT", Evaluation.FAILED, A1, WEB,
                     Endpoint(address="198.18.1.10", port=23)),            # high
            _finding("V6-AAAA", Evaluation.FAILED, A2, SITE, None),         # medium, a site
            _finding("TLS-CIPHER-CBC", Evaluation.ERROR, A2, BARE,
                     Endpoint(address="198.18.2.20", port=443)),           # low, error
            _finding("TLS-CERT-LIFE", Evaluation.PASSED, A2, BARE,
                     Endpoint(address="198.18.2.20", port=443)),           # low, passed
        ])
    return path


def run(store: Path, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["findings", "--store", str(store), *args])
    return result.exit_code, result.stdout, result.stderr


def rows(stdout: str) -> list[list[str]]:
    """The table's rows (between the header and the totals), split into cells."""
    lines = stdout.splitlines()
    assert lines[1].split()[:6] == ["SEVERITY", "EVAL", "CHECK", "AGENCY", "HOST", "ENDPOINT"]
    assert lines[-1].startswith("total: ")
    return [line.split() for line in lines[2:-1]]


def test_table_has_title_header_rows_and_totals(store: Path) -> None:
    status, stdout, stderr = run(store)
    assert status == 0, stderr
    lines = stdout.splitlines()
    assert lines[0] == "scan s1 completed 2026-09-01 02:00:00 UTC (book.yml)"
    table = rows(stdout)
    assert [r[:3] for r in table] == [
        ["high", "failed", "DB-CES-HIGHRISKPORT"],
        ["high", "failed", "TLS-PROTO-10"],
        ["medium", "failed", "V6-AAAA"],
        ["low", "error", "TLS-CIPHER-CBC"],
    ]
    assert lines[-1] == "total: 4 findings: high 2, medium 1, low 1 | failed 3, error 1"


def test_host_column_and_ipv6_endpoints(store: Path) -> None:
    table = {r[2]: r for r in rows(run(store)[1])}
    assert table["TLS-PROTO-10"][4:6] == ["web1.a1.test", "[2001:db8:1::10]:443"]
    assert table["DB-CES-HIGHRISKPORT"][4:6] == ["web1.a1.test", "198.18.1.10:23"]
    assert table["V6-AAAA"][3:5] == ["a2", "www.a2.test"]  # the site's name, no endpoint
    assert table["TLS-CIPHER-CBC"][4:6] == ["198.18.2.20", "198.18.2.20:443"]


def test_sort_and_filters_match_the_json_fields(store: Path) -> None:
    by_host = [r[4] for r in rows(run(store, "--sort", "host")[1])]
    assert by_host == sorted(by_host) == ["198.18.2.20", "web1.a1.test", "web1.a1.test",
                                          "www.a2.test"]
    assert [r[2] for r in rows(run(store, "--sort", "check")[1])] == [
        "DB-CES-HIGHRISKPORT", "TLS-CIPHER-CBC", "TLS-PROTO-10", "V6-AAAA"]
    only = rows(run(store, "--host", "www.a2.test")[1])
    assert [r[2] for r in only] == ["V6-AAAA"]
    by_address = rows(run(store, "--host", "2001:db8:1::10")[1])  # any of the host's addresses
    assert {r[2] for r in by_address} == {"TLS-PROTO-10", "DB-CES-HIGHRISKPORT"}
    assert [r[2] for r in rows(run(store, "--segment", "seg-b", "--all-results")[1])] == [
        "V6-AAAA", "TLS-CERT-LIFE", "TLS-CIPHER-CBC"]
    status, _, stderr = run(store, "--segment", "nowhere")
    assert status == 2 and "--segment 'nowhere': not a segment of scan s1" in stderr


@pytest.mark.parametrize(("args", "status"), [
    (["--fail-on", "high"], 1),
    (["--fail-on", "CRITICAL"], 0),
    (["--fail-on", "medium", "--agency", "a2"], 1),               # V6-AAAA failed, medium
    (["--fail-on", "high", "--agency", "a2"], 0),
    (["--fail-on", "low", "--check", "TLS-CIPHER-CBC"], 0),        # an error is not a fail
    (["--fail-on", "info", "--all-results", "--check", "TLS-CERT-LIFE"], 0),  # passed
    (["--fail-on", "high", "--json"], 1),
])
def test_fail_on_exit_status(store: Path, args: list[str], status: int) -> None:
    got, stdout, stderr = run(store, *args)
    assert got == status, stderr
    assert stdout  # the list is printed either way
    assert ("at or above it" in stderr) == (status == 1)


def test_json_lines_and_json_array_hold_the_same_documents(store: Path) -> None:
    status, array, _ = run(store, "--json", "--all-results")
    assert status == 0
    docs = json.loads(array)
    with SqliteStore(store, create=False) as db:  # --json is the store's documents, as before
        expected = db.findings(scan_id="s1", evaluations=("failed", "error", "passed"))
    assert array == json.dumps(expected, ensure_ascii=False, indent=1) + "\n"
    status, lines, _ = run(store, "--jsonl", "--all-results")
    assert status == 0
    assert [json.loads(line) for line in lines.splitlines()] == docs
    assert len(lines.splitlines()) == 5
    status, _, stderr = run(store, "--json", "--jsonl")
    assert status == 2 and "at most one of --json and --jsonl" in stderr


BOOK = """\
name: estimate
agencies:
  - {id: a1, name: {zh: 一号单位, en: Agency One}}
  - {id: a2, name: {zh: 二号单位, en: Agency Two}}
scope: {authorised: ["198.18.0.0/15"]}
segments:
  - {id: seg-a, agency: a1, cidrs: ["198.18.1.0/24"], zone: extranet,
     hosts: [198.18.1.10, 198.18.1.11]}
  - {id: seg-b, agency: a2, cidrs: ["198.18.2.0/24"], zone: management, hosts: [198.18.2.20]}
rate: {packets_per_second: 10, concurrent_hosts: 1, connections_per_host: 1,
       probe_timeout_s: 2}
probes: {tcp: {ports: [22, 443]}}
"""


def test_dry_run_shows_agencies_segments_and_an_estimate(tmp_path: Path) -> None:
    book = tmp_path / "book.yml"
    book.write_text(BOOK, encoding="utf-8")
    result = CliRunner().invoke(app, ["scan", "--playbook", str(book), "--dry-run",
                                      "--store", str(tmp_path / "s.db")])
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines() == ["198.18.1.10\t198.18.1.10\t2 probes",
                                          "198.18.1.11\t198.18.1.11\t2 probes",
                                          "198.18.2.20\t198.18.2.20\t2 probes"]
    said = [line.removeprefix("# ") for line in result.stderr.splitlines()]
    assert said[:4] == [
        "agency a1 (一号单位): 1 segment",
        "  segment seg-a (extranet): 2 assets, 2 addresses, 4 probes",
        "agency a2 (二号单位): 1 segment",
        "  segment seg-b (management): 1 assets, 1 addresses, 2 probes",
    ]
    # 6 probes at 10 connections/s: at least 0.6 s; one host and one connection at a time,
    # each probe waiting its 2 s limit: at most 12 s.
    assert said[4] == ("estimated duration at the playbook's rate (10 connections/s, "
                       "1 hosts x 1 connections): at least 0.6 s, at most 12 s if every "
                       "probe runs to its time limit")
    assert said[5].startswith("6 probes planned") and said[5].endswith("nothing was sent")
    assert not (tmp_path / "s.db").exists()


def test_out_of_scope_dry_run_prints_its_refusal_only(tmp_path: Path) -> None:
    """A playbook whose scope reaches public space plans nothing: one refusal, exit 2, no
    list of targets and no count of probes that would never be sent."""
    book = tmp_path / "book.yml"
    book.write_text(BOOK.replace('authorised: ["198.18.0.0/15"]',
                                 'authorised: ["198.18.0.0/15", "192.0.0.0/8"]'),
                    encoding="utf-8")
    result = CliRunner().invoke(app, ["scan", "--playbook", str(book), "--dry-run"])
    assert result.exit_code == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: refused scope 192.0.0.0/8: "), lines
    assert "public address space" in lines[0] and "planned" not in result.stderr
