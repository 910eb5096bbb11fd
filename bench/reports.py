"""Report rendering benchmark (issue 9): 100 agencies from a synthetic store.

Goal: every agency's HTML (plus the coordinator index) within 10 s in total, and each
agency PDF within 2 s. ``python bench/reports.py [--agencies 100] [--pdfs 100]``; the store
is built in a temporary folder by ``tests.samples`` (3 scans, 3 assets per agency,
hostile banners and certificate subjects included) and is not part of the timing.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from sentinel.report.html import agency_document, find_scan, render_all
from sentinel.report.pdf import html_to_pdf
from sentinel.report.view import agency_view
from sentinel.store.sqlite import SqliteStore
from tests import samples as sample


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--agencies", type=int, default=100)
    parser.add_argument("--pdfs", type=int, default=100, help="how many agency PDFs to time")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, SqliteStore(Path(tmp) / "s.db") as store:
        started = time.perf_counter()
        sample.build(store, agencies=args.agencies)
        print(f"synthetic store: {args.agencies} agencies, 3 scans in "
              f"{time.perf_counter() - started:.1f} s (not timed below)")
        started = time.perf_counter()
        written = render_all(store, Path(tmp) / "html", fmt="html")
        html_s = time.perf_counter() - started
        print(f"HTML --all: {len(written)} files in {html_s:.2f} s "
              f"({'within' if html_s <= 10 else 'OVER'} the 10 s goal)")
        scan = find_scan(store, None)
        timings = []
        for number in range(min(args.pdfs, args.agencies)):
            view = agency_view(store, f"agency-{number:03d}", scan)
            html = agency_document(view, "html", "zh")
            assert isinstance(html, str)
            started = time.perf_counter()
            pdf = html_to_pdf(html)
            timings.append(time.perf_counter() - started)
            assert pdf.startswith(b"%PDF")
        over = sum(t > 2.0 for t in timings)
        print(f"PDF per agency (n={len(timings)}): median {statistics.median(timings):.2f} s, "
              f"p95 {sorted(timings)[int(0.95 * (len(timings) - 1))]:.2f} s, "
              f"max {max(timings):.2f} s; {over} over the 2 s goal")


if __name__ == "__main__":
    main()
