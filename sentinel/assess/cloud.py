"""Cloud tenants as their cloud declares them: security groups, networks and elastic IPs.

Judges the observations of probe kind ``cloud`` (one per resource, the facts made by
:mod:`sentinel.cloud.resources` from the cloud's API), never the network. Which ports are
management or high-risk comes from the service catalog (``probes/services.yml``). A rule that
opens every port is judged once, as CLOUD-SG-ANYINGRESS, not again per risky service.

Declared against observed (issue 16 item 3): an instance scanned by ``sentinel cloud reach``
has one ``cloud`` observation of kind ``reach`` (its addresses' ingress rules, remote groups
resolved to addresses, and the vantage the probes were sent from) beside the ``tcp``
observations of its addresses; an open port no rule allows from the vantage is CLOUD-DRIFT
(from the scanner) or CLOUD-ISOLATION (from another tenant), a closed port a rule allows is
CLOUD-ALLOWED-UNUSED.
"""

from __future__ import annotations

import functools
import ipaddress
from typing import Any

from sentinel.assess.base import AssetView, assessor, make_finding
from sentinel.catalog.services import services
from sentinel.cloud.model import Rule
from sentinel.model import AttemptStatus, Evaluation, Finding, Observation

_COUNTERPART = {"icmp": "icmpv6"}


@functools.cache
def _risky_ports() -> tuple[tuple[str, int, str], ...]:
    """(service id, port, transport) of every management or high-risk service."""
    return tuple((s.id, p.port, p.transport) for s in services().services
                 if s.management or s.high_risk for p in s.ports)


def _rules(facts: list[dict[str, Any]]) -> list[Rule]:
    return [Rule(id=str(f.get("id")), direction="egress" if f.get("direction") == "egress"
                 else "ingress", family=6 if f.get("family") == 6 else 4,
                 protocol=f.get("protocol"), port_min=f.get("port_min"),
                 port_max=f.get("port_max"), remote_prefix=f.get("remote_prefix"),
                 remote_group=f.get("remote_group")) for f in facts]


def _risky(rule: Rule) -> list[str]:
    """The risky services an ingress rule opens (none for an any-port rule: judged apart)."""
    if rule.direction != "ingress" or rule.any_port:
        return []
    return sorted({f"{sid} ({port}/{transport})" for sid, port, transport in _risky_ports()
                   if rule.opens(port, transport)})


def _verdict(failed: bool) -> Evaluation:
    return Evaluation.FAILED if failed else Evaluation.PASSED


def _inside(rule: Rule, ranges: list[str]) -> bool:
    net = rule.remote_network
    if net is None:
        return True  # a remote group: members of a group, not an address range
    for cidr in ranges:
        own = ipaddress.ip_network(cidr)
        if own.version == net.version and net.subnet_of(own):  # type: ignore[arg-type]
            return True
    return False


def _overlaps(rule: Rule, cidr: str) -> bool:
    net, other = rule.remote_network, ipaddress.ip_network(cidr)
    return (net is not None and net.prefixlen > 0 and net.version == other.version
            and net.overlaps(other))


def _same_ports(a: Rule, b: Rule, protocol: str | None) -> bool:
    """Whether ``b`` (another family's rule) covers ``a``'s protocol and ports."""
    if b.protocol is not None and b.protocol != protocol:
        return False
    if b.protocol is None:
        return True
    return ((b.port_min or 1) <= (a.port_min or 1)
            and (b.port_max or 65535) >= (a.port_max or 65535))


