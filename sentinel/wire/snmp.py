"""SNMPv3 engine discovery (RFC 3414 §4), no I/O: the request and the agent's Report.

Discovery needs no credentials: an empty-user, noAuthNoPriv, reportable GetRequest makes a
v3 agent answer with a Report carrying its authoritative engine id, boots and time. Only
the BER subset these two messages use is handled (definite lengths, INTEGER, OCTET STRING,
OBJECT IDENTIFIER, SEQUENCE, context-tagged PDUs); everything the agent sends is bounded
and malformed input raises :class:`~sentinel.errors.DecodeError` with layer ``snmp``.
"""

from __future__ import annotations

from dataclasses import dataclass

from sentinel.errors import DecodeError
from sentinel.wire._reader import Reader

LAYER = "snmp"
INTEGER, OCTET_STRING, NULL, OID, SEQUENCE = 0x02, 0x04, 0x05, 0x06, 0x30
GET_REQUEST, REPORT = 0xA0, 0xA8
MAX_ENGINE_ID = 32  # RFC 3411: SnmpEngineID is 5..32 octets
MAX_MESSAGE = 65507


def _length(length: int) -> bytes:
    if length < 0x80:
        return bytes([length])
    body = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(body)]) + body


def tlv(tag: int, value: bytes) -> bytes:
    """One BER element with a definite length."""
    return bytes([tag]) + _length(len(value)) + value


def integer(value: int) -> bytes:
    """A BER INTEGER (two's complement, minimal)."""
    size = max(1, (value.bit_length() + 8) // 8)
    return tlv(INTEGER, value.to_bytes(size, "big", signed=True))


def discovery_request(message_id: int, request_id: int) -> bytes:
    """The RFC 3414 §4 discovery GetRequest: empty engine id and user, reportable."""
    global_data = tlv(SEQUENCE, integer(message_id) + integer(MAX_MESSAGE)
                      + tlv(OCTET_STRING, b"\x04") + integer(3))
    usm = tlv(SEQUENCE, tlv(OCTET_STRING, b"") + integer(0) + integer(0)
              + tlv(OCTET_STRING, b"") + tlv(OCTET_STRING, b"") + tlv(OCTET_STRING, b""))
    pdu = tlv(GET_REQUEST, integer(request_id) + integer(0) + integer(0) + tlv(SEQUENCE, b""))
    scoped = tlv(SEQUENCE, tlv(OCTET_STRING, b"") + tlv(OCTET_STRING, b"") + pdu)
    return tlv(SEQUENCE, integer(3) + global_data + tlv(OCTET_STRING, usm) + scoped)


class _Ber:
    """Reads BER elements from a :class:`Reader`, checking each tag."""

    def __init__(self, data: bytes, start: int = 0, end: int | None = None) -> None:
        self.reader = Reader(data, LAYER, start, end)
        self.data = data

    def element(self, expected: int, what: str) -> tuple[int, int]:
        """(start, end) of the next element's value, which must carry tag ``expected``."""
        at = self.reader.offset
        tag = self.reader.u8(f"{what} tag")
        if tag != expected:
            raise DecodeError(LAYER, f"{what}: tag 0x{tag:02x}, expected 0x{expected:02x}", at)
        first = self.reader.u8(f"{what} length")
        if first == 0x80 or first > 0x84:
            raise DecodeError(LAYER, f"{what}: unsupported length form 0x{first:02x}", at)
        length = first if first < 0x80 else self.reader.uint(first & 0x7F, f"{what} length")
        start = self.reader.offset
        self.reader.raw(length, what)
        return start, start + length

    def inner(self, expected: int, what: str) -> _Ber:
        start, end = self.element(expected, what)
        return _Ber(self.data, start, end)

    def integer(self, what: str) -> int:
        start, end = self.element(INTEGER, what)
        if not 0 < end - start <= 9:
            raise DecodeError(LAYER, f"{what}: {end - start}-byte integer", start)
        return int.from_bytes(self.data[start:end], "big", signed=True)

    def octets(self, what: str, limit: int = MAX_MESSAGE) -> bytes:
        start, end = self.element(OCTET_STRING, what)
        if end - start > limit:
            raise DecodeError(LAYER, f"{what}: {end - start} bytes exceeds {limit}", start)
        return self.data[start:end]


@dataclass(frozen=True)
class EngineReport:
    """What discovery learns: the agent's engine id, boots and time, and the PDU kind."""

    message_id: int
    engine_id: bytes
    engine_boots: int
    engine_time: int
    pdu_tag: int

    @property
    def enterprise(self) -> int | None:
        """The IANA enterprise number in an RFC 3411 engine id (high bit set), else None."""
        if len(self.engine_id) >= 5 and self.engine_id[0] & 0x80:
            return int.from_bytes(self.engine_id[:4], "big") & 0x7FFFFFFF
        return None

    @property
    def format(self) -> int | None:
        """The RFC 3411 engine id format octet (1 IPv4, 2 IPv6, 3 MAC, 4 text, 128+ vendor)."""
        return self.engine_id[4] if self.enterprise is not None else None


def decode_report(data: bytes) -> EngineReport:
    """Parse an SNMPv3 message up to its PDU tag; the USM parameters give the engine."""
    outer = _Ber(data).inner(SEQUENCE, "message")
    if outer.integer("msgVersion") != 3:
        raise DecodeError(LAYER, "not an SNMPv3 message", 0)
    header = outer.inner(SEQUENCE, "msgGlobalData")
    message_id = header.integer("msgID")
    usm_bytes_start, usm_end = outer.element(OCTET_STRING, "msgSecurityParameters")
    usm = _Ber(data, usm_bytes_start, usm_end).inner(SEQUENCE, "UsmSecurityParameters")
    engine_id = usm.octets("msgAuthoritativeEngineID", MAX_ENGINE_ID)
    boots = usm.integer("msgAuthoritativeEngineBoots")
    engine_time = usm.integer("msgAuthoritativeEngineTime")
    scoped = outer.inner(SEQUENCE, "ScopedPDU")
    scoped.octets("contextEngineID", MAX_ENGINE_ID)
    scoped.octets("contextName", 255)
    at = scoped.reader.offset
    pdu_tag = scoped.reader.u8("PDU tag")
    if pdu_tag & 0xE0 != 0xA0:
        raise DecodeError(LAYER, f"PDU tag 0x{pdu_tag:02x} is not a context PDU", at)
    return EngineReport(message_id, engine_id, boots, engine_time, pdu_tag)
