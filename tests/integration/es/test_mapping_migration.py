"""An index made by an older Sentinel (no ``.lower`` on ``result.evaluation``,
``network.type``, ``event.kind``, ``sentinel.finding.status``) is brought up to the shipped
mapping by ``setup``: the subfields are added and its documents become matchable in any case."""

from __future__ import annotations

import copy
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from elasticsearch import Elasticsearch

from sentinel.model import Asset, Context, Endpoint, Evaluation, Finding, Text
from sentinel.severity import Severity
from sentinel.store.elastic import ElasticSink
from sentinel.store.elastic_templates import load_template, setup, teardown

NEW_SUBFIELDS = ("result.evaluation", "network.type", "event.kind", "sentinel.finding.status")


def _without_new_subfields(properties: dict[str, Any]) -> dict[str, Any]:
    old = copy.deepcopy(properties)
    for dotted in NEW_SUBFIELDS:
        node: dict[str, Any] = {"properties": old}
        for part in dotted.split("."):
            node = node["properties"][part]
        node.pop("fields")
    return old


def _old_findings_index(client: Elasticsearch, prefix: str) -> str:
    common, findings = load_template("common"), load_template("findings")
    properties = {**common["mappings"]["properties"]}
    properties["sentinel"] = copy.deepcopy(properties["sentinel"])
    properties["sentinel"]["properties"] |= findings["mappings"]["properties"]["sentinel"][
        "properties"
    ]
    index = f"{prefix}-findings-000001"
    client.indices.create(
        index=index,
        settings={"analysis": common["settings"]["analysis"], "number_of_replicas": 0},
        mappings={"dynamic": False, "properties": _without_new_subfields(properties)},
        aliases={f"{prefix}-findings": {"is_write_index": True}},
    )
    return index


def _count(client: Elasticsearch, index: str, query: str) -> int:
    found = client.count(index=index, query={"query_string": {"query": query}})
    return int(found["count"])


def test_setup_adds_lower_subfields_and_reindexes_old_documents(client: Elasticsearch) -> None:
    prefix = f"sentinel-test-{uuid.uuid4().hex[:12]}"
    try:
        index = _old_findings_index(client, prefix)
        doc = {
            "@timestamp": "2026-11-20T08:00:00Z",
            "result": {"evaluation": "FAILED"},
            "network": {"type": "IPv6"},
            "event": {"kind": "State"},
            "sentinel": {"finding": {"status": "Reopened"}},
        }
        client.index(index=index, id="old-1", document=doc, refresh="wait_for")
        client.index(index=index, id="old-2", document={"message": "no such field"})
        assert _count(client, index, "result.evaluation:failed") == 0  # case-sensitive

        report = setup(client, prefix)
        migrated = [line for line in report.lines if line.startswith(f"mapping of {index}")]
        assert len(migrated) == 1 and "1 document(s) indexed again" in migrated[0], report.lines
        for field, value in (
            ("result.evaluation", "failed"),
            ("network.type", "ipv6"),
            ("event.kind", "state"),
            ("sentinel.finding.status", "reopened"),
        ):
            assert _count(client, index, f"{field}.lower:{value}") == 1, field
        assert client.get(index=index, id="old-1")["_source"] == doc

        again = setup(client, prefix)
        assert not [line for line in again.lines if line.startswith("mapping of")]
    finally:
        teardown(client, prefix)


def test_setup_adds_the_searchable_evidence_fields_to_an_older_index(
    client: Elasticsearch, tmp_path: Path
) -> None:
    """An index made before ``sentinel.indexed`` and ``tls.server.x509.public_key_*`` gets them
    from setup (put-mapping), so what the new sink writes into it can be filtered on."""
    prefix = f"sentinel-test-{uuid.uuid4().hex[:12]}"
    try:
        index = _old_findings_index(client, prefix)
        props = client.indices.get_mapping(index=index)[index]["mappings"]["properties"]
        del props["sentinel"]["properties"]["indexed"]
        x509 = props["tls"]["properties"]["server"]["properties"]["x509"]["properties"]
        del x509["public_key_size"], x509["public_key_algorithm"]
        client.indices.delete(index=index)
        client.indices.create(
            index=index,
            settings={"analysis": load_template("common")["settings"]["analysis"],
                      "number_of_replicas": 0},
            mappings={"dynamic": False, "properties": props},
            aliases={f"{prefix}-findings": {"is_write_index": True}},
        )
        report = setup(client, prefix)
        added = [line for line in report.lines if line.startswith(f"mapping of {index}: added")
                 and "indexed again" not in line]  # (the other line: the .lower subfields)
        assert len(added) == 1, report.lines
        for name in ("sentinel.indexed.cipher", "sentinel.indexed.key_size",
                     "sentinel.indexed.ssh.kex", "tls.server.x509.public_key_size"):
            assert name in added[0], added

        finding = Finding(
            check_id="TLS-KEY-RSA", title=Text(zh="RSA 密钥过短", en="RSA key too short"),
            evaluation=Evaluation.FAILED, severity=Severity.HIGH,
            context=Context(scan_id="s1", agency_id="dsj", segment_id="dmz"),
            asset=Asset(id="h1", addresses=("198.18.0.5",)),
            endpoint=Endpoint(address="198.18.0.5", port=443), protocol="tls", probe="tls",
            evidence={"rsa_bits": [1024], "suites": ["TLS_RSA_WITH_RC4_128_SHA"]},
            observed_at=datetime(2026, 3, 2, tzinfo=UTC))
        with ElasticSink(client, tmp_path / "spool", prefix=prefix) as sink:
            sink.add_findings([finding])
        client.indices.refresh(index=f"{prefix}-*")
        for query in ("tls.server.x509.public_key_size:[* TO 2047]",
                      "sentinel.indexed.cipher:TLS_RSA_WITH_RC4_128_SHA",
                      "tls.cipher.lower:tls_rsa_with_rc4_128_sha",
                      "sentinel.indexed.key_size:1024"):
            assert _count(client, index, query) == 1, query
        assert not [line for line in setup(client, prefix).lines if line.startswith("mapping")]
    finally:
        teardown(client, prefix)
