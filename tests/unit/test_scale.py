"""At scale (issue 20): planning a large segment is lazy, and the store answers a rescan's and
a report's questions by key and by asset instead of reading every state it remembers."""

from __future__ import annotations

import sqlite3
import tracemalloc
from datetime import UTC, datetime
from itertools import islice
from pathlib import Path

from sentinel.model import Asset, Context, Endpoint, FindingStatus, KeyState
from sentinel.playbook import Playbook, load_playbook
from sentinel.scan.liveness import Liveness
from sentinel.scan.plan import asset_plans, probes_for
from sentinel.severity import Severity
from sentinel.store.sqlite import MIGRATIONS, SqliteStore

BOOK = """\
name: wide
agencies: [{id: a1, name: {zh: 甲, en: A}}]
scope: {authorised: ["198.18.0.0/15"]}
segments: [{id: wide, agency: a1, cidrs: ["198.18.0.0/16"], zone: extranet}]
probes: {discovery: {methods: [icmp]}, tcp: {ports: [22, 80, 443]}}
"""
WHEN = datetime(2026, 12, 1, tzinfo=UTC)


def book() -> Playbook:
    return load_playbook(Path("wide.yml"), text=BOOK)


def test_a_16_plans_its_first_assets_without_building_the_rest() -> None:
    playbook = book()
    kinds = probes_for(playbook)
    # The sweep found every address of the /16 alive (the live set is the sweep's to hold).
    up = {f"198.18.{n // 256}.{n % 256}": ["icmp-echo"] for n in range(1, 65535)}
    live = Liveness(("icmp",), up=up, swept=len(up))
    tracemalloc.start()
    try:
        plans = asset_plans(playbook, "s", live=live, probes=kinds)
        first = list(islice(plans, 3))
        for _plan in islice(plans, 2000):  # and walking on holds nothing behind it
            pass
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert [p.asset_id for p in first] == ["198.18.0.1", "198.18.0.2", "198.18.0.3"]
    assert [(j.probe.kind, j.target.endpoint.port) for j in first[0].jobs] == [
        ("discovery", None), ("tcp", 22), ("tcp", 80), ("tcp", 443)]
    # 65,534 addresses x 3 probes built at once would take tens of MB; lazily, a few plans.
    assert peak < 2 * 1024 * 1024, peak
    assert next(plans).asset_id == "198.18.7.212"  # 3 + 2000 plans consumed before it


def state(key: str, asset: str, agency: str, status: FindingStatus) -> KeyState:
    return KeyState(key, "DB-CES-CREDPLAIN", asset, "tcp", status, Severity.HIGH, WHEN, WHEN,
                    Context(scan_id="s1", agency_id=agency, segment_id="seg"),
                    Asset(id=asset, addresses=("198.18.1.1",)),
                    Endpoint(address="198.18.1.1", port=23), 0)


def filled(path: Path) -> SqliteStore:
    store = SqliteStore(path)
    store.save_states(
        state(f"k{n}", f"h{n % 7}", "a1" if n % 2 else "a2",
              FindingStatus.RESOLVED if n % 5 == 0 else FindingStatus.OPEN)
        for n in range(1200))
    return store


def test_states_by_key_answer_more_keys_than_one_query_takes(tmp_path: Path) -> None:
    with filled(tmp_path / "s.db") as store:
        wanted = [(f"h{n % 7}", f"k{n}") for n in range(1200)] + [("h3", "k3"), ("h0", "no")]
        found = store.states([*wanted, ("h1", "k3")])  # k3 is h3's: not h1's
        assert sorted(found) == sorted(f"k{n}" for n in range(1200))
        assert found["k7"].asset_id == "h0"
        assert store.states([]) == {}
        ran: list[str] = []  # the statement the look-up runs, planned by SQLite
        store._db._db.set_trace_callback(ran.append)
        store.states([("h0", "k7")])
        store._db._db.set_trace_callback(None)
        sql = next(q for q in ran if "finding_state" in q)
        plan = str(store._db.execute(f"EXPLAIN QUERY PLAN {sql}").fetchall())
        assert "SEARCH finding_state USING INDEX" in plan and "SCAN finding_state" not in plan


def test_a_rescan_reads_one_assets_states_through_an_index(tmp_path: Path) -> None:
    with filled(tmp_path / "s.db") as store:
        states = store.asset_states("h3")
        assert sorted(states) == sorted(f"k{n}" for n in range(1200) if n % 7 == 3)
        assert store.asset_states("nobody") == {}
        plan = store._db.execute(
            "EXPLAIN QUERY PLAN SELECT key FROM finding_state WHERE asset_id = ?",
            ("h3",)).fetchall()
        # The table's key is (asset, key): an asset's states are one range of it.
        assert "INDEX sqlite_autoindex_finding_state_1 (asset_id=?)" in str(plan), plan


def test_open_states_of_one_agency(tmp_path: Path) -> None:
    with filled(tmp_path / "s.db") as store:
        keys = {s.key for s in store.open_states("a1")}
        assert keys == {f"k{n}" for n in range(1200) if n % 2 and n % 5}
        assert len(store.open_states()) == sum(1 for n in range(1200) if n % 5)


def test_an_older_store_gains_the_scale_indexes(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    with filled(path) as store:
        store._db.execute("DROP INDEX findings_scan_agency")
        store._db.execute("PRAGMA user_version = 2")  # before migration 3, the scale indexes
    with SqliteStore(path) as store:
        assert store.schema_version == len(MIGRATIONS)
        names = {r[0] for r in store._db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'index'")}
        assert {"findings_scan_agency", "finding_state_agency"} <= names
        assert "finding_state_asset" not in names  # the table's key serves it (migration 5)
        assert len(store.asset_states("h1")) == len(range(1, 1200, 7))
        assert len(store.states()) == 1200


def test_a_store_of_schema_4_keeps_every_state_keyed_by_asset(tmp_path: Path) -> None:
    """Migration 5 rebuilds finding_state keyed by (asset, key): every state of a schema-4
    store is kept as it was, and the next write of a key replaces it, not adds a row."""
    columns = ("key, check_id, asset_id, probe, status, severity, first_seen, last_seen,"
               " reopened, agency_id, state")
    with filled(tmp_path / "new.db") as donor:  # 1,200 states as this Sentinel writes them
        rows = donor._db.execute(f"SELECT {columns} FROM finding_state ORDER BY key").fetchall()
    path = tmp_path / "old.db"
    raw = sqlite3.connect(path, isolation_level=None)
    for number, script in enumerate(MIGRATIONS[:4], start=1):  # a store of schema 4
        for statement in filter(str.strip, script.split(";")):
            raw.execute(statement)
        raw.execute(f"PRAGMA user_version = {number}")
    raw.executemany(f"INSERT INTO finding_state ({columns}) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                    rows)
    raw.close()
    with SqliteStore(path) as store:
        assert store.schema_version == len(MIGRATIONS)
        migrated = store._db.execute(
            f"SELECT {columns} FROM finding_state ORDER BY key").fetchall()
        assert migrated == rows
        store.save_states([state("k8", "h1", "a1", FindingStatus.RESOLVED)])
        assert store.states([("h1", "k8")])["k8"].status is FindingStatus.RESOLVED
        assert len(store.states()) == 1200
        assert sorted(store.asset_states("h1")) == sorted(
            f"k{n}" for n in range(1200) if n % 7 == 1)
