"""SNMP: cleartext management, default communities, v3 without privacy, device IPv6 facts.

Judged from the snmp probe's facts for each agent that answered anything:

- DB-CES-CREDPLAIN and DB-SMC-MGMTPATH fail when a v1/v2c community answered (the
  community crosses the wire in cleartext; a device managed that way is an 等保 high risk);
- MP-D2-RMGMT fails high for v1/v2c, medium for v3 alone (USM uses international
  algorithms only);
- SNMP-COMMUNITY-DEFAULT fails when a well-known default community answered;
- SNMP-V3-NOPRIV fails when a supplied v3 user is served below authPriv;
- SNMP-IPV6-READY (info) reports the IPv6 addresses the device's IP-MIB lists.
"""

from __future__ import annotations

from typing import Any

from sentinel.assess.base import AssetView, assessor, make_finding
from sentinel.model import AttemptStatus, Evaluation, Finding, Observation
from sentinel.severity import Severity


def _verdict(failed: bool) -> Evaluation:
    return Evaluation.FAILED if failed else Evaluation.PASSED


def _answered(view: AssetView) -> list[Observation]:
    return [o for o in view.of("snmp")
            if o.status is AttemptStatus.COMPLETED and o.facts.get("responded")]


def _system(facts: dict[str, Any]) -> dict[str, Any]:
    system = facts.get("system") or {}
    return {k: system.get(k) for k in ("sysDescr", "sysObjectID", "sysName")}


def _cleartext(view: AssetView, obs: Observation) -> list[Finding]:
    communities = obs.facts.get("communities") or []
    evidence = {"communities": communities, "system": _system(obs.facts),
                "engine_id": (obs.facts.get("engine") or {}).get("id")}
    answered = bool(communities)
    # Without v1/v2c the agent speaks only v3, whose USM algorithms are international.
    rmgmt = Severity.HIGH if answered else Severity.MEDIUM
    defaults = [c["community"] for c in communities if c.get("default")]

    def finding(check: str, failed: bool, severity: Severity | None = None) -> Finding:
        return make_finding(view, check, _verdict(failed), endpoint=obs.endpoint,
                            probe="snmp", protocol="snmp", evidence=evidence,
                            severity=severity, observed=obs)

    return [finding("DB-CES-CREDPLAIN", answered), finding("DB-SMC-MGMTPATH", answered),
            finding("MP-D2-RMGMT", True, rmgmt),
            finding("SNMP-COMMUNITY-DEFAULT", bool(defaults))]


def _no_privacy(view: AssetView, obs: Observation) -> list[Finding]:
    users = obs.facts.get("v3_users") or []
    if not users:
        return []  # without a supplied user the levels cannot be told apart remotely
    weak = [{"user": u["user"], "accepted": [lvl for lvl in u["accepted"] if lvl != "authPriv"]}
            for u in users]
    weak = [w for w in weak if w["accepted"]]
    return [make_finding(view, "SNMP-V3-NOPRIV", _verdict(bool(weak)), endpoint=obs.endpoint,
                         probe="snmp", protocol="snmp", observed=obs,
                         evidence={"users": [{"user": u["user"], "levels": u["levels"]}
                                             for u in users], "below_authpriv": weak})]


def _ipv6(view: AssetView, obs: Observation) -> list[Finding]:
    ipv6 = obs.facts.get("ipv6")
    if not ipv6 or not ipv6.get("ip_mib"):
        return []  # no readable IP-MIB: nothing to say either way
    evidence = {"global_ipv6": ipv6["global_ipv6"],
                "ipv6_forwarding": ipv6.get("ipv6_forwarding"),
                "addresses": ipv6["addresses"], "sysName": _system(obs.facts)["sysName"]}
    return [make_finding(view, "SNMP-IPV6-READY", _verdict(not ipv6["global_ipv6"]),
                         endpoint=obs.endpoint, probe="snmp", protocol="snmp",
                         evidence=evidence, observed=obs)]


@assessor(
    "DB-CES-CREDPLAIN",
    "DB-SMC-MGMTPATH",
    "MP-D2-RMGMT",
    "SNMP-COMMUNITY-DEFAULT",
    "SNMP-IPV6-READY",
    "SNMP-V3-NOPRIV",
)
def assess_snmp(view: AssetView) -> list[Finding]:
    """Every SNMP check for every agent that answered."""
    findings: list[Finding] = []
    for obs in _answered(view):
        findings += _cleartext(view, obs)
        findings += _no_privacy(view, obs)
        findings += _ipv6(view, obs)
    return findings
