"""Host discovery with scapy: ICMP/ICMPv6 echo and TCP SYN ping from anywhere, and from inside
a segment (an agent's vantage) ARP, multicast echo to ff02::1 and router advertisements.

Every packet is paid for through the gate (``gate.packets``), which also checks scope first.
Multicast to ff02::1 is the one send whose destination is not a scoped unicast address: it is
allowed only on the agent's own link and only when the segment's IPv6 prefix lies wholly
inside the authorised scope (:func:`authorise_link_multicast`), so the hosts that answer are
in scope by construction. Replies from outside the segment's networks are discarded.

Run inside a segment through ``sentinel discover`` (:mod:`sentinel.scan.local_discovery`):
``ip netns exec sl-legacy sentinel discover --playbook playbooks/lab.yml --segment data``.
"""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import Iterable
from typing import Any

from scapy.arch import get_if_addr, get_if_hwaddr, in6_getifaddr
from scapy.config import conf
from scapy.layers.inet import ICMP, IP, TCP
from scapy.layers.inet6 import (
    ICMPv6EchoReply,
    ICMPv6EchoRequest,
    ICMPv6ND_RA,
    ICMPv6ND_RS,
    ICMPv6NDOptPrefixInfo,
    ICMPv6NDOptRDNSS,
    IPv6,
)
from scapy.layers.l2 import ARP, Ether
from scapy.sendrecv import AsyncSniffer, send, sndrcv, srp
from scapy.supersocket import L3RawSocket, L3RawSocket6

from sentinel.errors import ScopeRefused
from sentinel.playbook import Segment
from sentinel.scope import Gate, IPNetwork

SYN_PORTS = (80, 443, 22)
conf.verb = 0


def _found(address: str, method: str, mac: str | None = None) -> dict[str, Any]:
    return {"address": address, "family": "ipv6" if ":" in address else "ipv4",
            "method": method, "mac": mac}


def _fresh_routes(addresses: Iterable[str]) -> None:
    """Re-read the kernel's routes into scapy before a layer-3 send.

    scapy copies the routing table once, at import. A process that imported it before a route
    appeared (the lab coming up, a VPN, an agent's link changing) would send by the stale copy,
    out of whatever interface the old default route named: packets for an authorised range
    could leave by the wrong link. Every send re-reads the table, and refuses an address the
    kernel has no route for rather than letting scapy guess.
    """
    _fresh_links()
    conf.route.resync()
    conf.route6.resync()
    for address in addresses:
        table = conf.route6 if ":" in address else conf.route
        iface = table.route(address)[0]
        if not iface or (iface == conf.loopback_name and not _is_loopback(address)):
            raise ScopeRefused(address, "no route to it on this machine")


_LINKS: set[tuple[str, int, str]] = set()  # the links the neighbour cache was learnt on


def _fresh_links() -> None:
    """Re-read the machine's interfaces into scapy, and forget learnt neighbours if any link
    changed since the last send.

    scapy also keeps its interface list (names with their kernel index) and a neighbour cache
    (ARP, ND) from the time it first needed them. When a link is deleted and made again under
    the same name (the lab rebuilt, an agent's veth replaced), the old index names no device
    and every send fails with ENODEV; a cached MAC of the old peer would send frames nobody
    receives, and the host would be called down.
    """
    _ = conf.route  # scapy loads its interface list together with the routes
    if conf.ifaces is None:
        return
    conf.ifaces.reload()
    links = {(i.name, i.index, str(i.mac)) for i in conf.ifaces.values()}
    if links != _LINKS:
        conf.netcache.flush()
        _LINKS.clear()
        _LINKS.update(links)


def _is_loopback(address: str) -> bool:
    return ipaddress.ip_address(address).is_loopback


async def _pay(gate: Gate, addresses: Iterable[str]) -> list[str]:
    """Authorise and pay for one packet per address; out-of-scope ones are dropped."""
    allowed = []
    for address in addresses:
        try:
            await gate.packets(address, 1)
        except ScopeRefused:
            continue
        allowed.append(address)
    return allowed


def _exchange(family: type[L3RawSocket], packets: list[Any], timeout: float) -> list[Any]:
    sock = family()
    try:
        answered, _ = sndrcv(sock, packets, timeout=timeout, verbose=0)
    finally:
        sock.close()
    return [reply for _, reply in answered]


