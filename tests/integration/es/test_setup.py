"""Templates and mappings: setup is idempotent, addresses are ``ip``, matched strings have
a case-insensitive ``.lower`` subfield, free-form evidence never grows the mapping."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path

from elasticsearch import Elasticsearch

from sentinel.model import Asset, Context, Endpoint, Evaluation, Finding, Text
from sentinel.severity import Severity
from sentinel.store.elastic import ElasticSink
from sentinel.store.elastic_templates import ILM_UNAVAILABLE, KINDS, index_pattern, setup


def _finding(address: str, check_id: str, evidence: Mapping[str, object]) -> Finding:
    return Finding(
        check_id=check_id,
        title=Text(zh="未提供国密套件", en="No TLCP suite offered"),
        evaluation=Evaluation.FAILED,
        severity=Severity.HIGH,
        context=Context(scan_id="scan-1", agency_id="Agency-A", segment_id="Seg-1"),
        asset=Asset(id=f"asset-{address}", addresses=(address,)),
        endpoint=Endpoint(address=address, port=443),
        protocol="tls",
        probe="tls",
        evidence=dict(evidence),
        observed_at=datetime(2026, 1, 1, tzinfo=UTC),
    )


def _hits(client: Elasticsearch, index: str, query: Mapping[str, object]) -> int:
    return int(client.count(index=index, query=query)["count"])


def test_setup_twice_changes_nothing(client: Elasticsearch, prefix: str) -> None:
    second = setup(client, prefix)  # the fixture ran the first
    assert second.lines[0] == ILM_UNAVAILABLE  # this node has no x-pack-ilm; setup goes on
    assert not [line for line in second.lines if line.startswith("mapping of")], second.lines
    for kind in KINDS:
        assert f"write alias {prefix}-{kind} exists" in second.lines
        indices = client.indices.get_alias(name=f"{prefix}-{kind}")
        assert list(indices) == [index_pattern(prefix, kind).replace("*", "000001")]
    assert list(client.indices.get_alias(name=f"{prefix}-findings-current")) == [
        f"{prefix}-current-findings-000001"]
    mapping = client.indices.get_mapping(index=f"{prefix}-findings")
    props = mapping[f"{prefix}-findings-000001"]["mappings"]["properties"]
    assert props["destination"]["properties"]["ip"]["type"] == "ip"
    assert props["destination"]["properties"]["port"]["type"] == "long"
    assert props["@timestamp"]["type"] == "date"


def test_ip_cidr_and_lowercase_match(client: Elasticsearch, prefix: str, tmp_path: Path) -> None:
    sink = ElasticSink(client, tmp_path / "spool", prefix=prefix)
    sink.add_findings(
        [
            _finding("2001:db8:10::5", "CRY-TLCP-ABSENT", {}),
            _finding("198.18.3.7", "V6-AAAA-MISSING", {}),
        ]
    )
    sink.close()
    index = f"{prefix}-findings"
    client.indices.refresh(index=index)
    assert _hits(client, index, {"term": {"destination.ip": "2001:db8::/32"}}) == 1
    assert _hits(client, index, {"term": {"host.ip": "198.18.0.0/15"}}) == 1
    assert _hits(client, index, {"term": {"destination.ip": "2001:db8:10::5"}}) == 1
    # Lucene keywords are case-sensitive, Sigma is not: the .lower subfield closes the gap.
    assert _hits(client, index, {"term": {"rule.id": "cry-tlcp-absent"}}) == 0
    assert _hits(client, index, {"term": {"rule.id.lower": "cry-tlcp-absent"}}) == 1
    query = {
        "query_string": {
            "query": "rule.id.lower:Cry-Tlcp-Absent AND organization.id.lower:agency-a"
        }
    }
    assert _hits(client, index, query) == 1


def test_free_form_evidence_does_not_grow_the_mapping(
    client: Elasticsearch, prefix: str, tmp_path: Path
) -> None:
    evidence = {f"field_{n}": {"nested": n} for n in range(2000)}  # above the 1000-field limit
    with ElasticSink(client, tmp_path / "spool", prefix=prefix) as sink:
        sink.add_findings([_finding("198.18.0.9", "EXP-TELNET", evidence)])
        sink.write("findings", "unknown-field", {"brand_new": {"deep": 1}, "rule": {"id": "X"}})
    index = f"{prefix}-findings"
    client.indices.refresh(index=index)
    assert _hits(client, index, {"match_all": {}}) == 2
    props = client.indices.get_mapping(index=index)[f"{index}-000001"]["mappings"]["properties"]
    assert "properties" not in props["sentinel"]["properties"]["evidence"]
    assert "brand_new" not in props  # dynamic: false keeps it in _source, unmapped
