"""The knowledge Sentinel runs on, loaded from YAML data files and validated.

Checks (titles, why, how to fix, references, default severity) live in
``playbooks/remediation/*.yml``; services and their zone rules in ``probes/services.yml``;
the organisation-wide deny list in ``probes/scope.yml``. Files are loaded once per process,
validated strictly (unknown fields and duplicate keys are errors naming file and line), and
never mutated.
"""

from __future__ import annotations

import functools
import ipaddress
import os
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from sentinel.errors import CatalogError
from sentinel.model import Severity, Text
from sentinel.playbook import Zone
from sentinel.resources import data_file, data_files
from sentinel.yamlio import load_yaml, validate


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Check(_Strict):
    """One check: stable id, words for people in both languages, references, severity."""

    title: Text
    why: Text
    fix: Text
    severity: Severity
    ruleset: str
    references: tuple[str, ...] = ()
    status: Literal["verified", "third-party", "unverified"] = "third-party"


class CheckFile(_Strict):
    checks: dict[Annotated[str, Field(pattern=r"^[A-Z0-9]+(-[A-Z0-9]+)+$")], Check]


class ServicePort(_Strict):
    port: Annotated[int, Field(ge=1, le=65535)]
    transport: Literal["tcp", "udp"] = "tcp"


class Service(_Strict):
    """A network service Sentinel recognises, and how each zone should treat it."""

    id: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]*$")]
    name: Text
    ports: tuple[ServicePort, ...]
    category: Literal[
        "web",
        "tls-web",
        "remote-management",
        "file-transfer",
        "file-sharing",
        "database",
        "cache",
        "directory",
        "mail",
        "monitoring",
        "container",
        "cloud-management",
        "device-management",
        "name-service",
        "vpn",
        "other",
    ]
    cleartext_credentials: bool = False
    management: bool = False
    high_risk: bool = False
    allowed_zones: tuple[Zone, ...] = ()


class ServiceFile(_Strict):
    services: tuple[Service, ...]

    @field_validator("services")
    @classmethod
    def _unique(cls, services: tuple[Service, ...]) -> tuple[Service, ...]:
        ids = [s.id for s in services]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"duplicate service ids: {', '.join(dupes)}")
        return services


class ScopeFile(_Strict):
    global_deny: tuple[str, ...] = ()
    probe_authorised: tuple[str, ...] = ()

    @field_validator("global_deny", "probe_authorised")
    @classmethod
    def _cidrs(cls, values: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(str(ipaddress.ip_network(v)) for v in values)


@functools.cache
def checks() -> dict[str, Check]:
    """Every check, by id, from all files under ``playbooks/remediation/``."""
    merged: dict[str, Check] = {}
    for name, source in data_files("playbooks", "remediation"):
        doc = load_yaml(source, CatalogError)
        parsed = validate(doc, CheckFile, CatalogError)
        for check_id, check in parsed.checks.items():
            if check_id in merged:
                raise CatalogError(
                    f"check {check_id} is defined twice", doc.locate(("checks", check_id))
                )
            merged[check_id] = check
        del name
    return merged


def check(check_id: str) -> Check:
    """One check by id; an assessor asking for an unknown id is a programming error."""
    found = checks().get(check_id)
    if found is None:
        raise CatalogError(f"no check {check_id!r} in playbooks/remediation/")
    return found


@functools.cache
def services() -> ServiceFile:
    """The service catalog from ``probes/services.yml``."""
    doc = load_yaml(data_file("probes", "services.yml"), CatalogError)
    return validate(doc, ServiceFile, CatalogError)


@functools.cache
def service_by_port() -> dict[tuple[int, str], Service]:
    """Services indexed by (port, transport); the first listed service wins a shared port."""
    index: dict[tuple[int, str], Service] = {}
    for service in services().services:
        for port in service.ports:
            index.setdefault((port.port, port.transport), service)
    return index


@functools.cache
def _scope_file() -> ScopeFile:
    doc = load_yaml(data_file("probes", "scope.yml"), CatalogError)
    return validate(doc, ScopeFile, CatalogError)


def _with_env(listed: tuple[str, ...], variable: str) -> tuple[str, ...]:
    extra = [c.strip() for c in os.environ.get(variable, "").split(",") if c.strip()]
    try:
        return listed + tuple(str(ipaddress.ip_network(c)) for c in extra)
    except ValueError as exc:
        raise CatalogError(f"{variable}: {exc}") from None


@functools.cache
def global_deny() -> tuple[str, ...]:
    """The organisation-wide deny list: ``probes/scope.yml`` plus ``SENTINEL_GLOBAL_DENY``."""
    return _with_env(_scope_file().global_deny, "SENTINEL_GLOBAL_DENY")


def probe_scope() -> tuple[str, ...]:
    """Where a single named endpoint may be probed without a playbook (plus the environment)."""
    return _with_env(_scope_file().probe_authorised, "SENTINEL_PROBE_SCOPE")


def clear_caches() -> None:
    """Forget every loaded catalog (after the overlay folder or the environment changed)."""
    for loader in (checks, services, service_by_port, _scope_file, global_deny):
        loader.cache_clear()
