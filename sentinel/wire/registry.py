"""The TLS/TLCP crypto registry (``probes/tls.yml``): suites, groups, signature schemes, OIDs.

Knowledge is data: this module only indexes it. The file is validated strictly by
:mod:`sentinel.wire.registry_schema` (file and line on every error) once, then kept as the
plain frozen records below, pickled under the user's cache directory
(:mod:`sentinel.datacache`); a probe run loads the pickle and never imports pydantic or YAML.
"""

from __future__ import annotations

import functools
from pathlib import Path
from types import MappingProxyType
from typing import Literal, NamedTuple

from sentinel.datacache import cached
from sentinel.resources import data_file

SuiteClass = Literal["national", "strong", "legacy", "broken"]
Family = Literal["tls", "tls13", "tlcp"]
MinVersion = Literal["ssl3", "tls1.2", "tls1.3", "tlcp1.1"]
_TLS1_2, _TLS1_3, _TLCP1_1 = 0x0303, 0x0304, 0x0101


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


class TlsRegistryData(NamedTuple):
    """The whole validated ``probes/tls.yml``."""

    version: int
    suites: tuple[CipherSuite, ...]
    signaling: tuple[Signaling, ...]
    groups: tuple[Group, ...]
    signature_schemes: tuple[SignatureScheme, ...]
    oids: tuple[ObjectId, ...]


class TlsRegistry:
    """Read-only indexes over a validated registry file."""

    def __init__(self, data: TlsRegistryData) -> None:
        self.data = data
        self.suites = MappingProxyType({s.code: s for s in data.suites})
        self.groups = MappingProxyType({g.code: g for g in data.groups})
        self.signature_schemes = MappingProxyType({s.code: s for s in data.signature_schemes})
        self.oids = MappingProxyType({o.oid: o for o in data.oids})
        self._candidates: dict[int, tuple[int, ...]] = {}

    def suite_name(self, code: int) -> str:
        """IANA (or national-standard) name of a suite; unknown codes as hex."""
        suite = self.suites.get(code)
        return suite.name if suite else f"UNKNOWN_0x{code:04X}"

    def group_name(self, code: int) -> str:
        """Name of a group; unknown codes as hex."""
        group = self.groups.get(code)
        return group.name if group else f"UNKNOWN_0x{code:04X}"

    def suites_of(self, *families: Family) -> tuple[CipherSuite, ...]:
        """Suites of the given families, in code order."""
        return tuple(s for s in self.data.suites if s.family in families)

    def candidate_suites(self, version: int) -> tuple[int, ...]:
        """Codes of every suite that can be negotiated under a protocol version (cached)."""
        found = self._candidates.get(version)
        if found is None:
            if version == _TLCP1_1:
                found = tuple(s.code for s in self.suites_of("tlcp"))
            elif version == _TLS1_3:
                found = tuple(s.code for s in self.suites_of("tls13"))
            else:
                allowed = ("ssl3", "tls1.2") if version >= _TLS1_2 else ("ssl3",)
                found = tuple(s.code for s in self.suites_of("tls") if s.min_version in allowed)
            self._candidates[version] = found
        return found

    @functools.cached_property
    def _tls13_groups(self) -> tuple[int, ...]:
        return tuple(g.code for g in self.data.groups if g.category != "legacy")

    @functools.cached_property
    def _ec_groups(self) -> tuple[int, ...]:
        return tuple(g.code for g in self.data.groups if g.kind in ("ec", "ecx"))

    def tls13_groups(self) -> tuple[int, ...]:
        """Every non-legacy group: what a TLS 1.3 server may pick from."""
        return self._tls13_groups

    def ec_groups(self) -> tuple[int, ...]:
        """Every elliptic-curve group: what a TLS 1.0-1.2 ECDHE server may pick from."""
        return self._ec_groups


@functools.cache
def tls_registry() -> TlsRegistry:
    """The shipped (or overlaid) ``probes/tls.yml``, loaded once per process.

    Validating the YAML costs ~80 ms plus ~0.1 s of importing pydantic and the YAML loader,
    most of a one-endpoint CLI run; the validated records are therefore kept pickled
    (:mod:`sentinel.datacache`, keyed by the YAML and the two registry modules).
    """
    source = data_file("probes", "tls.yml")
    text = source.read_text(encoding="utf-8")

    def validated() -> TlsRegistryData:
        from sentinel.wire.registry_schema import load_registry  # only on a cache miss

        return load_registry(source, text).data

    here = Path(__file__)
    schema = (here, here.with_name("registry_schema.py"))
    return TlsRegistry(cached("tls-registry", text, schema, TlsRegistryData, validated))
