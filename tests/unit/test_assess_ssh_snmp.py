"""SSH and SNMP assessors on constructed facts (no network)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from sentinel.assess.snmp import assess_snmp
from sentinel.assess.ssh import assess_ssh
from sentinel.catalog.ssh import ssh_registry
from sentinel.model import (
    Asset,
    AttemptStatus,
    Context,
    Endpoint,
    Evaluation,
    Finding,
    Observation,
)
from sentinel.playbook import Segment
from sentinel.probes.snmp import ip_mib_addresses
from sentinel.probes.ssh import algorithm_facts
from sentinel.severity import Severity
from sentinel.wire.ssh import KexInit

CTX = Context(scan_id="s1", agency_id="a", segment_id="mgmt", zone="management")
SEGMENT = Segment(id="mgmt", agency="a", cidrs=("198.18.30.0/24",), zone="management")


def _view_findings(probe: str, facts: dict[str, Any], port: int) -> dict[str, Finding]:
    from sentinel.assess.base import AssetView

    obs = Observation(probe=probe, context=CTX, asset=Asset(id="h"),
                      endpoint=Endpoint(address="198.18.30.9", port=port,
                                        transport="udp" if probe == "snmp" else "tcp"),
                      status=AttemptStatus.COMPLETED, facts=facts,
                      started=datetime(2026, 1, 1, tzinfo=UTC))
    view = AssetView(Asset(id="h"), CTX, SEGMENT, [obs])
    found = assess_ssh(view) if probe == "ssh" else assess_snmp(view)
    return {f.check_id: f for f in found}


def ssh_facts(kex: tuple[str, ...], keys: tuple[str, ...], ciphers: tuple[str, ...],
              macs: tuple[str, ...], protocol: str = "2.0") -> dict[str, Any]:
    kexinit = KexInit(b"\0" * 16, kex, keys, ciphers, ciphers, macs, macs, ("none",), ("none",))
    return {"port_state": "open", "ssh1": protocol.startswith("1."),
            "ssh2": protocol in ("2.0", "1.99"),
            "banner": {"raw": f"SSH-{protocol}-x", "protocol": protocol},
            **algorithm_facts(kexinit, ssh_registry())}


MODERN = ssh_facts(("sntrup761x25519-sha512@openssh.com", "curve25519-sha256",
                    "kex-strict-s-v00@openssh.com"), ("ssh-ed25519",),
                   ("chacha20-poly1305@openssh.com",), ("hmac-sha2-256-etm@openssh.com",))
LEGACY = ssh_facts(("diffie-hellman-group1-sha1", "diffie-hellman-group14-sha1"),
                   ("ssh-rsa", "ssh-dss"), ("3des-cbc", "aes128-ctr"), ("hmac-md5", "hmac-sha1"))
SHA1_ONLY = ssh_facts(("diffie-hellman-group14-sha1",), ("ssh-ed25519",), ("aes128-ctr",),
                      ("hmac-sha2-256-etm@openssh.com",))
NATIONAL = ssh_facts(("sm2-sm3",), ("sm2",), ("sm4-ctr",), ("hmac-sm3",))


def test_registry_classes_and_markers() -> None:
    assert [a["class"] for a in MODERN["kex"]] == ["pqc-hybrid", "strong"]
    assert MODERN["kex_markers"] == ["kex-strict-s-v00@openssh.com"] and MODERN["strict_kex"]
    assert ssh_registry().classify("cipher", "no-such-cipher") == "unknown"
    sm4 = ssh_registry().lookup("cipher", "sm4-ctr")
    assert sm4 is not None and sm4.klass == "national" and sm4.status == "unverified"


def test_modern_server_passes_weak_but_is_not_national() -> None:
    found = _view_findings("ssh", MODERN, 22)
    assert found["SSH-V1"].evaluation is Evaluation.PASSED
    assert found["SSH-WEAK"].evaluation is Evaluation.PASSED
    assert found["MP-D2-RMGMT"].evaluation is Evaluation.FAILED
    assert found["MP-D2-RMGMT"].severity is Severity.MEDIUM


def test_broken_algorithms_fail_high_with_the_names() -> None:
    weak = _view_findings("ssh", LEGACY, 22)["SSH-WEAK"]
    assert weak.evaluation is Evaluation.FAILED and weak.severity is Severity.HIGH
    assert weak.evidence["broken"] == {"kex": ["diffie-hellman-group1-sha1"],
                                       "host_key": ["ssh-dss"], "cipher": ["3des-cbc"],
                                       "mac": ["hmac-md5"]}


def test_sha1_only_fails_medium() -> None:
    weak = _view_findings("ssh", SHA1_ONLY, 22)["SSH-WEAK"]
    assert weak.evaluation is Evaluation.FAILED and weak.severity is Severity.MEDIUM


def test_ssh1_fails_and_national_channel_passes_rmgmt() -> None:
    old = _view_findings("ssh", ssh_facts((), (), (), (), protocol="1.5"), 22)
    assert old["SSH-V1"].evaluation is Evaluation.FAILED and "SSH-WEAK" not in old
    dual = _view_findings("ssh", {**MODERN, "ssh1": True}, 22)
    assert dual["SSH-V1"].evaluation is Evaluation.FAILED
    assert _view_findings("ssh", NATIONAL, 22)["MP-D2-RMGMT"].evaluation is Evaluation.PASSED


def test_closed_port_gives_no_ssh_findings() -> None:
    assert _view_findings("ssh", {"port_state": "closed"}, 22) == {}


def _key(algorithm: str, family: str, bits: int, curve: str | None = None) -> dict[str, Any]:
    key = {"algorithm": algorithm, "type": family, "bits": bits,
           "fingerprint_sha256": f"SHA256:{algorithm}", "kex": "curve25519-sha256"}
    return {**key, "curve": curve} if curve else key


@pytest.mark.parametrize(("keys", "weak"), [
    ([_key("ssh-ed25519", "ed25519", 256)], []),
    ([_key("rsa-sha2-512", "rsa", 2048), _key("ecdsa-sha2-nistp256", "ecdsa", 256, "nistp256")],
     []),
    ([_key("ssh-rsa", "rsa", 1024), _key("ssh-dss", "dsa", 1024)],
     ["RSA 1024 < 2048", "DSA"]),
    ([_key("rsa-sha2-256", "rsa", 2047)], ["RSA 2047 < 2048"]),
])
def test_host_keys_fail_high_for_dsa_and_short_rsa(keys: list[dict[str, Any]],
                                                   weak: list[str]) -> None:
    finding = _view_findings("ssh", {**MODERN, "host_keys": keys}, 22)["SSH-HOSTKEY-WEAK"]
    assert finding.evaluation is (Evaluation.FAILED if weak else Evaluation.PASSED)
    assert finding.severity is Severity.HIGH
    assert [w["reason"] for w in finding.evidence["weak"]] == weak
    assert [k["bits"] for k in finding.evidence["host_keys"]] == [k["bits"] for k in keys]


def test_host_keys_not_judged_when_none_were_fetched() -> None:
    assert "SSH-HOSTKEY-WEAK" not in _view_findings("ssh", MODERN, 22)
    failed = {**MODERN, "host_keys": [], "host_key_errors": [
        {"algorithm": "ssh-ed25519", "reason": "timeout", "detail": "no reply"}]}
    assert "SSH-HOSTKEY-WEAK" not in _view_findings("ssh", failed, 22)


def snmp_facts(**extra: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"responded": True, "engine": {"id": "80001f88"}, "communities": [],
                            "v3_users": [], "system": None, "ipv6": None}
    return {**base, **extra}


def test_v2c_public_fails_cleartext_default_and_management() -> None:
    found = _view_findings("snmp", snmp_facts(communities=[
        {"community": "public", "versions": ["v2c"], "default": True}]), 161)
    for check in ("DB-CES-CREDPLAIN", "DB-SMC-MGMTPATH", "SNMP-COMMUNITY-DEFAULT"):
        assert found[check].evaluation is Evaluation.FAILED, check
    assert found["MP-D2-RMGMT"].severity is Severity.HIGH
    assert "SNMP-V3-NOPRIV" not in found  # no user supplied: nothing to judge


def test_v3_only_agent_passes_cleartext_checks() -> None:
    user = {"user": "u", "levels": {"authPriv": "accepted", "authNoPriv": "authorizationError"},
            "accepted": ["authPriv"]}
    found = _view_findings("snmp", snmp_facts(v3_users=[user]), 161)
    assert found["DB-CES-CREDPLAIN"].evaluation is Evaluation.PASSED
    assert found["SNMP-COMMUNITY-DEFAULT"].evaluation is Evaluation.PASSED
    assert found["SNMP-V3-NOPRIV"].evaluation is Evaluation.PASSED
    assert found["MP-D2-RMGMT"].severity is Severity.MEDIUM


def test_v3_user_served_without_privacy_fails() -> None:
    user = {"user": "u", "levels": {"authPriv": "accepted", "authNoPriv": "accepted",
                                    "noAuthNoPriv": "authorizationError"},
            "accepted": ["authPriv", "authNoPriv"]}
    found = _view_findings("snmp", snmp_facts(v3_users=[user]), 161)
    assert found["SNMP-V3-NOPRIV"].evaluation is Evaluation.FAILED
    assert found["SNMP-V3-NOPRIV"].evidence["below_authpriv"] == [
        {"user": "u", "accepted": ["authNoPriv"]}]


def test_ipv6_readiness_from_ip_mib_rows() -> None:
    root = "1.3.6.1.2.1.4.34.1.3"
    rows = {f"{root}.1.4.198.18.30.162": 2,
            f"{root}.2.16." + ".".join(str(b) for b in bytes.fromhex(
                "20010db8003000000000000000000162")): 2,
            f"{root}.2.16.254.128.0.0.0.0.0.0.0.0.0.0.0.0.0.1": 2,
            f"{root}.2.3.1.2": 9}  # malformed: ignored
    addresses = ip_mib_addresses(rows, root)
    assert [(a["address"], a["scope"]) for a in addresses] == [
        ("198.18.30.162", "global"), ("2001:db8:30::162", "global"), ("fe80::1", "link-local")]
    ready = snmp_facts(ipv6={"ip_mib": True, "addresses": addresses,
                             "global_ipv6": ["2001:db8:30::162"],
                             "ipv6_forwarding": "notForwarding"})
    finding = _view_findings("snmp", ready, 161)["SNMP-IPV6-READY"]
    assert finding.evaluation is Evaluation.PASSED and finding.severity is Severity.INFO
    v4_only = snmp_facts(ipv6={"ip_mib": True, "addresses": addresses[:1], "global_ipv6": []})
    assert _view_findings("snmp", v4_only, 161)["SNMP-IPV6-READY"].evaluation is \
        Evaluation.FAILED


def test_silent_agent_gives_no_findings() -> None:
    assert _view_findings("snmp", snmp_facts(responded=False), 161) == {}


def _signed(algorithm: str, status: str, reason: str | None = None) -> dict[str, Any]:
    signature: dict[str, Any] = {"status": status, "signature_algorithm": algorithm}
    if reason:
        signature["reason"] = reason
    return {**_key(algorithm, "ed25519", 256), "signature": signature}


def test_host_key_signature_that_does_not_verify_fails_high() -> None:
    keys = [_signed("ssh-ed25519", "verified"),
            _signed("rsa-sha2-512", "invalid",
                    "signature over the exchange hash does not verify"),
            _signed("sm2", "not-checked", "Sentinel does not verify sm2 signatures")]
    facts = {**MODERN, "host_keys": keys,
             "host_keys_not_fetched": ["ssh-ed25519-cert-v01@openssh.com"],
             "host_key_errors": [{"algorithm": "ecdsa-sha2-nistp256", "reason": "timeout",
                                  "detail": "no reply"}]}
    finding = _view_findings("ssh", facts, 22)["SSH-HOSTKEY-SIG-INVALID"]
    assert finding.evaluation is Evaluation.FAILED
    assert finding.severity is Severity.HIGH
    assert [(i["algorithm"], i["reason"]) for i in finding.evidence["invalid"]] == [
        ("rsa-sha2-512", "signature over the exchange hash does not verify")]
    assert finding.evidence["verified"] == ["ssh-ed25519"]
    assert [(n["algorithm"], n["reason"]) for n in finding.evidence["not_checked"]] == [
        ("sm2", "Sentinel does not verify sm2 signatures"),
        ("ecdsa-sha2-nistp256", "no key exchange reply: timeout"),
        ("ssh-ed25519-cert-v01@openssh.com",
         "not fetched (certificate, unknown algorithm or over the cap)")]


def test_host_key_signatures_pass_when_verified_and_are_not_judged_unchecked() -> None:
    verified = [_signed("ssh-ed25519", "verified"), _signed("rsa-sha2-256", "verified")]
    finding = _view_findings("ssh", {**MODERN, "host_keys": verified},
                             22)["SSH-HOSTKEY-SIG-INVALID"]
    assert finding.evaluation is Evaluation.PASSED
    unchecked = [_signed("sm2", "not-checked", "Sentinel does not verify sm2 signatures")]
    assert "SSH-HOSTKEY-SIG-INVALID" not in _view_findings(
        "ssh", {**MODERN, "host_keys": unchecked}, 22)
    # Facts from a probe before signatures were verified: nothing to judge.
    assert "SSH-HOSTKEY-SIG-INVALID" not in _view_findings(
        "ssh", {**MODERN, "host_keys": [_key("ssh-ed25519", "ed25519", 256)]}, 22)
