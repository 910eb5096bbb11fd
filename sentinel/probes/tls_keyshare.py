"""TLS 1.3 key shares Sentinel can really produce, and the hand-off point for completing a
TLS 1.3 handshake (reading the encrypted certificate is another module's job).

A key_share is sent only for x25519, x448 and P-256/384/521 (made by
:mod:`sentinel.crypto.keyshare`, the key shares the TLS 1.3 certificate reader uses too). For
any other group (ML-KEM hybrids, curveSM2) the probe sends an empty key_share list and lets
the server name its group in a HelloRetryRequest.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from sentinel.crypto.keyshare import KeyShare, generate_key_share
from sentinel.errors import ErrorReason, ProbeError
from sentinel.probes.tls_exchange import Connect, Outcome, ServerFlight, Streams, read_flight
from sentinel.wire.constants import ExtensionType, HandshakeType
from sentinel.wire.extensions import Extension, find_extension
from sentinel.wire.hello import ClientHello, ServerHello, client_hello_record
from sentinel.wire.profiles import tls_hello

# x25519, x448, secp256r1/384r1/521r1; curveSM2 only when a server asks for it.
PRODUCIBLE_GROUPS: frozenset[int] = frozenset({29, 30, 23, 24, 25})


def make_key_share(group: int) -> KeyShare | None:
    """A fresh key share for a group we send shares for, else None."""
    return generate_key_share(group) if group in PRODUCIBLE_GROUPS else None


@dataclass(frozen=True)
class Tls13Start:
    """Everything a TLS 1.3 key schedule needs to continue after the ServerHello.

    ``transcript`` holds the handshake messages so far, in order, as on the wire
    (ClientHello, and after a HelloRetryRequest: HRR and the second ClientHello, then the
    ServerHello). ``private_keys`` maps each group we sent a share for to its key share
    (which holds the private key and computes the shared secret).
    """

    client_hello: ClientHello
    server_hello: ServerHello
    transcript: tuple[bytes, ...]
    private_keys: dict[int, KeyShare] = field(repr=False)
    hello_retry_request: ServerHello | None = None


T = TypeVar("T")
Tls13Finisher = Callable[[Tls13Start, Streams], Awaitable[T]]


def _hello(suites: Sequence[int], groups: Sequence[int], public: list[tuple[int, bytes]],
           server_name: str | None, cookie: Extension | None = None) -> ClientHello:
    hello = tls_hello(0x0304, suites, secrets.token_bytes(32), server_name=server_name,
                      groups=groups, key_shares=public)
    if cookie is None or hello.extensions is None:
        return hello
    # RFC 8446 §4.2.2: the second ClientHello echoes the HRR's cookie.
    return ClientHello(hello.client_version, hello.random, hello.session_id, hello.cipher_suites,
                       hello.compression_methods, (*hello.extensions, cookie))


def _shares(groups: Sequence[int], wanted: Sequence[int],
            keys: dict[int, KeyShare]) -> list[tuple[int, bytes]]:
    public: list[tuple[int, bytes]] = []
    for group in wanted:
        made = make_key_share(group) if group in groups else None
        if made is not None:
            public.append((group, made.public))
            keys[group] = made
    return public


def _expect_server_hello(flight: ServerFlight, what: str) -> ServerHello:
    if flight.outcome is not Outcome.SERVER_HELLO or flight.server_hello is None:
        detail = flight.alert.name if flight.alert else flight.error or flight.outcome.value
        raise ProbeError(ErrorReason.PROTOCOL, f"{what}: {detail}")
    if flight.server_hello.version != 0x0304:
        raise ProbeError(ErrorReason.UNSUPPORTED, f"{what}: server did not select TLS 1.3")
    return flight.server_hello


async def _exchange(streams: Streams, hello: ClientHello, timeout: float) -> ServerFlight:
    reader, writer = streams
    writer.write(client_hello_record(hello))
    await writer.drain()
    return await read_flight(reader, timeout, frozenset({HandshakeType.SERVER_HELLO}))


async def tls13_begin(connect: Connect, finish: Tls13Finisher[T], *, suites: Sequence[int],
                      groups: Sequence[int], share_groups: Sequence[int] = (29, 23),
                      server_name: str | None = None, timeout: float = 5.0) -> T:
    """Run a TLS 1.3 handshake up to the ServerHello, then hand the live connection to
    ``finish`` (the key schedule and certificate reader plug in there).

    Key shares go out for ``share_groups`` we can produce; after a HelloRetryRequest a second
    ClientHello carries a share for the server's group if we can produce it, else ProbeError.
    """
    keys: dict[int, KeyShare] = {}
    async with connect() as streams:
        first = _hello(suites, groups, _shares(groups, share_groups, keys), server_name)
        flight = await _exchange(streams, first, timeout)
        server_hello = _expect_server_hello(flight, "TLS 1.3 ClientHello")
        transcript = [first.encode(), *(m.raw for m in flight.messages)]
        if not server_hello.is_hello_retry_request:
            return await finish(Tls13Start(first, server_hello, tuple(transcript), keys), streams)
        chosen = server_hello.key_share.group if server_hello.key_share else None
        if chosen is None or chosen not in PRODUCIBLE_GROUPS:
            raise ProbeError(ErrorReason.UNSUPPORTED, f"server wants group {chosen}")
        cookie = find_extension(server_hello.extensions or (), ExtensionType.COOKIE)
        second = _hello(suites, groups, _shares(groups, [chosen], keys), server_name, cookie)
        flight = await _exchange(streams, second, timeout)
        final = _expect_server_hello(flight, "second ClientHello")
        transcript += [second.encode(), *(m.raw for m in flight.messages)]
        start = Tls13Start(second, final, tuple(transcript), keys, server_hello)
        return await finish(start, streams)


async def _just_start(start: Tls13Start, streams: Streams) -> Tls13Start:
    return start


async def tls13_server_hello(connect: Connect, *, suites: Sequence[int], groups: Sequence[int],
                             share_groups: Sequence[int] = (29, 23),
                             server_name: str | None = None, timeout: float = 5.0) -> Tls13Start:
    """Like :func:`tls13_begin`, returning the Tls13Start and closing the connection."""
    return await tls13_begin(connect, _just_start, suites=suites, groups=groups,
                             share_groups=share_groups, server_name=server_name, timeout=timeout)
