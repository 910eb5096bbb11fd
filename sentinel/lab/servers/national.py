"""National-crypto and post-quantum TLS servers built from ``lab/servers`` (placeholder)."""

from __future__ import annotations

from sentinel.errors import LabError
from sentinel.lab.manifest import Host, Service
from sentinel.lab.servers.base import ServerContext
from sentinel.lab.state import ProcessRecord


def start(ctx: ServerContext, host: Host, services: list[Service]) -> list[ProcessRecord]:
    """Not yet integrated."""
    raise LabError(f"host {host.id}: national-crypto servers are not integrated yet")
