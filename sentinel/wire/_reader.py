"""A bounded cursor over untrusted bytes: every read checks its length first.

All wire parsers read through :class:`Reader`, so a short or lying length field becomes a
:class:`~sentinel.errors.DecodeError` with the absolute offset, never an ``IndexError``, a
``struct.error`` or an allocation sized by the peer: a slice is only ever taken from bytes
that were actually received.
"""

from __future__ import annotations

import struct

from sentinel.errors import DecodeError


class Reader:
    """Reads big-endian integers and length-prefixed vectors from ``data[start:end]``."""

    __slots__ = ("_data", "_end", "_pos", "layer")

    def __init__(self, data: bytes, layer: str, start: int = 0, end: int | None = None) -> None:
        self._data = data
        self._pos = start
        self._end = len(data) if end is None else end
        self.layer = layer

    @property
    def offset(self) -> int:
        """Absolute position of the next byte to read."""
        return self._pos

    @property
    def remaining(self) -> int:
        """Bytes left before this reader's end."""
        return self._end - self._pos

    def error(self, message: str, offset: int | None = None) -> DecodeError:
        """A DecodeError for this layer at the given (default: current) offset."""
        return DecodeError(self.layer, message, self._pos if offset is None else offset)

    def _take(self, count: int, what: str) -> int:
        if count < 0 or count > self.remaining:
            raise self.error(f"{what}: needs {count} bytes, {self.remaining} left")
        start = self._pos
        self._pos += count
        return start

    def uint(self, size: int, what: str = "integer") -> int:
        """An unsigned big-endian integer of ``size`` bytes."""
        start = self._take(size, what)
        return int.from_bytes(self._data[start : start + size], "big")

    def u8(self, what: str = "uint8") -> int:
        """One unsigned byte."""
        return self.uint(1, what)

    def u16(self, what: str = "uint16") -> int:
        """A big-endian uint16."""
        return self.uint(2, what)

    def u24(self, what: str = "uint24") -> int:
        """A big-endian uint24."""
        return self.uint(3, what)

    def raw(self, count: int, what: str = "bytes") -> bytes:
        """Exactly ``count`` bytes (only after checking that they were received)."""
        start = self._take(count, what)
        return self._data[start : start + count]

    def vector(self, length_size: int, what: str = "vector", minimum: int = 0) -> bytes:
        """A vector with a ``length_size``-byte length prefix, at least ``minimum`` long."""
        length = self.uint(length_size, f"{what} length")
        if length < minimum:
            raise self.error(f"{what}: length {length} below minimum {minimum}", self._pos - 1)
        return self.raw(length, what)

    def sub(self, length_size: int, what: str = "block", minimum: int = 0) -> Reader:
        """A reader over a length-prefixed block; this reader skips past the block."""
        length = self.uint(length_size, f"{what} length")
        if length < minimum:
            raise self.error(f"{what}: length {length} below minimum {minimum}")
        start = self._take(length, what)
        return Reader(self._data, f"{self.layer}/{what}", start, start + length)

    def rest(self) -> bytes:
        """Everything up to the end."""
        return self.raw(self.remaining, "rest")

    def expect_end(self, what: str = "message") -> None:
        """Raise if bytes are left over (a length field disagreed with the content)."""
        if self.remaining:
            raise self.error(f"{what}: {self.remaining} unexpected trailing bytes")


def u16_list(reader: Reader, length_size: int, what: str, minimum: int = 0) -> tuple[int, ...]:
    """A vector of uint16 values (cipher suites, groups, signature schemes)."""
    block = reader.sub(length_size, what, minimum)
    if block.remaining % 2:
        raise block.error(f"{what}: odd length {block.remaining}")
    values: list[int] = []
    while block.remaining:  # bounded by the block's received length
        values.append(block.u16(what))
    return tuple(values)


def vec(length_size: int, payload: bytes) -> bytes:
    """Encode a vector with a ``length_size``-byte length prefix (builder side)."""
    if len(payload) >= 1 << (8 * length_size):
        raise ValueError(f"vector of {len(payload)} bytes does not fit {length_size} bytes")
    return len(payload).to_bytes(length_size, "big") + payload


def u16s(values: tuple[int, ...] | list[int]) -> bytes:
    """Encode uint16 values back to back."""
    try:
        return struct.pack(f">{len(values)}H", *values)
    except struct.error:  # a value outside 0..0xFFFF keeps its low 16 bits, as on the wire
        return struct.pack(f">{len(values)}H", *(value & 0xFFFF for value in values))
