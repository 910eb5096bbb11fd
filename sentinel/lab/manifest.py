"""The lab manifest: what `sentinel lab up` builds, and what each piece was built to have.

The manifest is data (``manifest.yml`` ships in this package). Its model rejects unknown
fields, and cross-checks itself: every address sits inside its segment's prefix and the lab's
two ranges, host-level claims (``ipv6_only``, ``v6_extra_ports``, ``aaaa``) agree with the
addresses and services, and the derived interface names fit Linux's 15-character limit.
"""

from __future__ import annotations

import ipaddress
from enum import StrEnum
from importlib.resources import files
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from sentinel.errors import LabError

LAB_V4 = ipaddress.IPv4Network("198.18.0.0/15")
LAB_V6 = ipaddress.IPv6Network("2001:db8::/32")
ID_PATTERN = r"^[a-z][a-z0-9-]{0,11}$"  # short: namespace and veth names are built from ids


class Family(StrEnum):
    """An address family a service answers on."""

    IPV4 = "ipv4"
    IPV6 = "ipv6"


class Zone(StrEnum):
    """The kind of network a segment stands for."""

    EXTRANET = "extranet"
    CLOUD_TENANT = "cloud-tenant"
    INTERNET_FACING = "internet-facing"
    MANAGEMENT = "management"


class ServiceKind(StrEnum):
    """Which server program provides a service (one module per kind under servers/)."""

    NGINX = "nginx"
    GNUTLS = "gnutls"
    SSHD = "sshd"
    SNMPD = "snmpd"
    DNSMASQ = "dnsmasq"
    REDIS = "redis"
    VSFTPD = "vsftpd"
    TELNETD = "telnetd"
    GM_TLCP = "gm-tlcp"
    GM_TLS13 = "gm-tls13"
    GM_DUAL = "gm-dual"
    GO_PQ = "go-pq"
    TONGSUO = "tongsuo"
    GMSSL = "gmssl"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Properties(_Strict):
    """What a service was built to have; each present field is a claim the tests check."""

    tls_versions: list[str] | None = None
    suites: list[str] | None = None
    # Suites the server selects in its ServerHello and then cannot complete (it aborts).
    incomplete_suites: list[str] | None = None
    groups: list[str] | None = None
    signature_algorithms: list[str] | None = None
    forward_secrecy: bool | None = None
    aead_only: bool | None = None
    static_rsa: bool | None = None
    cbc: bool | None = None
    triple_des: bool | None = None
    cert_keys: list[str] | None = None
    cert_signature: str | None = None
    ssh_kex: list[str] | None = None
    ssh_ciphers: list[str] | None = None
    ssh_macs: list[str] | None = None
    ssh_host_keys: list[str] | None = None
    password_auth: bool | None = None
    snmp_versions: list[Literal["v1", "v2c", "v3"]] | None = None
    community: str | None = None
    v3_user: str | None = None
    v3_auth: str | None = None
    v3_auth_pass: str | None = None
    v3_priv: str | None = None
    v3_priv_pass: str | None = None
    v3_level: Literal["noAuthNoPriv", "authNoPriv", "authPriv"] | None = None
    ip_mib_ipv6: bool | None = None
    http_content: Literal["links", "login", "admin"] | None = None
    link_depth: int | None = Field(default=None, ge=1, le=5)
    links_to: list[str] | None = None
    cleartext_login: bool | None = None
    anonymous: bool | None = None
    auth_required: bool | None = None
    authoritative: bool | None = None


class Service(_Strict):
    """One listening service on one host."""

    id: str = Field(pattern=r"^[a-z][a-z0-9-]{0,31}$")
    kind: ServiceKind
    port: int = Field(ge=1, le=65535)
    proto: Literal["tcp", "udp"] = "tcp"
    families: list[Family] = Field(min_length=1)
    properties: Properties = Properties()


