"""Reading the store from the command line: no wrong answers. An unknown agency, check or
scan is an error (exit 2), never an empty list or a clean report; a report never writes
outside its folder; ``--severity`` takes any case; ``sentinel scans`` lists the scans."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sentinel.cli.main import app
from sentinel.store.sqlite import SqliteStore
from tests import samples


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("read") / "s.db"
    with SqliteStore(path) as db:
        samples.build(db, agencies=2, assets=2, scans=2, hostile="x")
    return path


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["findings", "--agency", "nosuch"], "--agency 'nosuch': not an agency"),
        (["findings", "--check", "NO-SUCH-CHECK"], "--check 'NO-SUCH-CHECK': no such check"),
        (["findings", "--scan", "nosuch"], "--scan 'nosuch': no such scan"),
        (["report", "--agency", "nosuch"], "--agency 'nosuch': not an agency"),
        (["report", "--agency", "../../escape"], "not an agency"),
        (["report", "--all", "--scan", "nosuch"], "--scan 'nosuch': no such scan"),
    ],
)
def test_unknown_names_are_errors(store: Path, tmp_path: Path, args: list[str],
                                  says: str) -> None:
    out = tmp_path / "deep" / "out"
    status, stdout, stderr = run(*args, "--store", str(store),
                                 *(["--out", str(out)] if args[0] == "report" else []))
    assert status == 2, stderr
    assert says in stderr and stdout == ""
    assert not list(tmp_path.rglob("*.html")) and not (tmp_path / "escape.html").exists()


def test_known_agency_and_any_case_severity(store: Path) -> None:
    status, stdout, stderr = run("findings", "--store", str(store), "--agency", "agency-001",
                                 "--severity", "HIGH", "--json")
    assert status == 0, stderr
    docs = json.loads(stdout)
    assert docs and {d["organization"]["id"] for d in docs} == {"agency-001"}
    assert {d["sentinel"]["severity"] for d in docs} <= {"critical", "high"}


def test_scans_lists_every_scan(store: Path) -> None:
    status, stdout, _ = run("scans", "--store", str(store))
    assert status == 0
    lines = stdout.splitlines()
    assert lines[0].split()[:2] == ["scan", "status"]
    assert [line.split()[0] for line in lines[1:]] == ["synthetic-0", "synthetic-1"]
    status, stdout, _ = run("scans", "--store", str(store), "--json")
    assert [s["id"] for s in json.loads(stdout)] == ["synthetic-0", "synthetic-1"]
