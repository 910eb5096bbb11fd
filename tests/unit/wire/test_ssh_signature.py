"""The exchange hash H and the host key's signature over it, with the fixed test host keys.

H is recomputed here from the RFC text, independently of ``wire.exchange_hash``: a server
half in the test (fixed X25519 / NIST / Diffie-Hellman secrets) derives K, hashes the
transcript and signs with a committed host key; the probe's :class:`KexClient` must arrive at
the same H and verify the signature. Every key is fixed; ECDSA signatures carry a random
nonce, but no assertion depends on it (a valid signature verifies whatever its nonce).
"""

from __future__ import annotations

import base64
import contextlib
import functools
import hashlib
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa, x25519
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    PublicFormat,
    load_ssh_private_key,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from sentinel.errors import DecodeError
from sentinel.probes import ssh_kex
from sentinel.wire import ssh

KEYS = Path(__file__).parents[2] / "data" / "ssh"
V_C = b"SSH-2.0-Sentinel_test"
V_S = b"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3"
I_C = bytes([20]) + b"C" * 16 + b"\0\0\0\0" * 10 + b"\0" + b"\0\0\0\0"
I_S = bytes([20]) + b"S" * 16 + b"\0\0\0\x11curve25519-sha256" + b"\0\0\0\0" * 9 + b"\0\0\0\0\0"
CLIENT_X25519 = x25519.X25519PrivateKey.from_private_bytes(bytes(range(1, 33)))
SERVER_X25519 = x25519.X25519PrivateKey.from_private_bytes(bytes(range(101, 133)))
# The pinned H of curve25519-sha256 with these inputs and the Ed25519 test key's blob.
PINNED_HEX = ("756a51ca98de96a667358a1cfcbe04c1"
              "735275f15111547de7525a4a2090a10c")

HostPrivate = ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


@functools.cache
def _key(name: str) -> HostPrivate:
    key = load_ssh_private_key((KEYS / f"ssh_host_{name}_key").read_bytes(), None)
    assert isinstance(key, ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey
                      | rsa.RSAPrivateKey)
    return key


def _blob(key: HostPrivate) -> bytes:
    line = key.public_key().public_bytes(Encoding.OpenSSH, PublicFormat.OpenSSH)
    return base64.b64decode(line.split()[1])


# ---- an independent server half, written from the RFCs -------------------------------------

def _string(data: bytes) -> bytes:
    return len(data).to_bytes(4, "big") + data


