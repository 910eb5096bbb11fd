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
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from sentinel import scope_data
from sentinel.errors import CatalogError
from sentinel.model import Text
from sentinel.playbook import Zone
from sentinel.resources import data_file, data_files
from sentinel.severity import Severity
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
    # When nmap names the product, credentials are cleartext only if the product or extra
    # information contains one of these (e.g. SNMPv1/v2c communities, not an SNMPv3 engine).
    cleartext_products: tuple[str, ...] = ()
    management: bool = False
    high_risk: bool = False
    allowed_zones: tuple[Zone, ...] = ()
    # nmap -sV service names (nmap-services / probe names) that identify this service on any
    # port, so a database on a non-standard port is still recognised.
    nmap_names: tuple[str, ...] = ()


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


@functools.cache
def service_by_nmap_name() -> dict[str, Service]:
    """Services indexed by nmap's service name (lower case); the first listed wins."""
    index: dict[str, Service] = {}
    for service in services().services:
        for name in service.nmap_names:
            index.setdefault(name.lower(), service)
    return index


def identify_service(port: int, transport: str, nmap_name: str | None = None,
                     tunnel: str | None = None) -> Service | None:
    """The catalog service behind a port: nmap's name first (with ssl/ prefix when tunnelled
    over TLS), then the well-known port."""
    if nmap_name:
        names = [f"ssl/{nmap_name}", nmap_name] if tunnel == "ssl" else [nmap_name]
        for name in names:
            found = service_by_nmap_name().get(name.lower())
            if found is not None:
                return found
    return service_by_port().get((port, transport))


class Threshold(_Strict):
    value: float
    status: Literal["verified", "third-party", "unverified"]
    note: str = ""


THRESHOLD_NAMES = frozenset({"home_success_rate", "link2_ratio", "link3_ratio",
                             "perf_degradation", "consistency_size_ratio", "score_target"})
WEIGHT_NAMES = frozenset({"aaaa", "ns", "home", "consist", "link2", "link3", "perf"})


class Ipv6Policy(_Strict):
    """Thresholds and score weights of the V6-* checks (``probes/ipv6.yml``)."""

    thresholds: dict[str, Threshold]
    weights: dict[str, Annotated[float, Field(ge=0)]]
    perf_floor_ms: Annotated[float, Field(ge=0)] = 5.0

    @field_validator("thresholds")
    @classmethod
    def _threshold_names(cls, value: dict[str, Threshold]) -> dict[str, Threshold]:
        if set(value) != THRESHOLD_NAMES:
            raise ValueError(f"thresholds must be exactly: {', '.join(sorted(THRESHOLD_NAMES))}")
        return value

    @field_validator("weights")
    @classmethod
    def _weight_names(cls, value: dict[str, float]) -> dict[str, float]:
        if not set(value) <= WEIGHT_NAMES or not any(value.values()):
            raise ValueError(f"weights: some of {', '.join(sorted(WEIGHT_NAMES))}, not all 0")
        return value


@functools.cache
def ipv6_policy() -> Ipv6Policy:
    """The IPv6 readiness thresholds and weights from ``probes/ipv6.yml``."""
    doc = load_yaml(data_file("probes", "ipv6.yml"), CatalogError)
    return validate(doc, Ipv6Policy, CatalogError)


def scope_lists() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """``probes/scope.yml`` validated: (global_deny, probe_authorised)."""
    found = _scope_file()
    return found.global_deny, found.probe_authorised


global_deny = scope_data.global_deny
probe_scope = scope_data.probe_scope


def clear_caches() -> None:
    """Forget every loaded catalog (after the overlay folder or the environment changed)."""
    for loader in (checks, services, service_by_port, _scope_file):
        loader.cache_clear()
    scope_data.clear_cache()
