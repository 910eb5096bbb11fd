"""The trust store the certificate checks judge chains against (``probes/trust.yml``).

Two sources: the system's CA bundles (absolute paths; the first Debian/Ubuntu, then the
Red Hat and Alpine locations; a bundle that does not exist on this machine is skipped and
named in ``missing``) and the national SM2 roots named in data (PEM files or folders of
``*.pem``/``*.crt`` under ``probes/``, e.g. ``trust/``), which an organisation overlays with
``SENTINEL_DATA_DIR/probes/trust.yml`` or adds as ``SENTINEL_DATA_DIR/probes/trust/*.pem``.
A root that is named in data but cannot be read is a :class:`CatalogError`; a PEM block
that does not parse is skipped and counted (a system bundle may hold what ``cryptography``
does not read). Every file is read bounded (``MAX_DATA_BYTES``), at most ``MAX_ROOTS`` roots.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import re
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated

from cryptography import x509
from pydantic import BaseModel, ConfigDict, Field

from sentinel.catalog.resources import data_file, data_files, read_text
from sentinel.errors import CatalogError, SourceLocation
from sentinel.yamlio import load_yaml, validate

MAX_ROOTS = 4096
_PEM = re.compile(r"-----BEGIN (?:TRUSTED )?CERTIFICATE-----(.*?)-----END (?:TRUSTED )?"
                  r"CERTIFICATE-----", re.S)
ROOT_SUFFIXES = (".pem", ".crt")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class TrustFile(_Strict):
    """``probes/trust.yml``: which roots a chain may end in."""

    system_bundles: tuple[Annotated[str, Field(pattern=r"^/")], ...] = ()
    roots: tuple[Annotated[str, Field(min_length=1)], ...] = ()


@dataclass(frozen=True)
class TrustStore:
    """Trusted roots as DER, indexed by subject name (DER) and by SHA-256."""

    roots: tuple[bytes, ...]
    sources: tuple[str, ...] = ()
    missing: tuple[str, ...] = ()
    skipped: int = 0
    by_subject: dict[bytes, tuple[bytes, ...]] = field(default_factory=dict)
    fingerprints: frozenset[str] = frozenset()

    @classmethod
    def of(cls, roots: Iterable[bytes], *, sources: tuple[str, ...] = (),
           missing: tuple[str, ...] = (), skipped: int = 0) -> TrustStore:
        """A store of these DER roots (one that does not parse is counted in ``skipped``)."""
        kept: list[bytes] = []
        by_subject: dict[bytes, list[bytes]] = {}
        for der in roots:
            if len(kept) >= MAX_ROOTS:
                skipped += 1
                continue
            try:
                with warnings.catch_warnings():  # a bundle's old roots: negative serials
                    warnings.simplefilter("ignore")
                    subject = x509.load_der_x509_certificate(der).subject.public_bytes()
            except (ValueError, TypeError):
                skipped += 1
                continue
            kept.append(der)
            by_subject.setdefault(subject, []).append(der)
        return cls(tuple(kept), sources, missing, skipped,
                   {k: tuple(v) for k, v in by_subject.items()},
                   frozenset(hashlib.sha256(d).hexdigest() for d in kept))

    def issuers(self, issuer_name_der: bytes) -> tuple[bytes, ...]:
        """The roots whose subject is this name (DER), maybe none."""
        return self.by_subject.get(issuer_name_der, ())

    def holds(self, der: bytes) -> bool:
        return hashlib.sha256(der).hexdigest() in self.fingerprints


def pem_certificates(text: str) -> tuple[list[bytes], int]:
    """The DER of every CERTIFICATE block in PEM text, and how many blocks were not base64."""
    found: list[bytes] = []
    bad = 0
    for block in _PEM.findall(text):
        try:
            found.append(base64.b64decode("".join(block.split()), validate=True))
        except (binascii.Error, ValueError):
            bad += 1
    return found, bad


def _read_roots(spec: TrustFile) -> TrustStore:
    ders: list[bytes] = []
    sources: list[str] = []
    missing: list[str] = []
    skipped = 0
    for bundle in spec.system_bundles:
        path = Path(bundle)
        if not path.is_file():
            missing.append(bundle)
            continue
        found, bad = pem_certificates(read_text(path))
        ders += found
        skipped += bad
        sources.append(bundle)
    for name in spec.roots:
        entries = (list(data_files("probes", name.rstrip("/"), ROOT_SUFFIXES))
                   if name.endswith("/") else [(name, data_file("probes", name))])
        for relative, source in entries:
            if not source.is_file():
                raise CatalogError(f"trusted root {relative!r} is not a readable file",
                                   SourceLocation(str(source)))
            found, bad = pem_certificates(read_text(source))
            if not found:
                raise CatalogError(f"trusted root {relative!r} holds no PEM certificate",
                                   SourceLocation(str(source)))
            ders += found
            skipped += bad
            sources.append(str(source))
    return TrustStore.of(ders, sources=tuple(sources), missing=tuple(missing), skipped=skipped)


@functools.cache
def trust_store() -> TrustStore:
    """The trust store of ``probes/trust.yml`` (system bundles plus national roots)."""
    doc = load_yaml(data_file("probes", "trust.yml"), CatalogError)
    return _read_roots(validate(doc, TrustFile, CatalogError))


def clear_cache() -> None:
    """Forget the loaded store (after the overlay folder or a bundle changed)."""
    trust_store.cache_clear()
