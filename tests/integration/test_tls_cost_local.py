"""What the TLS probe costs an endpoint, counted at the target, and what a scan finds there.

One nginx on 127.0.0.1 (bench/scale.py's farm configuration: TLS 1.2 and 1.3, ECDHE with
AES-GCM and ChaCha20, one P-256 certificate whose key is derived from a fixed integer), with
nginx's own ``stub_status`` on a second port counting every connection it accepts. Both doors
Sentinel has to the TLS probe are run through the real command line: ``sentinel probe tls`` and
a playbook ``sentinel scan`` with the ``tls`` probe on that port. The test pins

* the cost: the connections nginx accepted for each (the enumeration's ``connections_used``,
  one completed TLS 1.3 handshake for the encrypted certificate, and in a scan one plain
  connect that tells open from closed), so a change that makes the probe dearer fails here;
* the facts a user reads (versions, accepted pairs, groups, preference);
* the scan's findings: every check with its verdict, fixed below. A change to how the
  endpoint is enumerated must leave this set as it is.
"""

from __future__ import annotations

import datetime
import json
import os
import re
import shutil
import socket
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.support.loopback import free_port, running

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
LOOPBACK = "127.0.0.1"
KEY_SECRET = 0x5E471E1_2026  # the certificate key, derived: no random key in a test

CONF = """
worker_processes 1;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log;
events {{ worker_connections 256; }}
http {{
  access_log off;
  server {{ listen {loopback}:{status}; location / {{ stub_status; }} }}
  server {{
    listen {loopback}:{port} ssl;
    ssl_certificate {tmp}/ec.crt;
    ssl_certificate_key {tmp}/ec.key;
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_ciphers ECDHE+AESGCM:ECDHE+CHACHA20;
    location / {{ return 200 "ok"; }}
  }}
}}
"""

# What the enumeration costs on this server (bench/README.md, scale.py): one hello each for
# SSLv2, SSLv3, TLS 1.0 and 1.1 (refused); TLCP's hello, its bare retry and its canary (all
# dropped silently, as OpenSSL drops any TLCP hello); TLS 1.2 and 1.3 four answered hellos each
# (the version probe, which is the drain's first step, two drain steps and the reversed
# hello that tells client order) and one refused (the drain's end); TLS 1.3 groups 9 answered
# HelloRetryRequests and one refusal (10 groups, the version probe was the first pass); TLS 1.2
# curves one ServerKeyExchange and one refusal.
ENUMERATION = 29
PROBE_TLS = ENUMERATION + 1  # + the TLS 1.3 handshake that reads the encrypted certificate
SCAN_TLS = PROBE_TLS + 1  # + the plain connect that says the port is open

ACCEPTED = [("TLSv1.2", "0xC02B"), ("TLSv1.2", "0xC02C"), ("TLSv1.2", "0xCCA9"),
            ("TLSv1.3", "0x1301"), ("TLSv1.3", "0x1302"), ("TLSv1.3", "0x1303")]
GROUPS = [("TLSv1.3", "x25519"), ("TLSv1.3", "secp256r1"), ("TLSv1.3", "x448"),
          ("TLSv1.3", "secp521r1"), ("TLSv1.3", "secp384r1"), ("TLSv1.3", "ffdhe2048"),
          ("TLSv1.3", "ffdhe3072"), ("TLSv1.3", "ffdhe4096"), ("TLSv1.3", "ffdhe6144"),
          ("TLSv1.3", "ffdhe8192"), ("TLSv1.2", "secp256r1")]

# Every check the scan judged on the endpoint, with its verdict. Failed: no TLCP and no
# national crypto (GM-TLCP-ABSENT, MP-N1-AUTH, MP-N3-CONF), a self-signed certificate
# (TLS-CERT-TRUST), and finite-field groups accepted under TLS 1.3 (TLS-DHE at Info, its
# evidence naming the five ffdhe groups: found only by the TLS 1.3 group drain, which is why
# that drain's 10 connections stay).
FAILED = (
    "GM-TLCP-ABSENT", "MP-N1-AUTH", "MP-N3-CONF", "TLS-CERT-TRUST", "TLS-DHE",
)
PASSED = (
    "GM-CERT-PAIR", "GM-CERT-PAIR-KEY", "GM-CERT-PAIR-USAGE", "GM-CERT-SIGALG",
    "GM-CLIENTAUTH", "GM-ECDHE-CURVE", "GM-SKE-VERIFY", "GM-SUITE-APPROVED",
    "GM-SUITE-INCOMPLETE", "GM-SUITE-LEGACY", "GM-TLS13-SM", "MP-GEN-ALG", "MP-GEN-TECH",
    "TLS-CERT-CHAIN", "TLS-CERT-CHAIN-SIG", "TLS-CERT-EXPIRED", "TLS-CERT-HASH",
    "TLS-CERT-LIFE", "TLS-CERT-NAME", "TLS-CERT-NOT-YET-VALID", "TLS-CERT-ORDER",
    "TLS-CIPHER-BROKEN", "TLS-CIPHER-CBC", "TLS-CIPHER-NOPFS", "TLS-KEY-EC", "TLS-KEY-RSA",
    "TLS-PROTO-10", "TLS-PROTO-11", "TLS-PROTO-12-13", "TLS-PROTO-SSL", "TLS-SUITE-INCOMPLETE",
)
EXPECTED_FINDINGS = {(c, "failed") for c in FAILED} | {(c, "passed") for c in PASSED}


