"""The embedded store: migrations, refusal of newer schemas, queries, a reader during a write."""

from __future__ import annotations

import os
import socket
import sqlite3
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest

from sentinel.errors import StoreError, UsageError
from sentinel.model import Asset, Context, Endpoint, Evaluation, Finding, ScanRecord, Text
from sentinel.severity import Severity
from sentinel.store.sqlite import MIGRATIONS, SqliteStore

WHEN = datetime(2026, 11, 26, tzinfo=UTC)


def make(check: str, agency: str, severity: Severity, port: int, scan: str = "s1") -> Finding:
    return Finding(
        check_id=check,
        title=Text(zh="题", en="title"),
        evaluation=Evaluation.FAILED,
        severity=severity,
        context=Context(scan_id=scan, agency_id=agency, segment_id="seg"),
        asset=Asset(id="h", addresses=("198.18.1.1",)),
        endpoint=Endpoint(address="198.18.1.1", port=port),
        probe="tcp",
        observed_at=WHEN,
    )


def test_new_store_is_at_the_latest_schema(tmp_path: Path) -> None:
    with SqliteStore(tmp_path / "s.db") as store:
        assert store.schema_version == len(MIGRATIONS)


def test_store_from_a_newer_sentinel_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    SqliteStore(path).close()
    raw = sqlite3.connect(path)
    raw.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    raw.close()
    with pytest.raises(StoreError, match="newer than this Sentinel"):
        SqliteStore(path)


def test_reading_a_missing_store_is_an_error_not_a_new_file(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="no store"):
        SqliteStore(tmp_path / "absent.db", create=False)
    assert not (tmp_path / "absent.db").exists()


def test_queries_by_agency_check_and_severity(tmp_path: Path) -> None:
    with SqliteStore(tmp_path / "s.db") as store:
        store.add_findings(
            [
                make("A-B", "a1", Severity.HIGH, 1),
                make("A-B", "a2", Severity.LOW, 2),
                make("C-D", "a1", Severity.MEDIUM, 3),
            ]
        )
        assert len(store.findings(agency_id="a1")) == 2
        assert [d["rule"]["id"] for d in store.findings(check_id="C-D")] == ["C-D"]
        high = store.findings(min_severity=Severity.MEDIUM)
        assert [d["sentinel"]["severity"] for d in high] == ["high", "medium"]
        # The same finding written twice (a replay) is one document.
        store.add_findings([make("A-B", "a1", Severity.HIGH, 1)])
        assert len(store.findings()) == 3


def test_a_reader_sees_committed_assets_while_a_scan_writes(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    writer = SqliteStore(path)
    writer.save_scan(ScanRecord(id="s1", playbook="p", started=WHEN))
    writer.add_findings([make("A-B", "a1", Severity.HIGH, 1)])
    writer._db.execute("BEGIN IMMEDIATE")  # a scan in the middle of writing the next asset
    writer._db.execute("DELETE FROM findings")
    reader = SqliteStore(path, create=False)
    assert len(reader.findings()) == 1  # the reader is not blocked and sees committed data
    writer._db.execute("ROLLBACK")
    reader.close()
    writer.close()


def test_a_store_whose_folder_is_a_file_is_a_usage_error(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("x", encoding="utf-8")
    with pytest.raises(UsageError, match=f"{blocker} is a file, not a folder"):
        SqliteStore(blocker / "s.db")


def test_a_damaged_document_is_one_store_error_and_stops_writes(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    with SqliteStore(path) as store:
        store.add_findings([make("E001", "a1", Severity.HIGH, 23)])
        store._db.execute("UPDATE findings SET doc = '{not json'")
        with pytest.raises(StoreError, match=f"store {path} is damaged .*not JSON"):
            store.findings()
        with pytest.raises(StoreError, match="damaged"):  # nothing more is written
            store.save_scan(ScanRecord(id="s2", playbook="p", started=WHEN))
    with SqliteStore(path) as store:
        store._db.execute("DROP TABLE findings")
        with pytest.raises(StoreError, match=r"damaged \(no such table: findings\)"):
            store.findings()


def test_a_running_scan_whose_process_is_gone_is_abandoned(tmp_path: Path) -> None:
    dead = subprocess.Popen(["true"])
    dead.wait()
    path = tmp_path / "s.db"
    with SqliteStore(path) as store:
        here = socket.gethostname()
        store.save_scan(ScanRecord(id="dead", playbook="p", started=WHEN, host=here,
                                   pid=dead.pid))
        store.save_scan(ScanRecord(id="alive", playbook="p", started=WHEN, host=here,
                                   pid=os.getpid()))
        store.save_scan(ScanRecord(id="elsewhere", playbook="p", started=WHEN,
                                   host=f"not-{here}", pid=dead.pid))
        store.save_scan(ScanRecord(id="agents", playbook="p", started=WHEN))  # no process
    with SqliteStore(path, create=False) as store:
        assert {r.id: r.status for r in store.scans()} == {
            "dead": "abandoned", "alive": "running", "elsewhere": "running", "agents": "running"}
