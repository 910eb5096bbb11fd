"""SNMP probe (UDP 161): who answers, with what, and what the device says about IPv6.

One job per endpoint, every datagram paid through the gate:

1. **v3 engine discovery** (RFC 3414 §4) with a hand-built, credential-free request: engine
   id, boots and time. Net-SNMP answers it even when it serves only v1/v2c.
2. **v1/v2c**: a GET of the system group with each community of the short default list
   (``probes/snmp.yml``, at most 8), sent together; every answering one is recorded.
3. **v3 users** from the playbook: the configured level, then each lower level, so an agent
   that also serves the user without privacy is caught.
4. With the best access found: sysDescr, sysObjectID, sysName, IP-MIB ipAddressTable (bulk
   walk) and ipv6IpForwarding → the device's IPv6 readiness facts.

Passphrases live only in :class:`~sentinel.probe_options.ResolvedV3` (masked) and pysnmp's
objects; no fact, error string or repr carries them.
"""

from __future__ import annotations

import asyncio
import ipaddress
import secrets
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from sentinel.catalog.snmp import SnmpCatalog, snmp_catalog
from sentinel.credentials import snmp_credentials
from sentinel.errors import DecodeError, ErrorReason, ProbeError
from sentinel.probe_options import ResolvedV3
from sentinel.probes.base import Network, Planned, Target
from sentinel.probes.snmp_client import Auth, SnmpClient, community, usm
from sentinel.wire import snmp as wire

if TYPE_CHECKING:
    from sentinel.playbook import Playbook

LEVELS = ("authPriv", "authNoPriv", "noAuthNoPriv")
FORWARDING = {1: "forwarding", 2: "notForwarding"}


@dataclass(frozen=True)
class SnmpProbe:
    """Probe kind ``snmp`` on one UDP port."""

    kind: ClassVar[str] = "snmp"
    transport: ClassVar[str] = "udp"
    timeout: float = 1.0
    retries: int = 0
    budget_s: float = 30.0
    communities: tuple[str, ...] | None = None
    credentials: tuple[ResolvedV3, ...] = field(default=(), repr=False)

    async def run(self, target: Target, network: Network) -> dict[str, Any]:
        port = target.endpoint.port
        if port is None:
            raise ProbeError(ErrorReason.INTERNAL, "snmp probe needs a port")
        return await probe_snmp(network, target.endpoint.address, port, self)


async def probe_snmp(network: Network, address: str, port: int, options: SnmpProbe,
                     catalog: SnmpCatalog | None = None) -> dict[str, Any]:
    """Everything the snmp probe learns about one agent, as JSON-able facts."""
    catalog = catalog or snmp_catalog()
    engine = await discover_engine(network, address, port, options.timeout)
    client = SnmpClient(network.gate, address, port, options.timeout, options.retries)
    try:
        names = options.communities or tuple(c.name for c in catalog.communities)
        answered = await _communities(client, names, catalog)
        users = [await _v3_user(client, c, catalog) for c in options.credentials]
        access, via = _best_access(answered, users, options.credentials)
        facts: dict[str, Any] = {
            "port": port, "engine": engine, "communities_tried": len(names),
            "communities": answered, "v3_users": users, "access": via,
            "responded": bool(engine or answered or any(u["accepted"] for u in users)),
            "system": None, "ipv6": None,
        }
        if access is not None:
            facts["system"] = await _system(client, access, catalog)
            facts["ipv6"] = await _ipv6_readiness(client, access, catalog)
        return facts
    finally:
        client.close()


async def discover_engine(network: Network, address: str, port: int,
                          timeout: float) -> dict[str, Any] | None:
    """The agent's v3 engine (id, boots, time), or None when it does not answer v3."""
    message_id = secrets.randbelow(2**31 - 1) + 1
    request = wire.discovery_request(message_id, secrets.randbelow(2**31 - 1) + 1)
    try:
        reply = await network.udp_exchange(address, port, request, timeout)
    except ProbeError as exc:
        if exc.reason is ErrorReason.REFUSED:
            return None  # ICMP port unreachable: nothing listens, v1/v2c will say the same
        raise
    if reply is None:
        return None
    try:
        report = wire.decode_report(reply)
    except DecodeError as exc:
        return {"error": str(exc)}
    if report.message_id != message_id:
        return {"error": "reply to another message id"}
    return {"id": report.engine_id.hex(), "boots": report.engine_boots,
            "time": report.engine_time, "enterprise": report.enterprise,
            "format": report.format}


