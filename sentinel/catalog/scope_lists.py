"""The two scope lists of ``probes/scope.yml`` for commands that must start fast.

``global_deny`` (never probed, whatever a playbook says) and ``probe_authorised`` (where one
named endpoint may be probed without a playbook), each extended by its environment
variable. The file is validated by :mod:`sentinel.catalog.scope_schema` on a cache miss only
(:mod:`sentinel.catalog.cache`); ``sentinel probe`` thus needs neither pydantic nor YAML.
"""

from __future__ import annotations

import functools
import ipaddress
import os
from pathlib import Path

from sentinel.catalog.cache import cached
from sentinel.catalog.resources import data_file, read_text
from sentinel.errors import CatalogError


@functools.cache
def _lists() -> tuple[tuple[str, ...], tuple[str, ...]]:
    text = read_text(data_file("probes", "scope.yml"))

    def validated() -> tuple[tuple[str, ...], tuple[str, ...]]:
        from sentinel.catalog.scope_schema import scope_lists  # only on a cache miss

        return scope_lists()

    here = Path(__file__)
    return cached("scope-lists", text, (here, here.with_name("scope_schema.py")), tuple, validated)


def _with_env(listed: tuple[str, ...], variable: str) -> tuple[str, ...]:
    extra = [c.strip() for c in os.environ.get(variable, "").split(",") if c.strip()]
    try:
        return listed + tuple(str(ipaddress.ip_network(c)) for c in extra)
    except ValueError as exc:
        raise CatalogError(f"{variable}: {exc}") from None


def global_deny() -> tuple[str, ...]:
    """The organisation-wide deny list: ``probes/scope.yml`` plus ``SENTINEL_GLOBAL_DENY``."""
    return _with_env(_lists()[0], "SENTINEL_GLOBAL_DENY")


def probe_scope() -> tuple[str, ...]:
    """Where a single named endpoint may be probed without a playbook (plus the environment)."""
    return _with_env(_lists()[1], "SENTINEL_PROBE_SCOPE")


def clear_cache() -> None:
    """Forget the loaded lists (after the overlay folder changed)."""
    _lists.cache_clear()
