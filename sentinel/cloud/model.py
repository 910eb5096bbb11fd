"""The tenant inventory: what a cloud declares about its tenants (projects).

Provider-neutral and plain: every resource keeps the provider's id and its project id, so a
resource of a project that no playbook tenant maps is still there (and reported, not dropped).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Literal

from sentinel.scope import IPNetwork

Direction = Literal["ingress", "egress"]
Family = Literal[4, 6]


@dataclass(frozen=True)
class Rule:
    """One security-group rule. ``protocol`` None means every protocol; ``port_min`` and
    ``port_max`` None mean every port; ``remote_prefix`` None with no ``remote_group`` means
    every address of the rule's family."""

    id: str
    direction: Direction
    family: Family
    protocol: str | None
    port_min: int | None
    port_max: int | None
    remote_prefix: str | None
    remote_group: str | None

    @property
    def remote_network(self) -> IPNetwork | None:
        """The remote range the rule opens to; None when it names a remote group."""
        if self.remote_group is not None and self.remote_prefix is None:
            return None
        if self.remote_prefix is None:
            return ipaddress.ip_network("0.0.0.0/0" if self.family == 4 else "::/0")
        return ipaddress.ip_network(self.remote_prefix, strict=False)

    @property
    def to_everyone(self) -> bool:
        net = self.remote_network
        return net is not None and net.prefixlen == 0

    @property
    def any_port(self) -> bool:
        """Every protocol, or TCP/UDP with every port."""
        if self.protocol is None:
            return True
        if self.protocol not in ("tcp", "udp"):
            return False
        low, high = self.port_min or 1, self.port_max or 65535
        return low <= 1 and high >= 65535

    def opens(self, port: int, transport: str) -> bool:
        """Whether the rule lets ``port``/``transport`` in."""
        if self.protocol is not None and self.protocol != transport:
            return False
        low, high = self.port_min or 1, self.port_max or 65535
        return low <= port <= high

    def label(self) -> str:
        """``tcp/22 from 0.0.0.0/0 (IPv4)``: the rule as people read it."""
        proto = self.protocol or "any"
        if self.protocol in ("tcp", "udp"):
            low, high = self.port_min or 1, self.port_max or 65535
            ports = "all" if (low, high) == (1, 65535) else (
                str(low) if low == high else f"{low}-{high}")
            proto = f"{proto}/{ports}"
        remote = (f"group {self.remote_group}" if self.remote_network is None
                  else str(self.remote_network))
        return f"{proto} from {remote} (IPv{self.family})"


@dataclass(frozen=True)
class SecurityGroup:
    id: str
    name: str
    project: str
    rules: tuple[Rule, ...] = ()


@dataclass(frozen=True)
class Subnet:
    id: str
    name: str
    project: str
    network: str
    cidr: str
    family: Family


@dataclass(frozen=True)
class Network:
    id: str
    name: str
    project: str
    external: bool = False
    shared: bool = False


@dataclass(frozen=True)
class Port:
    """A network interface: its addresses, the groups that guard it, what it is attached to."""

    id: str
    project: str
    network: str
    device: str | None
    device_owner: str
    addresses: tuple[str, ...]
    groups: tuple[str, ...]
    port_security: bool = True  # False: no group filters the port at all


@dataclass(frozen=True)
class Server:
    id: str
    name: str
    project: str
    status: str
    addresses: tuple[str, ...]


@dataclass(frozen=True)
class FloatingIp:
    id: str
    project: str
    address: str
    port: str | None
    fixed_address: str | None


@dataclass
class Inventory:
    """Everything one provider declared, across projects."""

    provider: str
    source: str
    groups: list[SecurityGroup] = field(default_factory=list)
    subnets: list[Subnet] = field(default_factory=list)
    networks: list[Network] = field(default_factory=list)
    ports: list[Port] = field(default_factory=list)
    servers: list[Server] = field(default_factory=list)
    floating_ips: list[FloatingIp] = field(default_factory=list)
    # The collections the provider answered ("ports", "subnets"...): a missing one is
    # unknown, not empty, so nothing is judged on its absence.
    known: set[str] = field(default_factory=set)

    def projects(self) -> set[str]:
        every: list[object] = [*self.groups, *self.subnets, *self.networks, *self.ports,
                               *self.servers, *self.floating_ips]
        return {getattr(r, "project", "") for r in every}

    def ranges(self, project: str) -> list[IPNetwork]:
        """The project's own subnet ranges."""
        return [ipaddress.ip_network(s.cidr, strict=False) for s in self.subnets
                if s.project == project]

    def members(self, group: str, family: int) -> list[str]:
        """The addresses of one family of the ports ``group`` guards: the sources a rule
        naming it as ``remote_group`` lets in."""
        found = {a for p in self.ports if group in p.groups for a in p.addresses
                 if ipaddress.ip_address(a).version == family}
        return sorted(found, key=ipaddress.ip_address)
