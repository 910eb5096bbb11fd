"""Egress pinning: before anything is sent, ask the kernel where it would go.

A segment may declare where its traffic must leave this machine (``egress`` in the playbook:
an interface, a next hop, or both). The :class:`EgressGuard` is handed to the scan's gate,
which calls it, once per address and before the first packet or connection, after the scope
verdict: it asks the kernel (netlink ``RTM_GETROUTE``, the question ``ip route get`` asks)
for its route to the address and refuses the address when the route leaves through another
interface or next hop — the extranet VPN has dropped and the default route would carry the
scan over the internet, or the lab is down and its ranges would go out of the machine's own
uplink. Kernel sockets and scapy both follow the kernel's routes (scapy re-reads them before
each send), so one check covers both.
"""

from __future__ import annotations

import ipaddress
import os
import socket
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from sentinel.playbook import Egress, Playbook
from sentinel.scope import IPNetwork, canonical_address


def has_route(address: str) -> bool:
    """Whether the kernel has any route to ``address``: a UDP socket's ``connect``, which is
    the kernel's route look-up and sends no packet. The cheap question a probe asks before it
    waits on an address this vantage cannot reach at all (an agent on an IPv4-only segment
    asked about an IPv6 name server); where the route's interface and next hop matter, the
    egress guard asks netlink (:class:`KernelRoutes`)."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_DGRAM) as sock:
            sock.connect((address, 53))
    except OSError:
        return False
    return True


@dataclass(frozen=True)
class Route:
    """The kernel's answer for one destination."""

    interface: str | None
    via: str | None


class KernelRoutes:
    """Route look-ups over one netlink socket (pyroute2), opened on first use.

    pyroute2's synchronous client runs an event loop of its own, which cannot run inside the
    scan's: every look-up therefore happens on one worker thread of this object (a look-up
    takes well under a millisecond, and each address is asked once per scan)."""

    def __init__(self) -> None:
        self._ipr: Any = None
        self._names: dict[int, str] = {}
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="routes")

    def route(self, address: str) -> Route | None:
        """The kernel's route to ``address``, or None when it has none (unreachable)."""
        return self._worker.submit(self._route, address).result()

    def _route(self, address: str) -> Route | None:
        from pyroute2 import IPRoute  # only for playbooks that pin egress
        from pyroute2.netlink.exceptions import NetlinkError

        if self._ipr is None:
            self._ipr = IPRoute()
        try:
            found = self._ipr.route("get", dst=address)
        except NetlinkError:  # ENETUNREACH and the like: no route at all
            return None
        if not found:
            return None
        message = found[0]
        index = message.get_attr("RTA_OIF")
        gateway = message.get_attr("RTA_GATEWAY")
        return Route(self._name(index) if index is not None else None,
                     str(ipaddress.ip_address(gateway)) if gateway else None)

    def _name(self, index: int) -> str:
        if index not in self._names:
            links = self._ipr.link("get", index=index)
            self._names[index] = links[0].get_attr("IFLA_IFNAME") if links else str(index)
        return self._names[index]

    def close(self) -> None:
        def shut() -> None:
            if self._ipr is not None:
                self._ipr.close()
                self._ipr = None

        self._worker.submit(shut).result()
        self._worker.shutdown(wait=True)


def in_namespace(name: str) -> bool:
    """Whether this process runs in the named network namespace (``/run/netns/NAME``)."""
    try:
        ours = os.stat("/proc/self/ns/net")
        named = os.stat(f"/run/netns/{name}")
    except OSError:
        return False
    return (ours.st_dev, ours.st_ino) == (named.st_dev, named.st_ino)


class EgressGuard:
    """Callable for the gate: ``guard(address)`` is None when the kernel's route to the
    address leaves where its segment says, else the reason it may not be sent."""

    def __init__(self, rules: Sequence[tuple[IPNetwork, Egress, str]],
                 routes: KernelRoutes | None = None) -> None:
        self.rules = tuple(rules)
        self.routes = routes or KernelRoutes()

    @classmethod
    def for_playbook(cls, playbook: Playbook, routes: KernelRoutes | None = None,
                     override: dict[str, Egress] | None = None) -> EgressGuard | None:
        """The guard of a playbook's segments (None when no segment pins its egress);
        ``override`` replaces a segment's egress (an agent on the segment's own link)."""
        rules: list[tuple[IPNetwork, Egress, str]] = []
        for segment in playbook.segments:
            egress = (override or {}).get(segment.id, segment.egress)
            if egress is not None:
                rules.extend((network, egress, segment.id) for network in segment.networks)
        return cls(rules, routes) if rules else None

    def __call__(self, address: str) -> str | None:
        ip = canonical_address(address)
        for network, egress, segment in self.rules:
            if ip.version == network.version and ip in network:
                return self._judge(str(ip), egress, segment)
        return None

    def _judge(self, address: str, egress: Egress, segment: str) -> str | None:
        if egress.netns is not None and not in_namespace(egress.netns):
            return (f"segment {segment} is reached only from network namespace "
                    f"{egress.netns}, and Sentinel is not running in it")
        if egress.interface is None and egress.via is None:
            return None
        route = self.routes.route(address)
        wanted = " via ".join(x for x in (egress.interface, egress.via) if x)
        if route is None:
            return f"no route to it on this machine (segment {segment} must leave {wanted})"
        wrong_interface = egress.interface is not None and route.interface != egress.interface
        wrong_hop = egress.via is not None and route.via != egress.via
        if wrong_interface or wrong_hop:
            actual = " via ".join(x for x in (route.interface, route.via) if x) or "nowhere"
            return (f"the kernel would send it through {actual}, not {wanted} as segment "
                    f"{segment}'s egress requires")
        return None

    def first_refusals(self, addresses: Iterable[str]) -> list[tuple[str, str]]:
        """The reason for each of ``addresses`` that may not leave as its segment says."""
        refused = []
        for address in addresses:
            reason = self(address)
            if reason is not None:
                refused.append((address, reason))
        return refused

    def close(self) -> None:
        self.routes.close()
