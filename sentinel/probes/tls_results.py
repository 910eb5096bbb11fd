"""What the TLS/TLCP enumeration returns: plain frozen values, no behaviour."""

from __future__ import annotations

from enum import StrEnum
from typing import NamedTuple


class Personality(StrEnum):
    """What a TLS-looking port speaks (DOMAIN §1.2)."""

    TLS_ONLY = "tls-only"
    TLCP_ONLY = "tlcp-only"
    DUAL = "dual"
    NONE = "none"


class AcceptedSuite(NamedTuple):
    """One suite a server accepted under one protocol version."""

    protocol: str
    code: int
    name: str


class IncompleteSuite(NamedTuple):
    """A suite the server selected in its ServerHello and then abandoned: an alert or a close
    came before its first flight ended (ServerHelloDone; TLS 1.3 is read only to the
    ServerHello). ``reason``: ``alert NAME(CODE)`` or ``closed``."""

    protocol: str
    code: int
    name: str
    reason: str


class SuiteOrder(NamedTuple):
    """Server preference per protocol; ``server_order`` None means the client's order wins."""

    protocol: str
    server_order: tuple[int, ...] | None


class AcceptedGroup(NamedTuple):
    """A key-exchange group a server accepted (``protocol`` TLSv1.3 or TLSv1.2)."""

    protocol: str
    code: int
    name: str


class CertificateChain(NamedTuple):
    """DER certificates as sent (TLCP: sign, enc, CA...), with the suite that fetched them."""

    protocol: str
    suite: int
    chain: tuple[bytes, ...]


class TlcpKeyExchange(NamedTuple):
    """A TLCP ServerKeyExchange and the exact bytes its SM2 signature covers."""

    suite: int
    client_random: bytes
    server_random: bytes
    certificates: tuple[bytes, ...]
    signature: bytes
    signed_data: bytes  # ECC: randoms ‖ uint24 ‖ enc cert; ECDHE: randoms ‖ ServerECDHParams
    named_curve: int | None
    certificate_requested: bool


class DhExchange(NamedTuple):
    """A finite-field DHE ServerKeyExchange: the group the server uses for DHE suites."""

    protocol: str
    suite: int
    prime_bits: int
    generator: int


class TlsEnumeration(NamedTuple):
    """Everything ``enumerate_tls`` learned about one port."""

    versions: tuple[str, ...]
    accepted: tuple[AcceptedSuite, ...]
    server_preference: tuple[SuiteOrder, ...]
    groups: tuple[AcceptedGroup, ...]
    personality: Personality
    certificates: tuple[CertificateChain, ...]
    tlcp_key_exchange: TlcpKeyExchange | None
    tlcp_needs_bare_hello: bool
    gotlcp_fingerprint: bool
    alerts_seen: tuple[str, ...]
    connections_used: int
    errors: tuple[str, ...]
    # Suites whose offer made the server drop the connection silently (tls_offer).
    rejected_abruptly: tuple[AcceptedSuite, ...] = ()
    dhe: DhExchange | None = None
    # Suites selected and then abandoned (not in ``accepted``), in discovery order.
    incomplete: tuple[IncompleteSuite, ...] = ()
