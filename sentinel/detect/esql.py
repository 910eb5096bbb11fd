"""Correlations on Elasticsearch itself: pySigma's ES|QL target, run on the node.

pySigma's Elasticsearch backend converts Sigma correlations for its ES|QL target only
(``sigma convert -t esql``; its ``lucene`` target refuses them). Each correlation becomes one
ES|QL query: the referenced rules' selection, ``date_trunc`` buckets of ``timespan`` per
group, and the condition::

    from sentinel-events-* metadata _id | where event.action.lower=="national-crypto-lost"
    | eval timebucket=date_trunc(1days, @timestamp)
    | stats value_count=count_distinct(host.id.lower), sentinel_ids=values(_id)
        by timebucket, organization.id.lower
    | where value_count >= 3

Sentinel adds three things to the backend's text: the index pattern of a prefix, the
open/reopen guard on finding rules (:data:`OPENED_ONLY`, as :func:`elastic.opened_only`
does for Lucene) and the ids of the matched documents (``values(_id)``).

These buckets are calendar buckets (a day from midnight UTC, a week from Monday), not the
sliding windows of :mod:`sentinel.detect.correlate` that ``sentinel detect`` uses on both
engines: a burst across a bucket's edge is one sliding alert and no bucket alert.
:func:`sentinel.detect.correlate.buckets` computes the bucket semantics locally.

The test node of ``tools/es`` (Elastic's integ-test distribution) has no ES|QL module
(``POST /_query`` answers 405), so :func:`run_correlation` has not run against a node yet;
``rules/README.md`` says what the node lacks.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from elasticsearch import ApiError, Elasticsearch, TransportError
from sigma.backends.elasticsearch.elasticsearch_esql import ESQLBackend
from sigma.correlations import SigmaCorrelationRule
from sigma.exceptions import SigmaError
from sigma.rule import SigmaRule

from sentinel.detect.correlate import Bucket
from sentinel.detect.sigma import Correlation, Rule, RuleSet, load_collection, load_pipeline
from sentinel.errors import InputError, SinkError
from sentinel.store.elastic_templates import describe_error, history_indices

INDEX_KIND = {"finding": "findings", "event": "events"}

# A failed finding the lifecycle tracks counts on the scan where it opened or reopened only
# (:func:`sentinel.detect.correlate.fires`): the ES|QL form of ``elastic.OPENED_ONLY``.
OPENED_ONLY = ('(sentinel.finding.change is not null or sentinel.finding.status is null'
               ' or coalesce(result.evaluation.lower, "") != "failed")')

IDS = "sentinel_ids"

_FROM = re.compile(r"\Afrom (?P<index>\S+) metadata (?P<meta>[^|]+)\| where (?P<where>[^\n]*)\n")
_STATS = re.compile(r"\| stats (?P<measure>\w+=count(?:_distinct)?\([^)]*\)) by ")


class _Backend(ESQLBackend):
    # Every single rule as a whole query, also those a correlation references (pySigma
    # leaves those as bare ``where`` expressions otherwise).
    finalize_correlation_subqueries = True


@dataclass(frozen=True)
class Converted:
    """Every rule as ES|QL: single rules by id, correlations by id."""

    rules: dict[str, str]
    correlations: dict[str, str]


def _retarget(query: str, kind: str, prefix: str) -> str:
    """The backend's ``from sentinel-findings`` as the kind's history indices of a prefix
    (``<prefix>-findings-*`` without the current-state index its alias also matches)."""
    return re.sub(r"\Afrom \S+ ", f"from {history_indices(prefix, INDEX_KIND[kind])} ", query)


def convert_esql(ruleset: RuleSet, prefix: str = "sentinel") -> Converted:
    """Every rule of ``ruleset`` converted by pySigma's ES|QL target with Sentinel's pipeline
    (from a fresh parse: conversion changes the rule objects it is given)."""
    out = Converted({}, {})
    singles = {rule.id: rule for rule in ruleset.rules}
    correlations = {corr.id: corr for corr in ruleset.correlations}
    # Two passes over fresh parses: single rules as whole queries, then correlations from
    # bare sub-queries. In each, the single rules come first: a correlation's conversion
    # reuses their converted queries.
    for backend in (_Backend(processing_pipeline=load_pipeline()),
                    ESQLBackend(processing_pipeline=load_pipeline())):
        collection, _ = load_collection()
        ordered = sorted(collection.rules, key=lambda r: isinstance(r, SigmaCorrelationRule))
        for item in ordered:
            correlation = not isinstance(item, SigmaRule)
            if correlation and isinstance(backend, _Backend):
                break
            rule_id = str(item.id)
            try:
                if isinstance(item, SigmaCorrelationRule):
                    queries = backend.convert_correlation_rule(item)
                else:
                    queries = backend.convert_rule(item)
            except SigmaError as exc:
                raise InputError(f"rule {rule_id} does not convert to ES|QL: {exc}") from None
            if len(queries) != 1:
                raise InputError(f"rule {rule_id} converts to {len(queries)} ES|QL queries, "
                                 "not one")
            query = str(queries[0])
            if correlation and rule_id in correlations:
                out.correlations[rule_id] = _correlation(query, correlations[rule_id],
                                                         ruleset, prefix)
            elif not correlation and rule_id in singles and isinstance(backend, _Backend):
                rule = singles[rule_id]
                out.rules[rule_id] = _guarded(_retarget(query, rule.category, prefix), rule)
    return out


def _guarded(query: str, rule: Rule) -> str:
    if rule.category != "finding":
        return query
    found = _FROM.match(query + "\n")
    if found is None:
        raise InputError(f"rule {rule.id}: unexpected ES|QL from pySigma: {query[:200]}")
    return (f"from {found['index']} metadata {found['meta']}| where ({found['where']})"
            f" and {OPENED_ONLY}{query[found.end() - 1:]}").rstrip("\n")


def _correlation(query: str, corr: Correlation, ruleset: RuleSet, prefix: str) -> str:
    kinds = set()
    for rule_id in corr.rules:
        rule = ruleset.by_id(rule_id)
        assert isinstance(rule, Rule)
        kinds.add(rule.category)
    if len(kinds) != 1:
        raise InputError(f"correlation {corr.id} mixes findings and events: one ES|QL query "
                         "reads one index")
    kind = kinds.pop()
    first = ruleset.by_id(corr.rules[0])
    assert isinstance(first, Rule)
    query = _guarded(_retarget(query, kind, prefix), first)
    stats = _STATS.search(query)
    if stats is None:
        raise InputError(f"correlation {corr.id}: unexpected ES|QL from pySigma: {query[:300]}")
    return (query[: stats.end("measure")] + f", {IDS}=values(_id)"
            + query[stats.end("measure"):])


def run_correlation(client: Elasticsearch, corr: Correlation, query: str) -> list[Bucket]:
    """The buckets that satisfy ``corr`` on the node, as :func:`correlate.buckets` gives
    them locally: (correlation, bucket start, lower-cased group values, document ids)."""
    try:
        answer = client.esql.query(query=query, format="json")
    except (ApiError, TransportError) as exc:  # translated here; the reason is redacted
        raise SinkError(f"Elasticsearch refused correlation {corr.id}'s ES|QL query: "
                        f"{describe_error(exc)}") from None
    body: Any = answer.body
    names = [column["name"] for column in body.get("columns", [])]
    out: list[Bucket] = []
    for row in body.get("values", []):
        record = dict(zip(names, row, strict=True))
        ids = record.get(IDS)
        ids = ids if isinstance(ids, list) else [] if ids is None else [ids]
        group = tuple(_text(record.get(f"{name}.lower", record.get(name)))
                      for name in corr.group_by)
        out.append(Bucket(corr.id, str(record["timebucket"]), group,
                          tuple(sorted(str(i) for i in ids))))
    return sorted(out)


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, list):
        return ",".join(sorted(str(v) for v in value))
    return str(value)


def render(ruleset: RuleSet, prefix: str = "sentinel") -> str:
    """Every rule, then every correlation, as one complete ES|QL query each, after a
    ``//`` comment line with its id and title (``make rules-esql``)."""
    converted = convert_esql(ruleset, prefix)
    blocks = [f"// {rule.id} {rule.title}\n{converted.rules[rule.id]}"
              for rule in ruleset.rules]
    blocks += [f"// {corr.id} {corr.title} (correlation)\n{converted.correlations[corr.id]}"
               for corr in ruleset.correlations]
    return "\n\n".join(blocks) + "\n"


if __name__ == "__main__":  # pragma: no cover - exercised through `make rules-esql`
    import sys

    from sentinel.detect.sigma import load_rules

    sys.stdout.write(render(load_rules(), sys.argv[1] if len(sys.argv) > 1 else "sentinel"))
