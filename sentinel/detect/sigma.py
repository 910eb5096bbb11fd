"""Sentinel's Sigma rules: load them with pySigma's parser, compile them for the engines.

Rules are data under ``rules/`` (shipped in the package, overlaid like every data folder):
``finding/`` and ``event/`` hold single rules (logsource product ``sentinel``, category
``finding`` or ``event``), ``correlation/`` the correlation rules over them. A rule's own
examples live in ``rules/tests/<file stem>.yaml``; the pySigma processing pipeline that maps
the rules onto Sentinel's Elasticsearch fields is ``rules/pipelines/sentinel.yaml``. Those
two use ``.yaml`` so that ``sigma check rules/`` (which reads every ``*.yml``) sees rules only.

Nothing here reaches the network: rules carry no ATT&CK tags (pySigma would download MITRE
data for them) and the Kibana export is built by Sentinel, not by the backend's ``siem_rule``
formats.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import yaml
from sigma.collection import SigmaCollection
from sigma.correlations import SigmaCorrelationCondition, SigmaCorrelationRule
from sigma.exceptions import SigmaError
from sigma.rule import SigmaRule

from sentinel.catalog.resources import data_file, data_files
from sentinel.detect.match import Predicate, compile_condition
from sentinel.errors import InputError, SourceLocation
from sentinel.severity import Severity

Category = Literal["finding", "event"]
CATEGORIES: tuple[Category, ...] = ("finding", "event")
RULE_FOLDERS = ("finding", "event", "correlation")
PIPELINE = "pipelines/sentinel.yaml"

_LEVELS = {
    "informational": Severity.INFO,
    "low": Severity.LOW,
    "medium": Severity.MEDIUM,
    "high": Severity.HIGH,
    "critical": Severity.CRITICAL,
}


@dataclass(frozen=True)
class Rule:
    """One single (non-correlation) rule, compiled for the local engine."""

    id: str
    name: str
    title: str
    level: Severity
    category: Category
    sigma: SigmaRule
    predicate: Predicate
    source: str
    generate: bool = True  # False when it only feeds correlations


@dataclass(frozen=True)
class Correlation:
    """One correlation rule over single rules, evaluated by :mod:`sentinel.detect.correlate`."""

    id: str
    title: str
    level: Severity
    kind: str  # event_count / value_count / temporal
    rules: tuple[str, ...]  # ids of the single rules it counts
    group_by: tuple[str, ...]
    timespan_s: int
    operator: str  # gte / gt / lte / lt / eq / neq
    count: int
    field: str | None
    sigma: SigmaCorrelationRule
    source: str


@dataclass
class RuleSet:
    rules: list[Rule] = field(default_factory=list)
    correlations: list[Correlation] = field(default_factory=list)
    collection: SigmaCollection | None = None

    def by_id(self, rule_id: str) -> Rule | Correlation:
        for rule in self.rules:
            if rule_id in (rule.id, rule.name):
                return rule
        for corr in self.correlations:
            if corr.id == rule_id:
                return corr
        raise InputError(f"no rule with id or name {rule_id!r}")


def level(value: Any) -> Severity:
    return _LEVELS.get(
        str(value.name if hasattr(value, "name") else value).lower(), Severity.MEDIUM
    )


def _category(rule: SigmaRule, source: str) -> Category:
    category = rule.logsource.category
    if rule.logsource.product != "sentinel" or category not in CATEGORIES:
        raise InputError(
            "logsource must be product 'sentinel', category 'finding' or 'event'",
            SourceLocation(source, field="logsource"),
        )
    return "finding" if category == "finding" else "event"


def load_collection() -> tuple[SigmaCollection, dict[int, str]]:
    """Every rule file under ``rules/`` as one pySigma collection (references resolved)."""
    collections, sources = [], {}
    for folder in RULE_FOLDERS:
        for name, node in data_files("rules", folder):
            source = f"rules/{folder}/{name}"
            try:
                loaded = SigmaCollection.from_yaml(
                    node.read_text("utf-8"), resolve_references=False
                )
            except (SigmaError, yaml.YAMLError) as exc:
                raise InputError(str(exc), SourceLocation(source)) from None
            for item in loaded.rules:
                sources[id(item)] = source
            collections.append(loaded)
    collection = SigmaCollection.merge(collections)
    try:
        collection.resolve_rule_references()
    except SigmaError as exc:
        raise InputError(f"correlation references: {exc}", SourceLocation("rules/")) from None
    return collection, sources


def _compile_rule(rule: SigmaRule, source: str, feeds_only: bool) -> Rule:
    trees = rule.detection.parsed_condition
    if len(trees) != 1:
        raise InputError(
            "exactly one condition per rule", SourceLocation(source, field="condition")
        )
    try:
        predicate = compile_condition(trees[0].parsed)  # type: ignore[arg-type]  # tree root
    except SigmaError as exc:
        raise InputError(str(exc), SourceLocation(source, field="detection")) from None
    return Rule(
        id=str(rule.id),
        name=rule.name or str(rule.id),
        title=rule.title,
        level=level(rule.level),
        category=_category(rule, source),
        sigma=rule,
        predicate=predicate,
        source=source,
        generate=not feeds_only,
    )


def _compile_correlation(corr: SigmaCorrelationRule, source: str) -> Correlation:
    condition = corr.condition
    if not isinstance(condition, SigmaCorrelationCondition):
        raise InputError(
            "extended correlation conditions are not supported",
            SourceLocation(source, field="correlation.condition"),
        )
    fieldref = getattr(condition, "fieldref", None)
    if corr.type.name.lower() not in ("event_count", "value_count", "temporal"):
        raise InputError(
            f"correlation type {corr.type.name.lower()} is not supported",
            SourceLocation(source, field="correlation.type"),
        )
    referenced = [ref.rule for ref in corr.rules or []]
    return Correlation(
        id=str(corr.id),
        title=corr.title,
        level=level(corr.level),
        kind=corr.type.name.lower(),
        rules=tuple(str(r.id) for r in referenced),
        group_by=tuple(corr.group_by or ()),
        timespan_s=corr.timespan.seconds,
        operator=condition.op.name.lower(),
        count=int(condition.count),
        field=fieldref if isinstance(fieldref, str) else None,
        sigma=corr,
        source=source,
    )


def load_rules() -> RuleSet:
    """Load and compile every rule; a bad rule is an :class:`InputError` naming its file."""
    collection, sources = load_collection()
    correlations = [r for r in collection.rules if isinstance(r, SigmaCorrelationRule)]
    feeds_only: set[str] = set()
    for corr in correlations:
        if not corr.generate:
            feeds_only.update(str(ref.rule.id) for ref in corr.rules or [])
    ruleset = RuleSet(collection=collection)
    for item in collection.rules:
        source = sources.get(id(item), "rules/")
        if isinstance(item, SigmaRule):
            ruleset.rules.append(_compile_rule(item, source, str(item.id) in feeds_only))
        elif isinstance(item, SigmaCorrelationRule):
            ruleset.correlations.append(_compile_correlation(item, source))
    return ruleset


def pipeline_text() -> str:
    """The shipped (or overlaid) pySigma processing pipeline, as YAML text."""
    return data_file("rules", PIPELINE).read_text("utf-8")


def rule_tests() -> dict[str, dict[str, Any]]:
    """Each rule file's examples (``rules/tests/<stem>.yaml``), by file stem."""
    out: dict[str, dict[str, Any]] = {}
    for name, node in data_files("rules", "tests", suffixes=(".yaml",)):
        loaded = yaml.safe_load(node.read_text("utf-8"))
        if not isinstance(loaded, dict) or not isinstance(loaded.get("cases"), list):
            raise InputError(
                "expected a mapping with a 'cases' list", SourceLocation(f"rules/tests/{name}")
            )
        out[name.removesuffix(".yaml")] = loaded
    return out
