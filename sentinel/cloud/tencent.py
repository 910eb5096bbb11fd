"""Tencent Cloud (TCE): the tenant inventory from VPC and CVM API (2017-03-12) response bodies.

The bodies are exactly what the APIs return (``{"Response": {...}}``; the inner object alone,
as ``tccli`` prints it, is read too): ``DescribeSecurityGroups`` (``SecurityGroupSet``),
``DescribeSecurityGroupPolicies`` (one per group, ``SecurityGroupPolicySet`` with ``Ingress``
and ``Egress``), ``DescribeAddresses`` (``AddressSet``), ``DescribeVpcs`` (``VpcSet``),
``DescribeSubnets`` (``SubnetSet``), ``DescribeNetworkInterfaces``
(``NetworkInterfaceSet``) and CVM ``DescribeInstances`` (``InstanceSet``). :func:`load_dir`
reads them from a folder; :func:`parse` takes them from memory (``sentinel cloud collect
--provider tencent`` fetches them through tencentcloud-sdk-python).

The mapping into the provider-neutral inventory:

- a VPC is a network, its subnets' ``CidrBlock`` and ``Ipv6CidrBlock`` are one subnet each;
- an elastic network interface (ENI) is a port, an elastic IP (EIP) a floating IP;
- a project is Tencent's project id (``ProjectId``, ``"0"`` the default project). Groups and
  instances carry it; an ENI takes its instance's (else its first group's), an EIP its
  instance's or ENI's, a VPC the one most of its ENIs have, a subnet its VPC's; what none of
  these reach is in project ``"0"``;
- a policy list is ordered, the first match wins: an ``ACCEPT`` policy wholly covered by an
  earlier ``DROP`` policy (same family, protocol and ports within, remote range within) never
  lets anything in and is left out; ``DROP`` policies are not rules of the model. A
  ``SecurityGroupId`` or ``AddressTemplate`` remote is a remote group (not a range); a policy
  naming a ``ServiceTemplate`` (its protocols and ports are not in the body) is left out.
"""

from __future__ import annotations

import ipaddress
import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sentinel.cloud.model import (
    Direction,
    Family,
    FloatingIp,
    Inventory,
    Network,
    Port,
    Rule,
    SecurityGroup,
    Server,
    Subnet,
)
from sentinel.cloud.openstack import MAX_ITEMS, _address, _Bad, _get, _mapping, read_body
from sentinel.errors import InputError, SourceLocation

PROVIDER = "tencentcloud"  # the playbook's tenants[].provider
DEFAULT_PROJECT = "0"

# file name → (action, the response's list key, the inventory collection it fills)
FILES: dict[str, tuple[str, str, str]] = {
    "security-groups.json": ("DescribeSecurityGroups", "SecurityGroupSet", "security_groups"),
    "addresses.json": ("DescribeAddresses", "AddressSet", "floatingips"),
    "vpcs.json": ("DescribeVpcs", "VpcSet", "networks"),
    "subnets.json": ("DescribeSubnets", "SubnetSet", "subnets"),
    "network-interfaces.json": ("DescribeNetworkInterfaces", "NetworkInterfaceSet", "ports"),
    "instances.json": ("DescribeInstances", "InstanceSet", "servers"),
}
POLICIES = "security-group-policies"  # folder: <group id>.json, DescribeSecurityGroupPolicies
# A resource id as Tencent writes them (sg-1a2b3c4d); anything else never names a file.
RESOURCE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
MAX_PORTS_LISTED = 64  # ports in one comma-separated Port value ("80,443")

_PROTOCOLS: dict[str, str | None] = {"ALL": None, "TCP": "tcp", "UDP": "udp", "ICMP": "icmp",
                                     "ICMPV6": "icmpv6", "GRE": "gre"}


def policies_name(group: str) -> str:
    """The file of a group's policies, relative to the folder; refuses an id that is not one."""
    if not RESOURCE_ID.fullmatch(group):
        raise _Bad("SecurityGroupId", f"not a security group id: {group[:60]!r}")
    return f"{POLICIES}/{group}.json"


