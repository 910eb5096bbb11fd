"""Compile a Sigma rule's condition tree into a Python predicate over ECS documents.

The semantics are those of the Elasticsearch side (Lucene ``query_string`` over Sentinel's
mapping, through ``rules/pipelines/sentinel.yaml``), so both engines raise the same alerts:

* strings match case-insensitively (Elasticsearch queries the ``.lower`` normalised
  subfield); ``*`` and ``?`` are wildcards over the whole value (``contains``,
  ``startswith`` and ``endswith`` are wildcards too);
* ``re`` matches the whole value, case-sensitively (Lucene regular expressions are
  anchored, and they run on the original keyword field);
* ``cidr`` matches IPv4 and IPv6 addresses inside the network; anything else never does;
* a list of values is an OR; a document array matches when any element does;
* ``null`` means missing (or null, or an empty array); ``exists`` is its opposite;
* numbers compare numerically, also against numeric strings.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from sigma.conditions import (
    ConditionAND,
    ConditionFieldEqualsValueExpression,
    ConditionItem,
    ConditionNOT,
    ConditionOR,
    ConditionValueExpression,
)
from sigma.types import (
    CompareOperators,
    SigmaBool,
    SigmaCIDRExpression,
    SigmaCompareExpression,
    SigmaExists,
    SigmaNull,
    SigmaNumber,
    SigmaRegularExpression,
    SigmaRegularExpressionFlag,
    SigmaString,
    SigmaType,
    SpecialChars,
)

from sentinel.errors import InputError

Document = dict[str, Any]
Predicate = Callable[["View"], bool]
Values = Callable[[list[Any]], bool]
ConditionTree = ConditionItem | ConditionFieldEqualsValueExpression | ConditionValueExpression


@lru_cache(maxsize=512)
def field_path(name: str) -> tuple[str, ...]:
    return tuple(name.split("."))


def _walk(nodes: list[Any], parts: tuple[str, ...]) -> list[Any]:
    for part in parts:
        step: list[Any] = []
        for node in nodes:
            if isinstance(node, dict):
                child = node.get(part)
                if isinstance(child, list):
                    step.extend(child)
                elif child is not None:
                    step.append(child)
            elif isinstance(node, list):
                step.extend(n.get(part) for n in node if isinstance(n, dict))
        nodes = [n for n in step if n is not None]
        if not nodes:
            break
    return nodes


def field_values(doc: Document, name: str) -> list[Any]:
    """Every leaf value at a dotted path; arrays (at any level) are flattened, nulls dropped."""
    node: Any = doc
    parts = field_path(name)
    for part in parts:
        if type(node) is dict:
            node = node.get(part)
        elif isinstance(node, list):
            return _walk([node], parts[parts.index(part) :])
        else:
            return []
    if node is None:
        return []
    if type(node) is list:
        if any(type(n) is list for n in node):
            return _walk([node], ())
        return [n for n in node if n is not None]
    return [node]


class View:
    """One document as the predicates read it: field values looked up once, then cached."""

    __slots__ = ("cache", "doc", "lowered")

    def __init__(self, doc: Document) -> None:
        self.doc = doc
        self.cache: dict[str, list[Any]] = {}
        self.lowered: dict[str, list[str]] = {}

    def values(self, name: str) -> list[Any]:
        found = self.cache.get(name)
        if found is None:
            found = self.cache[name] = field_values(self.doc, name)
        return found

    def lower(self, name: str) -> list[str]:
        """The values at ``name`` as lower-case text (how strings are compared)."""
        found = self.lowered.get(name)
        if found is None:
            found = self.lowered[name] = [
                v.lower() if type(v) is str else _text(v).lower() for v in self.values(name)
            ]
        return found


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    try:
        return float(str(value))
    except ValueError:
        return None


def wildcard_regex(value: SigmaString) -> re.Pattern[str]:
    """A Sigma string with wildcards as an anchored, lower-case regular expression."""
    parts = []
    for part in value.s:
        if part is SpecialChars.WILDCARD_MULTI:
            parts.append(".*")
        elif part is SpecialChars.WILDCARD_SINGLE:
            parts.append(".")
        elif isinstance(part, str):
            parts.append(re.escape(part.lower()))
        else:
            raise InputError(f"placeholders are not supported: {value}")
    return re.compile("".join(parts), re.DOTALL)


def _string(value: SigmaString) -> Values:
    """Matches lower-case text (see :meth:`View.lower`)."""
    if value.contains_special():
        match = wildcard_regex(value).fullmatch
        return lambda texts: any(match(t) for t in texts)
    wanted = str(value).lower()
    return lambda texts: wanted in texts


def _regex(value: SigmaRegularExpression) -> Values:
    flags = re.DOTALL if SigmaRegularExpressionFlag.DOTALL in value.flags else 0
    if SigmaRegularExpressionFlag.IGNORECASE in value.flags:
        flags |= re.IGNORECASE
    if SigmaRegularExpressionFlag.MULTILINE in value.flags:
        flags |= re.MULTILINE
    pattern = re.compile(str(value.regexp), flags)
    return lambda values: any(pattern.fullmatch(_text(v)) for v in values)


def _cidr(value: SigmaCIDRExpression) -> Values:
    network = value.network

    def inside(candidate: Any) -> bool:
        try:
            address = ipaddress.ip_address(_text(candidate))
        except ValueError:
            return False
        return address.version == network.version and address in network

    return lambda values: any(inside(v) for v in values)


_COMPARE: dict[CompareOperators, Callable[[float, float], bool]] = {
    CompareOperators.LT: lambda a, b: a < b,
    CompareOperators.LTE: lambda a, b: a <= b,
    CompareOperators.GT: lambda a, b: a > b,
    CompareOperators.GTE: lambda a, b: a >= b,
}


def _compare(value: SigmaCompareExpression) -> Values:
    limit = float(value.number.number)
    operator = _COMPARE.get(value.op)
    if operator is None:
        raise InputError(f"comparison {value.op.name} is not supported")

    def check(values: list[Any]) -> bool:
        return any(n is not None and operator(n, limit) for n in map(_number, values))

    return check


def _equal_number(value: SigmaNumber) -> Values:
    wanted = float(value.number)
    return lambda values: any(_number(v) == wanted for v in values)


def _null(_: SigmaNull) -> Values:
    return lambda values: not values


def _exists(value: SigmaExists) -> Values:
    expected = value.exists
    return lambda values: bool(values) is expected


def _bool(value: SigmaBool) -> Values:
    wanted = "true" if value.boolean else "false"
    return lambda texts: wanted in texts


# Order matters: the first type an instance belongs to wins.
_MATCHERS: tuple[tuple[type[Any], Callable[[Any], Values]], ...] = (
    (SigmaString, _string),
    (SigmaNumber, _equal_number),
    (SigmaNull, _null),
    (SigmaExists, _exists),
    (SigmaBool, _bool),
    (SigmaRegularExpression, _regex),
    (SigmaCIDRExpression, _cidr),
    (SigmaCompareExpression, _compare),
)


def value_matcher(value: SigmaType) -> Values:
    """How one Sigma value matches the list of values a document has at a field."""
    for kind, make in _MATCHERS:
        if isinstance(value, kind):
            return make(value)
    raise InputError(f"value type {type(value).__name__} is not supported by the local engine")


def _all(parts: list[Predicate]) -> Predicate:
    first, *rest = parts
    if not rest:
        return first
    others = _all(rest)
    return lambda view: first(view) and others(view)


def _any(parts: list[Predicate]) -> Predicate:
    first, *rest = parts
    if not rest:
        return first
    others = _any(rest)
    return lambda view: first(view) or others(view)


def compile_condition(tree: ConditionTree) -> Predicate:
    """A predicate over one document (as a :class:`View`) for a postprocessed condition tree."""
    if isinstance(tree, ConditionAND | ConditionOR):
        # pySigma types args loosely; a postprocessed tree holds only condition nodes.
        parts = [compile_condition(arg) for arg in tree.args]  # type: ignore[arg-type]
        return _all(parts) if isinstance(tree, ConditionAND) else _any(parts)
    if isinstance(tree, ConditionNOT):
        inner = compile_condition(tree.args[0])  # type: ignore[arg-type]  # as above
        return lambda view: not inner(view)
    if isinstance(tree, ConditionFieldEqualsValueExpression):
        name, check = tree.field, value_matcher(tree.value)
        if isinstance(tree.value, SigmaString | SigmaBool):
            return lambda view: check(view.lower(name))
        return lambda view: check(view.values(name))
    raise InputError("keyword (field-less) detections are not supported: name the field to match")
