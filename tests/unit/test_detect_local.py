"""The local Sigma engine: matching semantics, correlations, the shipped rules' own tests."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sigma.collection import SigmaCollection
from sigma.rule import SigmaDetectionItem, SigmaRule

from sentinel.detect.correlate import correlate
from sentinel.detect.local import LocalEngine
from sentinel.detect.match import View, compile_condition
from sentinel.detect.ruletests import run_rule_tests
from sentinel.detect.sigma import Correlation, RuleSet, load_rules
from sentinel.errors import InputError
from sentinel.severity import Severity

ROOT = Path(__file__).resolve().parents[2]


def matches(detection: str, doc: dict[str, Any]) -> bool:
    rule = SigmaRule.from_yaml(
        "title: t\nlogsource: {product: sentinel, category: finding}\n"
        f"detection:\n{detection}\n  condition: sel"
    )
    return compile_condition(rule.detection.parsed_condition[0].parsed)(View(doc))  # type: ignore[arg-type]


def test_strings_are_case_insensitive_with_wildcards() -> None:
    doc = {"rule": {"id": "GM-TLCP-Absent"}}
    assert matches("  sel: {rule.id: gm-tlcp-absent}", doc)
    assert matches("  sel: {rule.id: 'GM-*-ABS?NT'}", doc)
    assert not matches("  sel: {rule.id: 'GM-*-ABS?'}", doc)  # wildcards span the whole value
    assert matches("  sel: {rule.id|startswith: gm-tlcp}", doc)
    assert matches("  sel: {rule.id|endswith: ABSENT}", doc)
    assert matches("  sel: {rule.id|contains: TLCP}", doc)


def test_regex_is_anchored_and_case_sensitive() -> None:
    doc = {"rule": {"id": "TLS-CIPHER-CBC"}}
    assert matches("  sel: {rule.id|re: 'TLS-[A-Z]+-CBC'}", doc)
    assert not matches("  sel: {rule.id|re: 'CIPHER'}", doc)
    assert not matches("  sel: {rule.id|re: 'tls-.*'}", doc)
    assert matches("  sel: {rule.id|re|i: 'tls-.*'}", doc)


def test_cidr_on_ipv4_and_ipv6_and_garbage() -> None:
    sel = "  sel: {destination.ip|cidr: ['198.18.0.0/15', '2001:db8::/32']}"
    assert matches(sel, {"destination": {"ip": "198.19.255.1"}})
    assert matches(sel, {"destination": {"ip": "2001:db8:ffff::1"}})
    assert not matches(sel, {"destination": {"ip": "2001:db9::1"}})
    assert not matches(sel, {"destination": {"ip": "not-an-ip"}})
    assert not matches(sel, {})


def test_lists_arrays_null_and_exists() -> None:
    assert matches("  sel: {host.ip: [a, '2001:DB8::1']}", {"host": {"ip": ["x", "2001:db8::1"]}})
    assert not matches("  sel: {host.ip: [a, b]}", {"host": {"ip": ["x", "y"]}})
    assert matches("  sel: {host.ip|all: [a, b]}", {"host": {"ip": ["B", "a"]}})
    assert matches("  sel: {sentinel.tenant: null}", {"sentinel": {"tenant": None}})
    assert matches("  sel: {sentinel.tenant: null}", {"sentinel": {}})
    assert matches("  sel: {host.ip: null}", {"host": {"ip": []}})
    assert not matches("  sel: {sentinel.tenant: null}", {"sentinel": {"tenant": "t1"}})
    assert matches("  sel: {sentinel.tenant|exists: true}", {"sentinel": {"tenant": ""}})
    assert matches("  sel: {sentinel.tenant|exists: false}", {})


def test_arrays_of_objects_and_numbers() -> None:
    doc = {"tls": [{"port": 443}, {"port": "8443"}], "event": {"risk_score": 73.0}}
    assert matches("  sel: {tls.port: 8443}", doc)
    assert matches("  sel: {tls.port: '443'}", doc)
    assert matches("  sel: {event.risk_score|gte: 73}", doc)
    assert not matches("  sel: {event.risk_score|gt: 73}", doc)


def test_value_lists_are_one_test_with_the_same_meaning() -> None:
    ports = "  sel: {destination.port: [22, 3389]}"
    assert matches(ports, {"destination": {"port": "3389"}})
    assert matches(ports, {"destination": {"port": [80, 22.0]}})
    assert not matches(ports, {"destination": {"port": [True, "x", 23]}})
    nets = "  sel: {destination.ip|cidr: ['198.18.0.0/15', '2001:db8::/32']}"
    assert matches(nets, {"destination": {"ip": ["192.0.2.1", "2001:DB8:1::1"]}})
    assert not matches(nets, {"destination": {"ip": "::ffff:198.18.0.1"}})  # v6, not v4
    either = "  sel: {rule.id: [A, b]}\n  other: {x: 1}"
    assert matches(either, {"rule": {"id": ["z", "B"]}})


def test_nested_selections_anchor_the_rule_and_collector_state_is_restored() -> None:
    import gc

    from sentinel.detect.local import anchor

    rule = next(r for r in load_rules().rules if r.name == "cloud_finding_without_tenant")
    assert anchor(rule) == ("sentinel.zone", ["cloud-tenant"])  # `selection and tenant`
    engine = LocalEngine(load_rules())
    docs = [("finding", "d", {"sentinel": {"zone": "Cloud-Tenant"}, "rule": {"id": "CLOUD-X"},
                              "result": {"evaluation": "failed"}})]
    assert gc.isenabled()
    assert [a.rule_id for a in engine.run(docs)] == [rule.id]  # type: ignore[arg-type]
    assert gc.isenabled()
    gc.disable()
    try:
        engine.run(docs)  # type: ignore[arg-type]
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_keyword_detections_are_refused() -> None:
    with pytest.raises(InputError):
        matches("  sel: [telnet]", {})


def _corr(kind: str, count: int, field: str | None, span: int) -> Correlation:
    return Correlation(
        id="c",
        title="c",
        level=Severity.HIGH,
        kind=kind,
        rules=("r",),
        group_by=("organization.id",),
        timespan_s=span,
        operator="gte",
        count=count,
        field=field,
        sigma=None,  # type: ignore[arg-type]  # not read by correlate()
        source="test",
    )


def test_sliding_window_is_not_a_calendar_bucket() -> None:
    from sentinel.detect.correlate import Hit

    def hit(n: int, stamp: str, host: str, org: str = "A") -> Hit:
        doc = {"@timestamp": stamp, "host": {"id": host}, "organization": {"id": org}}
        return Hit("r", f"d{n}", doc)

    # 23:00, 01:00, 02:00 straddle midnight: a day bucket would split them, a window does not
    hits = [
        hit(1, "2026-11-20T23:00:00Z", "h1"),
        hit(2, "2026-11-21T01:00:00Z", "h2"),
        hit(3, "2026-11-21T02:00:00Z", "h3"),
        hit(4, "2026-11-21T03:00:00Z", "h4", "B"),
    ]
    alerts = correlate(_corr("value_count", 3, "host.id", 86400), hits)
    assert [(a.matched_ids, a.group) for a in alerts] == [
        (("d1", "d2", "d3"), {"organization.id": "A"})
    ]
    assert correlate(_corr("value_count", 3, "host.id", 3600), hits) == []
    # the same document matched twice counts once
    assert correlate(_corr("event_count", 2, None, 86400), [hits[0], hits[0]]) == []


def test_shipped_rules_pass_their_own_tests() -> None:
    ruleset = load_rules()
    assert len(ruleset.rules) >= 25 and len(ruleset.correlations) >= 3
    results, problems = run_rule_tests(ruleset)
    assert problems == []
    failed = [r for r in results if not r.ok]
    assert failed == []
    assert sum(r.raised for r in results) > 0


def test_a_wrong_example_fails_its_rule_test() -> None:
    ruleset = load_rules()
    engine = LocalEngine(ruleset)
    telnet = next(r for r in ruleset.rules if r.name == "sentinel_telnet_exposed")
    doc: dict[str, Any] = {"rule": {"id": "DB-CES-CREDPLAIN"}, "destination": {"port": 21}}
    doc["result"] = {"evaluation": "failed"}
    assert telnet not in engine.matching("finding", doc)
    doc["destination"]["port"] = 23
    assert telnet in engine.matching("finding", doc)
    assert engine.matching("event", doc) == [] or telnet not in engine.matching("event", doc)


def test_rules_have_the_metadata_a_soc_needs() -> None:
    for path in sorted((ROOT / "rules").glob("*/*.yml")):
        for rule in SigmaCollection.from_yaml(path.read_text(), resolve_references=False):
            assert rule.id and rule.title and rule.level and rule.status and rule.date, path
            assert rule.references and rule.falsepositives, path
            # Chinese first, English after (a longer description alternates the two)
            lines = (rule.description or "").strip().split("\n")
            chinese = [any("\u4e00" <= ch <= "\u9fff" for ch in line) for line in lines]
            assert chinese[0] and not all(chinese), path
            assert all(zh or line.isascii() for zh, line in zip(chinese, lines, strict=True)), path
            assert not any(t.namespace == "attack" for t in rule.tags), path


def test_pipeline_lowers_exactly_the_mapped_lower_fields() -> None:
    import yaml

    def lower_fields(props: dict[str, Any], prefix: str = "") -> set[str]:
        out: set[str] = set()
        for name, spec in props.items():
            full = f"{prefix}{name}"
            if "properties" in spec:
                out |= lower_fields(spec["properties"], full + ".")
            elif "lower" in spec.get("fields", {}):
                out.add(full)
        return out

    templates = ROOT / "sentinel" / "store" / "templates"
    mapped: set[str] = set()
    for kind in ("common", "findings", "events"):
        mapped |= lower_fields(
            json.loads((templates / f"{kind}.json").read_text())["mappings"]["properties"]
        )
    pipeline = yaml.safe_load((ROOT / "rules" / "pipelines" / "sentinel.yaml").read_text())
    lowered = next(t for t in pipeline["transformations"] if t["type"] == "field_name_suffix")
    assert set(lowered["field_name_conditions"][0]["fields"]) == mapped
    # and exactly those fields' values are lower-cased (ES|QL compares with the stored,
    # normalised values; Lucene normalises its terms itself)
    cased = next(t for t in pipeline["transformations"] if t["type"] == "case")
    assert cased["method"] == "lower"
    assert set(cased["field_name_conditions"][0]["fields"]) == mapped
    assert cased["detection_item_conditions"] == lowered["detection_item_conditions"]


def test_empty_ruleset_raises_nothing() -> None:
    assert LocalEngine(RuleSet()).run([("finding", "x", {"rule": {"id": "A"}})]) == []


def _matchable_checks(rule: Any, known: dict[str, Any]) -> set[str]:
    """The check ids a finding rule's ``rule.id`` selections can match (plain values,
    ``startswith`` prefixes and ``re`` patterns, against every known check id)."""
    import re

    from sigma.modifiers import SigmaStartswithModifier
    from sigma.types import SigmaRegularExpression

    found: set[str] = set()
    for detection in rule.sigma.detection.detections.values():
        for item in detection.detection_items:
            if getattr(item, "field", None) != "rule.id":
                continue
            for value in item.value:
                if isinstance(value, SigmaRegularExpression):
                    found |= {c for c in known if re.fullmatch(str(value.regexp), c)}
                elif SigmaStartswithModifier in item.modifiers:
                    found |= {c for c in known if c.startswith(str(value))}
                else:
                    found.add(str(value))
    return found


_SIGMA_LEVEL = {Severity.INFO: "informational", Severity.LOW: "low", Severity.MEDIUM: "medium",
                Severity.HIGH: "high", Severity.CRITICAL: "critical"}


def test_every_finding_rule_level_is_its_checks_severity() -> None:
    """One source: a rule naming checks has the highest of their severities in
    playbooks/remediation (what reports show); a rule selecting severities has the highest
    it selects. The alert itself takes the matched finding's own severity (next test)."""
    from sentinel.catalog.checks import checks

    known = checks()
    judged = 0
    for rule in load_rules().rules:
        if rule.category != "finding":
            continue
        ids = _matchable_checks(rule, known)
        assert ids <= set(known), (rule.source, ids - set(known))
        if ids:
            wanted = min((known[c].severity for c in ids), key=lambda s: s.rank)
        else:
            selected = {str(v).lower() for d in rule.sigma.detection.detections.values()
                        for i in d.detection_items if isinstance(i, SigmaDetectionItem)
                        and i.field == "sentinel.severity" for v in i.value}
            if not selected:
                continue  # any check (reopened, no tenant): the alert's level is the finding's
            wanted = min((Severity(s) for s in selected), key=lambda s: s.rank)
        assert rule.level is wanted, (rule.source, rule.level, wanted)
        judged += 1
    assert judged >= 20
    for check_id, sev in (("TLS-PROTO-10", "high"), ("DB-CES-CREDPLAIN", "high"),
                          ("TLS-CERT-HASH", "high"), ("MP-N3-CONF", "medium")):
        assert known[check_id].severity.value == sev  # the drift issue 19 found, pinned


