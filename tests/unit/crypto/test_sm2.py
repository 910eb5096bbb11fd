"""SM2 against GB/T 32918.5 published values, Debian's OpenSSL 3 as an independent signer
and gmssl for ECDH."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from gmssl import sm2 as gm_sm2

from sentinel.crypto import sm2
from sentinel.crypto.sm3 import sm3_digest
from sentinel.errors import DecodeError
from tests.sm2_reference import reference_add, reference_multiply

# GB/T 32918.5-2017 (GM/T 0003.5) signature example on the recommended curve.
EXAMPLE_PRIVATE = 0x3945208F7B2144B13F36E38AC6D39F95889393692860B51A42FB81EF4DF7C5B8
EXAMPLE_PUBLIC = sm2.Point(
    0x09F9DF311E5421A150DD7D161E4BC5C672179FAD1833FC076BB08FF356F35020,
    0xCCEA490CE26775A52DC6EA718CC1AA600AED05FBF35E084A6632F6072DA9AD13,
)
EXAMPLE_Z = "b2e14c5c79c6df5b85f4fe7ed8db7a262b9da7e07ccb0ea9f4747b8ccda8a4f3"
EXAMPLE_E = 0xF0B43E94BA45ACCAACE692ED534382EB17E6AB5A19CE7B31F4486FDFC0D28640
EXAMPLE_R = 0xF5A03B0648D2C4630EEAC513E1BB81A15944DA3827D5B74143AC7EACEEE720B3
EXAMPLE_S = 0xB1B6AA29DF212FD8763182BC0D421CA1BB9038FD1F7F42D4840B69C485BBC1AA


def der_signature(r: int, s: int) -> bytes:
    def integer(value: int) -> bytes:
        raw = value.to_bytes((value.bit_length() + 8) // 8, "big")
        return b"\x02" + bytes([len(raw)]) + raw

    body = integer(r) + integer(s)
    return b"\x30" + bytes([len(body)]) + body


# Fixed keys: a test must not depend on which random key it drew (a pure-Python signer once
# failed for some keys, one run in five). The first is GB/T 32918.5's example key.
FIXED_PRIVATE_KEYS = (
    EXAMPLE_PRIVATE,
    0x128B2FA8BD433C6C068C8D803DFF79792A519A55171B1B650C23661D15897263,
    0x5A7C3E0F1B2D4C6E8091A2B3C4D5E6F708192A3B4C5D6E7F8091A2B3C4D5E6F7,
)


def openssl_pkcs8(private: int) -> bytes:
    """PKCS#8 DER of an SM2 private key (id-ecPublicKey, curve sm2) for `openssl -keyform DER`."""
    ec_private = bytes.fromhex("302502010104" + "20") + private.to_bytes(32, "big")
    algorithm = bytes.fromhex("3013" + "06072a8648ce3d0201" + "06082a811ccf5501822d")
    body = bytes.fromhex("020100") + algorithm + b"\x04" + bytes([len(ec_private)]) + ec_private
    return b"\x30" + bytes([len(body)]) + body


def openssl_sign(private: int, message: bytes, signer_id: bytes, tmp: Path) -> bytes:
    """An SM2 signature over SM3(Z ‖ M) made by Debian's OpenSSL 3, an independent signer."""
    key, data, out = tmp / "key.der", tmp / "message.bin", tmp / "signature.der"
    key.write_bytes(openssl_pkcs8(private))
    data.write_bytes(message)
    subprocess.run(
        ["openssl", "pkeyutl", "-sign", "-keyform", "DER", "-inkey", str(key), "-rawin",
         "-digest", "sm3", "-pkeyopt", f"distid:{signer_id.decode()}",
         "-in", str(data), "-out", str(out)],
        check=True, capture_output=True, timeout=30,
    )
    return out.read_bytes()


def gmssl_pair(private: int) -> gm_sm2.CryptSM2:
    public = sm2.public_key_for(private)
    public_hex = f"{public.x:064x}{public.y:064x}"
    return gm_sm2.CryptSM2(private_key=f"{private:064x}", public_key=public_hex)


def test_published_example_public_key_z_and_signature() -> None:
    assert sm2.public_key_for(EXAMPLE_PRIVATE) == EXAMPLE_PUBLIC
    z = sm2.compute_z(EXAMPLE_PUBLIC, b"1234567812345678")
    assert z.hex() == EXAMPLE_Z
    assert int.from_bytes(sm3_digest(z, b"message digest"), "big") == EXAMPLE_E
    signature = der_signature(EXAMPLE_R, EXAMPLE_S)
    assert sm2.verify(EXAMPLE_PUBLIC, b"message digest", signature)
    assert not sm2.verify(EXAMPLE_PUBLIC, b"message digesT", signature)
    assert not sm2.verify(EXAMPLE_PUBLIC, b"message digest", signature, sm2.TLS13_SIGNER_ID)


