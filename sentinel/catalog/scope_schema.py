"""``probes/scope.yml`` validated (pydantic): the global deny list and the probe scope.

Only :mod:`sentinel.catalog.scope_lists` calls this, on a cache miss: short commands read the
pickled lists and never import pydantic or the YAML loader.
"""

from __future__ import annotations

import functools
import ipaddress
import os

from pydantic import BaseModel, ConfigDict, field_validator

from sentinel.catalog.resources import data_file
from sentinel.errors import CatalogError
from sentinel.scope import IPNetwork
from sentinel.yamlio import load_yaml, validate


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class ScopeFile(_Strict):
    global_deny: tuple[str, ...] = ()
    probe_authorised: tuple[str, ...] = ()
    sinks: tuple[str, ...] = ()

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
    not_public.cache_clear()


class AddressSpaceFile(_Strict):
    not_public: tuple[str, ...]

    @field_validator("not_public")
    @classmethod
    def _cidrs(cls, values: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(str(ipaddress.ip_network(v)) for v in values)


@functools.cache
def not_public() -> tuple[IPNetwork, ...]:
    """The address space that is not public (``probes/address_space.yml``)."""
    doc = load_yaml(data_file("probes", "address_space.yml"), CatalogError)
    found = validate(doc, AddressSpaceFile, CatalogError)
    return tuple(ipaddress.ip_network(c) for c in found.not_public)


def sinks() -> tuple[str, ...]:
    """Where results may be sent besides loopback: ``sinks`` plus ``SENTINEL_SINK_ALLOW``."""
    extra = [s.strip() for s in os.environ.get("SENTINEL_SINK_ALLOW", "").split(",")]
    return _scope_file().sinks + tuple(s for s in extra if s)
