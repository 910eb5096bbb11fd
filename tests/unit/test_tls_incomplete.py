"""A server that selects a suite in its ServerHello and then aborts: the choice is recorded
as incomplete (with the reason), dropped from the offer, and the enumeration goes on.

No network: the flights are fed to the parser, or answered by an in-memory server (a
``connect`` whose writer parses the ClientHello and feeds the reader the scripted answer).
The select-then-abort bytes were captured from Tongsuo 8.5.0 (`s_server -enable_ntls` with
an RSA certificate and an SM2 sign/enc pair, lab/servers/README.md) for a bare TLCP hello
offering 0xE019, 0xE013. At the end: GmSSL 3.1's refusal of a TLCP hello with extensions
(unexpected_message), which is retried bare.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import AsyncIterator, Callable
from typing import Any

from sentinel.catalog.tls import tls_registry
from sentinel.probes.tls import enumeration_facts
from sentinel.probes.tls_enum import enumerate_suites, enumerate_tls
from sentinel.probes.tls_exchange import (
    STOP_AT_HELLO_DONE,
    STOP_AT_SERVER_HELLO,
    FlightParser,
    Outcome,
    Streams,
)
from sentinel.probes.tls_offer import Probe, abandon_reason, abandoned_suite, chosen_suite
from sentinel.wire.constants import ContentType, HandshakeType
from sentinel.wire.hello import ServerHello, build_server_hello, parse_client_hello
from sentinel.wire.records import build_handshake, build_record

TLCP, TLS12 = 0x0101, 0x0303
# Tongsuo 8.5.0's whole answer (98 bytes, then FIN): ServerHello selecting RSA_SM4_CBC_SM3
# (0xE019), a Certificate message with an empty list, fatal internal_error(80).
TONGSUO_E019 = bytes.fromhex(
    "160101004a02000046010158a2055df362f6b71180e0b55ff5ce5686258ed857b632f59bec1962fa"
    "032e5f200a76a9f2bbeac723405b7ef4a1869480b7afd4fc54ec46fa9e7453eaa898fbece0190016"
    "010100070b00000300000015010100020250")
HANDSHAKE_FAILURE_TLCP = bytes.fromhex("15010100020228")
HANDSHAKE_FAILURE_TLS = bytes.fromhex("15030300020228")


def _hello_flight(version: int, suite: int, done: bool = True) -> bytes:
    """ServerHello choosing ``suite``, then ServerHelloDone (a flight that completes) unless
    ``done`` is false."""
    hello = ServerHello(version, secrets.token_bytes(32), b"", suite, 0, None, None, None)
    end = build_handshake(HandshakeType.SERVER_HELLO_DONE, b"") if done else b""
    return build_record(ContentType.HANDSHAKE, version, build_server_hello(hello) + end)


def test_captured_tongsuo_flight_is_an_abandoned_choice() -> None:
    flight = FlightParser(STOP_AT_HELLO_DONE).feed(TONGSUO_E019)
    assert flight is not None
    assert flight.outcome is Outcome.ABORTED
    assert chosen_suite(flight, TLCP) is None  # never counted as accepted
    assert abandoned_suite(flight, TLCP) == 0xE019
    assert abandoned_suite(flight, TLS12) is None  # only under the version it answered
    assert [m.msg_type for m in flight.messages] == [HandshakeType.SERVER_HELLO,
                                                     HandshakeType.CERTIFICATE]
    assert abandon_reason(flight) == "alert internal_error(80)"


def test_close_after_server_hello_is_abandoned_and_a_quiet_server_is_not() -> None:
    parser = FlightParser(STOP_AT_HELLO_DONE)
    assert parser.feed(_hello_flight(TLS12, 0xC02F, done=False)) is None
    closed = parser.result(Outcome.CLOSED)
    assert (closed.outcome, abandoned_suite(closed, TLS12)) == (Outcome.ABORTED, 0xC02F)
    assert abandon_reason(closed) == "closed"
    # A deadline after the ServerHello proves no abort (a slow server): still accepted.
    assert chosen_suite(parser.result(Outcome.TIMEOUT), TLS12) == 0xC02F
    # Read only to the ServerHello (TLS 1.3), what follows is never looked at.
    early = FlightParser(STOP_AT_SERVER_HELLO).feed(TONGSUO_E019)
    assert early is not None and chosen_suite(early, TLCP) == 0xE019


Answer = Callable[[int, tuple[int, ...]], bytes]


class _Server:
    """An in-memory server: each connection gets ``answer(version, offered suites)``."""

    def __init__(self, answer: Answer) -> None:
        self.answer = answer
        self.offers: list[tuple[int, ...]] = []

    @contextlib.asynccontextmanager
    async def connect(self) -> AsyncIterator[Streams]:
        reader = asyncio.StreamReader()
        server = self

        class Writer:
            def write(self, data: bytes) -> None:
                if data[0] == ContentType.HANDSHAKE:  # an SSLv2 hello is closed silently
                    hello = parse_client_hello(data[9:])
                    server.offers.append(hello.cipher_suites)
                    reader.feed_data(server.answer(hello.client_version, hello.cipher_suites))
                reader.feed_eof()

            async def drain(self) -> None:
                return None

        yield reader, Writer()  # type: ignore[misc]


def tongsuo_dual(version: int, suites: tuple[int, ...]) -> bytes:
    """Tongsuo's dual RSA+SM2 server under TLCP, client order: an RSA suite first is
    selected and abandoned (the captured bytes); SM2 suites complete; TLS is refused."""
    if version != TLCP:
        return HANDSHAKE_FAILURE_TLS
    choice = next((s for s in suites if s in (0xE019, 0xE059, 0xE013, 0xE053)), None)
    if choice is None:
        return HANDSHAKE_FAILURE_TLCP
    if choice == 0xE019:
        return TONGSUO_E019
    if choice == 0xE059:  # the same answer for the other RSA suite
        return TONGSUO_E019.replace(bytes.fromhex("e0190016"), bytes.fromhex("e0590016"))
    return _hello_flight(TLCP, choice)


def _probe(server: _Server) -> Probe:
    probe = Probe(server.connect, 2.0, None, tls_registry())
    probe.full_flights = frozenset({TLCP, TLS12})
    return probe


def test_drain_goes_on_past_an_abandoned_suite() -> None:
    server = _Server(tongsuo_dual)
    probe = _probe(server)
    found = asyncio.run(enumerate_suites(probe, TLCP, [0xE011, 0xE013, 0xE019, 0xE053, 0xE059]))
    assert found == (0xE013, 0xE053)
    assert {code: abandon_reason(f) for code, f in probe.incomplete[TLCP].items()} == {
        0xE019: "alert internal_error(80)", 0xE059: "alert internal_error(80)"}
    # One hello per choice, one per abandoned suite, one refusal: never an abandoned suite
    # offered twice.
    assert len(server.offers) == 2 + 2 + 1 == probe.connections
    assert all(0xE019 not in offer for offer in server.offers[3:])


def test_enumeration_reports_incomplete_apart_from_accepted() -> None:
    server = _Server(tongsuo_dual)
    result = asyncio.run(enumerate_tls(server.connect, timeout=2.0))
    assert "TLCPv1.1" in result.versions
    tlcp = {a.code for a in result.accepted if a.protocol == "TLCPv1.1"}
    assert tlcp == {0xE013, 0xE053}
    facts: dict[str, Any] = enumeration_facts(result, tls_registry())
    assert facts["incomplete"] == [
        {"protocol": "TLCPv1.1", "code": "0xE019", "name": "RSA_SM4_CBC_SM3",
         "reason": "alert internal_error(80)"},
        {"protocol": "TLCPv1.1", "code": "0xE059", "name": "RSA_SM4_GCM_SM3",
         "reason": "alert internal_error(80)"}]
    assert {a["code"] for a in facts["accepted"]} == {"0xE013", "0xE053"}


def test_only_abandoned_suites_leave_the_version_unproved() -> None:
    """Tongsuo with an RSA certificate only: every TLCP choice is abandoned, so TLCP is not
    a version the port completes, yet each selection is reported."""
    def rsa_only(version: int, suites: tuple[int, ...]) -> bytes:
        return tongsuo_dual(version, tuple(s for s in suites if s in (0xE019, 0xE059)))

    result = asyncio.run(enumerate_tls(_Server(rsa_only).connect, timeout=2.0))
    assert result.versions == () and result.accepted == ()
    assert [(i.code, i.reason) for i in result.incomplete] == [
        (0xE019, "alert internal_error(80)"), (0xE059, "alert internal_error(80)")]


def test_tls_server_that_closes_after_its_server_hello() -> None:
    """The same under TLS 1.2: ServerHello for ECDHE-ECDSA (no ECDSA key), then a close."""
    def no_ecdsa(version: int, suites: tuple[int, ...]) -> bytes:
        if version != TLS12:
            return HANDSHAKE_FAILURE_TLS
        choice = next((s for s in suites if s in (0xC02B, 0xC02F)), None)
        if choice is None:
            return HANDSHAKE_FAILURE_TLS
        return _hello_flight(TLS12, choice, done=choice != 0xC02B)  # ECDSA: hello, then FIN

    server = _Server(no_ecdsa)
    probe = _probe(server)
    found = asyncio.run(enumerate_suites(probe, TLS12, [0xC02B, 0xC02F, 0x009C]))
    assert found == (0xC02F,)
    assert {c: abandon_reason(f) for c, f in probe.incomplete[TLS12].items()} == {
        0xC02B: "closed"}


def test_a_server_that_behaves_costs_no_extra_hello() -> None:
    def sm2_only(version: int, suites: tuple[int, ...]) -> bytes:
        return tongsuo_dual(version, tuple(s for s in suites if s in (0xE013, 0xE053)))

    server = _Server(sm2_only)
    probe = _probe(server)
    assert asyncio.run(enumerate_suites(probe, TLCP, [0xE011, 0xE013, 0xE019, 0xE053])) == (
        0xE013, 0xE053)
    assert len(server.offers) == 3 and not probe.incomplete


# ---- GmSSL 3.1: a TLCP hello with extensions is refused with unexpected_message ----------

UNEXPECTED_MESSAGE_TLCP = bytes.fromhex("1501010002020a")  # captured from gmssl tlcp_server


def gmssl_like(version: int, suites: tuple[int, ...], extensions: bool) -> bytes:
    if version != TLCP:
        return bytes.fromhex("15010100020246")  # protocol_version in a 0x0101 record
    if extensions:
        return UNEXPECTED_MESSAGE_TLCP
    if 0xE013 not in suites:
        return bytes.fromhex("15010100020247")  # insufficient_security
    return _hello_flight(TLCP, 0xE013)


class _ExtensionAwareServer(_Server):
    """Like ``_Server``, but the answer also sees whether the hello carried extensions."""

    def __init__(self, answer: Callable[[int, tuple[int, ...], bool], bytes]) -> None:
        super().__init__(lambda v, s: b"")
        self.answer3 = answer

    @contextlib.asynccontextmanager
    async def connect(self) -> AsyncIterator[Streams]:
        reader = asyncio.StreamReader()
        server = self

        class Writer:
            def write(self, data: bytes) -> None:
                if data[0] == ContentType.HANDSHAKE:
                    hello = parse_client_hello(data[9:])
                    server.offers.append(hello.cipher_suites)
                    reader.feed_data(server.answer3(hello.client_version, hello.cipher_suites,
                                                    bool(hello.extensions)))
                reader.feed_eof()

            async def drain(self) -> None:
                return None

        yield reader, Writer()  # type: ignore[misc]


def test_tlcp_hello_refused_for_its_extensions_is_retried_bare() -> None:
    result = asyncio.run(enumerate_tls(_ExtensionAwareServer(gmssl_like).connect, timeout=2.0))
    assert result.versions == ("TLCPv1.1",)
    assert [a.code for a in result.accepted] == [0xE013]
    assert result.tlcp_needs_bare_hello
    assert "TLCPv1.1: unexpected_message" in result.alerts_seen


def test_tlcp_refusal_of_the_offer_is_not_retried() -> None:
    """handshake_failure (nothing acceptable offered) says nothing about extensions: one
    TLCP hello, no bare retry."""
    server = _Server(lambda v, s: HANDSHAKE_FAILURE_TLCP if v == TLCP else HANDSHAKE_FAILURE_TLS)
    result = asyncio.run(enumerate_tls(server.connect, timeout=2.0))
    assert result.versions == () and not result.tlcp_needs_bare_hello
    assert len([o for o in server.offers if 0xE013 in o]) == 1
