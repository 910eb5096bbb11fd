"""Read the certificate an `openssl s_server -tls1_3` on 127.0.0.1 sends encrypted.

This machine's OpenSSL 3.0 has no RFC 8998 suites or curveSM2 group in its TLS
stack, so the ShangMi handshake is checked against the Kona lab server instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import secrets
import shutil
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from sentinel.crypto import sm2
from sentinel.errors import DecodeError, ProbeError
from sentinel.lab.state import CACHE_ENV, DEFAULT_CACHE
from sentinel.probes.tls13_client import (
    ServerAlert,
    StreamPair,
    Tls13CertResult,
    read_tls13_certificates,
)
from sentinel.wire._reader import Reader
from sentinel.wire.constants import ExtensionType, HandshakeType
from sentinel.wire.records import build_handshake
from sentinel.wire.tls13_keys import (
    SUITES,
    Tls13Suite,
    finished_verify_data,
    handshake_secrets,
    traffic_keys,
)
from sentinel.wire.tls13_record import RecordEncryptor
from sentinel.wire.tls13_verify import SM2SIG_SM3, certificate_verify_content
from tests.sm2_reference import reference_multiply
from tests.support.loopback import free_port, running

OPENSSL = shutil.which("openssl")
assert OPENSSL is not None, "openssl is missing: run `make deps`"

ALL_SUITES = "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256"
ALL_GROUPS = "X25519:P-256:P-384"
CURVE_SM2 = 41
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
    port = free_port()
    command = [OPENSSL, "s_server", "-quiet", "-accept", f"127.0.0.1:{port}"]
    command += ["-cert", str(cert), "-key", str(key), *extra]
    with running(command, port, timeout=10, stderr=subprocess.DEVNULL):
        der = x509.load_pem_x509_certificate(cert.read_bytes()).public_bytes(
            serialization.Encoding.DER
        )
        yield LocalServer(port, der)


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


# --- RFC 8998 (TLS_SM4_*_SM3, curveSM2, sm2sig_sm3) against a scripted loopback server ---
#
# Until the lab's SM-capable server is available, a minimal TLS 1.3 server on 127.0.0.1
# answers one ClientHello with a ShangMi flight. Its ECDH runs on textbook affine arithmetic
# (tests/sm2_reference.py) and its CertificateVerify is signed by `openssl pkeyutl`, so the
# client's curveSM2 and sm2sig_sm3 code meets independent implementations; record protection
# and the key schedule on the server side are Sentinel's own (pinned by RFC 8448 / RFC 8998).


@dataclass(frozen=True)
class Sm2Identity:
    key_file: Path
    certificate_der: bytes


@pytest.fixture(scope="module")
def sm2_identity(tmp_path_factory: pytest.TempPathFactory) -> Sm2Identity:
    assert OPENSSL is not None
    folder = tmp_path_factory.mktemp("sm2server")
    key, der = folder / "key.pem", folder / "cert.der"
    subprocess.run(
        [
            OPENSSL,
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:SM2",
            "-out",
            str(key),
        ],
        check=True,
        capture_output=True,
    )
    subprocess.run(
        [
            *(OPENSSL, "req", "-x509", "-key", str(key), "-sm3", "-subj", "/CN=sm2.localhost"),
            *("-days", "1", "-outform", "DER", "-out", str(der)),
        ],
        check=True,
        capture_output=True,
    )
    return Sm2Identity(key, der.read_bytes())


def _openssl_sm2_sign(key: Path, content: bytes, signer_id: str) -> bytes:
    assert OPENSSL is not None
    result = subprocess.run(
        [
            *(OPENSSL, "pkeyutl", "-sign", "-rawin", "-digest", "sm3", "-inkey", str(key)),
            *("-pkeyopt", f"distid:{signer_id}", "-in", "/dev/stdin"),
        ],
        input=content,
        check=True,
        capture_output=True,
    )
    return result.stdout


def _u24(value: int) -> bytes:
    return value.to_bytes(3, "big")


def _client_session_and_sm2_share(hello: bytes) -> tuple[bytes, bytes]:
    """(legacy_session_id, curveSM2 key_exchange) from a ClientHello handshake message."""
    cursor = Reader(hello[4:], "test-client-hello")
    cursor.raw(34, "legacy_version and random")
    session_id = cursor.vector(1, "legacy_session_id")
    cursor.vector(2, "cipher_suites")
    cursor.vector(1, "legacy_compression_methods")
    extensions = cursor.sub(2, "extensions")
    while extensions.remaining:
        ext_type, data = extensions.u16("type"), extensions.sub(2, "data")
        if ext_type == ExtensionType.KEY_SHARE:
            shares = data.sub(2, "client_shares")
            while shares.remaining:
                group, key = shares.u16("group"), shares.vector(2, "key_exchange")
                if group == CURVE_SM2:
                    return session_id, key
    raise AssertionError("ClientHello has no curveSM2 key share")


# The server's fixed ECDH key: the shared secret must not depend on a random draw.
SERVER_ECDH_PRIVATE = 0x3945208F7B2144B13F36E38AC6D39F95889393692860B51A42FB81EF4DF7C5B8


def _reference_ecdh(client_public: bytes) -> tuple[bytes, bytes]:
    """(server key_exchange, shared secret x) from textbook affine arithmetic in the test."""
    server_point = reference_multiply(SERVER_ECDH_PRIVATE, sm2.G)
    client_point = sm2.Point(
        int.from_bytes(client_public[1:33], "big"), int.from_bytes(client_public[33:65], "big")
    )
    shared_point = reference_multiply(SERVER_ECDH_PRIVATE, client_point)
    assert server_point is not None and shared_point is not None
    server_public = b"\x04" + server_point.x.to_bytes(32, "big")
    server_public += server_point.y.to_bytes(32, "big")
    return server_public, shared_point.x.to_bytes(32, "big")


def _extension(ext_type: int, payload: bytes) -> bytes:
    return ext_type.to_bytes(2, "big") + len(payload).to_bytes(2, "big") + payload


def _server_hello(suite: int, session_id: bytes, server_public: bytes) -> bytes:
    key_share = CURVE_SM2.to_bytes(2, "big") + len(server_public).to_bytes(2, "big")
    extensions = _extension(ExtensionType.SUPPORTED_VERSIONS, b"\x03\x04") + _extension(
        ExtensionType.KEY_SHARE, key_share + server_public
    )
    body = b"\x03\x03" + secrets.token_bytes(32) + bytes([len(session_id)]) + session_id
    body += suite.to_bytes(2, "big") + b"\x00" + len(extensions).to_bytes(2, "big") + extensions
    return build_handshake(HandshakeType.SERVER_HELLO, body)


def _shangmi_flight(
    suite: Tls13Suite, transcript: list[bytes], identity: Sm2Identity, signer_id: str
) -> list[bytes]:
    """EncryptedExtensions, Certificate, CertificateVerify (sm2sig_sm3) — plaintext."""
    encrypted_extensions = build_handshake(HandshakeType.ENCRYPTED_EXTENSIONS, b"\x00\x00")
    der = identity.certificate_der
    entry = _u24(len(der)) + der + b"\x00\x00"
    certificate = build_handshake(HandshakeType.CERTIFICATE, b"\x00" + _u24(len(entry)) + entry)
    content = certificate_verify_content(
        suite.transcript_hash(*transcript, encrypted_extensions, certificate)
    )
    signature = _openssl_sm2_sign(identity.key_file, content, signer_id)
    verify_body = SM2SIG_SM3.to_bytes(2, "big") + len(signature).to_bytes(2, "big") + signature
    certificate_verify = build_handshake(HandshakeType.CERTIFICATE_VERIFY, verify_body)
    return [encrypted_extensions, certificate, certificate_verify]


def _shangmi_handler(
    suite_code: int, identity: Sm2Identity, signer_id: str
) -> Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]:
    suite = SUITES[suite_code]

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        header = await reader.readexactly(5)
        hello = await reader.readexactly(int.from_bytes(header[3:], "big"))
        session_id, client_public = _client_session_and_sm2_share(hello)
        server_public, shared = _reference_ecdh(client_public)
        server_hello = _server_hello(suite_code, session_id, server_public)
        transcript = [hello, server_hello]
        secrets_ = handshake_secrets(suite, shared, suite.transcript_hash(*transcript))
        server_secret = secrets_.server_handshake_traffic_secret
        flight = _shangmi_flight(suite, transcript, identity, signer_id)
        through_verify = suite.transcript_hash(*transcript, *flight)
        finished_body = finished_verify_data(suite, server_secret, through_verify)
        flight.append(build_handshake(HandshakeType.FINISHED, finished_body))
        protector = RecordEncryptor(suite, traffic_keys(suite, server_secret))
        stream = b"".join(flight)
        cut = len(stream) - 40  # a record boundary inside CertificateVerify / Finished
        writer.write(b"\x16\x03\x03" + len(server_hello).to_bytes(2, "big") + server_hello)
        writer.write(b"\x14\x03\x03\x00\x01\x01")  # middlebox-compatibility CCS
        writer.write(protector.encrypt(22, stream[:cut], padding=11))
        writer.write(protector.encrypt(22, stream[cut:]))
        await writer.drain()
        await reader.read()  # until the client closes
        writer.close()

    return handle


@pytest.mark.parametrize("suite", [0x00C6, 0x00C7], ids=["sm4gcm", "sm4ccm"])
async def test_rfc8998_flight_from_loopback_server(sm2_identity: Sm2Identity, suite: int) -> None:
    handler = _shangmi_handler(suite, sm2_identity, "TLSv1.3+GM+Cipher+Suite")
    server = await asyncio.start_server(handler, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        result = await _read(port, [0x00C6, 0x00C7], [CURVE_SM2])
    assert result.certificates == (sm2_identity.certificate_der,)
    assert (result.cipher_suite, result.group, result.signature_scheme) == (suite, 41, 0x0708)
    assert result.signature_valid is True
    assert result.finished_valid is True


async def test_sm2_certificate_verify_with_default_id_is_invalid(sm2_identity: Sm2Identity) -> None:
    # RFC 8998 requires the TLS 1.3 ID; a server signing with the TLCP default ID fails.
    handler = _shangmi_handler(0x00C6, sm2_identity, "1234567812345678")
    server = await asyncio.start_server(handler, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        result = await _read(port, [0x00C6], [CURVE_SM2])
    assert result.signature_valid is False
    assert result.finished_valid is True


# --- RFC 8998 against the lab's BouncyCastle server (lab/servers/bcsm), when it is built ---

LAB_CACHE = Path(os.environ.get(CACHE_ENV) or DEFAULT_CACHE)  # where `make lab-servers` builds
BCSM_JAR = LAB_CACHE / "bin" / "bcsm-lab-server.jar"
JAVA = shutil.which("java")


def _sm2_ca_and_leaf(folder: Path) -> bytes:
    """ca.crt, tls.crt, tls.key (PKCS#8) with SM2 keys, as the bcsm server reads them."""
    assert OPENSSL is not None

    def run(*args: str) -> None:
        subprocess.run([OPENSSL, *args], check=True, capture_output=True, cwd=folder)

    for name in ("ca", "tls"):
        run(
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:SM2",
            "-out",
            f"{name}.key",
        )
    run("req", "-x509", "-key", "ca.key", "-sm3", "-subj", "/CN=sentinel-test-ca", "-out", "ca.crt")
    run("req", "-new", "-key", "tls.key", "-sm3", "-subj", "/CN=localhost", "-out", "tls.csr")
    run(
        *("x509", "-req", "-in", "tls.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-sm3"),
        *("-days", "1", "-out", "tls.crt"),
    )
    return x509.load_pem_x509_certificate((folder / "tls.crt").read_bytes()).public_bytes(
        serialization.Encoding.DER
    )


@pytest.fixture(scope="module")
def bcsm_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalServer]:
    assert JAVA is not None, "java is missing"
    assert BCSM_JAR.is_file(), f"bcsm lab server not built ({BCSM_JAR}): run `make lab-servers`"
    folder = tmp_path_factory.mktemp("bcsm")
    leaf = _sm2_ca_and_leaf(folder)
    port = free_port()
    command = [
        *(JAVA, "-jar", str(BCSM_JAR), "--mode", "tls13sm", "--bind", "127.0.0.1"),
        *("--port", str(port), "--certs", str(folder), "--ccm"),
    ]
    with running(command, port, timeout=10, stderr=subprocess.DEVNULL):
        yield LocalServer(port, leaf)