def _mpint(value: int) -> bytes:
    data = value.to_bytes((value.bit_length() + 8) // 8, "big") if value else b""
    return _string(data)


def _h(hash_name: str, k_s: bytes, middle: bytes, k: int) -> bytes:
    """RFC 4253 §8 / RFC 5656 §4 / RFC 8731 §3: the hash of the concatenation."""
    return hashlib.new(hash_name, _string(V_C) + _string(V_S) + _string(I_C) + _string(I_S)
                       + _string(k_s) + middle + _mpint(k)).digest()


def _sign(algorithm: str, key: HostPrivate, data: bytes) -> bytes:
    """The signature blob a server sends (RFC 8709 §6, RFC 5656 §3.1.2, RFC 8332 §3)."""
    if isinstance(key, ed25519.Ed25519PrivateKey):
        raw = key.sign(data)
    elif isinstance(key, ec.EllipticCurvePrivateKey):
        ec_hash: dict[int, hashes.HashAlgorithm] = {
            256: hashes.SHA256(), 384: hashes.SHA384(), 521: hashes.SHA512()}
        r, s = decode_dss_signature(key.sign(data, ec.ECDSA(ec_hash[key.curve.key_size])))
        raw = _mpint(r) + _mpint(s)
    else:
        rsa_hash: dict[str, hashes.HashAlgorithm] = {
            "rsa-sha2-512": hashes.SHA512(), "rsa-sha2-256": hashes.SHA256(),
            "ssh-rsa": hashes.SHA1()}
        raw = key.sign(data, padding.PKCS1v15(), rsa_hash[algorithm])
    return _string(algorithm.encode()) + _string(raw)


def _server_curve25519(client_share: bytes, k_s: bytes) -> tuple[bytes, bytes]:
    """(Q_S, H) of the server's side of curve25519-sha256."""
    q_s = SERVER_X25519.public_key().public_bytes_raw()
    shared = SERVER_X25519.exchange(x25519.X25519PublicKey.from_public_bytes(client_share))
    return q_s, _h("sha256", k_s, _string(client_share) + _string(q_s),
                   int.from_bytes(shared, "big"))


def _client_h(client: ssh_kex.KexClient, k_s: bytes, server_public: bytes) -> bytes:
    return client.exchange_hash(v_c=V_C, v_s=V_S, i_c=I_C, i_s=I_S, k_s=k_s,
                                server_public=server_public)


HOST_KEYS = [("ssh-ed25519", "ed25519"), ("ecdsa-sha2-nistp256", "ecdsa_256"),
             ("ecdsa-sha2-nistp384", "ecdsa_384"), ("ecdsa-sha2-nistp521", "ecdsa_521"),
             ("rsa-sha2-512", "rsa_2048"), ("rsa-sha2-256", "rsa_2048"), ("ssh-rsa", "rsa_2048")]


@pytest.mark.parametrize(("algorithm", "key_name"), HOST_KEYS)
def test_each_host_key_algorithm_verifies_over_curve25519(algorithm: str,
                                                          key_name: str) -> None:
    key = _key(key_name)
    k_s = _blob(key)
    client = ssh_kex.KexClient.start("curve25519-sha256", ecdh=CLIENT_X25519)
    q_s, server_h = _server_curve25519(client.client_public, k_s)
    exchange_hash = _client_h(client, k_s, q_s)
    assert exchange_hash == server_h
    good = ssh_kex.verify_signature(algorithm, k_s, _sign(algorithm, key, server_h),
                                    exchange_hash)
    assert good == {"status": "verified", "signature_algorithm": algorithm}
    wrong = ssh_kex.verify_signature(algorithm, k_s, _sign(algorithm, key, b"not H"),
                                     exchange_hash)
    assert wrong["status"] == "invalid"
    assert wrong["reason"].startswith("signature over the exchange hash does not verify")


def test_pinned_curve25519_exchange_hash() -> None:
    """A regression pin: fixed secrets, fixed transcript, the Ed25519 test key."""
    k_s = _blob(_key("ed25519"))
    client = ssh_kex.KexClient.start("curve25519-sha256", ecdh=CLIENT_X25519)
    q_s, server_h = _server_curve25519(client.client_public, k_s)
    assert _client_h(client, k_s, q_s).hex() == server_h.hex() == PINNED_HEX


@pytest.mark.parametrize("kex", ["ecdh-sha2-nistp256", "ecdh-sha2-nistp384",
                                 "ecdh-sha2-nistp521"])
def test_nist_ecdh_exchange_hash_matches_the_server_side(kex: str) -> None:
    curve = ssh_kex.NIST_CURVES[kex]
    client_secret = ec.derive_private_key(0xC0FFEE, curve)
    server_secret = ec.derive_private_key(0xBEEF, curve)
    client = ssh_kex.KexClient.start(kex, ecdh=client_secret)
    q_s = server_secret.public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
    shared = server_secret.exchange(ec.ECDH(), ec.EllipticCurvePublicKey.from_encoded_point(
        curve, client.client_public))
    k_s = _blob(_key("ed25519"))
    hash_name = {"ecdh-sha2-nistp256": "sha256", "ecdh-sha2-nistp384": "sha384",
                 "ecdh-sha2-nistp521": "sha512"}[kex]
    expected = _h(hash_name, k_s, _string(client.client_public) + _string(q_s),
                  int.from_bytes(shared, "big"))
    assert _client_h(client, k_s, q_s) == expected


@pytest.mark.parametrize("kex", ["diffie-hellman-group14-sha256", "diffie-hellman-group14-sha1",
                                 "diffie-hellman-group16-sha512"])
def test_fixed_group_exchange_hash_matches_the_server_side(kex: str) -> None:
    prime = ssh_kex.FIXED_GROUPS[kex]
    client = ssh_kex.KexClient.start(kex, exponent=0x1234567 << 400)
    e = pow(2, 0x1234567 << 400, prime)
    y = 0x7654321 << 300
    f = pow(2, y, prime)
    k_s = _blob(_key("rsa_2048"))
    hash_name = kex.rsplit("-", 1)[1]
    expected = _h(hash_name, k_s, _mpint(e) + _mpint(f), pow(e, y, prime))
    assert _client_h(client, k_s, f.to_bytes((f.bit_length() + 8) // 8, "big")) == expected


def test_group_exchange_hash_includes_the_request_and_the_group() -> None:
    kex = "diffie-hellman-group-exchange-sha256"
    client = ssh_kex.KexClient.start(kex, exponent=0xABCDEF << 400)
    prime = ssh_kex.MODP_2048
    init = client.gex_init(b"\x1f" + _mpint(prime) + _mpint(2))
    e = pow(2, 0xABCDEF << 400, prime)
    assert init == b"\x20" + _mpint(e)
    y = 0x13579 << 300
    f = pow(2, y, prime)
    k_s = _blob(_key("ecdsa_256"))
    request = (2048).to_bytes(4, "big") + (3072).to_bytes(4, "big") + (8192).to_bytes(4, "big")
    expected = _h("sha256", k_s, request + _mpint(prime) + _mpint(2) + _mpint(e) + _mpint(f),
                  pow(e, y, prime))
    assert _client_h(client, k_s, _mpint(f)[4:]) == expected


@pytest.mark.parametrize(("kex", "server_public", "why"), [
    ("curve25519-sha256", b"\x09" * 31, "not 32"),
    ("curve25519-sha256", b"\0" * 32, "unusable"),  # a low-order point: K would be zero
    ("ecdh-sha2-nistp256", b"\x04" + b"\x01" * 64, "unusable"),  # not on the curve
    ("ecdh-sha2-nistp256", b"", "unusable"),
    ("diffie-hellman-group14-sha256", b"\x01", "outside"),
    ("diffie-hellman-group14-sha256", (ssh_kex.MODP_2048 - 1).to_bytes(257, "big"), "outside"),
    ("diffie-hellman-group14-sha256", b"\x80" + b"\0" * 255, "negative"),
    ("diffie-hellman-group-exchange-sha256", b"\x05", "no group"),
])
def test_unusable_server_shares_fail_the_exchange(kex: str, server_public: bytes,
                                                   why: str) -> None:
    client = ssh_kex.KexClient.start(kex)
    with pytest.raises(ssh_kex.KexFailure, match=why):
        _client_h(client, _blob(_key("ed25519")), server_public)


def _verify(algorithm: str, key_name: str, signature: bytes) -> dict[str, Any]:
    return ssh_kex.verify_signature(algorithm, _blob(_key(key_name)), signature, b"H" * 32)


def test_signature_algorithm_must_be_the_negotiated_one() -> None:
    rsa_key = _key("rsa_2048")
    result = _verify("rsa-sha2-512", "rsa_2048", _sign("rsa-sha2-256", rsa_key, b"H" * 32))
    assert result["status"] == "invalid"
    assert result["reason"] == "signature is rsa-sha2-256, negotiated rsa-sha2-512"
    # The right name over the wrong hash is a signature that does not verify.
    forged = _string(b"rsa-sha2-512") + _sign("rsa-sha2-256", rsa_key, b"H" * 32)[16:]
    assert _verify("rsa-sha2-512", "rsa_2048", forged)["status"] == "invalid"


def test_a_key_of_another_type_cannot_sign() -> None:
    ed_signature = _sign("ssh-ed25519", _key("ed25519"), b"H" * 32)
    result = _verify("ssh-ed25519", "ecdsa_256", ed_signature)
    assert result["status"] == "invalid" and "cannot sign" in result["reason"]


@pytest.mark.parametrize(("algorithm", "key_name", "signature", "why"), [
    ("ssh-ed25519", "ed25519", b"\xff\xff\xff\xff", "malformed"),
    ("ssh-ed25519", "ed25519", _string(b"ssh-ed25519") + _string(b"\x01" * 63), "63 bytes"),
    ("ssh-ed25519", "ed25519", _string(b"ssh-ed25519") + _string(b"\x01" * 64) + b"x",
     "malformed"),
    ("ecdsa-sha2-nistp256", "ecdsa_256",
     _string(b"ecdsa-sha2-nistp256") + _string(_mpint(5) + _mpint(7) + b"x"), "trailing bytes"),
    ("ecdsa-sha2-nistp256", "ecdsa_256",
     _string(b"ecdsa-sha2-nistp256") + _string(_mpint(5)), "malformed"),
    ("ecdsa-sha2-nistp256", "ecdsa_256",
     _string(b"ecdsa-sha2-nistp256") + _string(_mpint(5) + _mpint(7)), "does not verify"),
    ("rsa-sha2-256", "rsa_2048", _string(b"rsa-sha2-256") + _string(b"\x01" * 257),
     "longer than the modulus"),
    ("rsa-sha2-256", "rsa_2048", _string(b"rsa-sha2-256") + _string(b""), "does not verify"),
    ("ssh-ed25519", "ed25519", _string(b"bad name") + _string(b""), "malformed"),
])
def test_malformed_signatures_are_invalid_not_errors(algorithm: str, key_name: str,
                                                     signature: bytes, why: str) -> None:
    result = _verify(algorithm, key_name, signature)
    assert result["status"] == "invalid"
    assert why in result["reason"]


def test_a_short_rsa_signature_is_padded_like_openssh() -> None:
    # RFC 8332 §3 asks for the modulus length; OpenSSH accepts a shorter S (leading zeros).
    key = _key("rsa_2048")
    assert isinstance(key, rsa.RSAPrivateKey)
    for n in range(1, 2000):
        data = n.to_bytes(4, "big")
        raw = key.sign(data, padding.PKCS1v15(), hashes.SHA256())
        if raw[0] == 0:
            break
    else:
        pytest.fail("no signature with a leading zero byte in 2000 fixed messages")
    signature = _string(b"rsa-sha2-256") + _string(raw[1:])
    blob = _blob(key)
    assert ssh_kex.verify_signature("rsa-sha2-256", blob, signature, data)["status"] == \
        "verified"


def test_unknown_algorithms_are_not_checked_and_say_why() -> None:
    blob = ssh.encode_string(b"sm2") + b"\x01\x02"
    signature = _string(b"sm2") + _string(b"\x00" * 64)
    result = ssh_kex.verify_signature("sm2", blob, signature, b"H" * 32)
    assert result == {"status": "not-checked", "signature_algorithm": "sm2",
                      "reason": "Sentinel does not verify sm2 signatures"}


@settings(deadline=None)  # RSA and P-521 verifications: no timing assertion here
@given(st.binary(max_size=300), st.sampled_from([name for name, _ in HOST_KEYS]))
def test_random_signature_blobs_never_raise(data: bytes, algorithm: str) -> None:
    key_name = dict(HOST_KEYS)[algorithm]
    for signature in (data, _string(algorithm.encode()) + _string(data),
                      _string(algorithm.encode()) + data):
        assert _verify(algorithm, key_name, signature)["status"] in ("invalid", "verified")


@settings(deadline=None)
@given(st.binary(max_size=200))
def test_random_server_shares_compute_or_fail_cleanly(data: bytes) -> None:
    nist = ec.derive_private_key(0xC0FFEE, ec.SECP384R1())
    for kex, secret in (("curve25519-sha256", CLIENT_X25519), ("ecdh-sha2-nistp384", nist),
                        ("diffie-hellman-group14-sha1", None)):
        client = ssh_kex.KexClient.start(kex, ecdh=secret, exponent=3 << 500)
        with contextlib.suppress(ssh_kex.KexFailure):
            assert len(_client_h(client, b"k", data)) in (20, 32, 48, 64)


def test_signature_blob_round_trip_and_decode_errors() -> None:
    blob = ssh.SignatureBlob("ssh-ed25519", b"\x01" * 64)
    assert ssh.decode_signature(ssh.encode_signature(blob)) == blob
    with pytest.raises(DecodeError):
        ssh.decode_signature(ssh.encode_signature(blob)[:-1])
    assert ssh.decode_ecdsa_signature(_mpint(2**255) + _mpint(1)) == (2**255, 1)
