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
