"""``sentinel cloud``: government-cloud tenants as their cloud's API declares them.

``import`` reads the raw API bodies an operator dumped into a folder; ``collect`` fetches the
same bodies through the provider's SDK (``sentinel/cloud/``). Either way the inventory becomes a
scan like any other (:mod:`sentinel.scan.cloud_import`): assessed by
``sentinel/assess/cloud.py``, stored with lifecycle and change events, so ``sentinel findings``
and the reports show it. ``import`` and ``collect`` send nothing to any scanned network;
``drift`` and ``isolation`` probe the declared instances' addresses (TCP connects through the
scope gate, as ``sentinel scan`` does) and hold what answers against the security groups.
This module only handles the arguments and says what was stored.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path
from typing import Annotated, Any, Literal

import typer

from sentinel.cli.output import fail, say
from sentinel.cloud.model import Inventory
from sentinel.errors import InputError, SentinelError, SourceLocation
from sentinel.model import ScanRecord
from sentinel.playbook import Playbook, load_playbook
from sentinel.scan.cloud_import import UNMAPPED, digest, store_inventory, store_reach
from sentinel.store.sqlite import SqliteStore, default_path

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Cloud tenants from the cloud's API: inventory and security groups.")

Provider = Literal["openstack", "tencent"]


def _told(record: ScanRecord, count: int, unmapped: list[str], source: str) -> None:
    say(f"stored {count} cloud resources from {source} as scan {record.id}: "
        f"{record.findings} failed checks")
    if unmapped:
        say(f"resources of {len(unmapped)} projects that no playbook tenant maps (stored under "
            f"agency {UNMAPPED!r}): {', '.join(unmapped[:10])}"
            f"{' ...' if len(unmapped) > 10 else ''}")
    print(record.id)


def _dump(folder: Path, bodies: dict[str, Any]) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for name, body in bodies.items():  # names are the providers' own (ids checked)
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            (folder / name).write_text(json.dumps(body, indent=1, ensure_ascii=False),
                                       encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot write: {exc.strerror or exc}", SourceLocation(str(folder))
                         ) from None


ProviderOption = Annotated[Provider, typer.Option("--provider", help="The cloud's kind.")]
PlaybookOption = Annotated[Path, typer.Option("--playbook", "-p",
                                              help="The playbook with the tenants mapping.")]
StoreOption = Annotated[Path | None, typer.Option("--store", help="SQLite store.")]


@app.command("import")
def import_(
    folder: Annotated[Path, typer.Argument(help="A folder of raw API response bodies "
                                                "(security-groups.json, ports.json, ...).")],
    playbook: PlaybookOption,
    provider: ProviderOption = "openstack",
    store: StoreOption = None,
) -> None:
    """Store a folder of the cloud's API bodies as a scan: CLOUD- findings, lifecycle."""
    from sentinel.cloud import openstack, tencent

    load_dir = tencent.load_dir if provider == "tencent" else openstack.load_dir
    try:
        book = load_playbook(playbook)
        inventory = load_dir(folder)  # parsed before the store opens: bad input writes nothing
        _stored(book, inventory, playbook, store, f"cloud-{provider}-{digest(book, inventory)}",
                str(folder))
    except SentinelError as exc:
        fail(exc)


@app.command("collect")
def collect(
    playbook: PlaybookOption,
    cloud: Annotated[str | None, typer.Option(
        "--cloud", help="openstack: a cloud named in clouds.yaml.")] = None,
    provider: ProviderOption = "openstack",
    region: Annotated[str | None, typer.Option(
        "--region", help="tencent: the region (ap-guangzhou...).")] = None,
    endpoint: Annotated[str | None, typer.Option(
        "--endpoint", help="tencent: the API endpoint, http(s)://host[:port] ({service} is "
                           "replaced by vpc or cvm); default https://{service}.tencentcloudapi.com"
    )] = None,
    all_projects: Annotated[bool, typer.Option(
        "--all-projects", help="Ask Nova for every project's servers (admin credentials).")
    ] = False,
    dump: Annotated[Path | None, typer.Option(
        "--dump", help="Also write the raw bodies into this folder (for cloud import).")
    ] = None,
    store: StoreOption = None,
) -> None:
    """Read the tenants through the cloud's SDK and store them as a scan, like import.
    Tencent Cloud credentials come from TENCENTCLOUD_SECRET_ID and TENCENTCLOUD_SECRET_KEY."""
    try:
        book = load_playbook(playbook)
        if provider == "tencent":
            from sentinel.cloud.tencent_api import collect as tencent_fetch

            if region is None:
                raise InputError("--provider tencent needs --region", SourceLocation("--region"))
            inventory, bodies = tencent_fetch(region, endpoint=endpoint)
        else:
            from sentinel.cloud.openstack_api import collect as fetch

            if cloud is None:
                raise InputError("--provider openstack needs --cloud", SourceLocation("--cloud"))
            inventory, bodies = fetch(cloud, all_projects=all_projects)
        if dump is not None:
            _dump(dump, bodies)
        _stored(book, inventory, playbook, store, f"cloud-{provider}-{uuid.uuid4().hex[:12]}",
                inventory.source)
    except SentinelError as exc:
        fail(exc)


