"""Read the certificate an `openssl s_server -tls1_3` on 127.0.0.1 sends encrypted.

This machine's OpenSSL 3.0 has no RFC 8998 suites or curveSM2 group in its TLS
stack, so the ShangMi handshake is checked against the Kona lab server instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from sentinel.wire.tls13_client import (
    ServerAlert,
    StreamPair,
    Tls13CertResult,
    read_tls13_certificates,
)

OPENSSL = shutil.which("openssl")
pytestmark = pytest.mark.skipif(OPENSSL is None, reason="openssl command not installed")

ALL_SUITES = "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256"
ALL_GROUPS = "X25519:P-256:P-384"
SCHEMES = [0x0403, 0x0503, 0x0804, 0x0805, 0x0807, 0x0708]
KEY_OPTIONS = {
    "ecdsa": ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"],
    "rsa": ["-newkey", "rsa:2048"],
    "ed25519": ["-newkey", "ed25519"],
}


@dataclass(frozen=True)
class LocalServer:
    port: int
    certificate_der: bytes


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_listening(port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("openssl s_server exited early")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise RuntimeError("openssl s_server did not start listening")


@contextlib.contextmanager
def _s_server(folder: Path, key_type: str, extra: list[str]) -> Iterator[LocalServer]:
    assert OPENSSL is not None
    key, cert = folder / f"{key_type}.key", folder / f"{key_type}.pem"
    subprocess.run(
        [
            *(OPENSSL, "req", "-x509", *KEY_OPTIONS[key_type], "-nodes", "-days", "1"),
            *("-subj", "/CN=localhost", "-keyout", str(key), "-out", str(cert)),
        ],
        check=True,
        capture_output=True,
    )
    port = _free_port()
    command = [OPENSSL, "s_server", "-quiet", "-accept", f"127.0.0.1:{port}"]
    command += ["-cert", str(cert), "-key", str(key), *extra]
    process = subprocess.Popen(
        command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        _wait_listening(port, process)
        der = x509.load_pem_x509_certificate(cert.read_bytes()).public_bytes(
            serialization.Encoding.DER
        )
        yield LocalServer(port, der)
    finally:
        process.terminate()
        process.wait(timeout=5)


@pytest.fixture(scope="module", params=sorted(KEY_OPTIONS))
def tls13_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LocalServer]:
    options = ["-tls1_3", "-ciphersuites", ALL_SUITES, "-groups", ALL_GROUPS]
    with _s_server(tmp_path_factory.mktemp("tls13"), request.param, options) as server:
        yield server


def _connector(port: int) -> contextlib.AbstractAsyncContextManager[StreamPair]:
    @contextlib.asynccontextmanager
    async def connect() -> AsyncIterator[StreamPair]:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            yield reader, writer
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    return connect()


async def _read(port: int, suites: list[int], groups: list[int]) -> Tls13CertResult:
    return await read_tls13_certificates(
        lambda: _connector(port),
        server_name="localhost",
        suites=suites,
        groups=groups,
        signature_schemes=SCHEMES,
        timeout=10,
    )


@pytest.mark.parametrize(
    "suite", [0x1301, 0x1302, 0x1303], ids=["aes128gcm", "aes256gcm", "chacha"]
)
@pytest.mark.parametrize("group", [29, 23], ids=["x25519", "secp256r1"])
async def test_reads_served_certificate(tls13_server: LocalServer, suite: int, group: int) -> None:
    result = await _read(tls13_server.port, [suite], [group])
    assert result.certificates == (tls13_server.certificate_der,)
    assert (result.cipher_suite, result.group) == (suite, group)
    assert result.signature_scheme in SCHEMES
    assert result.signature_valid is True
    assert result.finished_valid is True
    assert result.hello_retry is False


async def test_hello_retry_request_for_unsupported_first_group(tls13_server: LocalServer) -> None:
    # curveSM2 first: OpenSSL 3.0 does not know it and asks again for a group it supports.
    result = await _read(tls13_server.port, [0x1301], [41, 24])
    assert result.hello_retry is True
    assert result.group == 24
    assert result.certificates == (tls13_server.certificate_der,)
    assert result.signature_valid is True and result.finished_valid is True


async def test_no_common_suite_is_a_server_alert(tls13_server: LocalServer) -> None:
    with pytest.raises(ServerAlert) as caught:
        await _read(tls13_server.port, [0x00C6, 0x00C7], [29])
    assert caught.value.description == 40  # handshake_failure


async def test_tls12_only_server_refuses_with_protocol_version(tmp_path: Path) -> None:
    with (
        _s_server(tmp_path, "ecdsa", ["-tls1_2"]) as server,
        pytest.raises(ServerAlert) as caught,
    ):
        await _read(server.port, [0x1301], [29])
    assert caught.value.description == 70  # protocol_version
