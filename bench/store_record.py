"""Recording one asset as a scan does, on a small store and on a large one (issue 20 item 1).

A TLS scan of 100,000 endpoints stores 3.6 million findings and as many lifecycle states; the
scan's rate must not fall as its store grows. What a scan does per asset is
``ScanRecorder.on_asset``'s transaction: its observations, its previous states (by asset), the
lifecycle step, its findings, states and change events. This script times exactly that for
``--record`` new assets of 36 failed findings each, on two stores built as
``store_scale.py`` builds them (one completed scan, one state per finding):

- small: 1,000 assets (36,000 findings);
- large: ``--assets`` assets (default 100,000: 3,600,000 findings, about 9 GB).

Each store is measured twice, in the same run:

- ``grouped``: this Sentinel (document ids that start with the scan and asset, states keyed
  by asset then key, store schema 5);
- ``hashed``, the peer: the layout before (a finding's and an event's document id a hash of
  its identity, states keyed by their hashed key alone with an index by asset): a copy of the
  same store with ``finding_state`` rebuilt that way and the id functions replaced.

The figure that matters is large/small per layout: how much recording an asset slows as the
store grows. Peak RSS is not reported (the build dominates it).

    python bench/store_record.py [--assets 100000] [--record 2000]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import store_scale as built  # noqa: E402

import sentinel.store.sqlite as store_module  # noqa: E402
from sentinel.catalog.checks import checks  # noqa: E402
from sentinel.model import Asset, AttemptStatus, Endpoint, Event, Observation  # noqa: E402
from sentinel.scan.lifecycle import apply  # noqa: E402

CHECKS = 36  # a TLS scan's findings per endpoint in scale.py's farm
HASHED_STATES = """
    ALTER TABLE finding_state RENAME TO grouped_state;
    CREATE TABLE finding_state (key TEXT PRIMARY KEY, check_id TEXT NOT NULL,
                        asset_id TEXT NOT NULL, probe TEXT NOT NULL, status TEXT NOT NULL,
                        severity TEXT NOT NULL, first_seen TEXT NOT NULL, last_seen TEXT NOT NULL,
                        reopened INTEGER NOT NULL, agency_id TEXT NOT NULL, state TEXT NOT NULL);
    INSERT INTO finding_state SELECT key, check_id, asset_id, probe, status, severity,
                        first_seen, last_seen, reopened, agency_id, state FROM grouped_state
                        ORDER BY key;
    DROP TABLE grouped_state;
    CREATE INDEX finding_state_agency ON finding_state (agency_id, status);
    CREATE INDEX finding_state_asset ON finding_state (asset_id)
"""


def _hashed(*parts: str) -> str:
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:40]


def _hashed_finding(key: str, scan_id: str, asset_id: str) -> str:
    return _hashed(key, scan_id)


def _hashed_event(event: Event) -> str:
    return _hashed(event.context.scan_id, event.action, event.finding_key or "",
                   event.asset.id if event.asset else "",
                   json.dumps(event.after or {}, sort_keys=True), event.created.isoformat())


def hashed_copy(source: Path, target: Path) -> None:
    """The same store with the layout before: states keyed by their hash alone."""
    shutil.copyfile(source, target)
    con = sqlite3.connect(target, isolation_level=None)
    con.execute("PRAGMA journal_mode=WAL")
    for statement in filter(str.strip, HASHED_STATES.split(";")):
        con.execute(statement)
    con.close()


def record(path: Path, layout: str, tag: str, count: int, check_ids: list[str]) -> float:
    """Milliseconds per asset to record ``count`` new assets as ``on_asset`` does."""
    ids: dict[str, Callable[..., str]] = {
        "finding_document_id": store_module.finding_document_id,
        "event_document_id": store_module.event_document_id,
    }
    if layout == "hashed":
        store_module.finding_document_id = _hashed_finding  # type: ignore[assignment]
        store_module.event_document_id = _hashed_event  # type: ignore[assignment]
    scan = f"record-{tag}"
    try:
        with store_module.SqliteStore(path) as store:
            began = time.perf_counter()
            for n in range(count):
                asset, address = f"{tag}-{n:06d}", built.address_of(n)
                agency = built.agency_of(n, count, 40)
                shared = (built.context(scan, agency), Asset(id=asset, addresses=(address,)),
                          Endpoint(address=address, port=built.PORT))
                current = [built.finding(c, scan, agency, asset, address, shared=shared)
                           for c in check_ids]
                seen = Observation(probe="tls", context=shared[0], asset=shared[1],
                                   endpoint=shared[2], status=AttemptStatus.COMPLETED,
                                   facts={"versions": ["TLSv1.2"]}, started=built.WHEN)
                with store.atomic():
                    store.add_observations([seen])
                    states = store.asset_states(asset)
                    outcome = apply(states, current, {(asset, "tls")}, shared[0],
                                    built.WHEN + timedelta(days=1))
                    store.add_findings(outcome.findings)
                    store.save_states(outcome.states)
                    store.add_events(outcome.events)
            return 1000 * (time.perf_counter() - began) / count
    finally:
        store_module.finding_document_id = ids["finding_document_id"]  # type: ignore[assignment]
        store_module.event_document_id = ids["event_document_id"]  # type: ignore[assignment]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--assets", type=int, default=100_000)
    parser.add_argument("--record", type=int, default=2_000)
    args = parser.parse_args()
    check_ids = sorted(checks())[:CHECKS]
    tmp = Path(tempfile.mkdtemp(prefix="sentinel-store-record-"))
    print(f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}", flush=True)
    try:
        result: dict[str, dict[str, float]] = {}
        for size, assets in (("small", 1_000), ("large", args.assets)):
            grouped, hashed = tmp / f"{size}-grouped.db", tmp / f"{size}-hashed.db"
            began = time.perf_counter()
            built.build(grouped, assets, check_ids, 40)
            hashed_copy(grouped, hashed)
            print("built", json.dumps({"store": size, "findings": assets * CHECKS,
                                       "seconds": round(time.perf_counter() - began, 1),
                                       "load": built.load()}), flush=True)
            result[size] = {}
            for layout, path in (("grouped", grouped), ("hashed", hashed)):
                per_asset = record(path, layout, f"{layout}-{size}", args.record, check_ids)
                result[size][layout] = round(per_asset, 2)
                print("record", json.dumps({"store": size, "layout": layout,
                                            "ms_per_asset": round(per_asset, 2),
                                            "load": built.load()}), flush=True)
            for path in (grouped, hashed):
                path.unlink()
        print("large/small", json.dumps({
            layout: round(result["large"][layout] / result["small"][layout], 2)
            for layout in ("grouped", "hashed")}), flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
