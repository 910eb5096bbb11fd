"""The TLS/TLCP crypto registry (``probes/tls.yml``): suites, groups, signature schemes, OIDs.

Knowledge is data: this module only validates and indexes it. The file is loaded strictly
(duplicate YAML keys, unknown fields, duplicate codes and bad values are CatalogErrors naming
file and line), once per process, into frozen models.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import pickle
from collections.abc import Iterable
from importlib.resources.abc import Traversable
from pathlib import Path
from types import MappingProxyType
from typing import Annotated, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, model_validator

from sentinel.errors import CatalogError, SourceLocation
from sentinel.resources import data_file
from sentinel.yamlio import load_yaml, validate

Code16 = Annotated[int, Field(ge=0, le=0xFFFF)]
SuiteClass = Literal["national", "strong", "legacy", "broken"]
Family = Literal["tls", "tls13", "tlcp"]
MinVersion = Literal["ssl3", "tls1.2", "tls1.3", "tlcp1.1"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=False)


class CipherSuite(_Strict):
    """One cipher suite and what it is made of."""

    code: Code16
    name: str
    aliases: tuple[str, ...] = ()
    openssl: str | None = None
    family: Family
    kx: str
    auth: str
    cipher: str
    mode: str
    mac: str
    category: SuiteClass = Field(alias="class")
    pfs: bool
    aead: bool
    min_version: MinVersion
    registry: Literal["iana", "draft", "gbt38636", "gmt0024"] = "iana"
    refs: tuple[str, ...] = Field(min_length=1)
    notes: str | None = None


class Signaling(_Strict):
    """A signalling cipher suite value (SCSV): offered, never negotiated."""

    code: Code16
    name: str
    refs: tuple[str, ...] = Field(min_length=1)


class Group(_Strict):
    """A supported_groups code point."""

    code: Code16
    name: str
    category: Literal["classical", "national", "pqc-hybrid", "pqc", "legacy"] = Field(alias="class")
    kind: Literal["ec", "ecx", "ff", "kem", "kem-hybrid"]
    security_bits: int | None = None
    refs: tuple[str, ...] = Field(min_length=1)
    notes: str | None = None


class SignatureScheme(_Strict):
    """A signature_algorithms code point (TLS 1.2 pair, TLS 1.3 scheme, TLCP 0x0704)."""

    code: Code16
    name: str
    category: SuiteClass = Field(alias="class")
    refs: tuple[str, ...] = Field(min_length=1)
    notes: str | None = None


class ObjectId(_Strict):
    """An algorithm OID seen in certificates."""

    oid: Annotated[str, Field(pattern=r"^[0-2](\.(0|[1-9][0-9]*))+$")]
    name: str
    kind: Literal["curve", "signature", "public-key", "hash", "mac", "cipher"]
    category: Literal["national", "strong", "classical", "legacy", "broken"] = Field(alias="class")
    status: Literal["verified", "third-party", "unverified"]
    refs: tuple[str, ...] = Field(min_length=1)
    notes: str | None = None


class _DuplicateError(ValueError):
    def __init__(self, message: str, path: tuple[str | int, ...]) -> None:
        super().__init__(message)
        self.path = path


T = TypeVar("T")


def _no_duplicates(section: str, items: Iterable[T], key: str) -> None:
    seen: set[object] = set()
    for index, item in enumerate(items):
        value = getattr(item, key)
        if value in seen:
            raise _DuplicateError(f"duplicate {key} {value!r} in {section}", (section, index, key))
        seen.add(value)


class TlsRegistryFile(_Strict):
    """The whole ``probes/tls.yml``."""

    version: Literal[1]
    suites: tuple[CipherSuite, ...]
    signaling: tuple[Signaling, ...]
    groups: tuple[Group, ...]
    signature_schemes: tuple[SignatureScheme, ...]
    oids: tuple[ObjectId, ...]

    @model_validator(mode="after")
    def _unique(self) -> TlsRegistryFile:
        _no_duplicates("suites", self.suites, "code")
        _no_duplicates("suites", self.suites, "name")
        _no_duplicates("signaling", self.signaling, "code")
        _no_duplicates("groups", self.groups, "code")
        _no_duplicates("signature_schemes", self.signature_schemes, "code")
        _no_duplicates("oids", self.oids, "oid")
        suite_codes = {suite.code for suite in self.suites}
        for index, scsv in enumerate(self.signaling):
            if scsv.code in suite_codes:
                raise _DuplicateError(f"SCSV {scsv.code:#06x} is also a suite",
                                      ("signaling", index, "code"))
        return self


class TlsRegistry:
    """Read-only indexes over a validated registry file."""

    def __init__(self, data: TlsRegistryFile) -> None:
        self.data = data
        self.suites = MappingProxyType({s.code: s for s in data.suites})
        self.groups = MappingProxyType({g.code: g for g in data.groups})
        self.signature_schemes = MappingProxyType({s.code: s for s in data.signature_schemes})
        self.oids = MappingProxyType({o.oid: o for o in data.oids})

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


def load_registry(source: Path | Traversable, text: str | None = None) -> TlsRegistry:
    """Load and validate a registry file (``text`` overrides the file's content, for tests)."""
    doc = load_yaml(source, CatalogError, text=text)
    if not isinstance(doc.data, dict):
        raise CatalogError("expected a mapping at the top level", SourceLocation(str(source), 1))
    return TlsRegistry(validate(doc, TlsRegistryFile, CatalogError))


@functools.cache
def tls_registry() -> TlsRegistry:
    """The shipped (or overlaid) ``probes/tls.yml``, loaded once per process.

    Validating the YAML costs ~80 ms, a third of a one-endpoint CLI run; the validated model
    is therefore also kept pickled under the user's cache directory, keyed by the hash of
    the YAML and of this module (a changed schema never reads an old pickle). Any problem
    with the cache falls back to loading the file.
    """
    source = data_file("probes", "tls.yml")
    text = source.read_text(encoding="utf-8")
    cache = _cache_path(text)
    if cache is not None:
        with contextlib.suppress(OSError, pickle.UnpicklingError, EOFError, AttributeError,
                                 TypeError, ValueError):
            data = pickle.loads(cache.read_bytes())  # noqa: S301 - our own file, see above
            if isinstance(data, TlsRegistryFile):
                return TlsRegistry(data)
    registry = load_registry(source, text)
    if cache is not None:
        with contextlib.suppress(OSError):
            cache.parent.mkdir(parents=True, exist_ok=True)
            partial = cache.with_suffix(f".{os.getpid()}.tmp")
            partial.write_bytes(pickle.dumps(registry.data, pickle.HIGHEST_PROTOCOL))
            partial.replace(cache)
    return registry


def _cache_path(text: str) -> Path | None:
    """Where the pickled registry for this YAML and this schema lives (None: no cache)."""
    if os.environ.get("SENTINEL_NO_CACHE"):
        return None
    root = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    digest = hashlib.sha256(text.encode("utf-8"))
    digest.update(Path(__file__).read_bytes())
    return Path(root) / "sentinel" / f"tls-registry-{digest.hexdigest()[:32]}.pickle"
