"""``sentinel es export-kibana``: the saved objects are well formed, and every panel's query and
aggregation, read back from the export, runs on the real node and gives the buckets a person
would count by hand on a small realistic document set streamed through the real sink.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from elasticsearch import Elasticsearch

from sentinel.assess.posture import with_crypto_posture
from sentinel.model import (
    Alert,
    Asset,
    AttemptStatus,
    Context,
    Endpoint,
    Evaluation,
    Event,
    Finding,
    Observation,
    Text,
    alert_to_ecs,
    event_to_ecs,
    finding_to_ecs,
    observation_to_ecs,
)
from sentinel.severity import Severity
from sentinel.store.elastic import ElasticSink
from sentinel.store.kibana_queries import PanelSearch, flatten_buckets, searches

pytestmark = pytest.mark.es

T0 = datetime(2026, 3, 2, 8, 15, tzinfo=UTC)
AGENCIES = {"dsj": "省数据局", "gat": "省公安厅", "wjw": "省卫健委"}
AGGREGATABLE = {"keyword", "long", "float", "date", "ip"}


def _ctx(agency: str) -> Context:
    return Context(scan_id="s1", agency_id=agency, agency_name=AGENCIES[agency], segment_id="dmz")


def _asset(n: int) -> Asset:
    return Asset(id=f"host-{n}", addresses=(f"2001:db8::{n}",))


def _finding(
    n: int,
    agency: str,
    check: str,
    verdict: str,
    severity: str,
    port: int = 443,
    service: str | None = None,
    score: float | None = None,
) -> Finding:
    return Finding(
        check_id=check,
        title=Text(zh=f"检查 {check}", en=f"check {check}"),
        evaluation=Evaluation(verdict),
        severity=Severity(severity),
        context=_ctx(agency),
        asset=_asset(n),
        endpoint=Endpoint(address=f"2001:db8::{n}", port=port),
        protocol="tcp",
        probe="tls",
        evidence={"service": service} if service else {"score": score} if score else {},
        observed_at=T0 + timedelta(minutes=n),
    )


FINDINGS = [
    _finding(1, "dsj", "GM-TLCP-ABSENT", "failed", "high"),
    _finding(2, "dsj", "GM-TLCP-ABSENT", "passed", "high"),
    _finding(1, "dsj", "TLS-PROTO-10", "failed", "medium"),
    _finding(3, "gat", "TLS-PROTO-10", "failed", "medium"),
    _finding(3, "gat", "GM-CERT-SIGALG", "failed", "medium"),
    _finding(3, "gat", "MP-N3-CONF", "failed", "medium"),
    _finding(4, "gat", "MP-N3-CONF", "passed", "medium"),
    _finding(4, "gat", "EXP-SVC-NOTALLOWED", "failed", "high", 23, "telnet"),
    _finding(4, "gat", "DB-CES-HIGHRISKPORT", "failed", "critical", 3389, "rdp"),
    _finding(5, "wjw", "DB-CES-HIGHRISKPORT", "failed", "critical", 3389, "rdp"),
    _finding(5, "wjw", "EXP-SVC-NOTALLOWED", "passed", "high", 443, "https"),
    _finding(1, "dsj", "V6-AAAA", "failed", "medium", 80),
    _finding(3, "gat", "V6-AAAA", "passed", "medium", 80),
    _finding(5, "wjw", "V6-RA", "failed", "low", 80),
    _finding(1, "dsj", "V6-SCORE", "failed", "medium", 80, score=40.0),
    _finding(2, "dsj", "V6-SCORE", "passed", "info", 80, score=90.0),
    _finding(3, "gat", "V6-SCORE", "passed", "info", 80, score=85.5),
    _finding(5, "wjw", "V6-SCORE", "failed", "high", 80, score=12.5),
]


def _tls(
    n: int,
    agency: str,
    versions: list[str],
    kex: list[str],
    auth: list[str],
    groups: tuple[str, ...] = ("classical",),
) -> Observation:
    facts = {
        "versions": versions,
        "groups": [
            {"protocol": "TLSv1.3", "code": "0x001D", "name": "x", "class": c} for c in groups
        ],
        "posture": {"key_exchange": kex, "authentication": auth},
    }
    return with_crypto_posture(Observation(
        probe="tls",
        context=_ctx(agency),
        asset=_asset(n),
        endpoint=Endpoint(address=f"2001:db8::{n}", port=443),
        status=AttemptStatus.COMPLETED,
        facts=facts,
        started=T0,
    ))


OBSERVATIONS = [
    _tls(
        1, "dsj", ["TLCPv1.1", "TLSv1.2"], ["classical", "sm2"], ["classical", "sm2"], ("national",)
    ),
    _tls(2, "dsj", ["TLSv1.3"], ["pqc-hybrid"], ["classical"], ("pqc-hybrid",)),
    _tls(3, "gat", ["TLSv1.0", "TLSv1.2"], ["classical"], ["classical"]),
    _tls(4, "gat", ["TLSv1.2"], ["classical"], ["classical"]),
    _tls(5, "wjw", ["TLCPv1.1"], ["sm2"], ["sm2"], ()),
    Observation(
        probe="tcp",
        context=_ctx("wjw"),
        asset=_asset(5),
        endpoint=Endpoint(address="2001:db8::5", port=3389),
        status=AttemptStatus.COMPLETED,
        facts={"state": "open"},
        started=T0,
    ),
    Observation(
        probe="tls",
        context=_ctx("wjw"),
        asset=_asset(6),
        endpoint=Endpoint(address="2001:db8::6", port=443),
        status=AttemptStatus.ERROR,
        detail="timeout",
        started=T0,
    ),
]


def _event(action: str, category: str, agency: str, hour: int) -> Event:
    return Event(
        action=action,
        category=category,
        message=Text(zh=action, en=action),
        context=_ctx(agency),
        # Each event has its own asset: the event _id is (scan, action, asset, after, time).
        asset=Asset(id=f"{agency}-{action}-{hour}"),
        created=T0 + timedelta(hours=hour, minutes=hour),
    )


EVENTS = [
    _event("service-opened", "change", "gat", 0),
    _event("service-opened", "change", "wjw", 0),
    _event("suite-removed", "change", "dsj", 1),
    _event("ipv6-lost", "change", "dsj", 3),
    _event("scan-started", "audit", "dsj", 0),
    _event("scan-finished", "audit", "dsj", 1),
    _event("scope-refused", "audit", "gat", 1),
]
ALERTS = [
    Alert(
        rule_id="r1",
        rule_title="Severe finding reopened",
        level=Severity.HIGH,
        matched_ids=("a", "b"),
        agency_id="dsj",
        created=T0,
    ),
    Alert(
        rule_id="r2",
        rule_title="Certificate expiring",
        level=Severity.MEDIUM,
        matched_ids=("c",),
        agency_id="gat",
        created=T0,
    ),
]


def _heartbeat(agent: str, minutes: int) -> dict[str, Any]:
    moment = (T0 + timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z")
    return {
        "@timestamp": moment,
        "event": {"kind": "state", "dataset": "sentinel.heartbeat"},
        "observer": {"name": agent},
        "agent": {"name": agent},
        "sentinel": {"agent": {"state": "running"}},
    }


HEARTBEATS = [_heartbeat("agent-a", m) for m in (0, 30, 90)] + [_heartbeat("agent-b", 10)]

Doc = dict[str, Any]


def _failed(doc: Doc) -> bool:
    return bool(doc["result"]["evaluation"] == "failed")


def _rule(*prefixes: str) -> Callable[[Doc], bool]:
    return lambda doc: doc["rule"]["id"].startswith(prefixes)


def _tls_done(doc: Doc) -> bool:
    return bool(doc["sentinel"]["attempt"] == {"probe": "tls", "status": "completed"})


def _dataset(name: str) -> Callable[[Doc], bool]:
    return lambda doc: bool(doc["event"]["dataset"] == name)


# What each panel selects, written independently of its Lucene query string.
SELECTS: dict[str, Callable[[Doc], bool]] = {
    "failed-by-agency-severity": _failed,
    "failed-by-severity": _failed,
    "top-failed-checks": _failed,
    "evaluation-by-agency": lambda doc: True,
    "posture-overall": _tls_done,
    "posture-by-agency": _tls_done,
    "key-exchange-authentication": _tls_done,
    "national-crypto-failures": lambda doc: _rule("GM-", "MP-")(doc) and _failed(doc),
    "v6-results-by-agency": _rule("V6-"),
    "v6-failed-checks": lambda doc: _rule("V6-")(doc) and _failed(doc),
    "v6-score-by-agency": lambda doc: doc["rule"]["id"] == "V6-SCORE",
    "exposed-ports": lambda doc: _rule("EXP-", "DB-CES-")(doc) and _failed(doc),
    "exposed-services": lambda doc: _rule("EXP-", "DB-CES-")(doc) and _failed(doc),
    "exposures-by-agency": lambda doc: _rule("EXP-", "DB-CES-")(doc) and _failed(doc),
    "change-timeline": _dataset("sentinel.change"),
    "audit-trail": _dataset("sentinel.audit"),
    "alerts-by-rule": lambda doc: True,
    "agent-last-seen": lambda doc: True,
    "agent-heartbeats": lambda doc: True,
}


def _values(doc: Doc, path: str) -> list[Any]:
    value: Any = doc
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return []
        value = value[part]
    return list(value) if isinstance(value, list) else [value]


def _key(column: dict[str, Any], value: Any) -> Any:
    if column["operationType"] == "date_histogram":  # the panels use whole hours
        hour = datetime.fromisoformat(value.replace("Z", "+00:00")).replace(minute=0, second=0)
        return hour.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    return value


def _expected(search: PanelSearch, docs: list[Doc]) -> dict[tuple[Any, ...], Any]:
    """The panel's buckets computed in Python from the documents that were indexed."""
    *buckets, metric = search.columns
    groups: dict[tuple[Any, ...], list[Doc]] = defaultdict(list)
    for doc in filter(SELECTS[search.panel], docs):
        keys: list[tuple[Any, ...]] = [()]
        for column in buckets:
            keys = [
                (*k, _key(column, v)) for k in keys for v in _values(doc, column["sourceField"])
            ]
        for key in keys:
            groups[key].append(doc)
    operation = metric["operationType"]
    if operation == "count":
        return {key: len(members) for key, members in groups.items()}
    if operation == "average":
        field = metric["sourceField"]
        return {
            key: sum(values) / len(values)
            for key, members in groups.items()
            if (values := [v for d in members for v in _values(d, field)])
        }
    if operation == "unique_count":
        field = metric["sourceField"]
        return {
            key: len({v for d in members for v in _values(d, field)})
            for key, members in groups.items()
        }
    field = metric["sourceField"]
    latest = {
        key: max(v for d in members for v in _values(d, field)) for key, members in groups.items()
    }
    return {key: value.replace("Z", ".000Z") for key, value in latest.items()}


