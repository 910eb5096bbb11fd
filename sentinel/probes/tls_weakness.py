"""TLS weaknesses a server shows in its ServerHello: missing secure renegotiation (RFC 5746),
TLS compression (CRIME), the heartbeat extension (RFC 6520), and a fallback it accepts although
the client signalled TLS_FALLBACK_SCSV (RFC 7507).

Three hellos, one connection each, none finished:

1. *best version*: a TLS 1.3-capable hello (supported_versions 1.3 and 1.2, an X25519 share
   that is the curve's base point: a valid public value, no key needed since nothing is
   completed). Its answer (a ServerHello or HelloRetryRequest) gives the server's best version.
2. *features*: a TLS 1.2 hello (no supported_versions) whose suites carry
   TLS_EMPTY_RENEGOTIATION_INFO_SCSV (0x00FF), whose compression methods are [DEFLATE, null]
   and whose extensions offer heartbeat (15, peer_allowed_to_send). The ServerHello says
   whether the server echoes renegotiation_info, which compression it picked, whether it
   answers the heartbeat extension.
3. *fallback*: a hello one version below the best with TLS_FALLBACK_SCSV (0x5600) in the
   suites. An inappropriate_fallback alert (86) is the server honouring it; a ServerHello is
   the server accepting the downgrade; anything else (protocol_version when it has no lower
   version) leaves the question open.

Every read goes through :func:`sentinel.probes.tls_exchange.send_hello`: one deadline per
flight, a bounded record count and buffer, bytes parsed by ``sentinel.wire``.
"""

from __future__ import annotations

import ipaddress
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from sentinel.errors import ErrorReason, ProbeError
from sentinel.probes.base import Network, Planned, Target
from sentinel.probes.tls_exchange import Connect, Outcome, ServerFlight, send_hello
from sentinel.wire.constants import (
    TLS_FALLBACK_SCSV,
    VERSION_NAMES,
    ExtensionType,
    ProtocolVersion,
)
from sentinel.wire.extensions import (
    Extension,
    ec_point_formats,
    find_extension,
    key_share,
    server_name,
    signature_algorithms,
    supported_groups,
    supported_versions,
)
from sentinel.wire.hello import ClientHello, client_hello_record, signalling_suites

if TYPE_CHECKING:
    from sentinel.playbook import Playbook

HEARTBEAT = 15  # RFC 6520 extension number
PEER_ALLOWED_TO_SEND = 1
DEFLATE = 1  # RFC 3749 compression method
INAPPROPRIATE_FALLBACK = 86  # RFC 7507 alert
X25519 = 0x001D
# The X25519 base point (u = 9): a valid public value for a hello we never finish.
X25519_BASE_POINT = bytes([9]) + bytes(31)
GROUPS = (X25519, 0x0017, 0x0018, 0x0019)  # x25519, P-256, P-384, P-521
SCHEMES = (0x0403, 0x0503, 0x0603, 0x0804, 0x0805, 0x0806, 0x0401, 0x0501, 0x0601,
           0x0807, 0x0808, 0x0203, 0x0201)
TLS13_SUITES = (0x1301, 0x1302, 0x1303)
# Broad TLS 1.0-1.2 suites (ECDHE, DHE and RSA key exchange; GCM, ChaCha20 and CBC), so any
# server that speaks TLS 1.2 or lower finds one it accepts.
LEGACY_SUITES = (0xC02B, 0xC02F, 0xC02C, 0xC030, 0xCCA9, 0xCCA8, 0xC009, 0xC013, 0xC00A,
                 0xC014, 0xC023, 0xC027, 0xC024, 0xC028, 0x009E, 0x009F, 0x0033, 0x0039,
                 0x009C, 0x009D, 0x002F, 0x0035, 0x003C, 0x003D, 0x000A)


def _sni(name: str | None) -> tuple[Extension, ...]:
    """SNI for a host name; none for an IP literal (RFC 6066 §3) or no name."""
    if not name:
        return ()
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return (server_name(name),)
    return ()


def best_version_hello(name: str | None) -> bytes:
    """Hello 1: TLS 1.3 and 1.2 offered, so the answer names the server's best version."""
    extensions = (*_sni(name), supported_versions((ProtocolVersion.TLS1_3, ProtocolVersion.TLS1_2)),
                  supported_groups(GROUPS), ec_point_formats(), signature_algorithms(SCHEMES),
                  key_share(((X25519, X25519_BASE_POINT),)))
    hello = ClientHello(ProtocolVersion.TLS1_2, secrets.token_bytes(32), secrets.token_bytes(32),
                        TLS13_SUITES + LEGACY_SUITES, b"\x00", extensions)
    return client_hello_record(hello)


def features_hello(name: str | None) -> bytes:
    """Hello 2: TLS 1.2 at most, the renegotiation SCSV, DEFLATE offered, heartbeat offered."""
    extensions = (*_sni(name), supported_groups(GROUPS), ec_point_formats(),
                  signature_algorithms(SCHEMES),
                  Extension(HEARTBEAT, bytes([PEER_ALLOWED_TO_SEND])))
    hello = ClientHello(ProtocolVersion.TLS1_2, secrets.token_bytes(32), b"",
                        signalling_suites(LEGACY_SUITES, scsv=True),
                        bytes([DEFLATE, 0]), extensions)
    return client_hello_record(hello)


