"""The local engine: Sentinel's Sigma rules evaluated in-process over ECS documents.

Used with the embedded store (no Elasticsearch). Rules are indexed by a value they must
have (``event.action: service-opened``, ``rule.id: GM-TLCP-ABSENT``): a document is only
tested against the rules its own values can satisfy, which keeps the whole rule set fast
on large scans. Correlations go through :mod:`sentinel.detect.correlate`, exactly as the
matches from Elasticsearch do.
"""

from __future__ import annotations

import gc
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime

from sigma.conditions import ConditionAND, ConditionFieldEqualsValueExpression, ConditionOR
from sigma.types import SigmaString

from sentinel.detect.correlate import Hit, alerts_from
from sentinel.detect.match import Document, View
from sentinel.detect.sigma import CATEGORIES, Category, Rule, RuleSet
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


def _conjuncts(node: object) -> list[object]:
    """The parts of a (possibly nested) AND: ``selection and tenant`` with their fields."""
    if isinstance(node, ConditionAND):
        return [part for arg in node.args for part in _conjuncts(arg)]
    return [node]


def anchor(rule: Rule) -> tuple[str, list[str]] | None:
    """A field and the values one of which every match of ``rule`` must have there.

    The most selective field wins (an action or a check id, not ``result.evaluation``).
    """
    tree = rule.sigma.detection.parsed_condition[0].parsed
    found = [f for f in map(_plain_values, _conjuncts(tree)) if f is not None]
    found.sort(key=lambda f: _SELECTIVE.index(f[0]) if f[0] in _SELECTIVE else len(_SELECTIVE))
    return found[0] if found else None


class _Category:
    """The rules of one category: those without an anchor, and the others by anchor value."""

    def __init__(self, rules: list[Rule]) -> None:
        self.rules = rules
        self.always: list[int] = []  # positions in self.rules
        index: dict[str, dict[str, list[int]]] = {}
        for position, rule in enumerate(rules):
            found = anchor(rule)
            if found is None:
                self.always.append(position)
                continue
            by_value = index.setdefault(found[0], {})
            for value in found[1]:
                by_value.setdefault(value, []).append(position)
        self.index = tuple(index.items())

    def matching(self, view: View) -> list[Rule]:
        candidates = list(self.always)
        for name, by_value in self.index:
            for value in view.lower(name):
                found = by_value.get(value)
                if found is not None:
                    candidates.extend(found)
        if len(candidates) > 1:
            # A document array can reach one rule twice; rule order keeps alerts stable.
            candidates = sorted(set(candidates))
        rules = self.rules
        return [rules[p] for p in candidates if rules[p].predicate(view)]


@contextmanager
def paused_collector() -> Iterator[None]:
    """Pause Python's cyclic garbage collector for one run (reference counting goes on).

    The engine makes no reference cycles, but the alerts it keeps would trigger full
    collections, each walking every document the caller holds: with 100,000 findings in
    memory that was ~40% of the run. The previous state is restored, even on errors.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


class LocalEngine:
    """Evaluates a rule set over documents; keeps no state between runs."""

    def __init__(self, ruleset: RuleSet) -> None:
        self.ruleset = ruleset
        self._categories = {
            category: _Category([r for r in ruleset.rules if r.category == category])
            for category in CATEGORIES
        }

    def matching(self, category: Category, doc: Document) -> list[Rule]:
        """The single rules of ``category`` that match ``doc``."""
        return self._categories[category].matching(View(doc))

    def hits(self, items: Iterable[Item]) -> Iterator[tuple[Rule, Hit]]:
        """Every (rule, hit) of the single rules over ``items``."""
        for category, doc_id, doc in items:
            for rule in self.matching(category, doc):
                yield rule, Hit(rule.id, doc_id, doc)

    def run(self, items: Iterable[Item]) -> list[Alert]:
        """Alerts of every rule over ``items``, correlations included."""
        with paused_collector():
            return self._run(items)

    def _run(self, items: Iterable[Item]) -> list[Alert]:
        return alerts_from(self.hits(items), self.ruleset.correlations)


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