async def _send_receive(packets: list[Any], timeout: float) -> list[Any]:
    """Send layer-3 probes through the kernel (raw IP sockets) and gather the replies.

    The kernel routes each packet and resolves the next hop's MAC, with its own neighbour
    retransmissions, exactly as for the TCP and TLS probes that follow. scapy's own layer-2
    path asks for the next hop's MAC with one neighbour solicitation and a one-second wait;
    when that answer is late (a loaded machine), it sends the probe to the broadcast MAC,
    which a Linux router does not forward for IPv6, and a live IPv6-only host is called down.
    """
    v4 = [p for p in packets if p.haslayer(IP)]
    v6 = [p for p in packets if p.haslayer(IPv6)]
    runs = [asyncio.to_thread(_exchange, kind, batch, timeout)
            for kind, batch in ((L3RawSocket, v4), (L3RawSocket6, v6)) if batch]
    return [reply for replies in await asyncio.gather(*runs) for reply in replies]


async def echo_sweep(gate: Gate, addresses: list[str], timeout: float) -> list[dict[str, Any]]:
    """ICMP echo (IPv4) and ICMPv6 echo (IPv6) to each authorised unicast address."""
    allowed = await _pay(gate, addresses)
    packets = [IP(dst=a) / ICMP() if ":" not in a else IPv6(dst=a) / ICMPv6EchoRequest()
               for a in allowed]
    if not packets:
        return []
    _fresh_routes(allowed)
    answered = await _send_receive(packets, timeout)
    out = []
    for reply in answered:
        if reply.haslayer(ICMP) and reply[ICMP].type == 0:
            out.append(_found(reply[IP].src, "icmp-echo"))
        elif reply.haslayer(ICMPv6EchoReply):
            out.append(_found(str(ipaddress.ip_address(reply[IPv6].src)), "icmpv6-echo"))
    return out


async def syn_ping(gate: Gate, addresses: list[str], timeout: float,
                   ports: tuple[int, ...] = SYN_PORTS) -> list[dict[str, Any]]:
    """TCP SYN to a few ports: any SYN-ACK or RST means the host is there."""
    allowed = [a for a in addresses for _ in ports]
    allowed = await _pay(gate, allowed)
    packets = [(IPv6(dst=a) if ":" in a else IP(dst=a)) / TCP(dport=p, flags="S")
               for a in sorted(set(allowed)) for p in ports]
    if not packets:
        return []
    _fresh_routes(set(allowed))
    answered = await _send_receive(packets, timeout)
    seen: dict[str, dict[str, Any]] = {}
    for reply in answered:
        if reply.haslayer(TCP):
            layer = reply[IPv6] if reply.haslayer(IPv6) else reply[IP]
            address = str(ipaddress.ip_address(layer.src))
            seen.setdefault(address, _found(address, "tcp-syn"))
    return list(seen.values())


async def arp_sweep(gate: Gate, network: ipaddress.IPv4Network, iface: str,
                    timeout: float) -> list[dict[str, Any]]:
    """ARP who-has for every address of a local IPv4 segment."""
    allowed = await _pay(gate, (str(h) for h in network.hosts()))
    if not allowed:
        return []
    _fresh_links()
    frames = [Ether(dst="ff:ff:ff:ff:ff:ff") / ARP(pdst=a) for a in allowed]
    answered, _ = await asyncio.to_thread(srp, frames, iface=iface, timeout=timeout, verbose=0)
    return [_found(r[ARP].psrc, "arp", r[ARP].hwsrc) for _, r in answered]


def authorise_link_multicast(gate: Gate, segment: Segment) -> IPNetwork:
    """The explicit exception for ff02::1: the segment's IPv6 prefix must be in scope."""
    prefixes = [n for n in segment.networks if n.version == 6]
    if not prefixes:
        raise ScopeRefused("ff02::1", f"segment {segment.id} has no IPv6 prefix")
    for prefix in prefixes:
        reason = gate.policy.network_verdict(prefix)
        if reason is not None:
            raise ScopeRefused(f"ff02::1 on {prefix}", reason)
    return prefixes[0]


def _own_global(iface: str, prefix: IPNetwork) -> str | None:
    for address, _scope, name in in6_getifaddr():
        if name == iface and ipaddress.ip_address(address) in prefix:
            return str(address)
    return None


