"""Discovery as a scan phase: which addresses are alive, seen from the scanner's vantage.

Before any other probe, :func:`sweep` asks every address the scan could plan whether it is
there, under the scan's gate (scope first, one token per packet, bursts of at most one
second's budget):

- IPv4: every listed or inventory address, and every address of a segment's CIDRs when the
  segment lists no ``hosts``: ICMP echo, then TCP SYN to ``syn_ports`` for the silent ones.
- IPv6: listed, inventory and DNS-known addresses (the sites' AAAA records asked of the
  playbook's resolvers) by ICMPv6 echo, then SYN. A /64 cannot be swept; IPv6 hosts nobody
  knows about are found only by an agent on the link (``sentinel discover``).

Only the live set is kept (memory grows with live hosts, not with the CIDRs). The plan then
gives every known address one ``discovery`` attempt — ``up`` with the methods that saw it, or
``down`` once, instead of one error per port — and plans the other probes on live ones only.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from typing import Any, ClassVar

from sentinel.model import Asset, Context, Endpoint, now
from sentinel.playbook import DiscoveryProbeConfig, Playbook, Segment
from sentinel.probes.base import Network, Target
from sentinel.scan.engine import Job
from sentinel.scope import Gate

_V4_METHODS, _V6_METHODS = frozenset({"icmp", "syn"}), frozenset({"icmpv6", "syn"})


def _family(address: str) -> str:
    return "ipv6" if ":" in address else "ipv4"


@dataclass
class Liveness:
    """What the sweep saw: live addresses and the methods that saw each."""

    methods: tuple[str, ...]
    up: dict[str, list[str]] = field(default_factory=dict)
    swept: int = 0
    dns_known: list[str] = field(default_factory=list)

    def swept_family(self, address: str) -> bool:
        """Whether any configured method can see this address's family."""
        wanted = _V6_METHODS if _family(address) == "ipv6" else _V4_METHODS
        return bool(wanted & set(self.methods))

    def is_up(self, address: str) -> bool:
        """Live, or of a family no configured method sweeps (then it is probed as before)."""
        return address in self.up or not self.swept_family(address)

    def live_in(self, segment: Segment) -> Iterator[str]:
        """The live addresses inside a segment's networks, IPv4 first, each family in address
        order. IPv4 CIDRs no larger than a few times the live set are walked in order (lazily,
        nothing but the live set held); larger ones, and IPv6, are filtered and sorted."""
        v4 = list(ipaddress.collapse_addresses(
            n for n in segment.networks if isinstance(n, ipaddress.IPv4Network)))
        if sum(n.num_addresses for n in v4) <= 16 * max(1, len(self.up)):
            for network in v4:
                yield from (a for a in map(str, network) if a in self.up)
        else:
            yield from sorted((a for a in self.up if ":" not in a
                               and any(ipaddress.ip_address(a) in n for n in v4)),
                              key=lambda a: int(ipaddress.ip_address(a)))
        v6 = [n for n in segment.networks if isinstance(n, ipaddress.IPv6Network)]
        yield from sorted((a for a in self.up if ":" in a
                           and any(ipaddress.ip_address(a) in n for n in v6)),
                          key=lambda a: int(ipaddress.ip_address(a)))

    def facts(self, address: str) -> dict[str, Any]:
        if not self.swept_family(address):
            state = "not-swept"
        else:
            state = "up" if address in self.up else "down"
        return {"state": state, "family": _family(address),
                "methods": self.up.get(address, []), "swept_with": list(self.methods)}

    def summary(self) -> dict[str, Any]:
        families = sorted({_family(a) for a in self.up})
        return {"swept": self.swept, "up": len(self.up), "families": families,
                "dns_known": len(self.dns_known)}

    def job(self, address: str, asset: Asset, context: Context, segment: Segment) -> Job:
        """The recorded ``discovery`` attempt for one address of one asset."""
        facts = self.facts(address)
        methods = facts["methods"]
        transport = "icmp" if any(m.startswith("icmp") for m in methods) else (
            "tcp" if methods else "none")
        endpoint = Endpoint(address=address, port=None, transport=transport)
        return Job(SweepResult(facts), Target(endpoint, asset, context, segment, asset.name))


