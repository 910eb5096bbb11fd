"""The dashboard spec loads strictly, and its export is self-consistent (no cluster needed)."""

from __future__ import annotations

import json

import pytest

from sentinel.assess.posture import crypto_posture
from sentinel.errors import InputError
from sentinel.store.kibana_export import saved_objects, to_ndjson
from sentinel.store.kibana_queries import searches
from sentinel.store.kibana_spec import load_spec

PANEL = """\
data_views: {findings: {name: f}, findings-current: {name: c}, assets: {name: a},
             events: {name: e}, alerts: {name: al}, agents: {name: ag}}
dashboards:
  - id: d
    title: t
    panels:
      - id: p
        title: t
        stream: findings
        chart: table
        buckets: [{terms: FIELD, size: 5}]
        grid: {x: 0, y: 0, w: 10, h: 10}
"""


def test_a_panel_on_an_unmapped_field_is_refused_with_its_location() -> None:
    with pytest.raises(InputError, match=r"dashboards.yml:\d+:\d+.*sentinel.nope is not mapped"):
        load_spec(PANEL.replace("FIELD", "sentinel.nope"))
    assert load_spec(PANEL.replace("FIELD", "rule.id")).dashboards[0].panels[0].id == "p"


def test_unknown_keys_are_refused() -> None:
    with pytest.raises(InputError, match="unknown field 'colour'"):
        load_spec(
            PANEL.replace("FIELD", "rule.id").replace(
                "chart: table", "chart: table\n        colour: red"
            )
        )


def test_export_references_resolve_and_every_panel_has_a_search() -> None:
    text = to_ndjson(saved_objects("acme"))
    objects = [json.loads(line) for line in text.splitlines()]
    ids = {(o["type"], o["id"]) for o in objects}
    assert len(ids) == len(objects)
    for obj in objects:
        assert all((ref["type"], ref["id"]) in ids for ref in obj["references"])
    panels = sum(len(d.panels) for d in load_spec().dashboards)
    found = searches(text)
    assert len(found) == panels
    assert {s.data_view for s in found} <= {
        f"acme-{k}" for k in ("findings-current", "assets", "events", "alerts", "agents")
    }


def test_a_metric_is_one_operation_and_an_average_is_over_a_number() -> None:
    book = PANEL.replace("FIELD", "rule.id")
    with pytest.raises(InputError, match="one of unique_count, max, average"):
        load_spec(book.replace("chart: table", "chart: table\n        metric: "
                               "{max: '@timestamp', average: sentinel.indexed.score}"))
    with pytest.raises(InputError, match=r"average of rule\.id, not a number"):
        load_spec(book.replace("chart: table", "chart: table\n        metric: {average: rule.id}"))
    average = "chart: table\n        metric: {average: sentinel.indexed.score}"
    spec = load_spec(book.replace("chart: table", average))
    assert spec.dashboards[0].panels[0].metric.operation == "average"


def test_crypto_posture_labels() -> None:
    national = {
        "versions": ["TLCPv1.1"],
        "groups": [],
        "posture": {"key_exchange": ["sm2"], "authentication": ["sm2"]},
    }
    weak = {
        "versions": ["TLSv1.0", "TLSv1.2"],
        "groups": [{"class": "classical"}],
        "posture": {"key_exchange": ["classical"], "authentication": ["classical"]},
    }
    hybrid = {
        "versions": ["TLSv1.3"],
        "groups": [{"class": "pqc-hybrid"}],
        "posture": {"key_exchange": ["pqc-hybrid"], "authentication": ["classical"]},
    }
    assert crypto_posture(national) == {
        "posture": ["national"],
        "key_exchange": ["sm2"],
        "authentication": ["sm2"],
    }
    assert crypto_posture(weak)["posture"] == ["international", "weak"]  # type: ignore[index]
    assert crypto_posture(hybrid)["posture"] == ["international", "post-quantum"]  # type: ignore[index]
    assert crypto_posture({"state": "closed"}) is None
