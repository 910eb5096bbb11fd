"""TLS weaknesses found on real servers on 127.0.0.1 that have them, and not on those without.

The servers, each started here on a free loopback port with one fixed ECDSA P-256 key:

- gnutls-serv (Debian gnutls-bin 3.7) with ``NORMAL:%DISABLE_SAFE_RENEGOTIATION`` and
  ``--heartbeat``: no renegotiation_info (RFC 5746) and the heartbeat extension (RFC 6520);
- gnutls-serv with ``NORMAL``: none of the four weaknesses (it honours TLS_FALLBACK_SCSV);
- Tongsuo 8.5 built with zlib (``lab/servers/tongsuo/build.sh``, variant ``zlib``),
  ``s_server -comp`` at security level 1 (OpenSSL refuses compression from level 2): DEFLATE
  compression (CRIME);
  the same binary without ``-comp`` as its control;
- rustls 0.23 (``lab/servers/rustls``, built by ``lab/servers/build.sh``): rustls implements no
  TLS_FALLBACK_SCSV, so it answers a TLS 1.2 hello carrying 0x5600 with a ServerHello (its
  random carries TLS 1.3's downgrade marker).

Then hostile peers written here (garbage, an endless record, a ServerHello whose extensions lie
about their length): the probe ends within its deadlines with facts or a ProbeError.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import os
import shutil
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from sentinel.assess.base import AssetView
from sentinel.assess.tls_weakness import assess_tls_weakness
from sentinel.errors import ProbeError
from sentinel.lab.state import CACHE_ENV, DEFAULT_CACHE
from sentinel.model import (
    Asset,
    AttemptStatus,
    Context,
    Endpoint,
    Evaluation,
    Finding,
    Observation,
)
from sentinel.playbook import RateLimits, Segment
from sentinel.probes.base import Network, Target
from sentinel.probes.tls_weakness import TlsWeaknessProbe
from sentinel.scope import Gate, policy_from
from sentinel.severity import Severity
from tests.support.loopback import free_port, started

LAB_BIN = Path(os.environ.get(CACHE_ENV) or DEFAULT_CACHE) / "bin"
TONGSUO_ZLIB = LAB_BIN / "tongsuo-openssl-zlib"
RUSTLS = LAB_BIN / "rustls-lab"
GNUTLS = shutil.which("gnutls-serv")
KEY_SCALAR = 0x5E4714E1  # the servers' fixed P-256 key
CHECKS = ("TLS-RENEG-INSECURE", "TLS-COMPRESSION", "TLS-HEARTBEAT", "TLS-FALLBACK-SCSV")


@pytest.fixture(scope="module")
def credentials(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed P-256 certificate for localhost from a fixed scalar and fixed dates."""
    folder = tmp_path_factory.mktemp("tls-weakness")
    key = ec.derive_private_key(KEY_SCALAR, ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(1)
            .not_valid_before(datetime.datetime(2026, 1, 1))
            .not_valid_after(datetime.datetime(2036, 1, 1))
            .sign(key, hashes.SHA256()))
    key_path, cert_path = folder / "key.pem", folder / "cert.pem"
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return cert_path, key_path


def gnutls(cert: Path, key: Path, priority: str, *extra: str) -> Callable[[int], list[str]]:
    assert GNUTLS is not None, "gnutls-serv is missing: make deps (gnutls-bin)"
    return lambda port: [GNUTLS, "--port", str(port), "--x509certfile", str(cert),
                         "--x509keyfile", str(key), "--priority", priority, "--quiet", *extra]


def tongsuo(cert: Path, key: Path, *extra: str) -> Callable[[int], list[str]]:
    assert TONGSUO_ZLIB.exists(), f"{TONGSUO_ZLIB} missing: run lab/servers/build.sh"
    return lambda port: [str(TONGSUO_ZLIB), "s_server", "-accept", f"127.0.0.1:{port}",
                         "-cert", str(cert), "-key", str(key), "-quiet", *extra]


