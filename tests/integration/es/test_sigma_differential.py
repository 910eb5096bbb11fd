"""Local engine vs Elasticsearch: the same golden documents raise exactly the same alerts.

The golden set is every rule's own examples (``rules/tests``: awkward case, arrays, missing
fields, IPv6, CIDR, windows across midnight) plus a few documents written to be awkward on
purpose. They are indexed under a throwaway prefix with Sentinel's real templates; the rules
run as pySigma-converted Lucene queries there, and in-process locally. Alerts are compared
as (rule, matched document ids) sets, correlations included.
"""

from __future__ import annotations

import json
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
from elasticsearch import Elasticsearch, helpers

from sentinel.detect.elastic import INDEX_KIND, ElasticEngine, convert_lucene
from sentinel.detect.local import Item, LocalEngine
from sentinel.detect.ruletests import expand
from sentinel.detect.sigma import Category, Rule, load_rules, rule_tests
from sentinel.model import Alert

pytestmark = pytest.mark.es

AWKWARD: list[tuple[Category, dict[str, Any]]] = [
    # rule.id as an array, one element matching, in odd case
    (
        "finding",
        {
            "@timestamp": "2026-11-20T08:00:00Z",
            "rule.id": ["X-1", "gm-Tlcp-ABSENT"],
            "result.evaluation": "failed",
            "organization.id": "Agency-Z",
        },
    ),
    # no result.evaluation at all: rules that need "failed" must not fire
    ("finding", {"@timestamp": "2026-11-20T08:00:00Z", "rule.id": "GM-TLCP-ABSENT"}),
    # IPv6 written in upper case, inside 2000::/3 and the lab's 2001:db8::/32
    (
        "finding",
        {
            "@timestamp": "2026-11-20T08:00:00Z",
            "destination.ip": "2001:DB8:0:0::5",
            "sentinel.severity": "HIGH",
            "result.evaluation": "failed",
            "rule.id": "EXP-SVC-NOTALLOWED",
            "destination.port": 22,
            "sentinel.segment": "Seg-A",
            "organization.id": "agency-z",
        },
    ),
    (
        "finding",
        {
            "@timestamp": "2026-11-20T09:00:00Z",
            "destination.ip": "198.18.7.7",
            "sentinel.severity": "high",
            "result.evaluation": "failed",
            "rule.id": "exp-svc-notallowed",
            "destination.port": "3389",
            "sentinel.segment": "seg-b",
            "organization.id": "agency-z",
        },
    ),
    # public addresses (outside every internal range)
    (
        "finding",
        {
            "@timestamp": "2026-11-20T08:00:00Z",
            "destination.ip": "8.8.4.4",
            "sentinel.severity": "critical",
            "result.evaluation": "failed",
        },
    ),
    (
        "finding",
        {
            "@timestamp": "2026-11-20T08:00:00Z",
            "destination.ip": "2606:4700::1111",
            "sentinel.severity": "Critical",
            "result.evaluation": "failed",
        },
    ),
    # national crypto lost on three hosts of one agency, across midnight, odd case
    *[
        (
            "event",
            {
                "@timestamp": stamp,
                "event.action": action,
                "host.id": host,
                "organization.id": "agency-q",
            },
        )
        for stamp, action, host in (
            ("2026-11-20T23:30:00Z", "National-Crypto-Lost", "q1"),
            ("2026-11-21T00:30:00Z", "national-crypto-lost", "Q2"),
            ("2026-11-21T06:00:00Z", "NATIONAL-CRYPTO-LOST", "q3"),
        )
    ],
    # message wildcards with Chinese text
    (
        "event",
        {
            "@timestamp": "2026-11-20T08:00:00Z",
            "event.action": "suite-removed",
            "message": "移除密码套件 ECC_sm4_CBC_SM3 / suite removed",
        },
    ),
    # upper-case values of fields that gained a `.lower` subfield (issue 8)
    (
        "finding",
        {
            "@timestamp": "2026-11-20T10:00:00Z",
            "rule.id": "GM-TLCP-ABSENT",
            "result.evaluation": "FAILED",
            "event.kind": "State",
            "network.type": "IPv4",
            "organization.id": "agency-u",
        },
    ),
    (
        "finding",
        {
            "@timestamp": "2026-11-20T10:00:00Z",
            "rule.id": "TLS-PROTO-10",
            "result.evaluation": "Failed",
            "sentinel.finding.status": "REOPENED",
            "organization.id": "agency-u",
        },
    ),
    (
        "event",
        {
            "@timestamp": "2026-11-20T10:00:00Z",
            "event.action": "Suite-Added",
            "event.kind": "EVENT",
            "network.type": "IPv6",
            "destination.ip": "2001:db8:10::10",
            "organization.id": "agency-u",
        },
    ),
    # tenant explicitly null vs missing vs empty string
    (
        "finding",
        {
            "@timestamp": "2026-11-20T08:00:00Z",
            "sentinel.zone": "CLOUD-TENANT",
            "sentinel.tenant": None,
            "result.evaluation": "failed",
        },
    ),
    (
        "finding",
        {
            "@timestamp": "2026-11-20T08:00:00Z",
            "sentinel.zone": "cloud-tenant",
            "sentinel.tenant": "",
            "result.evaluation": "failed",
        },
    ),
]