@pytest.fixture
def streamed(client: Elasticsearch, prefix: str, tmp_path: Path) -> dict[str, list[Doc]]:
    """The document set, written through the real sink; the ECS documents by stream."""
    with ElasticSink(client, tmp_path / "spool", prefix=prefix) as sink:
        sink.add_findings(FINDINGS)
        sink.add_observations(OBSERVATIONS)
        sink.add_events(EVENTS)
        sink.add_alerts(ALERTS)
        for n, beat in enumerate(HEARTBEATS):
            sink.write("agents", f"beat-{n}", beat)
    # Each finding twice: its history document and its key's current-state document.
    assert sink.stats.sent == 2 * len(FINDINGS) + 7 + 7 + 2 + 4
    client.indices.refresh(index=f"{prefix}-*")
    return {
        f"{prefix}-findings": [finding_to_ecs(f) for f in FINDINGS],
        f"{prefix}-findings-current": [finding_to_ecs(f) for f in FINDINGS],
        f"{prefix}-assets": [observation_to_ecs(o) for o in OBSERVATIONS],
        f"{prefix}-events": [event_to_ecs(e) for e in EVENTS],
        f"{prefix}-alerts": [alert_to_ecs(a) for a in ALERTS],
        f"{prefix}-agents": HEARTBEATS,
    }


