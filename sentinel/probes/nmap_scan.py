"""Service scan with nmap -sV (python-nmap driving Debian's nmap), and nmap XML import.

The ``nmap`` probe kind runs once per address: the gate authorises the address and charges
the budget for the ports before nmap starts, and nmap gets exactly that one literal address,
``-n`` (no lookups leave the lab), ``-Pn`` (discovery is Sentinel's own phase) and timing
derived from the playbook's rate limits. TCP ports are scanned with ``-sT -sV``; then the
UDP ports (the catalog's SNMP, IPMI, TFTP, DNS, NetBIOS and IKE ports unless the playbook
lists others) with ``-sU -sV`` at a low version intensity, which needs root: without it the
UDP part is skipped and the facts say so. python-nmap drops the XML's ``tunnel="ssl"``, so the
XML nmap wrote is parsed here directly (:func:`parse_nmap_xml`), which is also how teams
import scans they already ran.
"""

from __future__ import annotations

import asyncio
import hashlib
import ipaddress
import os
import stat
import xml.etree.ElementTree as ET  # nmap XML; expat ≥ 2.4 caps entity expansion
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, ClassVar

import nmap

from sentinel.catalog.services import services
from sentinel.errors import ErrorReason, InputError, ProbeError, SourceLocation
from sentinel.playbook import NmapProbeConfig, Playbook, RateLimits
from sentinel.probes.base import Network, Planned, Target
from sentinel.probes.tcp import default_ports

NMAP_SERVICES = Path("/usr/share/nmap/nmap-services")
# An nmap XML file is read in pieces, parsed as it comes, and refused beyond these bounds.
MAX_XML_BYTES = 256 << 20
MAX_XML_DEPTH = 64  # nmap's own reports are about 5 levels deep
_CHUNK = 1 << 20


@dataclass(frozen=True)
class NmapPort:
    port: int
    protocol: str
    state: str
    name: str | None = None
    product: str | None = None
    version: str | None = None
    tunnel: str | None = None
    extrainfo: str | None = None

    def facts(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None}


@dataclass(frozen=True)
class NmapHost:
    address: str
    state: str
    ports: tuple[NmapPort, ...] = field(default=())


def _port(element: ET.Element) -> NmapPort | None:
    state = element.find("state")
    portid = element.get("portid", "")
    if state is None or not portid.isdigit():
        return None
    service = element.find("service")
    get = service.get if service is not None else (lambda _k: None)
    return NmapPort(int(portid), element.get("protocol", "tcp"), state.get("state", "unknown"),
                    get("name"), get("product"), get("version"), get("tunnel"),
                    get("extrainfo"))


def _host(element: ET.Element, index: int) -> NmapHost | None:
    """One ``<host>`` element (None: it has no IP address); a malformed address is an
    :class:`InputError` naming the host's position in the file."""
    address = next((a.get("addr") for a in element.findall("address")
                    if a.get("addrtype") in ("ipv4", "ipv6")), None)
    if address is None:
        return None
    try:
        canonical = str(ipaddress.ip_address(address))
    except ValueError:
        raise InputError(f"host {index}: address {address[:60]!r} is not an IP address") from None
    status = element.find("status")
    ports = tuple(p for p in (_port(e) for e in element.iter("port")) if p is not None)
    return NmapHost(canonical,
                    status.get("state", "unknown") if status is not None else "unknown", ports)


def iter_nmap_xml(chunks: Iterable[bytes | str]) -> Iterator[NmapHost]:
    """Hosts and ports of an nmap XML report fed in pieces, each host as soon as it ends.

    Bounded whatever the input: nesting deeper than ``MAX_XML_DEPTH`` is refused as it is
    read (an nmap report is 5 levels deep; 200,000 nested elements would otherwise build a
    tree as deep), and each ``<host>`` is dropped from the tree once read, so a large report
    costs the memory of one host at a time. Expat (≥ 2.4) caps entity expansion and does not
    fetch external entities. Malformed XML, another root or a bad address is an
    :class:`InputError`.
    """
    parser: ET.XMLPullParser[ET.Element] = ET.XMLPullParser(events=("start", "end"))
    stack: list[ET.Element] = []
    hosts = 0

    def events() -> Iterator[tuple[str, ET.Element]]:
        try:
            for chunk in chunks:
                parser.feed(chunk)
                yield from parser.read_events()  # type: ignore[misc]  # (event, element)
            parser.close()
            yield from parser.read_events()  # type: ignore[misc]
        except ET.ParseError as exc:
            raise InputError(f"not nmap XML: {exc}") from None

    for event, element in events():
        if event == "start":
            if not stack and element.tag != "nmaprun":
                raise InputError(f"not nmap XML: root element is <{element.tag[:40]}>, "
                                 "not <nmaprun>")
            stack.append(element)
            if len(stack) > MAX_XML_DEPTH:
                raise InputError(f"not nmap XML: elements nested more than {MAX_XML_DEPTH} "
                                 "levels deep")
            continue
        stack.pop()
        if element.tag == "host":
            hosts += 1
            host = _host(element, hosts)
            if stack:
                stack[-1].remove(element)  # read: keep no more than one host in memory
            if host is not None:
                yield host


