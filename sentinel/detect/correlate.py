"""Correlations over rule matches: sliding time windows per group, computed by Sentinel.

The local engine and the Elasticsearch engine both hand their matches of the single rules
here, so a correlation means the same thing on both (Elasticsearch's own correlation
queries use fixed calendar buckets, which would not). Windows slide: a correlation fires
as soon as the hits of one group within ``timespan`` satisfy its condition, names those
hits, and starts counting afresh after them, so one burst raises one alert.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property, lru_cache
from typing import Any

from sentinel.detect.match import Document, field_values
from sentinel.detect.sigma import Correlation, Rule
from sentinel.errors import InputError
from sentinel.model import Alert
from sentinel.severity import Severity


@dataclass(frozen=True)
class Hit:
    """One document matched by one single rule."""

    rule_id: str
    doc_id: str
    doc: Document

    @cached_property
    def seconds(self) -> float:
        return timestamp(self.doc)


def timestamp(doc: Document) -> float:
    """``@timestamp`` as seconds since the epoch (0 when missing or unreadable)."""
    stamp = doc.get("@timestamp")
    return _seconds(stamp) if isinstance(stamp, str) else 0.0


@lru_cache(maxsize=4096)
def _seconds(stamp: str) -> float:
    # Cached: the findings of one scan share a handful of observation times.
    try:
        moment = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        return 0.0
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def _moment(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def _group_value(doc: Document, name: str) -> str:
    return ",".join(sorted(str(v) for v in field_values(doc, name)))


def _agency(doc: Document) -> str | None:
    values = field_values(doc, "organization.id")
    return str(values[0]) if values else None


@lru_cache(maxsize=256)
def _parts(name: str) -> tuple[str, ...]:
    return tuple(name.split("."))


def _first(doc: Document, name: str) -> Any:
    """The first value of a dotted field (None when missing), as :func:`field_values` reads
    it: nested mappings walked directly (the common case), arrays through it."""
    node: Any = doc
    for part in _parts(name):
        if type(node) is not dict:
            break
        node = node.get(part)
        if node is None:
            return None
    else:
        if type(node) is not list:
            return node
    values = field_values(doc, name)
    return values[0] if values else None


def _port(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float | str):
        try:
            number = int(value)
        except ValueError:
            return None
        return number if 0 <= number <= 65535 else None
    return None


def _check(doc: Document) -> str | None:
    """The check a document is about: a finding's ``rule.id``, a lifecycle event's check."""
    found = _first(doc, "rule.id") or _first(doc, "sentinel.after.check_id")
    return str(found) if found is not None else None


_SUMMARY_FIELDS = (("@timestamp", "@timestamp"), ("action", "event.action"),
                   ("host", "host.id"), ("address", "destination.ip"),
                   ("segment", "sentinel.segment"), ("severity", "sentinel.severity"),
                   ("status", "sentinel.finding.status"))


def summary(hit: Hit) -> dict[str, Any]:
    """What an analyst reads first about one triggering document (no evidence, no message)."""
    doc = hit.doc
    out: dict[str, Any] = {"id": hit.doc_id}
    for key, name in _SUMMARY_FIELDS:
        value = _first(doc, name)
        if value is not None and not isinstance(value, dict | list):
            out[key] = str(value)
    check, port = _check(doc), _port(_first(doc, "destination.port"))
    if check is not None:
        out["check"] = check
    if port is not None:
        out["port"] = port
    return out


def context(hits: Sequence[Hit]) -> dict[str, Any]:
    """An alert's context from its triggering documents: hosts, addresses, ports, segments,
    checks (each sorted and distinct) and one summary per document."""
    documents = tuple(summary(h) for h in hits)
    if len(documents) == 1:  # a single rule's alert: no sorting, no sets
        one = documents[0]

        def only(key: str) -> tuple[Any, ...]:
            return (one[key],) if key in one else ()

        return {"hosts": only("host"), "addresses": only("address"), "ports": only("port"),
                "segments": only("segment"), "checks": only("check"), "documents": documents}

    def distinct(key: str) -> tuple[str, ...]:
        return tuple(sorted({str(d[key]) for d in documents if key in d}))

    return {
        "hosts": distinct("host"),
        "addresses": distinct("address"),
        "ports": tuple(sorted({int(d["port"]) for d in documents if "port" in d})),
        "segments": distinct("segment"),
        "checks": distinct("check"),
        "documents": documents,
    }


def alert_level(rule: Rule, hit: Hit) -> Severity:
    """A finding rule's alert takes the finding's own severity (the check's, from
    ``playbooks/remediation``, scaled by the assessor): one source for reports and alerts.
    An event rule, or a finding without a readable severity, keeps the rule's level."""
    if rule.category == "finding":
        value = _first(hit.doc, "sentinel.severity")
        if isinstance(value, str) and value.lower() in _SEVERITIES:
            return Severity(value.lower())
    return rule.level


