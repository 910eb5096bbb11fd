"""The Elasticsearch engine: the same rules, converted by pySigma, run as Lucene queries.

Each single rule becomes one ``query_string`` (pySigma's Lucene backend with
``rules/pipelines/sentinel.yaml``, which sends string matches to the ``.lower`` subfields)
run over ``<prefix>-findings-*`` or ``<prefix>-events-*``. Correlations are not converted:
their rules' hits are fed to :mod:`sentinel.detect.correlate`, the same sliding windows the
local engine uses. :func:`kibana_rules` exports the rules as Kibana detection rules.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from elasticsearch import ApiError, Elasticsearch, TransportError, helpers
from sigma.backends.elasticsearch.elasticsearch_lucene import LuceneBackend
from sigma.exceptions import SigmaError
from sigma.rule import SigmaRule

from sentinel.detect.correlate import Hit, alerts_from
from sentinel.detect.sigma import Category, Rule, RuleSet, load_collection, load_pipeline
from sentinel.errors import InputError, SinkError
from sentinel.model import Alert
from sentinel.store.elastic_templates import describe_error, history_indices

INDEX_KIND: dict[Category, str] = {"finding": "findings", "event": "events"}


def convert_lucene(ruleset: RuleSet) -> dict[str, str]:
    """Every single rule's Lucene query, by rule id (from a fresh parse: conversion
    applies the pipeline to the rule objects it is given)."""
    collection, _ = load_collection()
    backend = LuceneBackend(processing_pipeline=load_pipeline())
    wanted = {rule.id for rule in ruleset.rules}
    queries: dict[str, str] = {}
    for item in collection.rules:
        if not isinstance(item, SigmaRule) or str(item.id) not in wanted:
            continue
        try:
            converted = backend.convert_rule(item)
        except SigmaError as exc:
            raise InputError(f"rule {item.id} does not convert to Lucene: {exc}") from None
        if len(converted) != 1:
            raise InputError(f"rule {item.id} converts to {len(converted)} queries, not one")
        queries[str(item.id)] = str(converted[0])
    return queries


# A failed finding the lifecycle tracks raises an alert on the scan where it opened or
# reopened only (:func:`sentinel.detect.correlate.fires`, applied to this engine's hits too):
# the same guard in Lucene, for queries run outside Sentinel (Kibana, ``rules convert``).
OPENED_ONLY = ("(_exists_:sentinel.finding.change OR (*:* AND NOT _exists_:sentinel.finding.status)"
               " OR (*:* AND NOT result.evaluation.lower:failed))")


def opened_only(query: str) -> str:
    """A finding rule's query that leaves out findings still open from an earlier scan."""
    return f"({query}) AND {OPENED_ONLY}"


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


@dataclass
class ElasticEngine:
    """Runs a rule set on Elasticsearch; one search per rule, hits streamed with scroll."""

    client: Elasticsearch
    ruleset: RuleSet
    prefix: str = "sentinel"

    def __post_init__(self) -> None:
        self.queries = convert_lucene(self.ruleset)

    def _search(self, rule: Rule, filters: list[dict[str, Any]]) -> Iterator[Hit]:
        body = {
            "query": {
                "bool": {
                    "must": [{"query_string": {"query": self.queries[rule.id]}}],
                    "filter": filters,
                }
            }
        }
        # The history only: ``-findings-*`` also matches the current state's alias.
        index = history_indices(self.prefix, INDEX_KIND[rule.category])
        try:
            for hit in helpers.scan(self.client, index=index, query=body, size=1000):
                yield Hit(rule.id, str(hit["_id"]), hit["_source"])
        except (ApiError, TransportError) as exc:  # translated here; the reason is redacted
            raise SinkError(f"Elasticsearch refused rule {rule.id}'s search: "
                            f"{describe_error(exc)}") from None

    def run(
        self,
        *,
        scan_id: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> list[Alert]:
        """Alerts over the documents of a scan or a time range, correlations included."""
        filters: list[dict[str, Any]] = []
        if scan_id is not None:
            filters.append({"term": {"sentinel.scan.id": scan_id}})
        if since is not None or until is not None:
            span: dict[str, str] = {}
            if since is not None:
                span["gte"] = _iso(since)
            if until is not None:
                span["lt"] = _iso(until)
            filters.append({"range": {"@timestamp": span}})
        hits = ((rule, hit) for rule in self.ruleset.rules
                for hit in self._search(rule, filters))
        return alerts_from(hits, self.ruleset.correlations)