async def multicast_echo(gate: Gate, segment: Segment, iface: str,
                         timeout: float) -> list[dict[str, Any]]:
    """ICMPv6 echo to ff02::1 from our global address: hosts answer from theirs (ND fills in
    their MACs); only answers inside the segment's prefixes are kept."""
    prefix = authorise_link_multicast(gate, segment)
    source = _own_global(iface, prefix)
    if source is None:
        return []
    await gate.bucket.take(1)
    _fresh_links()
    probe = Ether(dst="33:33:00:00:00:01", src=get_if_hwaddr(iface)) / IPv6(
        src=source, dst="ff02::1", hlim=1) / ICMPv6EchoRequest(id=0x5e17)
    sniffer = AsyncSniffer(iface=iface, filter="icmp6 and ip6[40] == 129", store=True)
    sniffer.start()
    await asyncio.sleep(0.2)
    await asyncio.to_thread(srp, probe, iface=iface, timeout=0.1, verbose=0, multi=True)
    await asyncio.sleep(timeout)
    captured: list[Any] = list(sniffer.stop() or [])
    out: dict[str, dict[str, Any]] = {}
    for frame in captured:
        if frame.haslayer(ICMPv6EchoReply):
            address = ipaddress.ip_address(frame[IPv6].src)
            if any(address in n for n in segment.networks):
                out.setdefault(str(address), _found(str(address), "icmpv6-multicast",
                                                    frame[Ether].src))
    return list(out.values())


def _advert(frame: Any) -> dict[str, Any]:
    ra = frame[ICMPv6ND_RA]
    prefixes: list[dict[str, Any]] = []
    rdnss: list[str] = []
    layer = ra.payload
    while layer is not None and layer.name != "NoPayload":
        if isinstance(layer, ICMPv6NDOptPrefixInfo):
            prefixes.append({"prefix": f"{layer.prefix}/{layer.prefixlen}",
                             "autonomous": bool(layer.A), "on_link": bool(layer.L)})
        elif isinstance(layer, ICMPv6NDOptRDNSS):
            rdnss.extend(str(a) for a in layer.dns)
        layer = layer.payload
    return {"router": str(frame[IPv6].src), "managed": bool(ra.M), "other": bool(ra.O),
            "router_lifetime": int(ra.routerlifetime), "prefixes": prefixes, "rdnss": rdnss}


async def router_adverts(gate: Gate, iface: str, wait: float) -> list[dict[str, Any]]:
    """Solicit (RS to ff02::2, link-local) and capture router advertisements on the link."""
    await gate.bucket.take(1)
    _fresh_links()
    sniffer = AsyncSniffer(iface=iface, filter="icmp6 and ip6[40] == 134", store=True)
    sniffer.start()
    await asyncio.sleep(0.2)
    await asyncio.to_thread(send, IPv6(dst="ff02::2", hlim=255) / ICMPv6ND_RS(), iface=iface,
                            verbose=0)
    await asyncio.sleep(wait)
    return [_advert(f) for f in (sniffer.stop() or []) if f.haslayer(ICMPv6ND_RA)]


async def discover_segment(gate: Gate, segment: Segment, iface: str,
                           timeout: float = 2.0) -> dict[str, Any]:
    """Everything an agent inside ``segment`` finds on its link. The whole segment is judged
    first: nothing (no ARP, no echo, no router solicitation) is sent for a segment any of
    whose networks lies outside scope."""
    for network in segment.networks:
        reason = gate.policy.network_verdict(network)
        if reason is None and gate.egress is not None:  # the kernel's route, before any frame
            reason = gate.egress(str(next(iter(network.hosts()), network.network_address)))
        if reason is not None:
            gate.refuse(f"segment {segment.id} ({network})", reason)
    hosts: list[dict[str, Any]] = []
    for network in segment.networks:
        if isinstance(network, ipaddress.IPv4Network):
            hosts += await arp_sweep(gate, network, iface, timeout)
    notes = []
    try:
        hosts += await multicast_echo(gate, segment, iface, timeout)
    except ScopeRefused as exc:
        notes.append(f"no link multicast: {exc.reason}")
    adverts = await router_adverts(gate, iface, timeout)
    own = [a for a, _s, n in in6_getifaddr() if n == iface
           and any(ipaddress.ip_address(a) in net for net in segment.networks)]
    own.insert(0, get_if_addr(iface))
    return {"segment": segment.id, "iface": iface, "hosts": merge(hosts),
            "self": own, "router_advertisements": adverts, "notes": notes}


def merge(found: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One entry per address, the methods that saw it, sorted by family then address."""
    by_address: dict[str, dict[str, Any]] = {}
    for item in found:
        entry = by_address.setdefault(item["address"], {**item, "methods": []})
        entry["methods"] = sorted({*entry["methods"], item["method"]})
        entry["mac"] = entry.get("mac") or item.get("mac")
        entry.pop("method", None)
    return sorted(by_address.values(),
                  key=lambda e: (e["family"], ipaddress.ip_address(e["address"])))
