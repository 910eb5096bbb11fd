"""The lab's cloud tenants enforce their security groups with nftables (issue 16 item 4).

Generated from the same OpenStack bodies the tests serve to openstacksdk
(``lab/cloud/openstack/*.json``, read by :mod:`sentinel.cloud.openstack`), plus the one
deliberate difference declared in ``lab/cloud/lab.yml`` (``drift``). Each instance's port gets
an ``inet`` table in its host's namespace: an input chain with policy drop, established and
related traffic, loopback, ICMP echo and ICMPv6 echo and neighbour discovery (so discovery and
SLAAC keep working), then one accept per ingress rule of the port's groups, IPv4 rules for
IPv4 and IPv6 rules for IPv6, ``remote_ip_prefix`` as a source range and ``remote_group_id``
as the addresses of that group's member ports (of the rule's family). Egress is not filtered
(every lab group allows all egress, as Neutron's default groups do).
"""

from __future__ import annotations

import hashlib
import ipaddress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sentinel.cloud.model import Inventory, Port, Rule
from sentinel.cloud.openstack import load_dir
from sentinel.errors import InputError, SourceLocation
from sentinel.lab.procs import ns_argv, run
from sentinel.yamlio import load_yaml

LAB_CLOUD = Path(__file__).resolve().parents[2] / "lab" / "cloud"
TABLE = "sentinel_cloud"
_ICMP4 = "echo-request, echo-reply, destination-unreachable, time-exceeded"
_ICMP6 = ("echo-request, echo-reply, destination-unreachable, packet-too-big, time-exceeded, "
          "parameter-problem, nd-router-solicit, nd-router-advert, nd-neighbor-solicit, "
          "nd-neighbor-advert")


@dataclass(frozen=True)
class Drift:
    """One accept that no security group declares (the lab's deliberate difference)."""

    host: str  # the Nova server name (= the lab host id)
    family: int
    protocol: str
    port: int
    source: str
    why: str


@dataclass(frozen=True)
class LabCloud:
    inventory: Inventory
    tenants: list[dict[str, str]]
    drift: list[Drift]

    def server_port(self, host: str) -> Port | None:
        """The port of the instance named ``host``, if the inventory has one."""
        servers = {s.id for s in self.inventory.servers if s.name == host}
        return next((p for p in self.inventory.ports if p.device in servers), None)


def digest(folder: Path = LAB_CLOUD) -> str:
    """A digest of the lab's cloud data (every file under ``lab/cloud``, by path and bytes):
    the security groups the lab enforces are built from it, so a change means a rebuild."""
    h = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        h.update(path.relative_to(folder).as_posix().encode() + b"\0")
        h.update(path.read_bytes() + b"\0")
    return h.hexdigest()


def load_lab_cloud(folder: Path = LAB_CLOUD) -> LabCloud:
    """The lab's declared inventory and its tenants and drift."""
    inventory = load_dir(folder / "openstack")
    raw = load_yaml(folder / "lab.yml").data
    where = SourceLocation(str(folder / "lab.yml"))
    if not isinstance(raw, dict):
        raise InputError("expected a mapping", where)
    tenants = [{str(k): str(v) for k, v in t.items()} for t in raw.get("tenants", [])]
    drift = []
    for entry in raw.get("drift", []):
        try:
            drift.append(Drift(host=str(entry["host"]), family=int(entry["family"]),
                               protocol=str(entry["protocol"]), port=int(entry["port"]),
                               source=str(ipaddress.ip_network(entry["from"])),
                               why=str(entry.get("why", ""))))
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(f"drift entry {entry!r}: {exc}", where) from None
    return LabCloud(inventory, tenants, drift)


def _sources(rule: Rule, inventory: Inventory) -> list[str] | None:
    """The rule's source addresses: [] for every address of its family, None for nobody
    (a remote group without members of the family)."""
    net = rule.remote_network
    if net is not None:
        return [] if net.prefixlen == 0 else [str(net)]
    found = inventory.members(rule.remote_group or "", rule.family)
    return found or None


