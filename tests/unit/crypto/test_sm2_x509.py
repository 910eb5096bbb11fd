"""SM2 keys from SubjectPublicKeyInfo and certificates, checked against OpenSSL-made ones."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from cryptography import x509

from sentinel.crypto import sm2
from sentinel.errors import DecodeError

OPENSSL = shutil.which("openssl")
assert OPENSSL is not None, "openssl is missing: run `make deps`"

ID_EC_PUBLIC_KEY = bytes.fromhex("06072a8648ce3d0201")
SM2_CURVE = bytes.fromhex("06082a811ccf5501822d")
SECP256R1 = bytes.fromhex("06082a8648ce3d030107")


def tlv(tag: int, content: bytes) -> bytes:
    if len(content) < 0x80:
        return bytes([tag, len(content)]) + content
    size = (len(content).bit_length() + 7) // 8
    return bytes([tag, 0x80 | size]) + len(content).to_bytes(size, "big") + content


def spki(point: bytes, curve: bytes = SM2_CURVE, unused_bits: int = 0) -> bytes:
    algorithm = tlv(0x30, ID_EC_PUBLIC_KEY + curve)
    return tlv(0x30, algorithm + tlv(0x03, bytes([unused_bits]) + point))


@pytest.fixture(scope="module")
def openssl_sm2(tmp_path_factory: pytest.TempPathFactory) -> tuple[bytes, Path]:
    """A self-signed SM2 certificate (DER) and its key file, made by OpenSSL."""
    folder = tmp_path_factory.mktemp("sm2")
    key = folder / "key.pem"
    run = [OPENSSL, "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:SM2"]
    subprocess.run([*run, "-out", str(key)], check=True, capture_output=True)
    der = folder / "cert.der"
    subprocess.run(
        [
            *(OPENSSL, "req", "-x509", "-key", str(key), "-sm3", "-subj", "/CN=sm2"),
            *("-days", "1", "-outform", "DER", "-out", str(der)),
        ],
        check=True,
        capture_output=True,
    )
    return der.read_bytes(), key


def test_spki_round_trip() -> None:
    point = sm2.encode_point(sm2.public_key_for(12345))
    assert sm2.public_key_from_spki(spki(point)) == sm2.public_key_for(12345)


@pytest.mark.parametrize(
    ("encoded", "reason"),
    [
        (spki(sm2.encode_point(sm2.G), curve=SECP256R1), "not sm2p256v1"),
        (spki(sm2.encode_point(sm2.G), unused_bits=1), "unused bits"),
        (spki(sm2.encode_point(sm2.G)[:-1] + b"\x00"), "not on"),
        (spki(sm2.encode_point(sm2.G)) + b"\x00", "trailing"),
        (spki(sm2.encode_point(sm2.G))[:-5], "past the end"),
    ],
)
def test_spki_rejections(encoded: bytes, reason: str) -> None:
    with pytest.raises(DecodeError, match=reason):
        sm2.public_key_from_spki(encoded)


def test_key_from_openssl_certificate_verifies_its_self_signature(
    openssl_sm2: tuple[bytes, Path],
) -> None:
    der, _ = openssl_sm2
    public = sm2.public_key_from_certificate(der)
    cert = x509.load_der_x509_certificate(der)
    # OpenSSL 3.0 `req -x509` signs certificates with an empty SM2 ID, not the default one.
    assert sm2.verify(public, cert.tbs_certificate_bytes, cert.signature, b"")
    assert not sm2.verify(public, cert.tbs_certificate_bytes, cert.signature)


def test_openssl_signature_with_tls13_id_verifies(
    openssl_sm2: tuple[bytes, Path], tmp_path: Path
) -> None:
    der, key = openssl_sm2
    message = tmp_path / "message"
    message.write_bytes(b"TLS 1.3 CertificateVerify content")
    signature = tmp_path / "signature"
    subprocess.run(
        [
            *(OPENSSL, "pkeyutl", "-sign", "-rawin", "-digest", "sm3", "-inkey", str(key)),
            *("-pkeyopt", "distid:TLSv1.3+GM+Cipher+Suite"),
            *("-in", str(message), "-out", str(signature)),
        ],
        check=True,
        capture_output=True,
    )
    public = sm2.public_key_from_certificate(der)
    content = message.read_bytes()
    assert sm2.verify(public, content, signature.read_bytes(), sm2.TLS13_SIGNER_ID)
    assert not sm2.verify(public, content, signature.read_bytes(), sm2.DEFAULT_SIGNER_ID)


def test_non_certificate_is_rejected() -> None:
    with pytest.raises(DecodeError):
        sm2.public_key_from_certificate(tlv(0x30, tlv(0x30, tlv(0x05, b""))))