class Agency(_Strict):
    """A government body that owns segments."""

    id: str = Field(pattern=ID_PATTERN)
    name: str
    name_zh: str


class Segment(_Strict):
    """One L2 segment: a bridge in the core router, its gateway is the first address."""

    id: str = Field(pattern=r"^[a-z][a-z0-9]{0,7}$")
    agency: str
    zone: Zone
    v4: ipaddress.IPv4Network
    v6: ipaddress.IPv6Network | None = None
    ra: bool = False

    @model_validator(mode="after")
    def _in_lab_ranges(self) -> Segment:
        if not self.v4.subnet_of(LAB_V4):
            raise ValueError(f"segment {self.id}: {self.v4} is outside {LAB_V4}")
        if self.v6 is not None and not self.v6.subnet_of(LAB_V6):
            raise ValueError(f"segment {self.id}: {self.v6} is outside {LAB_V6}")
        if self.ra and self.v6 is None:
            raise ValueError(f"segment {self.id}: router advertisements need an IPv6 prefix")
        return self

    @property
    def gateway_v4(self) -> ipaddress.IPv4Address:
        """The core router's address on this segment."""
        return self.v4.network_address + 1

    @property
    def gateway_v6(self) -> ipaddress.IPv6Address | None:
        """The core router's IPv6 address on this segment, if it has a prefix."""
        return None if self.v6 is None else self.v6.network_address + 1


class Host(_Strict):
    """One host: its own network namespace, attached to one segment."""

    id: str = Field(pattern=ID_PATTERN)
    segment: str
    hostname: str = Field(pattern=r"^[a-z0-9.-]+$")
    v4: ipaddress.IPv4Address | None = None
    v6: ipaddress.IPv6Address | None = None
    aaaa: bool = False
    ipv6_only: bool = False
    accept_ra: bool = False
    v6_extra_ports: list[int] = []
    services: list[Service] = []

    @model_validator(mode="after")
    def _claims_match(self) -> Host:
        if self.ipv6_only != (self.v4 is None):
            raise ValueError(f"host {self.id}: ipv6_only must be true exactly when v4 is null")
        if self.aaaa and self.v6 is None:
            raise ValueError(f"host {self.id}: aaaa is true but the host has no IPv6 address")
        extra = sorted({s.port for s in self.services if s.families == [Family.IPV6]})
        if self.v4 is not None and sorted(self.v6_extra_ports) != extra:
            raise ValueError(f"host {self.id}: v6_extra_ports must list the IPv6-only ports "
                             f"{extra}")
        for service in self.services:
            if Family.IPV4 in service.families and self.v4 is None:
                raise ValueError(f"host {self.id}: {service.id} on IPv4 but no v4 address")
            if Family.IPV6 in service.families and self.v6 is None:
                raise ValueError(f"host {self.id}: {service.id} on IPv6 but no v6 address")
        return self

    @property
    def namespace(self) -> str:
        """The host's network namespace."""
        return f"sl-{self.id}"

    def addresses(self, family: Family) -> list[str]:
        """The host's configured address of one family, as a list (empty when absent)."""
        address = self.v4 if family is Family.IPV4 else self.v6
        return [] if address is None else [str(address)]


class Transit(_Strict):
    """The link from the scanner's (root) namespace to the core router."""

    v4: ipaddress.IPv4Network
    v6: ipaddress.IPv6Network

    @property
    def root_v4(self) -> ipaddress.IPv4Address:
        """The scanner side's IPv4 address."""
        return self.v4.network_address + 1

    @property
    def core_v4(self) -> ipaddress.IPv4Address:
        """The core side's IPv4 address (the scanner's next hop)."""
        return self.v4.network_address + 2

    @property
    def root_v6(self) -> ipaddress.IPv6Address:
        """The scanner side's IPv6 address."""
        return self.v6.network_address + 1

    @property
    def core_v6(self) -> ipaddress.IPv6Address:
        """The core side's IPv6 address."""
        return self.v6.network_address + 2