@pytest.mark.parametrize("suite", [0x00C6, 0x00C7], ids=["sm4gcm", "sm4ccm"])
async def test_rfc8998_bouncycastle_server(bcsm_server: LocalServer, suite: int) -> None:
    result = await _read(bcsm_server.port, [suite], [CURVE_SM2])
    assert result.certificates[0] == bcsm_server.certificate_der
    assert len(result.certificates) == 2  # leaf, then the CA
    assert (result.cipher_suite, result.group, result.signature_scheme) == (suite, 41, 0x0708)
    assert result.signature_valid is True
    assert result.finished_valid is True


async def test_rfc8998_bouncycastle_server_retries_for_curve_sm2(bcsm_server: LocalServer) -> None:
    result = await _read(bcsm_server.port, [0x00C6], [29, CURVE_SM2])
    assert result.hello_retry is True
    assert result.group == CURVE_SM2
    assert result.signature_valid is True and result.finished_valid is True


# --- What goes on the wire: the ClientHello records, pinned (issue 17 item 3) ---

HRR_COOKIE = b"sentinel-test-cookie"
Z = "00" * 32


def _hello_retry_request(session_id: bytes) -> bytes:
    """A HelloRetryRequest asking for secp256r1, with a cookie, as plain bytes."""
    extensions = bytes.fromhex("002b00020304003300020017")
    extensions += b"\x00\x2c" + (len(HRR_COOKIE) + 2).to_bytes(2, "big")
    extensions += len(HRR_COOKIE).to_bytes(2, "big") + HRR_COOKIE
    body = b"\x03\x03" + bytes.fromhex(
        "cf21ad74e59a6111be1d8c021e65b891c2a211167abb8c5e079e09e2c8a8339c"
    )
    body += bytes([len(session_id)]) + session_id + b"\x13\x01\x00"
    body += len(extensions).to_bytes(2, "big") + extensions
    message = b"\x02" + len(body).to_bytes(3, "big") + body
    return b"\x16\x03\x03" + len(message).to_bytes(2, "big") + message


