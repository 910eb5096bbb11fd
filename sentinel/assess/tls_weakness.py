"""TLS weaknesses from the ServerHello (facts of the ``tls_weakness`` probe), per TLS port.

TLS-RENEG-INSECURE fails when the server answers a TLS 1.2 hello carrying the renegotiation
SCSV without renegotiation_info (RFC 5746). TLS-COMPRESSION fails when it picks a compression
method other than null (CRIME). TLS-HEARTBEAT fails when it answers the heartbeat extension
(RFC 6520). Each is judged only when the server answered that hello with a ServerHello (a
TLS 1.3-only server has none of them). TLS-FALLBACK-SCSV fails when the server accepts a hello
one version below its best that carries TLS_FALLBACK_SCSV (RFC 7507); low when its random
carries TLS 1.3's downgrade marker (clients that know TLS 1.3 are still protected), medium
without; judged only when the answer is either that ServerHello or inappropriate_fallback.
"""

from __future__ import annotations

from typing import Any

from sentinel.assess.base import AssetView, assessor, make_finding
from sentinel.model import AttemptStatus, Evaluation, Finding, Observation
from sentinel.severity import Severity

PROBE = "tls_weakness"


def _verdict(failed: bool) -> Evaluation:
    return Evaluation.FAILED if failed else Evaluation.PASSED


def _observations(view: AssetView) -> list[Observation]:
    return [o for o in view.of(PROBE)
            if o.status is AttemptStatus.COMPLETED and o.facts.get("port_state") == "open"]


def _legacy(view: AssetView, obs: Observation, legacy: dict[str, Any]) -> list[Finding]:
    if legacy.get("secure_renegotiation") is None:
        return []  # no TLS 1.2 ServerHello: nothing to judge
    version = legacy.get("version")

    def finding(check_id: str, failed: bool, evidence: dict[str, Any]) -> Finding:
        return make_finding(view, check_id, _verdict(failed), endpoint=obs.endpoint,
                            probe=PROBE, protocol="tls", observed=obs,
                            evidence={"version": version, **evidence})

    method = legacy["compression_method"]
    return [
        finding("TLS-RENEG-INSECURE", not legacy["secure_renegotiation"],
                {"renegotiation_info": legacy["secure_renegotiation"]}),
        finding("TLS-COMPRESSION", method != 0, {"compression_method": method}),
        finding("TLS-HEARTBEAT", legacy.get("heartbeat") is not None,
                {"heartbeat": legacy.get("heartbeat")}),
    ]


def _fallback(view: AssetView, obs: Observation, fallback: dict[str, Any]) -> list[Finding]:
    verdict = fallback.get("verdict")
    if verdict not in ("honoured", "accepted"):
        return []  # no lower version, or an answer that says neither
    marker = bool(fallback.get("downgrade_marker"))
    return [make_finding(
        view, "TLS-FALLBACK-SCSV", _verdict(verdict == "accepted"), endpoint=obs.endpoint,
        probe=PROBE, protocol="tls", observed=obs,
        severity=Severity.LOW if marker else None,
        evidence={"best_version": obs.facts.get("best_version"),
                  "offered": fallback.get("offered"), "verdict": verdict,
                  "alert": fallback.get("alert"), "downgrade_marker": marker})]


@assessor(
    "TLS-COMPRESSION",
    "TLS-FALLBACK-SCSV",
    "TLS-HEARTBEAT",
    "TLS-RENEG-INSECURE",
)
def assess_tls_weakness(view: AssetView) -> list[Finding]:
    """The four checks for every open port the tls_weakness probe saw."""
    findings: list[Finding] = []
    for obs in _observations(view):
        findings += _legacy(view, obs, obs.facts.get("legacy") or {})
        findings += _fallback(view, obs, obs.facts.get("fallback") or {})
    return findings
