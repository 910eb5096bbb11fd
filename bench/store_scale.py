"""The SQLite store at scale (issue 20 item 4): 1,000,000 findings, then the questions people ask.

Builds a store in a temporary folder (or ``--db``): one completed scan of ``--assets`` assets
(default 20,000) with ``--checks`` failed findings each (default 50 real check ids, port 443:
1,000,000 findings), their lifecycle states (open) and one observation per asset. The assets
belong to ``--agencies`` agencies; the first, ``a00``, holds a tenth of them (the largest
agency: 100,000 findings), the rest share the remainder. Documents are the ones the scan
writes (``finding_to_ecs`` of a real Finding, one per check), with the asset, address,
agency and key put in per row, so building takes about a minute, not the hours a million
pydantic round trips would. Then, each timed (wall time, peak RSS of the process):

1. ``sentinel findings --agency a00`` (the CLI, a process of its own, output to a file), then
   the same with ``--json`` (both stream from the store's cursor: memory flat);
2. ``sentinel report --agency a00 --format html`` (the largest agency's report: findings
   grouped as they are read, only the few fields the scores read kept);
3. every remembered state read at once, as a scan's start did before (a process of its own);
4. a rescan's lifecycle step over every asset: read the asset's previous states, judge them
   against the new scan's findings (9 of 10 still failing, 1 of 10 fixed), save the new
   states: ``apply`` exactly as ``ScanRecorder.on_asset`` calls it, in this process.

    python bench/store_scale.py [--assets 20000] [--checks 50] [--agencies 40] [--db FILE]
                                [--no-rescan]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sentinel.catalog.checks import checks  # noqa: E402
from sentinel.model import (  # noqa: E402
    Asset,
    AttemptStatus,
    Context,
    Endpoint,
    Evaluation,
    Finding,
    FindingStatus,
    Observation,
    ScanRecord,
    finding_key,
    finding_to_ecs,
    observation_to_ecs,
)
from sentinel.scan.lifecycle import apply  # noqa: E402
from sentinel.store.sqlite import SqliteStore, finding_document_id  # noqa: E402

WHEN = datetime(2026, 12, 1, tzinfo=UTC)
SCAN = "scale-scan-1"
RESCAN = "scale-scan-2"
PORT = 443


def agency_of(n: int, assets: int, agencies: int) -> str:
    """``a00`` holds a tenth of the assets; the others share the rest in turn."""
    if n < assets // 10:
        return "a00"
    return f"a{1 + n % (agencies - 1):02d}"


def address_of(n: int) -> str:
    """The n-th address of the benchmarking range 198.18.0.0/15 (the lab's; never sent to)."""
    if not 0 <= n < 1 << 17:
        raise SystemExit("at most 131,072 assets: one address each in 198.18.0.0/15")
    return f"198.{18 + n // 65536}.{n // 256 % 256}.{n % 256}"


def context(scan: str, agency: str) -> Context:
    return Context(scan_id=scan, agency_id=agency, agency_name=f"机构{agency}",
                   segment_id=f"seg-{agency}", zone="extranet")


def finding(check_id: str, scan: str, agency: str, asset: str, address: str,
            evaluation: Evaluation = Evaluation.FAILED, *,
            shared: tuple[Context, Asset, Endpoint] | None = None) -> Finding:
    """A finding as an assessor makes it (``shared``: the asset's context, asset and endpoint
    objects, which an asset's findings share in a scan)."""
    spec = checks()[check_id]
    ctx, item, where = shared or (context(scan, agency), Asset(id=asset, addresses=(address,)),
                                  Endpoint(address=address, port=PORT))
    return Finding(check_id=check_id, title=spec.title, evaluation=evaluation,
                   severity=spec.severity, context=ctx, asset=item, endpoint=where,
                   protocol="tcp", probe="tls", evidence={"note": "synthetic"},
                   observed_at=WHEN)


def build(path: Path, assets: int, check_ids: list[str], agencies: int) -> None:
    """The store: schema by SqliteStore, rows in bulk with the documents the scan writes."""
    mark_asset, mark_address, mark_agency = "ASSET_X", "2001:db8:ffff::5e", "a99"
    templates = []
    for check_id in check_ids:
        f = finding(check_id, SCAN, mark_agency, mark_asset, mark_address)
        doc = json.dumps(finding_to_ecs(f.model_copy(update={"status": FindingStatus.OPEN})),
                         ensure_ascii=False, separators=(",", ":"))
        state = json.dumps({"context": f.context.model_dump(mode="json"),
                            "asset": f.asset.model_dump(mode="json"),
                            "endpoint": f.endpoint.model_dump(mode="json")
                            if f.endpoint else None})
        templates.append((f, doc.replace(f.key, "KEY_X"), state))
    with SqliteStore(path) as store:
        store.save_scan(ScanRecord(id=SCAN, playbook="scale.yml", started=WHEN,
                                   finished=WHEN + timedelta(hours=1), status="completed"))
    con = sqlite3.connect(path)
    con.execute("PRAGMA synchronous = OFF")
    seen = WHEN.isoformat()

    def put(text: str, asset: str, address: str, agency: str, key: str = "") -> str:
        return (text.replace(mark_asset, asset).replace(mark_address, address)
                .replace(f"机构{mark_agency}", f"机构{agency}").replace(mark_agency, agency)
                .replace("KEY_X", key))

    obs = Observation(probe="tls", context=context(SCAN, mark_agency),
                      asset=Asset(id=mark_asset, addresses=(mark_address,)),
                      endpoint=Endpoint(address=mark_address, port=PORT),
                      status=AttemptStatus.COMPLETED, facts={"versions": ["TLSv1.2"]},
                      started=WHEN)
    obs_doc = json.dumps(observation_to_ecs(obs), ensure_ascii=False, separators=(",", ":"))
    for start in range(0, assets, 1000):
        findings, states, observations = [], [], []
        for n in range(start, min(assets, start + 1000)):
            asset, address, agency = f"host-{n:06d}", address_of(n), agency_of(n, assets,
                                                                               agencies)
            observations.append((SCAN, "tls", asset, address, PORT, "completed", None, agency,
                                 f"seg-{agency}", seen, put(obs_doc, asset, address, agency)))
            for f, doc, state in templates:
                key = finding_key(f.check_id, asset, PORT, "tcp")
                findings.append((finding_document_id(key, SCAN, asset), key, SCAN, f.check_id,
                                 agency, f"seg-{agency}", asset, f.severity.value, f.severity.rank,
                                 "failed", seen, put(doc, asset, address, agency, key)))
                states.append((key, f.check_id, asset, "tls", "open", f.severity.value, seen,
                               seen, 0, agency, put(state, asset, address, agency)))
        con.executemany("INSERT INTO observations (scan_id, probe, asset_id, address, port,"
                        " status, reason, agency_id, segment_id, started, doc)"
                        " VALUES (?,?,?,?,?,?,?,?,?,?,?)", observations)
        con.executemany("INSERT INTO findings (doc_id, key, scan_id, check_id, agency_id,"
                        " segment_id, asset_id, severity, severity_rank, evaluation,"
                        " observed_at, doc) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", findings)
        con.executemany("INSERT INTO finding_state (key, check_id, asset_id, probe, status,"
                        " severity, first_seen, last_seen, reopened, agency_id, state)"
                        " VALUES (?,?,?,?,?,?,?,?,?,?,?)", states)
        con.commit()
    con.execute("ANALYZE")
    con.close()


def load() -> float:
    """The 1-minute load average, printed beside every figure (2 cores are shared)."""
    return round(os.getloadavg()[0], 2)


def timed(argv: list[str], out: Path) -> tuple[float, float, int]:
    """Wall seconds, peak RSS (MiB) and exit status of one command."""
    with out.open("wb") as sink:
        began = time.perf_counter()
        done = subprocess.run(["/usr/bin/time", "-v", *argv], stdout=sink,
                              stderr=subprocess.PIPE, check=False, cwd=ROOT)
        wall = time.perf_counter() - began
    match = re.search(rb"Maximum resident set size \(kbytes\): (\d+)", done.stderr)
    return wall, int(match.group(1)) / 1024 if match else 0.0, done.returncode


def rescan_lifecycle(path: Path, assets: int, check_ids: list[str], agencies: int
                     ) -> dict[str, object]:
    """Every asset's lifecycle step of a rescan, as ``ScanRecorder.on_asset`` does it."""
    resolved = opened = kept = 0
    read_s = judge_s = save_s = 0.0
    with SqliteStore(path) as store:
        began = time.perf_counter()
        for n in range(assets):
            asset, address, agency = f"host-{n:06d}", address_of(n), agency_of(n, assets,
                                                                               agencies)
            # 9 of 10 checks still fail; the 10th is fixed (a passed result).
            shared = (context(RESCAN, agency), Asset(id=asset, addresses=(address,)),
                      Endpoint(address=address, port=PORT))
            current = [finding(c, RESCAN, agency, asset, address,
                               Evaluation.PASSED if i % 10 == n % 10 else Evaluation.FAILED,
                               shared=shared)
                       for i, c in enumerate(check_ids)]
            tick = time.perf_counter()
            previous = store.asset_states(asset)
            tock = time.perf_counter()
            outcome = apply(previous, current, {(asset, "tls")}, context(RESCAN, agency),
                            WHEN + timedelta(days=7))
            tuck = time.perf_counter()
            store.save_states(outcome.states)
            read_s += tock - tick
            judge_s += tuck - tock
            save_s += time.perf_counter() - tuck
            for event in outcome.events:
                resolved += event.action == "finding-resolved"
                opened += event.action == "finding-opened"
            kept += len(previous)
        total = time.perf_counter() - began
    return {"assets": assets, "states_read": kept, "resolved": resolved, "opened": opened,
            "total_s": round(total, 1), "read_s": round(read_s, 1),
            "judge_s": round(judge_s, 1), "save_s": round(save_s, 1),
            "per_asset_ms": round(1000 * total / assets, 2),
            "rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            "load": load()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--assets", type=int, default=20_000)
    parser.add_argument("--checks", type=int, default=50)
    parser.add_argument("--agencies", type=int, default=40)
    parser.add_argument("--db", type=Path, help="keep the store here (default: a temp folder)")
    parser.add_argument("--no-rescan", action="store_true",
                        help="skip the rescan's lifecycle step (minutes; it changes the store)")
    args = parser.parse_args()
    ids = sorted(checks())[: args.checks]
    tmp = Path(tempfile.mkdtemp(prefix="sentinel-store-scale-"))
    path = args.db or tmp / "sentinel.db"
    print(f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}", flush=True)
    try:
        if not path.exists():
            began = time.perf_counter()
            build(path, args.assets, ids, args.agencies)
            print("build", json.dumps({
                "findings": args.assets * len(ids), "assets": args.assets,
                "seconds": round(time.perf_counter() - began, 1),
                "mib": round(path.stat().st_size / 2**20)}), flush=True)
        cli = [sys.executable, "-m", "sentinel.cli"]
        wall, rss, status = timed([*cli, "findings", "--agency", "a00", "--store", str(path)],
                                  tmp / "findings.txt")
        lines = sum(1 for _ in (tmp / "findings.txt").open(encoding="utf-8"))
        print("findings --agency a00", json.dumps({
            "wall_s": round(wall, 2), "rss_mib": round(rss, 1), "exit": status, "load": load(),
            "lines": lines}), flush=True)
        wall, rss, status = timed([*cli, "findings", "--agency", "a00", "--json", "--store",
                                   str(path)], tmp / "findings.json")
        print("findings --agency a00 --json", json.dumps({
            "wall_s": round(wall, 2), "rss_mib": round(rss, 1), "exit": status, "load": load(),
            "mib": round((tmp / "findings.json").stat().st_size / 2**20, 1)}), flush=True)
        wall, rss, status = timed([*cli, "report", "--agency", "a00", "--format", "html",
                                   "--out", str(tmp / "reports"), "--store", str(path)],
                                  tmp / "report.txt")
        size = sum(p.stat().st_size for p in (tmp / "reports").glob("*")) if status == 0 else 0
        print("report --agency a00", json.dumps({
            "wall_s": round(wall, 2), "rss_mib": round(rss, 1), "exit": status, "load": load(),
            "html_mib": round(size / 2**20, 1)}), flush=True)
        # What a scan's start did before issue 20: every remembered state read at once.
        wall, rss, status = timed([sys.executable, "-c", "import sys; from sentinel.store."
                                   "sqlite import SqliteStore; print(len(SqliteStore("
                                   "sys.argv[1], create=False).states()))", str(path)],
                                  tmp / "states.txt")
        print("all states at once (the old scan start)", json.dumps({
            "wall_s": round(wall, 2), "rss_mib": round(rss, 1), "exit": status,
            "load": load()}), flush=True)
        if not args.no_rescan:
            print("rescan lifecycle", json.dumps(rescan_lifecycle(path, args.assets, ids,
                                                                  args.agencies)), flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
