"""Authorisation and rate governance: the one gate every network action passes.

A :class:`Gate` answers two questions before anything is sent: is this address inside the
authorised scope and outside every deny list (the global one always wins), and may another
packet or connection go now under the shared budget (packets per second, connections per
host, concurrent hosts, delay between connections to one host). Every probe kind draws on the
same gate, and every refusal is handed to an audit callback before it is raised.

One canonical address form, decided here for every verdict (``canonical_address``):

- an IPv4-mapped IPv6 address (``::ffff:a.b.c.d``) is the IPv4 host it maps to: it is judged,
  and connected to, as ``a.b.c.d`` (a dual-stack socket would reach that host);
- an IPv4-compatible address (``::a.b.c.d``, deprecated by RFC 4291) is refused: its meaning
  depends on the host's tunnels, so nobody can say which host it reaches;
- an address that embeds an IPv4 host reached through a translator or relay — 6to4
  (``2002::/16``), NAT64 (``64:ff9b::/96``, and ``64:ff9b:1::/48`` read with the /96 layout),
  Teredo (``2001::/32``: its server and its client) — is judged as itself *and* as every IPv4
  address it embeds: each must be authorised and none denied;
- a zone id (``fe80::1%eth0``) is not part of the address the verdict judges.

Deny and authorised entries written in these forms are read the same way.
"""

from __future__ import annotations

import asyncio
import bisect
import ipaddress
import time
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import NoReturn, Protocol

from sentinel.errors import ScopeRefused

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_MAPPED = ipaddress.IPv6Network("::ffff:0:0/96")
_COMPATIBLE = ipaddress.IPv6Network("::/96")
_SIX_TO_FOUR = ipaddress.IPv6Network("2002::/16")
_NAT64 = (ipaddress.IPv6Network("64:ff9b::/96"), ipaddress.IPv6Network("64:ff9b:1::/48"))
_TEREDO = ipaddress.IPv6Network("2001::/32")
_ANY_V4 = ipaddress.IPv4Network("0.0.0.0/0")


class NotCanonical(ValueError):
    """An address in a form whose destination cannot be told (IPv4-compatible IPv6)."""


def canonical_address(address: str) -> IPAddress:
    """The address a verdict judges and a socket connects to (see the module docstring);
    ValueError for text that is no IP address, NotCanonical for an IPv4-compatible one."""
    ip = ipaddress.ip_address(address.strip().split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return ip.ipv4_mapped
        if ip in _COMPATIBLE and int(ip) > 1:
            raise NotCanonical(f"{address} is an IPv4-compatible IPv6 address (deprecated, "
                               "destination undefined): give the IPv4 or IPv6 address itself")
    return ip


def embedded_ipv4(ip: IPAddress) -> tuple[ipaddress.IPv4Address, ...]:
    """The IPv4 hosts an IPv6 address leads to through 6to4, NAT64 or Teredo."""
    if not isinstance(ip, ipaddress.IPv6Address):
        return ()
    if ip.sixtofour is not None:
        return (ip.sixtofour,)
    if any(ip in prefix for prefix in _NAT64):
        return (ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF),)
    if ip.teredo is not None:
        return ip.teredo
    return ()


def canonical_network(network: IPNetwork) -> IPNetwork:
    """An IPv4-mapped IPv6 network (``::ffff:0:0/96`` and within) as the IPv4 network it is."""
    if isinstance(network, ipaddress.IPv6Network) and network.subnet_of(_MAPPED):
        return ipaddress.IPv4Network((int(network.network_address) & 0xFFFFFFFF,
                                      network.prefixlen - 96))
    return network


def embedded_networks(network: IPNetwork) -> tuple[ipaddress.IPv4Network, ...]:
    """The IPv4 space an IPv6 network leads to through 6to4 or NAT64 (all of it, when the
    network covers a translation prefix only in part or holds it whole)."""
    if not isinstance(network, ipaddress.IPv6Network):
        return ()
    found: list[ipaddress.IPv4Network] = []
    if network.overlaps(_SIX_TO_FOUR):
        if network.subnet_of(_SIX_TO_FOUR) and network.prefixlen >= 16:
            bits = min(network.prefixlen, 48) - 16
            start = (int(network.network_address) >> 80) & 0xFFFFFFFF
            found.append(ipaddress.IPv4Network((start >> (32 - bits) << (32 - bits), bits)))
        else:
            found.append(_ANY_V4)
    for prefix in _NAT64:
        if network.overlaps(prefix):
            if network.subnet_of(prefix) and network.prefixlen >= 96:
                start = int(network.network_address) & 0xFFFFFFFF
                found.append(ipaddress.IPv4Network((start, network.prefixlen - 96)))
            else:
                found.append(_ANY_V4)
    if network.overlaps(_TEREDO):
        found.append(_ANY_V4)
    return tuple(found)