def response(body: Any, key: str) -> list[Any]:
    """The list ``key`` of a body, its ``Response`` wrapper optional; an API error body is
    an error naming its code."""
    top = _mapping(body, "(body)")
    where = "Response"
    if "Response" in top:
        top = _mapping(top["Response"], "Response")
    else:
        where = ""
    error = top.get("Error")
    if error is not None:
        err = _mapping(error, f"{where}.Error".lstrip("."))
        raise _Bad(f"{where}.Error".lstrip("."),
                   f"the API answered an error: {str(err.get('Code'))[:80]}: "
                   f"{str(err.get('Message'))[:200]}")
    items = top.get(key)
    path = f"{where}.{key}".lstrip(".")
    if not isinstance(items, list):
        raise _Bad(path, f"expected the list {key!r} in the body")
    if len(items) > MAX_ITEMS:
        raise _Bad(path, f"more than {MAX_ITEMS} items")
    return items


def _text(item: Mapping[str, Any], key: str) -> str:
    value = item.get(key)
    return value if isinstance(value, str) else ""


def _project_of(value: Any, path: str) -> str:
    if value is None or value == "":
        return DEFAULT_PROJECT
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise _Bad(path, "expected a project id")
    return str(value)[:64]


@dataclass(frozen=True)
class _Policy:
    action: str
    rule: Rule


def _ports(value: Any, path: str) -> list[tuple[int | None, int | None]]:
    if value is None or (isinstance(value, str) and value.strip().upper() in ("", "ALL")):
        return [(None, None)]
    if not isinstance(value, str):
        raise _Bad(path, "expected a port string (22, 80,443, 3306-20000 or ALL)")
    parts = value.split(",")
    if len(parts) > MAX_PORTS_LISTED:
        raise _Bad(path, f"more than {MAX_PORTS_LISTED} ports listed")
    out: list[tuple[int | None, int | None]] = []
    for part in parts:
        low, dash, high = part.strip().partition("-")
        if not low.isdigit() or (dash and not high.isdigit()):
            raise _Bad(path, f"not a port or range: {part[:30]!r}")
        first, last = int(low), int(high or low)
        if not (0 <= first <= last <= 65535):
            raise _Bad(path, f"not a port range: {part[:30]!r}")
        out.append((first, last))
    return out


