"""TLS 1.3 key schedule (RFC 8446 §7) for every suite Sentinel reads, SM3 included.

HKDF is written over `cryptography`'s HMAC (RFC 5869) rather than its HKDF class so
that any hash works, including SM3 for the RFC 8998 suites. Only the handshake part
of the schedule is needed to read a server's encrypted flight; the master secret is
derived too because it is cheap and lets the tests walk RFC 8448 to the end.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple, Protocol

from cryptography.hazmat.primitives import hashes, hmac
from cryptography.hazmat.primitives.ciphers.aead import AESCCM, AESGCM, ChaCha20Poly1305

from sentinel.crypto.sm4 import Sm4Ccm, Sm4Gcm


class Aead(Protocol):
    """The RFC 5116 AEAD shape shared by `cryptography`'s classes and ours."""

    def encrypt(self, nonce: bytes, data: bytes, associated_data: bytes | None) -> bytes: ...

    def decrypt(self, nonce: bytes, data: bytes, associated_data: bytes | None) -> bytes: ...


class Tls13Suite(NamedTuple):
    """A TLS 1.3 cipher suite: AEAD, key/IV sizes, tag size and transcript hash."""

    code: int
    name: str
    hash_factory: Callable[[], hashes.HashAlgorithm]
    key_size: int
    aead_factory: Callable[[bytes], Aead]
    iv_size: int = 12
    tag_size: int = 16

    @property
    def hash_size(self) -> int:
        """Output size of the suite hash, which is also its secret size."""
        return self.hash_factory().digest_size

    def transcript_hash(self, *messages: bytes) -> bytes:
        """Hash of the concatenated handshake messages (with their 4-byte headers)."""
        digest = hashes.Hash(self.hash_factory())
        for message in messages:
            digest.update(message)
        return digest.finalize()


def _aes_ccm_8(key: bytes) -> Aead:
    return AESCCM(key, tag_length=8)


SUITES: dict[int, Tls13Suite] = {
    suite.code: suite
    for suite in (
        Tls13Suite(0x1301, "TLS_AES_128_GCM_SHA256", hashes.SHA256, 16, AESGCM),
        Tls13Suite(0x1302, "TLS_AES_256_GCM_SHA384", hashes.SHA384, 32, AESGCM),
        Tls13Suite(0x1303, "TLS_CHACHA20_POLY1305_SHA256", hashes.SHA256, 32, ChaCha20Poly1305),
        Tls13Suite(0x1304, "TLS_AES_128_CCM_SHA256", hashes.SHA256, 16, AESCCM),
        Tls13Suite(0x1305, "TLS_AES_128_CCM_8_SHA256", hashes.SHA256, 16, _aes_ccm_8, tag_size=8),
        Tls13Suite(0x00C6, "TLS_SM4_GCM_SM3", hashes.SM3, 16, Sm4Gcm),
        Tls13Suite(0x00C7, "TLS_SM4_CCM_SM3", hashes.SM3, 16, Sm4Ccm),
    )
}


def hmac_digest(algorithm: hashes.HashAlgorithm, key: bytes, data: bytes) -> bytes:
    """HMAC(key, data) with any `cryptography` hash."""
    mac = hmac.HMAC(key, algorithm)
    mac.update(data)
    return mac.finalize()


def hkdf_extract(algorithm: hashes.HashAlgorithm, salt: bytes, ikm: bytes) -> bytes:
    """HKDF-Extract (RFC 5869 §2.2); an empty salt means HashLen zero bytes."""
    return hmac_digest(algorithm, salt or bytes(algorithm.digest_size), ikm)


def hkdf_expand(algorithm: hashes.HashAlgorithm, prk: bytes, info: bytes, length: int) -> bytes:
    """HKDF-Expand (RFC 5869 §2.3)."""
    if length > 255 * algorithm.digest_size:
        raise ValueError("HKDF-Expand length too large")
    output = b""
    block = b""
    counter = 1
    while len(output) < length:
        block = hmac_digest(algorithm, prk, block + info + bytes([counter]))
        output += block
        counter += 1
    return output[:length]


def hkdf_expand_label(
    algorithm: hashes.HashAlgorithm, secret: bytes, label: str, context: bytes, length: int
) -> bytes:
    """HKDF-Expand-Label (RFC 8446 §7.1) with the "tls13 " label prefix."""
    full_label = b"tls13 " + label.encode("ascii")
    if len(full_label) > 255 or len(context) > 255:
        raise ValueError("label or context too long")
    info = (
        length.to_bytes(2, "big")
        + bytes([len(full_label)])
        + full_label
        + bytes([len(context)])
        + context
    )
    return hkdf_expand(algorithm, secret, info, length)


def derive_secret(
    algorithm: hashes.HashAlgorithm, secret: bytes, label: str, transcript_hash: bytes
) -> bytes:
    """Derive-Secret (RFC 8446 §7.1), given the transcript hash already computed."""
    return hkdf_expand_label(algorithm, secret, label, transcript_hash, algorithm.digest_size)


class HandshakeSecrets(NamedTuple):
    """Secrets of the handshake stage of the key schedule (no PSK)."""

    early_secret: bytes
    handshake_secret: bytes
    client_handshake_traffic_secret: bytes
    server_handshake_traffic_secret: bytes
    master_secret: bytes


def handshake_secrets(
    suite: Tls13Suite, shared_secret: bytes, hello_transcript_hash: bytes
) -> HandshakeSecrets:
    """Run the schedule from the (EC)DHE secret and Hash(ClientHello..ServerHello)."""
    algorithm = suite.hash_factory()
    zeros = bytes(algorithm.digest_size)
    empty_hash = suite.transcript_hash()
    early = hkdf_extract(algorithm, zeros, zeros)
    handshake = hkdf_extract(
        algorithm, derive_secret(algorithm, early, "derived", empty_hash), shared_secret
    )
    master = hkdf_extract(
        algorithm, derive_secret(algorithm, handshake, "derived", empty_hash), zeros
    )
    return HandshakeSecrets(
        early_secret=early,
        handshake_secret=handshake,
        client_handshake_traffic_secret=derive_secret(
            algorithm, handshake, "c hs traffic", hello_transcript_hash
        ),
        server_handshake_traffic_secret=derive_secret(
            algorithm, handshake, "s hs traffic", hello_transcript_hash
        ),
        master_secret=master,
    )


class TrafficKeys(NamedTuple):
    """Record-protection key and static IV derived from one traffic secret."""

    key: bytes
    iv: bytes


def traffic_keys(suite: Tls13Suite, traffic_secret: bytes) -> TrafficKeys:
    """[sender]_write_key and [sender]_write_iv (RFC 8446 §7.3)."""
    algorithm = suite.hash_factory()
    return TrafficKeys(
        key=hkdf_expand_label(algorithm, traffic_secret, "key", b"", suite.key_size),
        iv=hkdf_expand_label(algorithm, traffic_secret, "iv", b"", suite.iv_size),
    )


def finished_verify_data(suite: Tls13Suite, traffic_secret: bytes, transcript_hash: bytes) -> bytes:
    """Finished.verify_data for the side whose handshake traffic secret is given (§4.4.4)."""
    algorithm = suite.hash_factory()
    finished_key = hkdf_expand_label(
        algorithm, traffic_secret, "finished", b"", algorithm.digest_size
    )
    return hmac_digest(algorithm, finished_key, transcript_hash)