def _finding(check: str, severity: Severity, when: datetime, *, mipin: int | None = 3,
             address: str = "198.18.1.5", port: int = 443) -> Any:
    from sentinel.model import Asset, Context, Endpoint, Evaluation, Finding, Text

    ctx = Context(scan_id=f"s-{when:%d}", agency_id="agency-a", segment_id="seg-1",
                  mipin_level=mipin)
    return Finding(check_id=check, title=Text(zh="题", en="title"),
                   evaluation=Evaluation.FAILED, severity=severity, context=ctx,
                   asset=Asset(id="gw1", name="gw1.test", addresses=(address,)),
                   endpoint=Endpoint(address=address, port=port), probe="tls",
                   observed_at=when)


def test_an_alert_carries_its_context_and_the_findings_severity() -> None:
    from sentinel.model import FindingStatus, alert_to_ecs, finding_to_ecs

    when = datetime(2026, 11, 20, 8, tzinfo=UTC)
    engine = LocalEngine(load_rules())
    doc = finding_to_ecs(_finding("TLS-PROTO-10", Severity.HIGH, when)
                         .model_copy(update={"status": FindingStatus.OPEN, "change": "opened"}))
    alerts = engine.run([("finding", "f1", doc)])
    legacy = next(a for a in alerts if a.rule_title == "TLS 1.0 or 1.1 offered")
    assert legacy.level is Severity.HIGH  # the check's severity, as reports show it
    assert (legacy.hosts, legacy.addresses, legacy.ports, legacy.segments, legacy.checks) == (
        ("gw1",), ("198.18.1.5",), (443,), ("seg-1",), ("TLS-PROTO-10",))
    assert legacy.agency_id == "agency-a"
    assert legacy.documents == ({"id": "f1", "@timestamp": "2026-11-20T08:00:00Z",
                                 "host": "gw1", "address": "198.18.1.5", "segment": "seg-1",
                                 "severity": "high", "status": "open",
                                 "check": "TLS-PROTO-10", "port": 443},)
    ecs = alert_to_ecs(legacy)
    assert ecs["host"] == {"id": ["gw1"]} and ecs["organization"] == {"id": "agency-a"}
    assert ecs["destination"] == {"ip": ["198.18.1.5"], "port": [443]}
    assert ecs["sentinel"]["segment"] == ["seg-1"] and ecs["sentinel"]["severity"] == "high"
    assert ecs["sentinel"]["alert"]["check"] == ["TLS-PROTO-10"]
    assert ecs["sentinel"]["alert"]["documents"][0]["id"] == "f1"


