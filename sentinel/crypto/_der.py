"""A small, bounded DER reader for the few structures Sentinel parses itself.

`cryptography` cannot load SM2 keys, so the SM2 SubjectPublicKeyInfo and the SM2
signature (SEQUENCE of two INTEGERs) are read here. Only definite lengths are
accepted (DER), every length is checked against the bytes that remain, and every
failure is a `DecodeError` carrying the offset where it happened.
"""

from __future__ import annotations

from dataclasses import dataclass

from sentinel.errors import DecodeError

TAG_INTEGER = 0x02
TAG_BIT_STRING = 0x03
TAG_OCTET_STRING = 0x04
TAG_NULL = 0x05
TAG_OID = 0x06
TAG_SEQUENCE = 0x30

# A length above this is never legitimate for the structures we read (certificates
# are far smaller); rejecting it early keeps a hostile length from meaning anything.
_MAX_LENGTH = 1 << 24
_MAX_OID_ARCS = 32


@dataclass(frozen=True)
class Tlv:
    """One DER element: its tag, its content bytes and where the content starts."""

    tag: int
    content: bytes
    offset: int  # absolute offset of the content in the outermost buffer


class DerReader:
    """Reads consecutive DER elements from a buffer, never past its end."""

    def __init__(self, data: bytes, *, layer: str = "der", base: int = 0) -> None:
        self._data = data
        self._pos = 0
        self._layer = layer
        self._base = base

    def at_end(self) -> bool:
        """True when every byte has been consumed."""
        return self._pos >= len(self._data)

    def _fail(self, message: str, pos: int | None = None) -> DecodeError:
        return DecodeError(self._layer, message, self._base + (self._pos if pos is None else pos))

    def _read_length(self) -> int:
        data = self._data
        if self._pos >= len(data):
            raise self._fail("missing length")
        first = data[self._pos]
        self._pos += 1
        if first < 0x80:
            return first
        count = first & 0x7F
        if count == 0:
            raise self._fail("indefinite length is not DER")
        if count > 4 or self._pos + count > len(data):
            raise self._fail("length field too long or truncated")
        raw = data[self._pos : self._pos + count]
        self._pos += count
        if raw[0] == 0:
            raise self._fail("non-minimal length encoding")
        value = int.from_bytes(raw, "big")
        if value < 0x80:
            raise self._fail("long form used for a short length")
        if value > _MAX_LENGTH:
            raise self._fail("length too large")
        return value

    def read(self, expected_tag: int | None = None) -> Tlv:
        """Read the next element; check its tag when `expected_tag` is given."""
        start = self._pos
        if start >= len(self._data):
            raise self._fail("unexpected end of data")
        tag = self._data[start]
        if tag & 0x1F == 0x1F:
            raise self._fail("multi-byte tags are not supported", start)
        self._pos += 1
        length = self._read_length()
        end = self._pos + length
        if end > len(self._data):
            raise self._fail(f"element of {length} bytes runs past the end")
        if expected_tag is not None and tag != expected_tag:
            raise self._fail(f"expected tag 0x{expected_tag:02x}, found 0x{tag:02x}", start)
        tlv = Tlv(tag, self._data[self._pos : end], self._base + self._pos)
        self._pos = end
        return tlv

    def sub(self, tlv: Tlv) -> DerReader:
        """A reader over the content of a constructed element."""
        return DerReader(tlv.content, layer=self._layer, base=tlv.offset)

    def expect_end(self) -> None:
        """Fail when bytes are left over."""
        if not self.at_end():
            raise self._fail("trailing bytes")


def decode_positive_integer(tlv: Tlv, layer: str) -> int:
    """Decode a DER INTEGER that must be positive and minimally encoded."""
    content = tlv.content
    if not content:
        raise DecodeError(layer, "empty INTEGER", tlv.offset)
    if content[0] & 0x80:
        raise DecodeError(layer, "negative INTEGER", tlv.offset)
    if len(content) > 1 and content[0] == 0 and not content[1] & 0x80:
        raise DecodeError(layer, "non-minimal INTEGER", tlv.offset)
    return int.from_bytes(content, "big")


def decode_oid(tlv: Tlv, layer: str) -> str:
    """Decode an OBJECT IDENTIFIER to dotted form."""
    content = tlv.content
    if not content or content[-1] & 0x80:
        raise DecodeError(layer, "truncated OBJECT IDENTIFIER", tlv.offset)
    arcs: list[int] = []
    value = 0
    for index, byte in enumerate(content):
        if value == 0 and byte == 0x80:
            raise DecodeError(layer, "non-minimal OID arc", tlv.offset + index)
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            arcs.append(value)
            value = 0
            if len(arcs) > _MAX_OID_ARCS:
                raise DecodeError(layer, "OID has too many arcs", tlv.offset + index)
    first = min(arcs[0] // 40, 2)
    return ".".join(str(arc) for arc in [first, arcs[0] - 40 * first, *arcs[1:]])
