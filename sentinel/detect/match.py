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
    for depth, part in enumerate(parts):
        if type(node) is dict:
            node = node.get(part)
            if node is None:
                return []
        elif isinstance(node, list):
            return _walk([node], parts[depth:])
        else:
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
            values = self.cache.get(name)
            if values is None:
                values = self.cache[name] = field_values(self.doc, name)
            found = self.lowered[name] = [
                v.lower() if type(v) is str else _text(v).lower() for v in values
            ]
        return found


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _number(value: Any) -> float | None:
    if type(value) is int:
        return float(value)
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    try:
        return float(str(value))
    except ValueError:
        return None


class LinearPattern:
    """A regular expression run by RE2 (google-re2): time linear in the text, whatever the
    pattern, so a rule such as ``|re: '(a+)+$'`` cannot be hung by a server's banner.
    Patterns RE2 cannot run in linear time (backreferences, lookaround) are refused when the
    rule loads."""

    def __init__(self, pattern: str, flags: str = "") -> None:
        import re2

        options = re2.Options()
        options.log_errors = False
        options.max_mem = 16 << 20  # a pathological pattern's automaton stays small too
        try:
            self._compiled = re2.compile(f"(?{flags}){pattern}" if flags else pattern, options)
        except re2.error as exc:
            detail = exc.args[0].decode("utf-8", "replace") if exc.args and isinstance(
                exc.args[0], bytes) else str(exc)
            raise InputError(f"regular expression {pattern!r} cannot run in linear time "
                             f"(RE2: {detail}); rewrite it without backreferences or "
                             "lookaround") from None

    def fullmatch(self, text: str) -> bool:
        return self._compiled.fullmatch(text) is not None


def wildcard_regex(value: SigmaString) -> LinearPattern:
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
    return LinearPattern("".join(parts), "s")


def _string(value: SigmaString) -> Values:
    """Matches lower-case text (see :meth:`View.lower`)."""
    if value.contains_special():
        match = wildcard_regex(value).fullmatch
        return lambda texts: any(match(t) for t in texts)
    wanted = str(value).lower()
    return lambda texts: wanted in texts


def _regex(value: SigmaRegularExpression) -> Values:
    flags = "s" if SigmaRegularExpressionFlag.DOTALL in value.flags else ""
    if SigmaRegularExpressionFlag.IGNORECASE in value.flags:
        flags += "i"
    if SigmaRegularExpressionFlag.MULTILINE in value.flags:
        flags += "m"
    pattern = LinearPattern(str(value.regexp), flags)
    return lambda values: any(pattern.fullmatch(_text(v)) for v in values)


@lru_cache(maxsize=65536)
def _address(text: str) -> tuple[int, int] | None:
    """(IP version, integer) of an address; the same addresses recur across a scan's findings."""
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    return address.version, int(address)


def _networks(values: list[SigmaCIDRExpression]) -> Values:
    """Any address inside any of the networks (IPv4 and IPv6 each against their own)."""
    ranges = tuple((n.version, int(n[0]), int(n[-1])) for n in (value.network for value in values))

    def inside(candidate: Any) -> bool:
        found = _address(candidate if type(candidate) is str else _text(candidate))
        if found is None:
            return False
        version, number = found
        return any(v == version and first <= number <= last for v, first, last in ranges)

    return lambda values: any(inside(v) for v in values)


def _cidr(value: SigmaCIDRExpression) -> Values:
    return _networks([value])


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
    if len(parts) == 1:
        return parts[0]
    if len(parts) == 2:
        first, second = parts
        return lambda view: first(view) and second(view)
    steps = tuple(parts)

    def every(view: View) -> bool:
        # A plain loop: all() would build a generator on every call of the hot path.
        for step in steps:  # noqa: SIM110
            if not step(view):
                return False
        return True

    return every


def _any(parts: list[Predicate]) -> Predicate:
    if len(parts) == 1:
        return parts[0]
    if len(parts) == 2:
        first, second = parts
        return lambda view: first(view) or second(view)
    steps = tuple(parts)

    def some(view: View) -> bool:
        for step in steps:  # noqa: SIM110  (as in _all)
            if step(view):
                return True
        return False

    return some


