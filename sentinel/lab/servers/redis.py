"""Redis with no password and protected mode off: the unauthenticated database port."""

from __future__ import annotations

from sentinel.lab.manifest import Host, Service
from sentinel.lab.procs import spawn
from sentinel.lab.servers.base import ServerContext, listen_addresses
from sentinel.lab.state import ProcessRecord


def start(ctx: ServerContext, host: Host, services: list[Service]) -> list[ProcessRecord]:
    """One redis-server per service, persistence off, bound to the service's addresses."""
    records = []
    for service in services:
        folder = ctx.host_dir(host) / f"redis-{service.port}"
        folder.mkdir(parents=True, exist_ok=True)
        protected = "yes" if service.properties.auth_required else "no"
        argv = ["redis-server", "--port", str(service.port),
                "--bind", *listen_addresses(host, service), "--protected-mode", protected,
                "--save", "", "--appendonly", "no", "--daemonize", "no",
                "--dir", str(folder), "--logfile", ""]
        records.append(spawn(ctx.paths, f"{host.id}-redis-{service.port}", host.namespace,
                             argv))
    return records