class Manifest(_Strict):
    """The whole lab."""

    version: Literal[1]
    dns_zone: str
    resolver: str
    transit: Transit
    agencies: list[Agency]
    segments: list[Segment] = Field(min_length=1)
    hosts: list[Host]

    @model_validator(mode="after")
    def _consistent(self) -> Manifest:
        _check_unique("agency", [a.id for a in self.agencies])
        _check_unique("segment", [s.id for s in self.segments])
        _check_unique("host", [h.id for h in self.hosts] + ["core"])
        agencies = {a.id for a in self.agencies}
        for segment in self.segments:
            if segment.agency not in agencies:
                raise ValueError(f"segment {segment.id}: unknown agency {segment.agency}")
        if not (self.transit.v4.subnet_of(LAB_V4) and self.transit.v6.subnet_of(LAB_V6)):
            raise ValueError("transit prefixes must be inside the lab ranges")
        used: list[str] = [str(self.transit.root_v4), str(self.transit.core_v4),
                           str(self.transit.root_v6), str(self.transit.core_v6)]
        for host in self.hosts:
            used += self._check_host(host)
        _check_unique("address", used)
        if self.resolver not in {h.id for h in self.hosts}:
            raise ValueError(f"resolver {self.resolver} is not a host")
        return self

    def _check_host(self, host: Host) -> list[str]:
        segment = self.segment(host.segment)
        if host.v4 is not None and host.v4 not in segment.v4:
            raise ValueError(f"host {host.id}: {host.v4} is not in {segment.v4}")
        if host.v6 is not None and (segment.v6 is None or host.v6 not in segment.v6):
            raise ValueError(f"host {host.id}: {host.v6} is not in segment {segment.id}'s prefix")
        if host.accept_ra and not segment.ra:
            raise ValueError(f"host {host.id}: accept_ra on a segment without RA")
        if not host.hostname.endswith("." + self.dns_zone):
            raise ValueError(f"host {host.id}: hostname must be in the .{self.dns_zone} zone")
        return [str(a) for a in (host.v4, host.v6) if a is not None]

    def segment(self, segment_id: str) -> Segment:
        """One segment by id."""
        for segment in self.segments:
            if segment.id == segment_id:
                return segment
        raise ValueError(f"unknown segment {segment_id}")

    def host(self, host_id: str) -> Host:
        """One host by id."""
        for host in self.hosts:
            if host.id == host_id:
                return host
        raise LabError(f"no host {host_id!r} in the lab manifest")


def _check_unique(what: str, values: list[str]) -> None:
    seen: set[str] = set()
    for value in values:
        if value in seen:
            raise ValueError(f"duplicate {what} {value}")
        seen.add(value)


class _UniqueKeyLoader(yaml.SafeLoader):
    """A SafeLoader that refuses duplicate mapping keys instead of keeping the last."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        keys: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in keys:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark)
            keys.add(key)
        return super().construct_mapping(node, deep=deep)


def manifest_text(path: Path | None = None) -> str:
    """The manifest's YAML text: a given file, or the one shipped in this package."""
    if path is None:
        return files("sentinel.lab").joinpath("manifest.yml").read_text(encoding="utf-8")
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise LabError(f"{path}: cannot read the lab manifest: {exc}") from exc


def parse_manifest(text: str, source: str = "manifest.yml") -> Manifest:
    """Validate manifest YAML; errors name the file and the field."""
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise LabError(f"{source}: not valid YAML: {exc}") from exc
    try:
        return Manifest.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        message = "unknown field" if first["type"] == "extra_forbidden" else first["msg"]
        raise LabError(f"{source}: {where}: {message}") from None


def load_manifest(path: Path | None = None) -> Manifest:
    """Load and validate the lab manifest (the shipped one unless a path is given)."""
    return parse_manifest(manifest_text(path), str(path or "sentinel/lab/manifest.yml"))