def _lowered(name: str, check: Values) -> Predicate:
    """A test on the lower-case text at ``name``, read from the view's cache when it is there."""

    def leaf(view: View) -> bool:
        texts = view.lowered.get(name)
        return check(view.lower(name) if texts is None else texts)

    return leaf


def _original(name: str, check: Values) -> Predicate:
    def leaf(view: View) -> bool:
        values = view.cache.get(name)
        return check(view.values(name) if values is None else values)

    return leaf


def _plain_string(tree: object) -> tuple[str, str] | None:
    if isinstance(tree, ConditionFieldEqualsValueExpression):
        value = tree.value
        if isinstance(value, SigmaString) and not value.contains_special():
            return tree.field, str(value).lower()
    return None


def _plain_number(tree: object) -> tuple[str, float] | None:
    if isinstance(tree, ConditionFieldEqualsValueExpression):
        value = tree.value
        if isinstance(value, SigmaNumber):
            return tree.field, float(value.number)
    return None


def _one_of(tree: ConditionOR) -> Predicate | None:
    """A list of plain strings, numbers or networks on one field (``rule.id: [A, B]``) as one
    test (a set look-up, one address parse)."""
    texts = [t for t in map(_plain_string, tree.args) if t is not None]
    if len(texts) == len(tree.args) and len({name for name, _ in texts}) == 1:
        wanted = frozenset(text for _, text in texts)
        return _lowered(texts[0][0], lambda found: not wanted.isdisjoint(found))
    networks = [
        (arg.field, arg.value)
        for arg in tree.args
        if isinstance(arg, ConditionFieldEqualsValueExpression)
        and isinstance(arg.value, SigmaCIDRExpression)
    ]
    if len(networks) == len(tree.args) and len({name for name, _ in networks}) == 1:
        return _original(networks[0][0], _networks([value for _, value in networks]))
    numbers = [n for n in map(_plain_number, tree.args) if n is not None]
    if len(numbers) == len(tree.args) and len({name for name, _ in numbers}) == 1:
        allowed = frozenset(number for _, number in numbers)
        return _original(numbers[0][0], lambda found: any(_number(v) in allowed for v in found))
    return None


# Relative cost of a test, so that an AND tries its cheap parts first (all are pure).
_COSTLY = (SigmaRegularExpression, SigmaCIDRExpression)


def _compile(tree: ConditionTree) -> tuple[Predicate, int]:
    if isinstance(tree, ConditionOR) and (grouped := _one_of(tree)) is not None:
        return grouped, 1
    if isinstance(tree, ConditionAND | ConditionOR):
        # pySigma types args loosely; a postprocessed tree holds only condition nodes.
        compiled = sorted((_compile(arg) for arg in tree.args), key=lambda c: c[1])  # type: ignore[arg-type]
        cost = sum(c[1] for c in compiled)
        parts = [c[0] for c in compiled]
        return (_all(parts) if isinstance(tree, ConditionAND) else _any(parts)), cost
    if isinstance(tree, ConditionNOT):
        inner, cost = _compile(tree.args[0])  # type: ignore[arg-type]  # as above
        return (lambda view: not inner(view)), cost
    if isinstance(tree, ConditionFieldEqualsValueExpression):
        name, value = tree.field, tree.value
        cost = 4 if isinstance(value, _COSTLY) else 1
        if (plain := _plain_string(tree)) is not None:
            wanted = plain[1]
            return _lowered(name, lambda texts: wanted in texts), cost
        check = value_matcher(value)
        if isinstance(value, SigmaString | SigmaBool):
            return _lowered(name, check), cost + 1
        return _original(name, check), cost
    raise InputError("keyword (field-less) detections are not supported: name the field to match")


def compile_condition(tree: ConditionTree) -> Predicate:
    """A predicate over one document (as a :class:`View`) for a postprocessed condition tree.

    Lists of plain values become set look-ups and every AND tries its cheap tests (plain
    equalities) before regular expressions and CIDR ranges; the result is the same.
    """
    return _compile(tree)[0]
