"""Fragile TLCP servers on 127.0.0.1: the enumeration isolates the suite that kills the
connection and does not bisect a server that is silent to every TLCP hello.

The servers are small real TCP servers written here (tjfoc's dual server behaviour: it picks
the client's first known suite and drops the connection when that is 0xE011; OpenSSL's: any
TLCP record is closed without a word, DOMAIN §1.2).
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import AsyncIterator, Callable

from sentinel.probes.tls_enum import enumerate_tls
from sentinel.probes.tls_exchange import Streams
from sentinel.probes.tls_results import TlsEnumeration
from sentinel.wire.constants import ContentType, HandshakeType
from sentinel.wire.hello import ServerHello, build_server_hello, parse_client_hello
from sentinel.wire.records import build_handshake, build_record

TLCP = 0x0101
HANDSHAKE_FAILURE = bytes.fromhex("15010100020228")


def tjfoc_like(suites: tuple[int, ...]) -> bytes | None:
    """The answer of a TLCP server that dies when it picks 0xE011; None = silent close."""
    choice = next((s for s in suites if s in (0xE011, 0xE013)), None)
    if choice is None:
        return HANDSHAKE_FAILURE
    if choice == 0xE011:
        return None
    hello = ServerHello(TLCP, secrets.token_bytes(32), b"", choice, 0, None, None, None)
    # A whole first flight (ServerHello..ServerHelloDone): a ServerHello followed by a close
    # would be a choice the server abandoned (``incomplete``), not an accepted suite.
    done = build_handshake(HandshakeType.SERVER_HELLO_DONE, b"")
    return build_record(ContentType.HANDSHAKE, TLCP, build_server_hello(hello) + done)


def openssl_like(_suites: tuple[int, ...]) -> bytes | None:
    return None


async def _serve(answer: Callable[[tuple[int, ...]], bytes | None],
                 reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
        header = await reader.readexactly(5)
        body = await reader.readexactly(int.from_bytes(header[3:5], "big"))
        hello = parse_client_hello(body[4:])
        reply = answer(hello.cipher_suites) if hello.client_version == TLCP else \
            bytes.fromhex("15030100020246")  # TLS: protocol_version, this is TLCP only
        if reply is not None:
            writer.write(reply)
            await writer.drain()
    writer.close()


@contextlib.asynccontextmanager
async def _server(answer: Callable[[tuple[int, ...]], bytes | None]) -> AsyncIterator[int]:
    server = await asyncio.start_server(lambda r, w: _serve(answer, r, w), "127.0.0.1", 0)
    async with server:
        yield server.sockets[0].getsockname()[1]


def _connector(port: int) -> Callable[[], contextlib.AbstractAsyncContextManager[Streams]]:
    @contextlib.asynccontextmanager
    async def connect() -> AsyncIterator[Streams]:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            yield reader, writer
        finally:
            writer.close()
    return connect


async def _enumerate(answer: Callable[[tuple[int, ...]], bytes | None]) -> TlsEnumeration:
    async with _server(answer) as port:
        return await enumerate_tls(_connector(port), timeout=2.0)


def test_suite_that_kills_the_connection_is_isolated() -> None:
    result = asyncio.run(_enumerate(tjfoc_like))
    assert result.versions == ("TLCPv1.1",)
    assert [a.code for a in result.accepted] == [0xE013]
    killed = [(r.protocol, r.code) for r in result.rejected_abruptly]
    assert killed == [("TLCPv1.1", 0xE011)]


def test_server_silent_to_every_tlcp_hello_is_not_bisected() -> None:
    result = asyncio.run(_enumerate(openssl_like))
    assert result.versions == ()
    assert result.rejected_abruptly == ()
    # TLCP: full hello, bare hello, canary; then SSLv2..TLS 1.3: one hello each.
    assert result.connections_used == 3 + 6


def test_a_server_dripping_bytes_cannot_stretch_a_flight_past_its_deadline() -> None:
    """A hostile server that keeps answering, slowly: a ServerHello header announcing 256
    bytes, then one-byte handshake records, each byte 50 ms apart. Every read succeeds well
    within the timeout, so only one deadline for the whole flight ends it: after ~1 s as a
    timeout (with a timeout per read it ran for the 64 records' ~20 s)."""
    from sentinel.probes.tls_exchange import Outcome, send_hello
    from sentinel.wire.hello import client_hello_record
    from sentinel.wire.profiles import tls_hello

    def record(payload: bytes) -> bytes:
        return build_record(ContentType.HANDSHAKE, 0x0303, payload)

    async def drip(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(4096)
        with contextlib.suppress(ConnectionError):
            for chunk in [record(b"\x02\x00\x01\x00"), *(record(b"\x03") for _ in range(255))]:
                for byte in chunk:
                    writer.write(bytes((byte,)))
                    await writer.drain()
                    await asyncio.sleep(0.05)

    async def run() -> tuple[Outcome, float]:
        server = await asyncio.start_server(drip, "127.0.0.1", 0)
        connect = _connector(server.sockets[0].getsockname()[1])
        hello = client_hello_record(tls_hello(0x0303, [0xC02F], secrets.token_bytes(32)))
        started = asyncio.get_running_loop().time()
        async with server:
            flight = await send_hello(connect, hello, 1.0)
        return flight.outcome, asyncio.get_running_loop().time() - started

    outcome, elapsed = asyncio.run(run())
    assert outcome is Outcome.TIMEOUT
    assert elapsed < 2.5