async def _capture_client_hellos(server_name: str | None) -> list[bytes]:
    """Both ClientHello records read_tls13_certificates sends to a server that retries."""
    captured: list[bytes] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        for _ in range(2):
            header = await reader.readexactly(5)
            captured.append(header + await reader.readexactly(int.from_bytes(header[3:], "big")))
            if len(captured) == 1:
                writer.write(_hello_retry_request(captured[0][44:76]))
                await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        with pytest.raises(ProbeError):
            await read_tls13_certificates(
                lambda: _connector(port), server_name=server_name, suites=[0x1301, 0x1302],
                groups=[29, 23], signature_schemes=[0x0403, 0x0804], timeout=10)
    return captured


def _masked(record: bytes, share_at: int, share_len: int) -> bytes:
    """The record with its random, session id and key_exchange (all drawn per run) zeroed."""
    out = bytearray(record)
    for start, length in ((11, 32), (44, 32), (share_at, share_len)):
        out[start : start + length] = bytes(length)
    return bytes(out)


_SNI = "0000000e000c0000096c6f63616c686f7374"
_LISTS = "002b0003020304000a00060004001d0017000d0006000404030804002d00020101"
_COOKIE = "002c0016001473656e74696e656c2d746573742d636f6f6b6965"
# Masked records (random, session id, key_exchange zeroed): first hello with an x25519 share,
# second (after the HelloRetryRequest) with a secp256r1 share and the cookie echoed.
PINNED_HELLOS = {
    "localhost": (
        "16030100ae010000aa0303" + Z + "20" + Z + "000413011302010000" "5d" + _SNI + _LISTS
        + "003300260024001d0020" + Z,
        "16030100e9010000e50303" + Z + "20" + Z + "000413011302010000" "98" + _SNI + _LISTS
        + "0033004700450017004104" + "00" * 64 + _COOKIE,
    ),
    "127.0.0.1": (
        "160301009c010000980303" + Z + "20" + Z + "000413011302010000" "4b" + _LISTS
        + "003300260024001d0020" + Z,
        "16030100d7010000d30303" + Z + "20" + Z + "000413011302010000" "86" + _LISTS
        + "0033004700450017004104" + "00" * 64 + _COOKIE,
    ),
}