async def _communities(client: SnmpClient, names: tuple[str, ...],
                       catalog: SnmpCatalog) -> list[dict[str, Any]]:
    """Each community that answers v2c (then v1); all sent together, each paid for."""
    oids = (catalog.oids.sysName,)
    replies = await asyncio.gather(*(client.get(community(n, "v2c"), oids) for n in names))
    answered = []
    for name, reply in zip(names, replies, strict=True):
        if reply.error is None:
            v1 = await client.get(community(name, "v1"), oids)
            versions = ["v1", "v2c"] if v1.error is None else ["v2c"]
            answered.append({"community": name, "versions": versions,
                             "default": catalog.is_default(name)})
    if not answered:
        # v1-only agents do not answer v2c: one v1 try with the first community.
        reply = await client.get(community(names[0], "v1"), oids)
        if reply.error is None:
            answered.append({"community": names[0], "versions": ["v1"],
                             "default": catalog.is_default(names[0])})
    return answered


async def _v3_user(client: SnmpClient, credential: ResolvedV3,
                   catalog: SnmpCatalog) -> dict[str, Any]:
    """The configured level, then every lower one: which levels the agent accepts."""
    if credential.missing:
        return {"user": credential.user, "configured_level": None, "levels": {},
                "accepted": [], "error": credential.missing}
    levels = LEVELS[LEVELS.index(credential.level):]
    results = {}
    for level in levels:
        reply = await client.get(usm(credential, level), (catalog.oids.sysName,))
        results[level] = "accepted" if reply.error is None else reply.error
    return {"user": credential.user, "configured_level": credential.level,
            "levels": results, "accepted": [lvl for lvl, r in results.items() if r == "accepted"]}


def _best_access(answered: list[dict[str, Any]], users: list[dict[str, Any]],
                 credentials: tuple[ResolvedV3, ...]) -> tuple[Auth | None, str | None]:
    """The strongest working access: a v3 user at its best level, else a community."""
    for credential, user in zip(credentials, users, strict=True):
        if user["accepted"]:
            level = user["accepted"][0]
            return usm(credential, level), f"v3 {level}"
    if answered:
        first = answered[0]
        return community(first["community"], first["versions"][-1]), first["versions"][-1]
    return None, None


async def _system(client: SnmpClient, access: Auth, catalog: SnmpCatalog) -> dict[str, Any]:
    oids = catalog.oids
    reply = await client.get(access, (oids.sysDescr, oids.sysObjectID, oids.sysName))
    if reply.error:
        return {"error": reply.error}
    return {"sysDescr": reply.values.get(oids.sysDescr),
            "sysObjectID": reply.values.get(oids.sysObjectID),
            "sysName": reply.values.get(oids.sysName)}


def ip_mib_addresses(rows: dict[str, Any], root: str) -> list[dict[str, Any]]:
    """ipAddressIfIndex rows (index: type.length.octets) as addresses with scope."""
    found = []
    for oid, if_index in rows.items():
        parts = oid.removeprefix(root + ".").split(".")
        if len(parts) < 2 or not all(p.isdigit() for p in parts):
            continue
        kind, length, octets = int(parts[0]), int(parts[1]), [int(p) for p in parts[2:]]
        if kind not in (1, 2) or length != len(octets) or any(o > 255 for o in octets):
            continue  # ipv4z/ipv6z and malformed rows are not reported
        address = ipaddress.ip_address(bytes(octets))
        found.append({"address": str(address), "family": f"ipv{address.version}",
                      "scope": _scope(address), "if_index": if_index})
    return found


def _scope(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str:
    if address.is_loopback:
        return "loopback"
    if address.is_link_local:
        return "link-local"
    return "global"


async def _ipv6_readiness(client: SnmpClient, access: Auth,
                          catalog: SnmpCatalog) -> dict[str, Any]:
    """IP-MIB: which addresses the device has, and whether it forwards IPv6."""
    oids = catalog.oids
    walk = await client.walk(access, oids.ipAddressIfIndex, catalog.walk.max_rows,
                             catalog.walk.max_repetitions)
    addresses = ip_mib_addresses(walk.values, oids.ipAddressIfIndex)
    forwarding = await client.get(access, (oids.ipv6IpForwarding,))
    value = forwarding.values.get(oids.ipv6IpForwarding)
    return {
        "ip_mib": bool(walk.values),
        "walk_error": walk.error,
        "addresses": addresses,
        "global_ipv6": [a["address"] for a in addresses
                        if a["family"] == "ipv6" and a["scope"] == "global"],
        "ipv6_forwarding": FORWARDING.get(value) if isinstance(value, int) else None,
    }


def planned(playbook: Playbook) -> Planned | None:
    """The ``snmp`` kind as the playbook configures it (None: not selected). Passphrases are
    read here (environment, credentials file), once, into masked values."""
    snmp = playbook.probes.snmp
    if snmp is None:
        return None
    probe = SnmpProbe(timeout=snmp.timeout_s, retries=snmp.retries, budget_s=snmp.budget_s,
                      communities=snmp.communities,
                      credentials=snmp_credentials(snmp, strict=False))
    return Planned(probe, (snmp.port,))
