"""``sentinel rules test``: every rule against its own examples (``rules/tests/<stem>.yaml``).

A test file names its rule and lists cases; each case is a list of documents (partial ECS,
nested or with dotted keys) and the number of alerts that rule must raise over them. A
single rule's documents are findings or events according to its logsource; a correlation's
documents are findings or events according to the rules it references. Every rule must
have a test file, with at least one case that alerts and one that does not.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from sentinel.detect.local import Item, LocalEngine
from sentinel.detect.match import Document
from sentinel.detect.sigma import Category, Correlation, Rule, RuleSet, load_rule_tests


@dataclass(frozen=True)
class CaseResult:
    """One case of one rule: how many alerts were wanted and raised."""

    rule_id: str
    title: str
    case: str
    wanted: int
    raised: int

    @property
    def ok(self) -> bool:
        return self.wanted == self.raised


def expand(doc: dict[str, Any]) -> Document:
    """A test document with dotted keys (``rule.id: X``) as the nested ECS document."""
    out: Document = {}
    for key, value in doc.items():
        node = out
        *parents, leaf = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = expand(value) if isinstance(value, dict) else value
    return out


def _category(ruleset: RuleSet, item: Rule | Correlation) -> Category:
    if isinstance(item, Rule):
        return item.category
    first = ruleset.by_id(item.rules[0])
    return first.category if isinstance(first, Rule) else "event"


def _run_case(
    engine: LocalEngine, ruleset: RuleSet, item: Rule | Correlation, stem: str, case: dict[str, Any]
) -> CaseResult:
    category = _category(ruleset, item)
    docs: list[Item] = [
        (category, f"{stem}-{case.get('name', '')}-{n}", expand(doc))
        for n, doc in enumerate(case.get("documents") or [])
    ]
    raised = sum(alert.rule_id == item.id for alert in engine.run(docs))
    return CaseResult(item.id, item.title, str(case.get("name", "")), int(case["alerts"]), raised)


def run_rule_tests(ruleset: RuleSet) -> tuple[list[CaseResult], list[str]]:
    """Every case of every rule, and the problems with the tests themselves."""
    engine = LocalEngine(ruleset)
    tests = load_rule_tests()
    results: list[CaseResult] = []
    problems: list[str] = []
    items: list[Rule | Correlation] = [*ruleset.rules, *ruleset.correlations]
    for item in items:
        stem = PurePosixPath(item.source).stem
        found = tests.pop(stem, None)
        if found is None:
            problems.append(f"{item.source}: no rules/tests/{stem}.yaml")
            continue
        source, spec = found
        if str(spec.get("rule")) != item.id:
            problems.append(f"{source}: names rule {spec.get('rule')}, not {item.id}")
        cases = spec["cases"]
        wanted = [int(c["alerts"]) for c in cases]
        if not any(wanted) or all(wanted):
            problems.append(f"{source}: needs a case that alerts and one that does not")
        results.extend(_run_case(engine, ruleset, item, stem, case) for case in cases)
    problems.extend(f"{source}: no rule file {stem}.yml"
                    for stem, (source, _) in sorted(tests.items()))
    return results, problems
