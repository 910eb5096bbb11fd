"""Host key blobs and key exchange replies: real keys, hand-made bad bytes, random bytes."""

from __future__ import annotations

import base64
import contextlib
from collections.abc import Callable

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from hypothesis import given
from hypothesis import strategies as st

from sentinel.errors import DecodeError
from sentinel.probes import ssh_kex
from sentinel.wire import ssh
from sentinel.wire._reader import Reader

# The lab's legacy sshd RSA-1024 host key as ssh-keyscan printed it, and `ssh-keygen -lf`'s
# fingerprint of that line.
LAB_RSA = base64.b64decode(
    "AAAAB3NzaC1yc2EAAAADAQABAAAAgQDZhzvEAHqhKjGaiyqKTdRXCfys1du5wraqWVk0KzAUTTsmCAgKw+FbLZBM"
    "bCtGLjo2ObhWtn7S9j7INLP3Zh19eihrZIR45RrvUSeqgM4EUfEFXdKDJyWCwmeXbnv8c3yIfIyaN7lXmhdP6Rqp"
    "BNwMF7SZxsJ0jv6iohFgaeNU1Q==")
LAB_RSA_FINGERPRINT = "SHA256:dJ+KWwhvfa4htJKIQzHBpQxK4+VJLxGiPTdiUmSsO14"
# Its DSA key (cryptography deprecates writing DSA keys in OpenSSH form, so a captured one).
LAB_DSA = base64.b64decode(
    "AAAAB3NzaC1kc3MAAACBAKE40bR/c6UqG4QbsY3SGPblOPNZ+u22fFYvKfSkklQgqomPwvlX0xs1M4RL9JobKmJ2"
    "yQd5vUfb0BUnHlxjHyqbMeiRdcTMM1pNa8fU+gaoW1j2DIWlV6Ih/XasDvC8pMhKtKUwLLuoOrCnC1Ym+Gl3Czdc"
    "QFiCa9WvtmgWF6GNAAAAFQC+UDm29aXE+zTIp88RgdaVCdpPGwAAAIA1s73Ui06eWuN/anNxUOIST2s2Vl08Aczu"
    "1by3QDVGV6hPul/u3nL61dtUxMIzBAvG1uE9hXIOeS9IjAwkxeF3h3XymIngnfBH+MhAn5uGosk+EIIdf3i8+I2B"
    "nWpkxnBmH1XWmh2PU59EJxKbJRghcV7gSk37QcQ9FfziBXwDggAAAIB5cWMr9FpIbdIRwSNPmGAPReS/tIQz8n9H"
    "Nl0mMITfi5H9dXoJ3QR9VBndoqdQ2k7rUqy9EwApS6I/RbJ174KXo5mPdF8AKeOBgw/AJzrtAVLhbeGWHghocPjd"
    "G8dico9yp7SefkVPM3P9pbrFnYuOHHTiGFlmxnmtMVOOr6y2OQ==")
LAB_DSA_FINGERPRINT = "SHA256:nPZp08p48KknoESpnxJnbddRYPpwvtM+UZVAQZQouFE"
PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey
PublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey


def _blob(public_key: PublicKey) -> bytes:
    """The SSH wire blob of a key, as cryptography's OpenSSH encoder writes it."""
    line = public_key.public_bytes(Encoding.OpenSSH, PublicFormat.OpenSSH)
    return base64.b64decode(line.split()[1])


def test_lab_rsa_key_size_and_fingerprint_match_openssh() -> None:
    key = ssh.decode_host_key(LAB_RSA)
    assert (key.key_type, key.family, key.bits, key.curve) == ("ssh-rsa", "rsa", 1024, None)
    assert key.fingerprint_sha256 == LAB_RSA_FINGERPRINT
    dsa_key = ssh.decode_host_key(LAB_DSA)
    assert (dsa_key.family, dsa_key.bits) == ("dsa", 1024)
    assert dsa_key.fingerprint_sha256 == LAB_DSA_FINGERPRINT


@pytest.mark.parametrize(("make", "family", "bits", "curve"), [
    (lambda: rsa.generate_private_key(65537, 2048), "rsa", 2048, None),
    (lambda: ec.generate_private_key(ec.SECP256R1()), "ecdsa", 256, "nistp256"),
    (lambda: ec.generate_private_key(ec.SECP384R1()), "ecdsa", 384, "nistp384"),
    (lambda: ec.generate_private_key(ec.SECP521R1()), "ecdsa", 521, "nistp521"),
    (ed25519.Ed25519PrivateKey.generate, "ed25519", 256, None),
])
def test_each_key_family_reports_its_size(make: Callable[[], PrivateKey], family: str,
                                          bits: int, curve: str | None) -> None:
    blob = _blob(make().public_key())
    key = ssh.decode_host_key(blob)
    assert (key.family, key.bits, key.curve) == (family, bits, curve)
    assert key.fingerprint_sha256 == ssh.fingerprint_sha256(blob)


def test_unknown_key_type_keeps_name_and_fingerprint() -> None:
    blob = ssh.encode_string(b"sm2") + b"\x01\x02"
    key = ssh.decode_host_key(blob)
    assert (key.key_type, key.family, key.bits) == ("sm2", "sm2", None)


