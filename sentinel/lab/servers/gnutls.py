"""gnutls-serv: the one real 3DES server (Debian's OpenSSL 3.0 is built without 3DES).

The GnuTLS priority string is built from the properties: 3DES-CBC and static RSA key
exchange added to NORMAL, and the TLS versions asked for.
"""

from __future__ import annotations

from sentinel.lab.manifest import Host, Service
from sentinel.lab.procs import spawn
from sentinel.lab.servers.base import ServerContext
from sentinel.lab.state import ProcessRecord

VERSIONS = {"TLSv1": "VERS-TLS1.0", "TLSv1.0": "VERS-TLS1.0", "TLSv1.1": "VERS-TLS1.1",
            "TLSv1.2": "VERS-TLS1.2", "TLSv1.3": "VERS-TLS1.3"}


def priority(service: Service) -> str:
    """The GnuTLS priority string for a service's properties."""
    props = service.properties
    parts = ["NORMAL", "-VERS-ALL"]
    parts += [f"+{VERSIONS[v]}" for v in props.tls_versions or ["TLSv1.2"]]
    if props.triple_des:
        parts.append("+3DES-CBC")
    if props.static_rsa:
        parts.append("+RSA")
    if props.cbc:
        parts.append("+SHA1")
    return ":".join(parts)


def start(ctx: ServerContext, host: Host, services: list[Service]) -> list[ProcessRecord]:
    """One gnutls-serv per service (it listens on every address of the namespace)."""
    records = []
    for service in services:
        pair = ctx.cert_for(host, service)
        argv = ["gnutls-serv", "--http", "--port", str(service.port),
                "--x509certfile", str(pair.cert), "--x509keyfile", str(pair.key),
                "--priority", priority(service)]
        records.append(spawn(ctx.paths, f"{host.id}-gnutls-{service.port}", host.namespace,
                             argv))
    return records
