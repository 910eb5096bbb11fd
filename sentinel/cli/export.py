"""``sentinel export``: a scan's findings for other tools (JSON lines, CSV, XLSX, SARIF) or
its observed cryptography as a CycloneDX CBOM (docs/export.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from sentinel.cli.output import fail
from sentinel.errors import SentinelError


def export_command(
    fmt: Annotated[str, typer.Option("--format", help="jsonl, csv, xlsx, sarif or cbom.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="The file to write.")],
    agency: Annotated[str | None, typer.Option("--agency", help="Only this agency.")] = None,
    scan_id: Annotated[
        str | None, typer.Option("--scan", help="Scan id (default: latest).")] = None,
    accept: Annotated[Path | None, typer.Option(
        "--accept", help="Risk-acceptance file: accepted findings are marked (docs/accept.md)."
    )] = None,
    store: Annotated[Path | None, typer.Option(
        "--store", help="SQLite store (default: $SENTINEL_STORE or "
        "~/.local/share/sentinel/sentinel.db)")] = None,
) -> None:
    """Export a scan's findings (jsonl, csv, xlsx, sarif) or its cryptography (cbom)."""
    from sentinel.accept import NO_ACCEPTANCES, load_acceptances
    from sentinel.export import export
    from sentinel.store.sqlite import SqliteStore, default_path

    try:
        acceptances = load_acceptances(accept) if accept else NO_ACCEPTANCES
        with SqliteStore(store or default_path(), create=False) as db:
            written = export(db, fmt, out, agency=agency, scan_id=scan_id,
                             acceptances=acceptances)
    except SentinelError as exc:
        fail(exc)
    print(written)
