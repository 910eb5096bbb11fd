"""DNS facts for IPv6 readiness: A/AAAA of a site, its zone's name servers and whether they
answer over IPv6 (the delegation chain of V6-NS).

Every query goes to a resolver or name server named explicitly (the playbook's ``resolvers``
or an NS address found on the way), through the gate; the machine's own resolver is never
used, so no lookup leaves the authorised scope. Answers are untrusted: dnspython parses them
and any malformed reply becomes an error entry, never an exception out of the probe.
"""

from __future__ import annotations

import ipaddress
import time
from dataclasses import dataclass
from typing import Any

import dns.asyncquery
import dns.exception
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype

from sentinel.errors import ErrorReason, ProbeError, ScopeRefused
from sentinel.probes.routes import has_route
from sentinel.scope import Gate


@dataclass(frozen=True)
class Answer:
    """The records of one query (text form), its rcode and how long it took."""

    records: tuple[str, ...]
    rcode: str
    elapsed_ms: float
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and self.rcode == "NOERROR"


async def ask(
    gate: Gate, server: str, name: str, rdtype: str, timeout: float = 2.0
) -> Answer:
    """One UDP query to ``server`` (an IP literal inside scope); never raises on bad replies."""
    destination = await gate.packets(server, 1)
    query = dns.message.make_query(name, rdtype)
    started = time.perf_counter()
    try:
        reply = await dns.asyncquery.udp(query, destination, timeout=timeout)
    except dns.exception.Timeout:
        return Answer((), "", round((time.perf_counter() - started) * 1000, 2), "timeout")
    except (dns.exception.DNSException, OSError, ValueError) as exc:
        elapsed = round((time.perf_counter() - started) * 1000, 2)
        return Answer((), "", elapsed, f"{type(exc).__name__}: {exc}")
    elapsed = round((time.perf_counter() - started) * 1000, 2)
    wanted = dns.rdatatype.from_text(rdtype)
    records = tuple(
        rdata.to_text() for rrset in reply.answer if rrset.rdtype == wanted for rdata in rrset
    )
    return Answer(records, dns.rcode.to_text(reply.rcode()), elapsed)


def _global_unicast(text: str) -> bool:
    """A usable AAAA: global unicast (documentation space counts: it is the lab's range)."""
    try:
        ip = ipaddress.IPv6Address(text)
    except ValueError:
        return False
    return not (ip.is_link_local or ip.is_loopback or ip.is_multicast or ip.is_unspecified
                or ip.ipv4_mapped is not None or ip.is_site_local)


async def _first_answer(gate: Gate, resolvers: tuple[str, ...], name: str, rdtype: str,
                        timeout: float) -> Answer:
    """Ask each resolver in turn until one answers (NOERROR or NXDOMAIN)."""
    last = Answer((), "", 0.0, "no resolver configured")
    for server in resolvers:
        last = await ask(gate, server, name, rdtype, timeout)
        if last.error is None:
            return last
    return last


async def _zone_servers(gate: Gate, resolvers: tuple[str, ...], hostname: str,
                        timeout: float) -> tuple[str, list[str]]:
    """The closest enclosing zone that has NS records, and those name servers."""
    name = dns.name.from_text(hostname)
    while len(name.labels) > 1:
        answer = await _first_answer(gate, resolvers, name.to_text(), "NS", timeout)
        if answer.ok and answer.records:
            return name.to_text(), sorted(r.rstrip(".") for r in answer.records)
        name = name.parent()
    return ".", []


async def _name_server(gate: Gate, resolvers: tuple[str, ...], zone: str, server: str,
                       timeout: float) -> dict[str, Any]:
    """One NS: its AAAA records, and whether each answers the zone's SOA over IPv6."""
    aaaa = await _first_answer(gate, resolvers, server, "AAAA", timeout)
    addresses = [a for a in aaaa.records if _global_unicast(a)]
    answers: dict[str, bool] = {}
    unmeasured: list[str] = []
    for address in addresses:
        try:
            gate.authorise(address)
        except ScopeRefused:  # an NS outside scope is a fact to report, not a crash
            answers[address] = False
            continue
        if not has_route(address):
            # This vantage has no IPv6 path at all (an agent on an IPv4-only segment): what
            # the name server does over IPv6 is not measured here, not "does not answer".
            unmeasured.append(address)
            continue
        reply = await ask(gate, address, zone, "SOA", timeout)
        answers[address] = reply.ok and bool(reply.records)
    out: dict[str, Any] = {"name": server, "aaaa": addresses, "answers_v6": answers,
                           "v6_ok": bool(answers) and all(answers.values())}
    if unmeasured:
        out["unmeasured_v6"] = unmeasured
    return out


async def site_dns(gate: Gate, resolvers: tuple[str, ...], hostname: str,
                   timeout: float = 2.0) -> dict[str, Any]:
    """A, AAAA, name servers and their IPv6 reachability for one site name."""
    if not resolvers:
        raise ProbeError(ErrorReason.UNSUPPORTED, "the playbook names no resolvers")
    a = await _first_answer(gate, resolvers, hostname, "A", timeout)
    aaaa = await _first_answer(gate, resolvers, hostname, "AAAA", timeout)
    zone, servers = await _zone_servers(gate, resolvers, hostname, timeout)
    name_servers = [await _name_server(gate, resolvers, zone, s, timeout) for s in servers]
    return {
        "hostname": hostname,
        "a": list(a.records),
        "aaaa": [r for r in aaaa.records if _global_unicast(r)],
        "aaaa_raw": list(aaaa.records),
        "rcode": {"a": a.rcode or a.error, "aaaa": aaaa.rcode or aaaa.error},
        "dns_ms": {"ipv4": a.elapsed_ms, "ipv6": aaaa.elapsed_ms},
        "zone": zone,
        "name_servers": name_servers,
    }