def rustls(cert: Path, key: Path) -> Callable[[int], list[str]]:
    assert RUSTLS.exists(), f"{RUSTLS} missing: run lab/servers/build.sh"
    return lambda port: [str(RUSTLS), f"127.0.0.1:{port}", str(cert), str(key)]


def _network() -> Network:
    return Network(Gate(policy_from(["127.0.0.1/32"]), RateLimits()), 2.0)


def _target(port: int) -> Target:
    context = Context(scan_id="s1", agency_id="a", segment_id="seg")
    segment = Segment(id="seg", agency="a", cidrs=("127.0.0.0/8",), zone="extranet")
    return Target(Endpoint(address="127.0.0.1", port=port, transport="tcp"),
                  Asset(id="localhost", name="localhost"), context, segment, "localhost")


def scan(port: int) -> tuple[dict[str, Any], dict[str, Finding]]:
    """Run the probe against the port and judge its facts: (facts, findings by check id)."""
    target = _target(port)
    started = datetime.datetime.now(datetime.UTC)
    facts = asyncio.run(TlsWeaknessProbe(timeout=3.0).run(target, _network()))
    observation = Observation(probe="tls_weakness", context=target.context, asset=target.asset,
                              endpoint=target.endpoint, status=AttemptStatus.COMPLETED,
                              facts=facts, started=started)
    view = AssetView(target.asset, target.context, target.segment, [observation])
    return facts, {f.check_id: f for f in assess_tls_weakness(view)}


def failed(findings: dict[str, Finding]) -> set[str]:
    return {c for c, f in findings.items() if f.evaluation is Evaluation.FAILED}


def test_gnutls_without_safe_renegotiation_and_with_heartbeat(
        credentials: tuple[Path, Path]) -> None:
    with started(gnutls(*credentials, "NORMAL:%DISABLE_SAFE_RENEGOTIATION", "--heartbeat")) as port:
        facts, findings = scan(port)
    assert set(findings) == set(CHECKS)
    assert failed(findings) == {"TLS-RENEG-INSECURE", "TLS-HEARTBEAT"}
    assert facts["legacy"]["heartbeat"] == {"mode": 1}
    assert findings["TLS-RENEG-INSECURE"].severity is Severity.MEDIUM
    assert findings["TLS-FALLBACK-SCSV"].evidence["verdict"] == "honoured"


def test_gnutls_default_has_none_of_them(credentials: tuple[Path, Path]) -> None:
    with started(gnutls(*credentials, "NORMAL")) as port:
        facts, findings = scan(port)
    assert set(findings) == set(CHECKS)
    assert failed(findings) == set()
    assert facts["best_version"] == "TLSv1.3"
    assert facts["fallback"]["offered"] == "TLSv1.2"
    assert facts["fallback"]["alert"]["description"] == 86  # inappropriate_fallback


def test_tongsuo_with_compression_is_crime_prone(credentials: tuple[Path, Path]) -> None:
    with started(tongsuo(*credentials, "-comp", "-cipher", "DEFAULT:@SECLEVEL=1")) as port:
        facts, findings = scan(port)
    assert failed(findings) == {"TLS-COMPRESSION"}
    assert facts["legacy"]["compression_method"] == 1  # DEFLATE
    assert findings["TLS-COMPRESSION"].severity is Severity.HIGH


def test_the_same_tongsuo_without_comp_does_not_compress(credentials: tuple[Path, Path]) -> None:
    with started(tongsuo(*credentials, "-cipher", "DEFAULT:@SECLEVEL=1")) as port:
        facts, findings = scan(port)
    assert failed(findings) == set()
    assert facts["legacy"]["compression_method"] == 0


def test_rustls_accepts_a_signalled_fallback(credentials: tuple[Path, Path]) -> None:
    with started(rustls(*credentials)) as port:
        facts, findings = scan(port)
    assert failed(findings) == {"TLS-FALLBACK-SCSV"}
    assert facts["fallback"]["verdict"] == "accepted"
    assert facts["fallback"]["version"] == "TLSv1.2"
    # TLS 1.3's downgrade marker still warns clients that know TLS 1.3: low, not medium.
    assert facts["fallback"]["downgrade_marker"] is True
    assert findings["TLS-FALLBACK-SCSV"].severity is Severity.LOW


