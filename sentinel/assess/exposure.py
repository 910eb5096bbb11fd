"""Exposure: which services an asset exposes, judged against its segment's policy.

Open ports come from the ``tcp`` probe (one observation per port) and from the ``nmap``
service scan (one observation per address, listing TCP and UDP ports with nmap's service
names, which recognise a service on a non-standard port; a UDP port counts only when nmap
saw it answer, not when it is merely ``open|filtered``). For every open port: is the service
allowed in this segment (the playbook's ``allowed_services``, else the catalog's zone
defaults)? Is it on the high-risk list? Does it carry logins in cleartext? Is it a management
plane reachable outside the management zone, or a cloud management endpoint reachable from a
tenant network?
Per asset: does its IPv6 address expose more than its IPv4 one (V6-SECPARITY)? Each check is
evaluated for every open port, so a port that closes later resolves by a passing result.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from sentinel.assess.base import AssetView, assessor, make_finding
from sentinel.catalog.services import Service, identify_service
from sentinel.model import AttemptStatus, Endpoint, Evaluation, Finding, Observation
from sentinel.severity import Severity

CLOUD_PLANE_CATEGORIES = frozenset({"cloud-management", "device-management", "container"})


@dataclass(frozen=True)
class OpenPort:
    """One open TCP or UDP port as seen by a probe, with the service it was identified as."""

    endpoint: Endpoint
    service: Service | None
    observed: Observation
    detail: dict[str, Any]


def _verdict(failed: bool) -> Evaluation:
    return Evaluation.FAILED if failed else Evaluation.PASSED


def _allowed(view: AssetView, service: Service | None) -> bool:
    if service is None:
        return not view.segment.allowed_services  # unknown service: judge only with a list
    if view.segment.allowed_services:
        return service.id in view.segment.allowed_services
    return view.segment.zone in service.allowed_zones


def open_ports(view: AssetView) -> list[OpenPort]:
    """Open ports from nmap (preferred: it names services) and tcp, one per address:port."""
    found: dict[tuple[str, int, str], OpenPort] = {}
    for port in _nmap_ports(view):
        found.setdefault(_key(port.endpoint), port)
    for obs in view.of("tcp"):
        if obs.status is AttemptStatus.COMPLETED and obs.facts.get("state") == "open":
            key = _key(obs.endpoint)
            service = identify_service(key[1], "tcp")
            found.setdefault(key, OpenPort(obs.endpoint, service, obs,
                                           {"banner": obs.facts.get("banner")}))
    return sorted(found.values(), key=lambda p: (p.endpoint.family, p.endpoint.port or 0,
                                                 p.endpoint.transport, p.endpoint.address))


def _key(endpoint: Endpoint) -> tuple[str, int, str]:
    return endpoint.address, endpoint.port or 0, endpoint.transport


def _nmap_ports(view: AssetView) -> Iterator[OpenPort]:
    for obs in view.of("nmap"):
        if obs.status is not AttemptStatus.COMPLETED:
            continue
        for entry in obs.facts.get("ports", []):
            transport = entry.get("protocol", "tcp")
            if entry.get("state") != "open" or transport not in ("tcp", "udp"):
                continue
            port = int(entry["port"])
            service = identify_service(port, transport, entry.get("name"), entry.get("tunnel"))
            detail = {k: entry.get(k)
                      for k in ("name", "product", "version", "extrainfo", "tunnel")}
            yield OpenPort(Endpoint(address=obs.endpoint.address, port=port, transport=transport),
                           service, obs, detail)


def _cleartext(service: Service | None, detail: dict[str, Any]) -> bool:
    """Credentials in cleartext: the catalog says so, unless nmap named a product that the
    catalog's ``cleartext_products`` does not match (an SNMPv3-only engine, say)."""
    if service is None or not service.cleartext_credentials:
        return False
    seen = " ".join(str(detail.get(k) or "") for k in ("product", "extrainfo")).lower()
    if not service.cleartext_products or not seen.strip():
        return True
    return any(marker.lower() in seen for marker in service.cleartext_products)


