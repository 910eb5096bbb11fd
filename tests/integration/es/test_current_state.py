"""The current state beside the history, on the real node: two scans of real loopback servers
streamed with ``sentinel scan --es-url``, one fix in between (telnet closed). Every panel that
reads the current state counts exactly what ``sentinel findings`` reports for the latest scan,
while the history keeps both scans; the fixed finding stays, marked resolved."""

from __future__ import annotations

import json
import os
import ssl
import subprocess
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from elasticsearch import Elasticsearch

from sentinel.model import (
    Asset,
    Context,
    Endpoint,
    Evaluation,
    Event,
    Finding,
    FindingStatus,
    Text,
)
from sentinel.severity import Severity
from sentinel.store.elastic import ElasticSink
from sentinel.store.kibana_queries import PanelSearch, flatten_buckets, searches
from tests.support.loopback import ThreadedServer, sends, tls_handshakes

ADDRESS = "127.0.19.1"  # a loopback address of its own: other tests bind 127.0.0.1's ports
PLAYBOOK = f"""\
name: loopback-current-state
agencies: [{{id: dsj, name: {{zh: 省数据局, en: Data Bureau}}}}]
scope: {{authorised: ["127.0.0.0/8"]}}
segments:
  - {{id: lo, agency: dsj, cidrs: ["127.0.0.0/8"], hosts: ["{ADDRESS}"], zone: extranet}}
assets:
  - {{id: loopback-host, name: localhost, addresses: ["{ADDRESS}"]}}
rate: {{packets_per_second: 2000, probe_timeout_s: 3}}
probes:
  tcp: {{ports: [21, 23, 443], banner_wait_s: 0.3}}
  tls: {{ports: [443], timeout_s: 3}}
"""
Doc = dict[str, Any]


