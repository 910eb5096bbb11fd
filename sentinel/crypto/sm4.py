"""SM4 AEADs for TLS 1.3 (RFC 8998): SM4-GCM and SM4-CCM with the AEAD calling convention.

`cryptography` offers SM4 as a block cipher (ECB, CBC, CTR, GCM modes) but has no
SM4 AEAD classes and no CCM mode for SM4. GCM therefore uses `Cipher(SM4, GCM)`;
CCM (NIST SP 800-38C / RFC 3610 formatting) is built here from SM4-CBC (the MAC)
and SM4-CTR (the keystream). Both classes mirror `cryptography`'s `AESGCM`:
`encrypt(nonce, data, aad) -> ciphertext ‖ tag`, `decrypt` raises `InvalidTag`.
"""

from __future__ import annotations

import hmac

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

KEY_SIZE = 16
BLOCK_SIZE = 16
TAG_SIZE = 16
# TLS records are at most 2^14 + 256 bytes; a generous ceiling keeps the CCM
# counter far from wrapping its L-byte field.
_MAX_CCM_DATA = 1 << 20


def _check_key(key: bytes) -> None:
    if len(key) != KEY_SIZE:
        raise ValueError("SM4 keys are 16 bytes")


class Sm4Gcm:
    """SM4-GCM with a 16-byte tag (RFC 8998 §4, RFC 5116 interface)."""

    def __init__(self, key: bytes) -> None:
        _check_key(key)
        self._key = key

    def encrypt(self, nonce: bytes, data: bytes, associated_data: bytes | None) -> bytes:
        """Encrypt and authenticate; returns ciphertext ‖ tag."""
        encryptor = Cipher(algorithms.SM4(self._key), modes.GCM(nonce)).encryptor()
        encryptor.authenticate_additional_data(associated_data or b"")
        body = encryptor.update(data) + encryptor.finalize()
        return body + encryptor.tag

    def decrypt(self, nonce: bytes, data: bytes, associated_data: bytes | None) -> bytes:
        """Check the tag and decrypt; raises `InvalidTag` on any mismatch."""
        if len(data) < TAG_SIZE:
            raise InvalidTag
        body, tag = data[:-TAG_SIZE], data[-TAG_SIZE:]
        decryptor = Cipher(algorithms.SM4(self._key), modes.GCM(nonce, tag)).decryptor()
        decryptor.authenticate_additional_data(associated_data or b"")
        return decryptor.update(body) + decryptor.finalize()


class Sm4Ccm:
    """SM4-CCM (SP 800-38C formatting) with nonces of 7..13 bytes and even tags of 4..16.

    The block cipher is a class attribute so the tests can run the same CCM code
    over AES and compare it with `cryptography`'s independent `AESCCM`.
    """

    _algorithm: type[algorithms.SM4] | type[algorithms.AES] = algorithms.SM4

    def __init__(self, key: bytes, tag_length: int = TAG_SIZE) -> None:
        if self._algorithm is algorithms.SM4:
            _check_key(key)
        if tag_length not in (4, 6, 8, 10, 12, 14, 16):
            raise ValueError("CCM tag length must be even, 4..16")
        self._key = key
        self._tag_length = tag_length

    def _cbc_mac(self, nonce: bytes, data: bytes, aad: bytes) -> bytes:
        length_size = 15 - len(nonce)
        flags = (0x40 if aad else 0) | ((self._tag_length - 2) // 2) << 3 | (length_size - 1)
        blocks = bytes([flags]) + nonce + len(data).to_bytes(length_size, "big")
        if aad:
            # Short AAD gets a 2-byte length; longer gets 0xFFFE + 4 bytes (SP 800-38C A.2.2).
            header = (
                len(aad).to_bytes(2, "big")
                if len(aad) < 0xFF00
                else b"\xff\xfe" + len(aad).to_bytes(4, "big")
            )
            blocks += _pad(header + aad)
        blocks += _pad(data)
        encryptor = Cipher(self._algorithm(self._key), modes.CBC(bytes(BLOCK_SIZE))).encryptor()
        chained = encryptor.update(blocks) + encryptor.finalize()
        return chained[-BLOCK_SIZE:]

    def _keystream_xor(self, nonce: bytes, data: bytes) -> tuple[bytes, bytes]:
        """Return (first counter block's keystream S0, data XOR keystream from counter 1)."""
        length_size = 15 - len(nonce)
        counter0 = bytes([length_size - 1]) + nonce + bytes(length_size)
        cipher = Cipher(self._algorithm(self._key), modes.CTR(counter0)).encryptor()
        stream = cipher.update(bytes(BLOCK_SIZE) + data) + cipher.finalize()
        return stream[:BLOCK_SIZE], stream[BLOCK_SIZE:]

    def _check(self, nonce: bytes, data: bytes) -> None:
        if not 7 <= len(nonce) <= 13:
            raise ValueError("CCM nonce must be 7..13 bytes")
        if len(data) > _MAX_CCM_DATA:
            raise ValueError("CCM input too long")

    def encrypt(self, nonce: bytes, data: bytes, associated_data: bytes | None) -> bytes:
        """Encrypt and authenticate; returns ciphertext ‖ tag."""
        self._check(nonce, data)
        mac = self._cbc_mac(nonce, data, associated_data or b"")
        s0, body = self._keystream_xor(nonce, data)
        return body + _xor(mac, s0)[: self._tag_length]

    def decrypt(self, nonce: bytes, data: bytes, associated_data: bytes | None) -> bytes:
        """Check the tag and decrypt; raises `InvalidTag` on any mismatch."""
        self._check(nonce, data)
        if len(data) < self._tag_length:
            raise InvalidTag
        body, tag = data[: -self._tag_length], data[-self._tag_length :]
        s0, plaintext = self._keystream_xor(nonce, body)
        mac = self._cbc_mac(nonce, plaintext, associated_data or b"")
        if not hmac.compare_digest(_xor(mac, s0)[: self._tag_length], tag):
            raise InvalidTag
        return plaintext


def _pad(data: bytes) -> bytes:
    return data + bytes(-len(data) % BLOCK_SIZE)


def _xor(left: bytes, right: bytes) -> bytes:
    return bytes(a ^ b for a, b in zip(left, right, strict=True))
