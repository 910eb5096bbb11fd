"""End to end: `sentinel scan --playbook playbooks/lab.yml` into a fresh store, then the crypto
findings of every TLS endpoint are checked against what the manifest says its server was
built with (TLS 1.0, SHA-1 or RSA-1024 certificates, TLCP pair, RFC 8998, PQC hybrid)."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from sentinel.lab import LabStatus
from sentinel.lab.manifest import Host, Service, ServiceKind
from tests.lab.clients import MANIFEST

pytestmark = pytest.mark.lab
REPO = Path(__file__).resolve().parents[3]
Results = dict[tuple[str, int], dict[str, tuple[str, str]]]  # (ip, port) -> check -> (eval, sev)


def _sentinel(args: list[str], store: Path) -> str:
    env = {**os.environ, "SENTINEL_STORE": str(store)}
    done = subprocess.run([sys.executable, "-m", "sentinel.cli", *args], env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


@pytest.fixture(scope="module")
def scanned(lab: LabStatus, tmp_path_factory: pytest.TempPathFactory) -> tuple[Results, Path]:
    store = tmp_path_factory.mktemp("crypto-scan") / "sentinel.db"
    _sentinel(["scan", "--playbook", str(REPO / "playbooks" / "lab.yml")], store)
    findings = json.loads(_sentinel(["findings", "--json", "--all-results"], store))
    results: Results = {}
    for doc in findings:
        if doc["sentinel"].get("probe") != "tls":
            continue
        where = (doc["destination"]["ip"], int(doc["destination"]["port"]))
        results.setdefault(where, {})[doc["rule"]["id"]] = (
            doc["result"]["evaluation"], doc["sentinel"]["severity"])
    return results, store


def _tls_endpoints() -> list[tuple[Host, Service]]:
    return [(h, s) for h in MANIFEST.hosts for s in h.services if s.properties.tls_versions]


def _judged(results: Results, host: Host, service: Service) -> dict[str, tuple[str, str]]:
    found = [results[(str(a), service.port)] for a in (host.v4, host.v6)
             if a is not None and (str(a), service.port) in results]
    assert found, f"no crypto findings for {host.hostname}:{service.port}"
    return found[0]


def _failed(judged: dict[str, tuple[str, str]], check: str) -> bool:
    return judged[check][0] == "failed"


@pytest.mark.parametrize(("host", "service"), _tls_endpoints(),
                         ids=lambda v: getattr(v, "id", str(v)))
def test_baseline_findings_match_the_manifest(scanned: tuple[Results, Path], host: Host,
                                              service: Service) -> None:
    judged = _judged(scanned[0], host, service)
    props = service.properties
    assert _failed(judged, "TLS-PROTO-10") == ("TLSv1" in (props.tls_versions or []))
    assert _failed(judged, "TLS-CERT-HASH") == (props.cert_signature == "sha1")
    small_rsa = "rsa1024" in (props.cert_keys or [])
    assert (judged["TLS-KEY-RSA"] == ("failed", "high")) == small_rsa
    assert _failed(judged, "TLS-CIPHER-BROKEN") == bool(props.triple_des)


@pytest.mark.parametrize(("host", "service"), _tls_endpoints(),
                         ids=lambda v: getattr(v, "id", str(v)))
def test_national_crypto_findings_match_the_manifest(scanned: tuple[Results, Path],
                                                     host: Host, service: Service) -> None:
    judged = _judged(scanned[0], host, service)
    tlcp = "TLCPv1.1" in (service.properties.tls_versions or [])
    if tlcp:
        assert judged["GM-CERT-PAIR"][0] == "passed"
        assert judged["GM-SKE-VERIFY"][0] == "passed"
    if service.kind is ServiceKind.GM_TLS13:
        assert judged["GM-TLS13-SM"][0] == "passed"
    # A TLCP suite selected and then abandoned: the lab's are all RSA_SM4_*, which is not
    # national crypto (an RSA key exchange), so Medium; no lab server abandons a TLS suite.
    abandoned = bool(service.properties.incomplete_suites)
    assert judged["GM-SUITE-INCOMPLETE"] == (("failed", "medium") if abandoned
                                             else ("passed", "medium"))
    assert judged["TLS-SUITE-INCOMPLETE"][0] == "passed"
    national = tlcp or service.kind is ServiceKind.GM_TLS13
    segment = next(s for s in MANIFEST.segments if s.id == host.segment)
    # The lab playbook leaves every segment at 密评 level 3, where an SM channel is required.
    assert judged["GM-TLCP-ABSENT"] == (("passed", "medium") if national
                                        else ("failed", "medium")), segment.id


def _facts(store: Path, address: str, port: int) -> dict[str, Any]:
    with sqlite3.connect(store) as db:
        row = db.execute("select doc from observations where probe = 'tls' and address = ? "
                         "and port = ? and status = 'completed'", (address, port)).fetchone()
    assert row is not None, (address, port)
    doc = json.loads(row[0])
    return dict(doc["sentinel"]["facts"]["tls"])


def test_pq_server_reports_hybrid_key_exchange(scanned: tuple[Results, Path]) -> None:
    host = next(h for h in MANIFEST.hosts for s in h.services if s.kind is ServiceKind.GO_PQ)
    facts = _facts(scanned[1], str(host.v4), 443)
    assert "pqc-hybrid" in facts["posture"]["key_exchange"]
    assert {g["name"] for g in facts["groups"] if g["class"] == "pqc-hybrid"} == {
        "X25519MLKEM768"}
