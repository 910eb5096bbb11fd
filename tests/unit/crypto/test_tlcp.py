"""TLCP ServerKeyExchange signatures made by an independent signer (OpenSSL) verify."""

from __future__ import annotations

import secrets
import shutil
import subprocess
from pathlib import Path

import pytest

from sentinel.crypto import tlcp
from sentinel.errors import DecodeError

OPENSSL = shutil.which("openssl")
assert OPENSSL is not None, "openssl is missing: run `make deps`"


def _run(*args: str) -> None:
    assert OPENSSL is not None
    subprocess.run([OPENSSL, *args], check=True, capture_output=True)


@pytest.fixture(scope="module")
def sm2_certs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, bytes, bytes]:
    """(signing key file, signing cert DER, encryption cert DER), made by OpenSSL."""
    folder = tmp_path_factory.mktemp("tlcp")
    ders = []
    for name in ("sign", "enc"):
        key = folder / f"{name}.key"
        _run("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:SM2", "-out", str(key))
        der = folder / f"{name}.der"
        _run(
            *("req", "-x509", "-key", str(key), "-sm3", "-subj", f"/CN={name}", "-days", "1"),
            *("-outform", "DER", "-out", str(der)),
        )
        ders.append(der.read_bytes())
    return folder / "sign.key", ders[0], ders[1]


def _openssl_sign(key: Path, data: bytes, folder: Path) -> bytes:
    message, signature = folder / "tbs", folder / "sig"
    message.write_bytes(data)
    _run(
        *("pkeyutl", "-sign", "-rawin", "-digest", "sm3", "-inkey", str(key)),
        *("-pkeyopt", "distid:1234567812345678", "-in", str(message), "-out", str(signature)),
    )
    return signature.read_bytes()


def test_ecc_ske_signature_verifies(sm2_certs: tuple[Path, bytes, bytes], tmp_path: Path) -> None:
    key, signing_cert, encryption_cert = sm2_certs
    client_random, server_random = secrets.token_bytes(32), secrets.token_bytes(32)
    params = tlcp.ecc_signed_params(client_random, server_random, encryption_cert)
    signature = _openssl_sign(key, params, tmp_path)
    assert tlcp.verify_server_key_exchange(signing_cert, params, signature)
    # Signed over the signing certificate instead of the encryption one: must not verify.
    wrong = tlcp.ecc_signed_params(client_random, server_random, signing_cert)
    assert not tlcp.verify_server_key_exchange(signing_cert, wrong, signature)
    assert not tlcp.verify_server_key_exchange(encryption_cert, params, signature)


def test_ecdhe_ske_signature_verifies(sm2_certs: tuple[Path, bytes, bytes], tmp_path: Path) -> None:
    key, signing_cert, _ = sm2_certs
    ecdh_params = b"\x03\x00\x29\x41\x04" + secrets.token_bytes(64)
    params = tlcp.ecdhe_signed_params(bytes(32), bytes(range(32)), ecdh_params)
    signature = _openssl_sign(key, params, tmp_path)
    assert tlcp.verify_server_key_exchange(signing_cert, params, signature)


def test_malformed_inputs(sm2_certs: tuple[Path, bytes, bytes]) -> None:
    _, signing_cert, encryption_cert = sm2_certs
    params = tlcp.ecc_signed_params(bytes(32), bytes(32), encryption_cert)
    with pytest.raises(DecodeError):
        tlcp.verify_server_key_exchange(signing_cert, params, b"\x30\x00")
    with pytest.raises(ValueError, match="32 bytes"):
        tlcp.ecc_signed_params(bytes(31), bytes(32), encryption_cert)
