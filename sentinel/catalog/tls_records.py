"""The plain, frozen records of the TLS/TLCP registry (``probes/tls.yml``).

:mod:`sentinel.catalog.tls_schema` validates the file into these; :mod:`sentinel.catalog.tls`
indexes them. They are NamedTuples so that the pickled copy loads fast and imports nothing.
"""

from __future__ import annotations

from typing import Literal, NamedTuple

SuiteClass = Literal["national", "strong", "legacy", "broken"]
Family = Literal["tls", "tls13", "tlcp"]
MinVersion = Literal["ssl3", "tls1.2", "tls1.3", "tlcp1.1"]


class CipherSuite(NamedTuple):
    """One cipher suite and what it is made of."""

    code: int
    name: str
    aliases: tuple[str, ...]
    openssl: str | None
    family: Family
    kx: str
    auth: str
    cipher: str
    mode: str
    mac: str
    category: SuiteClass
    pfs: bool
    aead: bool
    min_version: MinVersion
    registry: Literal["iana", "draft", "gbt38636", "gmt0024"]
    refs: tuple[str, ...]
    notes: str | None


class Signaling(NamedTuple):
    """A signalling cipher suite value (SCSV): offered, never negotiated."""

    code: int
    name: str
    refs: tuple[str, ...]


class Group(NamedTuple):
    """A supported_groups code point."""

    code: int
    name: str
    category: Literal["classical", "national", "pqc-hybrid", "pqc", "legacy"]
    kind: Literal["ec", "ecx", "ff", "kem", "kem-hybrid"]
    security_bits: int | None
    refs: tuple[str, ...]
    notes: str | None


class SignatureScheme(NamedTuple):
    """A signature_algorithms code point (TLS 1.2 pair, TLS 1.3 scheme, TLCP 0x0704)."""

    code: int
    name: str
    category: SuiteClass
    refs: tuple[str, ...]
    notes: str | None


class ObjectId(NamedTuple):
    """An algorithm OID seen in certificates."""

    oid: str
    name: str
    kind: Literal["curve", "signature", "public-key", "hash", "mac", "cipher"]
    category: Literal["national", "strong", "classical", "legacy", "broken"]
    status: Literal["verified", "third-party", "unverified"]
    refs: tuple[str, ...]
    notes: str | None


class LegacyCurve(NamedTuple):
    """A code point an older SM stack sends for the SM2 curve instead of curveSM2."""

    code: int
    name: str


class National(NamedTuple):
    """What the suite, group and OID classes cannot say about national crypto."""

    legacy_sm2_curves: tuple[LegacyCurve, ...]


class Certificates(NamedTuple):
    """Certificate and key thresholds (``certificates:`` of ``probes/tls.yml``)."""

    rsa_min_bits: int
    rsa_recommended_bits: int
    ec_min_bits: int
    ec_min_security_bits: int
    max_lifetime_days: int
    expiry_warning_days: int


class TlsRegistryData(NamedTuple):
    """The whole validated ``probes/tls.yml``."""

    version: int
    suites: tuple[CipherSuite, ...]
    signaling: tuple[Signaling, ...]
    groups: tuple[Group, ...]
    signature_schemes: tuple[SignatureScheme, ...]
    oids: tuple[ObjectId, ...]
    national: National
    certificates: Certificates