class Limits(Protocol):
    """What the gate reads of a playbook's ``RateLimits`` (or of :class:`ProbeLimits`)."""

    @property
    def packets_per_second(self) -> float: ...
    @property
    def connections_per_host(self) -> int: ...
    @property
    def concurrent_hosts(self) -> int: ...
    @property
    def host_delay_ms(self) -> float: ...


@dataclass(frozen=True)
class ProbeLimits:
    """Limits for a command that probes named endpoints without a playbook
    (``sentinel probe``); the defaults are a playbook's defaults."""

    packets_per_second: float = 200.0
    connections_per_host: int = 4
    concurrent_hosts: int = 32
    host_delay_ms: float = 0.0

AuditHook = Callable[[str, str], None]
# Where the kernel would send an address, judged against the segment's declared egress:
# None when it may leave, else the reason (sentinel.probes.routes.EgressGuard).
EgressCheck = Callable[[str], str | None]


Ranges = dict[int, tuple[list[int], list[int]]]  # family -> (starts, ends), merged, sorted


@dataclass(frozen=True)
class ScopePolicy:
    """Authorised networks, the playbook's deny list and the organisation's global deny list."""

    authorised: tuple[IPNetwork, ...]
    deny: tuple[IPNetwork, ...] = ()
    global_deny: tuple[IPNetwork, ...] = ()
    _ranges: Ranges = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        for name in ("authorised", "deny", "global_deny"):
            nets = tuple(canonical_network(n) for n in getattr(self, name))
            object.__setattr__(self, name, nets)
        # The authorised networks as merged, sorted ranges per family: a lookup is a binary
        # search, so a scope of 100,000 single addresses (`probe tls` with every target)
        # judges each address in microseconds, not by scanning them all.
        object.__setattr__(self, "_ranges", _ranges(self.authorised))

    def verdict(self, address: str) -> str | None:
        """None when the address may be probed, else the reason it may not."""
        try:
            ip = canonical_address(address)
        except NotCanonical as exc:
            return str(exc)
        except ValueError:
            return "not an IP address"
        reason = self._ip_verdict(ip)
        if reason is not None:
            return reason
        for inner in embedded_ipv4(ip):
            reason = self._ip_verdict(inner)
            if reason is not None:
                return f"leads to {inner} (embedded IPv4), {reason}"
        return None

    def _ip_verdict(self, ip: IPAddress) -> str | None:
        for net in self.global_deny:
            if ip.version == net.version and ip in net:
                return f"inside the global deny list ({net})"
        for net in self.deny:
            if ip.version == net.version and ip in net:
                return f"inside the playbook's deny list ({net})"
        if not _inside(self._ranges, ip.version, int(ip), int(ip)):
            return "outside the authorised scope"
        return None

    def network_verdict(self, network: IPNetwork) -> str | None:
        """None when a whole network lies inside scope and touches no deny list (nor does
        any IPv4 space it leads to through 6to4 or NAT64)."""
        network = canonical_network(network)
        if (isinstance(network, ipaddress.IPv6Network) and network.subnet_of(_COMPATIBLE)
                and network.prefixlen < 127):
            return (f"{network} holds IPv4-compatible IPv6 addresses (deprecated, destination "
                    "undefined): give the IPv4 or IPv6 network itself")
        reason = self._network_verdict(network)
        if reason is not None:
            return reason
        for inner in embedded_networks(network):
            reason = self._network_verdict(inner)
            if reason is not None:
                return f"leads to {inner} (embedded IPv4), {reason}"
        return None

    def _network_verdict(self, network: IPNetwork) -> str | None:
        for label, nets in (
            ("global deny list", self.global_deny),
            ("playbook's deny list", self.deny),
        ):
            for net in nets:
                if net.version == network.version and network.overlaps(net):
                    return f"overlaps the {label} ({net})"
        first, last = int(network.network_address), int(network.broadcast_address)
        if not _inside(self._ranges, network.version, first, last):
            return "outside the authorised scope"
        return None



def _ranges(networks: tuple[IPNetwork, ...]) -> Ranges:
    out: Ranges = {}
    for version in (4, 6):
        spans = sorted((int(n.network_address), int(n.broadcast_address))
                       for n in networks if n.version == version)
        starts: list[int] = []
        ends: list[int] = []
        for start, end in spans:
            if ends and start <= ends[-1] + 1:  # overlapping or adjacent: one range
                ends[-1] = max(ends[-1], end)
            else:
                starts.append(start)
                ends.append(end)
        out[version] = (starts, ends)
    return out


def _inside(ranges: Ranges, version: int, first: int, last: int) -> bool:
    """Whether [first, last] lies inside one merged range of that family."""
    starts, ends = ranges[version]
    index = bisect.bisect_right(starts, first) - 1
    return index >= 0 and last <= ends[index]


