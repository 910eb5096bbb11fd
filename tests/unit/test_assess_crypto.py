"""The crypto assessor on constructed tls-probe facts: no network."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sentinel.assess import assess
from sentinel.assess.base import AssetView
from sentinel.assess.crypto import CHECKS
from sentinel.catalog import checks as catalog
from sentinel.model import (
    Asset,
    AttemptStatus,
    Context,
    Endpoint,
    Evaluation,
    Finding,
    Observation,
)
from sentinel.playbook import Levels, Segment
from sentinel.severity import Severity

SM2_KEY = {"type": "sm2", "size": 256, "curve": "sm2p256v1"}
SM3_SM2 = {"oid": "1.2.156.10197.1.501", "name": "sm2-with-sm3", "class": "national"}
SHA256_RSA = {"oid": "1.2.840.113549.1.1.11", "name": "sha256WithRSAEncryption",
              "class": "strong"}
SHA1_RSA = {"oid": "1.2.840.113549.1.1.5", "name": "sha1WithRSAEncryption", "class": "broken"}


def cert(key: dict[str, Any], sig: dict[str, Any], *, usage: list[str] | None = None,
         subject: str = "CN=x", issuer: str = "CN=ca", days: int = 90) -> dict[str, Any]:
    return {"subject": subject, "issuer": issuer, "key": key, "signature_algorithm": sig,
            "lifetime_days": days, "key_usage": usage, "is_ca": False, "self_signed": False}


def facts(accepted: list[tuple[str, int, str]], **extra: Any) -> dict[str, Any]:
    versions = sorted({p for p, _c, _n in accepted})
    base: dict[str, Any] = {
        "port_state": "open", "versions": versions,
        "accepted": [{"protocol": p, "code": f"0x{c:04X}", "name": n} for p, c, n in accepted],
        "server_preference": [], "groups": [], "certificates": [], "tls13_certificate": None,
        "tlcp_key_exchange": None, "posture": {}, "personality": "tls-only",
    }
    return {**base, **extra}


def run(fact: dict[str, Any], mipin: int = 3) -> dict[str, Finding]:
    ctx = Context(scan_id="s1", agency_id="a", segment_id="seg")
    segment = Segment(id="seg", agency="a", cidrs=("198.18.1.0/24",), zone="extranet",
                      levels=Levels(mipin=mipin))
    obs = Observation(probe="tls", context=ctx, asset=Asset(id="h"),
                      endpoint=Endpoint(address="198.18.1.1", port=443),
                      status=AttemptStatus.COMPLETED, facts=fact,
                      started=datetime(2026, 1, 1, tzinfo=UTC))
    findings = assess(AssetView(Asset(id="h"), ctx, segment, [obs]))
    return {f.check_id: f for f in findings if f.probe == "tls"}


MODERN = facts([("TLSv1.2", 0xC02F, "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"),
                ("TLSv1.3", 0x1301, "TLS_AES_128_GCM_SHA256")],
               certificates=[{"protocol": "TLSv1.2", "chain": [
                   cert({"type": "rsa", "size": 2048}, SHA256_RSA)]}])
LEGACY = facts([("TLSv1.0", 0x002F, "TLS_RSA_WITH_AES_128_CBC_SHA"),
                ("TLSv1.2", 0x000A, "TLS_RSA_WITH_3DES_EDE_CBC_SHA")],
               certificates=[{"protocol": "TLSv1.2", "chain": [
                   cert({"type": "rsa", "size": 1024}, SHA1_RSA, days=3650)]}])
PAIR = {"ok": True, "order": "sign-enc", "problems": [], "warnings": []}
TLCP = facts([("TLCPv1.1", 0xE013, "ECC_SM4_CBC_SM3")], personality="tlcp-only",
             certificates=[{"protocol": "TLCPv1.1", "tlcp_pair": PAIR, "chain": [
                 cert(SM2_KEY, SM3_SM2, usage=["digital_signature"]),
                 cert(SM2_KEY, SM3_SM2, usage=["key_encipherment"])]}],
             tlcp_key_exchange={"suite": "0xE013", "signature_valid": True})


def failed(findings: dict[str, Finding]) -> set[str]:
    return {c for c, f in findings.items() if f.evaluation is Evaluation.FAILED}


def test_every_check_is_judged_on_every_endpoint_and_has_words() -> None:
    for fact in (MODERN, LEGACY, TLCP):
        assert set(run(fact)) == {check_id for check_id, _rule in CHECKS}
    for check_id, _rule in CHECKS:
        assert catalog.check(check_id).fix.zh


def test_modern_tls_passes_the_baseline_but_is_not_national_crypto() -> None:
    found = run(MODERN)
    assert failed(found) == {"GM-TLCP-ABSENT", "MP-N1-AUTH", "MP-N3-CONF", "TLS-KEY-RSA"}
    assert found["TLS-KEY-RSA"].severity is Severity.INFO  # 2048 < BSI's 3072: a warning
    assert found["MP-N1-AUTH"].severity is Severity.HIGH  # 密评 level 3


def test_legacy_server_fails_the_high_risk_checks() -> None:
    found = run(LEGACY)
    assert {"TLS-PROTO-10", "TLS-CIPHER-BROKEN", "TLS-CIPHER-NOPFS", "TLS-CIPHER-CBC",
            "TLS-KEY-RSA", "TLS-CERT-HASH", "TLS-CERT-LIFE", "MP-GEN-ALG",
            "MP-GEN-TECH"} <= failed(found)
    assert found["TLS-KEY-RSA"].severity is Severity.HIGH
    assert found["TLS-PROTO-12-13"].severity is Severity.LOW  # has 1.2, lacks 1.3
    assert found["TLS-PROTO-11"].evaluation is Evaluation.PASSED


def test_tlcp_with_a_valid_pair_passes_the_national_checks() -> None:
    found = run(TLCP)
    assert failed(found) == set()  # TLCP SM4-CBC is standardised: TLS-CIPHER-CBC skips it
    assert found["MP-N1-AUTH"].evidence["tlcp_sm2"] is True


def test_bad_ske_signature_and_rsa_tlcp_suite_fail() -> None:
    bad = {**TLCP, "tlcp_key_exchange": {"suite": "0xE013", "signature_valid": False}}
    assert {"GM-SKE-VERIFY", "MP-N1-AUTH", "GM-TLCP-ABSENT"} <= failed(run(bad))
    rsa = facts([("TLCPv1.1", 0xE019, "RSA_SM4_CBC_SM3"), ("TLCPv1.1", 0xE01A, "RSA_SM4_SHA1")])
    found = run(rsa)
    assert {"GM-SUITE-APPROVED", "GM-SUITE-LEGACY", "MP-GEN-ALG"} <= failed(found)
    assert found["GM-SUITE-LEGACY"].severity is Severity.HIGH


def test_sm4_suite_with_an_rsa_certificate_is_not_national_crypto() -> None:
    sm13 = {"suite_name": "TLS_SM4_GCM_SM3", "signature_valid": True,
            "chain": [cert({"type": "rsa", "size": 2048}, SHA256_RSA)]}
    fact = facts([("TLSv1.3", 0x00C6, "TLS_SM4_GCM_SM3")],
                 tls13_certificate={"standard": None, "sm": sm13})
    found = run(fact)
    assert {"GM-TLS13-SM", "MP-N1-AUTH", "MP-N3-CONF", "GM-CERT-SIGALG"} <= failed(found)
    sm13_ok = {**sm13, "chain": [cert(SM2_KEY, SM3_SM2)]}
    good = run({**fact, "tls13_certificate": {"standard": None, "sm": sm13_ok}})
    assert not {"GM-TLS13-SM", "MP-N1-AUTH", "MP-N3-CONF", "GM-CERT-SIGALG"} & failed(good)


def test_mipin_level_scales_severity() -> None:
    assert run(MODERN, mipin=1)["MP-N1-AUTH"].severity is Severity.LOW
    assert run(MODERN, mipin=2)["MP-N1-AUTH"].severity is Severity.MEDIUM
    assert run(MODERN, mipin=2)["GM-TLCP-ABSENT"].severity is Severity.LOW
    assert run(MODERN, mipin=4)["MP-N3-CONF"].severity is Severity.MEDIUM


def test_closed_port_and_broken_pair() -> None:
    assert run({"port_state": "closed"}) == {}
    broken = {**TLCP, "certificates": [{"protocol": "TLCPv1.1", "chain": [],
                                        "tlcp_pair": {"ok": False, "order": "missing",
                                                      "problems": ["fewer than two"]}}]}
    assert "GM-CERT-PAIR" in failed(run(broken))


DHE_SUITE = ("TLSv1.2", 0x009E, "TLS_DHE_RSA_WITH_AES_128_GCM_SHA256")


def _dhe(bits: int) -> dict[str, Any]:
    return {"protocol": "TLSv1.2", "suite": "0x009E", "prime_bits": bits, "generator": 2}


def test_dhe_group_below_2048_fails_medium_and_dhe_itself_is_info() -> None:
    small = run(facts([DHE_SUITE], dhe=_dhe(1024)))["TLS-DHE"]
    assert (small.evaluation, small.severity) == (Evaluation.FAILED, Severity.MEDIUM)
    assert small.evidence["prime_bits"] == 1024
    present = run(facts([DHE_SUITE], dhe=_dhe(2048)))["TLS-DHE"]
    assert (present.evaluation, present.severity) == (Evaluation.FAILED, Severity.INFO)
    assert run(MODERN)["TLS-DHE"].evaluation is Evaluation.PASSED


def _group(code: int, name: str) -> dict[str, Any]:
    return {"protocol": "TLSv1.2", "code": f"0x{code:04X}", "name": name, "class": "legacy"}


def test_ec_groups_and_keys_below_256_bits_fail() -> None:
    weak = facts(MODERN_SUITES, groups=[_group(19, "secp192r1"), _group(29, "x25519")])
    found = run(weak)["TLS-KEY-EC"]
    assert found.evaluation is Evaluation.FAILED
    assert found.evidence["weak_groups"] == ["secp192r1"]
    small_key = facts(MODERN_SUITES, certificates=[{"protocol": "TLSv1.2", "chain": [
        cert({"type": "ec", "size": 224, "curve": "secp224r1"}, SHA256_RSA)]}])
    assert run(small_key)["TLS-KEY-EC"].evaluation is Evaluation.FAILED
    good = facts(MODERN_SUITES, groups=[_group(29, "x25519"), _group(23, "secp256r1")],
                 certificates=[{"protocol": "TLSv1.2", "chain": [
                     cert({"type": "ec", "size": 256, "curve": "secp256r1"}, SHA256_RSA)]}])
    assert run(good)["TLS-KEY-EC"].evaluation is Evaluation.PASSED
    assert run(TLCP)["TLS-KEY-EC"].evidence == {"applicable": False}


MODERN_SUITES = [("TLSv1.2", 0xC02B, "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256")]


def _ecdhe_tlcp(curve: str, requested: bool) -> dict[str, Any]:
    ske = {"suite": "0xE011", "named_curve": curve, "certificate_requested": requested,
           "signature_valid": True}
    return {**TLCP, "tlcp_key_exchange": ske}


def test_tlcp_ecdhe_curve_41_passes_and_legacy_ids_are_info() -> None:
    assert run(_ecdhe_tlcp("0x0029", True))["GM-ECDHE-CURVE"].evaluation is Evaluation.PASSED
    legacy = run(_ecdhe_tlcp("0x00F9", True))["GM-ECDHE-CURVE"]
    assert (legacy.evaluation, legacy.severity) == (Evaluation.FAILED, Severity.INFO)
    assert legacy.evidence["legacy"] == "old SM SSL (Kona accepts)"
    assert run(TLCP)["GM-ECDHE-CURVE"].evidence == {"applicable": False}  # ECC suite only


def test_missing_client_certificate_request_matters_at_level_4_only() -> None:
    no_request = _ecdhe_tlcp("0x0029", False)
    level3 = run(no_request, mipin=3)["GM-CLIENTAUTH"]
    assert level3.evaluation is Evaluation.PASSED
    assert level3.evidence["certificate_requested"] is False
    level4 = run(no_request, mipin=4)["GM-CLIENTAUTH"]
    assert (level4.evaluation, level4.severity) == (Evaluation.FAILED, Severity.MEDIUM)
    assert run(_ecdhe_tlcp("0x0029", True), mipin=4)["GM-CLIENTAUTH"].evaluation is \
        Evaluation.PASSED
    assert run(MODERN)["GM-CLIENTAUTH"].evidence == {"applicable": False}


def _incomplete(protocol: str, code: int, name: str) -> dict[str, str]:
    return {"protocol": protocol, "code": f"0x{code:04X}", "name": name,
            "reason": "alert internal_error(80)"}


def test_tlcp_suite_selected_then_abandoned_is_a_finding() -> None:
    """Tongsuo's dual RSA+SM2 server: it completes SM2 suites and abandons RSA_SM4_CBC_SM3
    (0xE019), an RSA key exchange, so not national crypto: Medium. The completed SM2 suites
    keep their verdicts."""
    dual = {**TLCP, "incomplete": [_incomplete("TLCPv1.1", 0xE019, "RSA_SM4_CBC_SM3")]}
    found = run(dual)
    rsa = found["GM-SUITE-INCOMPLETE"]
    assert (rsa.evaluation, rsa.severity) == (Evaluation.FAILED, Severity.MEDIUM)
    assert rsa.evidence["not_national"] == ["0xE019"]
    assert rsa.evidence["incomplete"][0]["key_exchange"] == "RSA"
    assert failed(found) == {"GM-SUITE-INCOMPLETE"}  # GM-SUITE-APPROVED judges accepted only
    sm2 = run({**TLCP, "incomplete": [_incomplete("TLCPv1.1", 0xE053, "ECC_SM4_GCM_SM3")]})
    assert (sm2["GM-SUITE-INCOMPLETE"].evaluation, sm2["GM-SUITE-INCOMPLETE"].severity) == (
        Evaluation.FAILED, Severity.LOW)
    assert run(TLCP)["GM-SUITE-INCOMPLETE"].evaluation is Evaluation.PASSED
    assert run(MODERN)["GM-SUITE-INCOMPLETE"].evidence == {"applicable": False,
                                                          "incomplete": []}


def test_a_port_that_only_abandons_tlcp_is_still_judged() -> None:
    """No version completes (Tongsuo with an RSA certificate only under TLCP), yet the
    selections are facts: the port is judged, and it has no national crypto."""
    only = facts([], personality="none",
                 incomplete=[_incomplete("TLCPv1.1", 0xE019, "RSA_SM4_CBC_SM3")])
    found = run(only)
    assert {"GM-SUITE-INCOMPLETE", "GM-TLCP-ABSENT", "MP-N1-AUTH"} <= failed(found)


def test_tls_suite_selected_then_abandoned_is_low() -> None:
    closed = {**_incomplete("TLSv1.2", 0xC02B, "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"),
              "reason": "closed"}
    found = run({**MODERN, "incomplete": [closed]})
    verdict = found["TLS-SUITE-INCOMPLETE"]
    assert (verdict.evaluation, verdict.severity) == (Evaluation.FAILED, Severity.LOW)
    assert verdict.evidence == {"incomplete": [closed]}
    assert found["GM-SUITE-INCOMPLETE"].evaluation is Evaluation.PASSED
    assert run(MODERN)["TLS-SUITE-INCOMPLETE"].evaluation is Evaluation.PASSED
