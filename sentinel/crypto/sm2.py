"""SM2 over the recommended curve sm2p256v1 (GB/T 32918.5-2017): points, ECDH, verification.

Only what a scanner needs: decode and validate points, make ephemeral keys for
curveSM2 key shares (RFC 8998 §3.1: plain ECDHE, shared secret = x coordinate),
compute Z_A from a signer ID and verify SM2 signatures (TLCP ServerKeyExchange,
TLS 1.3 CertificateVerify). Nothing here signs, so nothing here needs to be
constant-time; arithmetic is plain Python integers in Jacobian coordinates.
"""

from __future__ import annotations

import secrets
from typing import NamedTuple

from sentinel.crypto._der import (
    TAG_BIT_STRING,
    TAG_INTEGER,
    TAG_OID,
    TAG_SEQUENCE,
    DerReader,
    decode_oid,
    decode_positive_integer,
)
from sentinel.crypto.sm3 import sm3_digest
from sentinel.errors import DecodeError

P = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFF
A = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFC
B = 0x28E9FA9E9D9F5E344D5A9E4BCF6509A7F39789F515AB8F92DDBCBD414D940E93
N = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFF7203DF6B21C6052B53BBF40939D54123
GX = 0x32C4AE2C1F1981195F9904466A39C9948FE30BBFF2660BE1715A4589334C74C7
GY = 0xBC3736A2F4F6779C59BDCEE36B692153D0A9877CC62A474002DF32E52139F0A0
COORDINATE_SIZE = 32

DEFAULT_SIGNER_ID = b"1234567812345678"
"""GB/T 35275 default ID, used by TLCP (GB/T 38636) signatures."""
TLS13_SIGNER_ID = b"TLSv1.3+GM+Cipher+Suite"
"""RFC 8998 §3.2.1: the ID for sm2sig_sm3 in TLS 1.3 CertificateVerify."""

_LAYER = "sm2"
# ENTL is a 16-bit count of ID *bits*.
_MAX_ID_BYTES = 0xFFFF // 8


class Point(NamedTuple):
    """An affine point on sm2p256v1; never the point at infinity."""

    x: int
    y: int


G = Point(GX, GY)

_Jacobian = tuple[int, int, int]  # Z == 0 is infinity
_INFINITY: _Jacobian = (1, 1, 0)


def _double(pt: _Jacobian) -> _Jacobian:
    """2·pt; sm2p256v1 has a = p - 3, so the a = -3 doubling formula applies
    (3(X - Z²)(X + Z²) instead of 3X² + aZ⁴: one multiplication fewer)."""
    x, y, z = pt
    if z == 0 or y == 0:
        return _INFINITY
    delta = z * z % P
    gamma = y * y % P
    beta = x * gamma % P
    alpha = 3 * (x - delta) * (x + delta) % P
    x3 = (alpha * alpha - 8 * beta) % P
    z3 = ((y + z) * (y + z) - gamma - delta) % P
    y3 = (alpha * (4 * beta - x3) - 8 * gamma * gamma) % P
    return (x3, y3, z3)


def _add(p1: _Jacobian, p2: _Jacobian) -> _Jacobian:
    x1, y1, z1 = p1
    x2, y2, z2 = p2
    if z1 == 0:
        return p2
    if z2 == 0:
        return p1
    z1z1, z2z2 = z1 * z1 % P, z2 * z2 % P
    u1, u2 = x1 * z2z2 % P, x2 * z1z1 % P
    s1, s2 = y1 * z2 * z2z2 % P, y2 * z1 * z1z1 % P
    if u1 == u2:
        return _double(p1) if s1 == s2 else _INFINITY
    h, r = (u2 - u1) % P, (s2 - s1) % P
    hh = h * h % P
    hhh = h * hh % P
    x3 = (r * r - hhh - 2 * u1 * hh) % P
    y3 = (r * (u1 * hh - x3) - s1 * hhh) % P
    return (x3, y3, h * z1 * z2 % P)


_WINDOW = 4  # bits per step: 15 precomputed multiples, then 4 doublings and <= 1 addition


def _multiples(point: Point) -> list[_Jacobian]:
    """0·point .. 15·point."""
    table = [_INFINITY, (point.x, point.y, 1)]
    for _ in range(2, 1 << _WINDOW):
        table.append(_add(table[-1], table[1]))
    return table


