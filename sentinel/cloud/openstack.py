"""OpenStack: the tenant inventory from Neutron and Nova response bodies.

The bodies are exactly what the APIs return (Networking API v2.0, Compute API v2.1):
``GET /v2.0/security-groups`` (``{"security_groups": [...]}`` with ``security_group_rules``
inline), ``/v2.0/ports``, ``/v2.0/floatingips``, ``/v2.0/subnets``, ``/v2.0/networks`` and
``GET /servers/detail``. :func:`load_dir` reads them from a folder an operator dumped them
into (each file optional, each read bounded); :func:`parse` takes the same bodies from memory
(``sentinel cloud collect`` fetches them through openstacksdk). Every malformed body is one
:class:`InputError` naming the file and the field.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

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
from sentinel.errors import InputError, SourceLocation
from sentinel.yamlio import read_bounded

MAX_BODY_BYTES = 64 * 1024 * 1024
MAX_ITEMS = 50_000  # resources of one kind (in one body, or over all pages of a collect)
# Values in one body, counted on the text before it is parsed (every value but the first of
# a container follows a comma): bounds the parsed objects' memory, whatever the bytes.
MAX_VALUES = 1_000_000

# file name → the body's top-level key (the API's collection name)
FILES: dict[str, str] = {
    "security-groups.json": "security_groups",
    "ports.json": "ports",
    "floatingips.json": "floatingips",
    "subnets.json": "subnets",
    "networks.json": "networks",
    "servers.json": "servers",
}

_PROTOCOLS = {"6": "tcp", "17": "udp", "1": "icmp", "58": "icmpv6", "ipv6-icmp": "icmpv6",
              "icmpv6": "icmpv6", "any": None, "0": None}

T = TypeVar("T")


class _Bad(Exception):
    def __init__(self, path: str, message: str) -> None:
        super().__init__(message)
        self.path = path
        self.message = message


def _get(item: Mapping[str, Any], key: str, path: str, kind: type | tuple[type, ...],
         *, optional: bool = False) -> Any:
    value = item.get(key)
    if value is None:
        if optional:
            return None
        raise _Bad(f"{path}.{key}", "missing")
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        names = kind.__name__ if isinstance(kind, type) else "/".join(k.__name__ for k in kind)
        raise _Bad(f"{path}.{key}", f"expected {names}, found {type(value).__name__}")
    return value


def _project(item: Mapping[str, Any], path: str) -> str:
    """``project_id`` (current APIs) or ``tenant_id`` (older ones, and Nova)."""
    value = item.get("project_id") or item.get("tenant_id")
    if not isinstance(value, str) or not value:
        raise _Bad(f"{path}.project_id", "missing (neither project_id nor tenant_id)")
    return value


def _address(value: Any, path: str) -> str:
    if not isinstance(value, str):
        raise _Bad(path, "expected an IP address string")
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        raise _Bad(path, f"not an IP address: {value[:60]!r}") from None


def _port_number(item: Mapping[str, Any], key: str, path: str) -> int | None:
    value = _get(item, key, path, int, optional=True)
    if value is not None and not 0 <= value <= 65535:
        raise _Bad(f"{path}.{key}", f"out of range: {value}")
    return value  # type: ignore[no-any-return]


def _protocol(value: Any, path: str) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise _Bad(path, "expected a protocol name or number")
    text = str(value).lower()
    if text in _PROTOCOLS:
        return _PROTOCOLS[text]
    if text.isdigit() and not 0 <= int(text) <= 255:
        raise _Bad(path, f"not an IP protocol number: {text}")
    return text


def _rule(item: Mapping[str, Any], path: str) -> Rule:
    direction = _get(item, "direction", path, str)
    if direction not in ("ingress", "egress"):
        raise _Bad(f"{path}.direction", f"expected ingress or egress, found {direction[:20]!r}")
    ethertype = item.get("ethertype", "IPv4")
    if ethertype not in ("IPv4", "IPv6"):
        raise _Bad(f"{path}.ethertype", "expected IPv4 or IPv6")
    family: Family = 4 if ethertype == "IPv4" else 6
    prefix = _get(item, "remote_ip_prefix", path, str, optional=True)
    if prefix is not None:
        try:
            network = ipaddress.ip_network(prefix, strict=False)
        except ValueError:
            raise _Bad(f"{path}.remote_ip_prefix", f"not a CIDR: {prefix[:60]!r}") from None
        if network.version != family:
            raise _Bad(f"{path}.remote_ip_prefix", f"an IPv{network.version} prefix in an "
                                                   f"{ethertype} rule")
        prefix = str(network)
    low = _port_number(item, "port_range_min", path)
    high = _port_number(item, "port_range_max", path)
    protocol = _protocol(item.get("protocol"), f"{path}.protocol")
    if protocol in ("tcp", "udp") and low is not None and high is not None and low > high:
        raise _Bad(f"{path}.port_range_min", f"{low} is above port_range_max {high}")
    if protocol not in ("tcp", "udp"):  # ICMP type/code, or nothing: no ports
        low = high = None
    dir_: Direction = "ingress" if direction == "ingress" else "egress"
    return Rule(id=_get(item, "id", path, str), direction=dir_, family=family,
                protocol=protocol, port_min=low, port_max=high, remote_prefix=prefix,
                remote_group=_get(item, "remote_group_id", path, str, optional=True))


def _group(item: Mapping[str, Any], path: str) -> SecurityGroup:
    rules = _get(item, "security_group_rules", path, list, optional=True) or []
    return SecurityGroup(
        id=_get(item, "id", path, str), name=_get(item, "name", path, str, optional=True) or "",
        project=_project(item, path),
        rules=tuple(_rule(_mapping(r, f"{path}.security_group_rules[{i}]"),
                          f"{path}.security_group_rules[{i}]") for i, r in enumerate(rules)))


def _subnet(item: Mapping[str, Any], path: str) -> Subnet:
    cidr = _get(item, "cidr", path, str)
    try:
        network = ipaddress.ip_network(cidr, strict=False)
    except ValueError:
        raise _Bad(f"{path}.cidr", f"not a CIDR: {cidr[:60]!r}") from None
    version = item.get("ip_version", network.version)
    if version != network.version:
        raise _Bad(f"{path}.ip_version", f"{version!r} but cidr is IPv{network.version}")
    return Subnet(id=_get(item, "id", path, str),
                  name=_get(item, "name", path, str, optional=True) or "",
                  project=_project(item, path), network=_get(item, "network_id", path, str),
                  cidr=str(network), family=4 if network.version == 4 else 6)


def _network(item: Mapping[str, Any], path: str) -> Network:
    return Network(id=_get(item, "id", path, str),
                   name=_get(item, "name", path, str, optional=True) or "",
                   project=_project(item, path),
                   external=_get(item, "router:external", path, bool, optional=True) or False,
                   shared=_get(item, "shared", path, bool, optional=True) or False)


def _port(item: Mapping[str, Any], path: str) -> Port:
    fixed = _get(item, "fixed_ips", path, list, optional=True) or []
    addresses = tuple(
        _address(_mapping(f, f"{path}.fixed_ips[{i}]").get("ip_address"),
                 f"{path}.fixed_ips[{i}].ip_address") for i, f in enumerate(fixed))
    groups = _get(item, "security_groups", path, list, optional=True) or []
    for i, g in enumerate(groups):
        if not isinstance(g, str):
            raise _Bad(f"{path}.security_groups[{i}]", "expected a security group id")
    return Port(id=_get(item, "id", path, str), project=_project(item, path),
                network=_get(item, "network_id", path, str),
                device=_get(item, "device_id", path, str, optional=True) or None,
                device_owner=_get(item, "device_owner", path, str, optional=True) or "",
                addresses=addresses, groups=tuple(groups),
                port_security=_get(item, "port_security_enabled", path, bool,
                                   optional=True) is not False)


def _server(item: Mapping[str, Any], path: str) -> Server:
    found: list[str] = []
    nets = _get(item, "addresses", path, dict, optional=True) or {}
    for net, entries in nets.items():
        where = f"{path}.addresses.{str(net)[:60]}"
        if not isinstance(entries, list):
            raise _Bad(where, "expected a list of addresses")
        for i, entry in enumerate(entries):
            found.append(_address(_mapping(entry, f"{where}[{i}]").get("addr"),
                                  f"{where}[{i}].addr"))
    return Server(id=_get(item, "id", path, str),
                  name=_get(item, "name", path, str, optional=True) or "",
                  project=_project(item, path),
                  status=_get(item, "status", path, str, optional=True) or "",
                  addresses=tuple(dict.fromkeys(found)))


def _floating(item: Mapping[str, Any], path: str) -> FloatingIp:
    fixed = item.get("fixed_ip_address")
    return FloatingIp(
        id=_get(item, "id", path, str), project=_project(item, path),
        address=_address(item.get("floating_ip_address"), f"{path}.floating_ip_address"),
        port=_get(item, "port_id", path, str, optional=True),
        fixed_address=None if fixed is None else _address(fixed, f"{path}.fixed_ip_address"))


def _mapping(value: Any, path: str) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise _Bad(path, f"expected an object, found {type(value).__name__}")
    return value


_PARSERS: dict[str, Callable[[Mapping[str, Any], str], Any]] = {
    "security_groups": _group, "ports": _port, "floatingips": _floating,
    "subnets": _subnet, "networks": _network, "servers": _server,
}


def _items(body: Any, key: str, parse_one: Callable[[Mapping[str, Any], str], T]) -> list[T]:
    top = _mapping(body, "(body)")
    items = top.get(key)
    if not isinstance(items, list):
        raise _Bad(key, f"expected the list {key!r} at the top of the body")
    if len(items) > MAX_ITEMS:
        raise _Bad(key, f"more than {MAX_ITEMS} items")
    return [parse_one(_mapping(item, f"{key}[{i}]"), f"{key}[{i}]")
            for i, item in enumerate(items)]


def parse(bodies: Mapping[str, Any], *, source: str) -> Inventory:
    """An inventory from response bodies keyed by file name (``security-groups.json``...);
    a missing body is an empty collection."""
    inventory = Inventory(provider="openstack", source=source)
    for name, key in FILES.items():
        if name not in bodies:
            continue
        try:
            parsed = _items(bodies[name], key, _PARSERS[key])
        except _Bad as bad:
            raise InputError(bad.message, SourceLocation(f"{source}/{name}", field=bad.path)
                             ) from None
        targets: dict[str, list[Any]] = {
            "security_groups": inventory.groups, "ports": inventory.ports,
            "floatingips": inventory.floating_ips, "subnets": inventory.subnets,
            "networks": inventory.networks, "servers": inventory.servers}
        targets[key].extend(parsed)
        inventory.known.add(key)
    return inventory


def read_body(path: Path) -> Any:
    """One JSON body from a file: a regular file, bounded, UTF-8, not nested absurdly."""
    text = read_bounded(path, InputError, MAX_BODY_BYTES)
    return load_body(text, str(path))


def load_body(text: str | bytes, name: str) -> Any:
    """Parse one body, refusing more than ``MAX_VALUES`` values before parsing."""
    if isinstance(text, bytes):
        values = text.count(b",") + text.count(b"[") + text.count(b"{")
    else:
        values = text.count(",") + text.count("[") + text.count("{")
    if values > MAX_VALUES:
        raise InputError(f"more than {MAX_VALUES} values", SourceLocation(name))
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"not JSON: {exc.msg}",
                         SourceLocation(name, exc.lineno, exc.colno)) from None
    except UnicodeDecodeError:
        raise InputError("not UTF-8 JSON", SourceLocation(name)) from None
    except RecursionError:
        raise InputError("nested too deeply", SourceLocation(name)) from None


def load_dir(folder: Path) -> Inventory:
    """The inventory from a folder of dumped bodies; every file is optional, but a folder
    with none of them is an error (a wrong folder, most likely)."""
    if not folder.is_dir():
        raise InputError("not a folder", SourceLocation(str(folder)))
    bodies = {name: read_body(folder / name) for name in FILES if (folder / name).exists()}
    if not bodies:
        raise InputError(f"none of {', '.join(FILES)} found", SourceLocation(str(folder)))
    return parse(bodies, source=str(folder))
