"""Kibana 8 saved objects (ndjson) from the dashboard spec (:mod:`sentinel.store.kibana_spec`).

The structure is the one Kibana's own sample data uses (eCommerce, Kibana 8.8+):

- one ``index-pattern`` (data view) per stream, id and title ``<prefix>-<kind>`` (the write
  alias, which also covers rolled-over indices), time field ``@timestamp``;
- one ``dashboard`` per spec dashboard, its panels **Lens visualisations embedded by value**
  (``panelsJSON[].embeddableConfig.attributes``, datasource ``formBased``); each Lens layer
  names its data view by reference, and the dashboard lists those references as
  ``<panelIndex>:indexpattern-datasource-layer-<layerId>``, so an import into another space
  rewires them.

Queries are Lucene (``"language": "lucene"``); :mod:`sentinel.store.kibana_queries` turns a
panel back into the Elasticsearch request Kibana sends for it.
"""

from __future__ import annotations

import json
from functools import cache
from typing import Any

from sentinel.catalog.resources import data_file
from sentinel.errors import CatalogError
from sentinel.store.elastic_templates import alias_name
from sentinel.store.kibana_spec import (
    Dashboard,
    DateHistogram,
    KibanaSpec,
    Panel,
    field_types,
    load_spec,
)
from sentinel.yamlio import load_yaml

CORE_MIGRATION_VERSION = "8.8.0"
TYPE_MIGRATION_VERSION = {"index-pattern": "8.0.0", "dashboard": "8.7.0"}
PANEL_VERSION = "8.8.0"
_LENS_TYPES = {"keyword": "string", "long": "number", "float": "number", "date": "date", "ip": "ip"}
_XY_SERIES = {"bar_stacked": "bar_stacked", "bar_horizontal_stacked": "bar_horizontal_stacked"}


def data_view_id(prefix: str, kind: str) -> str:
    """A data view's id; also its title (the alias it reads)."""
    return alias_name(prefix, kind)


def _saved(
    kind: str, object_id: str, attributes: dict[str, Any], refs: list[Any]
) -> dict[str, Any]:
    return {
        "type": kind,
        "id": object_id,
        "attributes": attributes,
        "references": refs,
        "managed": False,
        "coreMigrationVersion": CORE_MIGRATION_VERSION,
        "typeMigrationVersion": TYPE_MIGRATION_VERSION[kind],
    }


@cache
def report_words() -> dict[str, dict[str, str]]:
    """The reports' words (``reports/labels.yml``): the one vocabulary Kibana shares."""
    doc = load_yaml(data_file("reports", "labels.yml"), CatalogError)
    if not isinstance(doc.data, dict):
        raise CatalogError("expected a mapping of {zh, en} texts", doc.locate(()))
    return doc.data


def _both(key: str) -> str:
    words = report_words()[key]
    return f"{words['zh']} / {words['en']}"


def field_label(spec: KibanaSpec, field: str) -> str | None:
    """A field's name for people, "单位 / Agency", from the reports' words (None: none set)."""
    key = spec.field_labels.get(field)
    return _both(key) if key else None


def value_lookup(spec: KibanaSpec, field: str) -> dict[str, str]:
    """A field's values for people (``high`` -> "高危 / High"), from the reports' words."""
    prefix = spec.value_labels.get(field)
    if prefix is None:
        return {}
    return {key.removeprefix(prefix): _both(key) for key in report_words()
            if key.startswith(prefix)}


def _field_attrs(spec: KibanaSpec, kind: str) -> tuple[str, str]:
    """The data view's ``fieldAttrs`` (custom labels) and ``fieldFormatMap`` (static lookups
    of severity, verdict, status and zone values), for the fields its stream maps."""
    mapped = field_types(kind)
    attrs = {f: {"customLabel": field_label(spec, f)} for f in spec.field_labels if f in mapped}
    formats = {f: {"id": "static_lookup", "params": {
        "lookupEntries": [{"key": k, "value": v} for k, v in value_lookup(spec, f).items()],
        "unknownKeyValue": None}} for f in spec.value_labels if f in mapped}
    return json.dumps(attrs, ensure_ascii=False), json.dumps(formats, ensure_ascii=False)


