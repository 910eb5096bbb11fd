"""``probes/scope.yml`` validated (pydantic): the global deny list and the probe scope.

Only :mod:`sentinel.catalog.scope_lists` calls this, on a cache miss: short commands read the
pickled lists and never import pydantic or the YAML loader.
"""

from __future__ import annotations

import functools
import ipaddress

from pydantic import BaseModel, ConfigDict, field_validator

from sentinel.catalog.resources import data_file
from sentinel.errors import CatalogError
from sentinel.yamlio import load_yaml, validate


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ScopeFile(_Strict):
    global_deny: tuple[str, ...] = ()
    probe_authorised: tuple[str, ...] = ()

    @field_validator("global_deny", "probe_authorised")
    @classmethod
    def _cidrs(cls, values: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(str(ipaddress.ip_network(v)) for v in values)


@functools.cache
def _scope_file() -> ScopeFile:
    doc = load_yaml(data_file("probes", "scope.yml"), CatalogError)
    return validate(doc, ScopeFile, CatalogError)


def scope_lists() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """``probes/scope.yml`` validated: (global_deny, probe_authorised)."""
    found = _scope_file()
    return found.global_deny, found.probe_authorised


def clear_cache() -> None:
    """Forget the validated file (after the overlay folder changed)."""
    _scope_file.cache_clear()
