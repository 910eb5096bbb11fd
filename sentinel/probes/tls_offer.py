"""One port's probe state and the offers that survive fragile servers.

Some stacks drop the connection without a word when they *pick* a suite they cannot serve:
tjfoc's dual TLCP/TLS server chooses ECDHE_SM4_CBC_SM3 (0xE011, needs a client certificate)
when a hello lists it first and then closes. A silent close is also how OpenSSL answers any
TLCP hello (DOMAIN §1.2), so silence alone proves nothing. A **canary** hello offering only a
suite no server can pick tells the two apart: a server that speaks the version answers it
with an alert, so its silence on a real offer means a suite in the offer killed the
connection. Then the offer is bisected until the killers stand alone; they are recorded as
``rejected_abruptly`` and the rest of the offer is enumerated as usual. A server that is
silent to the canary too costs one extra connection and is not bisected.

Other stacks *say* which suite they picked before they fail: Tongsuo with an RSA certificate
but no RSA encryption pair answers a TLCP hello that lists RSA_SM4_CBC_SM3 (0xE019) first
with ServerHello(0xE019), an empty Certificate and internal_error(80). Such a choice is
recorded as **incomplete** (selected, handshake not completed, and why), dropped from the
offer, and the same offer is made again without it, so the suites the server really
completes are still found. A server that never does this pays nothing for it.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field

from sentinel.catalog.tls import TlsRegistry, tls_registry
from sentinel.probes.tls_exchange import (
    STOP_AT_HELLO_DONE,
    Connect,
    Outcome,
    ServerFlight,
    send_hello,
)
from sentinel.wire.alerts import is_gotlcp_version_alert
from sentinel.wire.constants import HandshakeType, ProtocolVersion, version_name
from sentinel.wire.hello import ClientHello, client_hello_record
from sentinel.wire.profiles import tlcp_hello, tls_hello
from sentinel.wire.sslv2 import build_sslv2_client_hello

V = ProtocolVersion
CANARY_SUITE = 0x00FF  # TLS_EMPTY_RENEGOTIATION_INFO_SCSV: a signal, never a choice


@dataclass
class Probe:
    """Connection, timeout and the running tally shared by the strategies of one port."""

    connect: Connect
    timeout: float = 5.0
    server_name: str | None = None
    registry: TlsRegistry = field(default_factory=tls_registry)
    tlcp_extensions: bool = True
    connections: int = 0
    alerts: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    gotlcp_seen: bool = False
    rejected_abruptly: dict[int, list[int]] = field(default_factory=dict)  # version -> codes
    canary_answered: dict[int, bool] = field(default_factory=dict)
    # Versions whose offers are read up to ServerHelloDone, so the certificate and key
    # exchange of every accepted suite arrive with the drain (no extra connection each).
    full_flights: frozenset[int] = frozenset()
    # (version, suite) -> the first flight that carried a Certificate for that choice.
    certified: dict[tuple[int, int], ServerFlight] = field(default_factory=dict)
    # version -> {suite: the flight in which the server selected it and then gave up}.
    incomplete: dict[int, dict[int, ServerFlight]] = field(default_factory=dict)

    async def send(self, label: str, data: bytes, stop_at: frozenset[int] | None = None,
                   sslv2: bool = False) -> ServerFlight:
        """One connection, one hello; alerts and anomalies go into the tally."""
        self.connections += 1
        try:
            flight = await send_hello(self.connect, data, self.timeout,
                                      stop_at or frozenset({HandshakeType.SERVER_HELLO}), sslv2)
        except OSError as exc:
            self.errors.append(f"{label}: {exc.__class__.__name__}: {exc}")
            return ServerFlight(Outcome.CLOSED, error=str(exc))
        hello = flight.server_hello
        if (hello is not None and flight.outcome is Outcome.SERVER_HELLO
                and flight.message(HandshakeType.CERTIFICATE) is not None):
            self.certified.setdefault((hello.version, hello.cipher_suite), flight)
        if flight.alert is not None:
            self.alerts.append(f"{label}: {flight.alert.name}")
        if flight.outcome is Outcome.MALFORMED:
            self.errors.append(f"{label}: {flight.error}")
        self.gotlcp_seen |= is_gotlcp_version_alert(flight.first_bytes)
        return flight

    def hello(self, version: int, suites: Sequence[int],
              groups: Sequence[int] | None = None) -> ClientHello:
        """The ClientHello this probe sends for a version (TLS 1.3: empty key_share)."""
        random = secrets.token_bytes(32)
        if version == V.TLCP1_1:
            return tlcp_hello(suites, random, with_extensions=self.tlcp_extensions,
                              server_name=self.server_name)
        if groups is None:
            groups = self.tls13_groups() if version == V.TLS1_3 else None
        if groups is None:
            return tls_hello(version, suites, random, server_name=self.server_name)
        return tls_hello(version, suites, random, server_name=self.server_name, groups=groups)

    def tls13_groups(self) -> tuple[int, ...]:
        """Every non-legacy group in the registry: what a TLS 1.3 server may pick from."""
        return self.registry.tls13_groups()

    def candidates(self, version: int) -> tuple[int, ...]:
        """Registry suites that can exist under a version, minus known connection killers
        and suites the server selects but cannot complete."""
        codes = self.registry.candidate_suites(version)
        killers = self.rejected_abruptly.get(version)
        codes = tuple(c for c in codes if c not in killers) if killers else codes
        return self.completable(version, codes)

    def completable(self, version: int, suites: Sequence[int]) -> tuple[int, ...]:
        """``suites`` without those already seen selected and then abandoned."""
        dropped = self.incomplete.get(version)
        return tuple(c for c in suites if c not in dropped) if dropped else tuple(suites)

    async def offer(self, version: int, suites: Sequence[int],
                    label: str | None = None) -> ServerFlight:
        """A hello offering ``suites`` under ``version`` (read to ServerHelloDone for the
        versions in ``full_flights``). When the server selects a suite and then gives up on
        it, the choice is recorded as incomplete and the offer is made again without it
        (one more connection each), so the flight returned either completed its choice or
        chose nothing. Suites already known to be abandoned are never offered again."""
        stop = STOP_AT_HELLO_DONE if version in self.full_flights else None
        offer = self.completable(version, suites)
        if suites and not offer:  # only abandoned suites: what the server said last time
            known = self.incomplete[version]
            return next(known[c] for c in suites if c in known)
        while True:
            flight = await self.send(label or version_name(version),
                                     client_hello_record(self.hello(version, offer)), stop)
            code = abandoned_suite(flight, version)
            if code is None or code not in offer:
                return flight
            self.incomplete.setdefault(version, {}).setdefault(code, flight)
            offer = self.completable(version, offer)
            if not offer:
                return flight

    def certified_flight(self, version: int, suites: Sequence[int]) -> ServerFlight | None:
        """A flight already received under ``version`` whose choice is one of ``suites`` and
        that carried a Certificate, in the order of ``suites``."""
        return next((f for code in suites
                     if (f := self.certified.get((version, code))) is not None), None)

    async def talks_back(self, version: int) -> bool:
        """Does the server answer a hello of this version that it cannot accept? (cached)"""
        if version not in self.canary_answered:
            flight = await self.offer(version, [CANARY_SUITE], f"{version_name(version)} canary")
            self.canary_answered[version] = not flight.silent
        return self.canary_answered[version]

    def killed_by(self, version: int, code: int) -> None:
        """Record a suite whose offer alone made the server drop the connection."""
        found = self.rejected_abruptly.setdefault(version, [])
        if code not in found:
            found.append(code)


def chosen_suite(flight: ServerFlight, version: int) -> int | None:
    """The suite the server picked if it answered with exactly ``version``."""
    hello = flight.server_hello
    if flight.outcome is not Outcome.SERVER_HELLO or hello is None or hello.version != version:
        return None
    return hello.cipher_suite


def abandoned_suite(flight: ServerFlight, version: int) -> int | None:
    """The suite a server selected under exactly ``version`` before it sent an alert or
    closed instead of finishing its flight (None when the flight is anything else)."""
    hello = flight.server_hello
    if flight.outcome is not Outcome.ABORTED or hello is None or hello.version != version:
        return None
    return hello.cipher_suite


def abandon_reason(flight: ServerFlight) -> str:
    """Why a selected suite was not completed: ``alert NAME(CODE)`` or ``closed``."""
    alert = flight.alert
    if alert is None:
        return "closed"
    level = "" if alert.fatal else " (warning)"
    return f"alert {alert.name}({alert.description}){level}"


async def isolate_first(probe: Probe, version: int,
                        offer: Sequence[int]) -> ServerFlight | None:
    """Bisect a silently dropped offer: the first flight that accepts a suite, or None.

    Single suites that are still dropped silently are recorded as connection killers.
    """
    if len(offer) == 1:
        probe.killed_by(version, offer[0])
        return None
    middle = len(offer) // 2
    for half in (offer[:middle], offer[middle:]):
        flight = await probe.offer(version, half, f"{version_name(version)} bisect")
        if chosen_suite(flight, version) is not None:
            return flight
        if flight.silent:
            found = await isolate_first(probe, version, half)
            if found is not None:
                return found
    return None


async def robust_offer(probe: Probe, version: int, offer: Sequence[int],
                       flight: ServerFlight) -> ServerFlight:
    """``flight`` for ``offer``, or, when it was dropped silently by a server that talks
    back, the first accepting flight a bisection finds (the original flight if none)."""
    if (chosen_suite(flight, version) is not None or not flight.silent or len(offer) < 2
            or not await probe.talks_back(version)):
        return flight
    return await isolate_first(probe, version, offer) or flight


async def probe_version(probe: Probe, version: int) -> ServerFlight:
    """One hello offering only ``version`` with every candidate suite (SSLv2 framing for 2);
    a silent drop, or under TLCP an alert against the hello's form, is retried bare (TLCP)
    and then bisected (see the module docstring)."""
    if version == V.SSL2:
        return await probe.send("SSLv2", build_sslv2_client_hello(), sslv2=True)
    offer = probe.candidates(version)
    flight = await probe.offer(version, offer)
    if version != V.TLCP1_1 or not (flight.silent or _refuses_hello_form(flight)):
        return await robust_offer(probe, version, offer, flight)
    # TLCP: some stacks refuse a hello with extensions they do not know, silently or (GmSSL
    # 3.1) with unexpected_message, so the retry, the canary and the bisection use the bare
    # hello every TLCP stack takes.
    probe.tlcp_extensions = False
    bare = await probe.offer(version, offer, f"{version_name(version)} (no extensions)")
    flight = await robust_offer(probe, version, offer, bare)
    suite = chosen_suite(flight, version)
    if suite is None or flight is bare:
        probe.tlcp_extensions = suite is None  # nothing answered: keep the default
        return flight
    return await _tlcp_extensions_back(probe, version, suite, flight)


# Alerts that object to the form of a hello rather than to what it offers (a refused version
# or suite set is protocol_version, handshake_failure or insufficient_security): 10
# unexpected_message, 47 illegal_parameter, 50 decode_error, 110 unsupported_extension.
HELLO_FORM_ALERTS = frozenset({10, 47, 50, 110})


def _refuses_hello_form(flight: ServerFlight) -> bool:
    return flight.alert is not None and flight.alert.description in HELLO_FORM_ALERTS


async def _tlcp_extensions_back(probe: Probe, version: int, suite: int,
                                flight: ServerFlight) -> ServerFlight:
    """A bare TLCP hello worked: keep extensions on if the server takes them with ``suite``
    (it was the offer, not the extensions, that the server dropped)."""
    probe.tlcp_extensions = True
    again = await probe.offer(version, [suite], f"{version_name(version)} (extensions)")
    if chosen_suite(again, version) is None:
        probe.tlcp_extensions = False
        return flight
    return again


def version_accepted(flight: ServerFlight, version: int) -> bool:
    """Did this flight accept exactly ``version``?"""
    if version == V.SSL2:
        return flight.sslv2 is not None and bool(flight.sslv2.cipher_specs)
    return chosen_suite(flight, version) is not None
