"""Key shares for every offered group: encodings TLS expects and agreement between peers."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from sentinel.crypto import sm2
from sentinel.crypto.keyshare import NamedGroup, generate_key_share
from sentinel.errors import DecodeError

SIZES = {
    NamedGroup.SECP256R1: (65, 32),
    NamedGroup.SECP384R1: (97, 48),
    NamedGroup.SECP521R1: (133, 66),
    NamedGroup.X25519: (32, 32),
    NamedGroup.X448: (56, 56),
    NamedGroup.CURVE_SM2: (65, 32),
}


@pytest.mark.parametrize("group", list(NamedGroup), ids=lambda g: g.name)
def test_shares_agree_and_have_tls_sizes(group: NamedGroup) -> None:
    client, server = generate_key_share(group), generate_key_share(group)
    public_size, secret_size = SIZES[group]
    assert len(client.public) == public_size
    secret = client.shared_secret(server.public)
    assert secret == server.shared_secret(client.public)
    assert len(secret) == secret_size
    if group in (NamedGroup.SECP256R1, NamedGroup.CURVE_SM2):
        assert client.public[0] == 0x04


def test_nist_share_matches_cryptography_peer() -> None:
    share = generate_key_share(NamedGroup.SECP256R1)
    peer = ec.generate_private_key(ec.SECP256R1())
    peer_public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), share.public)
    expected = peer.exchange(ec.ECDH(), peer_public)
    encoded = peer.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    assert share.shared_secret(encoded) == expected


def test_sm2_share_is_a_curve_point() -> None:
    share = generate_key_share(41)
    assert sm2.is_on_curve(sm2.decode_point(share.public))


@pytest.mark.parametrize(
    ("group", "peer"),
    [
        (NamedGroup.X25519, bytes(31)),
        (NamedGroup.X25519, bytes(32)),  # all-zero shared secret
        (NamedGroup.X448, bytes(56)),
        (NamedGroup.SECP256R1, b"\x04" + bytes(64)),
        (NamedGroup.SECP256R1, b"\x02" + bytes(64)),
        (NamedGroup.SECP384R1, b"\x04" + bytes(10)),
        (NamedGroup.CURVE_SM2, b"\x04" + bytes(64)),
    ],
)
def test_invalid_peer_shares_raise_decode_error(group: NamedGroup, peer: bytes) -> None:
    with pytest.raises(DecodeError):
        generate_key_share(group).shared_secret(peer)


def test_unknown_group_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="256"):
        generate_key_share(256)
