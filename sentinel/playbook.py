"""Playbooks: what to scan, where, who owns it, how gently, and when.

The minimal playbook stays four lines (name, agencies, scope, segments); everything else has
a safe default. Loading is strict: unknown fields, duplicate keys, bad addresses and dangling
references are errors that name the file, line and field.
"""

from __future__ import annotations

import ipaddress
from datetime import datetime, time
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from sentinel.errors import PlaybookError, SourceLocation
from sentinel.model import Text
from sentinel.probe_options import SnmpProbeConfig, SshProbeConfig
from sentinel.scope import IPNetwork
from sentinel.yamlio import LocatedDocument, load_yaml

Zone = Literal["extranet", "cloud-tenant", "internet-facing", "management"]
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MAX_V4_EXPANSION = 4096
MAX_V4_DISCOVERY = 1 << 20  # a sweep is batched, so larger CIDRs are fine with discovery


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


def _network(value: object) -> IPNetwork:
    if not isinstance(value, str):
        raise ValueError("expected a CIDR string such as 198.18.1.0/24 or 2001:db8:1::/64")
    try:
        return ipaddress.ip_network(value, strict=True)
    except ValueError as exc:
        raise ValueError(f"not a CIDR network: {exc}") from None


def _address(value: object) -> str:
    if not isinstance(value, str):
        raise ValueError("expected an IP address string")
    try:
        return str(ipaddress.ip_address(value))
    except ValueError as exc:
        raise ValueError(f"not an IP address: {exc}") from None


class Contact(Strict):
    name: str
    role: str | None = None
    email: str | None = None
    phone: str | None = None


class Agency(Strict):
    id: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$")]
    name: Text
    contacts: tuple[Contact, ...] = ()


class Scope(Strict):
    authorised: tuple[str, ...]
    deny: tuple[str, ...] = ()

    @field_validator("authorised", "deny")
    @classmethod
    def _cidrs(cls, values: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(str(_network(v)) for v in values)

    @property
    def authorised_networks(self) -> tuple[IPNetwork, ...]:
        return tuple(ipaddress.ip_network(c) for c in self.authorised)

    @property
    def deny_networks(self) -> tuple[IPNetwork, ...]:
        return tuple(ipaddress.ip_network(c) for c in self.deny)


class Levels(Strict):
    """等保 (GB/T 22239) and 密评 (GB/T 39786) protection levels of a segment's systems."""

    dengbao: Annotated[int, Field(ge=1, le=5)] = 3
    mipin: Annotated[int, Field(ge=1, le=4)] = 3


class Egress(Strict):
    """Where a segment's traffic must leave this machine: an interface (the extranet VPN's
    tunnel, the lab's transit link), a next hop, or both. Before anything is sent, the kernel is
    asked for its route to the target; a route that leaves elsewhere is refused."""

    interface: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.:@-]{1,15}$")] | None = None
    via: str | None = None
    # A named network namespace (/run/netns/NAME) Sentinel must be running in: the segment is
    # reached only from there (a VRF-like namespace that holds the extranet tunnel).
    netns: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")] | None = None

    @field_validator("via")
    @classmethod
    def _via(cls, value: str | None) -> str | None:
        return None if value is None else _address(value)

    @model_validator(mode="after")
    def _something(self) -> Egress:
        if self.interface is None and self.via is None and self.netns is None:
            raise ValueError("egress needs an interface, a via (next hop) or a netns")
        return self