_SEVERITIES = frozenset(s.value for s in Severity)


def rule_alert(rule: Rule, hit: Hit) -> Alert:
    """The alert of a single rule on one document."""
    # Every value is built here from typed fields: skip re-validating one alert per match.
    return Alert.model_construct(
        rule_id=rule.id,
        rule_title=rule.title,
        level=alert_level(rule, hit),
        matched_ids=(hit.doc_id,),
        agency_id=_agency(hit.doc),
        group={},
        created=_moment(hit.seconds),
        **context((hit,)),
    )


def fires(rule: Rule, hit: Hit) -> bool:
    """Whether a match counts: a failed finding the lifecycle tracks (it has a
    ``sentinel.finding.status``) counts on the scan where it opened or reopened
    (``sentinel.finding.change``), not on every later scan while it stays open."""
    if rule.category != "finding":
        return True
    doc = hit.doc
    if str(_first(doc, "result.evaluation") or "").lower() != "failed":
        return True
    if _first(doc, "sentinel.finding.status") is None:
        return True  # not tracked by the lifecycle (written by hand, or by an old Sentinel)
    return _first(doc, "sentinel.finding.change") is not None


class _Window:
    """What a window holds, for one correlation kind."""

    def __init__(self, corr: Correlation) -> None:
        self.corr = corr
        self.values: Counter[str] = Counter()

    def _keys(self, hit: Hit) -> list[str]:
        if self.corr.kind == "temporal":
            return [hit.rule_id]
        if self.corr.kind == "value_count":
            return [str(v) for v in field_values(hit.doc, self.corr.field or "")]
        return [hit.doc_id]

    def add(self, hit: Hit) -> None:
        self.values.update(self._keys(hit))

    def remove(self, hit: Hit) -> None:
        self.values.subtract(self._keys(hit))
        self.values += Counter()  # drop zero counts

    def satisfied(self) -> bool:
        if self.corr.kind == "temporal":
            return len(self.values) >= len(set(self.corr.rules))
        measured = len(self.values)
        if self.corr.operator == "gte":
            return measured >= self.corr.count
        return measured > self.corr.count


def check_supported(corr: Correlation) -> None:
    """Only conditions that grow with the window can slide (gte, gt)."""
    if corr.kind != "temporal" and corr.operator not in ("gte", "gt"):
        raise InputError(f"correlation {corr.id}: condition {corr.operator} cannot slide")
    if corr.kind == "value_count" and not corr.field:
        raise InputError(f"correlation {corr.id}: value_count needs condition.field")


def _windows(corr: Correlation, hits: list[Hit]) -> Iterable[list[Hit]]:
    hits.sort(key=lambda h: (h.seconds, h.doc_id, h.rule_id))
    window, left = _Window(corr), 0
    for right, hit in enumerate(hits):
        window.add(hit)
        while hit.seconds - hits[left].seconds > corr.timespan_s:
            window.remove(hits[left])
            left += 1
        if window.satisfied():
            yield hits[left : right + 1]
            window, left = _Window(corr), right + 1


def correlate_all(correlations: Iterable[Correlation], hits: Iterable[Hit]) -> list[Alert]:
    """The alerts of every correlation, the hits sorted out by rule in one pass."""
    by_rule: dict[str, list[Hit]] = {}
    for hit in hits:
        by_rule.setdefault(hit.rule_id, []).append(hit)
    alerts: list[Alert] = []
    for corr in correlations:
        alerts.extend(
            correlate(corr, (h for r in dict.fromkeys(corr.rules) for h in by_rule.get(r, ())))
        )
    return alerts


def correlate(corr: Correlation, hits: Iterable[Hit]) -> list[Alert]:
    """The alerts of one correlation over the matches of the rules it references."""
    check_supported(corr)
    wanted = set(corr.rules)
    groups: dict[tuple[str, ...], dict[tuple[str, str], Hit]] = {}
    for hit in hits:
        if hit.rule_id not in wanted:
            continue
        key = tuple(_group_value(hit.doc, name) for name in corr.group_by)
        # One document is one event, whichever of the rules matched it (temporal aside).
        identity = (hit.doc_id, hit.rule_id if corr.kind == "temporal" else "")
        groups.setdefault(key, {})[identity] = hit
    alerts = []
    for key, members in sorted(groups.items()):
        for window in _windows(corr, list(members.values())):
            ids = tuple(dict.fromkeys(h.doc_id for h in window))
            group: dict[str, Any] = dict(zip(corr.group_by, key, strict=True))
            alerts.append(
                Alert(
                    rule_id=corr.id,
                    rule_title=corr.title,
                    level=corr.level,
                    matched_ids=ids,
                    group=group,
                    agency_id=group.get("organization.id") or _agency(window[0].doc),
                    created=_moment(window[-1].seconds),
                    **context(list({h.doc_id: h for h in window}.values())),
                )
            )
    return alerts


