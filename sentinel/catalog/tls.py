"""The TLS/TLCP crypto registry (``probes/tls.yml``): suites, groups, signature schemes, OIDs.

Knowledge is data: this module only indexes it. The file is validated strictly by
:mod:`sentinel.catalog.tls_schema` (file and line on every error) once, then kept as the
plain frozen records below, pickled under the user's cache directory
(:mod:`sentinel.catalog.cache`); a probe run loads the pickle and never imports pydantic or YAML.
"""

from __future__ import annotations

import functools
from pathlib import Path
from types import MappingProxyType

from sentinel.catalog.cache import cached
from sentinel.catalog.resources import data_file, read_text
from sentinel.catalog.tls_records import (
    CipherSuite,
    Family,
    Group,
    MinVersion,
    ObjectId,
    Signaling,
    SignatureScheme,
    SuiteClass,
    TlsRegistryData,
)

__all__ = [
    "CipherSuite",
    "Family",
    "Group",
    "MinVersion",
    "ObjectId",
    "Signaling",
    "SignatureScheme",
    "SuiteClass",
    "TlsRegistry",
    "TlsRegistryData",
    "tls_registry",
]

_TLS1_2, _TLS1_3, _TLCP1_1 = 0x0303, 0x0304, 0x0101

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
    (:mod:`sentinel.catalog.cache`, keyed by the YAML and the two registry modules).
    """
    source = data_file("probes", "tls.yml")
    text = read_text(source)

    def validated() -> TlsRegistryData:
        from sentinel.catalog.tls_schema import load_registry  # only on a cache miss

        return load_registry(source, text)

    here = Path(__file__)
    schema = (here, here.with_name("tls_records.py"), here.with_name("tls_schema.py"))
    return TlsRegistry(cached("tls-registry", text, schema, TlsRegistryData, validated))