def _export(prefix: str, tmp_path: Path) -> str:
    out = tmp_path / "kibana.ndjson"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "sentinel.cli",
            "es",
            "export-kibana",
            "-o",
            str(out),
            "--prefix",
            prefix,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return out.read_text("utf-8")


def test_saved_objects_are_well_formed(client: Elasticsearch, prefix: str, tmp_path: Path) -> None:
    objects = [json.loads(line) for line in _export(prefix, tmp_path).splitlines()]
    ids = [(o["type"], o["id"]) for o in objects]
    assert len(ids) == len(set(ids)), "ids are unique"
    for obj in objects:
        assert {"type", "id", "attributes", "references"} <= obj.keys()
        assert obj["coreMigrationVersion"] and obj["typeMigrationVersion"]
    views = {o["id"]: o for o in objects if o["type"] == "index-pattern"}
    aliases = {
        alias
        for entry in client.indices.get_alias(index=f"{prefix}-*").body.values()
        for alias in entry["aliases"]
    }
    assert {v["attributes"]["title"] for v in views.values()} == aliases
    assert all(v["attributes"]["timeFieldName"] == "@timestamp" for v in views.values())
    dashboards = [o for o in objects if o["type"] == "dashboard"]
    assert len(dashboards) == 6
    for dashboard in dashboards:
        names = {ref["name"] for ref in dashboard["references"]}
        assert all((ref["type"], ref["id"]) in ids for ref in dashboard["references"])
        for panel in json.loads(dashboard["attributes"]["panelsJSON"]):
            inner = panel["embeddableConfig"]["attributes"]["references"]
            assert all((ref["type"], ref["id"]) in ids for ref in inner)
            assert {f"{panel['panelIndex']}:{ref['name']}" for ref in inner} <= names


