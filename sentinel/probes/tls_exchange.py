"""One hello, one connection: send bytes, read the server's answer into a ServerFlight.

The connection comes from the caller (``connect``), already through the scope gate and the
rate budget; this module only bounds every flight by one deadline, by record count and by
buffered size. Every byte read is parsed by ``sentinel.wire``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Collection
from contextlib import AbstractAsyncContextManager
from enum import StrEnum
from typing import NamedTuple, cast

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
    # A ServerHello, then an alert or a close before the flight's stop message: the server
    # selected a suite and then gave up on it (``server_hello`` and ``alert`` say which, why).
    ABORTED = "aborted"
    ALERT = "alert"
    CLOSED = "closed"  # the peer closed without a word (OpenSSL's answer to TLCP, DOMAIN §1.2)
    TIMEOUT = "timeout"
    MALFORMED = "malformed"
    SSLV2 = "sslv2"


class ServerFlight(NamedTuple):
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


READ_SIZE = 16 * 1024  # what one stream read asks for; a record is parsed as it completes


class FlightParser:
    """Incremental: bytes in as they arrive, a ServerFlight out once the flight ends (a stop
    message, an alert, the record limit, or garbage). The buffer never holds more than one
    unfinished record plus the last arrival; nothing is allocated from a length the server
    chose."""

    def __init__(self, stop_at: Collection[int], accept_sslv2: bool = False) -> None:
        self.stop_at = stop_at
        self.accept_sslv2 = accept_sslv2
        self.assembler = HandshakeAssembler()
        self.messages: list[HandshakeMessage] = []
        self.first = b""
        self.buffer = b""
        self.records = 0

    def result(self, outcome: Outcome, alert: Alert | None = None) -> ServerFlight:
        """The flight so far, ended with ``outcome`` (a ServerHello in hand counts as one)."""
        hello_msg = next((m for m in self.messages if m.msg_type == HandshakeType.SERVER_HELLO),
                         None)
        try:
            hello = parse_server_hello(hello_msg.body) if hello_msg else None
        except DecodeError as exc:
            return ServerFlight(Outcome.MALFORMED, None, tuple(self.messages), alert, self.first,
                                error=str(exc))
        if hello is not None and outcome is Outcome.TIMEOUT:
            outcome = Outcome.SERVER_HELLO  # got what matters before the peer went quiet
        elif hello is not None and outcome in (Outcome.CLOSED, Outcome.ALERT):
            outcome = Outcome.ABORTED  # it chose, then ended the handshake itself
        return ServerFlight(outcome, hello, tuple(self.messages), alert, self.first)

    def feed(self, data: bytes) -> ServerFlight | None:
        """Take ``data``; the finished flight, or None while more is needed."""
        try:
            return self._feed(data)
        except DecodeError as exc:
            return ServerFlight(Outcome.MALFORMED, first_bytes=self.first, error=str(exc))

    def _feed(self, data: bytes) -> ServerFlight | None:
        if len(self.first) < 16:
            self.first = (self.first + data)[:16]
        buffer = self.buffer + data if self.buffer else data
        if self.accept_sslv2 and not self.records and len(buffer) >= 2 and buffer[0] & 0x80:
            header_len, length = sslv2_record_length(buffer[:3])
            if len(buffer) < header_len + length:
                self.buffer = buffer
                return None
            record = buffer[: header_len + length]
            return ServerFlight(Outcome.SSLV2, first_bytes=record[:16],
                                sslv2=parse_sslv2_server_hello(record))
        start = 0
        while len(buffer) - start >= RECORD_HEADER_LEN:
            parsed = parse_record_header(buffer[start : start + RECORD_HEADER_LEN])
            end = start + RECORD_HEADER_LEN + parsed.length
            if len(buffer) < end:
                break
            self.records += 1
            done = self._record(parsed.content_type, buffer[start + RECORD_HEADER_LEN : end])
            if done is not None:
                return done
            if self.records >= MAX_RECORDS_PER_FLIGHT:
                raise DecodeError("flight", f"no end of flight after {self.records} records")
            start = end
        self.buffer = buffer[start:]
        return None

    def _record(self, content_type: int, payload: bytes) -> ServerFlight | None:
        if content_type == ContentType.ALERT:
            return self.result(Outcome.ALERT, alert=parse_alert(payload[:2]))
        if content_type != ContentType.HANDSHAKE:
            return None  # e.g. TLS 1.3 middlebox-compat CCS; nothing to learn
        for message in self.assembler.feed(payload):
            self.messages.append(message)
            if message.msg_type in self.stop_at:
                return self.result(Outcome.SERVER_HELLO)
        return None


async def read_flight(reader: asyncio.StreamReader, timeout: float,
                      stop_at: Collection[int] = STOP_AT_SERVER_HELLO,
                      accept_sslv2: bool = False) -> ServerFlight:
    """Read the server's answer from a stream within one deadline for the whole flight (a
    server that drips bytes cannot stretch it); every failure mode becomes an Outcome,
    never an exception."""
    parser = FlightParser(stop_at, accept_sslv2)
    try:
        async with asyncio.timeout(timeout):
            while True:
                chunk = await reader.read(READ_SIZE)
                if not chunk:
                    return parser.result(Outcome.CLOSED)
                done = parser.feed(chunk)
                if done is not None:
                    return done
    except TimeoutError:
        return parser.result(Outcome.TIMEOUT)
    except ConnectionError:
        return parser.result(Outcome.CLOSED)


class FlightProtocol(asyncio.Protocol):
    """The same parser driven by the event loop's callbacks (no stream objects, no task per
    read): sends the hello on connect and resolves ``flight`` when the answer ends."""

    def __init__(self, hello: bytes, stop_at: Collection[int], accept_sslv2: bool) -> None:
        self.hello = hello
        self.parser = FlightParser(stop_at, accept_sslv2)
        self.flight: asyncio.Future[ServerFlight] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A stream transport (asyncio's, or another loop's that does not subclass it).
        cast(asyncio.WriteTransport, transport).write(self.hello)

    def data_received(self, data: bytes) -> None:
        if not self.flight.done():
            done = self.parser.feed(data)
            if done is not None:
                self.flight.set_result(done)

    def eof_received(self) -> bool:
        self._closed()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self._closed()

    def _closed(self) -> None:
        if not self.flight.done():
            self.flight.set_result(self.parser.result(Outcome.CLOSED))


# A connector may also run an asyncio protocol over its gated connection (the engine's
# ``GatedConnector.open_protocol``): one hello then costs no stream objects.
ProtocolOpener = Callable[[Callable[[], asyncio.Protocol]],
                          AbstractAsyncContextManager[asyncio.BaseTransport]]


async def send_hello(connect: Connect, data: bytes, timeout: float,
                     stop_at: Collection[int] = STOP_AT_SERVER_HELLO,
                     accept_sslv2: bool = False) -> ServerFlight:
    """Open one connection, send ``data``, read one flight, close."""
    opener: ProtocolOpener | None = getattr(connect, "open_protocol", None)
    if opener is not None:
        protocol = FlightProtocol(data, stop_at, accept_sslv2)
        async with opener(lambda: protocol):
            try:
                async with asyncio.timeout(timeout):
                    return await protocol.flight
            except TimeoutError:
                return protocol.parser.result(Outcome.TIMEOUT)
    async with connect() as (reader, writer):
        writer.write(data)
        try:
            async with asyncio.timeout(timeout):
                await writer.drain()
        except (TimeoutError, ConnectionError):
            return ServerFlight(Outcome.CLOSED, error="write failed")
        return await read_flight(reader, timeout, stop_at, accept_sslv2)
