"""``sentinel discover``: an agent's local-link discovery inside one segment, stored.

Run it from a host inside the segment (in the lab: ``ip netns exec sl-<host> sentinel
discover --playbook playbooks/lab.yml --segment data``). It sends ARP who-has for the
segment's IPv4 CIDRs, an ICMPv6 echo to ff02::1 (only when the segment's IPv6 prefix is in
scope) and a router solicitation, and stores what it found: the hosts, and the router
advertisements heard, which the V6-RA check judges per segment. Prints the scan id.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Annotated

import typer

from sentinel.cli.output import fail, finite, say
from sentinel.errors import SentinelError, UsageError
from sentinel.playbook import load_playbook
from sentinel.store.sqlite import SqliteStore, default_path

app = typer.Typer(add_completion=False,
                  help="Local-link discovery inside one segment (ARP, ff02::1, RA), stored.")


@app.callback(invoke_without_command=True)
def discover(
    *,
    playbook: Annotated[Path, typer.Option("--playbook", "-p", help="The scan playbook.")],
    segment: Annotated[str, typer.Option("--segment", "-s", help="The segment we sit in.")],
    iface: Annotated[str, typer.Option("--iface", "-i", help="Our interface on it.")] = "eth0",
    timeout: Annotated[float, typer.Option("--timeout", min=0.1, max=60, callback=finite,
                                            help="Seconds to wait for replies.")
                       ] = 2.0,
    store: Annotated[Path | None, typer.Option("--store", help="SQLite store.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the raw result as JSON.")
                       ] = False,
) -> None:
    """Discover the segment's hosts and routers from inside it and store the observations."""
    from sentinel.scan.local_discovery import discover_and_store

    try:
        book = load_playbook(playbook)
        found = next((s for s in book.segments if s.id == segment), None)
        if found is None:
            known = ", ".join(s.id for s in book.segments)
            raise UsageError(f"--segment: no segment {segment!r} in {playbook} (known: {known})")
        with SqliteStore(store or default_path()) as db:
            record, result = asyncio.run(discover_and_store(
                book, found, db, iface=iface, timeout=timeout, playbook_name=str(playbook)))
    except SentinelError as exc:
        fail(exc)
    prefixes = sorted({p["prefix"] for a in result["router_advertisements"]
                       for p in a.get("prefixes", [])})
    say(f"segment {segment}: {len(result['hosts'])} addresses, "
              f"{len(result['router_advertisements'])} router advertisements "
              f"({', '.join(prefixes) or 'no prefix'}), {result['packets']} packets; "
              f"scan {record.id}")
    print(json.dumps({**result, "scan_id": record.id}, ensure_ascii=False) if as_json
          else record.id)
