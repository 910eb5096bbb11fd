"""From a playbook to work: scope verdicts, assets, and lazily generated asset plans.

Nothing here sends anything. ``refusals`` says which segments or inventory addresses the
scope forbids (the scan refuses to start if there are any); ``asset_plans`` yields one plan
per asset, grouping an inventory host's IPv4 and IPv6 addresses under one asset id, so its
findings keep the same key whichever address showed them. With a discovery sweep
(:class:`~sentinel.liveness.Liveness`), every known address gets its ``discovery`` attempt,
only live addresses get the other probes, and a segment without ``hosts`` plans its live
addresses instead of its whole CIDR.
"""

from __future__ import annotations

import importlib
import ipaddress
from collections.abc import Iterator
from dataclasses import dataclass

from sentinel.catalog.probe_kinds import probe_kinds
from sentinel.catalog.scope_schema import not_public
from sentinel.errors import CatalogError
from sentinel.model import Asset, Context, Endpoint
from sentinel.playbook import InventoryAsset, Playbook, Segment
from sentinel.probes.base import Planned, Target
from sentinel.probes.site import SiteProbe
from sentinel.scan.engine import AssetPlan, Job
from sentinel.scan.liveness import Liveness
from sentinel.scope import ScopePolicy, canonical_network


@dataclass(frozen=True)
class Refusal:
    what: str
    target: str
    reason: str


def refusals(playbook: Playbook, policy: ScopePolicy, *,
             allow_public: bool = False) -> list[Refusal]:
    """Every segment CIDR, listed host, inventory address or DNS resolver the scope forbids,
    and (unless ``allow_public``, the ``--allow-public-scope`` flag: never a playbook's say)
    every authorised network that reaches into public address space."""
    out: list[Refusal] = []
    if not allow_public:
        private = not_public()
        for network in map(canonical_network, playbook.scope.authorised_networks):
            if not any(network.version == p.version and network.subnet_of(p)  # type: ignore[arg-type]
                       for p in private):
                out.append(Refusal("scope", str(network), "reaches into public address space "
                                   "(pass --allow-public-scope if that is meant)"))
    for index, resolver in enumerate(playbook.resolvers):
        reason = policy.verdict(resolver)
        if reason:
            out.append(Refusal(f"resolvers[{index}]", resolver, reason))
    for segment in playbook.segments:
        for network in segment.networks:
            reason = policy.network_verdict(network)
            if reason:
                out.append(Refusal(f"segment {segment.id}", str(network), reason))
    for asset in playbook.assets:
        for address in asset.addresses:
            reason = policy.verdict(address)
            if reason:
                out.append(Refusal(f"asset {asset.id}", address, reason))
    return out


def segment_addresses(segment: Segment, live: Liveness | None = None) -> Iterator[str]:
    """The listed hosts, else the live ones when swept, else every usable IPv4 address of the
    CIDRs (lazily)."""
    if segment.hosts:
        yield from segment.hosts
        return
    if live is not None:
        yield from live.live_in(segment)
        return
    for network in segment.networks:
        if isinstance(network, ipaddress.IPv4Network):
            for ip in network.hosts() if network.prefixlen < 31 else network:
                yield str(ip)


def probes_for(playbook: Playbook) -> list[Planned]:
    """The probe kinds this playbook runs (``probes/kinds.yml``, in order), each with the ports
    it targets. Each kind's module says how the playbook configures it."""
    selected: list[Planned] = []
    for entry in probe_kinds():
        module = importlib.import_module(f"sentinel.probes.{entry.module}")
        planned: Planned | None = module.planned(playbook)
        if planned is None:
            continue
        if planned.probe.kind != entry.kind:
            raise CatalogError(f"probes/kinds.yml: module {entry.module} plans "
                               f"{planned.probe.kind!r}, not {entry.kind!r}")
        selected.append(planned)
    return selected


