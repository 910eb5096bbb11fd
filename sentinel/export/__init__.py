"""Exports for other tools (issue 18 item 7): the findings of a scan as JSON lines, CSV, XLSX
or SARIF 2.1.0, and the cryptography it observed as a CycloneDX 1.6 CBOM.

Each export reads the store (and the catalog), never judges: what is written is what the
scan stored, with risk acceptances (:mod:`sentinel.accept`) marked. Files are written
atomically (``<name>.part``, then a rename): an error leaves no half-written output.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from sentinel.accept import NO_ACCEPTANCES, Acceptances
from sentinel.errors import UsageError
from sentinel.report.html import find_scan, write_atomic
from sentinel.store.sqlite import SqliteStore

ExportFormat = Literal["jsonl", "csv", "xlsx", "sarif", "cbom"]
EXPORT_FORMATS: tuple[ExportFormat, ...] = ("jsonl", "csv", "xlsx", "sarif", "cbom")


def export_document(store: SqliteStore, fmt: str, *, agency: str | None = None,
                    scan_id: str | None = None,
                    acceptances: Acceptances = NO_ACCEPTANCES) -> bytes:
    """One export as bytes: the failed and errored findings (or, for ``cbom``, the
    observations) of one scan, optionally of one agency."""
    if fmt not in EXPORT_FORMATS:
        raise UsageError(f"--format {fmt!r}: expected one of {', '.join(EXPORT_FORMATS)}")
    scan = find_scan(store, scan_id)
    if agency is not None:
        known = store.agencies(scan.id)
        if agency not in known:
            shown = ", ".join(known[:20]) + (" ..." if len(known) > 20 else "")
            raise UsageError(f"--agency {agency!r}: not an agency of scan {scan.id} "
                             f"(known: {shown or 'none'})")
    if fmt == "cbom":
        from sentinel.export.cbom import cbom_json

        observations = store.assets(scan.id)
        if agency is not None:
            observations = [o for o in observations if _agency_of(o) == agency]
        return cbom_json(observations, scan).encode("utf-8")
    docs = acceptances.mark(store.findings(scan_id=scan.id, agency_id=agency))
    if fmt == "sarif":
        from sentinel.export.sarif import sarif_json

        return sarif_json(docs, scan).encode("utf-8")
    from sentinel.export import tables

    if fmt == "jsonl":
        return tables.jsonl(docs).encode("utf-8")
    if fmt == "csv":
        return tables.csv_text(docs).encode("utf-8")
    return tables.xlsx(docs)


def export(store: SqliteStore, fmt: str, out: Path, *, agency: str | None = None,
           scan_id: str | None = None, acceptances: Acceptances = NO_ACCEPTANCES) -> Path:
    """Write one export to ``out`` atomically; returns the path."""
    data = export_document(store, fmt, agency=agency, scan_id=scan_id, acceptances=acceptances)
    return write_atomic(out, data)


def _agency_of(doc: dict[str, Any]) -> str | None:
    org = doc.get("organization")
    return org.get("id") if isinstance(org, dict) else None
