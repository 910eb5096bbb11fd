"""sentinel.probes.certs on certificates made here: RSA-1024/SHA-1, ECDSA P-256, Ed25519, SM2/SM3
(openssl CLI), hostile subjects, broken DER, and the TLCP pair conditions."""

from __future__ import annotations

import hashlib
import ipaddress
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

from sentinel.probes.certs import certificate_facts, tlcp_pair_check

START = datetime(2026, 1, 1, tzinfo=UTC)
PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey


def _name(text: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, text)])


def _make(key: PrivateKey, *, subject: str = "host.test", issuer: str = "Lab CA",
          algorithm: hashes.SHA256 | None = None, days: int = 90,
          usage: x509.KeyUsage | None = None, san: list[x509.GeneralName] | None = None,
          subject_name: x509.Name | None = None) -> bytes:
    builder = (x509.CertificateBuilder()
               .subject_name(subject_name or _name(subject)).issuer_name(_name(issuer))
               .public_key(key.public_key()).serial_number(0x1A2B)
               .not_valid_before(START).not_valid_after(START + timedelta(days=days)))
    if usage is not None:
        builder = builder.add_extension(usage, critical=True)
    if san:
        builder = builder.add_extension(x509.SubjectAlternativeName(san), critical=False)
    return builder.sign(key, algorithm).public_bytes(Encoding.DER)


def _usage(**bits: bool) -> x509.KeyUsage:
    fields = ("digital_signature", "content_commitment", "key_encipherment", "data_encipherment",
              "key_agreement", "key_cert_sign", "crl_sign", "encipher_only", "decipher_only")
    return x509.KeyUsage(**{f: bits.get(f, False) for f in fields})


def _openssl(folder: Path, name: str, newkey: list[str], *extra: str) -> bytes:
    """A self-signed certificate from the openssl CLI (cryptography refuses SHA-1 signing)."""
    key, crt = folder / f"{name}.key", folder / f"{name}.crt"
    keying = [*newkey, "-keyout", str(key)] if newkey else ["-key", str(key)]
    subprocess.run(["openssl", "req", "-x509", "-new", *keying, "-nodes", "-out", str(crt),
                    *extra], check=True, capture_output=True)
    return x509.load_pem_x509_certificate(crt.read_bytes()).public_bytes(Encoding.DER)


def test_rsa_1024_sha1_leaf(tmp_path: Path) -> None:
    der = _openssl(tmp_path, "legacy", ["-newkey", "rsa:1024"], "-sha1", "-days", "3650",
                   "-subj", "/CN=legacy.test", "-addext",
                   "keyUsage=critical,digitalSignature,keyEncipherment",
                   "-addext", "subjectAltName=DNS:legacy.test,IP:198.18.11.20")
    facts = certificate_facts(der)
    assert facts["key"] == {"type": "rsa", "size": 1024}
    assert facts["signature_algorithm"]["oid"] == "1.2.840.113549.1.1.5"
    assert "sha1" in facts["signature_algorithm"]["name"].lower()
    assert facts["lifetime_days"] == 3650
    assert facts["not_after"].endswith("Z") and facts["not_before"] < facts["not_after"]
    assert facts["key_usage"] == ["digital_signature", "key_encipherment"]
    assert facts["san"] == ["DNS:legacy.test", "IP:198.18.11.20"]
    assert (facts["subject"], facts["issuer"]) == ("CN=legacy.test", "CN=legacy.test")
    assert facts["self_signed"] is True
    assert facts["sha256"] == hashlib.sha256(der).hexdigest()


def test_issuer_serial_validity_from_a_built_certificate() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    facts = certificate_facts(_make(key, algorithm=hashes.SHA256(), days=365,
                                    san=[x509.IPAddress(ipaddress.ip_address("2001:db8::1"))]))
    assert (facts["subject"], facts["issuer"]) == ("CN=host.test", "CN=Lab CA")
    assert (facts["serial"], facts["self_signed"], facts["is_ca"]) == ("1a2b", False, False)
    assert (facts["not_before"], facts["not_after"]) == ("2026-01-01T00:00:00Z",
                                                         "2027-01-01T00:00:00Z")
    assert facts["lifetime_days"] == 365 and facts["san"] == ["IP:2001:db8::1"]