def _tls_context(folder: Path) -> ssl.SSLContext:
    key = ec.derive_private_key(71_901, ec.SECP256R1())  # fixed: no random key in a test
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    start = datetime(2026, 1, 1, tzinfo=UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(71_901)
            .not_valid_before(start).not_valid_after(start + timedelta(days=3650))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), False)
            .sign(key, hashes.SHA256()))
    (folder / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (folder / "key.pem").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(folder / "cert.pem", folder / "key.pem")
    return context


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[dict[str, ThreadedServer]]:
    started = {
        "telnet": ThreadedServer(sends(b"Ubuntu 22.04 LTS\r\nlogin: "), address=ADDRESS,
                                 port=23),
        "ftp": ThreadedServer(sends(b"220 FTP ready\r\n"), address=ADDRESS, port=21),
        "https": ThreadedServer(tls_handshakes(_tls_context(tmp_path)), address=ADDRESS,
                                port=443),
    }
    yield started
    for server in started.values():
        server.close()


def sentinel(tmp_path: Path, prefix: str, *args: str) -> str:
    env = {**os.environ, "SENTINEL_STORE": str(tmp_path / "store.db"),
           "SENTINEL_SPOOL": str(tmp_path / "spool"), "SENTINEL_ES_PREFIX": prefix}
    done = subprocess.run([sys.executable, "-m", "sentinel.cli", *args], env=env,
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def _failed(doc: Doc) -> bool:
    return bool(doc.get("result", {}).get("evaluation") == "failed")


def _rule(*prefixes: str) -> Callable[[Doc], bool]:
    return lambda doc: str(doc["rule"]["id"]).startswith(prefixes)


# What each current-state panel selects, written independently of its Lucene query string.
SELECTS: dict[str, Callable[[Doc], bool]] = {
    "failed-by-agency-severity": _failed,
    "failed-by-severity": _failed,
    "top-failed-checks": _failed,
    "evaluation-by-agency": lambda doc: True,
    "national-crypto-failures": lambda doc: _rule("GM-", "MP-")(doc) and _failed(doc),
    "v6-results-by-agency": _rule("V6-"),
    "v6-failed-checks": lambda doc: _rule("V6-")(doc) and _failed(doc),
    "v6-score-by-agency": lambda doc: doc["rule"]["id"] == "V6-SCORE",
    "exposed-ports": lambda doc: _rule("EXP-", "DB-CES-")(doc) and _failed(doc),
    "exposed-services": lambda doc: _rule("EXP-", "DB-CES-")(doc) and _failed(doc),
    "exposures-by-agency": lambda doc: _rule("EXP-", "DB-CES-")(doc) and _failed(doc),
}


def _values(doc: Doc, path: str) -> list[Any]:
    value: Any = doc
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return []
        value = value[part]
    return list(value) if isinstance(value, list) else [value]


def _expected(search: PanelSearch, reported: list[Doc]) -> dict[tuple[Any, ...], Any]:
    """The panel's buckets counted from what ``sentinel findings`` printed."""
    *buckets, metric = search.columns
    groups: dict[tuple[Any, ...], list[float]] = {}
    for doc in filter(SELECTS[search.panel], reported):
        keys: list[tuple[Any, ...]] = [()]
        for column in buckets:
            keys = [(*k, v) for k in keys for v in _values(doc, column["sourceField"])]
        for key in keys:
            groups.setdefault(key, []).extend(
                [1.0] if metric["operationType"] == "count"
                else _values(doc, metric["sourceField"]))
    if metric["operationType"] == "count":
        return {key: len(values) for key, values in groups.items()}
    return {key: sum(values) / len(values) for key, values in groups.items() if values}


def _export(tmp_path: Path, prefix: str) -> list[PanelSearch]:
    out = tmp_path / "kibana.ndjson"
    sentinel(tmp_path, prefix, "es", "export-kibana", "-o", str(out), "--prefix", prefix)
    return searches(out.read_text("utf-8"))


def test_panels_count_the_current_state_after_two_scans_and_a_fix(
    client: Elasticsearch, prefix: str, tmp_path: Path, servers: dict[str, ThreadedServer]
) -> None:
    book = tmp_path / "book.yml"
    book.write_text(PLAYBOOK, encoding="utf-8")
    scan = ("scan", "--playbook", str(book), "--es-url", "http://127.0.0.1:9200")
    sentinel(tmp_path, prefix, *scan)
    first: list[Doc] = json.loads(sentinel(tmp_path, prefix, "findings", "--json"))
    first_every: list[Doc] = json.loads(
        sentinel(tmp_path, prefix, "findings", "--json", "--all-results"))
    servers.pop("telnet").close()  # the fix: telnet taken off the host
    sentinel(tmp_path, prefix, *scan)
    reported: list[Doc] = json.loads(sentinel(tmp_path, prefix, "findings", "--json"))
    every: list[Doc] = json.loads(
        sentinel(tmp_path, prefix, "findings", "--json", "--all-results"))
    client.indices.refresh(index=f"{prefix}-*")

    telnet = [d for d in first if _failed(d) and d["destination"].get("port") == 23]
    assert telnet, "the first scan found telnet exposed"
    assert not [d for d in reported if d["destination"].get("port") == 23]
    checks = Counter(str(d["rule"]["id"]).split("-")[0] for d in reported if _failed(d))
    assert checks["EXP"] and checks["GM"] and checks["MP"], checks  # the panels have data

    # The current state as `sentinel findings` tells it: each key's latest judgement (the
    # second scan's, else the first's); a failed key the second scan did not judge again is
    # resolved, with no verdict now.
    latest = {d["sentinel"]["finding"]["key"]: d for d in first_every}
    latest |= {d["sentinel"]["finding"]["key"]: d for d in every}
    fixed = {d["sentinel"]["finding"]["key"] for d in telnet}
    state = [d for key, d in latest.items() if key not in fixed]
    panels = [s for s in _export(tmp_path, prefix) if s.data_view == f"{prefix}-findings-current"]
    assert {s.panel for s in panels} == set(SELECTS)
    for search in panels:
        got = flatten_buckets(client.search(index=search.data_view, **search.body)["aggregations"])
        assert got == _expected(search, state), search.panel
        if "failed" in json.dumps(search.body):  # failed checks: exactly the latest scan's
            assert got == _expected(search, reported), search.panel
    failed_total = sum(flatten_buckets(client.search(
        index=f"{prefix}-findings-current",
        **next(s for s in panels if s.panel == "failed-by-severity").body)["aggregations"]
    ).values())
    assert failed_total == sum(map(_failed, reported)) > 0

    # The history keeps both scans: there, the telnet finding counts twice (open, then kept).
    history = client.count(index=f"{prefix}-findings",
                           query={"query_string": {"query": "result.evaluation:failed"}})
    assert history["count"] == sum(map(_failed, first)) + sum(map(_failed, reported))
    # The fixed finding is not deleted: its key's current document says resolved.
    for doc in telnet:
        key = doc["sentinel"]["finding"]["key"]
        current = client.get(index=f"{prefix}-findings-current", id=key)["_source"]
        assert current["sentinel"]["finding"]["status"] == "resolved"
        assert current["rule"]["id"] == doc["rule"]["id"]
        assert current["result"]["evaluation"] is None  # not judged again: no verdict now
    resolved = client.count(index=f"{prefix}-findings-current",
                            query={"term": {"sentinel.finding.status": "resolved"}})
    assert resolved["count"] == len({d["sentinel"]["finding"]["key"] for d in telnet})
    assert client.count(index=f"{prefix}-findings-current")["count"] == len(latest)
    print(f"\ncurrent state: scan 1 failed {sum(map(_failed, first))}, scan 2 failed "
          f"{sum(map(_failed, reported))} (judged {len(every)}); current-state documents "
          f"{len(latest)}, resolved {resolved['count']}, failed {failed_total}; history failed "
          f"{history['count']}; failed by check prefix {dict(sorted(checks.items()))}")


def test_a_key_resolved_by_a_passing_check_keeps_its_verdict_and_a_mark_never_404s(
    client: Elasticsearch, prefix: str, tmp_path: Path
) -> None:
    """Through the real sink: the check ran again and passed (its passed finding, then the
    lifecycle's resolved event): passed and resolved. A key resolved whose current document
    does not exist yet (findings stored before the current state existed): made from the
    event, resolved, no verdict; nothing rejected."""
    ctx = Context(scan_id="s2", agency_id="dsj", segment_id="dmz")
    asset = Asset(id="h1", addresses=("198.18.0.5",))
    endpoint = Endpoint(address="198.18.0.5", port=443)
    when = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)

    def finding(scan: str, verdict: Evaluation, status: FindingStatus | None) -> Finding:
        return Finding(check_id="TLS-PROTO-10", title=Text(zh="TLS 1.0", en="TLS 1.0"),
                       evaluation=verdict, severity=Severity.HIGH,
                       context=ctx.model_copy(update={"scan_id": scan}), asset=asset,
                       endpoint=endpoint, protocol="tls", probe="tls",
                       evidence={"versions": ["TLSv1.0"]} if status else {}, status=status,
                       observed_at=when)

    def resolved(key: str, check: str) -> Event:
        return Event(action="finding-resolved", category="change",
                     message=Text(zh="问题已整改", en="finding resolved"), context=ctx,
                     asset=asset, endpoint=endpoint, finding_key=key, created=when,
                     after={"check_id": check, "status": "resolved"})

    passed = finding("s2", Evaluation.PASSED, None)
    with ElasticSink(client, tmp_path / "spool", prefix=prefix) as sink:
        sink.add_findings([finding("s1", Evaluation.FAILED, FindingStatus.OPEN)])
        sink.add_findings([passed])
        sink.add_events([resolved(passed.key, "TLS-PROTO-10"), resolved("k-old", "SSH-V1")])
    assert not sink.stats.rejected
    current = f"{prefix}-findings-current"
    client.indices.refresh(index=f"{prefix}-*")  # the history's index as well as the current
    doc = client.get(index=current, id=passed.key)["_source"]
    assert doc["result"]["evaluation"] == "passed"
    assert doc["sentinel"]["finding"]["status"] == "resolved"
    assert doc["sentinel"]["scan"]["id"] == "s2"
    old = client.get(index=current, id="k-old")["_source"]
    assert old["rule"]["id"] == "SSH-V1" and old["sentinel"]["finding"]["status"] == "resolved"
    assert old["result"]["evaluation"] is None and old["destination"]["port"] == 443
    assert client.count(index=current)["count"] == 2
    assert client.count(index=f"{prefix}-findings")["count"] == 2  # the history: both scans
