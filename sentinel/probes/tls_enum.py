"""TLS/TLCP enumeration strategies: versions, suites, preference, groups, personality,
certificate chains and TLCP key-exchange inputs. Engine-independent: every function takes
``connect`` (one scope-checked TCP connection per call) and a per-read timeout.

Suites are found connection-economically: offer every remaining candidate, record the
server's choice, remove it, repeat until the server refuses. A server with N suites costs
N + 1 connections per version, not one per known suite; the hello that proved a version
is also the first step of its suite drain (and of the TLS 1.3 group drain).

Independent questions run concurrently: every version runs its own pipeline (prove the
version, drain its suites, check the server's preference, drain its groups) without waiting
for the others, so a slow TLCP probe or a long TLS 1.2 drain delays nothing else; the
certificates and key-exchange parameters follow. The gate's per-host connection cap (the
playbook's ``connections_per_host``) bounds how many of these connections are open together.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Awaitable, Collection, Sequence
from typing import NamedTuple, TypeVar

from sentinel.catalog.tls import TlsRegistry, tls_registry
from sentinel.errors import DecodeError
from sentinel.probes.tls_exchange import STOP_AT_HELLO_DONE, Connect, ServerFlight
from sentinel.probes.tls_offer import (
    Probe,
    abandon_reason,
    chosen_suite,
    probe_version,
    version_accepted,
)
from sentinel.probes.tls_results import (
    AcceptedGroup,
    AcceptedSuite,
    CertificateChain,
    DhExchange,
    IncompleteSuite,
    Personality,
    SuiteOrder,
    TlcpKeyExchange,
    TlsEnumeration,
)
from sentinel.wire.constants import HandshakeType, ProtocolVersion, version_name
from sentinel.wire.handshake import (
    parse_certificate,
    parse_dhe_server_key_exchange,
    parse_ecdhe_server_key_exchange,
    parse_tlcp_ecc_server_key_exchange,
    parse_tlcp_ecdhe_server_key_exchange,
    tlcp_ecc_signed_data,
)
from sentinel.wire.hello import client_hello_record
from sentinel.wire.profiles import tls_hello
from sentinel.wire.sslv2 import SSL2_CIPHER_NAMES as SSL2_NAMES

__all__ = [
    "AcceptedGroup", "AcceptedSuite", "CertificateChain", "DhExchange", "IncompleteSuite",
    "Personality", "Probe", "SuiteOrder", "TlcpKeyExchange", "TlsEnumeration", "chosen_suite",
    "detect_personality", "enumerate_groups_tls12", "enumerate_groups_tls13",
    "enumerate_suites", "enumerate_tls",
    "fetch_certificate_chain", "fetch_dhe_parameters", "fetch_tlcp_key_exchange",
    "probe_version", "probe_versions", "server_preference", "version_accepted",
]

V = ProtocolVersion
TLS_VERSIONS = (V.SSL3, V.TLS1_0, V.TLS1_1, V.TLS1_2, V.TLS1_3)
CHUNK = 128  # suites per hello: keeps hellos < 512 bytes of suites for fragile stacks
STOP_AT_KEY_EXCHANGE = frozenset({HandshakeType.SERVER_KEY_EXCHANGE,
                                  HandshakeType.SERVER_HELLO_DONE})


VERSION_ORDER = (V.TLCP1_1, V.SSL2, *TLS_VERSIONS)


async def probe_versions(probe: Probe) -> tuple[int, ...]:
    """Protocol versions accepted: SSLv2, SSLv3, TLS 1.0-1.3, TLCP 1.1 (TLCP first), every
    version probed at once."""
    flights = await asyncio.gather(*(probe_version(probe, v) for v in VERSION_ORDER))
    return tuple(version for version, flight in zip(VERSION_ORDER, flights, strict=True)
                 if version_accepted(flight, version))


async def enumerate_suites(probe: Probe, version: int,
                           candidates: Sequence[int] | None = None,
                           first: ServerFlight | None = None) -> tuple[int, ...]:
    """Suites accepted under ``version``, in discovery order (offer all, remove the choice).

    ``first``: a flight that already accepted a suite from the whole candidate list (the
    version probe); the drain goes on from it over the rest in one offer. Without it the
    candidates are offered in chunks of ``CHUNK``.
    """
    pool = list(probe.candidates(version) if candidates is None else candidates)
    accepted: list[int] = []
    choice = chosen_suite(first, version) if first is not None else None
    if choice is not None and choice in pool:
        accepted.append(choice)
        pool.remove(choice)
        await _drain(probe, version, pool, accepted)
        return tuple(accepted)
    for start in range(0, len(pool), CHUNK):
        await _drain(probe, version, pool[start : start + CHUNK], accepted)
    return tuple(accepted)


async def _drain(probe: Probe, version: int, offer: list[int], accepted: list[int]) -> None:
    """Offer, record the choice, remove it, repeat until refused. A silent drop by a server
    that answers hellos it cannot accept is bisected (``tls_offer``): the suites that kill
    the connection are isolated and every other one is still enumerated. A suite selected
    and then abandoned never ends the drain: ``Probe.offer`` records it and offers again."""
    offer = list(offer)
    while offer := list(probe.completable(version, offer)):  # each pass removes one or stops
        flight = await probe.offer(version, offer)
        choice = chosen_suite(flight, version)
        if choice is None:
            if flight.silent and await probe.talks_back(version):
                if len(offer) == 1:
                    probe.killed_by(version, offer[0])
                    return
                middle = len(offer) // 2
                for half in (offer[:middle], offer[middle:]):
                    await _drain(probe, version, half, accepted)
            return
        if choice not in offer:
            probe.errors.append(f"{version_name(version)}: server chose unoffered "
                                f"suite 0x{choice:04x}")
            return
        accepted.append(choice)
        offer.remove(choice)


async def _first_choice(probe: Probe, version: int, offer: Sequence[int]) -> int | None:
    flight = await probe.send(version_name(version),
                              client_hello_record(probe.hello(version, offer)))
    return chosen_suite(flight, version)


async def server_preference(probe: Probe, version: int, accepted: Sequence[int],
                            drained: bool = False) -> tuple[int, ...] | None:
    """The server's order of ``accepted``, or None when it follows the client's order.

    ``drained``: ``accepted`` is in the order a single-offer drain found it (each step
    offered every remaining candidate in registry order). Then a discovery order that is not
    the registry's can only be the server's, for free; an order equal to the registry's
    costs one hello with the accepted suites reversed. Otherwise two hellos (forwards and
    backwards) tell the policy, and an offer-remove loop over the accepted suites yields the
    server's order.
    """
    if len(accepted) < 2:
        return tuple(accepted)
    if drained and not probe.rejected_abruptly.get(version):
        rank = {code: index for index, code in enumerate(probe.candidates(version))}
        if list(accepted) != sorted(accepted, key=lambda code: rank.get(code, len(rank))):
            return tuple(accepted)
        backwards = await _first_choice(probe, version, list(reversed(accepted)))
        return tuple(accepted) if backwards == accepted[0] else None
    forwards = await _first_choice(probe, version, accepted)
    backwards = await _first_choice(probe, version, list(reversed(accepted)))
    if forwards is None or forwards != backwards:
        return None
    if len(probe.candidates(version)) <= CHUNK:
        return tuple(accepted)  # one chunk: discovery order already was the server's order
    return await enumerate_suites(probe, version, accepted)


async def enumerate_groups_tls13(probe: Probe, candidates: Sequence[int] | None = None,
                                 first: ServerFlight | None = None) -> tuple[int, ...]:
    """TLS 1.3 groups: offer the remaining groups with an empty key_share; the server names
    its choice in a HelloRetryRequest (works for ML-KEM hybrids and curveSM2 without
    producing a key for them); remove it and repeat. ``first``: the version probe's flight,
    which offered every group with every TLS 1.3 suite and so is the first pass."""
    pool = list(probe.tls13_groups() if candidates is None else candidates)
    suites = probe.candidates(V.TLS1_3)
    found: list[int] = []
    while pool:  # each pass removes one group or stops
        if first is not None and candidates is None:
            flight, first = first, None
        else:
            flight = await probe.send("TLSv1.3 groups",
                                      client_hello_record(probe.hello(V.TLS1_3, suites, pool)))
        hello = flight.server_hello
        share = hello.key_share if hello is not None and hello.version == V.TLS1_3 else None
        if share is None:
            break
        if share.group not in pool:
            probe.errors.append(f"TLSv1.3: server chose unoffered group {share.group}")
            break
        found.append(share.group)
        pool.remove(share.group)
    return tuple(found)


async def enumerate_groups_tls12(probe: Probe, version: int, ecdhe_suites: Sequence[int],
                                 candidates: Sequence[int] | None = None) -> tuple[int, ...]:
    """ECDHE curves under TLS 1.0-1.2: the named_curve of each ServerKeyExchange."""
    pool = list(candidates if candidates is not None else
                probe.registry.ec_groups())
    found: list[int] = []
    while pool and ecdhe_suites:  # each pass removes one group or stops
        hello = tls_hello(version, ecdhe_suites, secrets.token_bytes(32),
                          server_name=probe.server_name, groups=pool)
        flight = await probe.send(f"{version_name(version)} groups", client_hello_record(hello),
                                  STOP_AT_KEY_EXCHANGE)
        message = flight.message(HandshakeType.SERVER_KEY_EXCHANGE)
        if chosen_suite(flight, version) is None or message is None:
            break
        params = parse_ecdhe_server_key_exchange(message.body, version >= V.TLS1_2)
        if params.named_curve not in pool:
            probe.errors.append(f"{version_name(version)}: unoffered curve {params.named_curve}")
            break
        found.append(params.named_curve)
        pool.remove(params.named_curve)
    return tuple(found)


async def full_flight(probe: Probe, version: int, suites: Sequence[int]) -> ServerFlight:
    """One cleartext handshake up to ServerHelloDone (TLS 1.0-1.2 and TLCP)."""
    return await probe.send(f"{version_name(version)} flight",
                            client_hello_record(probe.hello(version, suites)), STOP_AT_HELLO_DONE)


async def fetch_certificate_chain(probe: Probe, version: int,
                                  suites: Sequence[int]) -> CertificateChain | None:
    """The Certificate message of a cleartext handshake (not TLS 1.3: it is encrypted); from
    a flight the drain already read when there is one."""
    flight = probe.certified_flight(version, suites) or await full_flight(probe, version, suites)
    message = flight.message(HandshakeType.CERTIFICATE)
    suite = chosen_suite(flight, version)
    if message is None or suite is None:
        return None
    return CertificateChain(version_name(version), suite, parse_certificate(message.body))


async def fetch_tlcp_key_exchange(probe: Probe, suite: int) -> TlcpKeyExchange | None:
    """A TLCP handshake with one suite: the SKE signature and what it signs.

    Verification (SM2 with the signing certificate's key) belongs to ``sentinel.crypto``.
    """
    hello = probe.hello(V.TLCP1_1, [suite])
    flight = await probe.send("TLCPv1.1 key exchange", client_hello_record(hello),
                              STOP_AT_HELLO_DONE)
    ske = flight.message(HandshakeType.SERVER_KEY_EXCHANGE)
    cert = flight.message(HandshakeType.CERTIFICATE)
    server = flight.server_hello
    if chosen_suite(flight, V.TLCP1_1) != suite or ske is None or cert is None or not server:
        return None
    chain = parse_certificate(cert.body)
    requested = flight.message(HandshakeType.CERTIFICATE_REQUEST) is not None
    if probe.registry.suites[suite].kx == "ECDHE_SM2":
        params = parse_tlcp_ecdhe_server_key_exchange(ske.body)
        signed = hello.random + server.random + params.signed_params
        return TlcpKeyExchange(suite, hello.random, server.random, chain, params.signature,
                               signed, params.named_curve, requested)
    if len(chain) < 2:
        probe.errors.append("TLCPv1.1: fewer than two certificates (no encryption cert)")
        return None
    signature = parse_tlcp_ecc_server_key_exchange(ske.body)
    signed = tlcp_ecc_signed_data(hello.random, server.random, chain[1])
    return TlcpKeyExchange(suite, hello.random, server.random, chain, signature, signed,
                           None, requested)


async def fetch_dhe_parameters(probe: Probe, versions: Sequence[int],
                               accepted: Sequence[AcceptedSuite]) -> DhExchange | None:
    """The DH group behind the accepted DHE suites (highest version below TLS 1.3)."""
    legacy = [v for v in (V.TLS1_2, V.TLS1_1, V.TLS1_0, V.SSL3) if v in versions][:1]
    for version in legacy:
        dhe = [a.code for a in accepted if a.protocol == version_name(version)
               and (spec := probe.registry.suites.get(a.code)) is not None
               and spec.kx in ("DHE", "DHE_EXPORT")]
        if not dhe:
            return None
        flight = probe.certified_flight(version, dhe) or await probe.send(
            f"{version_name(version)} DHE", client_hello_record(probe.hello(version, dhe)),
            STOP_AT_KEY_EXCHANGE)
        message = flight.message(HandshakeType.SERVER_KEY_EXCHANGE)
        suite = chosen_suite(flight, version)
        if message is None or suite is None:
            return None
        params = parse_dhe_server_key_exchange(message.body, version >= V.TLS1_2)
        return DhExchange(version_name(version), suite, params.prime_bits,
                          int.from_bytes(params.generator, "big"))
    return None


def personality(versions: Sequence[int]) -> Personality:
    """tls-only / tlcp-only / dual / none from the accepted versions."""
    tls = any(v != V.TLCP1_1 for v in versions)
    tlcp = V.TLCP1_1 in versions
    if tls and tlcp:
        return Personality.DUAL
    return Personality.TLS_ONLY if tls else Personality.TLCP_ONLY if tlcp else Personality.NONE


async def detect_personality(probe: Probe) -> Personality:
    """Two or three connections: a TLCP hello (bare on silence), then a TLS hello."""
    versions = [V.TLCP1_1] if version_accepted(await probe_version(probe, V.TLCP1_1),
                                               V.TLCP1_1) else []
    for version in (V.TLS1_3, V.TLS1_2):
        if version_accepted(await probe_version(probe, version), version):
            versions.append(version)
            break
    return personality(versions)


def _by_auth(probe: Probe, suites: Sequence[int]) -> list[list[int]]:
    """Suites grouped by authentication, so each certificate type is fetched once."""
    groups: dict[str, list[int]] = {}
    for code in suites:
        suite = probe.registry.suites.get(code)
        groups.setdefault(suite.auth if suite else "unknown", []).append(code)
    return list(groups.values())


class _VersionResult(NamedTuple):
    """What one version's pipeline found."""

    version: int
    suites: list[AcceptedSuite]
    order: SuiteOrder | None
    groups: list[AcceptedGroup]


def _highest_below_tls13(versions: Collection[int]) -> int | None:
    """The version whose ECDHE curves are enumerated (TLS 1.2, else 1.1, else 1.0)."""
    return next((v for v in (V.TLS1_2, V.TLS1_1, V.TLS1_0) if v in versions), None)


async def _pipeline(probe: Probe, version: int, probing: Awaitable[ServerFlight],
                    legacy: Awaitable[frozenset[int]]) -> _VersionResult | None:
    """One version from its first hello to its groups, without waiting for the others: its
    drain starts as soon as it is proved; TLS 1.3 groups drain beside the suites; the ECDHE
    curves of the highest version below TLS 1.3 beside its preference check."""
    flight = await probing
    if not version_accepted(flight, version):
        return None
    name = version_name(version)
    if version == V.SSL2:  # SERVER-HELLO already lists every cipher kind the server shares
        specs = flight.sslv2.cipher_specs if flight.sslv2 else ()
        return _VersionResult(version, [AcceptedSuite(name, c, SSL2_NAMES.get(c, f"SSL2_0x{c:06X}"))
                                        for c in specs], None, [])
    tls13_groups = (asyncio.ensure_future(_safe(probe, "groups", enumerate_groups_tls13(
        probe, first=flight))) if version == V.TLS1_3 else None)
    choice = chosen_suite(flight, version)
    drained = choice is not None and choice in probe.candidates(version)  # one-offer drain
    codes = await enumerate_suites(probe, version, first=flight)

    async def curves() -> tuple[int, ...] | None:
        if tls13_groups is not None:
            return await tls13_groups
        if version != _highest_below_tls13(await legacy):
            return ()
        ecdhe = [c for c in codes
                 if (spec := probe.registry.suites.get(c)) is not None and spec.kx == "ECDHE"]
        return await _safe(probe, "groups", enumerate_groups_tls12(probe, version, ecdhe))

    order, found = await asyncio.gather(
        server_preference(probe, version, codes, drained=drained), curves())
    return _VersionResult(
        version, [AcceptedSuite(name, c, probe.registry.suite_name(c)) for c in codes],
        SuiteOrder(name, order),
        [AcceptedGroup(name, g, probe.registry.group_name(g)) for g in found or ()])


async def _versions(probe: Probe) -> list[_VersionResult]:
    """Every version's pipeline at once; results in VERSION_ORDER."""
    probing = {v: asyncio.ensure_future(probe_version(probe, v)) for v in VERSION_ORDER}

    async def legacy_accepted() -> frozenset[int]:
        accepted: set[int] = set()
        for version in (V.TLS1_2, V.TLS1_1, V.TLS1_0):
            if version_accepted(await probing[version], version):
                accepted.add(version)
        return frozenset(accepted)

    legacy = asyncio.ensure_future(legacy_accepted())
    try:
        found = await asyncio.gather(*(_pipeline(probe, v, probing[v], legacy)
                                       for v in VERSION_ORDER))
    finally:
        for task in (*probing.values(), legacy):
            if not task.done():
                task.cancel()
            elif not task.cancelled():
                task.exception()  # seen: a failure surfaced through its pipeline
    return [r for r in found if r is not None]


CLEARTEXT_VERSIONS = frozenset({V.SSL3, V.TLS1_0, V.TLS1_1, V.TLS1_2, V.TLCP1_1})


def _cleartext(versions: Sequence[int]) -> list[int]:
    """The versions whose certificates are reported: the highest below TLS 1.3, and TLCP."""
    cleartext = [int(v) for v in (V.TLS1_2, V.TLS1_1, V.TLS1_0, V.SSL3) if v in versions][:1]
    if V.TLCP1_1 in versions:
        cleartext.append(V.TLCP1_1)
    return cleartext


async def _certificates(probe: Probe, versions: Sequence[int],
                        accepted: Sequence[AcceptedSuite]) -> list[CertificateChain]:
    chains: list[CertificateChain] = []
    cleartext = _cleartext(versions)
    fetches = [fetch_certificate_chain(probe, version, suites) for version in cleartext
               for suites in _by_auth(probe, [a.code for a in accepted
                                              if a.protocol == version_name(version)])]
    for chain in await asyncio.gather(*fetches):
        if chain is not None and chain.chain:
            chains.append(chain)
    return chains


async def _tlcp_ske(probe: Probe, accepted: Sequence[AcceptedSuite]) -> TlcpKeyExchange | None:
    tlcp = [a.code for a in accepted if a.protocol == version_name(V.TLCP1_1)]
    for code in tlcp:  # the server's first SM2 suite
        suite = probe.registry.suites.get(code)
        if suite is not None and suite.kx in ("ECC_SM2", "ECDHE_SM2"):
            return await fetch_tlcp_key_exchange(probe, code)
    return None


async def enumerate_tls(connect: Connect, *, timeout: float = 5.0,
                        server_name: str | None = None,
                        registry: TlsRegistry | None = None) -> TlsEnumeration:
    """Everything about one port: versions, suites and order, groups, personality,
    certificate chains (TLS <= 1.2 and TLCP) and the TLCP key-exchange signature inputs.

    Per-step decode failures are recorded in ``errors``; ProbeError/ScopeRefused from
    ``connect`` propagate to the engine.
    """
    probe = Probe(connect, timeout, server_name, registry or tls_registry())
    # Offers of the cleartext versions read whole flights: the certificates and DHE
    # parameters of the reported version (the highest below TLS 1.3, and TLCP) come with
    # its drain instead of costing a handshake each.
    probe.full_flights = CLEARTEXT_VERSIONS
    results = await _versions(probe)
    versions = tuple(r.version for r in results)
    accepted = [s for r in results if r.version == V.SSL2 for s in r.suites]
    accepted += [s for r in results if r.version != V.SSL2 for s in r.suites]
    orders = [r.order for r in results if r.order is not None]
    steps = [g for r in sorted(results, key=lambda r: r.version != V.TLS1_3) for g in r.groups]
    chains, tlcp_ske, dhe = await asyncio.gather(
        _safe(probe, "certificates", _certificates(probe, versions, accepted)),
        _safe(probe, "tlcp key exchange", _tlcp_ske(probe, accepted)),
        _safe(probe, "dhe parameters", fetch_dhe_parameters(probe, versions, accepted)),
    )
    return TlsEnumeration(
        versions=tuple(version_name(v) for v in versions),
        accepted=tuple(accepted),
        server_preference=tuple(orders),
        groups=tuple(steps),
        personality=personality(versions),
        certificates=tuple(chains or ()),
        tlcp_key_exchange=tlcp_ske,
        tlcp_needs_bare_hello=V.TLCP1_1 in versions and not probe.tlcp_extensions,
        gotlcp_fingerprint=probe.gotlcp_seen,
        alerts_seen=tuple(probe.alerts),
        connections_used=probe.connections,
        errors=tuple(probe.errors),
        rejected_abruptly=tuple(
            AcceptedSuite(version_name(version), code, probe.registry.suite_name(code))
            for version, codes in probe.rejected_abruptly.items() for code in codes),
        dhe=dhe,
        incomplete=tuple(
            IncompleteSuite(version_name(version), code, probe.registry.suite_name(code),
                            abandon_reason(flight))
            for version, found in probe.incomplete.items() for code, flight in found.items()),
    )


T = TypeVar("T")


async def _safe(probe: Probe, step: str, work: Awaitable[T]) -> T | None:
    """Run one step; a malformed server answer is recorded, not fatal for the port."""
    try:
        return await work
    except DecodeError as exc:
        probe.errors.append(f"{step}: {exc}")
        return None