@pytest.mark.parametrize("server_name", sorted(PINNED_HELLOS), ids=["ip", "sni"])
async def test_client_hello_records_on_the_wire_are_pinned(server_name: str) -> None:
    first, second = await _capture_client_hellos(server_name)
    cookie_extension = 6 + len(HRR_COOKIE)
    expected_first, expected_second = PINNED_HELLOS[server_name]
    assert _masked(first, len(first) - 32, 32).hex() == expected_first
    assert second[len(second) - cookie_extension - 65] == 0x04  # an uncompressed P-256 point
    assert _masked(second, len(second) - cookie_extension - 64, 64).hex() == expected_second
    assert second[44:76] == first[44:76]  # the same legacy_session_id in both


# --- Hostile answers end in a DecodeError or ProbeError, never anything else, never a hang ---

_SH_RANDOM = bytes(range(32))


def _plain_server_hello(extensions: bytes, version_in_body: bytes = b"\x03\x03") -> bytes:
    body = version_in_body + _SH_RANDOM + b"\x00" + b"\x13\x01\x00"
    body += len(extensions).to_bytes(2, "big") + extensions
    message = b"\x02" + len(body).to_bytes(3, "big") + body
    return b"\x16\x03\x03" + len(message).to_bytes(2, "big") + message


HOSTILE_ANSWERS: dict[str, tuple[bytes, type[Exception], str]] = {
    "http": (b"HTTP/1.1 400 Bad Request\r\n\r\n", DecodeError, "unknown content type 72"),
    "tlcp-record": (bytes.fromhex("160101000402000000"), DecodeError, "0x0101 is not TLS"),
    "heartbeat-record": (bytes.fromhex("180303000100"), DecodeError, "content type 24"),
    "record-too-long": (bytes.fromhex("1603034101"), DecodeError, "exceeds 2^14+256"),
    "alert-of-three-bytes": (bytes.fromhex("1503030003022800"), DecodeError, "alert"),
    "alert": (bytes.fromhex("15030300020228"), ServerAlert, "alert 2/40"),
    "handshake-length-2^24": (bytes.fromhex("160303000402ffffff"), DecodeError, "exceeds"),
    "closed-mid-record": (bytes.fromhex("1603030010"), ProbeError, "closed"),
    "truncated-server-hello": (bytes.fromhex("1603030009020000050303000000"), DecodeError,
                               "server_hello"),
    "tls12-server-hello": (_plain_server_hello(b""), ProbeError, "did not negotiate TLS 1.3"),
    "empty-key-exchange": (_plain_server_hello(bytes.fromhex("002b000203040033000400170000")),
                           DecodeError, "key_exchange"),
    "duplicate-extension": (_plain_server_hello(bytes.fromhex("002b00020304002b00020304")),
                            DecodeError, "duplicate extension 43"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE_ANSWERS))
async def test_hostile_first_answer_is_a_clean_error(case: str) -> None:
    answer, expected, words = HOSTILE_ANSWERS[case]

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        header = await reader.readexactly(5)
        await reader.readexactly(int.from_bytes(header[3:], "big"))
        writer.write(answer)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        with pytest.raises(expected, match=re.escape(words)):
            await read_tls13_certificates(
                lambda: _connector(port), server_name="localhost", suites=[0x1301],
                groups=[29, 23], signature_schemes=[0x0403], timeout=10)
