"""SSH algorithm knowledge (``probes/ssh.yml``): each name's kind and security class.

Knowledge is data: this module validates and indexes it, once per process. Duplicate YAML
keys, unknown fields, values outside the enums and a name listed twice for the same kind are
:class:`~sentinel.errors.CatalogError` naming file and line.
"""

from __future__ import annotations

import functools
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from sentinel.catalog.resources import data_file
from sentinel.errors import CatalogError
from sentinel.yamlio import load_yaml, validate

AlgorithmKind = Literal["kex", "host_key", "cipher", "mac", "compression"]
AlgorithmClass = Literal["broken", "weak", "legacy", "strong", "national", "pqc-hybrid"]
UNKNOWN = "unknown"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class SshAlgorithm(_Strict):
    """One algorithm name as servers advertise it in KEXINIT."""

    name: str
    kind: AlgorithmKind
    klass: AlgorithmClass = Field(alias="class")  # ``class`` is a Python keyword
    status: Literal["verified", "third-party", "unverified"] = "verified"
    refs: tuple[str, ...] = ()
    notes: str | None = None


class Marker(_Strict):
    """A pseudo-algorithm in kex_algorithms that signals a feature (strict kex, ext-info)."""

    name: str
    refs: tuple[str, ...] = ()


class SshRegistryFile(_Strict):
    version: Literal[1]
    markers: tuple[Marker, ...] = ()
    algorithms: tuple[SshAlgorithm, ...]

    @model_validator(mode="after")
    def _unique(self) -> SshRegistryFile:
        seen: set[tuple[str, str]] = set()
        for algorithm in self.algorithms:
            key = (algorithm.kind, algorithm.name)
            if key in seen:
                raise ValueError(f"{algorithm.kind} {algorithm.name!r} is listed twice")
            seen.add(key)
        return self


class SshRegistry:
    """Indexed view: ``classify(kind, name)`` → class, ``markers`` to set apart."""

    def __init__(self, data: SshRegistryFile) -> None:
        self.data = data
        self.markers = frozenset(m.name for m in data.markers)
        self._index = {(a.kind, a.name): a for a in data.algorithms}

    def lookup(self, kind: AlgorithmKind, name: str) -> SshAlgorithm | None:
        """The entry for ``name`` of this kind, if Sentinel knows it."""
        return self._index.get((kind, name))

    def classify(self, kind: AlgorithmKind, name: str) -> str:
        """The class of ``name`` (``unknown`` for names not in the registry)."""
        entry = self.lookup(kind, name)
        return entry.klass if entry else UNKNOWN


@functools.cache
def ssh_registry() -> SshRegistry:
    """The shipped (or overlaid) ``probes/ssh.yml``, validated."""
    doc = load_yaml(data_file("probes", "ssh.yml"), CatalogError)
    return SshRegistry(validate(doc, SshRegistryFile, CatalogError))
