"""An inventory as resources to judge: one record per security group, network, floating IP
and instance, with the facts its checks need, owned by the tenant its project maps to.

The facts are plain JSON (they are stored as the observation of probe kind ``cloud``): a
group carries its rules, how many ports use it, its tenant's own ranges and every other
tenant's ranges; a floating IP the ingress rules that guard the port it is attached to.
A resource of a project that no playbook tenant maps keeps ``tenant`` None: it is judged
and reported all the same, never dropped.
"""

from __future__ import annotations

import ipaddress
from collections import defaultdict
from dataclasses import asdict, dataclass
from typing import Any

from sentinel.cloud.model import Inventory, Rule
from sentinel.playbook import Playbook, Tenant
from sentinel.scope import IPNetwork

NO_ADDRESS = "0.0.0.0"  # the endpoint of a resource with no address of its own (a group)  # noqa: S104


@dataclass(frozen=True)
class CloudResource:
    kind: str  # security-group | network | floating-ip | instance
    id: str
    name: str
    project: str
    tenant: Tenant | None
    address: str
    addresses: tuple[str, ...]
    facts: dict[str, Any]

    @property
    def asset_id(self) -> str:
        return f"{self.facts['provider']}:{self.kind}:{self.id}"


def _overlaps_any(cidr: str, prefixes: list[IPNetwork]) -> bool:
    net = ipaddress.ip_network(cidr)
    return any(p.version == net.version and p.overlaps(net) for p in prefixes)


def tenants_of(playbook: Playbook, provider: str) -> dict[str, Tenant]:
    """project id → the playbook's tenant, for one provider."""
    return {t.project: t for t in playbook.tenants if t.provider == provider}


def _rule_facts(rule: Rule, group: str | None = None) -> dict[str, Any]:
    facts = asdict(rule)
    if group is not None:
        facts["group"] = group
    return facts


def resources(inventory: Inventory, mapping: dict[str, Tenant]) -> list[CloudResource]:
    """Every resource of the inventory, in a stable order (kind, then id)."""
    provider = inventory.provider
    # A tenant's ranges: its subnets, except those of external or shared networks (the
    # provider's floating-IP range is nobody's tenant range).
    common = {n.id for n in inventory.networks if n.external or n.shared}
    ranges: dict[str, list[str]] = defaultdict(list)
    for subnet in inventory.subnets:
        if subnet.network not in common:
            ranges[subnet.project].append(subnet.cidr)

    def base(kind: str, project: str) -> dict[str, Any]:
        tenant = mapping.get(project)
        return {"kind": kind, "provider": provider, "project": project,
                "tenant": tenant.id if tenant else None, "source": inventory.source,
                "known": sorted(inventory.known)}

    out: list[CloudResource] = []
    users: dict[str, int] = defaultdict(int)
    for each in inventory.ports:
        for group_id in each.groups:
            users[group_id] += 1
    groups = {g.id: g for g in inventory.groups}
    for group in sorted(inventory.groups, key=lambda g: g.id):
        # Other projects' ranges that a rule of this group names (bounded by the rules, not
        # by the size of the cloud): the assessor decides whether opening them is a problem.
        named = [r.remote_network for r in group.rules if r.direction == "ingress"]
        prefixes = [n for n in named if n is not None and n.prefixlen > 0]
        others = [{"project": p, "tenant": mapping[p].id if p in mapping else None, "cidr": c}
                  for p in sorted(ranges) if p != group.project for c in ranges[p]
                  if _overlaps_any(c, prefixes)]
        facts = {**base("security-group", group.project),
                 "group": {"id": group.id, "name": group.name},
                 "rules": [_rule_facts(r) for r in group.rules],
                 "ports_using": users.get(group.id, 0),
                 "own_ranges": ranges.get(group.project, []),
                 "other_tenant_ranges": others}
        out.append(CloudResource("security-group", group.id, group.name, group.project,
                                 mapping.get(group.project), NO_ADDRESS, (), facts))
    subnets_of: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for subnet in sorted(inventory.subnets, key=lambda s: s.id):
        subnets_of[subnet.network].append(
            {"id": subnet.id, "name": subnet.name, "cidr": subnet.cidr, "family": subnet.family})
    for network in sorted(inventory.networks, key=lambda n: n.id):
        subs = subnets_of.get(network.id, [])
        facts = {**base("network", network.project),
                 "network": {"id": network.id, "name": network.name},
                 "external": network.external, "shared": network.shared, "subnets": subs}
        address = subs[0]["cidr"].split("/")[0] if subs else NO_ADDRESS
        out.append(CloudResource("network", network.id, network.name, network.project,
                                 mapping.get(network.project), address, (), facts))
    ports = {p.id: p for p in inventory.ports}
    servers = {s.id: s for s in inventory.servers}
    for fip in sorted(inventory.floating_ips, key=lambda f: f.id):
        port = ports.get(fip.port) if fip.port else None
        server = servers.get(port.device) if port and port.device else None
        guarding = [_rule_facts(r, groups[g].name or g) for g in (port.groups if port else ())
                    if g in groups for r in groups[g].rules if r.direction == "ingress"]
        facts = {**base("floating-ip", fip.project), "address": fip.address,
                 "port": fip.port, "fixed_address": fip.fixed_address,
                 "port_known": port is not None,
                 "instance": {"id": server.id, "name": server.name} if server else None,
                 "groups": list(port.groups) if port else [], "ingress_rules": guarding,
                 "port_security": port.port_security if port else None}
        out.append(CloudResource("floating-ip", fip.id, fip.address, fip.project,
                                 mapping.get(fip.project), fip.address, (fip.address,), facts))
    for server in sorted(inventory.servers, key=lambda s: s.id):
        own = [p for p in inventory.ports if p.device == server.id]
        addresses = tuple(dict.fromkeys([*server.addresses,
                                         *(a for p in own for a in p.addresses)]))
        facts = {**base("instance", server.project), "instance": {"id": server.id,
                 "name": server.name, "status": server.status},
                 "addresses": list(addresses),
                 "ports": [{"id": p.id, "network": p.network, "addresses": list(p.addresses),
                            "groups": list(p.groups)} for p in own]}
        out.append(CloudResource("instance", server.id, server.name, server.project,
                                 mapping.get(server.project),
                                 addresses[0] if addresses else NO_ADDRESS, addresses, facts))
    return out


def unmapped_projects(inventory: Inventory, mapping: dict[str, Tenant]) -> list[str]:
    """Projects with resources that no playbook tenant maps."""
    return sorted(p for p in inventory.projects() if p not in mapping)
