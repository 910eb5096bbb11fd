"""ECS ``tls.server.x509.*`` and ``tls.server.hash.sha256`` on the real node: a scan of two
loopback TLS servers with committed certificates (tests/integration/es/data: one plain, one
with a hostile subject) streamed with ``sentinel scan --es-url``; term and range queries find
the certificate on the asset (observation) and on the findings of its endpoint; the hostile
subject is stored bounded. An index made before these fields gets them from ``setup``."""

from __future__ import annotations

import copy
import os
import ssl
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from elasticsearch import Elasticsearch

from sentinel.store.elastic_templates import history_indices, load_template, setup, teardown
from tests.support.loopback import ThreadedServer, tls_handshakes

DATA = Path(__file__).parent / "data"
PLAIN, HOSTILE = "127.0.23.1", "127.0.23.2"  # loopback addresses of their own
LEAF_SHA256 = "FF0A3DDFBAA57D908D2C2AA788824C0DD9ABB1EE3D5018DD38C176A003AFB5F4"
PLAYBOOK = f"""\
name: loopback-x509
agencies: [{{id: dsj, name: {{zh: 省数据局, en: Data Bureau}}}}]
scope: {{authorised: ["127.0.0.0/8"]}}
segments:
  - {{id: lo, agency: dsj, cidrs: ["127.0.0.0/8"], hosts: ["{PLAIN}", "{HOSTILE}"],
      zone: extranet}}
assets:
  - {{id: plain-host, name: x509.es.test, addresses: ["{PLAIN}"]}}
  - {{id: hostile-host, name: hostile.es.test, addresses: ["{HOSTILE}"]}}
rate: {{packets_per_second: 2000, probe_timeout_s: 3}}
probes:
  tcp: {{ports: [443], banner_wait_s: 0.3}}
  tls: {{ports: [443], timeout_s: 3}}
"""


def _context(name: str) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(DATA / f"{name}.pem", DATA / "x509-leaf.key")
    return context


@pytest.fixture
def servers() -> Iterator[None]:
    started = [ThreadedServer(tls_handshakes(_context("x509-leaf")), address=PLAIN, port=443),
               ThreadedServer(tls_handshakes(_context("hostile-leaf")), address=HOSTILE,
                              port=443)]
    yield
    for server in started:
        server.close()


def _hits(client: Elasticsearch, index: str, query: dict[str, Any]) -> list[dict[str, Any]]:
    found = client.search(index=index, query=query, size=200)
    return [h["_source"] for h in found["hits"]["hits"]]


@pytest.mark.usefixtures("servers")
def test_certificate_fields_are_searchable(client: Elasticsearch, prefix: str,
                                          tmp_path: Path) -> None:
    book = tmp_path / "book.yml"
    book.write_text(PLAYBOOK, encoding="utf-8")
    env = {**os.environ, "SENTINEL_STORE": str(tmp_path / "store.db"),
           "SENTINEL_SPOOL": str(tmp_path / "spool"), "SENTINEL_ES_PREFIX": prefix}
    done = subprocess.run([sys.executable, "-m", "sentinel.cli", "scan", "--playbook",
                           str(book), "--es-url", "http://127.0.0.1:9200"], env=env,
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    client.indices.refresh(index=f"{prefix}-*")

    by_cn = {"term": {"tls.server.x509.subject.common_name": "x509.es.test"}}
    assets = _hits(client, f"{prefix}-assets", by_cn)
    assert assets and {a["host"]["id"] for a in assets} == {"plain-host"}
    assert {a["sentinel"]["attempt"]["probe"] for a in assets} == {"tls"}
    findings = _hits(client, history_indices(prefix, "findings"), by_cn)
    assert findings and {f["host"]["id"] for f in findings} == {"plain-host"}
    assert {f["destination"]["port"] for f in findings} == {443}
    current = _hits(client, f"{prefix}-findings-current", by_cn)
    assert len(current) == len(findings)  # one scan: each key once in the current state

    both, plain = {"plain-host", "hostile-host"}, {"plain-host"}  # one issuer, serial, dates
    for query, hosts in (
        ({"term": {"tls.server.x509.issuer.common_name": "Sentinel ES Test CA"}}, both),
        ({"term": {"tls.server.x509.issuer.distinguished_name":
                   "CN=Sentinel ES Test CA,O=Sentinel Test"}}, both),
        ({"term": {"tls.server.x509.subject.distinguished_name": "CN=x509.es.test"}}, plain),
        ({"term": {"tls.server.x509.serial_number": "5E4710"}}, both),
        ({"term": {"tls.server.hash.sha256": LEAF_SHA256}}, plain),
        ({"range": {"tls.server.x509.not_after": {"gte": "2035-12-31", "lt": "2036-01-02"}}},
         both),
        ({"range": {"tls.server.x509.not_before": {"gte": "2026-01-01", "lte": "2026-01-01"}}},
         both),
    ):
        assert {a["host"]["id"] for a in _hits(client, f"{prefix}-assets", query)} == hosts, \
            query
    # a range that excludes the certificate finds nothing (the dates are dates, not text)
    assert not _hits(client, f"{prefix}-assets",
                     {"range": {"tls.server.x509.not_after": {"gte": "2036-01-02"}}})

    # The hostile subject: stored bounded, no control character, and found by its CN.
    (hostile, *_) = _hits(client, f"{prefix}-assets",
                          {"term": {"tls.server.x509.subject.common_name":
                                    "evil\ufffd\ufffd[31m\ufffdname"}})
    (dn,) = hostile["tls"]["server"]["x509"]["subject"]["distinguished_name"]
    assert len(dn) == 1024 and not any(ord(c) < 32 for c in dn)
    assert _hits(client, f"{prefix}-assets",
                 {"term": {"tls.server.x509.subject.distinguished_name": dn}})


def _without(properties: dict[str, Any]) -> dict[str, Any]:
    """The shipped mapping as an older Sentinel made it: no DNs, no certificate hash."""
    old = copy.deepcopy(properties)
    server = old["tls"]["properties"]["server"]["properties"]
    server.pop("hash")
    for side in ("issuer", "subject"):
        server["x509"]["properties"][side]["properties"].pop("distinguished_name")
    return old


def test_setup_adds_the_certificate_fields_to_an_older_index(client: Elasticsearch) -> None:
    prefix = f"sentinel-test-{uuid.uuid4().hex[:12]}"
    try:
        common = load_template("common")
        index = f"{prefix}-assets-000001"
        client.indices.create(
            index=index,
            settings={"analysis": common["settings"]["analysis"], "number_of_replicas": 0},
            mappings={"dynamic": False,
                      "properties": _without(common["mappings"]["properties"])},
            aliases={f"{prefix}-assets": {"is_write_index": True}},
        )
        setup(client, prefix)
        mapping = client.indices.get_mapping(index=index)[index]["mappings"]["properties"]
        server = mapping["tls"]["properties"]["server"]["properties"]
        assert server["hash"]["properties"]["sha256"]["type"] == "keyword"
        for side in ("issuer", "subject"):
            field = server["x509"]["properties"][side]["properties"]["distinguished_name"]
            assert field["type"] == "keyword"
        doc = {"tls": {"server": {"hash": {"sha256": [LEAF_SHA256]}}}}
        client.index(index=index, id="new", document=doc, refresh="wait_for")
        assert _hits(client, index, {"term": {"tls.server.hash.sha256": LEAF_SHA256}})
    finally:
        teardown(client, prefix)
