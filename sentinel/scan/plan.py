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

import ipaddress
from collections.abc import Iterator
from dataclasses import dataclass

from sentinel.catalog.services import services
from sentinel.credentials import snmp_credentials
from sentinel.model import Asset, Context, Endpoint
from sentinel.playbook import InventoryAsset, Playbook, Segment
from sentinel.probes.base import Probe, Target
from sentinel.probes.nmap_scan import NmapProbe, scan_ports
from sentinel.probes.site import SiteProbe
from sentinel.probes.snmp import SnmpProbe
from sentinel.probes.ssh import SshProbe
from sentinel.probes.tcp import TcpProbe
from sentinel.probes.tls import TlsProbe
from sentinel.scan.engine import AssetPlan, Job
from sentinel.scan.liveness import Liveness
from sentinel.scope import ScopePolicy


@dataclass(frozen=True)
class Refusal:
    what: str
    target: str
    reason: str


def refusals(playbook: Playbook, policy: ScopePolicy) -> list[Refusal]:
    """Every segment CIDR, listed host or inventory address the scope forbids."""
    out: list[Refusal] = []
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


def tcp_ports(playbook: Playbook) -> tuple[int, ...]:
    config = playbook.probes.tcp
    if config is not None and config.ports:
        return tuple(sorted(set(config.ports)))
    return tuple(
        sorted({p.port for s in services().services for p in s.ports if p.transport == "tcp"})
    )


def probes_for(playbook: Playbook) -> list[tuple[Probe, tuple[int, ...]]]:
    """The probe kinds this playbook runs, each with the ports it targets."""
    selected: list[tuple[Probe, tuple[int, ...]]] = []
    if playbook.probes.tcp is not None:
        config = playbook.probes.tcp
        selected.append(
            (
                TcpProbe(banner=config.banner, banner_wait_s=config.banner_wait_s),
                tcp_ports(playbook),
            )
        )
    if playbook.probes.tls is not None:
        tls = playbook.probes.tls
        probe = TlsProbe(timeout=tls.timeout_s, budget_s=tls.budget_s, sni=tls.sni)
        selected.append((probe, tuple(sorted(set(tls.ports)))))
    if playbook.probes.ssh is not None:
        ssh = playbook.probes.ssh
        selected.append((SshProbe(timeout=ssh.timeout_s), tuple(sorted(set(ssh.ports)))))
    if playbook.probes.snmp is not None:
        snmp = playbook.probes.snmp
        # Passphrases are read (environment, credentials file) here, once, into masked values.
        selected.append((SnmpProbe(timeout=snmp.timeout_s, retries=snmp.retries,
                                   budget_s=snmp.budget_s, communities=snmp.communities,
                                   credentials=snmp_credentials(snmp, strict=False)),
                         (snmp.port,)))
    if playbook.probes.nmap is not None:  # one job per address: no ports in the plan
        nmap_ports = scan_ports(playbook.probes.nmap, list(tcp_ports(playbook)))
        selected.append((NmapProbe(nmap_ports, playbook.rate, playbook.probes.nmap), ()))
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
    )


def _plan(
    asset: Asset,
    addresses: list[str],
    segment: Segment,
    ctx: Context,
    probes: list[tuple[Probe, tuple[int, ...]]],
    *,
    live: Liveness | None = None,
) -> AssetPlan:
    swept = tuple(live.job(a, asset, ctx, segment) for a in addresses) if live else ()
    jobs = swept + tuple(
        Job(
            probe,
            Target(
                # UDP kinds (snmp) say so; the rest are TCP.
                Endpoint(address=a, port=port, transport=getattr(probe, "transport", "tcp")),
                asset, ctx, segment, asset.name,
            ),
        )
        for a in addresses
        if live is None or live.is_up(a)
        for probe, ports in probes
        for port in (ports or (None,))  # a probe kind without ports runs once per address
    )
    return AssetPlan(asset.id, jobs)


def _segment_of(playbook: Playbook, address: str) -> Segment | None:
    ip = ipaddress.ip_address(address)
    return next((s for s in playbook.segments if any(ip in n for n in s.networks)), None)


def asset_plans(
    playbook: Playbook, scan_id: str, drill_id: str | None = None, live: Liveness | None = None
) -> Iterator[AssetPlan]:
    """One plan per asset: inventory assets first (all their addresses), then the rest;
    ``live`` (a discovery sweep's result) narrows the plan to live addresses."""
    probes = probes_for(playbook)
    claimed: set[str] = set()
    for item in playbook.assets:
        located = [(a, _segment_of(playbook, a)) for a in item.addresses]
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
                          drill_id=drill_id)
        asset = Asset(id=f"site:{site.hostname}", name=site.hostname)
        target = Target(Endpoint(address=anchor, port=None, transport="none"), asset, context,
                        segment, site.hostname)
        probe = SiteProbe(site, playbook.resolvers, playbook.probes.web)
        yield AssetPlan(asset.id, (Job(probe, target),))
