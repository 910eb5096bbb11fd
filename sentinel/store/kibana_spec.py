"""The Kibana dashboards as data: ``sentinel/store/kibana/dashboards.yml``, validated.

A panel names the stream it reads (a document kind), a Lucene query string, its buckets
(terms or date histogram, outermost first), one metric and a chart type. Every field a panel
uses must exist in the stream's shipped mapping (``sentinel/store/templates``), so a typo
fails when the spec loads, not in front of an analyst.
"""

from __future__ import annotations

from functools import cache
from importlib.resources import files
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from sentinel.errors import InputError, SourceLocation
from sentinel.store.elastic_templates import KINDS, Kind, load_template, template_file
from sentinel.yamlio import load_yaml, validate

Chart = Literal["bar_stacked", "bar_horizontal_stacked", "donut", "table"]
_STRICT = ConfigDict(frozen=True, extra="forbid")


class Terms(BaseModel):
    """Top ``size`` values of a field, ordered by the panel's metric or alphabetically."""

    model_config = _STRICT
    terms: str
    size: int = Field(ge=1, le=500)
    order: Literal["metric", "alphabetical"] = "metric"

    @property
    def field(self) -> str:
        return self.terms


class DateHistogram(BaseModel):
    """Documents per fixed time interval (``1h``, ``1d``...)."""

    model_config = _STRICT
    date_histogram: str
    interval: str = Field(pattern=r"^[1-9][0-9]*[mhd]$")

    @property
    def field(self) -> str:
        return self.date_histogram


class Metric(BaseModel):
    """``count`` (documents), or one of ``unique_count`` / ``max`` / ``average`` over a field."""

    model_config = _STRICT
    unique_count: str | None = None
    max: str | None = None
    average: str | None = None

    @model_validator(mode="after")
    def _one(self) -> Metric:
        if sum(f is not None for f in (self.unique_count, self.max, self.average)) > 1:
            raise ValueError("a metric is one of unique_count, max, average")
        return self

    @property
    def operation(self) -> Literal["count", "unique_count", "max", "average"]:
        if self.unique_count:
            return "unique_count"
        if self.average:
            return "average"
        return "max" if self.max else "count"

    @property
    def field(self) -> str | None:
        return self.unique_count or self.max or self.average


class Grid(BaseModel):
    """Position on Kibana's 48-column dashboard grid."""

    model_config = _STRICT
    x: int = Field(ge=0, le=47)
    y: int = Field(ge=0)
    w: int = Field(ge=1, le=48)
    h: int = Field(ge=1)


class Panel(BaseModel):
    """One Lens visualisation on a dashboard."""

    model_config = _STRICT
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    title: str
    stream: Kind
    query: str = ""
    chart: Chart
    buckets: tuple[Terms | DateHistogram, ...] = Field(min_length=1, max_length=2)
    metric: Metric = Metric()
    grid: Grid

    def fields(self) -> list[str]:
        """Every field the panel aggregates on."""
        used = [bucket.field for bucket in self.buckets]
        return used + ([self.metric.field] if self.metric.field else [])


class Dashboard(BaseModel):
    """A dashboard: a title, a description and its panels."""

    model_config = _STRICT
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    title: str
    description: str = ""
    panels: tuple[Panel, ...] = Field(min_length=1)


class DataView(BaseModel):
    """A data view over one stream's alias."""

    model_config = _STRICT
    name: str
    time_field: str = "@timestamp"


class KibanaSpec(BaseModel):
    """The whole file: one data view per stream, the dashboards, and the words of fields and
    values: ``field_labels`` (field -> a key of ``reports/labels.yml``, shown as the data
    views' custom label and the panels' column label) and ``value_labels`` (field -> a key
    prefix there: ``sev_`` makes ``high`` 高危 / High), so Kibana says what the reports say."""

    model_config = _STRICT
    data_views: dict[Kind, DataView]
    dashboards: tuple[Dashboard, ...]
    field_labels: dict[str, str] = {}
    value_labels: dict[str, str] = {}

    @model_validator(mode="after")
    def _consistent(self) -> KibanaSpec:
        missing = set(KINDS) - set(self.data_views)
        if missing:
            raise ValueError(f"no data view for {sorted(missing)}")
        seen: set[str] = set()
        for dashboard in self.dashboards:
            for panel in dashboard.panels:
                if panel.id in seen:
                    raise ValueError(f"panel id {panel.id!r} is used twice")
                seen.add(panel.id)
                types = field_types(panel.stream)
                for name in panel.fields():
                    if name not in types:
                        raise ValueError(
                            f"panel {panel.id}: {name} is not mapped in {panel.stream}"
                        )
                average = panel.metric.average
                if average and types[average] not in ("long", "float", "integer"):
                    raise ValueError(f"panel {panel.id}: average of {average}, not a number")
        return self


def _flatten(properties: dict[str, Any], prefix: str, out: dict[str, str]) -> None:
    for name, spec in properties.items():
        path = f"{prefix}{name}"
        if "properties" in spec:
            _flatten(spec["properties"], f"{path}.", out)
        elif spec.get("type", "object") != "object":
            out[path] = spec["type"]
            for sub, subspec in spec.get("fields", {}).items():
                out[f"{path}.{sub}"] = subspec["type"]


@cache
def field_types(kind: str) -> dict[str, str]:
    """Field path → mapping type for one stream, from the shipped templates (no cluster)."""
    out: dict[str, str] = {}
    _flatten(load_template("common")["mappings"]["properties"], "", out)
    _flatten(load_template(template_file(kind))["mappings"]["properties"], "", out)
    return out


def load_spec(text: str | None = None) -> KibanaSpec:
    """The shipped dashboards (or ``text``, for tests), validated."""
    source = files("sentinel.store").joinpath("kibana", "dashboards.yml")
    doc = load_yaml(source, InputError, text)
    if not isinstance(doc.data, dict):
        raise InputError(
            "expected a mapping with data_views and dashboards", SourceLocation(doc.file)
        )
    return validate(doc, KibanaSpec, InputError)