def golden() -> list[Item]:
    """Every rule example and the awkward documents, with stable ids."""
    ruleset = load_rules()
    categories: dict[str, Category] = {}
    for rule in ruleset.rules:
        categories[PurePosixPath(rule.source).stem] = rule.category
    for corr in ruleset.correlations:
        first = ruleset.by_id(corr.rules[0])
        assert isinstance(first, Rule)
        categories[PurePosixPath(corr.source).stem] = first.category
    items: list[Item] = []
    for stem, spec in sorted(rule_tests().items()):
        for case_no, case in enumerate(spec["cases"]):
            for n, doc in enumerate(case["documents"]):
                items.append((categories[stem], f"{stem}-{case_no}-{n}", expand(doc)))
    items += [(cat, f"awkward-{n}", expand(doc)) for n, (cat, doc) in enumerate(AWKWARD)]
    return items


def alert_set(alerts: list[Alert]) -> set[tuple[Any, ...]]:
    """Alerts as comparable tuples: rule, documents, level and the context they carry."""
    return {(a.rule_id, tuple(sorted(a.matched_ids)), a.level, a.agency_id, a.hosts,
             a.addresses, a.ports, a.segments, a.checks,
             tuple(sorted(json.dumps(d, sort_keys=True) for d in a.documents)))
            for a in alerts}


def index(client: Elasticsearch, prefix: str, items: list[Item]) -> None:
    actions = [
        {
            "_index": f"{prefix}-{INDEX_KIND[cat]}",
            "_id": doc_id,
            "_source": doc,
            "_op_type": "index",
        }
        for cat, doc_id, doc in items
    ]
    ok, errors = helpers.bulk(client, actions, raise_on_error=False, refresh="wait_for")
    assert errors == [] and ok == len(items)


def test_local_and_elasticsearch_raise_the_same_alerts(client: Elasticsearch, prefix: str) -> None:
    items = golden()
    index(client, prefix, items)
    ruleset = load_rules()
    local = alert_set(LocalEngine(ruleset).run(items))
    remote = alert_set(ElasticEngine(client, ruleset, prefix).run())
    assert len(local) > 80  # the set is not trivially empty
    assert {a[0] for a in local} >= {r.id for r in ruleset.rules if r.generate}
    assert {c.id for c in ruleset.correlations} <= {a[0] for a in local}
    assert local - remote == set(), "alerts only the local engine raised"
    assert remote - local == set(), "alerts only Elasticsearch raised"


def test_scan_and_time_filters_agree(client: Elasticsearch, prefix: str) -> None:
    from datetime import UTC, datetime

    items = golden()
    index(client, prefix, items)
    ruleset = load_rules()
    since, until = datetime(2026, 11, 21, tzinfo=UTC), datetime(2026, 11, 22, tzinfo=UTC)
    window = [
        it for it in items if since.isoformat()[:10] <= it[2]["@timestamp"][:10] < "2026-11-22"
    ]
    local = alert_set(LocalEngine(ruleset).run(window))
    remote = alert_set(ElasticEngine(client, ruleset, prefix).run(since=since, until=until))
    assert local and local == remote


def test_queries_use_lower_subfields_and_plain_fields_for_regex_and_cidr() -> None:
    queries = convert_lucene(load_rules())
    joined = "\n".join(queries.values())
    assert "rule.id.lower:" in joined and "event.action.lower:" in joined
    assert "rule.id:/" in joined  # regular expressions stay on the original field
    assert "destination.ip:2000" in joined  # CIDR on the ip field


LOWERED_SINCE_ISSUE_8: dict[str, tuple[Category, str, str]] = {
    "result.evaluation": ("finding", "failed", "FAILED"),
    "sentinel.finding.status": ("finding", "reopened", "ReOpened"),
    "event.kind": ("event", "event", "EVENT"),
    "network.type": ("event", "ipv6", "IPv6"),
}


