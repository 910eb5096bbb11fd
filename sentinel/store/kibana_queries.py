"""The Elasticsearch request behind each exported Lens panel, read back from the saved objects.

Kibana sends a Lens layer as one search: the layer's Lucene query as ``query_string``
(``analyze_wildcard``, Kibana's default), and the bucket columns nested outermost first,
with the metric column at the leaf. Reading the exported objects, not the spec, means the
tests run what an analyst's Kibana would run. Only what the exporter writes is understood:
``terms``, ``date_histogram``, ``count``, ``unique_count``, ``max``, ``average``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

_METRIC_AGGS = {"unique_count": "cardinality", "max": "max", "average": "avg"}


@dataclass(frozen=True)
class PanelSearch:
    """One panel's request: the data view it reads and the search body."""

    dashboard: str
    panel: str
    data_view: str
    columns: tuple[dict[str, Any], ...]
    body: dict[str, Any]

    def fields(self) -> list[str]:
        """Fields the panel aggregates on (``count`` reads none)."""
        return [c["sourceField"] for c in self.columns if c["operationType"] != "count"]


def _terms_order(column: dict[str, Any], metric: dict[str, Any]) -> dict[str, str]:
    params = column["params"]
    if params["orderBy"]["type"] == "alphabetical":
        return {"_key": params["orderDirection"]}
    return {"_count" if metric["operationType"] == "count" else "metric": params["orderDirection"]}


def _bucket_agg(column: dict[str, Any], metric: dict[str, Any]) -> dict[str, Any]:
    if column["operationType"] == "date_histogram":
        return {
            "date_histogram": {
                "field": column["sourceField"],
                "fixed_interval": column["params"]["interval"],
                "min_doc_count": 1,
            }
        }
    if column["operationType"] == "terms":
        return {
            "terms": {
                "field": column["sourceField"],
                "size": column["params"]["size"],
                "order": _terms_order(column, metric),
            }
        }
    raise ValueError(f"bucket operation {column['operationType']!r} is not one Sentinel exports")


def _aggregations(buckets: list[dict[str, Any]], metric: dict[str, Any]) -> dict[str, Any]:
    # Like Lens, the metric is computed at every bucket level: a terms level ordered by the
    # metric needs it as its own sub-aggregation, and the leaf shows it.
    metric_agg: dict[str, Any] = {}
    if metric["operationType"] != "count":
        operation = _METRIC_AGGS[metric["operationType"]]
        metric_agg = {"metric": {operation: {"field": metric["sourceField"]}}}
    inner: dict[str, Any] = {}
    for depth in reversed(range(len(buckets))):
        agg = _bucket_agg(buckets[depth], metric)
        if inner or metric_agg:
            agg["aggs"] = {**inner, **metric_agg}
        inner = {f"bucket_{depth}": agg}
    return inner


def panel_search(
    attributes: dict[str, Any], data_views: dict[str, str]
) -> tuple[str, dict[str, Any], list[dict[str, Any]]]:
    """(data view title, search body, columns in order) of one Lens panel."""
    state = attributes["state"]
    layers = state["datasourceStates"]["formBased"]["layers"]
    ((layer_id, layer),) = layers.items()
    ref = next(
        r
        for r in attributes["references"]
        if r["name"] == f"indexpattern-datasource-layer-{layer_id}"
    )
    columns = [layer["columns"][cid] for cid in layer["columnOrder"]]
    buckets = [c for c in columns if c["isBucketed"]]
    (metric,) = [c for c in columns if not c["isBucketed"]]
    query_text = state["query"]["query"]
    query: dict[str, Any] = (
        {"query_string": {"query": query_text, "analyze_wildcard": True}}
        if query_text
        else {"match_all": {}}
    )
    body = {"size": 0, "query": query, "aggs": _aggregations(buckets, metric)}
    return data_views[ref["id"]], body, columns


def searches(ndjson: str) -> list[PanelSearch]:
    """Every panel of every dashboard in an export, as the request Kibana would send."""
    objects = [json.loads(line) for line in ndjson.splitlines() if line.strip()]
    data_views = {
        o["id"]: o["attributes"]["title"] for o in objects if o["type"] == "index-pattern"
    }
    out: list[PanelSearch] = []
    for dashboard in (o for o in objects if o["type"] == "dashboard"):
        for panel in json.loads(dashboard["attributes"]["panelsJSON"]):
            attributes = panel["embeddableConfig"]["attributes"]
            title, body, columns = panel_search(attributes, data_views)
            out.append(
                PanelSearch(dashboard["id"], panel["panelIndex"], title, tuple(columns), body)
            )
    return out


def flatten_buckets(aggregations: dict[str, Any], depth: int = 0) -> dict[tuple[Any, ...], Any]:
    """Nested bucket results as {(key, key...): value}; value is doc_count or the metric."""
    out: dict[tuple[Any, ...], Any] = {}
    for bucket in aggregations[f"bucket_{depth}"]["buckets"]:
        key = bucket.get("key_as_string", bucket["key"])
        if f"bucket_{depth + 1}" in bucket:
            for rest, value in flatten_buckets(bucket, depth + 1).items():
                out[(key, *rest)] = value
        elif "metric" in bucket:
            metric = bucket["metric"]
            out[(key,)] = metric.get("value_as_string", metric["value"])
        else:
            out[(key,)] = bucket["doc_count"]
    return out