def test_a_finding_rule_alerts_when_the_finding_opens_or_reopens_only() -> None:
    """Four scans through the real lifecycle: opened (alert), still open (none), fixed
    (none), back (alert, reopened)."""
    from sentinel.model import Context, finding_to_ecs
    from sentinel.scan.lifecycle import apply

    engine = LocalEngine(load_rules())
    previous: dict[str, Any] = {}
    raised = []
    for day, fails in ((1, True), (2, True), (3, False), (4, True)):
        when = datetime(2026, 11, day, 8, tzinfo=UTC)
        found = [_finding("DB-CES-CREDPLAIN", Severity.HIGH, when, port=23)] if fails else []
        ctx = Context(scan_id=f"s-{day:02d}", agency_id="agency-a", segment_id="seg-1")
        outcome = apply(previous, found, {("gw1", "tls")}, ctx, when)
        previous.update({s.key: s for s in outcome.states})
        docs = [("finding", f"d{day}", finding_to_ecs(f)) for f in outcome.findings]
        raised.append(sorted(a.rule_title for a in engine.run(docs)))  # type: ignore[arg-type]
    telnet = "Telnet exposed (cleartext remote login)"
    assert telnet in raised[0] and raised[1] == [] and raised[2] == []
    assert telnet in raised[3] and "Remediated problem came back" in raised[3]


