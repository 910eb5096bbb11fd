"""One hello, one connection: send bytes, read the server's answer into a ServerFlight.

The connection comes from the caller (``connect``), already through the scope gate and the
rate budget; this module only bounds every flight by one deadline, by record count and by
buffered size. Every byte read is parsed by ``sentinel.wire``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Collection
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from enum import StrEnum

from sentinel.errors import DecodeError
from sentinel.wire.alerts import Alert, parse_alert
from sentinel.wire.constants import ContentType, HandshakeType
from sentinel.wire.hello import ServerHello, parse_server_hello
from sentinel.wire.records import (
    RECORD_HEADER_LEN,
    HandshakeAssembler,
    HandshakeMessage,
    parse_record_header,
)
from sentinel.wire.sslv2 import SSLv2ServerHello, parse_sslv2_server_hello, sslv2_record_length

Streams = tuple[asyncio.StreamReader, asyncio.StreamWriter]
Connect = Callable[[], AbstractAsyncContextManager[Streams]]

MAX_RECORDS_PER_FLIGHT = 64  # a ServerHello..ServerHelloDone flight is a handful of records
STOP_AT_SERVER_HELLO = frozenset({HandshakeType.SERVER_HELLO})
STOP_AT_HELLO_DONE = frozenset({HandshakeType.SERVER_HELLO_DONE})


class Outcome(StrEnum):
    """How a hello ended."""

    SERVER_HELLO = "server_hello"
    ALERT = "alert"
    CLOSED = "closed"  # the peer closed without a word (OpenSSL's answer to TLCP, DOMAIN §1.2)
    TIMEOUT = "timeout"
    MALFORMED = "malformed"
    SSLV2 = "sslv2"


@dataclass(frozen=True)
class ServerFlight:
    """What came back for one hello."""

    outcome: Outcome
    server_hello: ServerHello | None = None
    messages: tuple[HandshakeMessage, ...] = ()
    alert: Alert | None = None
    first_bytes: bytes = b""
    sslv2: SSLv2ServerHello | None = None
    error: str | None = None

    def message(self, msg_type: int) -> HandshakeMessage | None:
        """The first handshake message of a type, if received."""
        return next((m for m in self.messages if m.msg_type == msg_type), None)

    @property
    def silent(self) -> bool:
        """True when the server answered with nothing at all (closed or timed out)."""
        return self.outcome in (Outcome.CLOSED, Outcome.TIMEOUT) and not self.first_bytes


READ_SIZE = 16 * 1024  # what one read asks the stream for; a record is parsed as it completes


class _FlightReader:
    """Reads records until a stop message, an alert, EOF, the deadline or a limit.

    Bytes are read as they arrive (one read per TCP segment batch, not two per record) and
    parsed out of one buffer that never holds more than one unfinished record plus one read.
    """

    def __init__(self, reader: asyncio.StreamReader, stop_at: Collection[int]) -> None:
        self.reader = reader
        self.stop_at = stop_at
        self.assembler = HandshakeAssembler()
        self.messages: list[HandshakeMessage] = []
        self.first = b""
        self.buffer = b""

    def _result(self, outcome: Outcome, alert: Alert | None = None) -> ServerFlight:
        hello_msg = next((m for m in self.messages if m.msg_type == HandshakeType.SERVER_HELLO),
                         None)
        try:
            hello = parse_server_hello(hello_msg.body) if hello_msg else None
        except DecodeError as exc:
            return ServerFlight(Outcome.MALFORMED, None, tuple(self.messages), alert, self.first,
                                error=str(exc))
        if hello is not None and outcome in (Outcome.CLOSED, Outcome.TIMEOUT):
            outcome = Outcome.SERVER_HELLO  # got what matters before the peer went quiet
        return ServerFlight(outcome, hello, tuple(self.messages), alert, self.first)

    async def _fill(self, wanted: int) -> None:
        """Read until the buffer holds ``wanted`` bytes (EOF: IncompleteReadError)."""
        while len(self.buffer) < wanted:
            chunk = await self.reader.read(READ_SIZE)
            if not chunk:
                raise asyncio.IncompleteReadError(self.buffer, wanted)
            if len(self.first) < 16:
                self.first = (self.first + chunk)[:16]
            self.buffer += chunk

    async def read(self, accept_sslv2: bool) -> ServerFlight:
        await self._fill(2)
        if accept_sslv2 and self.buffer[0] & 0x80:
            return await self._sslv2()
        for _ in range(MAX_RECORDS_PER_FLIGHT):
            await self._fill(RECORD_HEADER_LEN)
            parsed = parse_record_header(self.buffer[:RECORD_HEADER_LEN])
            end = RECORD_HEADER_LEN + parsed.length
            await self._fill(end)
            payload, self.buffer = self.buffer[RECORD_HEADER_LEN:end], self.buffer[end:]
            done = self._record(parsed.content_type, payload)
            if done is not None:
                return done
        raise DecodeError("flight", f"no end of flight after {MAX_RECORDS_PER_FLIGHT} records")

    def _record(self, content_type: int, payload: bytes) -> ServerFlight | None:
        if content_type == ContentType.ALERT:
            return self._result(Outcome.ALERT, alert=parse_alert(payload[:2]))
        if content_type != ContentType.HANDSHAKE:
            return None  # e.g. TLS 1.3 middlebox-compat CCS; nothing to learn
        for message in self.assembler.feed(payload):
            self.messages.append(message)
            if message.msg_type in self.stop_at:
                return self._result(Outcome.SERVER_HELLO)
        return None

    async def _sslv2(self) -> ServerFlight:
        header_len, length = sslv2_record_length(self.buffer[:3])
        await self._fill(header_len + length)
        record = self.buffer[: header_len + length]
        return ServerFlight(Outcome.SSLV2, first_bytes=record[:16],
                            sslv2=parse_sslv2_server_hello(record))


async def read_flight(reader: asyncio.StreamReader, timeout: float,
                      stop_at: Collection[int] = STOP_AT_SERVER_HELLO,
                      accept_sslv2: bool = False) -> ServerFlight:
    """Read the server's answer within one deadline for the whole flight (a server that
    drips bytes cannot stretch it); every failure mode becomes an Outcome, never an
    exception."""
    flight = _FlightReader(reader, stop_at)
    try:
        async with asyncio.timeout(timeout):
            return await flight.read(accept_sslv2)
    except TimeoutError:
        return flight._result(Outcome.TIMEOUT)
    except (asyncio.IncompleteReadError, ConnectionError):
        return flight._result(Outcome.CLOSED)
    except DecodeError as exc:
        return ServerFlight(Outcome.MALFORMED, first_bytes=flight.first, error=str(exc))


async def send_hello(connect: Connect, data: bytes, timeout: float,
                     stop_at: Collection[int] = STOP_AT_SERVER_HELLO,
                     accept_sslv2: bool = False) -> ServerFlight:
    """Open one connection, send ``data``, read one flight, close."""
    async with connect() as (reader, writer):
        writer.write(data)
        try:
            async with asyncio.timeout(timeout):
                await writer.drain()
        except (TimeoutError, ConnectionError):
            return ServerFlight(Outcome.CLOSED, error="write failed")
        return await read_flight(reader, timeout, stop_at, accept_sslv2)