class TokenBucket:
    """Packets-per-second budget shared by every probe (a burst of at most one second)."""

    def __init__(self, rate: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self.capacity = max(1.0, rate)
        self._tokens = self.capacity
        self._clock = clock
        self._stamp = clock()
        self._lock = asyncio.Lock()
        self.spent = 0

    async def take(self, count: int = 1) -> None:
        """Wait until ``count`` tokens are available and spend them."""
        async with self._lock:
            while True:
                current = self._clock()
                self._tokens = min(
                    self.capacity, self._tokens + (current - self._stamp) * self.rate
                )
                self._stamp = current
                if self._tokens >= count:
                    self._tokens -= count
                    self.spent += count
                    return
                await asyncio.sleep((count - self._tokens) / self.rate)


@dataclass
class _HostState:
    slots: asyncio.Semaphore
    last_connect: float = 0.0
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    users: int = 0  # connections holding or waiting for a slot


VERDICT_CACHE = 8192  # addresses whose verdict a gate remembers (a cache: cleared when full)


class Gate:
    """The single gate: scope check, then budget. Create one per scan and pass it in."""

    def __init__(
        self,
        policy: ScopePolicy,
        limits: Limits,
        audit: AuditHook | None = None,
        egress: EgressCheck | None = None,
    ) -> None:
        self.policy = policy
        self.egress = egress
        self.limits = limits
        self.bucket = TokenBucket(limits.packets_per_second)
        self.host_slots = asyncio.Semaphore(limits.concurrent_hosts)
        self._hosts: dict[str, _HostState] = {}
        self._audit = audit
        self.refusals: list[tuple[str, str]] = []
        self.connections = 0
        self._verdicts: dict[str, str | None] = {}

    def authorise(self, address: str) -> str:
        """The canonical address to send to (:func:`canonical_address`); raises
        :class:`ScopeRefused` (after auditing it) unless the address may be probed.

        The policy is frozen, so its verdict on an address is computed once per gate (a TLS
        enumeration asks it for every one of its dozens of connections); every refusal is
        still recorded and audited."""
        if address in self._verdicts:
            reason = self._verdicts[address]
        else:
            reason = self.policy.verdict(address)
            if reason is None and self.egress is not None:
                reason = self.egress(address)
            if len(self._verdicts) >= VERDICT_CACHE:  # memory flat over 100,000 targets
                self._verdicts.clear()
            self._verdicts[address] = reason
        if reason is not None:
            self.refuse(address, reason)
        return str(canonical_address(address))

    def refuse(self, target: str, reason: str) -> NoReturn:
        """Record and audit a refusal, then raise it."""
        self.refusals.append((target, reason))
        if self._audit is not None:
            self._audit(target, reason)
        raise ScopeRefused(target, reason)

    def _host(self, address: str) -> _HostState:
        state = self._hosts.get(address)
        if state is None:
            state = _HostState(asyncio.Semaphore(self.limits.connections_per_host))
            self._hosts[address] = state
        return state

    @asynccontextmanager
    async def connection(self, address: str) -> AsyncIterator[str]:
        """Hold one connection slot to ``address``: scope, per-host cap, spacing, a token.
        Yields the canonical address to connect to."""
        destination = self.authorise(address)
        state = self._host(destination)
        state.users += 1
        try:
            async with state.slots:
                if self.limits.host_delay_ms:
                    async with state.lock:
                        wait = (state.last_connect + self.limits.host_delay_ms / 1000
                                - time.monotonic())
                        if wait > 0:
                            await asyncio.sleep(wait)
                        state.last_connect = time.monotonic()
                await self.bucket.take()
                self.connections += 1
                yield destination
        finally:
            state.users -= 1
            # A host nobody holds or waits for is forgotten (memory flat in the number of
            # targets), unless its spacing still has to be kept.
            if state.users == 0 and (
                    not self.limits.host_delay_ms
                    or time.monotonic() - state.last_connect >= self.limits.host_delay_ms / 1000):
                self._hosts.pop(destination, None)

    async def packets(self, address: str, count: int = 1) -> str:
        """Authorise and pay for ``count`` raw packets to ``address`` (discovery probes);
        returns the canonical address to send them to."""
        destination = self.authorise(address)
        await self.bucket.take(count)
        return destination


def policy_from(
    authorised: Iterable[str], deny: Iterable[str] = (), global_deny: Iterable[str] = ()
) -> ScopePolicy:
    """Build a policy from CIDR strings."""
    return ScopePolicy(
        tuple(ipaddress.ip_network(c) for c in authorised),
        tuple(ipaddress.ip_network(c) for c in deny),
        tuple(ipaddress.ip_network(c) for c in global_deny),
    )
