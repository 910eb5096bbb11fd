"""Sentinel's Sigma rules: load them with pySigma's parser, compile them for the engines.

Rules are data under ``rules/`` (shipped in the package, overlaid like every data folder):
``finding/`` and ``event/`` hold single rules (logsource product ``sentinel``, category
``finding`` or ``event``), ``correlation/`` the correlation rules over them. A rule's own
examples live in ``rules/tests/<file stem>.yaml``; the pySigma processing pipeline that maps
the rules onto Sentinel's Elasticsearch fields is ``rules/pipelines/sentinel.yaml``. Those
two use ``.yaml`` so that ``sigma check rules/`` (which reads every ``*.yml``) sees rules only.

Every file is read as a person's file (:func:`sentinel.yamlio.read_bounded`, then the same
size, depth and alias bounds as every YAML file, :func:`sentinel.yamlio.check_text`) before
pySigma or ``yaml.safe_load`` sees it; every error is a :class:`CatalogError` naming the file
itself (the overlay's own path when it comes from ``SENTINEL_DATA_DIR``); two rules with one
id (or one name) are refused, naming both files.

Nothing here reaches the network: rules carry no ATT&CK tags (pySigma would download MITRE
data for them) and the Kibana export is built by Sentinel, not by the backend's ``siem_rule``
formats.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from importlib.resources.abc import Traversable
from typing import Any, Literal

import yaml
from sigma.collection import SigmaCollection
from sigma.correlations import SigmaCorrelationCondition, SigmaCorrelationRule
from sigma.exceptions import SigmaError
from sigma.processing.pipeline import ProcessingPipeline
from sigma.rule import SigmaRule

from sentinel.catalog.resources import data_file, data_files, overlay_root, shipped_root
from sentinel.detect.match import Predicate, compile_condition
from sentinel.errors import CatalogError, InputError, SourceLocation
from sentinel.severity import Severity
from sentinel.yamlio import check_text, read_bounded

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
        raise CatalogError(
            "logsource must be product 'sentinel', category 'finding' or 'event'",
            SourceLocation(source, field="logsource"),
        )
    return "finding" if category == "finding" else "event"


# What pySigma and PyYAML's constructors raise on a document of the wrong shape (a list
# where a mapping belongs, a number for a string): bad input, translated at this boundary.
_SHAPE_ERRORS = (SigmaError, yaml.YAMLError, TypeError, AttributeError, KeyError, ValueError,
                 IndexError)


def _read(node: Traversable) -> tuple[str, str]:
    """(the file's name for errors, its text) once it passed every bound of a YAML file."""
    name = str(node)
    text = read_bounded(node, CatalogError)
    check_text(text, name, CatalogError)
    return name, text


def _problem(exc: Exception, source: str) -> CatalogError:
    """A parser's exception as one located error about ``source``."""
    if isinstance(exc, yaml.MarkedYAMLError) and exc.problem_mark is not None:
        mark = exc.problem_mark
        return CatalogError(f"not valid YAML: {exc.problem}",
                            SourceLocation(source, mark.line + 1, mark.column + 1))
    if isinstance(exc, SigmaError | yaml.YAMLError):
        reason = " ".join(str(exc).split()) or type(exc).__name__
    else:
        reason = f"not the shape pySigma expects ({type(exc).__name__}: {exc})"
    return CatalogError(reason, SourceLocation(source))


def _line_of(text: str, key: str, value: str) -> int | None:
    """The line where a top-level ``key: value`` appears in a rule file (for errors)."""
    pattern = re.compile(rf"^{key}:\s*['\"]?{re.escape(value)}['\"]?\s*(#.*)?$")
    for number, line in enumerate(text.splitlines(), start=1):
        if pattern.match(line):
            return number
    return None


def load_collection() -> tuple[SigmaCollection, dict[int, str]]:
    """Every rule file under ``rules/`` as one pySigma collection (references resolved).

    The values of the mapping are the rule files' names (paths), keyed by ``id()`` of each
    rule object. Two rules with one id, or one name, are refused naming both files."""
    collections, sources = [], {}
    seen: dict[tuple[str, str], str] = {}  # ("id" or "name", value) -> file
    for folder in RULE_FOLDERS:
        for _, node in data_files("rules", folder):
            source, text = _read(node)
            try:
                loaded = SigmaCollection.from_yaml(text, resolve_references=False)
            except _SHAPE_ERRORS as exc:
                raise _problem(exc, source) from None
            for item in loaded.rules:
                sources[id(item)] = source
                for key, value in (("id", item.id), ("name", getattr(item, "name", None))):
                    if value is None:
                        continue
                    first = seen.get((key, str(value)))
                    if first is not None:
                        where = SourceLocation(source, _line_of(text, key, str(value)),
                                               field=key)
                        raise CatalogError(
                            f"rule {key} {value} is used twice: here and in {first}", where)
                    seen[(key, str(value))] = source
            collections.append(loaded)
    collection = SigmaCollection.merge(collections)
    try:
        collection.resolve_rule_references()
    except _SHAPE_ERRORS as exc:
        raise CatalogError(f"correlation references: {' '.join(str(exc).split())}",
                           SourceLocation(_rules_folder())) from None
    return collection, sources


def _rules_folder() -> str:
    """The rules folder errors about the whole set name (the overlay's, when there is one)."""
    return str(overlay_root("rules") or shipped_root("rules"))


def _compile_rule(rule: SigmaRule, source: str, feeds_only: bool) -> Rule:
    trees = rule.detection.parsed_condition
    if len(trees) != 1:
        raise CatalogError(
            "exactly one condition per rule", SourceLocation(source, field="condition")
        )
    try:
        predicate = compile_condition(trees[0].parsed)  # type: ignore[arg-type]  # tree root
    except SigmaError as exc:
        raise CatalogError(str(exc), SourceLocation(source, field="detection")) from None
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
        raise CatalogError(
            "extended correlation conditions are not supported",
            SourceLocation(source, field="correlation.condition"),
        )
    fieldref = getattr(condition, "fieldref", None)
    if corr.type.name.lower() not in ("event_count", "value_count", "temporal"):
        raise CatalogError(
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
    """The shipped (or overlaid) pySigma processing pipeline, as YAML text within bounds."""
    return _read(data_file("rules", PIPELINE))[1]


def load_pipeline() -> ProcessingPipeline:
    """The shipped (or overlaid) pySigma processing pipeline; a bad one is a
    :class:`CatalogError` naming its file."""
    source, text = _read(data_file("rules", PIPELINE))
    try:
        return ProcessingPipeline.from_yaml(text)
    except _SHAPE_ERRORS as exc:
        raise _problem(exc, source) from None


def load_rule_tests() -> dict[str, tuple[str, dict[str, Any]]]:
    """Each rule file's examples (``rules/tests/<stem>.yaml``) by file stem, with the test
    file's name: a mapping naming its ``rule``, with a ``cases`` list whose every case is a
    mapping with an integer ``alerts`` and a list of ``documents`` (mappings)."""
    out: dict[str, tuple[str, dict[str, Any]]] = {}
    for name, node in data_files("rules", "tests", suffixes=(".yaml",)):
        source, text = _read(node)
        try:
            loaded = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise _problem(exc, source) from None
        if not isinstance(loaded, dict) or not isinstance(loaded.get("cases"), list):
            raise CatalogError("expected a mapping with a 'cases' list", SourceLocation(source))
        for number, case in enumerate(loaded["cases"]):
            _check_case(case, SourceLocation(source, field=f"cases.{number}"))
        out[name.removesuffix(".yaml")] = (source, loaded)
    return out


def _check_case(case: Any, where: SourceLocation) -> None:
    if not isinstance(case, dict):
        raise CatalogError("a case must be a mapping", where)
    alerts = case.get("alerts")
    if not isinstance(alerts, int) or isinstance(alerts, bool) or alerts < 0:
        raise CatalogError("'alerts' must be a whole number of alerts, 0 or more", where)
    documents = case.get("documents") or []
    if not isinstance(documents, list) or not all(_is_document(d) for d in documents):
        raise CatalogError("'documents' must be a list of mappings with text keys", where)


def _is_document(value: Any) -> bool:
    return isinstance(value, dict) and all(
        isinstance(k, str) and (not isinstance(v, dict) or _is_document(v))
        for k, v in value.items())


def rule_tests() -> dict[str, dict[str, Any]]:
    """Each rule file's examples (``rules/tests/<stem>.yaml``), by file stem."""
    return {stem: spec for stem, (_, spec) in load_rule_tests().items()}