def test_without_the_downgrade_marker_an_accepted_fallback_is_medium(
        credentials: tuple[Path, Path]) -> None:
    """rustls's real facts, judged again as if its random had no TLS 1.3 marker (a TLS 1.2
    server that ignores the SCSV, which no server here is)."""
    with started(rustls(*credentials)) as port:
        facts, _ = scan(port)
    target = _target(port)
    facts["fallback"]["downgrade_marker"] = False
    observation = Observation(probe="tls_weakness", context=target.context, asset=target.asset,
                              endpoint=target.endpoint, status=AttemptStatus.COMPLETED,
                              facts=facts, started=datetime.datetime.now(datetime.UTC))
    view = AssetView(target.asset, target.context, target.segment, [observation])
    finding = {f.check_id: f for f in assess_tls_weakness(view)}["TLS-FALLBACK-SCSV"]
    assert (finding.evaluation, finding.severity) == (Evaluation.FAILED, Severity.MEDIUM)


def test_a_tls12_only_server_leaves_fallback_unjudged(credentials: tuple[Path, Path]) -> None:
    """Best TLS 1.2 and nothing below: the 1.1 hello gets protocol_version, which says
    nothing about the SCSV, so there is no fallback finding either way."""
    with started(gnutls(*credentials, "NORMAL:-VERS-ALL:+VERS-TLS1.2")) as port:
        facts, findings = scan(port)
    assert facts["best_version"] == "TLSv1.2"
    assert facts["fallback"]["verdict"] == "inconclusive"
    assert "TLS-FALLBACK-SCSV" not in findings
    assert failed(findings) == set()


def test_a_closed_port_is_a_fact() -> None:
    facts, findings = scan(free_port())
    assert facts == {"port_state": "closed"}
    assert findings == {}


# ---- hostile peers: bounded, never stuck --------------------------------------------------

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def _garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.read(4096)
    writer.write(b"\xff" * 4096)
    await writer.drain()
    writer.close()


async def _endless(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """A handshake record header claiming 16 KiB, then a drip that never completes it."""
    await reader.read(4096)
    writer.write(bytes.fromhex("1603034000"))
    with contextlib.suppress(ConnectionError):
        for _ in range(200):
            writer.write(b"\x00")
            await writer.drain()
            await asyncio.sleep(0.05)
    writer.close()


async def _lying_extensions(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """A ServerHello whose extensions block says 0xFFFF bytes and carries four."""
    await reader.read(4096)
    body = b"\x03\x03" + bytes(32) + b"\x00" + b"\xc0\x2f" + b"\x00" + b"\xff\xff\xff\x01\x00\x00"
    handshake = b"\x02" + len(body).to_bytes(3, "big") + body
    writer.write(b"\x16\x03\x03" + len(handshake).to_bytes(2, "big") + handshake)
    await writer.drain()
    writer.close()


async def _hostile(handler: Handler) -> dict[str, Any] | ProbeError:
    server = await asyncio.start_server(handler, "127.0.0.1", 0)
    async with server:
        port = server.sockets[0].getsockname()[1]
        try:
            return await asyncio.wait_for(
                TlsWeaknessProbe(timeout=1.0).run(_target(port), _network()), 10)
        except ProbeError as exc:
            return exc


@pytest.mark.parametrize("handler", [_garbage, _endless, _lying_extensions],
                         ids=["garbage", "endless-record", "lying-extensions"])
def test_hostile_servers_end_in_facts_without_a_judgement(handler: Handler) -> None:
    started = time.monotonic()
    result = asyncio.run(_hostile(handler))
    assert time.monotonic() - started < 8  # three hellos, each within its 1 s deadline
    assert isinstance(result, dict), result
    assert result["legacy"]["secure_renegotiation"] is None
    assert result["fallback"] is None
