"""``sentinel scans --accept FILE`` counts accepted findings as accepted, not failed, as
``findings``, ``report`` and ``export`` do (sentinel/accept.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sentinel.store.sqlite import SqliteStore
from tests.unit.test_accept import accept_file, run, write
from tests.unit.test_export import build


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> SqliteStore:
    db = SqliteStore(tmp_path_factory.mktemp("scans-accept") / "s.db")
    build(db)  # scan-x: three failed findings (TLS-PROTO-10, GM-TLCP-ABSENT, TLS-CERT-LIFE)
    return db



def test_scans_counts_accepted_apart(store: SqliteStore, tmp_path: Path) -> None:
    path = accept_file(tmp_path, store, cert_expires="2000-01-01")  # one active, one expired
    status, stdout, stderr = run("scans", "--store", str(store.path), "--accept", str(path))
    assert status == 0, stderr
    header, line = stdout.splitlines()
    assert header.split() == ["scan", "status", "started", "finished", "attempts", "failed",
                              "accepted", "playbook"]
    assert line.split()[0] == "scan-x"
    assert line.split()[-3:] == ["2", "1", "test"]  # failed 2 (not 3), accepted 1
    status, stdout, _ = run("scans", "--store", str(store.path), "--accept", str(path), "--json")
    assert status == 0
    (record,) = json.loads(stdout)
    assert (record["findings"], record["accepted"]) == (2, 1)


def test_expired_acceptances_count_as_failed(store: SqliteStore, tmp_path: Path) -> None:
    path = accept_file(tmp_path, store, proto_expires="2000-01-01", cert_expires="2000-01-01")
    status, stdout, _ = run("scans", "--store", str(store.path), "--accept", str(path), "--json")
    assert status == 0
    (record,) = json.loads(stdout)
    assert (record["findings"], record["accepted"]) == (3, 0)


def test_without_a_file_no_accepted_column(store: SqliteStore) -> None:
    status, stdout, _ = run("scans", "--store", str(store.path))
    assert status == 0 and "accepted" not in stdout
    status, stdout, _ = run("scans", "--store", str(store.path), "--json")
    assert "accepted" not in json.loads(stdout)[0]


def test_a_bad_file_exits_2(store: SqliteStore, tmp_path: Path) -> None:
    bad = write(tmp_path / "bad.yml", "accepted:\n  - key: abc\n    reason: r\n")
    status, stdout, stderr = run("scans", "--store", str(store.path), "--accept", str(bad))
    assert status == 2 and stdout == ""
    assert f"{bad}:2" in stderr
