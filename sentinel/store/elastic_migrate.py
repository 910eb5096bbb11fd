"""Bring indices made by an older Sentinel up to the shipped ``.lower`` subfields.

An index template only shapes indices created after it: a write index made by an older
Sentinel keeps its mapping, and the rules' Lucene queries (``result.evaluation.lower:failed``)
would never match its documents. Adding a multi-field to an existing field is allowed by
put-mapping, but Elasticsearch does not index the documents already there into it, and the
node may lack ``_update_by_query`` (the ``reindex`` module: the test node has none). So the
documents that have such a field and not its subfield are indexed again in place: same id,
same source, with optimistic concurrency so that a newer write by a sink always wins.
Nothing is done, and nothing is read, when every index already has every subfield.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

from elasticsearch import Elasticsearch, helpers

from sentinel.errors import SinkError

Properties = dict[str, Any]


def lower_fields(properties: Properties, prefix: str = "") -> dict[str, Properties]:
    """Every field of a mapping with a ``lower`` subfield: dotted name -> its definition."""
    found: dict[str, Properties] = {}
    for name, spec in properties.items():
        if "properties" in spec:
            found |= lower_fields(spec["properties"], f"{prefix}{name}.")
        elif "lower" in spec.get("fields", {}):
            found[f"{prefix}{name}"] = spec
    return found


def _has_lower(properties: Properties, dotted: str) -> bool:
    node: Properties = {"properties": properties}
    for part in dotted.split("."):
        node = node.get("properties", {}).get(part, {})
    return "lower" in node.get("fields", {})


def _patch(fields: dict[str, Properties]) -> Properties:
    """The smallest put-mapping body that adds these fields' subfields."""
    root: Properties = {}
    for dotted, spec in fields.items():
        *parents, leaf = dotted.split(".")
        node = root
        for part in parents:
            node = node.setdefault(part, {"properties": {}})["properties"]
        node[leaf] = copy.deepcopy(spec)
    return root


def _stale(client: Elasticsearch, index: str, names: list[str]) -> Iterator[dict[str, Any]]:
    """Bulk actions re-indexing the documents that have one of ``names`` but not its subfield."""
    query = {
        "bool": {
            "should": [
                {
                    "bool": {
                        "filter": [{"exists": {"field": name}}],
                        "must_not": [{"exists": {"field": f"{name}.lower"}}],
                    }
                }
                for name in names
            ],
            "minimum_should_match": 1,
        }
    }
    for hit in helpers.scan(
        client, index=index, query={"query": query, "seq_no_primary_term": True}
    ):
        yield {
            "_op_type": "index",
            "_index": hit["_index"],
            "_id": hit["_id"],
            "_source": hit["_source"],
            "if_seq_no": hit["_seq_no"],
            "if_primary_term": hit["_primary_term"],
        }


def _status(error: Any) -> int | None:
    """The HTTP status of one bulk error item (``{"index": {"status": 409, ...}}``)."""
    for outcome in error.values() if isinstance(error, dict) else ():
        if isinstance(outcome, dict):
            status = outcome.get("status")
            return status if isinstance(status, int) else None
    return None


def migrate(client: Elasticsearch, pattern: str, wanted: dict[str, Properties]) -> list[str]:
    """Add the missing ``.lower`` subfields to every index matching ``pattern``; one line per
    index changed, saying how many documents were indexed again."""
    lines = []
    mappings = client.indices.get_mapping(index=pattern, allow_no_indices=True)
    for index, body in sorted(mappings.items()):
        properties = body.get("mappings", {}).get("properties", {})
        missing = {name: spec for name, spec in wanted.items() if not _has_lower(properties, name)}
        if not missing:
            continue
        client.indices.put_mapping(index=index, properties=_patch(missing))
        done, errors = helpers.bulk(
            client,
            _stale(client, index, sorted(missing)),
            raise_on_error=False,
            refresh="wait_for",
        )
        # A conflict (409) means a sink rewrote the document meanwhile: that write has it.
        refused = [e for e in errors if _status(e) != 409] if isinstance(errors, list) else []
        if refused:
            raise SinkError(f"re-indexing {index} for its new subfields: {len(refused)} refused")
        lines.append(
            f"mapping of {index}: added {', '.join(f'{n}.lower' for n in sorted(missing))}; "
            f"{done} document(s) indexed again"
        )
    return lines
