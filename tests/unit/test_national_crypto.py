"""One definition of national crypto, read from probes/tls.yml, shared by the probe's
posture, the crypto assessor, the change events and the crypto-posture label.

The facts are shaped as the ``tls`` probe reports them (docs/probe-tls.md); each consumer is
the real one. The alert comes from the shipped rule ``rules/event/national-crypto-lost.yml``
run by the local Sigma engine over the event as it is stored.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import pytest

from sentinel.assess import assess
from sentinel.assess.base import AssetView
from sentinel.assess.posture import crypto_posture
from sentinel.catalog.resources import OVERLAY_ENV
from sentinel.catalog.tls import national_crypto, tls_registry
from sentinel.catalog.tls_schema import load_registry
from sentinel.detect.changes import asset_changes
from sentinel.detect.local import LocalEngine
from sentinel.detect.sigma import load_rules
from sentinel.errors import CatalogError
from sentinel.model import (
    Asset,
    AttemptStatus,
    Context,
    Endpoint,
    Evaluation,
    Event,
    Observation,
    event_to_ecs,
    observation_to_ecs,
)
from sentinel.playbook import Levels, Segment
from sentinel.probes.tls import national_facts, posture

ROOT = Path(__file__).resolve().parents[2]
T0 = datetime(2026, 11, 1, tzinfo=UTC)
ADDRESS = "198.18.1.5"
ASSET = Asset(id="gw1", addresses=(ADDRESS,))
NATIONAL_RULE = "dd345d3a-f847-5f9a-924f-138b9cbc0284"  # rules/event/national-crypto-lost.yml

SM2_KEY = {"type": "sm2", "size": 256, "curve": "sm2p256v1"}
RSA_KEY = {"type": "rsa", "size": 2048}
SM3_SM2 = {"oid": "1.2.156.10197.1.501", "name": "sm2-with-sm3", "class": "national"}
SHA256_RSA = {"oid": "1.2.840.113549.1.1.11", "name": "sha256WithRSAEncryption",
              "class": "strong"}
PAIR_OK = {"ok": True, "order": "sign-enc", "problems": [], "warnings": []}
GCM = ("TLSv1.2", 0xC02F, "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256")
ECC_SM4 = ("TLCPv1.1", 0xE013, "ECC_SM4_CBC_SM3")
RSA_SM4 = ("TLCPv1.1", 0xE019, "RSA_SM4_CBC_SM3")
SM4_GCM_13 = ("TLSv1.3", 0x00C6, "TLS_SM4_GCM_SM3")
# Not in the shipped registry: a TLCP suite that exists only in an organisation's overlay.
OVERLAY_CODE = 0xE0A3
OVERLAY = ("TLCPv1.1", OVERLAY_CODE, "ECC_SM4_OVERLAY_SM3")
OVERLAY_ENTRY = (
    "  - {code: 0xE0A3, name: ECC_SM4_OVERLAY_SM3, family: tlcp, kx: ECC_SM2, auth: SM2, "
    "cipher: SM4, mode: CCM, mac: SM3, class: national, pfs: false, aead: true, "
    "min_version: tlcp1.1, registry: draft, refs: [\"test overlay\"]}\n"
)


def cert(key: dict[str, Any], digest: str) -> dict[str, Any]:
    sig = SM3_SM2 if key["type"] == "sm2" else SHA256_RSA
    return {"subject": "CN=gw1", "issuer": "CN=ca", "key": key, "signature_algorithm": sig,
            "sha256": digest, "not_after": "2027-06-01T00:00:00Z", "lifetime_days": 90,
            "key_usage": None, "is_ca": False, "self_signed": False}


def tls_facts(accepted: list[tuple[str, int, str]], **extra: Any) -> dict[str, Any]:
    facts: dict[str, Any] = {
        "port_state": "open", "versions": sorted({p for p, _c, _n in accepted}),
        "accepted": [{"protocol": p, "code": f"0x{c:04X}", "name": n} for p, c, n in accepted],
        "server_preference": [], "groups": [], "certificates": [], "tls13_certificate": None,
        "tlcp_key_exchange": None, "personality": "dual", "incomplete": [],
    }
    facts.update(extra)
    facts["posture"] = posture(facts, tls_registry())  # as the probe computes them
    facts["national"] = national_facts(facts, tls_registry())
    return facts


def tlcp_sm2(suite: tuple[str, int, str] = ECC_SM4) -> dict[str, Any]:
    """A dual gateway: TLS 1.2 with RSA, TLCP with an SM2 pair whose SKE verifies."""
    chain = {"protocol": "TLCPv1.1", "suite": f"0x{suite[1]:04X}", "tlcp_pair": PAIR_OK,
             "chain": [cert(SM2_KEY, "51"), cert(SM2_KEY, "52")]}
    return tls_facts([GCM, suite], certificates=[chain],
                     tlcp_key_exchange={"suite": f"0x{suite[1]:04X}", "signature_valid": True,
                                        "named_curve": None, "certificate_requested": False})


# The same port, next scan: the SM2 certificate swapped for an RSA one.
SWAPS = {
    # TLCP now negotiates RSA_SM4_CBC_SM3 with the RSA certificate: SM4 records, RSA auth.
    "tlcp-rsa-suite": tls_facts([GCM, RSA_SM4], certificates=[
        {"protocol": "TLCPv1.1", "suite": "0xE019", "chain": [cert(RSA_KEY, "r1")],
         "tlcp_pair": {"ok": False, "order": "missing", "problems": ["fewer than two"]}}]),
    # TLCP still takes ECC_SM4_CBC_SM3, but the chain it sends is RSA.
    "tlcp-rsa-chain": tls_facts([GCM, ECC_SM4], certificates=[
        {"protocol": "TLCPv1.1", "suite": "0xE013", "chain": [cert(RSA_KEY, "r1")],
         "tlcp_pair": {"ok": False, "order": "missing", "problems": ["fewer than two"]}}]),
    # RFC 8998: TLS_SM4_GCM_SM3 still accepted, the certificate is RSA.
    "rfc8998-rsa": tls_facts([GCM, SM4_GCM_13], tls13_certificate={"standard": None, "sm": {
        "suite": "0x00C6", "suite_name": "TLS_SM4_GCM_SM3", "signature_valid": True,
        "chain": [cert(RSA_KEY, "r1")]}}),
}
SM2_BEFORE = {
    "tlcp-rsa-suite": tlcp_sm2(),
    "tlcp-rsa-chain": tlcp_sm2(),
    "rfc8998-rsa": tls_facts([GCM, SM4_GCM_13], tls13_certificate={"standard": None, "sm": {
        "suite": "0x00C6", "suite_name": "TLS_SM4_GCM_SM3", "signature_valid": True,
        "chain": [cert(SM2_KEY, "51")]}}),
}


def ctx(scan: str) -> Context:
    return Context(scan_id=scan, agency_id="a1", segment_id="s1")


def observation(scan: str, facts: dict[str, Any], day: int) -> Observation:
    return Observation(probe="tls", context=ctx(scan), asset=ASSET,
                       endpoint=Endpoint(address=ADDRESS, port=443),
                       status=AttemptStatus.COMPLETED, facts=facts,
                       started=T0 + timedelta(days=day))


def events(before: dict[str, Any], after: dict[str, Any]) -> list[Event]:
    old = [observation_to_ecs(observation("s1", before, 0))]
    new = [observation_to_ecs(observation("s2", after, 1))]
    return asset_changes(old, new, ctx("s2"), ASSET, T0 + timedelta(days=1))


def verdicts(facts: dict[str, Any]) -> dict[str, Evaluation]:
    segment = Segment(id="s1", agency="a1", cidrs=("198.18.1.0/24",), zone="extranet",
                      levels=Levels(mipin=3))
    view = AssetView(ASSET, ctx("s1"), segment, [observation("s1", facts, 0)])
    return {f.check_id: f.evaluation for f in assess(view) if f.probe == "tls"}


def national_alerts(found: list[Event]) -> list[str]:
    engine = LocalEngine(load_rules())
    items: list[tuple[Literal["event"], str, dict[str, Any]]] = [
        ("event", f"e{i}", event_to_ecs(e)) for i, e in enumerate(found)]
    return [a.rule_id for a in engine.run(items) if a.rule_id == NATIONAL_RULE]


@pytest.mark.parametrize("swap", sorted(SWAPS))
def test_an_sm2_certificate_swapped_for_rsa_raises_national_crypto_lost(swap: str) -> None:
    before, after = SM2_BEFORE[swap], SWAPS[swap]
    # Every consumer agrees on both scans: national before, not after.
    assert national_crypto(before).proven and national_crypto(before).offered
    assert not national_crypto(after).offered
    assert before["national"]["offered"] is True and after["national"]["offered"] is False
    assert "national" in crypto_posture(before)["posture"]  # type: ignore[index]
    assert "national" not in crypto_posture(after)["posture"]  # type: ignore[index]
    assert verdicts(before)["GM-TLCP-ABSENT"] is Evaluation.PASSED
    assert verdicts(after)["GM-TLCP-ABSENT"] is Evaluation.FAILED
    assert verdicts(after)["MP-N1-AUTH"] is Evaluation.FAILED

    found = events(before, after)
    lost = [e for e in found if e.action == "national-crypto-lost"]
    assert len(lost) == 1 and lost[0].endpoint == Endpoint(address=ADDRESS, port=443)
    assert national_alerts(found) == [NATIONAL_RULE]
    # And back: the SM2 certificate restored is a gain, which the rule does not alert on.
    back = events(after, before)
    assert [e.action for e in back if e.action.startswith("national")] == [
        "national-crypto-gained"]
    assert national_alerts(back) == []


def test_the_lost_event_says_what_refuted_it() -> None:
    lost = next(e for e in events(SM2_BEFORE["rfc8998-rsa"], SWAPS["rfc8998-rsa"])
                if e.action == "national-crypto-lost")
    assert lost.after == {"national": False, "refuted": ["RFC 8998 certificate key rsa"]}
    plain = next(e for e in events(SM2_BEFORE["tlcp-rsa-suite"], SWAPS["tlcp-rsa-suite"])
                 if e.action == "national-crypto-lost")
    assert plain.after == {"national": False}  # no national suite left: nothing to refute


def test_an_unchanged_sm2_gateway_raises_nothing_national() -> None:
    found = events(tlcp_sm2(), tlcp_sm2())
    assert not [e for e in found if e.action.startswith("national")]


@pytest.fixture
def overlay(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """probes/tls.yml overlaid with one more national TLCP suite, nothing else changed."""
    shipped = (ROOT / "probes" / "tls.yml").read_text(encoding="utf-8")
    assert OVERLAY_CODE not in tls_registry().suites  # the shipped registry does not know it
    anchor = "signaling:\n"
    assert shipped.count(anchor) == 1
    (tmp_path / "probes").mkdir()
    (tmp_path / "probes" / "tls.yml").write_text(
        shipped.replace(anchor, OVERLAY_ENTRY + anchor), encoding="utf-8")
    monkeypatch.setenv(OVERLAY_ENV, str(tmp_path))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    tls_registry.cache_clear()
    try:
        yield tmp_path
    finally:
        monkeypatch.delenv(OVERLAY_ENV)
        tls_registry.cache_clear()


def test_a_tlcp_suite_only_in_an_overlay_is_national_everywhere(overlay: Path) -> None:
    registry = tls_registry()
    assert registry.suites[OVERLAY_CODE].name == "ECC_SM4_OVERLAY_SM3"
    assert OVERLAY_CODE in registry.national_tlcp
    assert OVERLAY_CODE in registry.candidate_suites(0x0101)  # the enumerator offers it
    gateway = tlcp_sm2(OVERLAY)
    # the probe's posture and the crypto-posture label
    assert gateway["posture"]["key_exchange"] == ["classical", "sm2"]
    assert gateway["national"] == {"offered": True, "proven": True, "tlcp": "proven",
                                   "rfc8998": "none", "against": []}
    assert "national" in crypto_posture(gateway)["posture"]  # type: ignore[index]
    # the assessor's verdicts
    found = verdicts(gateway)
    for check in ("GM-TLCP-ABSENT", "GM-SUITE-APPROVED", "MP-N1-AUTH", "MP-N3-CONF"):
        assert found[check] is Evaluation.PASSED, check
    abandoned = {**gateway, "incomplete": [{"protocol": "TLCPv1.1", "code": "0xE0A3",
                                            "name": "ECC_SM4_OVERLAY_SM3", "reason": "closed"}]}
    segment = Segment(id="s1", agency="a1", cidrs=("198.18.1.0/24",), zone="extranet",
                      levels=Levels(mipin=3))
    incomplete = next(f for f in assess(AssetView(
        ASSET, ctx("s1"), segment, [observation("s1", abandoned, 0)]))
        if f.check_id == "GM-SUITE-INCOMPLETE")
    assert incomplete.evidence["not_national"] == []  # its SM2 key exchange is national
    # the change events, and the rule on them
    plain = tls_facts([GCM])
    assert [e.action for e in events(plain, gateway) if e.action.startswith("national")] == [
        "national-crypto-gained"]
    lost = events(gateway, plain)
    assert [e.action for e in lost if e.action.startswith("national")] == [
        "national-crypto-lost"]
    assert national_alerts(lost) == [NATIONAL_RULE]


def test_without_the_overlay_the_same_suite_is_not_national() -> None:
    gateway = tlcp_sm2(OVERLAY)  # an unknown code: no class, so no national crypto
    assert gateway["national"]["offered"] is False
    assert gateway["posture"]["key_exchange"] == ["classical"]
    found = verdicts(gateway)
    assert found["GM-TLCP-ABSENT"] is Evaluation.FAILED
    assert found["GM-SUITE-APPROVED"] is Evaluation.FAILED
    assert not [e for e in events(tls_facts([GCM]), gateway) if e.action.startswith("national")]


def test_the_gm_sets_and_thresholds_come_from_the_file() -> None:
    registry = tls_registry()
    assert registry.national_tlcp == {0xE011, 0xE013, 0xE015, 0xE017,
                                      0xE051, 0xE053, 0xE055, 0xE057}
    assert registry.sha1_tlcp == {0xE00A, 0xE01A}
    assert registry.sm1_tlcp == {0xE001, 0xE003, 0xE005, 0xE007, 0xE009}
    assert registry.rfc8998 == {0x00C6, 0x00C7}
    assert registry.national_key_exchanges == {"ECC_SM2", "ECDHE_SM2", "IBC_SM9", "IBSDH_SM9"}
    assert registry.sm2_groups == (0x0029,)
    assert registry.sm2_curve_names == {"sm2p256v1", "curveSM2"}
    assert registry.legacy_sm2_curves[0x00F9] == "old SM SSL (Kona accepts)"
    assert registry.national_signature_oids == {"1.2.156.10197.1.501", "1.2.156.10197.1.302.1"}
    limits = registry.certificates
    assert (limits.rsa_min_bits, limits.rsa_recommended_bits, limits.max_lifetime_days,
            limits.expiry_warning_days) == (2048, 3072, 366, 30)


def _with_certificates(text: str, body: str) -> str:
    start = text.index("\ncertificates:\n")
    return text[:start] + "\ncertificates:\n" + body


def test_the_certificates_section_is_validated() -> None:
    source = ROOT / "probes" / "tls.yml"
    text = source.read_text(encoding="utf-8")
    good = ("  rsa_min_bits: 2048\n  rsa_recommended_bits: 3072\n  ec_min_bits: 256\n"
            "  ec_min_security_bits: 128\n  max_lifetime_days: 366\n  expiry_warning_days: 30\n")
    assert load_registry(source, _with_certificates(text, good)).certificates.rsa_min_bits == 2048
    for bad, words in (
        (good.replace("rsa_recommended_bits: 3072", "rsa_recommended_bits: 1024"),
         "rsa_recommended_bits is below rsa_min_bits"),
        (good.replace("  expiry_warning_days: 30\n", ""), "expiry_warning_days"),
        (good.replace("max_lifetime_days: 366", "max_lifetime_days: 0"), "max_lifetime_days"),
        (good + "  rsa_max_bits: 1\n", "rsa_max_bits"),
    ):
        with pytest.raises(CatalogError) as caught:
            load_registry(source, _with_certificates(text, bad))
        assert words in str(caught.value) and "tls.yml" in str(caught.value)
    doubled = text.replace('    - {code: 0x0000, name: "TASSL"}\n',
                           '    - {code: 0x00F9, name: "TASSL"}\n')
    with pytest.raises(CatalogError, match="duplicate code"):
        load_registry(source, doubled)


def test_expiry_window_defaults_to_the_file(overlay: Path) -> None:
    """The certificate-expiring window is ``certificates.expiry_warning_days``."""
    text = (overlay / "probes" / "tls.yml").read_text(encoding="utf-8")
    (overlay / "probes" / "tls.yml").write_text(
        text.replace("expiry_warning_days: 30", "expiry_warning_days: 60"), encoding="utf-8")
    tls_registry.cache_clear()
    leaf = {**cert(RSA_KEY, "aa"), "not_after": "2026-12-20T00:00:00Z"}  # 49 days after T0+1
    scan = [("TLSv1.2", 0xC02F, "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256")]
    facts = tls_facts(scan, certificates=[{"protocol": "TLSv1.2", "chain": [leaf]}])
    found = [e.action for e in events(tls_facts(scan), copy.deepcopy(facts))]
    assert "certificate-expiring" in found
    tls_registry.cache_clear()
    (overlay / "probes" / "tls.yml").write_text(text, encoding="utf-8")
    assert "certificate-expiring" not in [e.action for e in events(tls_facts(scan), facts)]
