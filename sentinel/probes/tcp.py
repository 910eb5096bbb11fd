"""TCP connect probe: is the port open, and what does the service say unprompted?

The first real probe kind; it exercises the whole path on IPv4 and IPv6. It sends nothing
but the handshake: a banner is only what the server volunteers within a short wait (SSH,
FTP, SMTP, telnet do), read with a hard size cap. The banner is the server's text and is
treated as hostile everywhere downstream.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from sentinel.catalog.services import service_by_port, services
from sentinel.errors import ErrorReason, ProbeError
from sentinel.probes.base import Network, Planned, Target

if TYPE_CHECKING:
    from sentinel.playbook import Playbook

BANNER_LIMIT = 512


@dataclass(frozen=True)
class TcpProbe:
    kind: ClassVar[str] = "tcp"
    transport: ClassVar[str] = "tcp"
    banner: bool = True
    banner_wait_s: float = 0.8
    budget_s: float = 0.0  # no more than the playbook's probe timeout

    async def run(self, target: Target, network: Network) -> dict[str, Any]:
        port = target.endpoint.port
        if port is None:
            raise ProbeError(ErrorReason.INTERNAL, "tcp probe needs a port")
        service = service_by_port().get((port, "tcp"))
        facts: dict[str, Any] = {"port": port, "service": service.id if service else None}
        loop = asyncio.get_running_loop()
        started = loop.time()
        try:
            async with network.tcp(target.endpoint.address, port) as (reader, _writer):
                facts["state"] = "open"
                facts["connect_ms"] = round((loop.time() - started) * 1000, 2)
                if self.banner:
                    facts["banner"] = await _read_banner(reader, self.banner_wait_s)
        except ProbeError as exc:
            if exc.reason is ErrorReason.REFUSED:
                facts["state"] = "closed"
            elif exc.reason is ErrorReason.TIMEOUT:
                facts["state"] = "filtered"
            else:
                raise
        return facts


async def _read_banner(reader: asyncio.StreamReader, wait: float) -> str | None:
    """What the server sends first, at most BANNER_LIMIT bytes, decoded without failing."""
    try:
        data = await asyncio.wait_for(reader.read(BANNER_LIMIT), wait)
    except (TimeoutError, ConnectionError, OSError):
        return None
    if not data:
        return None
    # Bytes that are not UTF-8 (telnet option negotiation, binary protocols) stay visible as
    # \xNN escapes rather than turning into replacement characters that hide what was sent.
    return data.decode("utf-8", errors="backslashreplace")


def default_ports(playbook: Playbook) -> tuple[int, ...]:
    """The playbook's TCP ports, else every TCP port of the service catalog."""
    config = playbook.probes.tcp
    if config is not None and config.ports:
        return tuple(sorted(set(config.ports)))
    return tuple(
        sorted({p.port for s in services().services for p in s.ports if p.transport == "tcp"})
    )


def planned(playbook: Playbook) -> Planned | None:
    """The ``tcp`` kind as the playbook configures it (None: not selected)."""
    config = playbook.probes.tcp
    if config is None:
        return None
    probe = TcpProbe(banner=config.banner, banner_wait_s=config.banner_wait_s)
    return Planned(probe, default_ports(playbook))