def _group(view: AssetView, obs: Observation) -> list[Finding]:
    facts = obs.facts
    rules = _rules(facts.get("rules", []))
    ingress = [r for r in rules if r.direction == "ingress"]
    own = list(facts.get("own_ranges", []))
    base = {"group": facts.get("group"), "provider": facts.get("provider"),
            "project": facts.get("project"), "tenant": facts.get("tenant")}

    def finding(check: str, failed: bool, **evidence: Any) -> Finding:
        return make_finding(view, check, _verdict(failed), endpoint=None, probe="cloud",
                            evidence={**base, **evidence}, observed=obs)

    world = [(r, _risky(r)) for r in ingress if r.to_everyone]
    world = [(r, s) for r, s in world if s]
    cross: list[dict[str, Any]] = []
    for rule in ingress:
        opened = _risky(rule)
        if not opened or rule.to_everyone:
            continue
        for other in facts.get("other_tenant_ranges", []):
            if _overlaps(rule, other["cidr"]):
                cross.append({"rule": rule.label(), "services": opened, **other})
    known = set(facts.get("known", []))
    # Without the subnets the tenant's own ranges are unknown: only "from everyone" counts.
    anyway = [r for r in ingress if r.any_port and (
        not _inside(r, own) if "subnets" in known else r.to_everyone)]
    wider: list[str] = []
    for rule in ingress:
        if rule.family != 6 or not rule.to_everyone:
            continue
        v4 = [r for r in ingress if r.family == 4 and _same_ports(rule, r, rule.protocol)]
        if v4 and not any(r.to_everyone for r in v4):
            wider.append(f"{rule.label()} while IPv4 allows only "
                         f"{', '.join(r.label() for r in v4)}")
    missing = [r.label() for r in ingress if r.family == 4 and not any(
        _same_ports(r, v6, _COUNTERPART.get(r.protocol or "", r.protocol))
        for v6 in ingress if v6.family == 6)]
    out = [
        finding("CLOUD-SG-RISKYWORLD", bool(world),
                rules=[{"rule": r.label(), "services": s} for r, s in world]),
        finding("CLOUD-SG-CROSSTENANT", bool(cross), rules=cross),
        finding("CLOUD-SG-ANYINGRESS", bool(anyway), rules=[r.label() for r in anyway],
                own_ranges=own),
        finding("CLOUD-SG-V6WIDER", bool(wider), rules=wider),
        finding("CLOUD-SG-V6MISSING", bool(missing), ipv4_only=missing),
    ]
    if "ports" in known:  # without the ports, which groups are used is unknown
        out.append(finding("CLOUD-SG-UNUSED", facts.get("ports_using", 0) == 0,
                           ports_using=facts.get("ports_using", 0)))
    return out


def _network(view: AssetView, obs: Observation) -> list[Finding]:
    facts = obs.facts
    if facts.get("external") or "subnets" not in set(facts.get("known", [])):
        return []  # the provider's external network; or its subnets are unknown
    subnets = facts.get("subnets", [])
    v6 = [s["cidr"] for s in subnets if s.get("family") == 6]
    return [make_finding(view, "CLOUD-NET-NOV6", _verdict(not v6), endpoint=None, probe="cloud",
                         evidence={"network": facts.get("network"),
                                   "tenant": facts.get("tenant"),
                                   "project": facts.get("project"),
                                   "subnets": [s["cidr"] for s in subnets]},
                         observed=obs)]


def _floating(view: AssetView, obs: Observation) -> list[Finding]:
    facts = obs.facts
    evidence = {"address": facts.get("address"), "instance": facts.get("instance"),
                "tenant": facts.get("tenant"), "project": facts.get("project")}
    attached = facts.get("port") is not None
    out = [make_finding(view, "CLOUD-EIP-ORPHAN", _verdict(not attached),
                        endpoint=obs.endpoint, probe="cloud", evidence=evidence,
                        observed=obs)]
    if not attached or not facts.get("port_known"):
        return out  # nothing known of what guards it: not judged
    family = ipaddress.ip_address(str(facts.get("address"))).version
    exposed: list[dict[str, Any]] = []
    if facts.get("port_security") is False:  # no group filters this port at all
        exposed.append({"group": None, "rule": "port security disabled",
                        "services": ["every port"]})
    for rule, raw in zip(_rules(facts.get("ingress_rules", [])),
                         facts.get("ingress_rules", []), strict=True):
        if rule.family != family or not rule.to_everyone:
            continue
        opened = ["every port"] if rule.any_port else _risky(rule)
        if opened:
            exposed.append({"group": raw.get("group"), "rule": rule.label(),
                            "services": opened})
    out.append(make_finding(view, "CLOUD-EIP-RISKY", _verdict(bool(exposed)),
                            endpoint=obs.endpoint, probe="cloud",
                            evidence={**evidence, "groups": facts.get("groups", []),
                                      "exposed": exposed}, observed=obs))
    return out


def allowing(entries: list[dict[str, Any]], source: str, port: int,
             transport: str) -> list[dict[str, Any]]:
    """The declared ingress entries (of the address's groups) that let ``source`` reach
    ``port``/``transport``: each entry is one rule with ``family``, ``protocol``,
    ``port_min``/``port_max`` and ``sources`` (ranges; a remote group resolved to its members'
    addresses). Judged per family: an IPv4 rule never allows an IPv6 source."""
    src = ipaddress.ip_address(source)
    out = []
    for entry in entries:
        if entry.get("port_security") is False:
            return [entry]
        if entry.get("family") != src.version:
            continue
        protocol = entry.get("protocol")
        if protocol is not None and protocol != transport:
            continue
        if not (entry.get("port_min") or 1) <= port <= (entry.get("port_max") or 65535):
            continue
        if any(src in ipaddress.ip_network(cidr) for cidr in entry.get("sources", [])):
            out.append(entry)
    return out