def _data_views(spec: KibanaSpec, prefix: str) -> list[dict[str, Any]]:
    return [
        _saved(
            "index-pattern",
            data_view_id(prefix, kind),
            {
                "title": alias_name(prefix, kind),
                "name": view.name,
                "timeFieldName": view.time_field,
                "fields": "[]",
                "fieldAttrs": _field_attrs(spec, kind)[0],
                "fieldFormatMap": _field_attrs(spec, kind)[1],
                "runtimeFieldMap": "{}",
                "sourceFilters": "[]",
                "typeMeta": "{}",
                "allowNoIndex": True,
            },
            [],
        )
        for kind, view in spec.data_views.items()
    ]


def _bucket_column(panel: Panel, position: int, metric_id: str,
                   labels: dict[str, str]) -> dict[str, Any]:
    bucket = panel.buckets[position]
    source_type = field_types(panel.stream)[bucket.field]
    label = labels.get(bucket.field)
    if isinstance(bucket, DateHistogram):
        return {
            "label": bucket.field,
            "dataType": "date",
            "operationType": "date_histogram",
            "sourceField": bucket.field,
            "isBucketed": True,
            "scale": "interval",
            "params": {
                "interval": bucket.interval,
                "includeEmptyRows": True,
                "dropPartials": False,
            },
        }
    order: dict[str, Any] = (
        {"type": "alphabetical", "fallback": False}
        if bucket.order == "alphabetical"
        else {"type": "column", "columnId": metric_id}
    )
    column: dict[str, Any] = {
        "label": label or f"Top {bucket.size} values of {bucket.field}",
        "dataType": _LENS_TYPES.get(source_type, "string"),
        "operationType": "terms",
        "sourceField": bucket.field,
        "isBucketed": True,
        "scale": "ordinal",
        "params": {
            "size": bucket.size,
            "orderBy": order,
            "orderDirection": "asc" if bucket.order == "alphabetical" else "desc",
            # No "Other" bucket: the panel shows exactly the terms aggregation's buckets.
            "otherBucket": False,
            "missingBucket": False,
        },
    }
    if label:  # the reports' word for the field (kibana/dashboards.yml field_labels)
        column["customLabel"] = True
    return column


def _metric_column(panel: Panel) -> dict[str, Any]:
    metric = panel.metric
    if metric.operation == "count":
        return {
            "label": "Count of records",
            "dataType": "number",
            "operationType": "count",
            "sourceField": "___records___",
            "isBucketed": False,
            "scale": "ratio",
            "params": {"emptyAsNull": True},
        }
    field = metric.field or ""
    kind = "date" if field_types(panel.stream)[field] == "date" else "number"
    return {
        "label": f"{metric.operation.replace('_', ' ').title()} of {field}",
        "dataType": kind,
        "operationType": metric.operation,
        "sourceField": field,
        "isBucketed": False,
        "scale": "ratio",
        "params": {"emptyAsNull": True},
    }


def _visualization(panel: Panel, layer: str, buckets: list[str], metric: str) -> dict[str, Any]:
    if panel.chart == "table":
        return {
            "layerId": layer,
            "layerType": "data",
            "columns": [{"columnId": column} for column in [*buckets, metric]],
        }
    if panel.chart == "donut":
        return {
            "shape": "donut",
            "layers": [
                {
                    "layerId": layer,
                    "layerType": "data",
                    "primaryGroups": buckets,
                    "metrics": [metric],
                    "numberDisplay": "value",
                    "categoryDisplay": "default",
                    "legendDisplay": "default",
                }
            ],
        }
    xy_layer: dict[str, Any] = {
        "layerId": layer,
        "layerType": "data",
        "seriesType": _XY_SERIES[panel.chart],
        "xAccessor": buckets[0],
        "accessors": [metric],
    }
    if len(buckets) > 1:
        xy_layer["splitAccessor"] = buckets[1]
    return {
        "preferredSeriesType": _XY_SERIES[panel.chart],
        "legend": {"isVisible": True, "position": "right"},
        "valueLabels": "hide",
        "layers": [xy_layer],
    }