def test_curve_parameters_are_consistent() -> None:
    assert sm2.is_on_curve(sm2.G)
    assert sm2.scalar_multiply(sm2.N, sm2.G) is None  # G has order n
    assert sm2.scalar_multiply(sm2.N - 1, sm2.G) == sm2.Point(sm2.GX, sm2.P - sm2.GY)


@pytest.mark.parametrize("signer_id", [sm2.DEFAULT_SIGNER_ID, sm2.TLS13_SIGNER_ID, b"ALICE"])
@pytest.mark.parametrize("private", FIXED_PRIVATE_KEYS)
def test_openssl_signatures_verify(signer_id: bytes, private: int, tmp_path: Path) -> None:
    message = b"tlcp server key exchange " + signer_id
    signature = openssl_sign(private, message, signer_id, tmp_path)
    public = sm2.public_key_for(private)
    assert sm2.verify(public, message, signature, signer_id)
    assert not sm2.verify(public, message + b"x", signature, signer_id)
    assert not sm2.verify(public, message, signature, b"x" + signer_id)
    assert not sm2.verify(sm2.public_key_for(private + 1), message, signature, signer_id)


def test_ecdh_agrees_with_gmssl_both_ways() -> None:
    ours, theirs = FIXED_PRIVATE_KEYS[1], FIXED_PRIVATE_KEYS[2]
    gm = gmssl_pair(theirs)
    our_public = sm2.public_key_for(ours)
    their_public = sm2.public_key_for(theirs)
    # gmssl computes theirs·(our public) with its own point arithmetic.
    gm_point = gm._kg(theirs, f"{our_public.x:064x}{our_public.y:064x}")
    assert sm2.ecdh_shared_secret(ours, their_public) == bytes.fromhex(gm_point[:64])
    assert sm2.ecdh_shared_secret(theirs, our_public) == bytes.fromhex(gm_point[:64])


def test_point_round_trip_and_rejections() -> None:
    encoded = sm2.encode_point(EXAMPLE_PUBLIC)
    assert sm2.decode_point(encoded) == EXAMPLE_PUBLIC
    with pytest.raises(DecodeError, match="uncompressed"):
        sm2.decode_point(b"\x02" + encoded[1:])
    with pytest.raises(DecodeError, match="65 bytes"):
        sm2.decode_point(encoded[:33])
    with pytest.raises(DecodeError, match="65 bytes"):
        sm2.decode_point(b"\x00")  # the encoding of infinity
    off_curve = encoded[:-1] + bytes([encoded[-1] ^ 1])
    with pytest.raises(DecodeError, match="not on"):
        sm2.decode_point(off_curve)
    too_big = b"\x04" + (EXAMPLE_PUBLIC.x + sm2.P).to_bytes(33, "big")[1:] + encoded[33:]
    with pytest.raises(DecodeError):
        sm2.decode_point(too_big)


def test_ecdh_rejects_off_curve_peer() -> None:
    with pytest.raises(DecodeError):
        sm2.ecdh_shared_secret(5, sm2.Point(1, 1))


@pytest.mark.parametrize(
    ("signature", "reason"),
    [
        (b"", "end of data"),
        (bytes.fromhex("3006020101020101ff"), "trailing"),
        (bytes.fromhex("30060201ff020101"), "negative"),
        (bytes.fromhex("300702020001020101"), "non-minimal"),
        (bytes.fromhex("30800201010201010000"), "indefinite"),
        (bytes.fromhex("3003020101"), "end of data"),
        (bytes.fromhex("3106020101020101"), "expected tag"),
    ],
)
def test_signature_decoding_errors(signature: bytes, reason: str) -> None:
    with pytest.raises(DecodeError, match=reason):
        sm2.decode_signature(signature)


def test_out_of_range_signature_values_do_not_verify() -> None:
    assert not sm2.verify(EXAMPLE_PUBLIC, b"message digest", der_signature(EXAMPLE_R, sm2.N))
    assert not sm2.verify(EXAMPLE_PUBLIC, b"message digest", der_signature(0x00, EXAMPLE_S))
    assert not sm2.verify_digest(EXAMPLE_PUBLIC, EXAMPLE_E, sm2.N - EXAMPLE_S, EXAMPLE_S)


@pytest.mark.parametrize("k", [1, 2, 15, 16, 17, 0xFFFF, sm2.N - 1, 0x1234567890ABCDEF << 190])
def test_windowed_and_joint_multiplication_match_the_textbook_method(k: int) -> None:
    other = reference_multiply(0xC0FFEE, sm2.G)
    assert other is not None
    assert sm2.scalar_multiply(k, sm2.G) == reference_multiply(k, sm2.G)
    assert sm2.scalar_multiply(k, other) == reference_multiply(k, other)
    # k·G + 7k·Q in one pass (what verification computes) equals the textbook sum.
    joint = sm2._to_affine(sm2._multiply_sum(((k, sm2.G), (7 * k % sm2.N, other))))
    expected = reference_add(reference_multiply(k, sm2.G),
                              reference_multiply(7 * k % sm2.N, other))
    assert joint == expected
