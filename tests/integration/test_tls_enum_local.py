"""The enumeration strategies against real servers started here, on 127.0.0.1 only.

Each server is configured with known versions, suites and groups; the enumerated sets must
equal the configured ones exactly (nothing missed, nothing invented).
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import subprocess
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from sentinel.probes.tls_enum import (
    Personality,
    Probe,
    TlsEnumeration,
    detect_personality,
    enumerate_tls,
)
from sentinel.probes.tls_exchange import Connect, Streams
from sentinel.probes.tls_keyshare import tls13_server_hello
from tests.support.loopback import free_port, running

OPENSSL = shutil.which("openssl") or "/usr/bin/openssl"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
LOOPBACK = "127.0.0.1"

# openssl and nginx come from Debian packages that `make test` installs.


def _cert(folder: Path, name: str, key_args: list[str]) -> tuple[Path, Path]:
    key, crt = folder / f"{name}.key", folder / f"{name}.crt"
    subprocess.run([OPENSSL, "req", "-x509", *key_args, "-nodes", "-keyout", str(key),
                    "-out", str(crt), "-days", "90", "-subj", "/CN=localhost"],
                   check=True, capture_output=True)
    return key, crt


@dataclass(frozen=True)
class Server:
    port: int
    certificates: tuple[bytes, ...]  # DER of the configured leaf certificates


def _der(path: Path) -> bytes:
    return x509.load_pem_x509_certificate(path.read_bytes()).public_bytes(Encoding.DER)


def _s_server(tmp: Path, *extra: str) -> tuple[list[str], int, Path]:
    key, crt = _cert(tmp, "rsa", ["-newkey", "rsa:2048"])
    port = free_port()
    command = [OPENSSL, "s_server", "-accept", f"{LOOPBACK}:{port}", "-cert", str(crt),
               "-key", str(key), "-quiet", "-naccept", "10000", *extra]
    return command, port, crt


@pytest.fixture
def openssl_server(tmp_path: Path) -> Iterator[Server]:
    """TLS 1.2 + 1.3 only, two TLS 1.2 suites, one TLS 1.3 suite, two groups, client order."""
    command, port, crt = _s_server(
        tmp_path, "-cipher", "ECDHE-RSA-AES128-GCM-SHA256:AES256-SHA",
        "-ciphersuites", "TLS_AES_128_GCM_SHA256", "-groups", "X25519:secp384r1",
        "-no_tls1", "-no_tls1_1")
    with running(command, port):
        yield Server(port, (_der(crt),))


@pytest.fixture
def openssl_server_pref(tmp_path: Path) -> Iterator[Server]:
    """Server-enforced order over three TLS 1.2 suites; TLS 1.3 off."""
    command, port, crt = _s_server(
        tmp_path, "-cipher", "AES256-SHA:ECDHE-RSA-AES256-GCM-SHA384:AES128-GCM-SHA256",
        "-serverpref", "-no_tls1_3", "-no_tls1", "-no_tls1_1")
    with running(command, port):
        yield Server(port, (_der(crt),))


NGINX_CONF = """
daemon off; worker_processes 1; pid {tmp}/nginx.pid; error_log {tmp}/error.log;
events {{ worker_connections 256; }}
http {{
  access_log off; client_body_temp_path {tmp}; proxy_temp_path {tmp};
  fastcgi_temp_path {tmp}; uwsgi_temp_path {tmp}; scgi_temp_path {tmp};
  server {{
    listen 127.0.0.1:{port} ssl;
    ssl_certificate {rsa_crt}; ssl_certificate_key {rsa_key};
    ssl_certificate {ec_crt}; ssl_certificate_key {ec_key};
    ssl_protocols TLSv1 TLSv1.1 TLSv1.2;
    ssl_ciphers ECDHE-ECDSA-AES256-SHA:ECDHE-RSA-AES128-SHA:AES128-SHA:@SECLEVEL=0;
    ssl_prefer_server_ciphers on;
    ssl_ecdh_curve prime256v1:secp521r1;
    location / {{ return 204; }}
  }}
}}
"""


@pytest.fixture
def nginx_server(tmp_path: Path) -> Iterator[Server]:
    """TLS 1.0-1.2 with an RSA and an ECDSA certificate and three suites, server order."""
    assert Path(NGINX).exists(), "nginx is missing: run `make deps`"
    rsa_key, rsa_crt = _cert(tmp_path, "rsa", ["-newkey", "rsa:2048"])
    ec_key, ec_crt = _cert(tmp_path, "ec", ["-newkey", "ec", "-pkeyopt",
                                            "ec_paramgen_curve:P-256"])
    port = free_port()
    conf = tmp_path / "nginx.conf"
    conf.write_text(NGINX_CONF.format(tmp=tmp_path, port=port, rsa_crt=rsa_crt, rsa_key=rsa_key,
                                      ec_crt=ec_crt, ec_key=ec_key))
    with running([NGINX, "-c", str(conf), "-p", str(tmp_path)], port):
        yield Server(port, (_der(rsa_crt), _der(ec_crt)))


def loopback(port: int) -> Connect:
    """A connect() factory for 127.0.0.1:port (the engine's scope gate is not in play)."""

    @contextlib.asynccontextmanager
    async def connect() -> AsyncIterator[Streams]:
        reader, writer = await asyncio.open_connection(LOOPBACK, port)
        try:
            yield reader, writer
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    return connect


def _accepted(result: TlsEnumeration, protocol: str) -> set[int]:
    return {a.code for a in result.accepted if a.protocol == protocol}


def _order(result: TlsEnumeration, protocol: str) -> tuple[int, ...] | None:
    return next(o.server_order for o in result.server_preference if o.protocol == protocol)


async def test_openssl_configured_sets_are_found_exactly(openssl_server: Server) -> None:
    result = await enumerate_tls(loopback(openssl_server.port), timeout=3.0)
    assert set(result.versions) == {"TLSv1.2", "TLSv1.3"}
    assert _accepted(result, "TLSv1.2") == {0xC02F, 0x0035}
    assert _accepted(result, "TLSv1.3") == {0x1301}
    assert {g.code for g in result.groups if g.protocol == "TLSv1.3"} == {29, 24}
    assert {g.code for g in result.groups if g.protocol == "TLSv1.2"} == {29, 24}
    assert _order(result, "TLSv1.2") is None  # s_server without -serverpref: client decides
    assert result.personality is Personality.TLS_ONLY
    assert [c.chain for c in result.certificates] == [openssl_server.certificates]
    assert not result.errors and not result.gotlcp_fingerprint
    assert result.connections_used < 40


async def test_openssl_server_preference_order(openssl_server_pref: Server) -> None:
    result = await enumerate_tls(loopback(openssl_server_pref.port), timeout=3.0)
    assert result.versions == ("TLSv1.2",)
    assert _order(result, "TLSv1.2") == (0x0035, 0xC030, 0x009C)


async def test_nginx_versions_suites_and_both_certificates(nginx_server: Server) -> None:
    result = await enumerate_tls(loopback(nginx_server.port), timeout=3.0)
    assert set(result.versions) == {"TLSv1.0", "TLSv1.1", "TLSv1.2"}
    for protocol in result.versions:
        assert _accepted(result, protocol) == {0xC00A, 0xC013, 0x002F}, protocol
        assert _order(result, protocol) == (0xC00A, 0xC013, 0x002F), protocol
    assert {g.code for g in result.groups} == {23, 25}
    assert {c.chain[0] for c in result.certificates} == set(nginx_server.certificates)


async def test_tlcp_hello_to_openssl_is_silently_dropped(openssl_server: Server) -> None:
    probe = Probe(loopback(openssl_server.port), timeout=2.0)
    assert await detect_personality(probe) is Personality.TLS_ONLY
    # TLCP with extensions, TLCP bare, the canary (silence: not bisected), TLS 1.3
    assert probe.connections == 4
    assert probe.rejected_abruptly == {}


async def test_tls13_hand_off_gives_transcript_and_keys(openssl_server: Server) -> None:
    start = await tls13_server_hello(loopback(openssl_server.port), suites=[0x1301],
                                     groups=[23, 24], share_groups=[23])
    assert start.hello_retry_request is not None  # we shared P-256, the server wants P-384
    assert start.server_hello.key_share is not None
    assert start.server_hello.key_share.group == 24 and 24 in start.private_keys
    assert len(start.transcript) == 4 and start.transcript[1][0] == 2
