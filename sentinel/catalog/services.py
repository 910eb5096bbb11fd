"""The service catalog (``probes/services.yml``): the network services Sentinel recognises, their
ports and nmap names, and how each zone should treat them."""

from __future__ import annotations

import functools
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from sentinel.catalog.resources import data_file
from sentinel.errors import CatalogError
from sentinel.model import Text
from sentinel.playbook import Zone
from sentinel.yamlio import load_yaml, validate


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


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


def clear_cache() -> None:
    """Forget the loaded catalog (after the overlay folder changed)."""
    for loader in (services, service_by_port, service_by_nmap_name):
        loader.cache_clear()