@pytest.mark.parametrize("field", sorted(LOWERED_SINCE_ISSUE_8))
def test_fields_lowered_since_issue_8_match_in_any_case(
    client: Elasticsearch, prefix: str, field: str
) -> None:
    from sigma.backends.elasticsearch.elasticsearch_lucene import LuceneBackend
    from sigma.processing.pipeline import ProcessingPipeline
    from sigma.rule import SigmaRule

    from sentinel.detect.match import View, compile_condition
    from sentinel.detect.sigma import pipeline_text

    category, written, stored = LOWERED_SINCE_ISSUE_8[field]
    rule = SigmaRule.from_yaml(
        f"title: t\nlogsource: {{product: sentinel, category: {category}}}\n"
        f"detection:\n  sel: {{{field}: {written}}}\n  condition: sel"
    )
    # Compiled before converting: conversion renames the rule's fields in place.
    predicate = compile_condition(rule.detection.parsed_condition[0].parsed)  # type: ignore[arg-type]
    backend = LuceneBackend(processing_pipeline=ProcessingPipeline.from_yaml(pipeline_text()))
    query = str(backend.convert_rule(rule)[0])
    assert f"{field}.lower:" in query
    items: list[Item] = [
        (category, "upper", expand({"@timestamp": "2026-11-20T08:00:00Z", field: stored})),
        (category, "other", expand({"@timestamp": "2026-11-20T08:00:00Z", field: "x"})),
    ]
    index(client, prefix, items)
    found = client.search(
        index=f"{prefix}-{INDEX_KIND[category]}", query={"query_string": {"query": query}}
    )
    remote = {hit["_id"] for hit in found["hits"]["hits"]}
    local = {doc_id for _, doc_id, doc in items if predicate(View(doc))}
    assert local == remote == {"upper"}


def test_finding_rules_alert_when_a_finding_opens_or_reopens_on_both_engines(
    client: Elasticsearch, prefix: str, tmp_path: Path
) -> None:
    """Four scans through the real lifecycle (opened, still open, fixed, back): both engines
    and the exported Kibana rule queries alert on the first and the last scan only."""
    from datetime import UTC, datetime

    from sentinel.detect.kibana import kibana_rules
    from sentinel.model import (
        Asset,
        Context,
        Endpoint,
        Evaluation,
        Finding,
        KeyState,
        Text,
        finding_to_ecs,
    )
    from sentinel.scan.lifecycle import apply
    from sentinel.severity import Severity

    previous: dict[str, KeyState] = {}
    items: list[Item] = []
    for day, fails in ((1, True), (2, True), (3, False), (4, True)):
        when = datetime(2026, 11, day, 8, tzinfo=UTC)
        ctx = Context(scan_id=f"s-{day}", agency_id="agency-a", segment_id="seg-1",
                      mipin_level=3)
        found = [Finding(check_id="DB-CES-CREDPLAIN", title=Text(zh="明文", en="cleartext"),
                         evaluation=Evaluation.FAILED, severity=Severity.HIGH, context=ctx,
                         asset=Asset(id="h1", addresses=("2001:db8:1::5",)),
                         endpoint=Endpoint(address="2001:db8:1::5", port=23), probe="tcp",
                         observed_at=when)] if fails else []
        outcome = apply(previous, found, {("h1", "tcp")}, ctx, when)
        previous.update({s.key: s for s in outcome.states})
        items += [("finding", f"scan{day}", finding_to_ecs(f)) for f in outcome.findings]
    index(client, prefix, items)
    ruleset = load_rules()
    local = LocalEngine(ruleset).run(items)
    remote = ElasticEngine(client, ruleset, prefix).run()
    assert alert_set(local) == alert_set(remote)
    telnet = [a for a in local if a.rule_title == "Telnet exposed (cleartext remote login)"]
    assert sorted(a.matched_ids for a in telnet) == [("scan1",), ("scan4",)]
    assert {(a.level, a.hosts, a.addresses, a.ports) for a in telnet} == {
        (Severity.HIGH, ("h1",), ("2001:db8:1::5",), (23,))}
    exported = next(r for r in kibana_rules(ruleset, prefix) if r["rule_id"] == telnet[0].rule_id)
    found_ids = client.search(index=exported["index"][0],
                              query={"query_string": {"query": exported["query"]}})
    assert sorted(h["_id"] for h in found_ids["hits"]["hits"]) == ["scan1", "scan4"]
    assert {m["value"]: m["severity"] for m in exported["severity_mapping"]}["high"] == "high"
    # the alerts, written through the real sink, are found by host, port, segment and check
    from sentinel.store.elastic import ElasticSink

    with ElasticSink(client, tmp_path / "spool", prefix=prefix) as sink:
        sink.add_alerts(telnet)
    client.indices.refresh(index=f"{prefix}-alerts*")
    query = ("host.id:h1 AND destination.port:23 AND destination.ip:\"2001:db8:1::5\" AND "
             "sentinel.segment:seg-1 AND sentinel.alert.check:DB-CES-CREDPLAIN AND "
             "organization.id:agency-a AND sentinel.severity:high")
    hits = client.search(index=f"{prefix}-alerts*", query={"query_string": {"query": query}})
    stored = [h["_source"] for h in hits["hits"]["hits"]]
    assert sorted(d["sentinel"]["alert"]["matched"] for d in stored) == [["scan1"], ["scan4"]]
    assert {d["sentinel"]["alert"]["documents"][0]["status"] for d in stored} == {
        "open", "reopened"}
