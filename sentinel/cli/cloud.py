"""``sentinel cloud``: government-cloud tenants as their cloud's API declares them.

``import`` reads the raw API bodies an operator dumped into a folder; ``collect`` fetches the
same bodies through the provider's SDK. Either way the inventory becomes a scan like any other
(probe kind ``cloud``, one asset per security group, network, floating IP and instance, owned
by the playbook tenant its project maps to): assessed by ``sentinel/assess/cloud.py``, stored
with lifecycle and change events, so ``sentinel findings`` and the reports show it. Nothing is
sent to any scanned network.
"""

from __future__ import annotations

import asyncio
import hashlib
import ipaddress
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

import typer

from sentinel.cli.output import fail, say
from sentinel.cloud.model import Inventory
from sentinel.cloud.resources import CloudResource, resources, tenants_of, unmapped_projects
from sentinel.errors import InputError, SentinelError, SourceLocation
from sentinel.model import Asset, Context, Endpoint, ScanRecord, Text
from sentinel.playbook import Playbook, Segment, Tenant, load_playbook
from sentinel.probes.base import Network, Target
from sentinel.scan.engine import AssetPlan, Job
from sentinel.scan.run import run_scan
from sentinel.store.sqlite import SqliteStore, default_path

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Cloud tenants from the cloud's API: inventory and security groups.")

Provider = Literal["openstack", "tencent"]
UNMAPPED = "unmapped"  # the agency id of resources whose project no tenant maps


@dataclass(frozen=True)
class DeclaredCloud:
    """The ``cloud`` probe kind: answers with what the cloud's API declared (nothing sent)."""

    facts: dict[str, dict[str, Any]]
    kind: ClassVar[str] = "cloud"
    transport: ClassVar[str] = "none"
    budget_s: ClassVar[float] = 0.0

    async def run(self, target: Target, network: Network) -> dict[str, Any]:
        del network
        return self.facts[target.asset.id]


def _segment(playbook: Playbook, tenant: Tenant | None, resource: CloudResource,
             inventory: Inventory) -> Segment:
    """The playbook's cloud-tenant segment of the tenant, else one made of its subnets."""
    if tenant is not None:
        for segment in playbook.segments:
            if segment.tenant == tenant.id:
                return segment
    cidrs = tuple(str(n) for n in inventory.ranges(resource.project)) or (
        str(ipaddress.ip_network(resource.address)),)
    return Segment(id=f"cloud-{tenant.id}" if tenant else f"cloud-{UNMAPPED}",
                   agency=tenant.agency if tenant else UNMAPPED, cidrs=cidrs,
                   zone="cloud-tenant", tenant=tenant.id if tenant else None)


def _context(playbook: Playbook, segment: Segment, tenant: Tenant | None,
             scan_id: str) -> Context:
    if tenant is None:
        name = Text(zh="未映射的云项目", en="unmapped cloud project")
        return Context(scan_id=scan_id, agency_id=UNMAPPED, agency_name=name.zh,
                       segment_id=segment.id, zone="cloud-tenant", tenant=None)
    agency = playbook.agency(tenant.agency)
    return Context(scan_id=scan_id, agency_id=agency.id, agency_name=agency.name.zh,
                   segment_id=segment.id, zone="cloud-tenant", tenant=tenant.id,
                   mipin_level=segment.levels.mipin)


def _plans(playbook: Playbook, inventory: Inventory, found: list[CloudResource], scan_id: str,
           probe: DeclaredCloud) -> Iterator[AssetPlan]:
    for resource in found:
        segment = _segment(playbook, resource.tenant, resource, inventory)
        target = Target(
            endpoint=Endpoint(address=resource.address, transport="none"),
            asset=Asset(id=resource.asset_id, name=resource.name or None,
                        addresses=resource.addresses),
            context=_context(playbook, segment, resource.tenant, scan_id),
            segment=segment)
        yield AssetPlan(resource.asset_id, (Job(probe, target),))


async def store_inventory(playbook: Playbook, store: SqliteStore, inventory: Inventory, *,
                          playbook_name: str, scan_id: str) -> tuple[ScanRecord, int, list[str]]:
    """Judge and store an inventory as scan ``scan_id``; the record, how many resources,
    and the projects no tenant maps."""
    mapping = tenants_of(playbook, inventory.provider)
    found = resources(inventory, mapping)
    probe = DeclaredCloud({r.asset_id: r.facts for r in found})
    # Scan windows govern sending; reading what a cloud declared sends nothing.
    unwindowed = playbook.model_copy(update={"windows": ()})
    record = await run_scan(unwindowed, store,
                            playbook_name=f"{playbook_name} + {inventory.source}",
                            scan_id=scan_id,
                            plans=_plans(playbook, inventory, found, scan_id, probe))
    return record, len(found), unmapped_projects(inventory, mapping)


def _digest(playbook: Playbook, inventory: Inventory) -> str:
    """The same declared inventory, mapped the same way, imported twice is one scan."""
    mapping = tenants_of(playbook, inventory.provider)
    material = json.dumps([[r.facts for r in resources(inventory, mapping)],
                           [t.model_dump() for t in playbook.tenants]], sort_keys=True)
    return hashlib.sha256(material.encode()).hexdigest()[:12]


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
        _stored(book, inventory, playbook, store, f"cloud-{provider}-{_digest(book, inventory)}",
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
