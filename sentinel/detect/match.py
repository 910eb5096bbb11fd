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
Predicate = Callable[[Document], bool]
Values = Callable[[list[Any]], bool]
ConditionTree = ConditionItem | ConditionFieldEqualsValueExpression | ConditionValueExpression


@lru_cache(maxsize=512)
def field_path(name: str) -> tuple[str, ...]:
    return tuple(name.split("."))


def field_values(doc: Document, name: str) -> list[Any]:
    """Every leaf value at a dotted path; arrays (at any level) are flattened, nulls dropped."""
    nodes: list[Any] = [doc]
    for part in field_path(name):
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
            return nodes
    return nodes


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
    if value.contains_special():
        pattern = wildcard_regex(value)
        return lambda values: any(pattern.fullmatch(_text(v).lower()) for v in values)
    wanted = str(value).lower()
    return lambda values: any(_text(v).lower() == wanted for v in values)


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
    return lambda values: any(_text(v).lower() == wanted for v in values)


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


def compile_condition(tree: ConditionTree) -> Predicate:
    """A predicate over one ECS document for a postprocessed Sigma condition tree."""
    if isinstance(tree, ConditionAND):
        parts = [compile_condition(arg) for arg in tree.args]  # type: ignore[arg-type]
        return lambda doc: all(p(doc) for p in parts)
    if isinstance(tree, ConditionOR):
        parts = [compile_condition(arg) for arg in tree.args]  # type: ignore[arg-type]
        return lambda doc: any(p(doc) for p in parts)
    if isinstance(tree, ConditionNOT):
        inner = compile_condition(tree.args[0])  # type: ignore[arg-type]
        return lambda doc: not inner(doc)
    if isinstance(tree, ConditionFieldEqualsValueExpression):
        name, check = tree.field, value_matcher(tree.value)
        return lambda doc: check(field_values(doc, name))
    raise InputError("keyword (field-less) detections are not supported: name the field to match")
