"""dnsmasq as the authoritative server for the lab's zone.

Every host gets an A record when it has an IPv4 address and an AAAA record only when the
manifest says ``aaaa: true``, so some sites are reachable by name over IPv6 and others are
not. Each name server lists every other as a secondary, so the zone's NS set contains servers
with and without IPv6. No upstream servers: a name outside the zone is refused, never
forwarded out of the lab.
"""

from __future__ import annotations

from sentinel.lab.manifest import Host, Manifest, Service, ServiceKind
from sentinel.lab.procs import spawn
from sentinel.lab.servers.base import ServerContext, listen_addresses
from sentinel.lab.state import ProcessRecord


def name_servers(manifest: Manifest) -> list[Host]:
    """The hosts that run the zone's DNS service."""
    return [h for h in manifest.hosts
            if any(s.kind is ServiceKind.DNSMASQ for s in h.services)]


def host_records(manifest: Manifest) -> list[str]:
    """``host-record`` lines: A for every IPv4 host, AAAA only where published."""
    lines = []
    for host in manifest.hosts:
        addresses = [str(host.v4)] if host.v4 is not None else []
        if host.aaaa and host.v6 is not None:
            addresses.append(str(host.v6))
        if addresses:
            lines.append(f"host-record={host.hostname},{','.join(addresses)}")
    return lines


def start(ctx: ServerContext, host: Host, services: list[Service]) -> list[ProcessRecord]:
    """One dnsmasq per service, authoritative for the zone on the service's addresses."""
    manifest = ctx.manifest
    others = [h.hostname for h in name_servers(manifest) if h.id != host.id]
    records = []
    for service in services:
        addresses = listen_addresses(host, service)
        lines = ["no-resolv", "no-hosts", "no-poll", "bind-interfaces", "user=root",
                 f"port={service.port}", "log-queries", "log-facility=-",
                 *(f"listen-address={a}" for a in addresses),
                 f"auth-server={host.hostname},{','.join(addresses)}",
                 f"auth-zone={manifest.dns_zone}",
                 f"auth-soa=2025010101,hostmaster.{manifest.dns_zone}",
                 *host_records(manifest)]
        if others:
            lines.append(f"auth-sec-servers={','.join(others)}")
        conf = ctx.host_dir(host) / f"dnsmasq-{service.port}.conf"
        conf.write_text("\n".join(lines) + "\n", encoding="ascii")
        argv = ["dnsmasq", "--keep-in-foreground", f"--conf-file={conf}",
                f"--pid-file={ctx.host_dir(host) / 'dnsmasq.pid'}"]
        records.append(spawn(ctx.paths, f"{host.id}-dnsmasq-{service.port}", host.namespace,
                             argv))
    return records
