"""A telnet service: inetutils telnetd under openbsd-inetd, with an inetd.conf of its own."""

from __future__ import annotations

from sentinel.lab.manifest import Host, Service
from sentinel.lab.procs import spawn
from sentinel.lab.servers.base import ServerContext, listen_addresses
from sentinel.lab.state import ProcessRecord


def start(ctx: ServerContext, host: Host, services: list[Service]) -> list[ProcessRecord]:
    """One inetd (not daemonised) serving telnetd on each service address."""
    lines = []
    for service in services:
        for address in listen_addresses(host, service):
            family = "tcp6" if ":" in address else "tcp"
            lines.append(f"{address}:{service.port} stream {family} nowait root "
                         "/usr/sbin/telnetd telnetd")
    conf = ctx.host_dir(host) / "inetd.conf"
    conf.write_text("\n".join(lines) + "\n", encoding="ascii")
    return [spawn(ctx.paths, f"{host.id}-inetd", host.namespace, ["inetd", "-i", str(conf)])]
