"""Certificate findings from a real scan of real TLS servers on 127.0.0.1.

Three Python ``ssl`` servers, started here, each serving a chain from one test CA: one
expired, one for another name, one without its intermediate. ``sentinel scan`` of a
loopback playbook must report exactly that defect on each port, judged on the first scan,
with the test root as the only trusted root (an overlay of ``probes/trust.yml``). Keys come
from fixed integers; the validity dates are fixed (expired in 2021, valid until 2100).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.support.loopback import ThreadedServer, tls_context, tls_handshakes

PAST = (datetime(2020, 1, 1, tzinfo=UTC), datetime(2021, 1, 1, tzinfo=UTC))
VALID = (datetime(2020, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC))
CERT_CHECKS = ("TLS-CERT-EXPIRED", "TLS-CERT-NOT-YET-VALID", "TLS-CERT-NAME", "TLS-CERT-CHAIN",
               "TLS-CERT-ORDER", "TLS-CERT-TRUST", "TLS-CERT-CHAIN-SIG")


def _key(secret: int) -> ec.EllipticCurvePrivateKey:
    return ec.derive_private_key(secret, ec.SECP256R1())


def _cert(cn: str, key: ec.EllipticCurvePrivateKey, issuer: tuple[str, ec.EllipticCurvePrivateKey],
          *, ca: bool, valid: tuple[datetime, datetime] = VALID,
          san: str | None = None) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    builder = (x509.CertificateBuilder().subject_name(name)
               .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer[0])]))
               .public_key(key.public_key()).serial_number(int.from_bytes(cn.encode()[:8], "big"))
               .not_valid_before(valid[0]).not_valid_after(valid[1])
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if san:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(san)]),
                                        critical=False)
    return builder.sign(issuer[1], hashes.SHA256(), ecdsa_deterministic=True)


def _pem(*certs: x509.Certificate) -> bytes:
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs)


def tls_server(folder: Path, name: str, chain: bytes,
                key: ec.EllipticCurvePrivateKey) -> ThreadedServer:
    """A real TLS server on 127.0.0.1 serving one chain; every connection on its own thread."""
    (folder / f"{name}.pem").write_bytes(chain)
    (folder / f"{name}.key").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    context = tls_context(folder / f"{name}.pem", folder / f"{name}.key")
    return ThreadedServer(tls_handshakes(context, read=1))


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[tuple[Path, dict[str, int]]]:
    root_key, inter_key, leaf_key = _key(7001), _key(7002), _key(7003)
    root = _cert("Sentinel Test Root", root_key, ("Sentinel Test Root", root_key), ca=True)
    inter = _cert("Sentinel Test CA", inter_key, ("Sentinel Test Root", root_key), ca=True)
    issuer = ("Sentinel Test CA", inter_key)
    good = _cert("localhost", leaf_key, issuer, ca=False, san="localhost")
    expired = _cert("localhost", leaf_key, issuer, ca=False, san="localhost", valid=PAST)
    other = _cert("portal.example.test", leaf_key, issuer, ca=False, san="portal.example.test")
    overlay = tmp_path / "data"
    (overlay / "probes" / "trust").mkdir(parents=True)
    (overlay / "probes" / "trust.yml").write_text("system_bundles: []\nroots: [trust/]\n")
    (overlay / "probes" / "trust" / "test-root.pem").write_bytes(_pem(root))
    started = {
        "expired": tls_server(tmp_path, "expired", _pem(expired, inter), leaf_key),
        "mismatch": tls_server(tmp_path, "mismatch", _pem(other, inter), leaf_key),
        "incomplete": tls_server(tmp_path, "incomplete", _pem(good), leaf_key),
        "sound": tls_server(tmp_path, "sound", _pem(good, inter), leaf_key),
    }
    yield overlay, {name: s.port for name, s in started.items()}
    for server in started.values():
        server.close()


def sentinel(*args: str, store: Path, overlay: Path) -> str:
    env = {**os.environ, "SENTINEL_STORE": str(store), "SENTINEL_DATA_DIR": str(overlay)}
    result = subprocess.run([sys.executable, "-m", "sentinel.cli", *args], env=env,
                            capture_output=True, text=True, timeout=600, check=False)
    assert result.returncode == 0, f"sentinel {' '.join(args)} failed: {result.stderr}"
    return result.stdout


def test_first_scan_reports_expired_mismatched_and_incomplete_chains(
        tmp_path: Path, servers: tuple[Path, dict[str, int]]) -> None:
    overlay, ports = servers
    book = tmp_path / "book.yml"
    book.write_text(f"""\
name: loopback-certificates
agencies: [{{id: dsj, name: {{zh: 测试单位, en: Test agency}}}}]
scope: {{authorised: ["127.0.0.0/8"]}}
segments: [{{id: lo, agency: dsj, cidrs: ["127.0.0.0/8"], hosts: ["127.0.0.1"], zone: extranet}}]
assets: [{{id: loopback-host, name: localhost, addresses: ["127.0.0.1"]}}]
rate: {{packets_per_second: 2000, probe_timeout_s: 5}}
probes:
  tls: {{ports: [{", ".join(str(p) for p in ports.values())}], timeout_s: 3}}
""", encoding="utf-8")
    store = tmp_path / "s.db"
    sentinel("scan", "--playbook", str(book), store=store, overlay=overlay)
    docs = json.loads(sentinel("findings", "--json", "--all-results", store=store,
                               overlay=overlay))
    verdicts: dict[tuple[int, str], str] = {}
    for doc in docs:
        if doc["rule"]["id"] in CERT_CHECKS:
            verdicts[(doc["destination"]["port"], doc["rule"]["id"])] = (
                doc["result"]["evaluation"])
    for name, port in ports.items():
        judged = {check for (p, check) in verdicts if p == port}
        assert judged == set(CERT_CHECKS), (name, judged)
    failed = {(name, check) for name, port in ports.items() for check in CERT_CHECKS
              if verdicts[(port, check)] == "failed"}
    assert failed == {("expired", "TLS-CERT-EXPIRED"), ("mismatch", "TLS-CERT-NAME"),
                      ("incomplete", "TLS-CERT-CHAIN")}
    incomplete = next(d for d in docs if d["rule"]["id"] == "TLS-CERT-CHAIN"
                      and d["destination"]["port"] == ports["incomplete"])
    assert "Sentinel Test CA" in json.dumps(incomplete, ensure_ascii=False)
