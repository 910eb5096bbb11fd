"""SM3 (GB/T 32905) and SM4-GCM / SM4-CCM (RFC 8998 Appendix A) vectors."""

from __future__ import annotations

import pytest
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESCCM
from hypothesis import given, settings
from hypothesis import strategies as st

from sentinel.crypto.sm3 import sm3_digest
from sentinel.crypto.sm4 import Sm4Ccm, Sm4Gcm

KEY = bytes.fromhex("0123456789abcdeffedcba9876543210")
IV = bytes.fromhex("00001234567800000000abcd")
AAD = bytes.fromhex("feedfacedeadbeeffeedfacedeadbeefabaddad2")
PLAINTEXT = bytes.fromhex(
    "aaaaaaaaaaaaaaaabbbbbbbbbbbbbbbbccccccccccccccccdddddddddddddddd"
    "eeeeeeeeeeeeeeeeffffffffffffffffeeeeeeeeeeeeeeeeaaaaaaaaaaaaaaaa"
)
GCM_CIPHERTEXT = bytes.fromhex(
    "17f399f08c67d5ee19d0dc9969c4bb7d5fd46fd3756489069157b282bb200735"
    "d82710ca5c22f0ccfa7cbf93d496ac15a56834cbcf98c397b4024a2691233b8d"
)
GCM_TAG = bytes.fromhex("83de3541e4c2b58177e065a9bf7b62ec")
CCM_CIPHERTEXT = bytes.fromhex(
    "48af93501fa62adbcd414cce6034d895dda1bf8f132f042098661572e7483094"
    "fd12e518ce062c98acee28d95df4416bed31a2f04476c18bb40c84a74b97dc5b"
)
CCM_TAG = bytes.fromhex("16842d4fa186f56ab33256971fa110f4")


def test_sm3_gbt32905_examples() -> None:
    assert sm3_digest(b"abc").hex() == (
        "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"
    )
    assert sm3_digest(b"abcd" * 16).hex() == (
        "debe9ff92275b8a138604889c18e5a4d6fdb70e5387e5765293dcba39c0c5732"
    )
    assert sm3_digest(b"ab", b"c") == sm3_digest(b"abc")


def test_sm4_block_gbt32907_example() -> None:
    encryptor = Cipher(algorithms.SM4(KEY), modes.ECB()).encryptor()
    assert (encryptor.update(KEY) + encryptor.finalize()).hex() == (
        "681edf34d206965e86b3e94f536e4246"
    )


@pytest.mark.parametrize(
    ("aead", "expected"),
    [(Sm4Gcm(KEY), GCM_CIPHERTEXT + GCM_TAG), (Sm4Ccm(KEY), CCM_CIPHERTEXT + CCM_TAG)],
    ids=["gcm", "ccm"],
)
def test_rfc8998_vectors(aead: Sm4Gcm | Sm4Ccm, expected: bytes) -> None:
    assert aead.encrypt(IV, PLAINTEXT, AAD) == expected
    assert aead.decrypt(IV, expected, AAD) == PLAINTEXT
    tampered = expected[:-1] + bytes([expected[-1] ^ 1])
    with pytest.raises(InvalidTag):
        aead.decrypt(IV, tampered, AAD)
    with pytest.raises(InvalidTag):
        aead.decrypt(IV, expected, AAD + b"x")
    with pytest.raises(InvalidTag):
        aead.decrypt(IV, expected[:10], AAD)


class _AesCcm(Sm4Ccm):
    """The same CCM code over AES, to compare with cryptography's AESCCM."""

    _algorithm = algorithms.AES


@settings(max_examples=200, deadline=None)
@given(
    key=st.binary(min_size=16, max_size=16),
    nonce=st.binary(min_size=7, max_size=13),
    tag_length=st.sampled_from([4, 6, 8, 10, 12, 14, 16]),
    data=st.binary(max_size=100),
    aad=st.one_of(st.binary(max_size=40), st.binary(min_size=0xFF00, max_size=0xFF01)),
)
def test_ccm_construction_matches_aesccm(
    key: bytes, nonce: bytes, tag_length: int, data: bytes, aad: bytes
) -> None:
    ours = _AesCcm(key, tag_length).encrypt(nonce, data, aad)
    assert ours == AESCCM(key, tag_length).encrypt(nonce, data, aad)
    assert _AesCcm(key, tag_length).decrypt(nonce, ours, aad) == data


def test_parameter_checks() -> None:
    with pytest.raises(ValueError, match="16 bytes"):
        Sm4Gcm(b"short")
    with pytest.raises(ValueError, match="tag length"):
        Sm4Ccm(KEY, 5)
    with pytest.raises(ValueError, match="nonce"):
        Sm4Ccm(KEY).encrypt(b"123456", b"", b"")
