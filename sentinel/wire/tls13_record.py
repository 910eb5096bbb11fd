"""TLS 1.3 record protection (RFC 8446 §5) and handshake-message reassembly. No I/O.

Decrypts TLSCiphertext records with per-record nonces, strips the TLSInnerPlaintext
padding and content type, and cuts the resulting handshake byte stream into
messages that may span records. Every length from the peer is checked.
"""

from __future__ import annotations

from typing import NamedTuple

from cryptography.exceptions import InvalidTag

from sentinel.errors import DecodeError
from sentinel.wire.tls13_keys import Tls13Suite, TrafficKeys

CONTENT_CHANGE_CIPHER_SPEC = 20
CONTENT_ALERT = 21
CONTENT_HANDSHAKE = 22
CONTENT_APPLICATION_DATA = 23

RECORD_HEADER_SIZE = 5
MAX_PLAINTEXT = 1 << 14
MAX_CIPHERTEXT = MAX_PLAINTEXT + 256
HANDSHAKE_HEADER_SIZE = 4
# A certificate chain beyond this is not something a scan needs to read whole.
MAX_HANDSHAKE_MESSAGE = 256 * 1024

_LAYER = "tls13-record"


class RecordHeader(NamedTuple):
    """The 5-byte record header."""

    content_type: int
    version: int
    length: int

    def encode(self) -> bytes:
        """The header bytes (also the AEAD additional data for protected records)."""
        return (
            bytes([self.content_type])
            + self.version.to_bytes(2, "big")
            + self.length.to_bytes(2, "big")
        )


def parse_record_header(data: bytes) -> RecordHeader:
    """Parse and sanity-check a record header (type known, version 3.x, length bounded)."""
    if len(data) != RECORD_HEADER_SIZE:
        raise DecodeError(_LAYER, "record header must be 5 bytes", 0)
    content_type, version = data[0], int.from_bytes(data[1:3], "big")
    length = int.from_bytes(data[3:5], "big")
    if content_type not in (20, 21, 22, 23):
        raise DecodeError(_LAYER, f"unknown record content type {content_type}", 0)
    if version >> 8 != 3:
        raise DecodeError(_LAYER, f"record version 0x{version:04x} is not TLS", 1)
    if length > MAX_CIPHERTEXT:
        raise DecodeError(_LAYER, f"record length {length} exceeds 2^14+256", 3)
    return RecordHeader(content_type, version, length)


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
        if header.content_type != CONTENT_APPLICATION_DATA:
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
        if len(content) > MAX_PLAINTEXT or length > MAX_CIPHERTEXT:
            raise ValueError("record too large")
        header = RecordHeader(CONTENT_APPLICATION_DATA, 0x0303, length)
        return header.encode() + self._aead.encrypt(self._next_nonce(), inner, header.encode())


def split_inner_plaintext(inner: bytes) -> tuple[int, bytes]:
    """Strip zero padding from TLSInnerPlaintext and return (content type, content)."""
    stripped = inner.rstrip(b"\x00")
    if not stripped:
        raise DecodeError(_LAYER, "inner plaintext has no content type")
    content = stripped[:-1]
    if len(content) > MAX_PLAINTEXT:
        raise DecodeError(_LAYER, "inner plaintext exceeds 2^14 bytes")
    return stripped[-1], content


class HandshakeMessage(NamedTuple):
    """One handshake message; `raw` includes the 4-byte header (what the transcript hashes)."""

    msg_type: int
    body: bytes
    raw: bytes


class HandshakeReassembler:
    """Collects handshake bytes from records and yields whole messages."""

    def __init__(self, max_message: int = MAX_HANDSHAKE_MESSAGE) -> None:
        self._buffer = b""
        self._consumed = 0  # stream offset of the buffer's start, for error offsets
        self._max_message = max_message

    def feed(self, data: bytes) -> list[HandshakeMessage]:
        """Add bytes; return every message now complete, in order."""
        self._buffer += data
        messages: list[HandshakeMessage] = []
        while len(self._buffer) >= HANDSHAKE_HEADER_SIZE:
            length = int.from_bytes(self._buffer[1:4], "big")
            if length > self._max_message:
                raise DecodeError(
                    "tls13-handshake", f"handshake message of {length} bytes", self._consumed + 1
                )
            end = HANDSHAKE_HEADER_SIZE + length
            if len(self._buffer) < end:
                break
            raw = self._buffer[:end]
            messages.append(HandshakeMessage(raw[0], raw[HANDSHAKE_HEADER_SIZE:], raw))
            self._buffer = self._buffer[end:]
            self._consumed += end
        return messages

    @property
    def pending(self) -> bool:
        """True while part of a message is buffered (a record boundary inside a message)."""
        return bool(self._buffer)


def split_handshake_messages(data: bytes) -> list[HandshakeMessage]:
    """Split a complete handshake byte stream; trailing partial bytes are an error."""
    reassembler = HandshakeReassembler()
    messages = reassembler.feed(data)
    if reassembler.pending:
        raise DecodeError("tls13-handshake", "truncated handshake message", len(data))
    return messages
