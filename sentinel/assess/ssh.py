"""SSH: protocol version and offered algorithms, judged per port (facts of the ssh probe).

SSH-V1 fails on an SSH-1 identification (``1.x`` or the dual ``1.99``). SSH-WEAK fails when
any broken algorithm is offered (high: MD5, DES/3DES, RC4, 1024-bit groups, DSA) or, with
none broken, a weak one (medium: SHA-1 key exchange, signatures, MACs). MP-D2-RMGMT fails
(medium, 0.5·Ra in 密评 terms) when the management channel offers no national (SM)
algorithm for key exchange, encryption and integrity alike. SSH-HOSTKEY-WEAK fails (high)
when a host key the server presents is DSA or RSA under 2048 bits (密评: RSA below 2048 bits
and DSA are high-risk algorithms); it is judged only when at least one host key was fetched.
SSH-HOSTKEY-SIG-INVALID fails (high) when the server's signature over the exchange hash does
not verify with the host key it presented for some algorithm (the key then proves nothing
about the server); it passes when at least one signature verified and none failed, and is
not judged when none was checked.
"""

from __future__ import annotations

from typing import Any

from sentinel.assess.base import AssetView, assessor, make_finding
from sentinel.model import AttemptStatus, Evaluation, Finding, Observation
from sentinel.severity import Severity

KINDS = ("kex", "host_key", "cipher", "mac", "compression")
MIN_RSA_BITS = 2048


def _names(facts: dict[str, Any], *classes: str) -> dict[str, list[str]]:
    """Offered names of the given classes, per kind (kinds with none left out)."""
    found = {kind: [a["name"] for a in facts.get(kind, []) if a["class"] in classes]
             for kind in KINDS}
    return {kind: names for kind, names in found.items() if names}


def _ssh_observations(view: AssetView) -> list[Observation]:
    return [o for o in view.of("ssh")
            if o.status is AttemptStatus.COMPLETED and o.facts.get("port_state") == "open"]


def _verdict(failed: bool) -> Evaluation:
    return Evaluation.FAILED if failed else Evaluation.PASSED


def _weak(view: AssetView, obs: Observation) -> Finding:
    broken = _names(obs.facts, "broken")
    weak = _names(obs.facts, "weak")
    severity = Severity.HIGH if broken else Severity.MEDIUM
    return make_finding(
        view, "SSH-WEAK", _verdict(bool(broken or weak)), endpoint=obs.endpoint, probe="ssh",
        protocol="ssh", severity=severity, observed=obs,
        evidence={"broken": broken, "weak": weak,
                  "unknown": _names(obs.facts, "unknown")})


def _management(view: AssetView, obs: Observation) -> Finding:
    national = _names(obs.facts, "national")
    # A 国密 channel needs SM key exchange, SM4 encryption and SM3 integrity together.
    complete = all(kind in national for kind in ("kex", "cipher", "mac"))
    return make_finding(
        view, "MP-D2-RMGMT", _verdict(not complete), endpoint=obs.endpoint, probe="ssh",
        protocol="ssh", severity=Severity.MEDIUM, observed=obs,
        evidence={"channel": "ssh", "national": national,
                  "kex": [a["name"] for a in obs.facts.get("kex", [])],
                  "zone": view.segment.zone})


def weak_host_key(key: dict[str, Any]) -> str | None:
    """Why a fetched host key is too weak, or None."""
    if key["type"] == "dsa":
        return "DSA"
    if key["type"] == "rsa" and key["bits"] is not None and key["bits"] < MIN_RSA_BITS:
        return f"RSA {key['bits']} < {MIN_RSA_BITS}"
    return None


def _host_keys(view: AssetView, obs: Observation) -> Finding:
    keys = obs.facts["host_keys"]
    weak = [{"algorithm": k["algorithm"], "fingerprint_sha256": k["fingerprint_sha256"],
             "reason": reason} for k in keys if (reason := weak_host_key(k))]
    return make_finding(
        view, "SSH-HOSTKEY-WEAK", _verdict(bool(weak)), endpoint=obs.endpoint, probe="ssh",
        protocol="ssh", observed=obs,
        evidence={"weak": weak,
                  "host_keys": [{k: key.get(k) for k in ("algorithm", "type", "bits", "curve")}
                                for key in keys]})


def _signatures(view: AssetView, obs: Observation) -> Finding | None:
    """Per host key algorithm: verified, invalid (why) or not checked (why)."""
    checked = [{"algorithm": k["algorithm"], "fingerprint_sha256": k["fingerprint_sha256"],
                "kex": k.get("kex"), **k["signature"]}
               for k in obs.facts["host_keys"] if isinstance(k.get("signature"), dict)]
    invalid = [c for c in checked if c.get("status") == "invalid"]
    verified = [c["algorithm"] for c in checked if c.get("status") == "verified"]
    if not invalid and not verified:
        return None
    # Offered algorithms whose signature was not checked, each with why.
    not_checked = [c for c in checked if c.get("status") == "not-checked"]
    not_checked += [{"algorithm": e.get("algorithm"), "status": "not-checked",
                     "reason": f"no key exchange reply: {e.get('reason')}"}
                    for e in obs.facts.get("host_key_errors", [])]
    not_checked += [{"algorithm": name, "status": "not-checked",
                     "reason": "not fetched (certificate, unknown algorithm or over the cap)"}
                    for name in obs.facts.get("host_keys_not_fetched", [])]
    return make_finding(
        view, "SSH-HOSTKEY-SIG-INVALID", _verdict(bool(invalid)), endpoint=obs.endpoint,
        probe="ssh", protocol="ssh", observed=obs,
        evidence={"invalid": invalid, "verified": verified, "not_checked": not_checked})


@assessor(
    "MP-D2-RMGMT",
    "SSH-HOSTKEY-SIG-INVALID",
    "SSH-HOSTKEY-WEAK",
    "SSH-V1",
    "SSH-WEAK",
)
def assess_ssh(view: AssetView) -> list[Finding]:
    """SSH-V1, SSH-WEAK, SSH-HOSTKEY-WEAK, SSH-HOSTKEY-SIG-INVALID and MP-D2-RMGMT for every
    open SSH port."""
    findings: list[Finding] = []
    for obs in _ssh_observations(view):
        banner = obs.facts.get("banner") or {}
        findings.append(make_finding(
            view, "SSH-V1", _verdict(bool(obs.facts.get("ssh1"))), endpoint=obs.endpoint,
            probe="ssh", protocol="ssh", observed=obs,
            evidence={"banner": banner.get("raw"), "protocol": banner.get("protocol")}))
        if obs.facts.get("ssh2"):
            findings.append(_weak(view, obs))
            findings.append(_management(view, obs))
        if obs.facts.get("host_keys"):
            findings.append(_host_keys(view, obs))
            if (signatures := _signatures(view, obs)) is not None:
                findings.append(signatures)
    return findings
