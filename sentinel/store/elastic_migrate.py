"""Bring indices made by an older Sentinel up to the shipped mapping: new fields, ``.lower``.

A field the shipped mapping has and an older index lacks (``tls.server.x509.public_key_size``,
``sentinel.indexed.*``) is added to that index's mapping with put-mapping. Sentinel derives
such fields when it writes a document, and the sink runs setup before its first write, so no
document already in an older index carries them: nothing is indexed again for them.

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


def merge_properties(base: Properties, extra: Properties) -> Properties:
    """Two mappings' properties as Elasticsearch composes component templates: objects merged,
    ``extra`` winning on a leaf."""
    out = copy.deepcopy(base)
    for name, spec in extra.items():
        if "properties" in spec and "properties" in out.get(name, {}):
            out[name] = {**out[name], **{k: v for k, v in spec.items() if k != "properties"},
                         "properties": merge_properties(out[name]["properties"],
                                                        spec["properties"])}
        else:
            out[name] = copy.deepcopy(spec)
    return out


def missing_fields(shipped: Properties, existing: Properties) -> Properties:
    """The smallest put-mapping body adding what ``shipped`` has and ``existing`` lacks
    (whole fields or objects; a field both have is left as it is)."""
    patch: Properties = {}
    for name, spec in shipped.items():
        have = existing.get(name)
        if have is None:
            patch[name] = copy.deepcopy(spec)
        elif "properties" in spec and "properties" in have:
            inner = missing_fields(spec["properties"], have["properties"])
            if inner:
                patch[name] = {"properties": inner}
    return patch


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


def _leaves(properties: Properties, prefix: str = "") -> Iterator[tuple[str, str]]:
    for name, spec in properties.items():
        if "properties" in spec:
            yield from _leaves(spec["properties"], f"{prefix}{name}.")
        else:
            yield prefix, name


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


def migrate(client: Elasticsearch, pattern: str, wanted: dict[str, Properties],
            shipped: Properties | None = None) -> list[str]:
    """Add the fields of ``shipped`` an index lacks, then the missing ``.lower`` subfields, to
    every index matching ``pattern``; one line per index changed, saying what was added and
    how many documents were indexed again."""
    lines = []
    mappings = client.indices.get_mapping(index=pattern, allow_no_indices=True)
    for index, body in sorted(mappings.items()):
        properties = body.get("mappings", {}).get("properties", {})
        added = missing_fields(shipped, properties) if shipped is not None else {}
        if added:
            client.indices.put_mapping(index=index, properties=added)
            names = sorted(f"{prefix}{name}" for prefix, name in _leaves(added))
            lines.append(f"mapping of {index}: added {', '.join(names)}")
            properties = merge_properties(properties, added)
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