def alerts_from(hits: Iterable[tuple[Rule, Hit]],
                correlations: Sequence[Correlation]) -> list[Alert]:
    """Every alert of a run: one per hit of a generating rule, then the correlations over the
    hits of the rules they name (the same for the local and the Elasticsearch engine)."""
    feeds = {r for c in correlations for r in c.rules}
    alerts: list[Alert] = []
    feeding: list[Hit] = []
    for rule, hit in hits:
        if not fires(rule, hit):
            continue
        if rule.generate:
            alerts.append(rule_alert(rule, hit))
        if rule.id in feeds:
            feeding.append(hit)
    alerts.extend(correlate_all(correlations, feeding))
    return alerts


@dataclass(frozen=True, order=True)
class Bucket:
    """One calendar bucket of one group that satisfies a correlation (ES|QL's semantics):
    its start (ISO, milliseconds, ``Z``), the group's lower-cased values, the documents."""

    correlation: str
    start: str
    group: tuple[str | None, ...]
    ids: tuple[str, ...]


_DAY = 86_400
_OPERATORS = {"gte": lambda a, b: a >= b, "gt": lambda a, b: a > b,
              "lte": lambda a, b: a <= b, "lt": lambda a, b: a < b,
              "eq": lambda a, b: a == b, "neq": lambda a, b: a != b}


def bucket_start(seconds: float, span: int) -> float:
    """Where ES|QL's ``date_trunc(span, @timestamp)`` puts a moment (UTC): a day from
    midnight, a week from Monday, shorter spans from the epoch."""
    if span == 7 * _DAY:
        day = int(seconds // _DAY)
        return float((day - (day + 3) % 7) * _DAY)  # 1970-01-01 was a Thursday
    if span == _DAY or (span < _DAY and _DAY % span == 0):
        return float(int(seconds // span) * span)
    raise InputError(f"timespan of {span} s has no calendar bucket here (1d, 7d, or a "
                     "divisor of a day)")


def _lowered(doc: Document, name: str) -> list[str | None]:
    values = sorted({str(v).lower() for v in field_values(doc, name)})
    return list(values) if values else [None]


def buckets(correlations: Sequence[Correlation], hits: Iterable[tuple[Rule, Hit]]
            ) -> list[Bucket]:
    """The calendar buckets that satisfy each correlation, over the hits that count
    (:func:`fires`): what its pySigma ES|QL query returns (:mod:`sentinel.detect.esql`).
    Groups and counted values are lower-cased (the ``.lower`` subfields); a document with
    several values of a group field counts in each of their groups."""
    counted: dict[str, dict[str, Hit]] = {}
    for rule, hit in hits:
        if fires(rule, hit):
            counted.setdefault(rule.id, {})[hit.doc_id] = hit
    out: list[Bucket] = []
    for corr in correlations:
        if corr.kind not in ("event_count", "value_count"):
            raise InputError(f"correlation {corr.id}: no bucket form of {corr.kind}")
        members = {d: h for r in corr.rules for d, h in counted.get(r, {}).items()}
        cells: dict[tuple[float, tuple[str | None, ...]], list[Hit]] = {}
        for hit in members.values():
            start = bucket_start(hit.seconds, corr.timespan_s)
            keys: list[tuple[str | None, ...]] = [()]
            for name in corr.group_by:
                keys = [(*k, v) for k in keys for v in _lowered(hit.doc, name)]
            for key in keys:
                cells.setdefault((start, key), []).append(hit)
        for (start, key), cell in cells.items():
            if corr.kind == "event_count":
                measured = len(cell)
            else:
                measured = len({v for h in cell for v in _lowered(h.doc, corr.field or "")
                                if v is not None})
            if _OPERATORS[corr.operator](measured, corr.count):
                moment = _moment(start).strftime("%Y-%m-%dT%H:%M:%S.000Z")
                out.append(Bucket(corr.id, moment, key, tuple(sorted(h.doc_id for h in cell))))
    return sorted(out)
