"""TLS/TLCP records and the handshake-message reassembly that sits on top of them.

A server may pack several handshake messages into one record, or split one message (a long
certificate chain) across records. :class:`HandshakeAssembler` handles both, with a hard cap
on the bytes it will buffer: a message header announcing more than the cap is rejected
before anything is allocated for it.
"""

from __future__ import annotations

from typing import NamedTuple

from sentinel.errors import DecodeError
from sentinel.wire._reader import Reader
from sentinel.wire.constants import MAX_PLAINTEXT_FRAGMENT, MAX_RECORD_PAYLOAD, ContentType

RECORD_HEADER_LEN = 5
DEFAULT_HANDSHAKE_CAP = 256 * 1024  # generous for long chains, small enough to be harmless
_KNOWN_CONTENT_TYPES = frozenset(int(c) for c in ContentType)


class RecordHeader(NamedTuple):
    """The five bytes in front of every record."""

    content_type: int
    version: int
    length: int

    def encode(self) -> bytes:
        """The five header bytes (also a TLS 1.3 record's AEAD additional data)."""
        return bytes((self.content_type,)) + self.version.to_bytes(2, "big") + (
            self.length.to_bytes(2, "big"))


class Record(NamedTuple):
    """One record: its header fields and the payload (plaintext or still encrypted)."""

    content_type: int
    version: int
    payload: bytes


class HandshakeMessage(NamedTuple):
    """One reassembled handshake message; ``raw`` is header + body, as hashed in transcripts."""

    msg_type: int
    body: bytes
    raw: bytes


def build_record(content_type: int, version: int, payload: bytes) -> bytes:
    """Wrap ``payload`` in as many records as needed (each at most 2^14 bytes)."""
    if not payload:
        return bytes((content_type,)) + version.to_bytes(2, "big") + b"\x00\x00"
    out = bytearray()
    for start in range(0, len(payload), MAX_PLAINTEXT_FRAGMENT):
        chunk = payload[start : start + MAX_PLAINTEXT_FRAGMENT]
        out += bytes((content_type,)) + version.to_bytes(2, "big") + len(chunk).to_bytes(2, "big")
        out += chunk
    return bytes(out)


def build_handshake(msg_type: int, body: bytes) -> bytes:
    """A handshake message: type, uint24 length, body."""
    if len(body) >= 1 << 24:
        raise ValueError("handshake body too long")
    return bytes((msg_type,)) + len(body).to_bytes(3, "big") + body


def parse_record_header(header: bytes) -> RecordHeader:
    """Validate the 5-byte header: known content type, plausible version, bounded length."""
    reader = Reader(header, "record")
    content_type = reader.u8("content type")
    version = reader.u16("version")
    length = reader.u16("length")
    if content_type not in _KNOWN_CONTENT_TYPES:
        raise DecodeError("record", f"unknown content type {content_type}", 0)
    # Real peers use 0x03xx (SSL 3.0 .. TLS 1.3) or TLCP's 0x0101; anything else is not TLS.
    if version >> 8 != 0x03 and version != 0x0101:
        raise DecodeError("record", f"not a TLS/TLCP record version 0x{version:04x}", 1)
    if length > MAX_RECORD_PAYLOAD:
        raise DecodeError("record", f"record length {length} exceeds {MAX_RECORD_PAYLOAD}", 3)
    return RecordHeader(content_type, version, length)


def parse_records(data: bytes) -> tuple[tuple[Record, ...], bytes]:
    """Split ``data`` into complete records; return them and the unparsed tail."""
    records: list[Record] = []
    pos = 0
    while len(data) - pos >= RECORD_HEADER_LEN:  # each pass consumes >= 5 bytes
        header = parse_record_header(data[pos : pos + RECORD_HEADER_LEN])
        end = pos + RECORD_HEADER_LEN + header.length
        if end > len(data):
            break
        payload = data[pos + RECORD_HEADER_LEN : end]
        records.append(Record(header.content_type, header.version, payload))
        pos = end
    return tuple(records), data[pos:]


class HandshakeAssembler:
    """Collects handshake-record payloads and yields whole handshake messages."""

    def __init__(self, cap: int = DEFAULT_HANDSHAKE_CAP) -> None:
        self._buffer = bytearray()
        self._cap = cap
        self._consumed = 0  # bytes already handed out, for error offsets

    @property
    def pending(self) -> int:
        """Bytes of an incomplete message still buffered."""
        return len(self._buffer)

    def feed(self, fragment: bytes) -> list[HandshakeMessage]:
        """Add one handshake record's payload; return every message now complete."""
        if len(self._buffer) + len(fragment) > self._cap:
            raise DecodeError("handshake", f"buffered handshake data exceeds {self._cap} bytes",
                              self._consumed)
        self._buffer += fragment
        messages: list[HandshakeMessage] = []
        while len(self._buffer) >= 4:  # each pass removes >= 4 bytes or stops
            length = int.from_bytes(self._buffer[1:4], "big")
            if length + 4 > self._cap:
                raise DecodeError("handshake", f"message of {length} bytes exceeds the cap",
                                  self._consumed + 1)
            if len(self._buffer) < 4 + length:
                break
            raw = bytes(self._buffer[: 4 + length])
            del self._buffer[: 4 + length]
            self._consumed += len(raw)
            messages.append(HandshakeMessage(raw[0], raw[4:], raw))
        return messages


def split_handshake_messages(payload: bytes) -> tuple[HandshakeMessage, ...]:
    """All messages in a complete handshake payload; a trailing partial message is an error."""
    assembler = HandshakeAssembler(max(len(payload), 4))
    messages = assembler.feed(payload)
    if assembler.pending:
        offset = len(payload) - assembler.pending
        raise DecodeError("handshake", "truncated handshake message", offset)
    return tuple(messages)