def _stored(book: Playbook, inventory: Inventory, playbook: Path, store: Path | None,
            scan_id: str, source: str) -> None:
    """Store the inventory as one scan and say what was stored."""
    with SqliteStore(store or default_path()) as db:
        record, count, unmapped = asyncio.run(store_inventory(
            book, db, inventory, playbook_name=str(playbook), scan_id=scan_id))
    _told(record, count, unmapped, source)


def _sources(given: list[str]) -> list[str]:
    import ipaddress

    out: dict[int, str] = {}
    for value in given:
        try:
            address = ipaddress.ip_address(value)
        except ValueError:
            raise InputError(f"not an IP address: {value!r}", SourceLocation("--source")
                             ) from None
        if address.version in out:
            raise InputError(f"one --source per family (IPv{address.version} twice)",
                             SourceLocation("--source"))
        out[address.version] = str(address)
    if not out:
        raise InputError("give this vantage's own address with --source (one per family)",
                         SourceLocation("--source"))
    return [out[v] for v in sorted(out)]


def _reach(folder: Path, playbook: Path, provider: Provider, sources: list[str],
           from_tenant: str | None, store: Path | None) -> None:
    from sentinel.cloud import openstack, tencent

    load_dir = tencent.load_dir if provider == "tencent" else openstack.load_dir
    try:
        book = load_playbook(playbook)
        own = _sources(sources)
        if from_tenant is not None and all(t.id != from_tenant for t in book.tenants):
            raise InputError(f"no playbook tenant {from_tenant!r}",
                             SourceLocation("--from-tenant"))
        inventory = load_dir(folder)
        kind = f"isolation-{from_tenant}" if from_tenant else "drift"
        with SqliteStore(store or default_path()) as db:
            record = asyncio.run(store_reach(
                book, db, inventory, playbook_name=str(playbook),
                scan_id=f"cloud-{kind}-{uuid.uuid4().hex[:12]}", sources=own,
                from_tenant=from_tenant))
    except SentinelError as exc:
        fail(exc)
    say(f"probed the declared instances from {', '.join(own)}"
        f"{f' (tenant {from_tenant})' if from_tenant else ''} as scan {record.id}: "
        f"{record.findings} failed checks")
    print(record.id)


InventoryArgument = Annotated[Path, typer.Argument(
    help="A folder of the cloud's API bodies (as for cloud import).")]
SourceOption = Annotated[list[str], typer.Option(
    "--source", help="This vantage's own address, one per family (the rules are judged for "
                     "it); repeat for IPv4 and IPv6.")]


@app.command("drift")
def drift(
    folder: InventoryArgument,
    playbook: PlaybookOption,
    source: SourceOption,
    provider: ProviderOption = "openstack",
    store: StoreOption = None,
) -> None:
    """Probe every declared instance from here: an open port that no security group allows
    from --source is CLOUD-DRIFT, an allowed port that refuses is CLOUD-ALLOWED-UNUSED."""
    _reach(folder, playbook, provider, source, None, store)


@app.command("isolation")
def isolation(
    folder: InventoryArgument,
    playbook: PlaybookOption,
    from_tenant: Annotated[str, typer.Option(
        "--from-tenant", help="The playbook tenant whose network this runs inside "
                              "(ip netns exec of one of its hosts).")],
    source: SourceOption,
    provider: ProviderOption = "openstack",
    store: StoreOption = None,
) -> None:
    """Run inside tenant A's network: probe the other tenants' instances; an open port that
    their groups do not allow from A's --source is CLOUD-ISOLATION."""
    _reach(folder, playbook, provider, source, from_tenant, store)