def _multiply(k: int, point: Point) -> _Jacobian:
    return _multiply_sum(((k, point),))


def _multiply_sum(terms: tuple[tuple[int, Point], ...]) -> _Jacobian:
    """Σ kᵢ·Pᵢ in one pass of doublings (Shamir's trick), a 4-bit window per scalar."""
    tables = [(k, _multiples(point)) for k, point in terms]
    result = _INFINITY
    top = max(k.bit_length() for k, _ in terms)
    for shift in range((top + _WINDOW - 1) // _WINDOW * _WINDOW - _WINDOW, -1, -_WINDOW):
        for _ in range(_WINDOW):
            result = _double(result)
        for k, table in tables:
            digit = (k >> shift) & ((1 << _WINDOW) - 1)
            if digit:
                result = _add(result, table[digit])
    return result


def _to_affine(pt: _Jacobian) -> Point | None:
    x, y, z = pt
    if z == 0:
        return None
    z_inv = pow(z, -1, P)
    z_inv2 = z_inv * z_inv % P
    return Point(x * z_inv2 % P, y * z_inv2 * z_inv % P)


def is_on_curve(point: Point) -> bool:
    """True when the point satisfies y² = x³ + ax + b over Fp with coordinates in range."""
    x, y = point
    if not (0 <= x < P and 0 <= y < P):
        return False
    return (y * y - (x * x * x + A * x + B)) % P == 0


def scalar_multiply(k: int, point: Point) -> Point | None:
    """k·point, or None for the point at infinity."""
    return _to_affine(_multiply(k % N, point))


def decode_point(data: bytes) -> Point:
    """Decode an uncompressed point 04‖x‖y and check it lies on the curve.

    The cofactor is 1, so an on-curve point is in the prime-order group.
    """
    if len(data) != 1 + 2 * COORDINATE_SIZE:
        raise DecodeError(_LAYER, f"point must be 65 bytes, got {len(data)}", 0)
    if data[0] != 0x04:
        raise DecodeError(_LAYER, f"point format 0x{data[0]:02x} is not uncompressed", 0)
    point = Point(int.from_bytes(data[1:33], "big"), int.from_bytes(data[33:], "big"))
    if not is_on_curve(point):
        raise DecodeError(_LAYER, "point is not on sm2p256v1", 1)
    return point


def encode_point(point: Point) -> bytes:
    """Encode a point as 04‖x‖y (65 bytes)."""
    return (
        b"\x04"
        + point.x.to_bytes(COORDINATE_SIZE, "big")
        + point.y.to_bytes(COORDINATE_SIZE, "big")
    )


def generate_private_key() -> int:
    """A fresh private scalar d in [1, n-2] (GB/T 32918.1 excludes n-1)."""
    return secrets.randbelow(N - 2) + 1


def public_key_for(private_key: int) -> Point:
    """The public point d·G."""
    if not 1 <= private_key <= N - 2:
        raise ValueError("SM2 private key out of range")
    point = scalar_multiply(private_key, G)
    assert point is not None  # d in [1, n-2] never gives infinity
    return point


def ecdh_shared_secret(private_key: int, peer_public: Point) -> bytes:
    """ECDHE over curveSM2 as RFC 8998 uses it: the x coordinate of d·Q (32 bytes)."""
    if not is_on_curve(peer_public):
        raise DecodeError(_LAYER, "peer public key is not on sm2p256v1")
    shared = scalar_multiply(private_key, peer_public)
    if shared is None:
        raise DecodeError(_LAYER, "ECDH result is the point at infinity")
    return shared.x.to_bytes(COORDINATE_SIZE, "big")


def compute_z(public_key: Point, signer_id: bytes = DEFAULT_SIGNER_ID) -> bytes:
    """Z_A = SM3(ENTL_A ‖ ID_A ‖ a ‖ b ‖ x_G ‖ y_G ‖ x_A ‖ y_A) (GB/T 32918.2 §5.5)."""
    if len(signer_id) > _MAX_ID_BYTES:
        raise ValueError("SM2 signer ID longer than 8191 bytes")
    entl = (len(signer_id) * 8).to_bytes(2, "big")
    fields = (A, B, GX, GY, public_key.x, public_key.y)
    return sm3_digest(entl, signer_id, *(f.to_bytes(COORDINATE_SIZE, "big") for f in fields))


def decode_signature(der: bytes) -> tuple[int, int]:
    """Decode an SM2 signature SEQUENCE { r INTEGER, s INTEGER } (strict DER)."""
    outer = DerReader(der, layer="sm2-signature")
    seq = outer.read(TAG_SEQUENCE)
    outer.expect_end()
    inner = outer.sub(seq)
    r = decode_positive_integer(inner.read(TAG_INTEGER), "sm2-signature")
    s = decode_positive_integer(inner.read(TAG_INTEGER), "sm2-signature")
    inner.expect_end()
    return r, s


def verify_digest(public_key: Point, e: int, r: int, s: int) -> bool:
    """Verify (r, s) over the already-hashed e = SM3(Z_A ‖ M) (GB/T 32918.2 §7.1)."""
    if not (1 <= r < N and 1 <= s < N) or not is_on_curve(public_key):
        return False
    t = (r + s) % N
    if t == 0:
        return False
    point = _to_affine(_multiply_sum(((s, G), (t, public_key))))
    if point is None:
        return False
    return (e + point.x) % N == r


def verify(
    public_key: Point, message: bytes, signature_der: bytes, signer_id: bytes = DEFAULT_SIGNER_ID
) -> bool:
    """Verify a DER SM2-with-SM3 signature over `message` for the given signer ID.

    A malformed signature raises `DecodeError`; a well-formed wrong one returns False.
    """
    r, s = decode_signature(signature_der)
    e = int.from_bytes(sm3_digest(compute_z(public_key, signer_id), message), "big")
    return verify_digest(public_key, e, r, s)


OID_EC_PUBLIC_KEY = "1.2.840.10045.2.1"
OID_SM2_CURVE = "1.2.156.10197.1.301"
_SPKI_LAYER = "sm2-spki"
_TAG_EXPLICIT_VERSION = 0xA0


def _read_spki(reader: DerReader) -> Point:
    """Read AlgorithmIdentifier and BIT STRING from a reader over SPKI content."""
    algorithm = reader.sub(reader.read(TAG_SEQUENCE))
    key_oid = decode_oid(algorithm.read(TAG_OID), _SPKI_LAYER)
    if key_oid != OID_EC_PUBLIC_KEY:
        raise DecodeError(_SPKI_LAYER, f"key algorithm {key_oid} is not id-ecPublicKey")
    curve = algorithm.read()
    if curve.tag != TAG_OID or decode_oid(curve, _SPKI_LAYER) != OID_SM2_CURVE:
        raise DecodeError(_SPKI_LAYER, "curve is not sm2p256v1", curve.offset)
    algorithm.expect_end()
    bits = reader.read(TAG_BIT_STRING)
    reader.expect_end()
    if not bits.content or bits.content[0] != 0:
        raise DecodeError(_SPKI_LAYER, "public key BIT STRING has unused bits", bits.offset)
    try:
        return decode_point(bits.content[1:])
    except DecodeError as exc:
        raise DecodeError(_SPKI_LAYER, str(exc), bits.offset + 1) from exc


def public_key_from_spki(spki_der: bytes) -> Point:
    """The SM2 public key in a DER SubjectPublicKeyInfo (id-ecPublicKey, curve sm2p256v1)."""
    outer = DerReader(spki_der, layer=_SPKI_LAYER)
    spki = outer.read(TAG_SEQUENCE)
    outer.expect_end()
    return _read_spki(outer.sub(spki))


def public_key_from_certificate(cert_der: bytes) -> Point:
    """The SM2 public key of a DER X.509 certificate.

    Walks Certificate → tbsCertificate → subjectPublicKeyInfo (RFC 5280 §4.1)
    without interpreting the other fields.
    """
    outer = DerReader(cert_der, layer=_SPKI_LAYER)
    cert = outer.sub(outer.read(TAG_SEQUENCE))
    tbs = cert.sub(cert.read(TAG_SEQUENCE))
    first = tbs.read()
    if first.tag == _TAG_EXPLICIT_VERSION:
        first = tbs.read()
    if first.tag != TAG_INTEGER:
        raise DecodeError(_SPKI_LAYER, "tbsCertificate has no serial number", first.offset)
    for _field in ("signature", "issuer", "validity", "subject"):
        tbs.read(TAG_SEQUENCE)
    return _read_spki(tbs.sub(tbs.read(TAG_SEQUENCE)))
