"""gnutls-serv: the one real 3DES server (Debian's OpenSSL 3.0 is built without 3DES).

The GnuTLS priority string is built from the properties. When the manifest lists the suites,
the priority starts from ``NONE`` and enables exactly their key exchanges, ciphers and MACs,
so the server offers the claimed set and nothing more (``NORMAL`` would add 18 others);
otherwise 3DES-CBC and static RSA key exchange are added to ``NORMAL``.
"""

from __future__ import annotations

from sentinel.errors import LabError
from sentinel.lab.manifest import Host, Service
from sentinel.lab.procs import spawn
from sentinel.lab.servers.base import ServerContext
from sentinel.lab.state import ProcessRecord

VERSIONS = {"TLSv1": "VERS-TLS1.0", "TLSv1.0": "VERS-TLS1.0", "TLSv1.1": "VERS-TLS1.1",
            "TLSv1.2": "VERS-TLS1.2", "TLSv1.3": "VERS-TLS1.3"}
# OpenSSL suite name -> GnuTLS (key exchange, cipher, MAC). Each triple enables exactly one
# suite as long as the listed suites share no other combination of these parts.
SUITE_PARTS = {
    "DES-CBC3-SHA": ("RSA", "3DES-CBC", "SHA1"),
    "AES128-SHA": ("RSA", "AES-128-CBC", "SHA1"),
    "AES256-SHA": ("RSA", "AES-256-CBC", "SHA1"),
    "AES128-GCM-SHA256": ("RSA", "AES-128-GCM", "AEAD"),
    "AES256-GCM-SHA384": ("RSA", "AES-256-GCM", "AEAD"),
    "ECDHE-RSA-AES128-SHA": ("ECDHE-RSA", "AES-128-CBC", "SHA1"),
    "ECDHE-RSA-AES256-SHA": ("ECDHE-RSA", "AES-256-CBC", "SHA1"),
    "ECDHE-RSA-AES128-GCM-SHA256": ("ECDHE-RSA", "AES-128-GCM", "AEAD"),
    "DHE-RSA-AES128-SHA": ("DHE-RSA", "AES-128-CBC", "SHA1"),
    "DHE-RSA-AES128-GCM-SHA256": ("DHE-RSA", "AES-128-GCM", "AEAD"),
}
COMMON = ["+COMP-NULL", "+SIGN-ALL", "+GROUP-ALL", "+CTYPE-X509"]


def _exact(suites: list[str]) -> list[str]:
    unknown = [s for s in suites if s not in SUITE_PARTS]
    if unknown:
        raise LabError(f"gnutls lab server: no GnuTLS mapping for suites {unknown}")
    parts: list[str] = []
    for triple in (SUITE_PARTS[s] for s in suites):
        parts += [f"+{p}" for p in triple if f"+{p}" not in parts]
    return parts


def priority(service: Service) -> str:
    """The GnuTLS priority string for a service's properties."""
    props = service.properties
    versions = [f"+{VERSIONS[v]}" for v in props.tls_versions or ["TLSv1.2"]]
    if props.suites:
        return ":".join(["NONE", *versions, *_exact(props.suites), *COMMON])
    parts = ["NORMAL", "-VERS-ALL", *versions]
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