@dataclass(frozen=True)
class SweepResult:
    """The ``discovery`` probe kind inside a scan: the sweep already ran; this hands the
    engine its verdict for one address so it is recorded like any other attempt."""

    result: dict[str, Any]
    kind: ClassVar[str] = "discovery"
    transport: ClassVar[str] = "none"
    budget_s: ClassVar[float] = 0.0  # the sweep already ran: handing over takes no time

    async def run(self, target: Target, network: Network) -> dict[str, Any]:
        return dict(self.result)


def _cidr_addresses(segment: Segment) -> Iterator[str]:
    for network in segment.networks:
        if isinstance(network, ipaddress.IPv4Network):
            for ip in network.hosts() if network.prefixlen < 31 else network:
                yield str(ip)


def sweep_targets(playbook: Playbook, dns_known: Iterable[str] = ()) -> Iterator[str]:
    """Every address to sweep, each once: inventory, listed hosts, DNS-known IPv6, then the
    IPv4 CIDRs of segments without hosts (lazily: a /16 is never held in memory)."""
    known: set[str] = set()
    listed = [a for item in playbook.assets for a in item.addresses]
    listed += [h for s in playbook.segments for h in s.hosts]
    for address in [*listed, *dns_known]:
        if address not in known:
            known.add(address)
            yield address
    for segment in playbook.segments:
        if not segment.hosts:
            yield from (a for a in _cidr_addresses(segment) if a not in known)


async def dns_known(gate: Gate, playbook: Playbook, timeout: float) -> list[str]:
    """IPv6 addresses the playbook's resolvers publish for its sites, inside a segment."""
    from sentinel.probes.dns import ask

    if not playbook.resolvers:
        return []
    found: list[str] = []
    for site in playbook.sites:
        answer = await ask(gate, playbook.resolvers[0], site.hostname, "AAAA", timeout)
        for record in answer.records:
            address = str(ipaddress.ip_address(record))
            inside = any(ipaddress.ip_address(address) in n
                         for s in playbook.segments for n in s.networks)
            if inside and gate.policy.verdict(address) is None and address not in found:
                found.append(address)
    return found


def _batches(addresses: Iterator[str], size: int) -> Iterator[list[str]]:
    while batch := list(islice(addresses, size)):
        yield batch


async def sweep_batch(gate: Gate, batch: list[str], config: DiscoveryProbeConfig,
                       live: Liveness) -> None:
    from sentinel.probes.discovery import echo_sweep, syn_ping  # scapy only when sweeping

    wanted = set(batch)
    # Every round asks only the addresses still silent: a probe lost on the way (the first
    # packet to a neighbour not yet resolved, a reply the capture missed) is sent again
    # ``config.retries`` times before the address is called down, as nmap retransmits.
    for _round in range(1 + config.retries):
        silent = [a for a in batch if a not in live.up]
        if not silent:
            return
        echo = [a for a in silent if ("icmpv6" if ":" in a else "icmp") in config.methods]
        for hit in await echo_sweep(gate, echo, config.timeout_s) if echo else []:
            if hit["address"] in wanted:
                live.up.setdefault(hit["address"], []).append(hit["method"])
        if "syn" not in config.methods:
            continue
        quiet = iter([a for a in silent if a not in live.up])
        # SYN costs one packet per port: keep each burst within the budget of an echo batch.
        for chunk in _batches(quiet, max(1, len(batch) // len(config.syn_ports))):
            for hit in await syn_ping(gate, chunk, config.timeout_s, tuple(config.syn_ports)):
                if hit["address"] in wanted:
                    live.up.setdefault(hit["address"], []).append(hit["method"])


async def sweep(playbook: Playbook, gate: Gate,
                config: DiscoveryProbeConfig | None = None) -> Liveness | None:
    """Sweep the playbook's targets; None when discovery is off or outside the scan windows
    (the engine then records every attempt as skipped, as without discovery)."""
    config = config or playbook.probes.discovery
    if config is None:
        return None
    if playbook.windows and not any(w.contains(now()) for w in playbook.windows):
        return None
    live = Liveness(tuple(config.methods))
    if "icmpv6" in config.methods or "syn" in config.methods:
        live.dns_known = await dns_known(gate, playbook, config.timeout_s)
    # A batch is sent as one burst, so it never exceeds one second of the packet budget.
    size = max(1, min(config.batch, int(gate.limits.packets_per_second)))
    for batch in _batches(sweep_targets(playbook, live.dns_known), size):
        live.swept += len(batch)
        await sweep_batch(gate, batch, config, live)
    return live
