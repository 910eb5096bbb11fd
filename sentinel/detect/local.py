"""The local engine: Sentinel's Sigma rules evaluated in-process over ECS documents.

Used with the embedded store (no Elasticsearch). Rules are indexed by a value they must
have (``event.action: service-opened``, ``rule.id: GM-TLCP-ABSENT``): a document is only
tested against the rules its own values can satisfy, which keeps the whole rule set fast
on large scans. Correlations go through :mod:`sentinel.detect.correlate`, exactly as the
matches from Elasticsearch do.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator
from datetime import datetime

from sigma.conditions import ConditionAND, ConditionFieldEqualsValueExpression, ConditionOR
from sigma.types import SigmaString

from sentinel.detect.correlate import Hit, correlate, rule_alert
from sentinel.detect.match import Document, View
from sentinel.detect.sigma import Category, Rule, RuleSet
from sentinel.model import Alert
from sentinel.store.sqlite import SqliteStore

Item = tuple[Category, str, Document]  # (category, document id, document)
_SELECTIVE = ("event.action", "rule.id", "destination.port", "sentinel.severity")


def _plain_values(node: object) -> tuple[str, list[str]] | None:
    """(field, lower-case values) when ``node`` is an equality on plain strings, or an OR."""
    if isinstance(node, ConditionFieldEqualsValueExpression):
        value = node.value
        if isinstance(value, SigmaString) and not value.contains_special():
            return node.field, [str(value).lower()]
        return None
    if isinstance(node, ConditionOR):
        found = [_plain_values(arg) for arg in node.args]
        pairs = [f for f in found if f is not None]
        if pairs and len(pairs) == len(found) and all(f[0] == pairs[0][0] for f in pairs):
            return pairs[0][0], [v for f in pairs for v in f[1]]
    return None


def anchor(rule: Rule) -> tuple[str, list[str]] | None:
    """A field and the values one of which every match of ``rule`` must have there.

    The most selective field wins (an action or a check id, not ``result.evaluation``).
    """
    tree = rule.sigma.detection.parsed_condition[0].parsed
    candidates = tree.args if isinstance(tree, ConditionAND) else [tree]
    found = [f for f in map(_plain_values, candidates) if f is not None]
    found.sort(key=lambda f: _SELECTIVE.index(f[0]) if f[0] in _SELECTIVE else len(_SELECTIVE))
    return found[0] if found else None


class LocalEngine:
    """Evaluates a rule set over documents; keeps no state between runs."""

    def __init__(self, ruleset: RuleSet) -> None:
        self.ruleset = ruleset
        self._always: dict[str, list[Rule]] = defaultdict(list)
        self._index: dict[str, dict[str, dict[str, list[Rule]]]] = defaultdict(dict)
        for rule in ruleset.rules:
            found = anchor(rule)
            if found is None:
                self._always[rule.category].append(rule)
                continue
            name, values = found
            by_value = self._index[rule.category].setdefault(name, {})
            for value in values:
                by_value.setdefault(value, []).append(rule)
        self._feeds = {r for c in ruleset.correlations for r in c.rules}

    def matching(self, category: Category, doc: Document) -> list[Rule]:
        """The single rules of ``category`` that match ``doc``."""
        view = View(doc)
        candidates: dict[str, Rule] = {r.id: r for r in self._always.get(category, ())}
        for name, by_value in self._index.get(category, {}).items():
            for value in view.lower(name):
                for rule in by_value.get(value, ()):
                    candidates[rule.id] = rule
        return [rule for rule in candidates.values() if rule.predicate(view)]

    def hits(self, items: Iterable[Item]) -> Iterator[tuple[Rule, Hit]]:
        """Every (rule, hit) of the single rules over ``items``."""
        for category, doc_id, doc in items:
            for rule in self.matching(category, doc):
                yield rule, Hit(rule.id, doc_id, doc)

    def run(self, items: Iterable[Item]) -> list[Alert]:
        """Alerts of every rule over ``items``, correlations included."""
        alerts: list[Alert] = []
        feeding: list[Hit] = []
        for rule, hit in self.hits(items):
            if rule.generate:
                alerts.append(rule_alert(rule, hit))
            if rule.id in self._feeds:
                feeding.append(hit)
        for corr in self.ruleset.correlations:
            alerts.extend(correlate(corr, feeding))
        return alerts


def store_items(
    store: SqliteStore,
    *,
    scan_id: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> Iterator[Item]:
    """Findings and events of the embedded store, by scan or time range, with their ids."""
    for doc_id, doc in store.documents("findings", scan_id=scan_id, since=since, until=until):
        yield "finding", doc_id, doc
    for doc_id, doc in store.documents("events", scan_id=scan_id, since=since, until=until):
        yield "event", doc_id, doc