_VISUALIZATION_TYPE = {
    "table": "lnsDatatable",
    "donut": "lnsPie",
    "bar_stacked": "lnsXY",
    "bar_horizontal_stacked": "lnsXY",
}


def lens_attributes(panel: Panel, prefix: str,
                    labels: dict[str, str] | None = None) -> dict[str, Any]:
    """The Lens attributes of one panel (what Kibana stores for a by-value Lens panel);
    ``labels`` names fields for people (field -> "单位 / Agency")."""
    layer = f"{panel.id}-layer"
    metric_id = f"{panel.id}-metric"
    bucket_ids = [f"{panel.id}-bucket-{n}" for n in range(len(panel.buckets))]
    columns = {bid: _bucket_column(panel, n, metric_id, labels or {})
               for n, bid in enumerate(bucket_ids)}
    columns[metric_id] = _metric_column(panel)
    return {
        "title": panel.title,
        "description": "",
        "visualizationType": _VISUALIZATION_TYPE[panel.chart],
        "type": "lens",
        "references": [
            {
                "type": "index-pattern",
                "id": data_view_id(prefix, panel.stream),
                "name": f"indexpattern-datasource-layer-{layer}",
            }
        ],
        "state": {
            "visualization": _visualization(panel, layer, bucket_ids, metric_id),
            "query": {"query": panel.query, "language": "lucene"},
            "filters": [],
            "datasourceStates": {
                "formBased": {
                    "layers": {
                        layer: {
                            "columns": columns,
                            "columnOrder": [*bucket_ids, metric_id],
                            "incompleteColumns": {},
                        }
                    }
                }
            },
            "internalReferences": [],
            "adHocDataViews": {},
        },
    }


def _dashboard(spec_dashboard: Dashboard, prefix: str, labels: dict[str, str]) -> dict[str, Any]:
    panels: list[dict[str, Any]] = []
    refs: list[dict[str, str]] = []
    for panel in spec_dashboard.panels:
        attributes = lens_attributes(panel, prefix, labels)
        panels.append(
            {
                "version": PANEL_VERSION,
                "type": "lens",
                "gridData": {**panel.grid.model_dump(), "i": panel.id},
                "panelIndex": panel.id,
                "embeddableConfig": {"attributes": attributes, "enhancements": {}},
                "title": panel.title,
            }
        )
        refs += [{**ref, "name": f"{panel.id}:{ref['name']}"} for ref in attributes["references"]]
    search_source = {"query": {"query": "", "language": "kuery"}, "filter": []}
    attributes = {
        "title": spec_dashboard.title,
        "description": spec_dashboard.description,
        "panelsJSON": json.dumps(panels, ensure_ascii=False),
        "optionsJSON": json.dumps(
            {"useMargins": True, "syncColors": False, "hidePanelTitles": False}
        ),
        "timeRestore": True,
        "timeFrom": "now-7d",
        "timeTo": "now",
        "refreshInterval": {"pause": True, "value": 60000},
        "kibanaSavedObjectMeta": {"searchSourceJSON": json.dumps(search_source)},
        "version": 1,
    }
    return _saved("dashboard", f"{prefix}-{spec_dashboard.id}", attributes, refs)


def saved_objects(prefix: str = "sentinel", spec: KibanaSpec | None = None) -> list[dict[str, Any]]:
    """Data views first (dashboards refer to them), then the dashboards."""
    spec = spec or load_spec()
    labels = {f: label for f in spec.field_labels if (label := field_label(spec, f))}
    return _data_views(spec, prefix) + [_dashboard(d, prefix, labels) for d in spec.dashboards]


def to_ndjson(objects: list[dict[str, Any]]) -> str:
    """One JSON object per line, as Kibana's saved-objects import expects."""
    return "".join(json.dumps(obj, ensure_ascii=False, sort_keys=True) + "\n" for obj in objects)
