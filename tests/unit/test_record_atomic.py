"""A scan records each asset in one transaction (ScanRecorder.on_asset, SqliteStore.atomic):
when the store refuses the asset's last write (its change events), none of the asset's
observations, findings or lifecycle states are kept either, so the next scan does not start
from findings that have no state; an asset that records cleanly afterwards is whole."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from sentinel.errors import StoreError
from sentinel.store.sqlite import SqliteStore
from tests.unit.test_v6_ns_once import WHEN, _scan


def _counts(path: Path) -> dict[str, int]:
    with sqlite3.connect(path) as con:
        return {table: con.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
                for table in ("observations", "findings", "finding_state", "events")}


def test_an_asset_is_stored_whole_or_not_at_all(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    SqliteStore(path).close()
    with sqlite3.connect(path) as con:  # the store refuses every change event, as a full
        con.execute("CREATE TRIGGER refuse BEFORE INSERT ON events "  # disk would
                    "BEGIN SELECT RAISE(ABORT, 'no room for events'); END")
    db = SqliteStore(path)
    with pytest.raises(StoreError, match="no room for events"):
        _scan(db, "scan-1", WHEN, ns1_ok=False)
    db.close()
    assert _counts(path) == {"observations": 0, "findings": 0, "finding_state": 0,
                             "events": 0}
    with sqlite3.connect(path) as con:
        con.execute("DROP TRIGGER refuse")
    db = SqliteStore(path)
    _scan(db, "scan-2", WHEN, ns1_ok=False)
    stored = _counts(path)
    assert stored["observations"] == 4  # three websites and sw1.test
    assert stored["findings"] > 0 and stored["finding_state"] > 0
    opened = [e for e in db.events("scan-2") if e["event"]["action"] == "finding-opened"]
    assert len(opened) == db.failed_count("scan-2")  # every failed finding has its event


def test_an_assets_documents_are_grouped_in_the_id_index(tmp_path: Path) -> None:
    """Each finding and change event of one asset in one scan has an id that starts with the
    same 12 hex digits (scan and asset), so the asset is written to one place of the id index;
    another asset or another scan starts elsewhere, and recording the scan twice (a replay)
    keeps one document per finding."""
    db = SqliteStore(tmp_path / "s.db")
    _scan(db, "scan-1", WHEN, ns1_ok=False)
    with sqlite3.connect(db.path) as con:
        findings = con.execute("SELECT doc_id, asset_id FROM findings").fetchall()
        events = con.execute("SELECT doc_id, json_extract(doc, '$.host.id')"
                             " FROM events WHERE action = 'finding-opened'").fetchall()
    prefixes: dict[str, set[str]] = {}
    for doc_id, asset_id in findings + events:
        assert len(doc_id) == 40 and int(doc_id, 16) >= 0
        prefixes.setdefault(asset_id, set()).add(doc_id[:12])
    assert len(prefixes) >= 3
    assert all(len(p) == 1 for p in prefixes.values()), prefixes
    assert len({next(iter(p)) for p in prefixes.values()}) == len(prefixes)
    before = _counts(db.path)
    _scan(db, "scan-1", WHEN, ns1_ok=False)  # the same scan recorded again
    assert _counts(db.path)["findings"] == before["findings"]
    _scan(db, "scan-2", WHEN, ns1_ok=False)
    with sqlite3.connect(db.path) as con:
        second = {r[0][:12] for r in con.execute(
            "SELECT doc_id FROM findings WHERE scan_id = 'scan-2'")}
    assert not second & {next(iter(p)) for p in prefixes.values()}
    db.close()
