"""Ephemeral key shares for TLS 1.3 named groups, public values encoded as TLS sends them.

RFC 8446 §4.2.8.2: x25519/x448 shares are the raw u-coordinate; NIST curves are the
uncompressed point 04‖X‖Y; curveSM2 (RFC 8998 §3.1) is the same uncompressed form.
The shared secret is the raw X25519/X448 output or the x coordinate of the ECDH point.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, x448, x25519

from sentinel.crypto import sm2
from sentinel.errors import DecodeError

_LAYER = "keyshare"


class NamedGroup(IntEnum):
    """TLS 1.3 key-exchange groups Sentinel can offer."""

    SECP256R1 = 23
    SECP384R1 = 24
    SECP521R1 = 25
    X25519 = 29
    X448 = 30
    CURVE_SM2 = 41


_NIST_CURVES: dict[NamedGroup, ec.EllipticCurve] = {
    NamedGroup.SECP256R1: ec.SECP256R1(),
    NamedGroup.SECP384R1: ec.SECP384R1(),
    NamedGroup.SECP521R1: ec.SECP521R1(),
}

_PrivateKey = x25519.X25519PrivateKey | x448.X448PrivateKey | ec.EllipticCurvePrivateKey | int


@dataclass(frozen=True)
class KeyShare:
    """One ephemeral key pair for `group`; `public` is the KeyShareEntry.key_exchange."""

    group: NamedGroup
    public: bytes
    _private: _PrivateKey = field(repr=False)

    def shared_secret(self, peer_public: bytes) -> bytes:
        """The (EC)DHE shared secret with the server's key_exchange bytes.

        Malformed or invalid peer values raise `DecodeError`.
        """
        private = self._private
        try:
            if isinstance(private, x25519.X25519PrivateKey):
                _expect_length(peer_public, 32)
                return private.exchange(x25519.X25519PublicKey.from_public_bytes(peer_public))
            if isinstance(private, x448.X448PrivateKey):
                _expect_length(peer_public, 56)
                return private.exchange(x448.X448PublicKey.from_public_bytes(peer_public))
            if isinstance(private, int):
                return sm2.ecdh_shared_secret(private, sm2.decode_point(peer_public))
            return _nist_exchange(private, peer_public)
        except ValueError as exc:  # cryptography's invalid point / all-zero output
            raise DecodeError(_LAYER, f"{self.group.name} peer share rejected: {exc}") from exc


def _expect_length(data: bytes, size: int) -> None:
    if len(data) != size:
        raise DecodeError(_LAYER, f"key share must be {size} bytes, got {len(data)}")


def _nist_exchange(private: ec.EllipticCurvePrivateKey, peer_public: bytes) -> bytes:
    curve = private.curve
    coordinate = (curve.key_size + 7) // 8
    _expect_length(peer_public, 1 + 2 * coordinate)
    # TLS 1.3 only allows the uncompressed form; from_encoded_point would take others.
    if peer_public[0] != 0x04:
        raise DecodeError(_LAYER, "EC key share is not an uncompressed point")
    peer = ec.EllipticCurvePublicKey.from_encoded_point(curve, peer_public)
    return private.exchange(ec.ECDH(), peer)


def generate_key_share(group: int) -> KeyShare:
    """A fresh key share for `group` (a NamedGroup value); ValueError for other groups."""
    named = NamedGroup(group)
    if named is NamedGroup.X25519:
        key25519 = x25519.X25519PrivateKey.generate()
        return KeyShare(named, _raw_public(key25519), key25519)
    if named is NamedGroup.X448:
        key448 = x448.X448PrivateKey.generate()
        return KeyShare(named, _raw_public(key448), key448)
    if named is NamedGroup.CURVE_SM2:
        scalar = sm2.generate_private_key()
        return KeyShare(named, sm2.encode_point(sm2.public_key_for(scalar)), scalar)
    key = ec.generate_private_key(_NIST_CURVES[named])
    public = key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    return KeyShare(named, public, key)


def _raw_public(key: x25519.X25519PrivateKey | x448.X448PrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