def _cidr(cidr: str, family: int, path: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    """A range of the family its field names, or a located error."""
    try:
        network = ipaddress.ip_network(cidr, strict=False)
    except ValueError:
        raise _Bad(path, f"not a CIDR: {cidr[:60]!r}") from None
    if network.version != family:
        raise _Bad(path, f"an IPv{network.version} range")
    return network


def _template(item: Mapping[str, Any], key: str) -> str | None:
    """The id a ``ServiceTemplate``/``AddressTemplate`` object names, if any."""
    value = item.get(key)
    if isinstance(value, dict):
        ids = [v for v in value.values() if isinstance(v, str) and v]
        return ids[0] if ids else None
    return value if isinstance(value, str) and value else None


def _policies(item: Mapping[str, Any], group: str, direction: Direction,
              path: str) -> list[_Policy]:
    action = _get(item, "Action", path, str).upper()
    if action not in ("ACCEPT", "DROP"):
        raise _Bad(f"{path}.Action", f"expected ACCEPT or DROP, found {action[:20]!r}")
    if _template(item, "ServiceTemplate") is not None:
        return []
    name = _get(item, "Protocol", path, str, optional=True) or "ALL"
    upper = name.upper()
    protocol = _PROTOCOLS[upper] if upper in _PROTOCOLS else name.lower()[:20]
    ports = _ports(item.get("Port"), f"{path}.Port") if protocol in ("tcp", "udp") else [
        (None, None)]
    index = item.get("PolicyIndex")
    base_id = f"{group}/{direction}/{index if isinstance(index, int) else path}"
    remotes: list[tuple[Family, str | None, str | None]] = []
    for key, family in (("CidrBlock", 4), ("Ipv6CidrBlock", 6)):
        cidr = _text(item, key)
        if not cidr:
            continue
        network = _cidr(cidr, family, f"{path}.{key}")
        remotes.append((4 if family == 4 else 6, str(network), None))
    group_remote = _text(item, "SecurityGroupId") or _template(item, "AddressTemplate")
    if group_remote and not remotes:
        remotes = [(4, None, group_remote), (6, None, group_remote)]
    if not remotes:
        raise _Bad(path, "no CidrBlock, Ipv6CidrBlock, SecurityGroupId or AddressTemplate")
    out: list[_Policy] = []
    for family, prefix, remote_group in remotes:
        for n, (low, high) in enumerate(ports):
            suffix = "" if len(ports) == 1 else f"#{n}"
            rule_id = f"{base_id}/v{family}{suffix}"
            out.append(_Policy(action, Rule(id=rule_id, direction=direction, family=family,
                                            protocol=protocol, port_min=low, port_max=high,
                                            remote_prefix=prefix, remote_group=remote_group)))
    return out


def _covers(drop: Rule, rule: Rule) -> bool:
    """Whether a DROP policy's rule takes everything ``rule`` would let in."""
    if drop.family != rule.family or drop.remote_group is not None:
        return False
    if drop.protocol is not None and drop.protocol != rule.protocol:
        return False
    wide, narrow = drop.remote_network, rule.remote_network
    if wide is None or narrow is None or wide.version != narrow.version:
        return False
    if not narrow.subnet_of(wide):  # type: ignore[arg-type]
        return False
    if drop.protocol is None or drop.protocol not in ("tcp", "udp"):
        return True
    low, high = drop.port_min or 1, drop.port_max or 65535
    return low <= (rule.port_min or 1) and (rule.port_max or 65535) <= high


def rules_of(body: Any, group: str) -> tuple[Rule, ...]:
    """A group's rules from its ``DescribeSecurityGroupPolicies`` body."""
    top = _mapping(body, "(body)")
    where = "Response"
    if "Response" in top:
        top = _mapping(top["Response"], "Response")
    else:
        where = ""
    if "Error" in top:
        response(body, "SecurityGroupPolicySet")  # raises, naming the error
    root = f"{where}.SecurityGroupPolicySet".lstrip(".")
    policy_set = _mapping(top.get("SecurityGroupPolicySet"), root)
    rules: list[Rule] = []
    count = 0
    for key, direction in (("Ingress", "ingress"), ("Egress", "egress")):
        entries = _get(policy_set, key, root, list, optional=True) or []
        count += len(entries)
        if count > MAX_ITEMS:
            raise _Bad(f"{root}.{key}", f"more than {MAX_ITEMS} policies")
        drops: list[Rule] = []
        dir_: Direction = "ingress" if direction == "ingress" else "egress"
        for i, entry in enumerate(entries):
            path = f"{root}.{key}[{i}]"
            for policy in _policies(_mapping(entry, path), group, dir_, path):
                if policy.action == "DROP":
                    drops.append(policy.rule)
                elif not any(_covers(d, policy.rule) for d in drops):
                    rules.append(policy.rule)
    return tuple(rules)


def _instance(item: Mapping[str, Any], path: str) -> Server:
    placement = _get(item, "Placement", path, dict, optional=True) or {}
    found: list[str] = []
    for key in ("PrivateIpAddresses", "IPv6Addresses", "PublicIpAddresses"):
        values = _get(item, key, path, list, optional=True) or []
        found.extend(_address(v, f"{path}.{key}[{i}]") for i, v in enumerate(values))
    return Server(id=_get(item, "InstanceId", path, str),
                  name=_get(item, "InstanceName", path, str, optional=True) or "",
                  project=_project_of(placement.get("ProjectId"), f"{path}.Placement.ProjectId"),
                  status=_get(item, "InstanceState", path, str, optional=True) or "",
                  addresses=tuple(dict.fromkeys(found)))


def _group(item: Mapping[str, Any], path: str, rules: tuple[Rule, ...]) -> SecurityGroup:
    return SecurityGroup(id=_get(item, "SecurityGroupId", path, str),
                         name=_get(item, "SecurityGroupName", path, str, optional=True) or "",
                         project=_project_of(item.get("ProjectId"), f"{path}.ProjectId"),
                         rules=rules)


def _eni(item: Mapping[str, Any], path: str, servers: dict[str, Server],
         groups: dict[str, SecurityGroup]) -> Port:
    attachment = _get(item, "Attachment", path, dict, optional=True) or {}
    instance = attachment.get("InstanceId") or None
    if instance is not None and not isinstance(instance, str):
        raise _Bad(f"{path}.Attachment.InstanceId", "expected an instance id")
    addresses: list[str] = []
    private = _get(item, "PrivateIpAddressSet", path, list, optional=True) or []
    for i, entry in enumerate(private):
        where = f"{path}.PrivateIpAddressSet[{i}]"
        addresses.append(_address(_mapping(entry, where).get("PrivateIpAddress"),
                                  f"{where}.PrivateIpAddress"))
    v6 = _get(item, "Ipv6AddressSet", path, list, optional=True) or []
    for i, entry in enumerate(v6):
        where = f"{path}.Ipv6AddressSet[{i}]"
        addresses.append(_address(_mapping(entry, where).get("Address"), f"{where}.Address"))
    members = _get(item, "GroupSet", path, list, optional=True) or []
    for i, g in enumerate(members):
        if not isinstance(g, str):
            raise _Bad(f"{path}.GroupSet[{i}]", "expected a security group id")
    if instance in servers:
        project = servers[instance].project
    else:
        project = next((groups[g].project for g in members if g in groups), DEFAULT_PROJECT)
    return Port(id=_get(item, "NetworkInterfaceId", path, str), project=project,
                network=_get(item, "VpcId", path, str), device=instance,
                device_owner="tencentcloud:eni" + (":primary" if item.get("Primary") else ""),
                addresses=tuple(addresses), groups=tuple(members))


def _vpc(item: Mapping[str, Any], path: str, project: str) -> Network:
    return Network(id=_get(item, "VpcId", path, str),
                   name=_get(item, "VpcName", path, str, optional=True) or "", project=project)


def _subnets(item: Mapping[str, Any], path: str, project: str) -> list[Subnet]:
    subnet_id = _get(item, "SubnetId", path, str)
    name = _get(item, "SubnetName", path, str, optional=True) or ""
    vpc = _get(item, "VpcId", path, str)
    out: list[Subnet] = []
    for key, family, suffix in (("CidrBlock", 4, ""), ("Ipv6CidrBlock", 6, "/ipv6")):
        cidr = _text(item, key)
        if not cidr:
            continue
        network = _cidr(cidr, family, f"{path}.{key}")
        out.append(Subnet(id=subnet_id + suffix, name=name, project=project, network=vpc,
                          cidr=str(network), family=4 if family == 4 else 6))
    if not out:
        raise _Bad(f"{path}.CidrBlock", "missing")
    return out


def _address_of(item: Mapping[str, Any], path: str, servers: dict[str, Server],
                ports: dict[str, Port]) -> FloatingIp:
    eni = _get(item, "NetworkInterfaceId", path, str, optional=True) or None
    instance = _get(item, "InstanceId", path, str, optional=True) or None
    if eni is None and instance is not None:  # bound to an instance: its primary ENI
        eni = next((p.id for p in sorted(ports.values(), key=lambda p: p.id)
                    if p.device == instance and p.device_owner.endswith(":primary")), None)
    if instance in servers:
        project = servers[instance].project
    elif eni in ports:
        project = ports[eni].project
    else:
        project = DEFAULT_PROJECT
    private = item.get("PrivateAddressIp") or None
    return FloatingIp(id=_get(item, "AddressId", path, str), project=project,
                      address=_address(item.get("AddressIp"), f"{path}.AddressIp"), port=eni,
                      fixed_address=None if private is None else _address(
                          private, f"{path}.PrivateAddressIp"))


def parse(bodies: Mapping[str, Any], *, source: str) -> Inventory:
    """An inventory from response bodies keyed by file name (``security-groups.json``, and
    ``security-group-policies/<group id>.json`` for each group); a missing body is an unknown
    collection."""
    inventory = Inventory(provider=PROVIDER, source=source)
    name = ""

    def items(file: str) -> list[Mapping[str, Any]] | None:
        nonlocal name
        name = file
        if file not in bodies:
            return None
        key = FILES[file][1]
        listed = response(bodies[file], key)
        inventory.known.add(FILES[file][2])
        return [_mapping(item, f"{key}[{i}]") for i, item in enumerate(listed)]

    def at(i: int, file: str) -> str:
        return f"{FILES[file][1]}[{i}]"

    try:
        servers: dict[str, Server] = {}
        for i, item in enumerate(items("instances.json") or []):
            server = _instance(item, at(i, "instances.json"))
            servers[server.id] = server
        groups: dict[str, SecurityGroup] = {}
        for i, item in enumerate(items("security-groups.json") or []):
            path = at(i, "security-groups.json")
            group_id = _get(item, "SecurityGroupId", path, str)
            if not RESOURCE_ID.fullmatch(group_id):
                raise _Bad(f"{path}.SecurityGroupId", f"not a resource id: {group_id[:60]!r}")
            name = policies_name(group_id)
            rules = rules_of(bodies[name], group_id) if name in bodies else ()
            name = "security-groups.json"
            groups[group_id] = _group(item, path, rules)
        ports: dict[str, Port] = {}
        for i, item in enumerate(items("network-interfaces.json") or []):
            port = _eni(item, at(i, "network-interfaces.json"), servers, groups)
            ports[port.id] = port
        votes: dict[str, Counter[str]] = {}
        for port in ports.values():
            votes.setdefault(port.network, Counter())[port.project] += 1

        def project_of_vpc(vpc: str) -> str:
            counted = votes.get(vpc)
            if not counted:
                return DEFAULT_PROJECT
            return sorted(counted.items(), key=lambda kv: (-kv[1], kv[0]))[0][0]

        networks: dict[str, Network] = {}
        for i, item in enumerate(items("vpcs.json") or []):
            vpc_id = _get(item, "VpcId", at(i, "vpcs.json"), str)
            networks[vpc_id] = _vpc(item, at(i, "vpcs.json"), project_of_vpc(vpc_id))
        subnets: list[Subnet] = []
        for i, item in enumerate(items("subnets.json") or []):
            vpc_id = _get(item, "VpcId", at(i, "subnets.json"), str)
            project = networks[vpc_id].project if vpc_id in networks else project_of_vpc(vpc_id)
            subnets.extend(_subnets(item, at(i, "subnets.json"), project))
        addresses = [_address_of(item, at(i, "addresses.json"), servers, ports)
                     for i, item in enumerate(items("addresses.json") or [])]
    except _Bad as bad:
        raise InputError(bad.message, SourceLocation(f"{source}/{name}", field=bad.path)
                         ) from None
    inventory.servers.extend(servers.values())
    inventory.groups.extend(groups.values())
    inventory.ports.extend(ports.values())
    inventory.networks.extend(networks.values())
    inventory.subnets.extend(subnets)
    inventory.floating_ips.extend(addresses)
    return inventory


def load_dir(folder: Path) -> Inventory:
    """The inventory from a folder of dumped bodies (each optional; a folder with none of
    them is an error); a group's policies are read from ``security-group-policies/``."""
    if not folder.is_dir():
        raise InputError("not a folder", SourceLocation(str(folder)))
    bodies: dict[str, Any] = {name: read_body(folder / name) for name in FILES
                              if (folder / name).exists()}
    if not bodies:
        raise InputError(f"none of {', '.join(FILES)} found", SourceLocation(str(folder)))
    if "security-groups.json" in bodies:
        try:
            listed = response(bodies["security-groups.json"], "SecurityGroupSet")
        except _Bad as bad:
            raise InputError(bad.message, SourceLocation(
                f"{folder}/security-groups.json", field=bad.path)) from None
        for item in listed:
            group = item.get("SecurityGroupId") if isinstance(item, dict) else None
            if isinstance(group, str) and RESOURCE_ID.fullmatch(group):
                path = folder / policies_name(group)
                if path.exists():
                    bodies[policies_name(group)] = read_body(path)
    return parse(bodies, source=str(folder))