def test_every_panel_field_is_mapped_and_aggregatable(
    client: Elasticsearch, prefix: str, tmp_path: Path
) -> None:
    panels = searches(_export(prefix, tmp_path))
    assert len(panels) == 19
    for search in panels:
        mapping = client.indices.get_mapping(index=search.data_view).body
        ((_, index),) = mapping.items()
        caps = client.field_caps(index=search.data_view, fields=search.fields()).body["fields"]
        for field in search.fields():
            node: Any = index["mappings"]
            for part in field.split("."):
                node = node["properties"][part]
            assert node["type"] in AGGREGATABLE, (search.panel, field, node["type"])
            ((_, cap),) = caps[field].items()
            assert cap["aggregatable"], (search.panel, field)


def test_every_panel_query_gives_the_expected_buckets(
    client: Elasticsearch, prefix: str, tmp_path: Path, streamed: dict[str, list[Doc]]
) -> None:
    panels = searches(_export(prefix, tmp_path))
    for search in panels:
        response = client.search(index=search.data_view, **search.body)
        got = flatten_buckets(response["aggregations"])
        expected = _expected(search, streamed[search.data_view])
        assert got, f"{search.panel}: no buckets"
        assert got == expected, search.panel
    by_panel = {s.panel: s for s in panels}

    def buckets(panel: str) -> dict[tuple[Any, ...], Any]:
        search = by_panel[panel]
        return flatten_buckets(client.search(index=search.data_view, **search.body)["aggregations"])

    # A few figures an analyst would read off the dashboards, spelled out.
    assert buckets("failed-by-severity") == {
        ("medium",): 6,
        ("critical",): 2,
        ("high",): 3,
        ("low",): 1,
    }
    assert buckets("posture-overall") == {
        ("international",): 4,
        ("national",): 2,
        ("post-quantum",): 1,
        ("weak",): 1,
    }
    assert buckets("exposed-ports") == {
        (3389, "DB-CES-HIGHRISKPORT"): 2,
        (23, "EXP-SVC-NOTALLOWED"): 1,
    }
    assert buckets("v6-results-by-agency")[("省数据局", "failed")] == 2
    # The IPv6 readiness score itself (its average per agency), not a count of documents.
    assert buckets("v6-score-by-agency") == {
        ("省数据局",): 65.0, ("省公安厅",): 85.5, ("省卫健委",): 12.5}
    assert buckets("national-crypto-failures") == {
        ("省数据局", "GM-TLCP-ABSENT"): 1,
        ("省公安厅", "GM-CERT-SIGALG"): 1,
        ("省公安厅", "MP-N3-CONF"): 1,
    }
    assert buckets("agent-last-seen") == {
        ("agent-a",): "2026-03-02T09:45:00.000Z",
        ("agent-b",): "2026-03-02T08:25:00.000Z",
    }
    assert buckets("change-timeline")[("2026-03-02T08:00:00.000Z", "service-opened")] == 2