def parse_nmap_xml(text: str | bytes) -> list[NmapHost]:
    """Hosts and ports of an nmap XML report; malformed XML is an :class:`InputError`."""
    return list(iter_nmap_xml([text]))


@dataclass(frozen=True)
class NmapReport:
    """An nmap XML file as read: its hosts by address (a later ``<host>`` for an address
    replaces an earlier one) and the SHA-256 of its bytes."""

    hosts: dict[str, NmapHost]
    sha256: str


def _open_regular(path: Path) -> BinaryIO:
    """Open a person's file for reading only if it is a regular file: the check is made on
    the open descriptor (O_NONBLOCK: opening a FIFO nobody writes to does not block), so
    nothing can be swapped in between, and a device is never read."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except OSError as exc:
        raise InputError(exc.strerror or type(exc).__name__, SourceLocation(str(path))) from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise InputError("not a regular file", SourceLocation(str(path)))
        if info.st_size > MAX_XML_BYTES:
            raise InputError(f"larger than {MAX_XML_BYTES >> 20} MiB; split the scan "
                             "(nmap -oX per subnet) and import each file",
                             SourceLocation(str(path)))
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def load_nmap_xml(path: Path) -> NmapReport:
    """Read and parse an nmap XML file given by a person: a regular file, at most
    ``MAX_XML_BYTES`` (checked before and while reading), parsed as it is read in bounded
    memory. Every error is an :class:`InputError` naming the file."""
    digest = hashlib.sha256()
    with _open_regular(path) as handle:

        def chunks() -> Iterator[bytes]:
            total = 0
            while chunk := handle.read(_CHUNK):
                total += len(chunk)
                if total > MAX_XML_BYTES:  # grew since it was opened
                    raise InputError(f"larger than {MAX_XML_BYTES >> 20} MiB")
                digest.update(chunk)
                yield chunk

        try:
            hosts = {host.address: host for host in iter_nmap_xml(chunks())}
        except InputError as exc:
            raise InputError(exc.message, SourceLocation(str(path))) from None
        except OSError as exc:
            raise InputError(f"cannot read: {exc.strerror or type(exc).__name__}",
                             SourceLocation(str(path))) from None
    return NmapReport(hosts, digest.hexdigest())


def top_tcp_ports(count: int, services_file: Path = NMAP_SERVICES) -> list[int]:
    """The ``count`` most frequent TCP ports from nmap's own frequency table."""
    if count <= 0:
        return []
    ranked: list[tuple[float, int]] = []
    for line in services_file.read_text(encoding="utf-8", errors="replace").splitlines():
        fields = line.split()
        if len(fields) < 3 or line.startswith("#") or not fields[1].endswith("/tcp"):
            continue
        try:
            ranked.append((float(fields[2]), int(fields[1].split("/")[0])))
        except ValueError:
            continue
    ranked.sort(reverse=True)
    return sorted({port for _, port in ranked[:count]})


def timing_arguments(rate: RateLimits) -> list[str]:
    """nmap timing from the playbook's budget: never faster than the gate would allow."""
    pps = rate.packets_per_second
    template = "-T4" if pps >= 1000 else "-T3" if pps >= 100 else "-T2"
    return [template, "--max-rate", f"{pps:g}",
            "--max-parallelism", str(rate.connections_per_host),
            "--max-retries", "1"]