@pytest.mark.parametrize("blob", [
    ssh.encode_string(b"ssh-ed25519") + ssh.encode_string(b"\0" * 31),
    ssh.encode_string(b"ssh-rsa") + ssh.encode_string(b"\x01\x00\x01") + b"\0\0\0\x09\x80",
    ssh.encode_string(b"ssh-rsa") + ssh.encode_string(b"\x01") + b"\xff\xff\xff\xff",
    ssh.encode_string(b"ecdsa-sha2-nistp256") + ssh.encode_string(b"nistp384")
    + ssh.encode_string(b"\x04" + b"\0" * 64),
    ssh.encode_string(b"ecdsa-sha2-nistp256") + ssh.encode_string(b"nistp256")
    + ssh.encode_string(b"\x04" + b"\0" * 63),
    ssh.encode_string(b"ssh-rsa") + ssh.encode_string(b"\x03") + ssh.encode_string(b"\x05")
    + b"extra",
    ssh.encode_string(b"ssh-rsa") + ssh.encode_string(b"\x03")
    + ssh.encode_string(b"\x01" * (ssh.MAX_MPINT + 1)),
    ssh.encode_string(b"bad name"),
])
def test_malformed_blobs_are_decode_errors(blob: bytes) -> None:
    with pytest.raises(DecodeError):
        ssh.decode_host_key(blob)


def test_kex_reply_round_trip_and_wrong_message() -> None:
    reply = ssh.KexReply(LAB_RSA, b"\x04" * 65, b"sig")
    payload = ssh.encode_kex_reply(reply)
    assert ssh.decode_kex_reply(payload) == reply
    with pytest.raises(DecodeError, match="message 33"):
        ssh.decode_kex_reply(payload, ssh.MSG_KEX_DH_GEX_REPLY)
    with pytest.raises(DecodeError):
        ssh.decode_kex_reply(payload + b"x")


def test_gex_group_checks_the_prime_and_generator() -> None:
    group = ssh.encode_mpint(ssh_kex.MODP_2048) + ssh.encode_mpint(2)
    assert ssh.decode_gex_group(b"\x1f" + group) == (ssh_kex.MODP_2048, 2)
    for bad in (ssh.encode_mpint(ssh_kex.MODP_2048) + ssh.encode_mpint(1),
                ssh.encode_mpint(2**600) + ssh.encode_mpint(2)):
        with pytest.raises(DecodeError):
            ssh.decode_gex_group(b"\x1f" + bad)


def test_disconnect_text_is_capped() -> None:
    payload = b"\x01\0\0\0\x03" + ssh.encode_string(b"x" * 5000) + ssh.encode_string(b"")
    code, text = ssh.decode_disconnect(payload)
    assert code == 3 and len(text) == ssh.MAX_TEXT


@given(st.integers(min_value=0, max_value=2**4096))
def test_mpint_round_trip(value: int) -> None:
    assert ssh.read_mpint(Reader(ssh.encode_mpint(value), ssh.LAYER), "v") == value


@given(st.binary(max_size=600))
def test_random_blobs_decode_or_raise_decode_error(data: bytes) -> None:
    for blob in (data, ssh.encode_string(b"ssh-rsa") + data,
                 ssh.encode_string(b"ssh-dss") + data, ssh.encode_string(b"ssh-ed25519") + data,
                 ssh.encode_string(b"ecdsa-sha2-nistp256") + data):
        try:
            key = ssh.decode_host_key(blob)
        except DecodeError:
            continue
        assert key.fingerprint_sha256.startswith("SHA256:")


@given(st.binary(max_size=400), st.sampled_from([ssh.MSG_DISCONNECT, 31, 33]))
def test_random_replies_decode_or_raise_decode_error(data: bytes, number: int) -> None:
    payload = bytes([number]) + data
    for decode in (lambda: ssh.decode_kex_reply(payload, number),
                   lambda: ssh.decode_gex_group(payload),
                   lambda: ssh.decode_disconnect(payload)):
        with contextlib.suppress(DecodeError):
            decode()


@given(st.binary(min_size=1, max_size=64), st.binary(max_size=64), st.binary(max_size=64))
def test_reply_round_trip(host_key: bytes, public: bytes, signature: bytes) -> None:
    reply = ssh.KexReply(host_key, public, signature)
    assert ssh.decode_kex_reply(ssh.encode_kex_reply(reply, 33), 33) == reply


@pytest.mark.parametrize("kex", ssh_kex.PREFERENCE)
def test_every_preferred_kex_has_a_first_message(kex: str) -> None:
    message = ssh_kex.first_message(kex)
    reader = Reader(message, ssh.LAYER)
    number = reader.u8()
    if ssh_kex.is_group_exchange(kex):
        assert number == ssh.MSG_KEX_DH_GEX_REQUEST and reader.remaining == 12
        return
    share = ssh.read_string(reader, "share")
    reader.expect_end()
    size = {"curve25519-sha256": 32, "curve25519-sha256@libssh.org": 32,
            "ecdh-sha2-nistp256": 65, "ecdh-sha2-nistp384": 97, "ecdh-sha2-nistp521": 133}
    if kex in size:
        assert len(share) == size[kex]
    else:
        assert 1 < int.from_bytes(share, "big") < ssh_kex.FIXED_GROUPS[kex] - 1


def test_choose_kex_prefers_curve25519_and_uses_group1_last() -> None:
    assert ssh_kex.choose_kex(("diffie-hellman-group1-sha1", "curve25519-sha256")) == \
        "curve25519-sha256"
    assert ssh_kex.choose_kex(("diffie-hellman-group1-sha1",
                               "diffie-hellman-group14-sha1")) == "diffie-hellman-group14-sha1"
    assert ssh_kex.choose_kex(("sntrup761x25519-sha512@openssh.com",)) is None
