"""The rules as ES|QL (issue 19 item 5): the whole folder converts with one command, every
correlation becomes a complete query, and the calendar buckets of those queries are what
:func:`sentinel.detect.correlate.buckets` computes locally (not the sliding windows of
``sentinel detect``: the difference is shown on the rules' own examples)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

from sentinel.detect.correlate import Bucket, buckets, correlate_all, fires
from sentinel.detect.esql import OPENED_ONLY, convert_esql
from sentinel.detect.local import Item, LocalEngine
from sentinel.detect.ruletests import expand
from sentinel.detect.sigma import RuleSet, load_rules, rule_tests
from sentinel.store.elastic_templates import history_indices

ROOT = Path(__file__).resolve().parents[2]
SIGMA = str(Path(sys.executable).parent / "sigma")
NATIONAL = "a3aaa660-62df-5bf8-bc6e-48d0fb7b41c7"  # agency-national-crypto-lost
PQC = "7d35dc85-8e88-5d08-9e41-afe075e0ac57"  # agency-pqc-regression
MANAGEMENT = "943b070d-cab9-556e-93ca-d9bc15fdb238"  # management-ports-across-segments


def blocks(text: str) -> list[str]:
    return [b for b in text.strip().split("\n\n") if b.strip()]


def test_sigma_cli_converts_the_whole_rules_folder_to_esql() -> None:
    """The documented sigma-cli command over ``rules/``: exit 0, one query per rule, and
    each correlation as a complete stats query with its bucket and condition."""
    ruleset = load_rules()
    done = subprocess.run(
        [SIGMA, "convert", "-t", "esql", "-p", "rules/pipelines/sentinel.yaml", "rules/"],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    queries = blocks(done.stdout)
    assert len(queries) == len(ruleset.rules) + len(ruleset.correlations)
    stats = [q for q in queries if "| stats " in q]
    assert len(stats) == len(ruleset.correlations)
    national = next(q for q in stats if 'event.action.lower=="national-crypto-lost"' in q)
    assert national.startswith("from sentinel-events metadata ")
    assert "date_trunc(1days, @timestamp)" in national
    assert "count_distinct(host.id.lower) by timebucket, organization.id.lower" in national
    assert national.endswith("| where value_count >= 3")


def test_the_lucene_target_refuses_the_folder_because_of_its_correlations() -> None:
    """Why ``sigma convert -t lucene ... rules/`` exits 1: the correlations (stderr says
    so); the single-rule folders convert."""
    whole = subprocess.run(
        [SIGMA, "convert", "-t", "lucene", "-p", "rules/pipelines/sentinel.yaml", "rules/"],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
    assert whole.returncode == 1 and whole.stdout == ""
    assert "does not support correlation rules" in whole.stderr
    singles = subprocess.run(
        [SIGMA, "convert", "-t", "lucene", "-p", "rules/pipelines/sentinel.yaml",
         "rules/finding", "rules/event"],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
    assert singles.returncode == 0, singles.stderr
    assert len(blocks(singles.stdout)) == len(load_rules().rules)


def test_make_rules_esql_prints_every_rule_as_a_complete_query() -> None:
    ruleset = load_rules()
    done = subprocess.run(["make", "-s", "rules-esql", f"PYTHON={sys.executable}"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    printed = {}
    for block in blocks(done.stdout):
        head, query = block.split("\n", 1)
        assert head.startswith("// ")
        printed[head.split()[1]] = query
    assert set(printed) == {r.id for r in ruleset.rules} | {c.id for c in ruleset.correlations}
    for rule in ruleset.rules:
        kind = "findings" if rule.category == "finding" else "events"
        assert printed[rule.id].startswith(
            f"from {history_indices('sentinel', kind)} metadata _id")
        assert (OPENED_ONLY in printed[rule.id]) == (rule.category == "finding")
    for corr in ruleset.correlations:
        assert "sentinel_ids=values(_id) by timebucket" in printed[corr.id]
    assert OPENED_ONLY in printed[MANAGEMENT]  # a correlation over a finding rule
    # ES|QL compares with the normalised values of a `.lower` subfield: lower-case values
    compared = re.findall(r'\.lower(?:==| like )"([^"]*)"', done.stdout)
    assert compared and all(value == value.lower() for value in compared)
    assert 'rule.id.lower=="exp-svc-notallowed"' in printed[MANAGEMENT]


def test_correlation_queries_name_the_prefix_index() -> None:
    converted = convert_esql(load_rules(), "sentinel-test-x")
    assert converted.correlations[NATIONAL].startswith(
        f"from {history_indices('sentinel-test-x', 'events')} metadata")
    assert converted.correlations[MANAGEMENT].startswith(
        f"from {history_indices('sentinel-test-x', 'findings')} metadata")


def doc(stamp: str, host: str, agency: str = "agency-a", action: str = "national-crypto-lost"
        ) -> dict[str, Any]:
    return expand({"@timestamp": stamp, "event.action": action, "host.id": host,
                   "organization.id": agency})


def run(ruleset: RuleSet, docs: list[dict[str, Any]]) -> tuple[list[Bucket], set[str]]:
    """(the bucket alerts, the correlation ids of the sliding alerts) over event documents."""
    items: list[Item] = [("event", f"d{n}", d) for n, d in enumerate(docs)]
    hits = list(LocalEngine(ruleset).hits(items))
    sliding = correlate_all(ruleset.correlations, (h for r, h in hits if fires(r, h)))
    return buckets(ruleset.correlations, hits), {a.rule_id for a in sliding}


def test_a_burst_across_midnight_is_a_sliding_alert_and_no_bucket() -> None:
    ruleset = load_rules()
    across = [doc("2026-11-20T23:30:00Z", "q1"), doc("2026-11-21T00:30:00Z", "q2"),
              doc("2026-11-21T06:00:00Z", "q3")]
    found, sliding = run(ruleset, across)
    assert found == [] and NATIONAL in sliding
    inside = [doc("2026-11-21T00:30:00Z", "q1"), doc("2026-11-21T06:00:00Z", "Q2"),
              doc("2026-11-21T23:59:59Z", "q3", agency="AGENCY-A")]
    found, sliding = run(ruleset, inside)
    assert found == [Bucket(NATIONAL, "2026-11-21T00:00:00.000Z", ("agency-a",),
                            ("d0", "d1", "d2"))]
    assert NATIONAL not in sliding  # the sliding engine keeps the group's case: two groups


def test_week_buckets_start_on_monday() -> None:
    ruleset = load_rules()
    # Sunday 22 and Monday 23 November 2026: one sliding week, two calendar weeks
    found, sliding = run(ruleset, [doc("2026-11-22T12:00:00Z", "a", action="pqc-hybrid-lost"),
                                   doc("2026-11-23T12:00:00Z", "b", action="pqc-hybrid-lost")])
    assert found == [] and PQC in sliding
    # the rule's own alerting example: Saturday 14, Friday 20 November
    example = rule_tests()["agency-pqc-regression"]["cases"][0]
    assert example["alerts"] == 1
    found, sliding = run(ruleset, [expand(d) for d in example["documents"]])
    assert found == [] and PQC in sliding
    found, _ = run(ruleset, [doc("2026-11-23T00:00:00Z", "a", action="pqc-hybrid-lost"),
                             doc("2026-11-29T23:59:59Z", "b", action="pqc-hybrid-lost")])
    assert found == [Bucket(PQC, "2026-11-23T00:00:00.000Z", ("agency-a",), ("d0", "d1"))]


def test_still_open_findings_do_not_count_in_buckets() -> None:
    ruleset = load_rules()

    def finding(n: int, segment: str, change: str | None) -> Item:
        body: dict[str, Any] = {
            "@timestamp": "2026-11-20T08:00:00Z", "rule.id": "EXP-SVC-NOTALLOWED",
            "destination.port": 22, "result.evaluation": "failed", "organization.id": "a",
            "sentinel.segment": segment, "sentinel.finding.status": "open"}
        if change is not None:
            body["sentinel.finding.change"] = change
        return ("finding", f"f{n}", expand(body))

    opened = [finding(0, "s1", "opened"), finding(1, "s2", "opened")]
    assert [b.ids for b in buckets(ruleset.correlations,
                                   LocalEngine(ruleset).hits(opened))] == [("f0", "f1")]
    still = [finding(0, "s1", "opened"), finding(1, "s2", None)]
    assert buckets(ruleset.correlations, LocalEngine(ruleset).hits(still)) == []