class Segment(Strict):
    id: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$")]
    agency: str
    name: Text | None = None
    cidrs: tuple[str, ...]
    zone: Zone
    tenant: str | None = None
    hosts: tuple[str, ...] = ()
    allowed_services: tuple[str, ...] = ()
    levels: Levels = Levels()
    egress: Egress | None = None

    @field_validator("cidrs")
    @classmethod
    def _cidrs(cls, values: tuple[str, ...]) -> tuple[str, ...]:
        if not values:
            raise ValueError("a segment needs at least one CIDR")
        return tuple(str(_network(v)) for v in values)

    @field_validator("hosts")
    @classmethod
    def _hosts(cls, values: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(_address(v) for v in values)

    @property
    def networks(self) -> tuple[IPNetwork, ...]:
        return tuple(ipaddress.ip_network(c) for c in self.cidrs)


class InventoryAsset(Strict):
    """A host known to the inventory, typically with both an IPv4 and an IPv6 address."""

    id: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$")]
    name: str | None = None
    addresses: tuple[str, ...]

    @field_validator("addresses")
    @classmethod
    def _addresses(cls, values: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(_address(v) for v in values)


class RateLimits(Strict):
    packets_per_second: Annotated[float, Field(gt=0, le=100_000)] = 200.0
    connections_per_host: Annotated[int, Field(ge=1, le=64)] = 4
    concurrent_hosts: Annotated[int, Field(ge=1, le=1024)] = 32
    host_delay_ms: Annotated[float, Field(ge=0, le=60_000)] = 0.0
    probe_timeout_s: Annotated[float, Field(gt=0, le=600)] = 5.0


class Window(Strict):
    """A time window in which scanning may run (end before start spans midnight)."""

    days: tuple[Weekday, ...] = WEEKDAYS
    start: time
    end: time
    tz: str = "Asia/Shanghai"

    @field_validator("tz")
    @classmethod
    def _tz(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value

    def contains(self, moment: datetime) -> bool:
        local = moment.astimezone(ZoneInfo(self.tz))
        clock, day = local.time(), WEEKDAYS[local.weekday()]
        if self.start <= self.end:
            return day in self.days and self.start <= clock < self.end
        # Spans midnight: the early-morning part belongs to the previous day's window.
        previous = WEEKDAYS[(local.weekday() - 1) % 7]
        return (day in self.days and clock >= self.start) or (
            previous in self.days and clock < self.end
        )


class TcpProbeConfig(Strict):
    ports: tuple[Annotated[int, Field(ge=1, le=65535)], ...] | None = None
    banner: bool = True
    banner_wait_s: Annotated[float, Field(ge=0, le=10)] = 0.8


DEFAULT_TLS_PORTS = (443, 8443, 4433, 10443, 4443)


class TlsProbeConfig(Strict):
    """TLS/TLCP enumeration: which ports, how long to wait, whether to send SNI."""

    ports: tuple[Annotated[int, Field(ge=1, le=65535)], ...] = DEFAULT_TLS_PORTS
    timeout_s: Annotated[float, Field(gt=0, le=60)] = 5.0
    # A full enumeration takes dozens of handshakes; it gets its own budget per port.
    budget_s: Annotated[float, Field(gt=0, le=600)] = 90.0
    sni: bool = True  # send the asset's name (inventory name) as server_name


class TlsWeaknessProbeConfig(Strict):
    """Renegotiation, compression, heartbeat and fallback SCSV: three unfinished hellos a port."""

    ports: tuple[Annotated[int, Field(ge=1, le=65535)], ...] = DEFAULT_TLS_PORTS
    timeout_s: Annotated[float, Field(gt=0, le=60)] = 5.0
    budget_s: Annotated[float, Field(gt=0, le=600)] = 20.0
    sni: bool = True


class NmapProbeConfig(Strict):
    """Service scan with nmap -sV: the catalog's ports plus the top N, timing from ``rate``."""

    top_ports: Annotated[int, Field(ge=0, le=65535)] = 100
    extra_ports: tuple[Annotated[int, Field(ge=1, le=65535)], ...] = ()
    version_intensity: Annotated[int, Field(ge=0, le=9)] = 2
    budget_s: Annotated[float, Field(gt=0, le=3600)] = 300.0
    # UDP (-sU, needs root): None means the catalog's UDP ports; an empty list turns it off.
    udp_ports: tuple[Annotated[int, Field(ge=1, le=65535)], ...] | None = None
    udp_version_intensity: Annotated[int, Field(ge=0, le=9)] = 0


DiscoveryMethod = Literal["icmp", "icmpv6", "syn"]


class DiscoveryProbeConfig(Strict):
    """Host discovery before probing: which sweeps run from the scanner, and how long to wait.

    IPv4 CIDRs are swept address by address (ICMP echo, then TCP SYN to ``syn_ports`` for
    the silent ones); IPv6 is swept only over known addresses (listed hosts, inventory), as a
    /64 cannot be enumerated. Only the hosts that answer are planned for the other probes.
    """

    methods: tuple[DiscoveryMethod, ...] = ("icmp", "icmpv6", "syn")
    syn_ports: tuple[Annotated[int, Field(ge=1, le=65535)], ...] = (80, 443, 22)
    timeout_s: Annotated[float, Field(gt=0, le=30)] = 2.0
    batch: Annotated[int, Field(ge=1, le=65536)] = 1024  # addresses in flight per sweep
    # Rounds more for the addresses still silent (a lost probe is not a down host).
    retries: Annotated[int, Field(ge=0, le=3)] = 1


class WebProbeConfig(Strict):
    """Site checks over IPv4 and IPv6: repeated homepage probes and a bounded crawl."""

    home_probes: Annotated[int, Field(ge=1, le=100)] = 5
    crawl_depth: Annotated[int, Field(ge=1, le=3)] = 3
    max_pages: Annotated[int, Field(ge=1, le=1000)] = 60
    max_bytes: Annotated[int, Field(ge=1024, le=50_000_000)] = 2_000_000
    max_seconds: Annotated[float, Field(gt=0, le=600)] = 60.0
    timeout_s: Annotated[float, Field(gt=0, le=60)] = 5.0


class Site(Strict):
    """An agency's web site (or any published name) judged for IPv6 readiness (V6-*)."""

    agency: str
    hostname: Annotated[str, Field(pattern=r"^[A-Za-z0-9]([A-Za-z0-9.-]{0,252})$")]
    url: Annotated[str, Field(pattern=r"^https?://")] | None = None
    # Links to these domains (and their subdomains) count as the site's internal links.
    internal_domains: tuple[str, ...] = ()


CloudProvider = Literal["openstack", "tencentcloud"]


class Tenant(Strict):
    """A government-cloud tenant: which agency owns the provider's project (tenant) id."""

    id: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,56}$")]
    agency: str
    provider: CloudProvider
    project: Annotated[str, Field(min_length=1, max_length=255)]


class ProbeSelection(Strict):
    """Which probe kinds run, with their options; a kind left out does not run."""

    discovery: DiscoveryProbeConfig | None = None
    tcp: TcpProbeConfig | None = TcpProbeConfig()
    tls: TlsProbeConfig | None = None
    nmap: NmapProbeConfig | None = None
    web: WebProbeConfig = WebProbeConfig()
    ssh: SshProbeConfig | None = None
    snmp: SnmpProbeConfig | None = None
    tls_weakness: TlsWeaknessProbeConfig | None = None


MARKING_MAX = 40  # characters of a classification marking (内部, 工作秘密 ...)


class ReportOptions(Strict):
    """How reports are printed: ``marking`` is the classification marking shown at the top and
    the bottom of every page (for example 内部 or 工作秘密); none by default."""

    marking: Annotated[str, Field(min_length=1, max_length=MARKING_MAX)] | None = None


class Playbook(Strict):
    name: str
    description: str | None = None
    agencies: tuple[Agency, ...]
    scope: Scope
    segments: tuple[Segment, ...]
    assets: tuple[InventoryAsset, ...] = ()
    rate: RateLimits = RateLimits()
    windows: tuple[Window, ...] = ()
    probes: ProbeSelection = ProbeSelection()
    sites: tuple[Site, ...] = ()
    resolvers: tuple[str, ...] = ()  # DNS servers Sentinel asks (never the system resolver)
    tenants: tuple[Tenant, ...] = ()  # cloud projects → agencies (sentinel cloud ...)
    report: ReportOptions = ReportOptions()  # printing options (the classification marking)

    @model_validator(mode="after")
    def _references(self) -> Playbook:
        # Every dangling reference is collected, so a person fixes them all in one go.
        problems: list[_Dangling] = []
        agency_ids = [a.id for a in self.agencies]
        problems += _unique("agencies", agency_ids)
        problems += _unique("segments", [s.id for s in self.segments])
        problems += _unique("assets", [a.id for a in self.assets])
        for index, site in enumerate(self.sites):
            if site.agency not in agency_ids:
                problems.append(
                    _Dangling(("sites", index, "agency"), f"unknown agency {site.agency!r}"))
        problems += _unique("tenants", [t.id for t in self.tenants])
        seen_projects: set[tuple[str, str]] = set()
        for index, tenant in enumerate(self.tenants):
            if tenant.agency not in agency_ids:
                problems.append(_Dangling(("tenants", index, "agency"),
                                          f"unknown agency {tenant.agency!r}"))
            if (tenant.provider, tenant.project) in seen_projects:
                problems.append(_Dangling(("tenants", index, "project"),
                                          f"project {tenant.project!r} is mapped twice"))
            seen_projects.add((tenant.provider, tenant.project))
        for index, resolver in enumerate(self.resolvers):
            try:
                ipaddress.ip_address(resolver)
            except ValueError:
                problems.append(_Dangling(("resolvers", index), "a resolver is an IP address"))
        problems += self._segment_problems(agency_ids)
        if problems:
            raise _Danglings(problems)
        return self

    def _segment_problems(self, agency_ids: list[str]) -> list[_Dangling]:
        problems: list[_Dangling] = []
        for index, segment in enumerate(self.segments):
            if segment.agency not in agency_ids:
                problems.append(_Dangling(
                    ("segments", index, "agency"),
                    f"unknown agency {segment.agency!r} (known: {', '.join(agency_ids)})",
                ))
            for host in segment.hosts:
                if not any(ipaddress.ip_address(host) in n for n in segment.networks):
                    problems.append(_Dangling(
                        ("segments", index, "hosts"),
                        f"host {host} is not inside the segment's CIDRs",
                    ))
            v4_size = sum(n.num_addresses for n in segment.networks if n.version == 4)
            limit = MAX_V4_DISCOVERY if self.probes.discovery else MAX_V4_EXPANSION
            if v4_size > limit and not segment.hosts:
                problems.append(_Dangling(
                    ("segments", index, "cidrs"),
                    f"{v4_size} IPv4 addresses is too many to sweep (limit {limit}); "
                    f"list 'hosts', use smaller CIDRs or enable probes.discovery",
                ))
        return problems

    def agency(self, agency_id: str) -> Agency:
        return next(a for a in self.agencies if a.id == agency_id)


class _Dangling(ValueError):
    """A cross-reference error that knows which field it belongs to."""

    def __init__(self, path: tuple[str | int, ...], message: str) -> None:
        super().__init__(message)
        self.path = path


class _Danglings(ValueError):
    """Every cross-reference error of a playbook, raised together."""

    def __init__(self, problems: list[_Dangling]) -> None:
        super().__init__("; ".join(str(p) for p in problems))
        self.problems = problems


def _unique(what: str, ids: list[str]) -> list[_Dangling]:
    seen: set[str] = set()
    out = []
    for index, item in enumerate(ids):
        if item in seen:
            out.append(_Dangling((what, index, "id"), f"duplicate id {item!r}"))
        seen.add(item)
    return out


class PlaybookErrors(PlaybookError):
    """Every error of one playbook at once (a person fixes them in one go, not one a run).
    ``location`` and ``message`` are the first's (by line); the message lists the others on
    lines of their own, each with its file, line and field."""

    def __init__(self, problems: list[tuple[SourceLocation, str]]) -> None:
        self.problems = problems
        (where, first), rest = problems[0], problems[1:]
        more = "".join(f"\n{loc}: {message}" for loc, message in rest)
        count = f" ({len(problems)} errors)" if rest else ""
        super().__init__(f"{first}{count}{more}", where)


def _problems(doc: LocatedDocument, error: ValidationError) -> list[tuple[SourceLocation, str]]:
    """Each of pydantic's errors (and each collected cross-reference error) located and worded
    as :func:`sentinel.yamlio.validate` words the first."""
    out: list[tuple[SourceLocation, str]] = []
    for item in error.errors(include_url=False):
        loc: tuple[str | int, ...] = tuple(item["loc"])
        cause = item.get("ctx", {}).get("error")
        if isinstance(cause, _Danglings):
            out.extend(_located(doc, (*loc, *p.path), str(p)) for p in cause.problems)
            continue
        message = item["msg"]
        cause_path = getattr(cause, "path", None)
        if isinstance(cause, Exception) and isinstance(cause_path, tuple):
            loc, message = (*loc, *cause_path), str(cause)
        if item["type"] == "extra_forbidden":
            message = f"unknown field {loc[-1]!r}"
        elif item["type"] == "missing":
            message = f"missing required field {loc[-1]!r}"
        else:
            given = item.get("input")
            if isinstance(given, str | int | float) and not isinstance(given, bool):
                message = f"{message} (got {given!r})"
        out.append(_located(doc, loc, message))
    return sorted(out, key=lambda p: (p[0].line or 0, p[0].column or 0))


def _located(doc: LocatedDocument, loc: tuple[str | int, ...],
             message: str) -> tuple[SourceLocation, str]:
    return doc.locate(loc, ".".join(str(p) for p in loc) or None), message


def load_playbook(source: Path | Traversable, text: str | None = None) -> Playbook:
    """Load and validate a playbook; every error names the file, line and field."""
    doc = load_yaml(source, PlaybookError, text=text)
    if not isinstance(doc.data, dict):
        raise PlaybookError(
            "a playbook is a YAML mapping with name, agencies, scope, segments", doc.locate(())
        )
    try:
        return Playbook.model_validate(doc.data)
    except ValidationError as exc:
        raise PlaybookErrors(_problems(doc, exc)) from None
