"""An index made by an older Sentinel (no ``.lower`` on ``result.evaluation``,
``network.type``, ``event.kind``, ``sentinel.finding.status``) is brought up to the shipped
mapping by ``setup``: the subfields are added and its documents become matchable in any case."""

from __future__ import annotations

import copy
import uuid
from typing import Any

from elasticsearch import Elasticsearch

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
