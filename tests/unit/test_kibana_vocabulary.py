"""One vocabulary in the reports and Kibana (issue 18 item 5): every word a person reads in
the Kibana saved objects (data view names, custom field labels, value lookups, dashboard and
panel titles, Lens column labels) uses the zh reports' word for each concept
(``reports/labels.yml`` is the source): 单位 for agency, 支持度 for IPv6 support, 未通过 for a
failed check, 高危/中危/... for severities, 扫描配置 for the playbook."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from sentinel.report.html import labels
from sentinel.store.kibana_export import report_words, saved_objects
from sentinel.store.kibana_spec import load_spec

# concept -> (the reports' label key, words a reader must not meet for it)
CONCEPTS = {
    "agency": ("agency", ("机构", "部门", "机关")),
    "ipv6 support": ("ipv6", ("就绪度", "就绪")),
    "failed": ("eval_failed", ("失败", "不通过", "未合规")),
    "playbook": ("scan_config", ("剧本", "脚本")),
    "severity": ("severity", ("严重性", "危险等级", "风险等级")),
}


def _texts(objects: list[dict[str, Any]]) -> Iterator[tuple[str, str]]:
    """(where, text) of every string a person reads in the saved objects."""
    for obj in objects:
        attrs = obj["attributes"]
        where = f"{obj['type']} {obj['id']}"
        for name in ("title", "name", "description"):
            if attrs.get(name):
                yield where, str(attrs[name])
        for field, attr in json.loads(attrs.get("fieldAttrs", "{}")).items():
            yield f"{where} {field}", attr["customLabel"]
        for field, fmt in json.loads(attrs.get("fieldFormatMap", "{}")).items():
            for entry in fmt["params"]["lookupEntries"]:
                yield f"{where} {field}={entry['key']}", entry["value"]
        for panel in json.loads(attrs.get("panelsJSON", "[]")):
            yield f"{where} {panel['panelIndex']}", panel["title"]
            lens = panel["embeddableConfig"]["attributes"]
            for layer in lens["state"]["datasourceStates"]["formBased"]["layers"].values():
                for column in layer["columns"].values():
                    yield f"{where} {panel['panelIndex']} column", column["label"]


def test_the_reports_use_one_word_per_concept() -> None:
    words = labels()
    for concept, (key, avoid) in CONCEPTS.items():
        assert not any(a in words[key]["zh"] for a in avoid), concept
        for name, text in words.items():
            if isinstance(text, dict) and "zh" in text:
                assert not any(a in text["zh"] for a in avoid), (concept, name)


def test_kibana_says_what_the_reports_say() -> None:
    assert report_words() == labels()  # the same source
    texts = list(_texts(saved_objects("sentinel")))
    assert len(texts) > 100
    for concept, (_key, avoid) in CONCEPTS.items():
        bad = [(where, text) for where, text in texts if any(a in text for a in avoid)]
        assert not bad, (concept, bad)


def _data_view(objects: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    (view,) = [o for o in objects if o["type"] == "index-pattern" and o["id"] == f"s-{kind}"]
    return dict(view["attributes"])


def test_field_labels_and_values_are_the_reports_words() -> None:
    words, objects = labels(), saved_objects("s")
    findings = _data_view(objects, "findings-current")
    custom = json.loads(findings["fieldAttrs"])
    assert custom["organization.name"]["customLabel"] == \
        f"{words['agency']['zh']} / {words['agency']['en']}" == "单位 / Agency"
    assert custom["sentinel.severity"]["customLabel"].startswith(words["severity"]["zh"])
    formats = json.loads(findings["fieldFormatMap"])
    severity = {e["key"]: e["value"] for e in formats["sentinel.severity"]["params"]
                ["lookupEntries"]}
    assert severity == {s: f"{words[f'sev_{s}']['zh']} / {words[f'sev_{s}']['en']}"
                        for s in ("critical", "high", "medium", "low", "info")}
    assert severity["high"] == "高危 / High" and severity["info"] == "提示 / Info"
    evaluation = {e["key"]: e["value"] for e in formats["result.evaluation"]["params"]
                  ["lookupEntries"]}
    assert evaluation["failed"].startswith("未通过")
    status = {e["key"]: e["value"] for e in formats["sentinel.finding.status"]["params"]
              ["lookupEntries"]}
    assert status["open"].startswith("未整改") and status["resolved"].startswith("已整改")
    # every panel column on a labelled field carries the label (a person reads it)
    for dashboard in (o for o in objects if o["type"] == "dashboard"):
        for panel in json.loads(dashboard["attributes"]["panelsJSON"]):
            lens = panel["embeddableConfig"]["attributes"]
            for layer in lens["state"]["datasourceStates"]["formBased"]["layers"].values():
                for column in layer["columns"].values():
                    if column.get("sourceField") == "organization.name":
                        assert column["label"] == "单位 / Agency" and column["customLabel"]


def test_ipv6_dashboard_names_support_as_the_report_does() -> None:
    (ipv6,) = [d for d in load_spec().dashboards if d.id == "ipv6-readiness"]
    assert labels()["ipv6"]["zh"] in ipv6.title  # IPv6 支持度


@pytest.mark.parametrize("key", sorted(load_spec().field_labels.values())
                         + sorted(load_spec().value_labels.values()))
def test_every_label_key_exists(key: str) -> None:
    assert any(name == key or name.startswith(key) for name in labels()), key
