"""TLS 1.3 record protection (RFC 8446 §5). No I/O.

Record framing, header checks and handshake reassembly are the shared ones in
:mod:`sentinel.wire.records`; this module adds only what TLS 1.3 has of its own: the tighter
bounds on a TLSCiphertext header, per-record nonces, AEAD open and seal, and the
TLSInnerPlaintext padding and content type.
"""

from __future__ import annotations

from cryptography.exceptions import InvalidTag

from sentinel.errors import DecodeError
from sentinel.wire.constants import MAX_PLAINTEXT_FRAGMENT, ContentType
from sentinel.wire.records import RECORD_HEADER_LEN, RecordHeader, parse_record_header
from sentinel.wire.tls13_keys import Tls13Suite, TrafficKeys

MAX_CIPHERTEXT = MAX_PLAINTEXT_FRAGMENT + 256  # RFC 8446 §5.2
# RFC 8446 §5: TLS 1.3 records carry these four types, never TLCP's version or heartbeats.
_TLS13_CONTENT_TYPES = frozenset({ContentType.CHANGE_CIPHER_SPEC, ContentType.ALERT,
                                  ContentType.HANDSHAKE, ContentType.APPLICATION_DATA})

_LAYER = "tls13-record"


def parse_tls13_record_header(data: bytes) -> RecordHeader:
    """The shared record header checks, then TLS 1.3's: four content types, 3.x, 2^14+256."""
    if len(data) != RECORD_HEADER_LEN:
        raise DecodeError(_LAYER, "record header must be 5 bytes", 0)
    header = parse_record_header(data)
    if header.content_type not in _TLS13_CONTENT_TYPES:
        raise DecodeError(_LAYER, f"unknown record content type {header.content_type}", 0)
    if header.version >> 8 != 3:
        raise DecodeError(_LAYER, f"record version 0x{header.version:04x} is not TLS", 1)
    if header.length > MAX_CIPHERTEXT:
        raise DecodeError(_LAYER, f"record length {header.length} exceeds 2^14+256", 3)
    return header


class _RecordCipher:
    def __init__(self, suite: Tls13Suite, keys: TrafficKeys) -> None:
        self._suite = suite
        self._aead = suite.aead_factory(keys.key)
        self._iv = keys.iv
        self.sequence = 0

    def _next_nonce(self) -> bytes:
        # RFC 8446 §5.3: the 64-bit sequence number, left-padded, XORed into the IV.
        padded = self.sequence.to_bytes(len(self._iv), "big")
        self.sequence += 1
        return bytes(a ^ b for a, b in zip(padded, self._iv, strict=True))


class RecordDecryptor(_RecordCipher):
    """Opens successive protected records from one sender under one traffic key."""

    def decrypt(self, header: RecordHeader, body: bytes) -> tuple[int, bytes]:
        """Return (inner content type, content) of one application_data record."""
        if header.content_type != ContentType.APPLICATION_DATA:
            raise DecodeError(_LAYER, f"protected record has outer type {header.content_type}")
        if len(body) != header.length or len(body) < self._suite.tag_size + 1:
            raise DecodeError(_LAYER, "protected record too short")
        try:
            inner = self._aead.decrypt(self._next_nonce(), body, header.encode())
        except InvalidTag as exc:
            raise DecodeError(_LAYER, "record authentication failed (wrong keys?)") from exc
        return split_inner_plaintext(inner)


class RecordEncryptor(_RecordCipher):
    """Protects records; Sentinel only needs it to build test traffic and client records."""

    def encrypt(self, content_type: int, content: bytes, padding: int = 0) -> bytes:
        """A full TLSCiphertext record (header included) carrying `content`."""
        inner = content + bytes([content_type]) + bytes(padding)
        length = len(inner) + self._suite.tag_size
        if len(content) > MAX_PLAINTEXT_FRAGMENT or length > MAX_CIPHERTEXT:
            raise ValueError("record too large")
        header = RecordHeader(ContentType.APPLICATION_DATA, 0x0303, length).encode()
        return header + self._aead.encrypt(self._next_nonce(), inner, header)


def split_inner_plaintext(inner: bytes) -> tuple[int, bytes]:
    """Strip zero padding from TLSInnerPlaintext and return (content type, content)."""
    stripped = inner.rstrip(b"\x00")
    if not stripped:
        raise DecodeError(_LAYER, "inner plaintext has no content type")
    content = stripped[:-1]
    if len(content) > MAX_PLAINTEXT_FRAGMENT:
        raise DecodeError(_LAYER, "inner plaintext exceeds 2^14 bytes")
    return stripped[-1], content