def fallback_hello(name: str | None, version: int) -> bytes:
    """Hello 3: ``version`` (below the server's best) with TLS_FALLBACK_SCSV in the suites."""
    extensions = (*_sni(name), supported_groups(GROUPS), ec_point_formats(),
                  signature_algorithms(SCHEMES))
    hello = ClientHello(version, secrets.token_bytes(32), b"",
                        (*LEGACY_SUITES, TLS_FALLBACK_SCSV), b"\x00", extensions)
    return client_hello_record(hello)


def _answer(flight: ServerFlight) -> dict[str, Any]:
    """How a hello ended, for the facts (the alert's numbers, the chosen version)."""
    facts: dict[str, Any] = {"outcome": flight.outcome.value}
    if flight.alert is not None:
        facts["alert"] = {"level": int(flight.alert.level),
                          "description": int(flight.alert.description)}
    if flight.server_hello is not None:
        facts["version"] = VERSION_NAMES.get(flight.server_hello.version,
                                             f"0x{flight.server_hello.version:04x}")
    if flight.error:
        facts["error"] = flight.error[:200]
    return facts


def feature_facts(flight: ServerFlight) -> dict[str, Any]:
    """What the ServerHello to hello 2 shows (None for each when there was no ServerHello)."""
    facts = _answer(flight)
    hello = flight.server_hello
    if hello is None or hello.is_hello_retry_request:
        facts.update(secure_renegotiation=None, compression_method=None, heartbeat=None)
        return facts
    extensions = hello.extensions or ()
    reneg = find_extension(extensions, ExtensionType.RENEGOTIATION_INFO)
    beat = find_extension(extensions, HEARTBEAT)
    facts["secure_renegotiation"] = reneg is not None
    facts["compression_method"] = hello.compression_method
    # The mode byte as the server sent it (1 peer_allowed_to_send, 2 peer_not_allowed_to_send).
    facts["heartbeat"] = None if beat is None else {"mode": beat.data[0] if beat.data else None}
    return facts


def fallback_verdict(flight: ServerFlight) -> str:
    """honoured (inappropriate_fallback), accepted (a ServerHello below the best), or
    inconclusive (any other answer: usually no such lower version at all)."""
    if flight.alert is not None and int(flight.alert.description) == INAPPROPRIATE_FALLBACK:
        return "honoured"
    if flight.outcome in (Outcome.SERVER_HELLO, Outcome.ABORTED) and flight.server_hello:
        return "accepted"
    return "inconclusive"


def _best_version(flight: ServerFlight) -> int | None:
    hello = flight.server_hello
    return None if hello is None else hello.version


async def probe_weaknesses(connect: Connect, *, timeout: float = 5.0,
                           name: str | None = None) -> dict[str, Any]:
    """The three hellos against one endpoint, as JSON-able facts."""
    first = await send_hello(connect, best_version_hello(name), timeout)
    best = _best_version(first)
    features = await send_hello(connect, features_hello(name), timeout)
    if best is None and features.server_hello is not None:
        best = features.server_hello.version  # a server that refused hello 1 but speaks 1.2
    facts: dict[str, Any] = {
        "best_version": VERSION_NAMES.get(best, f"0x{best:04x}") if best else None,
        "best_version_answer": _answer(first),
        "legacy": feature_facts(features),
        "fallback": None,
    }
    if first.silent and features.silent:
        raise ProbeError(ErrorReason.PROTOCOL, "no TLS answer to any hello")
    if best is not None and best > ProtocolVersion.TLS1_0:
        lower = best - 1
        flight = await send_hello(connect, fallback_hello(name, lower), timeout)
        marker = flight.server_hello.downgrade_marker if flight.server_hello else None
        facts["fallback"] = {"offered": VERSION_NAMES.get(lower, f"0x{lower:04x}"),
                             "verdict": fallback_verdict(flight), **_answer(flight),
                             # RFC 8446 §4.1.3: a TLS 1.3 server's downgrade marker in the
                             # random still protects clients that know TLS 1.3.
                             "downgrade_marker": marker is not None}
    return facts


@dataclass(frozen=True)
class TlsWeaknessProbe:
    """Probe kind ``tls_weakness``: three unfinished hellos per TLS port."""

    kind: ClassVar[str] = "tls_weakness"
    transport: ClassVar[str] = "tcp"
    timeout: float = 5.0
    sni: bool = True
    budget_s: float = 20.0  # three hellos, each bounded by ``timeout``

    async def run(self, target: Target, network: Network) -> dict[str, Any]:
        port = target.endpoint.port
        if port is None:
            raise ProbeError(ErrorReason.INTERNAL, "tls_weakness probe needs a port")
        connect = network.connector(target.endpoint.address, port)
        name = target.server_name if self.sni else None
        try:
            facts = await probe_weaknesses(connect, timeout=self.timeout, name=name)
        except ProbeError as exc:
            # Planned on every host's TLS ports: a closed port is a fact, not a failure.
            if exc.reason is ErrorReason.REFUSED:
                return {"port_state": "closed"}
            raise
        return {"port_state": "open", **facts}


def planned(playbook: Playbook) -> Planned | None:
    """The ``tls_weakness`` kind as the playbook configures it (None: not selected)."""
    config = playbook.probes.tls_weakness
    if config is None:
        return None
    probe = TlsWeaknessProbe(timeout=config.timeout_s, sni=config.sni, budget_s=config.budget_s)
    return Planned(probe, tuple(sorted(set(config.ports))))
