"""At scale (issue 20): planning a large segment is lazy, and the store answers a rescan's and
a report's questions by key and by asset instead of reading every state it remembers."""

from __future__ import annotations

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
        wanted = [f"k{n}" for n in range(0, 1200, 1)] + ["k3", "missing"]
        found = store.states(wanted)
        assert sorted(found) == sorted(f"k{n}" for n in range(1200))
        assert found["k7"].asset_id == "h0"
        assert store.states([]) == {}


def test_a_rescan_reads_one_assets_states_through_an_index(tmp_path: Path) -> None:
    with filled(tmp_path / "s.db") as store:
        states = store.asset_states("h3")
        assert sorted(states) == sorted(f"k{n}" for n in range(1200) if n % 7 == 3)
        assert store.asset_states("nobody") == {}
        plan = store._db.execute(
            "EXPLAIN QUERY PLAN SELECT key FROM finding_state WHERE asset_id = ?",
            ("h3",)).fetchall()
        assert any("finding_state_asset" in str(row) for row in plan), plan


def test_open_states_of_one_agency(tmp_path: Path) -> None:
    with filled(tmp_path / "s.db") as store:
        keys = {s.key for s in store.open_states("a1")}
        assert keys == {f"k{n}" for n in range(1200) if n % 2 and n % 5}
        assert len(store.open_states()) == sum(1 for n in range(1200) if n % 5)


def test_an_older_store_gains_the_scale_indexes(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    with filled(path) as store:
        store._db.execute("DROP INDEX finding_state_asset")
        store._db.execute("DROP INDEX findings_scan_agency")
        store._db.execute("PRAGMA user_version = 2")  # before migration 3, the scale indexes
    with SqliteStore(path) as store:
        assert store.schema_version == len(MIGRATIONS)
        names = {r[0] for r in store._db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'index'")}
        assert {"finding_state_asset", "findings_scan_agency"} <= names
        assert len(store.asset_states("h1")) == len(range(1, 1200, 7))
