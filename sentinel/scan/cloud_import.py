"""A cloud's declared inventory stored as a scan: judged and kept like any other scan.

As ``nmap_import`` does for an nmap file: a ``cloud`` probe answers each asset's plan with what
the cloud's API declared (nothing is sent), one asset per security group, network, floating
IP and instance, owned by the playbook tenant its project maps to (or by agency
``unmapped``), then the scan's own assessment, lifecycle and change events
(:func:`sentinel.scan.run.run_scan`). ``sentinel cloud import`` and ``collect`` call
:func:`store_inventory`.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, ClassVar

from sentinel.cloud.model import Inventory
from sentinel.cloud.resources import CloudResource, resources, tenants_of, unmapped_projects
from sentinel.model import Asset, Context, Endpoint, ScanRecord, Text
from sentinel.playbook import Playbook, Segment, Tenant
from sentinel.probes.base import Network, Target
from sentinel.scan.engine import AssetPlan, Job
from sentinel.scan.run import run_scan
from sentinel.store.sqlite import SqliteStore

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


def digest(playbook: Playbook, inventory: Inventory) -> str:
    """The same declared inventory, mapped the same way, imported twice is one scan."""
    mapping = tenants_of(playbook, inventory.provider)
    material = json.dumps([[r.facts for r in resources(inventory, mapping)],
                           [t.model_dump() for t in playbook.tenants]], sort_keys=True)
    return hashlib.sha256(material.encode()).hexdigest()[:12]