def test_ecdsa_p256_and_ed25519_keys() -> None:
    p256 = certificate_facts(_make(ec.generate_private_key(ec.SECP256R1()),
                                   algorithm=hashes.SHA256()))
    assert p256["key"] == {"type": "ec", "size": 256, "curve": "secp256r1"}
    assert p256["signature_algorithm"]["oid"] == "1.2.840.10045.4.3.2"
    assert p256["key_usage"] is None and p256["san"] == []
    ed = certificate_facts(_make(ed25519.Ed25519PrivateKey.generate()))
    assert ed["key"] == {"type": "ed25519", "size": 256}
    assert ed["signature_algorithm"]["oid"] == "1.3.101.112"


def _openssl_sm2(folder: Path, name: str, usage: str) -> bytes:
    # OpenSSL 3.0's req cannot make an SM2 key itself ("-newkey ec" + SM2 fails): genpkey.
    key = str(folder / f"{name}.key")
    subprocess.run(["openssl", "genpkey", "-algorithm", "SM2", "-out", key], check=True,
                   capture_output=True)
    return _openssl(folder, name, [], "-sm3", "-days", "30",
                    "-subj", "/CN=tlcp.test/O=Sentinel Lab/C=CN",
                    "-addext", f"keyUsage=critical,{usage}",
                    "-addext", "basicConstraints=critical,CA:FALSE",
                    "-addext", "subjectAltName=DNS:tlcp.test")


def test_sm2_certificate_made_by_openssl(tmp_path: Path) -> None:
    facts = certificate_facts(_openssl_sm2(tmp_path, "sign", "digitalSignature"))
    assert facts["key"] == {"type": "sm2", "size": 256, "curve": "sm2p256v1",
                            "curve_oid": "1.2.156.10197.1.301"}
    assert facts["signature_algorithm"] == {"oid": "1.2.156.10197.1.501",
                                            "name": "sm2-with-sm3", "class": "national"}
    assert facts["key_usage"] == ["digital_signature"]
    assert facts["san"] == ["DNS:tlcp.test"] and facts["lifetime_days"] == 30
    assert facts["subject"] == "C=CN,O=Sentinel Lab,CN=tlcp.test"


def test_tlcp_pair_conditions_on_real_sm2_certificates(tmp_path: Path) -> None:
    sign = certificate_facts(_openssl_sm2(tmp_path, "sign", "digitalSignature"))
    enc = certificate_facts(_openssl_sm2(tmp_path, "enc", "keyEncipherment,dataEncipherment"))
    assert tlcp_pair_check([sign, enc]) == {"ok": True, "order": "sign-enc", "problems": [],
                                            "warnings": []}
    swapped = tlcp_pair_check([enc, sign])
    assert not swapped["ok"] and len(swapped["problems"]) == 2
    rsa_leaf = certificate_facts(_make(rsa.generate_private_key(65537, 2048),
                                       algorithm=hashes.SHA256(),
                                       usage=_usage(digital_signature=True)))
    mixed = tlcp_pair_check([rsa_leaf, enc])
    assert "sign certificate key is rsa, not SM2" in mixed["problems"]
    assert tlcp_pair_check([sign])["problems"] == ["fewer than two end-entity certificates"]


def test_hostile_subject_parses_and_keeps_the_servers_text() -> None:
    hostile = x509.Name([
        x509.NameAttribute(NameOID.COMMON_NAME, "<script>alert(1)</script>"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "省大数据局\u0000\u001b[31m\u202e"),
        x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, 'a,b+c="d"\\'),
    ])
    key = ec.generate_private_key(ec.SECP256R1())
    facts = certificate_facts(_make(key, algorithm=hashes.SHA256(), subject_name=hostile,
                                    san=[x509.DNSName("<b>x</b>.test")]))
    assert "error" not in facts
    # RFC 4514 escapes the markup and the NUL; the text is still the server's, so renderers
    # must escape it again (HTML, terminals: the ESC and the RTL override survive).
    assert "alert(1)" in facts["subject"] and "\\<script\\>" in facts["subject"]
    assert "省大数据局\\00\u001b[31m\u202e" in facts["subject"]
    assert facts["san"] == ["DNS:<b>x</b>.test"]


@pytest.mark.parametrize("der", [b"", b"\x30\x03\x02\x01\x00", b"\x30" + b"\xff" * 40,
                                 bytes(range(256))])
def test_broken_der_becomes_a_fact_not_an_exception(der: bytes) -> None:
    facts: dict[str, Any] = certificate_facts(der)
    assert facts["error"].startswith("unparseable certificate")
    assert facts["sha256"] == hashlib.sha256(der).hexdigest()