def _certificate(folder: Path) -> None:
    key = ec.derive_private_key(KEY_SECRET, ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    start = datetime.datetime.now(datetime.UTC).replace(microsecond=0) - datetime.timedelta(days=1)
    certificate = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(
            key.public_key()).serial_number(0x2020).not_valid_before(start)
        .not_valid_after(start + datetime.timedelta(days=90))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .sign(key, hashes.SHA256()))
    (folder / "ec.key").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    (folder / "ec.crt").write_bytes(certificate.public_bytes(serialization.Encoding.PEM))


class Farm:
    """The nginx under test and its connection counter."""

    def __init__(self, port: int, status: int) -> None:
        self.port = port
        self.status = status

    def accepted(self) -> int:
        """Connections nginx has accepted so far, this status request included."""
        with socket.create_connection((LOOPBACK, self.status), 5) as conn:
            conn.sendall(b"GET / HTTP/1.0\r\n\r\n")
            reply = b""
            while chunk := conn.recv(4096):
                reply += chunk
        match = re.search(rb"server accepts handled requests\s+(\d+)", reply)
        assert match is not None, reply
        return int(match.group(1))

    def count(self, command: list[str]) -> tuple[subprocess.CompletedProcess[str], int]:
        """Run ``command``; the connections nginx accepted meanwhile (status requests aside)."""
        before = self.accepted()
        done = sentinel(*command)
        return done, self.accepted() - before - 1


def sentinel(*args: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([sys.executable, "-m", "sentinel.cli", *args], capture_output=True,
                          text=True, timeout=120, check=False, env={**os.environ})
    assert done.returncode == 0, done.stderr
    return done


@pytest.fixture(scope="module")
def farm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Farm]:
    tmp = tmp_path_factory.mktemp("tls-cost")
    _certificate(tmp)
    port, status = free_port(), free_port()
    (tmp / "nginx.conf").write_text(
        CONF.format(tmp=tmp, loopback=LOOPBACK, port=port, status=status), encoding="ascii")
    with running([NGINX, "-c", str(tmp / "nginx.conf"), "-p", str(tmp), "-g", "daemon off;"],
                 port):
        yield Farm(port, status)


def test_probe_tls_costs_what_the_enumeration_says(farm: Farm) -> None:
    done, accepted = farm.count(["probe", "tls", f"{LOOPBACK}:{farm.port}", "--json",
                                 "--scope", f"{LOOPBACK}/32"])
    doc = json.loads(done.stdout)
    assert [(a["protocol"], a["code"]) for a in doc["accepted"]] == ACCEPTED
    assert [(g["protocol"], g["name"]) for g in doc["groups"]] == GROUPS
    assert doc["versions"] == ["TLSv1.2", "TLSv1.3"]
    assert doc["tls13_certificate"]["standard"]["finished_valid"] is True
    assert doc["connections_used"] == ENUMERATION
    assert accepted == PROBE_TLS


PLAYBOOK = """\
name: tls-cost
agencies: [{{id: a1, name: {{zh: 代价, en: Cost}}}}]
scope: {{authorised: ["{loopback}/32"]}}
segments:
  - {{id: lo, agency: a1, zone: extranet, cidrs: ["{loopback}/32"], hosts: ["{loopback}"]}}
probes: {{tcp: null, tls: {{ports: [{port}]}}}}
"""


def test_scan_tls_costs_one_connect_more_and_finds_the_fixed_set(farm: Farm,
                                                                 tmp_path: Path) -> None:
    book, store = tmp_path / "book.yml", tmp_path / "store.db"
    book.write_text(PLAYBOOK.format(loopback=LOOPBACK, port=farm.port), encoding="utf-8")
    _done, accepted = farm.count(["scan", "--playbook", str(book), "--store", str(store)])
    with sqlite3.connect(store) as con:
        observations = [json.loads(d) for (d,) in con.execute("SELECT doc FROM observations")]
        findings = {(c, e) for c, e in con.execute("SELECT check_id, evaluation FROM findings")}
        (dhe,) = con.execute("SELECT doc FROM findings WHERE check_id = 'TLS-DHE'").fetchone()
    facts = [o["sentinel"]["facts"] for o in observations]
    assert len(facts) == 1
    tls = facts[0]["tls"] if "tls" in facts[0] else facts[0]
    assert [(a["protocol"], a["code"]) for a in tls["accepted"]] == ACCEPTED
    assert tls["connections_used"] == ENUMERATION
    assert accepted == SCAN_TLS
    assert findings == EXPECTED_FINDINGS
    assert all(f'"ffdhe{bits}"' in dhe for bits in (2048, 3072, 4096, 6144, 8192))