def _denial(entries: list[dict[str, Any]], family: int, port: int, transport: str) -> str:
    """Why the groups deny a port: what they do allow on it, of that family, and to whom."""
    same = [e for e in entries if e.get("family") == family
            and (e.get("protocol") in (None, transport))
            and (e.get("port_min") or 1) <= port <= (e.get("port_max") or 65535)]
    if not same:
        return f"no ingress rule of the groups opens {transport}/{port} over IPv{family}"
    return (f"{transport}/{port} over IPv{family} is open only to "
            + ", ".join(f"{e.get('rule')} ({e.get('group')})" for e in same))


def _reach(view: AssetView, obs: Observation) -> list[Finding]:
    """Declared against observed: each probed port of the instance's addresses, from the
    vantage the facts name (the scanner, or another tenant's namespace)."""
    facts = obs.facts
    declared: dict[str, list[dict[str, Any]]] = facts.get("declared", {})
    vantage = facts.get("vantage") or {}
    sources = {ipaddress.ip_address(a).version: a for a in vantage.get("addresses", [])}
    from_tenant = vantage.get("tenant")
    check = "CLOUD-ISOLATION" if from_tenant else "CLOUD-DRIFT"
    base = {"instance": facts.get("instance"), "tenant": facts.get("tenant"),
            "project": facts.get("project"), "from_tenant": from_tenant}
    out: list[Finding] = []
    for seen in view.of("tcp"):
        if seen.status is not AttemptStatus.COMPLETED or seen.endpoint.port is None:
            continue
        address, port = seen.endpoint.address, seen.endpoint.port
        family = ipaddress.ip_address(address).version
        source = sources.get(family)
        entries = declared.get(address)
        if source is None or entries is None:
            continue  # no vantage address of this family, or not the instance's address
        allowed = allowing(entries, source, port, "tcp")
        groups = sorted({str(e.get("group")) for e in entries})
        evidence = {**base, "address": address, "port": port, "transport": "tcp",
                    "family": f"IPv{family}", "source": source, "groups": groups,
                    "state": seen.facts.get("state")}
        state = seen.facts.get("state")
        if state == "open":
            out.append(make_finding(
                view, check, _verdict(not allowed), endpoint=seen.endpoint, probe="cloud",
                observed=seen, evidence={**evidence, "allowed_by": [
                    f"{e.get('rule')} ({e.get('group')})" for e in allowed]} if allowed else
                {**evidence, "why_denied": _denial(entries, family, port, "tcp")}))
        elif allowed and not from_tenant:
            out.append(make_finding(
                view, "CLOUD-ALLOWED-UNUSED", _verdict(state == "closed"),
                endpoint=seen.endpoint, probe="cloud", observed=seen,
                evidence={**evidence, "allowed_by": [
                    f"{e.get('rule')} ({e.get('group')})" for e in allowed]}))
    return out


_JUDGES = {"security-group": _group, "network": _network, "floating-ip": _floating,
           "reach": _reach}


@assessor(
    "CLOUD-ALLOWED-UNUSED",
    "CLOUD-DRIFT",
    "CLOUD-EIP-ORPHAN",
    "CLOUD-EIP-RISKY",
    "CLOUD-ISOLATION",
    "CLOUD-NET-NOV6",
    "CLOUD-SG-ANYINGRESS",
    "CLOUD-SG-CROSSTENANT",
    "CLOUD-SG-RISKYWORLD",
    "CLOUD-SG-UNUSED",
    "CLOUD-SG-V6MISSING",
    "CLOUD-SG-V6WIDER",
    "CLOUD-TENANT-UNMAPPED",
)
def assess_cloud(view: AssetView) -> list[Finding]:
    """Per security group, network, floating IP and instance the cloud declared."""
    findings: list[Finding] = []
    for obs in view.of("cloud"):
        if obs.status is not AttemptStatus.COMPLETED:
            continue
        judge = _JUDGES.get(str(obs.facts.get("kind")))
        if judge is not None:
            findings.extend(judge(view, obs))
        if obs.facts.get("kind") == "reach":
            continue  # the instance itself is judged (and mapped) by the inventory's scan
        tenant = obs.facts.get("tenant")
        findings.append(make_finding(
            view, "CLOUD-TENANT-UNMAPPED", _verdict(tenant is None), endpoint=None,
            probe="cloud", observed=obs,
            evidence={"provider": obs.facts.get("provider"), "kind": obs.facts.get("kind"),
                      "project": obs.facts.get("project"), "tenant": tenant}))
    return findings