def _context(playbook: Playbook, segment: Segment, scan_id: str, drill_id: str | None) -> Context:
    agency = playbook.agency(segment.agency)
    return Context(
        scan_id=scan_id,
        agency_id=agency.id,
        agency_name=agency.name.zh,
        segment_id=segment.id,
        zone=segment.zone,
        tenant=segment.tenant,
        drill_id=drill_id,
        mipin_level=segment.levels.mipin,
    )


def _plan(
    asset: Asset,
    addresses: list[str],
    segment: Segment,
    ctx: Context,
    probes: list[Planned],
    *,
    live: Liveness | None = None,
) -> AssetPlan:
    swept = tuple(live.job(a, asset, ctx, segment) for a in addresses) if live else ()
    jobs = swept + tuple(
        Job(
            probe,
            Target(
                Endpoint(address=a, port=port, transport=probe.transport),
                asset, ctx, segment, asset.name,
            ),
        )
        for a in addresses
        if live is None or live.is_up(a)
        for probe, ports in probes
        for port in (ports or (None,))  # a probe kind without ports runs once per address
    )
    return AssetPlan(asset.id, jobs)


def segment_of(playbook: Playbook, address: str) -> Segment | None:
    ip = ipaddress.ip_address(address)
    return next((s for s in playbook.segments if any(ip in n for n in s.networks)), None)


def asset_plans(
    playbook: Playbook,
    scan_id: str,
    drill_id: str | None = None,
    live: Liveness | None = None,
    probes: list[Planned] | None = None,
) -> Iterator[AssetPlan]:
    """One plan per asset: inventory assets first (all their addresses), then the rest;
    ``live`` (a discovery sweep's result) narrows the plan to live addresses. ``probes`` are
    the playbook's probe kinds when the caller resolved them already (their modules load
    off the event loop that way)."""
    probes = probes_for(playbook) if probes is None else probes
    claimed: set[str] = set()
    for item in playbook.assets:
        located = [(a, segment_of(playbook, a)) for a in item.addresses]
        inside = [(a, s) for a, s in located if s is not None]
        if not inside:
            continue
        segment = inside[0][1]
        assert segment is not None
        claimed.update(a for a, _ in inside)
        yield _plan(
            _inventory_asset(item),
            [a for a, _ in inside],
            segment,
            _context(playbook, segment, scan_id, drill_id),
            probes,
            live=live,
        )
    for segment in playbook.segments:
        ctx = _context(playbook, segment, scan_id, drill_id)
        for address in segment_addresses(segment, live):
            if address not in claimed:
                asset = Asset(id=address, addresses=(address,))
                yield _plan(asset, [address], segment, ctx, probes, live=live)
    yield from site_plans(playbook, scan_id, drill_id)


def _inventory_asset(item: InventoryAsset) -> Asset:
    return Asset(id=item.id, name=item.name, addresses=item.addresses)


def site_plans(playbook: Playbook, scan_id: str, drill_id: str | None = None
               ) -> Iterator[AssetPlan]:
    """One plan per playbook site, owned by the site's agency (asset id ``site:<name>``)."""
    if not playbook.sites:
        return
    anchor = playbook.resolvers[0] if playbook.resolvers else "::"
    for site in playbook.sites:
        segment = next((s for s in playbook.segments if s.agency == site.agency),
                       playbook.segments[0])
        agency = playbook.agency(site.agency)
        context = Context(scan_id=scan_id, agency_id=agency.id, agency_name=agency.name.zh,
                          segment_id=segment.id, zone=segment.zone, tenant=segment.tenant,
                          drill_id=drill_id, mipin_level=segment.levels.mipin)
        asset = Asset(id=f"site:{site.hostname}", name=site.hostname)
        target = Target(Endpoint(address=anchor, port=None, transport="none"), asset, context,
                        segment, site.hostname)
        probe = SiteProbe(site, playbook.resolvers, playbook.probes.web)
        yield AssetPlan(asset.id, (Job(probe, target),))
