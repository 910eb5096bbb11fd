"""The README's first command: bring the lab up, scan it, store findings, render reports.

``python -m sentinel.cli.demo --out out`` (what ``make demo`` runs, as root): builds the lab from
its manifest (idempotent), scans it with the shipped ``playbooks/lab.yml`` into the embedded
SQLite store ``out/sentinel.db``, prints a summary of the findings and writes one HTML report
per agency plus the coordinator's index to ``out/reports``. The lab stays up afterwards for
exploring; ``sentinel lab down`` removes it.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections import Counter
from pathlib import Path

from sentinel.catalog.resources import data_file
from sentinel.cli.output import exit_status
from sentinel.errors import SentinelError
from sentinel.playbook import load_playbook
from sentinel.report.html import render_all
from sentinel.scan.run import run_scan
from sentinel.store.sqlite import SqliteStore


def run(out: Path) -> int:
    from sentinel.lab import lab_up

    print("lab: bringing the simulated extranet up ...", file=sys.stderr)
    status = lab_up()
    alive = sum(p.alive for p in status.processes)
    print(f"lab: {'up' if status.up else 'NOT fully up'}: {status.hosts} hosts, "
          f"{status.services} services, {alive}/{len(status.processes)} processes alive",
          file=sys.stderr)
    playbook = load_playbook(data_file("playbooks", "lab.yml"))
    out.mkdir(parents=True, exist_ok=True)
    with SqliteStore(out / "sentinel.db") as store:
        record = asyncio.run(run_scan(playbook, store, playbook_name="playbooks/lab.yml"))
        docs = store.findings(scan_id=record.id)
        by_severity = Counter(d["sentinel"]["severity"] for d in docs
                              if d["result"]["evaluation"] == "failed")
        print(f"scan {record.id}: {sum(record.attempts.values())} probe attempts, "
              f"{record.findings} failed checks "
              f"({', '.join(f'{k} {v}' for k, v in sorted(by_severity.items()))})")
        for check_id, count in Counter(d["rule"]["id"] for d in docs).most_common():
            print(f"  {check_id:<24} {count}")
        for path in render_all(store, out / "reports", playbook=playbook, scan_id=record.id):
            print(f"report: {path}")
    print(f"store: {out / 'sentinel.db'}  (sentinel findings --store {out / 'sentinel.db'})")
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=Path("out"))
    args = parser.parse_args()
    try:
        sys.exit(run(args.out))
    except SentinelError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(exit_status(exc))


if __name__ == "__main__":
    main()
