"""Tongsuo 8.5 (``tongsuo-openssl s_server``, built by ``lab/servers/build.sh``): TLCP (NTLS)
with an SM2 signing + encryption pair, alone or beside standard TLS on the same port.

The properties choose the server:

- ``cert_keys`` with an ``rsa`` key: the dual server of issue #17, an RSA certificate for TLS
  and the SM2 pair for TLCP (``-cert`` beside ``-sign_cert``/``-enc_cert``). It has no RSA
  sign/enc pair, so a TLCP hello that lists an RSA_SM4_* suite first makes it select that
  suite and then fail (ServerHello, empty Certificate, internal_error(80)):
  ``incomplete_suites`` names those suites, and they are enabled on purpose;
- otherwise TLCP only (``-enable_ntls`` with the SM2 pair; a TLS hello gets handshake_failure).

``suites`` and ``incomplete_suites`` become the exact cipher lists (``-cipher`` for TLCP and
TLS <= 1.2, ``-ciphersuites`` for TLS 1.3), so the server offers what is claimed and nothing
more; on the dual server the TLS versions that are not claimed are switched off (without a
TLS certificate there is no TLS to serve: a TLS hello gets handshake_failure(40)).
``s_server -accept`` binds one address (an IPv6 wildcard would be IPv6-only), so a service
on both families runs one process per address. Each process serves one connection at a
time; Sentinel's handshakes queue briefly behind each other.

Certificates come from ``lab/servers/tongsuo/gencerts.sh`` per host (its name and addresses
in the SAN), into the state dir; without a source checkout the build's generic set in the
cache dir is used.
"""

from __future__ import annotations

from pathlib import Path

from sentinel.catalog.tls import tls_registry
from sentinel.errors import LabError
from sentinel.lab.manifest import Host, Service
from sentinel.lab.procs import run, spawn
from sentinel.lab.servers.base import ServerContext, bracketed, listen_addresses
from sentinel.lab.servers.national import source_dir
from sentinel.lab.state import ProcessRecord

BINARY = "tongsuo-openssl"
ENV = {"OPENSSL_CONF": "/dev/null"}  # else it looks for /usr/local/ssl/openssl.cnf
# TLS versions s_server can switch off, by the manifest's names.
NO_VERSION = {"TLSv1.0": "-no_tls1", "TLSv1.1": "-no_tls1_1", "TLSv1.2": "-no_tls1_2",
              "TLSv1.3": "-no_tls1_3"}


def certificates(ctx: ServerContext, host: Host) -> Path:
    """The host's Tongsuo certificate set (SM2 CA, sign, enc; RSA CA, rsa), made once."""
    folder = ctx.paths.certs / f"tongsuo-{host.id}"
    if (folder / "rsa.key").exists():
        return folder
    source = source_dir()
    if source is None:
        return ctx.paths.cache / "certs" / "tongsuo"
    names = [host.hostname, *(str(a) for a in (host.v4, host.v6) if a is not None)]
    run(["bash", str(source / "tongsuo" / "gencerts.sh"),
         str(ctx.paths.cache / "bin" / BINARY), str(folder)],
        env={"SENTINEL_LAB_CN": host.hostname, "SENTINEL_LAB_SAN": ",".join(names)})
    return folder


def _openssl_names(names: list[str]) -> list[str]:
    """Manifest suite names (GB/T 38636 for TLCP, OpenSSL's for TLS) as Tongsuo spells them."""
    registry = tls_registry()
    out = []
    for name in names:
        suite = next((s for s in registry.data.suites
                      if name in (s.name, s.openssl, *s.aliases)), None)
        if suite is None or suite.openssl is None:
            raise LabError(f"tongsuo lab server: no OpenSSL name for suite {name}")
        out.append(suite.openssl)
    return out


def argv(bin_dir: Path, host: Host, service: Service, address: str, certs: Path) -> list[str]:
    """The ``s_server`` command line for one service on one address."""
    props = service.properties
    versions = set(props.tls_versions or [])
    tls13 = [s for s in props.suites or [] if s.startswith("TLS_")]
    others = _openssl_names([s for s in props.suites or [] if not s.startswith("TLS_")]
                            + list(props.incomplete_suites or []))
    line = [str(bin_dir / BINARY), "s_server", "-accept", f"{bracketed(address)}:{service.port}",
            "-enable_ntls", "-sign_cert", str(certs / "sign.crt"),
            "-sign_key", str(certs / "sign.key"), "-enc_cert", str(certs / "enc.crt"),
            "-enc_key", str(certs / "enc.key")]
    if others:
        line += ["-cipher", ":".join(others)]
    if any(k.startswith("rsa") for k in props.cert_keys or []):  # standard TLS as well
        line += ["-cert", str(certs / "rsa.crt"), "-key", str(certs / "rsa.key")]
        line += [flag for version, flag in NO_VERSION.items() if version not in versions]
        if tls13:
            line += ["-ciphersuites", ":".join(tls13)]
    return [*line, "-www", "-quiet"]


def start(ctx: ServerContext, host: Host, services: list[Service]) -> list[ProcessRecord]:
    """One ``s_server`` per service and address, with the host's certificates."""
    bin_dir = ctx.paths.cache / "bin"
    certs = certificates(ctx, host)
    return [spawn(ctx.paths, f"{host.id}-tongsuo-{service.port}-{index}", host.namespace,
                  argv(bin_dir, host, service, address, certs), env=ENV)
            for service in services
            for index, address in enumerate(listen_addresses(host, service))]