def test_mipin_rule_reads_the_segments_level() -> None:
    from sentinel.model import FindingStatus, finding_to_ecs

    when = datetime(2026, 11, 20, 8, tzinfo=UTC)
    engine = LocalEngine(load_rules())
    title = "Crypto assessment level 3 channel confidentiality not met"
    for level, alerts in ((2, 0), (3, 1), (4, 1), (None, 1)):
        finding = _finding("MP-N3-CONF", Severity.MEDIUM, when, mipin=level)
        opened = {"status": FindingStatus.OPEN, "change": "opened"}
        doc = finding_to_ecs(finding.model_copy(update=opened))
        got = [a for a in engine.run([("finding", "f", doc)]) if a.rule_title == title]
        assert len(got) == alerts, level


def test_certificate_expiring_states_the_configured_days() -> None:
    from sentinel.catalog.tls import tls_registry

    days = tls_registry().certificates.expiry_warning_days
    rule = next(r for r in load_rules().rules if r.name == "certificate_expiring")
    zh, en = (rule.sigma.description or "").strip().split("\n")
    assert f"{days} 天内" in zh and f"within {days} days" in en and str(days) in rule.title


def test_rules_name_real_false_positives_and_real_references() -> None:
    import re

    field = re.compile(r"^(event|sentinel|network|destination|rule|host)\.[a-z_.]+( |$)")
    for path in sorted((ROOT / "rules").glob("*/*.yml")):
        for rule in SigmaCollection.from_yaml(path.read_text(), resolve_references=False):
            assert all("none known" not in f.lower() for f in rule.falsepositives), path
            assert not [r for r in rule.references if field.match(r)], path
