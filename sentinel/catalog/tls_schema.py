"""Validation of ``probes/tls.yml``: the strict schema, used only when the file is read.

Duplicate YAML keys, unknown fields, duplicate codes and bad values are CatalogErrors naming
file and line. A validated file becomes the plain read-only records of
:mod:`sentinel.catalog.tls`, which is all a probe needs (and which loads without pydantic
or YAML: a one-endpoint probe run pays neither).
"""

from __future__ import annotations

from collections.abc import Iterable
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Annotated, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, model_validator

from sentinel.catalog import tls_records as rt
from sentinel.errors import CatalogError, SourceLocation
from sentinel.yamlio import load_yaml, validate

Code16 = Annotated[int, Field(ge=0, le=0xFFFF)]
SuiteClass = Literal["national", "strong", "legacy", "broken"]
Family = Literal["tls", "tls13", "tlcp"]
MinVersion = Literal["ssl3", "tls1.2", "tls1.3", "tlcp1.1"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=False,
                              allow_inf_nan=False)


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


class LegacyCurve(_Strict):
    """A code point an older SM stack sends for the SM2 curve instead of curveSM2."""

    code: Code16
    name: str = Field(min_length=1)


class National(_Strict):
    """What the suite, group and OID classes cannot say about national crypto."""

    legacy_sm2_curves: tuple[LegacyCurve, ...]


Positive = Annotated[int, Field(gt=0)]


class Certificates(_Strict):
    """Certificate and key thresholds."""

    rsa_min_bits: Positive
    rsa_recommended_bits: Positive
    ec_min_bits: Positive
    ec_min_security_bits: Positive
    max_lifetime_days: Positive
    expiry_warning_days: Positive

    @model_validator(mode="after")
    def _ordered(self) -> Certificates:
        if self.rsa_recommended_bits < self.rsa_min_bits:
            raise ValueError("rsa_recommended_bits is below rsa_min_bits")
        return self


class _DuplicateError(ValueError):
    def __init__(self, message: str, path: tuple[str | int, ...]) -> None:
        super().__init__(message)
        self.path = path


T = TypeVar("T")


def _no_duplicates(section: str, items: Iterable[T], key: str) -> None:
    seen: set[object] = set()
    where = tuple(section.split("."))  # a nested section: "national.legacy_sm2_curves"
    for index, item in enumerate(items):
        value = getattr(item, key)
        if value in seen:
            raise _DuplicateError(f"duplicate {key} {value!r} in {section}", (*where, index, key))
        seen.add(value)


class TlsRegistryFile(_Strict):
    """The whole ``probes/tls.yml``."""

    version: Literal[1]
    suites: tuple[CipherSuite, ...]
    signaling: tuple[Signaling, ...]
    groups: tuple[Group, ...]
    signature_schemes: tuple[SignatureScheme, ...]
    oids: tuple[ObjectId, ...]
    national: National
    certificates: Certificates

    @model_validator(mode="after")
    def _unique(self) -> TlsRegistryFile:
        _no_duplicates("suites", self.suites, "code")
        _no_duplicates("suites", self.suites, "name")
        _no_duplicates("signaling", self.signaling, "code")
        _no_duplicates("groups", self.groups, "code")
        _no_duplicates("signature_schemes", self.signature_schemes, "code")
        _no_duplicates("oids", self.oids, "oid")
        _no_duplicates("national.legacy_sm2_curves", self.national.legacy_sm2_curves, "code")
        suite_codes = {suite.code for suite in self.suites}
        for index, scsv in enumerate(self.signaling):
            if scsv.code in suite_codes:
                raise _DuplicateError(f"SCSV {scsv.code:#06x} is also a suite",
                                      ("signaling", index, "code"))
        return self


def to_records(data: TlsRegistryFile) -> rt.TlsRegistryData:
    """The validated file as the runtime records (same field names; ``class`` is ``category``)."""
    return rt.TlsRegistryData(
        version=data.version,
        suites=tuple(rt.CipherSuite(**s.model_dump()) for s in data.suites),
        signaling=tuple(rt.Signaling(**s.model_dump()) for s in data.signaling),
        groups=tuple(rt.Group(**g.model_dump()) for g in data.groups),
        signature_schemes=tuple(rt.SignatureScheme(**s.model_dump())
                                for s in data.signature_schemes),
        oids=tuple(rt.ObjectId(**o.model_dump()) for o in data.oids),
        national=rt.National(legacy_sm2_curves=tuple(
            rt.LegacyCurve(**c.model_dump()) for c in data.national.legacy_sm2_curves)),
        certificates=rt.Certificates(**data.certificates.model_dump()),
    )


def load_registry(source: Path | Traversable, text: str | None = None) -> rt.TlsRegistryData:
    """Load and validate a registry file (``text`` overrides the file's content, for tests)."""
    doc = load_yaml(source, CatalogError, text=text)
    if not isinstance(doc.data, dict):
        raise CatalogError("expected a mapping at the top level", SourceLocation(str(source), 1))
    return to_records(validate(doc, TlsRegistryFile, CatalogError))