def _match(family: int, protocol: str | None, low: int | None, high: int | None,
           sources: list[str]) -> str:
    parts = ["meta nfproto ipv4" if family == 4 else "meta nfproto ipv6"]
    if sources:
        addr = "ip saddr" if family == 4 else "ip6 saddr"
        parts = [f"{addr} {sources[0]}" if len(sources) == 1
                 else f"{addr} {{ {', '.join(sources)} }}"]
    if protocol in ("tcp", "udp"):
        first, last = low or 1, high or 65535
        if (first, last) == (1, 65535):
            parts.append(f"meta l4proto {protocol}")
        else:
            ports = str(first) if first == last else f"{first}-{last}"
            parts.append(f"{protocol} dport {ports}")
    elif protocol == "icmp":
        parts.append("meta l4proto icmp")
    elif protocol == "icmpv6":
        parts.append("meta l4proto ipv6-icmp")
    elif protocol is not None:
        parts.append(f"meta l4proto {protocol}")
    return " ".join(parts)


def port_rules(inventory: Inventory, port: Port) -> list[str]:
    """One nftables accept statement per ingress rule of the port's groups."""
    groups = {g.id: g for g in inventory.groups}
    out: list[str] = []
    for group_id in port.groups:
        group = groups.get(group_id)
        if group is None:
            continue
        for rule in group.rules:
            if rule.direction != "ingress":
                continue
            sources = _sources(rule, inventory)
            if sources is None:
                continue
            match = _match(rule.family, rule.protocol, rule.port_min, rule.port_max, sources)
            out.append(f'{match} accept comment "sg {group.name} rule {rule.id}"')
    return out


def ruleset(lab: LabCloud, host: str) -> str | None:
    """The nftables script for the instance named ``host`` (None: not an instance)."""
    port = lab.server_port(host)
    if port is None:
        return None
    lines = [f"table inet {TABLE} {{", "  chain input {",
             "    type filter hook input priority filter; policy drop;",
             "    ct state established,related accept",
             "    ct state invalid drop",
             '    iifname "lo" accept',
             f"    icmp type {{ {_ICMP4} }} accept",
             f"    icmpv6 type {{ {_ICMP6} }} accept"]
    if not port.port_security:
        lines.append('    accept comment "port security disabled"')
    lines += [f"    {statement}" for statement in port_rules(lab.inventory, port)]
    for drift in lab.drift:
        if drift.host == host:
            match = _match(drift.family, drift.protocol, drift.port, drift.port, [drift.source])
            lines.append(f'    {match} accept comment "drift: no group allows this"')
    lines += ["  }", "}"]
    # Flushed first, so applying it twice leaves one table.
    return f"table inet {TABLE}\ndelete table inet {TABLE}\n" + "\n".join(lines) + "\n"


def describe(lab: LabCloud) -> dict[str, Any]:
    """Which lab hosts are instances of which project (for the playbook and the tests)."""
    names = {s.id: s.name for s in lab.inventory.servers}
    return {names[p.device]: {"project": p.project, "addresses": list(p.addresses)}
            for p in lab.inventory.ports if p.device in names}


def accepts(lab: LabCloud, host: str, *, address: str, port: int, protocol: str,
            source: str) -> bool:
    """Whether the nftables of instance ``host`` let ``source`` reach ``address``:``port``
    (what :func:`ruleset` enforces: the groups' rules, then the declared drift). A host that
    is no instance has no table and lets everything in."""
    own = lab.server_port(host)
    if own is None or not own.port_security:
        return True
    src, family = ipaddress.ip_address(source), ipaddress.ip_address(address).version
    if src.version != family:
        return False
    groups = {g.id: g for g in lab.inventory.groups}
    for group in (groups[g] for g in own.groups if g in groups):
        for rule in group.rules:
            if rule.direction != "ingress" or rule.family != family:
                continue
            if not rule.opens(port, protocol):
                continue
            net = rule.remote_network
            if (src in net) if net is not None else (
                    str(src) in lab.inventory.members(rule.remote_group or "", family)):
                return True
    return any(d.host == host and d.family == family and d.protocol == protocol
               and d.port == port and src in ipaddress.ip_network(d.source) for d in lab.drift)


def apply(namespace: str, host: str, lab: LabCloud | None = None) -> bool:
    """Load the instance's table into its namespace (False: ``host`` is no instance)."""
    text = ruleset(lab or load_lab_cloud(), host)
    if text is None:
        return False
    run(ns_argv(namespace, ["nft", "-f", "-"]), input_text=text)
    return True
