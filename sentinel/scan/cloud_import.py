"""A cloud's declared inventory stored as a scan: judged and kept like any other scan.

As ``nmap_import`` does for an nmap file: a ``cloud`` probe answers each asset's plan with what
the cloud's API declared (nothing is sent), one asset per security group, network, floating
IP and instance, owned by the playbook tenant its project maps to (or by agency
``unmapped``), then the scan's own assessment, lifecycle and change events
(:func:`sentinel.scan.run.run_scan`). ``sentinel cloud import`` and ``collect`` call
:func:`store_inventory`.

Declared against observed (issue 16 item 3): :func:`store_reach` makes the instances'
addresses scan targets of their tenant. Each instance is one asset (``<provider>:reach:<id>``,
``...@<tenant>`` when probed from inside another tenant) with a ``cloud`` observation of kind
``reach`` (the ingress rules of each address, remote groups resolved to their members'
addresses, and the vantage's own addresses) beside real TCP connects to its addresses; the
assessor holds the two against each other (CLOUD-DRIFT, CLOUD-ISOLATION, CLOUD-ALLOWED-UNUSED).
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, ClassVar

from sentinel.cloud.model import Inventory, Port
from sentinel.cloud.resources import CloudResource, resources, tenants_of, unmapped_projects
from sentinel.model import Asset, Context, Endpoint, ScanRecord, Text
from sentinel.playbook import Playbook, Segment, Tenant
from sentinel.probes.base import Network, Target
from sentinel.probes.routes import EgressGuard
from sentinel.probes.tcp import TcpProbe, default_ports
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


REACH_PORT_SPAN = 64  # a TCP rule's range up to this many ports is probed port by port


def declared_ingress(inventory: Inventory, port: Port) -> list[dict[str, Any]]:
    """The ingress rules that guard a port, each with its source ranges: a remote group's
    members' addresses (of the rule's family) as single-address ranges."""
    if not port.port_security:
        return [{"port_security": False, "group": None, "rule": "port security disabled"}]
    groups = {g.id: g for g in inventory.groups}
    entries: list[dict[str, Any]] = []
    for group in (groups[g] for g in port.groups if g in groups):
        for rule in group.rules:
            if rule.direction != "ingress":
                continue
            net = rule.remote_network
            sources = [str(net)] if net is not None else [
                str(ipaddress.ip_network(a)) for a in
                inventory.members(rule.remote_group or "", rule.family)]
            entries.append({"group": group.name or group.id, "rule": rule.label(),
                            "family": rule.family, "protocol": rule.protocol,
                            "port_min": rule.port_min, "port_max": rule.port_max,
                            "sources": sources})
    return entries


def _reach_ports(playbook: Playbook, entries: list[dict[str, Any]]) -> list[int]:
    """The playbook's TCP ports and every port a narrow TCP rule opens."""
    ports = set(default_ports(playbook))
    for entry in entries:
        if entry.get("protocol") != "tcp":
            continue
        low, high = entry.get("port_min") or 1, entry.get("port_max") or 65535
        if high - low < REACH_PORT_SPAN:
            ports.update(range(low, high + 1))
    return sorted(ports)


def reach_plans(playbook: Playbook, inventory: Inventory, scan_id: str, *,
                vantage: dict[str, Any]) -> Iterator[AssetPlan]:
    """One asset per instance (another tenant's only, when the vantage is a tenant): the
    declared rules of its addresses and a TCP connect to each address and port."""
    mapping = tenants_of(playbook, inventory.provider)
    from_tenant = vantage.get("tenant")
    config = playbook.probes.tcp
    tcp = TcpProbe(banner=False, banner_wait_s=config.banner_wait_s if config else 0.8)
    for resource in resources(inventory, mapping):
        if resource.kind != "instance" or not resource.addresses:
            continue
        if from_tenant and resource.tenant is not None and resource.tenant.id == from_tenant:
            continue
        own = [p for p in inventory.ports if p.device == resource.id]
        declared = {a: declared_ingress(inventory, p) for p in own for a in p.addresses}
        asset_id = f"{resource.asset_id.replace(':instance:', ':reach:')}" + (
            f"@{from_tenant}" if from_tenant else "")
        facts = {**{k: resource.facts[k] for k in ("provider", "project", "tenant", "source")},
                 "kind": "reach", "instance": resource.facts["instance"],
                 "declared": declared, "vantage": vantage}
        segment = _segment(playbook, resource.tenant, resource, inventory)
        asset = Asset(id=asset_id, name=resource.name or None, addresses=resource.addresses)
        context = _context(playbook, segment, resource.tenant, scan_id)
        jobs = [Job(DeclaredCloud({asset_id: facts}), Target(
            endpoint=Endpoint(address=resource.address, transport="none"), asset=asset,
            context=context, segment=segment))]
        for address in resource.addresses:
            entries = declared.get(address, [])
            jobs += [Job(tcp, Target(endpoint=Endpoint(address=address, port=port),
                                     asset=asset, context=context, segment=segment))
                     for port in _reach_ports(playbook, entries)]
        yield AssetPlan(asset_id, tuple(jobs))


async def store_reach(playbook: Playbook, store: SqliteStore, inventory: Inventory, *,
                      playbook_name: str, scan_id: str, sources: list[str],
                      from_tenant: str | None = None) -> ScanRecord:
    """Probe the instances' addresses from here and store declared against observed.
    ``sources`` are this vantage's own addresses (one per family) that the rules are judged
    for; ``from_tenant`` names the tenant whose namespace this runs in (isolation: only the
    other tenants' instances are probed, and the segments' egress pins, which name the
    scanner's link, do not apply inside it)."""
    vantage = {"tenant": from_tenant, "addresses": sources}
    return await run_scan(playbook, store, playbook_name=f"{playbook_name} + {inventory.source}",
                          scan_id=scan_id,
                          plans=reach_plans(playbook, inventory, scan_id, vantage=vantage),
                          egress=EgressGuard([]) if from_tenant else None)