def _port_findings(view: AssetView, port: OpenPort) -> list[Finding]:
    service, zone = port.service, view.segment.zone
    allowed = _allowed(view, service)
    evidence = {
        "port": port.endpoint.port,
        "transport": port.endpoint.transport,
        "service": service.id if service else None,
        "zone": zone,
        "allowed_services": list(view.segment.allowed_services),
        **port.detail,
    }

    def finding(check: str, failed: bool) -> Finding:
        return make_finding(view, check, _verdict(failed), endpoint=port.endpoint,
                            probe=port.observed.probe, protocol=port.endpoint.transport,
                            evidence=evidence,
                            observed=port.observed)

    out = [
        finding("EXP-SVC-NOTALLOWED", not allowed),
        finding("DB-CES-HIGHRISKPORT", bool(service and service.high_risk) and not allowed),
        finding("DB-CES-CREDPLAIN", _cleartext(service, port.detail)),
    ]
    if service is not None and service.management:
        explicitly = service.id in view.segment.allowed_services
        out.append(finding("DB-CES-MGMTACL", zone != "management" and not explicitly))
    if zone == "cloud-tenant" and service is not None:
        plane = service.management and service.category in CLOUD_PLANE_CATEGORIES
        out.append(finding("DB-CLOUD-MGMTPLANE", plane))
    return out


def _parity(view: AssetView, ports: list[OpenPort]) -> list[Finding]:
    """V6-SECPARITY: ports open on the asset's IPv6 addresses but on none of its IPv4 ones."""
    done = [o for o in view.observations
            if o.probe in ("tcp", "nmap") and o.status is AttemptStatus.COMPLETED]
    families = {o.endpoint.family for o in done}
    if families != {"ipv4", "ipv6"}:
        return []
    v4 = {_label(p) for p in ports if p.endpoint.family == "ipv4"}
    v6 = [p for p in ports if p.endpoint.family == "ipv6"]
    # A port whose IPv4 attempt did not complete (timed out on a loaded link, refused by the
    # budget) was not measured over IPv4: "open only over IPv6" cannot be said of it.
    unmeasured = {_tcp_label(o.endpoint) for o in view.of("tcp")
                  if o.endpoint.family == "ipv4" and o.status is not AttemptStatus.COMPLETED
                  and not any(d.endpoint.family == "ipv4" and d.endpoint.port == o.endpoint.port
                              and d.probe == "tcp" for d in done)}
    extra = [p for p in v6 if _label(p) not in v4 and _label(p) not in unmeasured]
    risky = [p for p in extra if p.service is not None and p.service.high_risk]
    evidence = {
        "ipv4_ports": _labels(p for p in ports if p.endpoint.family == "ipv4"),
        "ipv6_ports": _labels(v6),
        "ipv6_only": _labels(extra),
        "ipv6_only_services": sorted({p.service.id for p in extra if p.service}),
    }
    if unmeasured & {_label(p) for p in v6}:
        evidence["ipv4_not_measured"] = sorted(unmeasured & {_label(p) for p in v6}, key=str)
    return [make_finding(view, "V6-SECPARITY", _verdict(bool(extra)), endpoint=None,
                         probe=done[0].probe, protocol="tcp", evidence=evidence,
                         severity=Severity.HIGH if risky else None, observed=done[0])]


def _tcp_label(endpoint: Endpoint) -> int | str:
    number = endpoint.port or 0
    return number if endpoint.transport == "tcp" else f"{number}/{endpoint.transport}"


def _label(port: OpenPort) -> int | str:
    """A TCP port as its number, a UDP port as ``161/udp``."""
    number = port.endpoint.port or 0
    return number if port.endpoint.transport == "tcp" else f"{number}/{port.endpoint.transport}"


def _labels(ports: Iterable[OpenPort]) -> list[int | str]:
    unique = {(p.endpoint.transport != "tcp", p.endpoint.port or 0): _label(p) for p in ports}
    return [unique[k] for k in sorted(unique)]


@assessor(
    "DB-CES-CREDPLAIN",
    "DB-CES-HIGHRISKPORT",
    "DB-CES-MGMTACL",
    "DB-CLOUD-MGMTPLANE",
    "EXP-SVC-NOTALLOWED",
    "V6-SECPARITY",
)
def assess_exposure(view: AssetView) -> list[Finding]:
    """Per open port: EXP-SVC-NOTALLOWED, DB-CES-HIGHRISKPORT, DB-CES-CREDPLAIN, and for
    management services DB-CES-MGMTACL / DB-CLOUD-MGMTPLANE; per asset V6-SECPARITY."""
    ports = open_ports(view)
    findings = [f for port in ports for f in _port_findings(view, port)]
    findings.extend(_parity(view, ports))
    return findings
