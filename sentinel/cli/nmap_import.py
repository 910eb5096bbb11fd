"""``sentinel import``: bring results a team already has into the store, sending nothing."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer

from sentinel.cli.output import fail, say
from sentinel.errors import SentinelError
from sentinel.playbook import load_playbook
from sentinel.scan.nmap_import import NmapFile, import_nmap
from sentinel.store.sqlite import SqliteStore, default_path

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Import existing scan results (nothing is sent).")


@app.command("nmap")
def nmap(
    xml: Annotated[Path, typer.Argument(help="An nmap XML file (-oX).")],
    playbook: Annotated[Path, typer.Option("--playbook", "-p", help="Who owns what was scanned.")],
    store: Annotated[Path | None, typer.Option("--store", help="SQLite store.")] = None,
) -> None:
    """Store an nmap XML file as a scan of the playbook's segments: findings and lifecycle."""
    try:
        book = load_playbook(playbook)
        source = NmapFile.load(xml)
        with SqliteStore(store or default_path()) as db:
            summary = asyncio.run(import_nmap(book, db, source, playbook_name=str(playbook)))
    except SentinelError as exc:
        fail(exc)
    record = summary.record
    say(f"imported {summary.imported} addresses from {xml} as scan {record.id}: "
              f"{record.findings} failed checks")
    if summary.outside:
        say(f"left out {len(summary.outside)} addresses outside the playbook's segments: "
                  f"{', '.join(summary.outside[:10])}{' ...' if len(summary.outside) > 10 else ''}")
    print(record.id)