def nmap_arguments(address: str, ports: list[int], rate: RateLimits,
                   config: NmapProbeConfig, *, udp: bool = False) -> list[str]:
    """The full argument list for one authorised address (without the target itself):
    a TCP connect scan, or with ``udp`` a UDP scan at the UDP version intensity."""
    family = ["-6"] if ipaddress.ip_address(address).version == 6 else []
    scan = ["-sU"] if udp else ["-sT"]
    intensity = config.udp_version_intensity if udp else config.version_intensity
    return [*family, "-n", "-Pn", *scan, "-sV", "--version-intensity", str(intensity),
            "-p", ",".join(map(str, ports)),
            *timing_arguments(rate), "--host-timeout", f"{int(config.budget_s)}s"]


def udp_scan_ports(config: NmapProbeConfig) -> tuple[int, ...]:
    """The playbook's UDP ports, else every UDP port of the service catalog."""
    if config.udp_ports is not None:
        return tuple(sorted(set(config.udp_ports)))
    return tuple(sorted({p.port for s in services().services for p in s.ports
                         if p.transport == "udp"}))


def _run_nmap(address: str, arguments: list[str]) -> bytes:
    """Blocking: python-nmap runs nmap; we keep nmap's own XML (python-nmap drops tunnel)."""
    scanner = nmap.PortScanner()
    try:
        scanner.scan(hosts=address, arguments=" ".join(arguments))
    except nmap.PortScannerError as exc:
        raise ProbeError(ErrorReason.INTERNAL, f"nmap: {str(exc)[:300]}") from None
    output = scanner.get_nmap_last_output()
    return output if isinstance(output, bytes) else str(output).encode()


@dataclass(frozen=True)
class NmapProbe:
    """The ``nmap`` probe kind: one -sV scan of one address over a fixed TCP port list, then
    its UDP ports (when any, and when running as root)."""

    ports: tuple[int, ...]
    rate: RateLimits
    config: NmapProbeConfig
    kind: ClassVar[str] = "nmap"
    transport: ClassVar[str] = "tcp"

    @property
    def udp_ports(self) -> tuple[int, ...]:
        return udp_scan_ports(self.config)

    @property
    def budget_s(self) -> float:
        runs = 2 if self.udp_ports else 1
        return runs * self.config.budget_s + 10

    async def _scan(self, address: str, ports: tuple[int, ...],
                    udp: bool) -> tuple[list[NmapHost], list[str]]:
        arguments = nmap_arguments(address, list(ports), self.rate, self.config, udp=udp)
        xml = await asyncio.to_thread(_run_nmap, address, arguments)
        try:
            hosts = [h for h in parse_nmap_xml(xml) if h.address == address]
        except InputError as exc:
            raise ProbeError(ErrorReason.PROTOCOL, exc.message) from None
        return hosts, arguments

    async def run(self, target: Target, network: Network) -> dict[str, Any]:
        address = target.endpoint.address
        udp = self.udp_ports if os.geteuid() == 0 else ()
        # Scope first, then pay for roughly one probe (and a retry) per port.
        await network.gate.packets(address, min((len(self.ports) + len(udp)) * 2, 10_000))
        found: list[NmapHost] = []
        facts: dict[str, Any] = {}
        for ports, is_udp in ((self.ports, False), (udp, True)):
            if ports:
                hosts, used = await self._scan(address, ports, is_udp)
                found += hosts
                facts["udp_arguments" if is_udp else "arguments"] = used
        states = {h.state for h in found}
        facts.update({
            "host_state": "up" if "up" in states else next(iter(states), "down"),
            "ports": [p.facts() for h in found for p in h.ports],
            "ports_scanned": len(self.ports) + len(udp),
        })
        if self.udp_ports and not udp:
            facts["udp_skipped"] = "nmap -sU needs root"
        return facts


def scan_ports(config: NmapProbeConfig, catalog_ports: list[int]) -> tuple[int, ...]:
    """Catalog ports, the configured extras and nmap's top N, as one sorted list."""
    top = top_tcp_ports(config.top_ports) if config.top_ports else []
    return tuple(sorted(set(catalog_ports) | set(config.extra_ports) | set(top)))


def planned(playbook: Playbook) -> Planned | None:
    """The ``nmap`` kind as the playbook configures it: one job per address, no ports in the
    plan (None: not selected)."""
    config = playbook.probes.nmap
    if config is None:
        return None
    ports = scan_ports(config, list(default_ports(playbook)))
    return Planned(NmapProbe(ports, playbook.rate, config), ())
