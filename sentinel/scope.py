"""Authorisation and rate governance: the one gate every network action passes.

A :class:`Gate` answers two questions before anything is sent: is this address inside the
authorised scope and outside every deny list (the global one always wins), and may another
packet or connection go now under the shared budget (packets per second, connections per
host, concurrent hosts, delay between connections to one host). Every probe kind draws on the
same gate, and every refusal is handed to an audit callback before it is raised.
"""

from __future__ import annotations

import asyncio
import ipaddress
import time
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Protocol

from sentinel.errors import ScopeRefused

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


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


@dataclass(frozen=True)
class ScopePolicy:
    """Authorised networks, the playbook's deny list and the organisation's global deny list."""

    authorised: tuple[IPNetwork, ...]
    deny: tuple[IPNetwork, ...] = ()
    global_deny: tuple[IPNetwork, ...] = ()

    def verdict(self, address: str) -> str | None:
        """None when the address may be probed, else the reason it may not."""
        try:
            ip = ipaddress.ip_address(address.split("%", 1)[0])
        except ValueError:
            return "not an IP address"
        for net in self.global_deny:
            if ip.version == net.version and ip in net:
                return f"inside the global deny list ({net})"
        for net in self.deny:
            if ip.version == net.version and ip in net:
                return f"inside the playbook's deny list ({net})"
        if not any(ip.version == net.version and ip in net for net in self.authorised):
            return "outside the authorised scope"
        return None

    def network_verdict(self, network: IPNetwork) -> str | None:
        """None when a whole network lies inside scope and touches no deny list."""
        for label, nets in (
            ("global deny list", self.global_deny),
            ("playbook's deny list", self.deny),
        ):
            for net in nets:
                if net.version == network.version and network.overlaps(net):
                    return f"overlaps the {label} ({net})"
        if not any(
            network.version == net.version and network.subnet_of(net)  # type: ignore[arg-type]
            for net in self.authorised
        ):
            return "outside the authorised scope"
        return None


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


class Gate:
    """The single gate: scope check, then budget. Create one per scan and pass it in."""

    def __init__(
        self, policy: ScopePolicy, limits: Limits, audit: AuditHook | None = None
    ) -> None:
        self.policy = policy
        self.limits = limits
        self.bucket = TokenBucket(limits.packets_per_second)
        self.host_slots = asyncio.Semaphore(limits.concurrent_hosts)
        self._hosts: dict[str, _HostState] = {}
        self._audit = audit
        self.refusals: list[tuple[str, str]] = []
        self.connections = 0
        self._verdicts: dict[str, str | None] = {}

    def authorise(self, address: str) -> None:
        """Raise :class:`ScopeRefused` (after auditing it) unless the address may be probed.

        The policy is frozen, so its verdict on an address is computed once per gate (a TLS
        enumeration asks it for every one of its dozens of connections); every refusal is
        still recorded and audited."""
        if address in self._verdicts:
            reason = self._verdicts[address]
        else:
            reason = self._verdicts[address] = self.policy.verdict(address)
        if reason is not None:
            self.refusals.append((address, reason))
            if self._audit is not None:
                self._audit(address, reason)
            raise ScopeRefused(address, reason)

    def _host(self, address: str) -> _HostState:
        state = self._hosts.get(address)
        if state is None:
            state = _HostState(asyncio.Semaphore(self.limits.connections_per_host))
            self._hosts[address] = state
        return state

    @asynccontextmanager
    async def connection(self, address: str) -> AsyncIterator[None]:
        """Hold one connection slot to ``address``: scope, per-host cap, spacing, a token."""
        self.authorise(address)
        state = self._host(address)
        async with state.slots:
            if self.limits.host_delay_ms:
                async with state.lock:
                    wait = state.last_connect + self.limits.host_delay_ms / 1000 - time.monotonic()
                    if wait > 0:
                        await asyncio.sleep(wait)
                    state.last_connect = time.monotonic()
            await self.bucket.take()
            self.connections += 1
            yield

    async def packets(self, address: str, count: int = 1) -> None:
        """Authorise and pay for ``count`` raw packets to ``address`` (discovery probes)."""
        self.authorise(address)
        await self.bucket.take(count)


def policy_from(
    authorised: Iterable[str], deny: Iterable[str] = (), global_deny: Iterable[str] = ()
) -> ScopePolicy:
    """Build a policy from CIDR strings."""
    return ScopePolicy(
        tuple(ipaddress.ip_network(c) for c in authorised),
        tuple(ipaddress.ip_network(c) for c in deny),
        tuple(ipaddress.ip_network(c) for c in global_deny),
    )
