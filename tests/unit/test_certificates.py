"""Certificate findings (sentinel/assess/certificates.py) on chains built here from fixed keys.

EC keys come from fixed integers, RSA and SM2 keys and the SM2 certificates are committed
under tests/data/certificates (made once by its make.sh); dates are fixed and judged
against a fixed scan time, so nothing depends on the day the test runs.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

from sentinel.assess.base import AssetView
from sentinel.assess.certificates import (
    assess_certificates,
    dns_matches,
    judge,
    name_matches,
    names_of,
)
from sentinel.catalog.trust import TrustStore
from sentinel.model import Asset, AttemptStatus, Context, Endpoint, Evaluation, Observation
from sentinel.playbook import Segment
from sentinel.probes.certs import MAX_CHAIN, certificate_facts, chain_facts
from sentinel.severity import Severity

DATA = Path(__file__).resolve().parents[1] / "data" / "certificates"
NOW = datetime(2031, 6, 1, tzinfo=UTC)
VALID = (datetime(2030, 1, 1, tzinfo=UTC), datetime(2032, 1, 1, tzinfo=UTC))
SigningKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


def ec_key(secret: int) -> ec.EllipticCurvePrivateKey:
    return ec.derive_private_key(secret, ec.SECP256R1())


def rsa_key(bits: int) -> rsa.RSAPrivateKey:
    key = serialization.load_pem_private_key((DATA / f"rsa{bits}.key").read_bytes(), None)
    assert isinstance(key, rsa.RSAPrivateKey)
    return key


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


@dataclass(frozen=True)
class Made:
    der: bytes
    name: str
    key: SigningKey


def make(cn: str, key: SigningKey, issuer: Made | None = None, *, ca: bool = False,
         san: list[x509.GeneralName] | None = None,
         valid: tuple[datetime, datetime] = VALID, serial: int = 7) -> Made:
    """A certificate for ``cn`` signed by ``issuer`` (self-signed without one)."""
    signer = issuer.key if issuer else key
    builder = (x509.CertificateBuilder().subject_name(_name(cn))
               .issuer_name(_name(issuer.name if issuer else cn))
               .public_key(key.public_key()).serial_number(serial)
               .not_valid_before(valid[0]).not_valid_after(valid[1])
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if san is not None:
        builder = builder.add_extension(x509.SubjectAlternativeName(san), critical=False)
    deterministic = True if isinstance(signer, ec.EllipticCurvePrivateKey) else None  # RFC 6979
    cert = builder.sign(signer, hashes.SHA256(), ecdsa_deterministic=deterministic)
    return Made(cert.public_bytes(Encoding.DER), cn, key)


ROOT = make("Test Root", ec_key(1001), ca=True)
INTER = make("Test Intermediate", ec_key(1002), ROOT, ca=True)
LEAF = make("www.example.test", ec_key(1003), INTER,
            san=[x509.DNSName("www.example.test"), x509.DNSName("*.api.example.test")])
TRUST = TrustStore.of([ROOT.der])


def facts_of(*certs: Made | bytes, protocol: str = "TLSv1.2") -> dict[str, Any]:
    chain = [certificate_facts(c.der if isinstance(c, Made) else c) for c in certs]
    return {"port_state": "open", "certificates": [{"protocol": protocol, "chain": chain}]}


def verdicts(facts: dict[str, Any], names: tuple[str, ...] = ("www.example.test",),
             now: datetime = NOW, trust: TrustStore = TRUST) -> dict[str, Any]:
    return dict(judge(facts, list(names), now, trust))


def failed(found: dict[str, Any]) -> set[str]:
    return {check for check, v in found.items() if v.failed}


# ---- names (RFC 6125) ------------------------------------------------------------------

@pytest.mark.parametrize(("pattern", "host", "expected"), [
    ("www.example.test", "WWW.Example.TEST.", True),
    ("*.example.test", "www.example.test", True),
    ("*.example.test", "a.b.example.test", False),   # one label only
    ("*.example.test", "example.test", False),
    ("*.test", "example.test", False),               # no wildcard over a bare suffix
    ("w*.example.test", "www.example.test", False),  # partial labels are not wildcards
    ("www.*.test", "www.example.test", False),       # left-most label only
    ("*.*.example.test", "a.b.example.test", False),
])
def test_dns_names_follow_rfc_6125(pattern: str, host: str, expected: bool) -> None:
    assert dns_matches(pattern, host) is expected


def test_addresses_match_ip_entries_and_cn_counts_only_without_san() -> None:
    assert name_matches("198.18.1.10", ["DNS:www.example.test", "IP:198.18.1.10"], [])
    assert not name_matches("198.18.1.10", ["DNS:198.18.1.10"], [])
    assert name_matches("2001:db8::1", ["IP:2001:db8:0::1"], [])
    assert not name_matches("www.example.test", ["DNS:other.test"], ["www.example.test"])
    assert name_matches("www.example.test", [], ["www.example.test"])


def test_the_leaf_must_name_every_name_the_scan_used() -> None:
    found = verdicts(facts_of(LEAF, INTER), names=("www.example.test", "v1.api.example.test"))
    assert not found["TLS-CERT-NAME"].failed
    wrong = verdicts(facts_of(LEAF, INTER), names=("portal.example.test", "www.example.test"))
    assert wrong["TLS-CERT-NAME"].failed
    assert wrong["TLS-CERT-NAME"].evidence["mismatched"][0]["names"] == ["portal.example.test"]
    by_address = verdicts(facts_of(LEAF, INTER), names=())
    assert by_address["TLS-CERT-NAME"].evidence["applicable"] is False


# ---- a good chain, then each defect ----------------------------------------------------

def test_a_sound_chain_fails_nothing() -> None:
    found = verdicts(facts_of(LEAF, INTER))
    assert failed(found) == set()
    assert found["TLS-CERT-TRUST"].evidence["untrusted"] == []
    analysis = chain_facts(facts_of(LEAF, INTER)["certificates"][0]["chain"], TRUST)
    assert analysis["path"] == [0, 1] and analysis["anchor"]["source"] == "trust-store"
    assert [link["verified"] for link in analysis["links"]] == [True, True]


def test_validity_is_judged_at_the_scan_time() -> None:
    assert failed(verdicts(facts_of(LEAF, INTER), now=datetime(2032, 1, 2, tzinfo=UTC))) == {
        "TLS-CERT-EXPIRED"}
    assert failed(verdicts(facts_of(LEAF, INTER), now=datetime(2029, 12, 31, tzinfo=UTC))) == {
        "TLS-CERT-NOT-YET-VALID"}
    old_inter = make("Test Intermediate", ec_key(1002), ROOT, ca=True,
                     valid=(VALID[0], datetime(2031, 1, 1, tzinfo=UTC)))
    found = verdicts(facts_of(LEAF, old_inter))
    assert failed(found) == {"TLS-CERT-EXPIRED"}
    assert [c["subject"] for c in found["TLS-CERT-EXPIRED"].evidence["certificates"]] == [
        "CN=Test Intermediate"]


def test_a_missing_intermediate_is_an_incomplete_chain() -> None:
    found = verdicts(facts_of(LEAF))
    assert failed(found) == {"TLS-CERT-CHAIN"}
    assert found["TLS-CERT-CHAIN"].evidence["incomplete"][0]["missing_issuer"] == (
        "CN=Test Intermediate")
    assert found["TLS-CERT-TRUST"].evidence["applicable"] is False


def test_certificates_sent_out_of_order() -> None:
    found = verdicts(facts_of(LEAF, ROOT, INTER))
    assert failed(found) == {"TLS-CERT-ORDER"}
    assert found["TLS-CERT-ORDER"].evidence["out_of_order"][0]["path"] == [0, 2, 1]


def test_a_root_outside_the_trust_store_is_untrusted() -> None:
    other = make("Other Root", ec_key(2001), ca=True)
    leaf = make("www.example.test", ec_key(2002), other, san=[x509.DNSName("www.example.test")])
    assert failed(verdicts(facts_of(leaf, other))) == {"TLS-CERT-TRUST"}
    self_signed = make("www.example.test", ec_key(2003), san=[x509.DNSName("www.example.test")])
    found = verdicts(facts_of(self_signed))
    assert failed(found) == {"TLS-CERT-TRUST"}
    assert found["TLS-CERT-TRUST"].evidence["untrusted"][0]["anchor"]["source"] == "sent"
    assert failed(verdicts(facts_of(leaf, other), trust=TrustStore.of([other.der]))) == set()


def test_a_forged_issuer_of_the_same_name_does_not_complete_the_chain() -> None:
    forged = make("Test Intermediate", ec_key(3001), ROOT, ca=True)  # right name, wrong key
    found = verdicts(facts_of(LEAF, forged))
    assert "TLS-CERT-CHAIN" in failed(found)


def pem(name: str) -> bytes:
    return x509.load_pem_x509_certificate((DATA / f"{name}.pem").read_bytes()).public_bytes(
        Encoding.DER)


def test_weak_signatures_anywhere_on_the_path_but_not_the_roots_own() -> None:
    # weak-root: RSA 1024, signs itself and weak-inter with SHA-1 (made by make.sh).
    weak_root, inter_der = pem("weak-root"), pem("weak-inter")
    inter = Made(inter_der, "Weak Intermediate", rsa_key(2048))
    leaf = make("www.example.test", ec_key(4001), inter, san=[x509.DNSName("www.example.test")])
    trust = TrustStore.of([weak_root])
    found = verdicts(facts_of(leaf, inter_der, weak_root), trust=trust)
    assert failed(found) == {"TLS-CERT-CHAIN-SIG"}
    weak = found["TLS-CERT-CHAIN-SIG"].evidence["weak"]
    assert weak == [{"protocol": "TLSv1.2", "subject": "CN=Weak Intermediate",
                     "weak": ["signed with sha1", "signed by a 1024-bit RSA key"]}]
    assert found["TLS-CERT-CHAIN-SIG"].severity is None  # the catalog's medium
    md5 = verdicts(facts_of(pem("md5-leaf"), inter_der), trust=trust)
    assert failed(md5) == {"TLS-CERT-CHAIN-SIG"}
    assert md5["TLS-CERT-CHAIN-SIG"].severity is Severity.HIGH


# ---- SM2 and the TLCP pair -------------------------------------------------------------

sm2 = pem
SM2_TRUST = TrustStore.of([sm2("sm2-ca")])


def test_an_sm2_tlcp_chain_verifies_with_sentinels_sm2() -> None:
    facts = facts_of(sm2("sm2-sign"), sm2("sm2-enc"), sm2("sm2-ca"), protocol="TLCPv1.1")
    found = verdicts(facts, names=("tlcp.test",), trust=SM2_TRUST)
    assert failed(found) == set()
    analysis = chain_facts(facts["certificates"][0]["chain"], SM2_TRUST, tlcp=True)
    assert (analysis["path"], analysis["in_order"], analysis["trusted"]) == ([0, 2], True, True)
    assert analysis["enc"] == {"index": 1, "issuer_at": 2, "verified": True}
    # Without the SM2 root in the store the same chain is complete but untrusted.
    assert failed(verdicts(facts, names=("tlcp.test",))) == {"TLS-CERT-TRUST"}


def test_a_tampered_sm2_signature_breaks_the_link() -> None:
    der = bytearray(sm2("sm2-sign"))
    der[-5] ^= 0x01  # inside the signature's s
    facts = facts_of(bytes(der), sm2("sm2-enc"), sm2("sm2-ca"), protocol="TLCPv1.1")
    assert "TLS-CERT-CHAIN" in failed(verdicts(facts, names=("tlcp.test",), trust=SM2_TRUST))


def test_tlcp_pair_defects_the_pair_check_does_not_see() -> None:
    same = facts_of(sm2("sm2-sign"), sm2("sm2-enc-samekey"), sm2("sm2-ca"), protocol="TLCPv1.1")
    assert failed(verdicts(same, names=("tlcp.test",), trust=SM2_TRUST)) == {
        "GM-CERT-PAIR-KEY"}
    mixed = facts_of(sm2("sm2-sign-mixed"), sm2("sm2-enc"), sm2("sm2-ca"), protocol="TLCPv1.1")
    found = verdicts(mixed, names=("tlcp.test",), trust=SM2_TRUST)
    assert failed(found) == {"GM-CERT-PAIR-USAGE"}
    assert found["GM-CERT-PAIR-USAGE"].evidence["sign_extra_usages"] == ["key_encipherment"]
    tls = verdicts(facts_of(LEAF, INTER))
    assert tls["GM-CERT-PAIR-KEY"].evidence == {"applicable": False}


# ---- hostile chains --------------------------------------------------------------------

def test_a_ten_thousand_certificate_chain_is_examined_bounded() -> None:
    leaf_facts = certificate_facts(LEAF.der)
    chain = [leaf_facts] * 10_000
    analysis = chain_facts(chain, TRUST)
    assert (analysis["examined"], analysis["sent"], analysis["truncated"]) == (
        MAX_CHAIN, 10_000, True)
    assert analysis["complete"] is False


@pytest.mark.parametrize("garbage", [b"", b"\x30\x03\x02\x01\x00", bytes(range(256)) * 4])
def test_garbage_certificates_are_facts_not_crashes(garbage: bytes) -> None:
    for chain in ([garbage], [LEAF.der, garbage, INTER.der], [garbage, LEAF.der]):
        found = verdicts(facts_of(*chain))
        assert "TLS-CERT-EXPIRED" in found
    tampered = dict(certificate_facts(LEAF.der), der_b64="not base64!")
    assert chain_facts([tampered], TRUST)["error"] == "leaf certificate unparseable"


# ---- through the registered assessor ---------------------------------------------------

def test_the_assessor_reports_each_check_once_per_endpoint() -> None:
    context = Context(scan_id="s1", agency_id="a", segment_id="web")
    segment = Segment(id="web", agency="a", cidrs=("198.18.1.0/24",), zone="extranet")
    asset = Asset(id="www", name="portal.example.test", addresses=("198.18.1.10",))
    facts = facts_of(LEAF)
    facts["tls13_certificate"] = {"standard": {"chain": facts["certificates"][0]["chain"]}}
    obs = Observation(probe="tls", context=context, asset=asset,
                      endpoint=Endpoint(address="198.18.1.10", port=443),
                      status=AttemptStatus.COMPLETED, facts=facts,
                      started=datetime(2033, 1, 1, tzinfo=UTC))
    found = {f.check_id: f for f in assess_certificates(AssetView(asset, context, segment, [obs]))}
    assert len(found) == 9
    wrong = {c for c, f in found.items() if f.evaluation is Evaluation.FAILED}
    # The system trust store: the test root is not in it, but this chain is incomplete.
    assert wrong == {"TLS-CERT-EXPIRED", "TLS-CERT-NAME", "TLS-CERT-CHAIN"}
    assert found["TLS-CERT-EXPIRED"].severity is Severity.HIGH
    assert found["TLS-CERT-NAME"].evidence["names"] == ["portal.example.test"]
    assert len(found["TLS-CERT-CHAIN"].evidence["incomplete"]) == 1  # 1.2 and 1.3: one chain
    assert base64.b64decode(facts["certificates"][0]["chain"][0]["der_b64"]) == LEAF.der


def test_the_names_judged_are_the_sni_sent_and_the_scanned_name() -> None:
    context = Context(scan_id="s1", agency_id="a", segment_id="web")

    def observed(facts: dict[str, Any], name: str | None) -> Observation:
        return Observation(probe="tls", context=context, asset=Asset(id="www", name=name),
                           endpoint=Endpoint(address="198.18.1.10", port=443),
                           status=AttemptStatus.COMPLETED, facts=facts, started=NOW)

    assert names_of(observed({}, "www.example.test")) == ["www.example.test"]
    # A probe that records what it sent: SNI switched off leaves only the scanned name.
    assert names_of(observed({"server_name": None}, "www.example.test")) == ["www.example.test"]
    assert names_of(observed({"server_name": "alias.example.test"}, "www.example.test")) == [
        "alias.example.test", "www.example.test"]
    assert names_of(observed({}, None)) == []
