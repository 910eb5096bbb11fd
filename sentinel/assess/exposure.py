"""Exposure: which services an asset exposes, judged against its segment's policy.

For every open TCP port: is the service allowed in this segment (the playbook's
``allowed_services``, else the catalog's zone defaults)? Is it on the high-risk list? Does it
carry logins in cleartext? Each check is evaluated for every open port, so a port that
closes later resolves its findings by a passing result, not by silence.
"""

from __future__ import annotations

from sentinel.assess.base import AssetView, make_finding
from sentinel.catalog import Service, service_by_port
from sentinel.model import AttemptStatus, Evaluation, Finding, Observation


def _allowed(view: AssetView, service: Service | None) -> bool:
    if service is None:
        return not view.segment.allowed_services  # unknown service: judge only with a list
    if view.segment.allowed_services:
        return service.id in view.segment.allowed_services
    return view.segment.zone in service.allowed_zones


def _open_ports(view: AssetView) -> list[Observation]:
    return [
        o
        for o in view.of("tcp")
        if o.status is AttemptStatus.COMPLETED and o.facts.get("state") == "open"
    ]


def assess_exposure(view: AssetView) -> list[Finding]:
    """EXP-SVC-NOTALLOWED, DB-CES-HIGHRISKPORT and DB-CES-CREDPLAIN for each open port."""
    findings: list[Finding] = []
    for obs in _open_ports(view):
        port = obs.endpoint.port or 0
        service = service_by_port().get((port, "tcp"))
        allowed = _allowed(view, service)
        evidence = {
            "port": port,
            "service": service.id if service else None,
            "zone": view.segment.zone,
            "banner": obs.facts.get("banner"),
            "allowed_services": list(view.segment.allowed_services),
        }

        def verdict(failed: bool) -> Evaluation:
            return Evaluation.FAILED if failed else Evaluation.PASSED

        findings.append(
            make_finding(
                view,
                "EXP-SVC-NOTALLOWED",
                verdict(not allowed),
                endpoint=obs.endpoint,
                probe="tcp",
                protocol="tcp",
                evidence=evidence,
                observed=obs,
            )
        )
        high_risk = bool(service and service.high_risk) and not allowed
        findings.append(
            make_finding(
                view,
                "DB-CES-HIGHRISKPORT",
                verdict(high_risk),
                endpoint=obs.endpoint,
                probe="tcp",
                protocol="tcp",
                evidence=evidence,
                observed=obs,
            )
        )
        cleartext = bool(service and service.cleartext_credentials)
        findings.append(
            make_finding(
                view,
                "DB-CES-CREDPLAIN",
                verdict(cleartext),
                endpoint=obs.endpoint,
                probe="tcp",
                protocol="tcp",
                evidence=evidence,
                observed=obs,
            )
        )
    return findings
