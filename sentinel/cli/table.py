"""The operator's view of findings: a plain-text table with a header and totals, sorting by
the documents' own fields, JSON Lines, and the ``--fail-on`` verdict for pipelines.

Everything here works on the finding documents as stored (the same dicts ``--json`` prints),
so a column, a sort key and a JSON field always agree. Nothing here prints: the command does.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from sentinel.accept import is_accepted
from sentinel.severity import Severity

Doc = dict[str, Any]
EVALUATIONS = ("failed", "error", "passed")
COLUMNS = ("severity", "eval", "check", "agency", "host", "endpoint", "title")
WIDTHS = (8, 8, 22, 12, 24, 28)  # the title (last) is not padded; "accepted" fits


def _clean(text: object) -> str:
    """A cell: control characters (a server's ESC, a newline) shown as escapes, never obeyed."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in str(text))


def endpoint(doc: Doc) -> str:
    """``addr:port``, ``[addr]:port`` for IPv6, the address alone for a host-level check."""
    where = doc.get("destination") or {}
    address, port = str(where.get("ip") or ""), where.get("port")
    if not address:
        return ""
    shown = f"[{address}]" if ":" in address and port is not None else address
    return f"{shown}:{port}" if port is not None else shown


def host(doc: Doc) -> str:
    """The host's name (a site's hostname, an inventory name) or else its id."""
    found = doc.get("host") or {}
    name = str(found.get("name") or found.get("id") or "")
    return name.removeprefix("site:")


def severity(doc: Doc) -> Severity:
    value = doc.get("sentinel", {}).get("severity", "info")
    try:
        return Severity(value)
    except ValueError:
        return Severity.INFO


def evaluation(doc: Doc) -> str:
    if is_accepted(doc):  # a risk acceptance holds (--accept): shown, not counted as failed
        return "accepted"
    return str(doc.get("result", {}).get("evaluation", ""))


def check(doc: Doc) -> str:
    return str(doc.get("rule", {}).get("id", ""))


def agency(doc: Doc) -> str:
    return str(doc.get("organization", {}).get("id", ""))


def _port_order(doc: Doc) -> tuple[str, int]:
    where = doc.get("destination") or {}
    port = where.get("port")
    return str(where.get("ip") or ""), port if isinstance(port, int) else -1


_ORDER: dict[str, Callable[[Doc], tuple[Any, ...]]] = {
    "severity": lambda d: (severity(d).rank, check(d), host(d), _port_order(d)),
    "host": lambda d: (host(d), _port_order(d), severity(d).rank, check(d)),
    "check": lambda d: (check(d), host(d), _port_order(d)),
    "agency": lambda d: (agency(d), severity(d).rank, check(d), host(d), _port_order(d)),
    "endpoint": lambda d: (_port_order(d), severity(d).rank, check(d)),
}


def ordered(docs: Iterable[Doc], key: str | None) -> list[Doc]:
    """The documents by ``key`` (severity, host, check, agency or endpoint; a stable sort);
    ``None`` keeps the store's order."""
    return list(docs) if key is None else sorted(docs, key=_ORDER[key])


def matches(doc: Doc, *, host_filter: str | None = None, segment: str | None = None) -> bool:
    """Whether the document is on this host (its name, id or any of its addresses, or the
    probed address) and in this segment."""
    if segment is not None and doc.get("sentinel", {}).get("segment") != segment:
        return False
    if host_filter is not None:
        found = doc.get("host") or {}
        names = {str(found.get("name") or ""), str(found.get("id") or ""), host(doc),
                 *(str(a) for a in found.get("ip") or ()),
                 str((doc.get("destination") or {}).get("ip") or "")}
        if host_filter not in names:
            return False
    return True


def matching(docs: Iterable[Doc], *, host_filter: str | None = None,
             segment: str | None = None) -> list[Doc]:
    """The documents on this host and in this segment (``matches``)."""
    return [d for d in docs if matches(d, host_filter=host_filter, segment=segment)]


class Totals:
    """The counts of the table's last line, kept as the rows go by (nothing held per row)."""

    def __init__(self) -> None:
        self.count = 0
        self.by_severity: Counter[Severity] = Counter()
        self.by_evaluation: Counter[str] = Counter()

    def add(self, doc: Doc) -> None:
        self.count += 1
        self.by_severity[severity(doc)] += 1
        self.by_evaluation[evaluation(doc)] += 1

    def __str__(self) -> str:
        """``N findings: critical 1, high 2 | failed 2, error 1`` (only the counts that
        occur)."""
        head = f"{self.count} finding{'s' if self.count != 1 else ''}"
        if not self.count:
            return head
        severities = ", ".join(f"{s.value} {self.by_severity[s]}" for s in Severity
                               if self.by_severity[s])
        evaluations = ", ".join(f"{e} {self.by_evaluation[e]}"
                                for e in (*EVALUATIONS, "accepted") if self.by_evaluation[e])
        return f"{head}: {severities} | {evaluations}"


def totals(docs: Iterable[Doc]) -> str:
    """``N findings: critical 1, high 2 | failed 2, error 1`` (only the counts that occur)."""
    counts = Totals()
    for doc in docs:
        counts.add(doc)
    return str(counts)


def table(docs: Iterable[Doc], title: str) -> Iterator[str]:
    """The lines of the table: a title line, the column header, one row per finding (as the
    documents come: any iterable, never held), the totals."""
    yield title
    header = [c.upper() for c in COLUMNS]
    yield _row(header)
    counts = Totals()
    for doc in docs:
        counts.add(doc)
        yield _row([severity(doc).value, evaluation(doc), check(doc), agency(doc), host(doc),
                    endpoint(doc), doc.get("sentinel", {}).get("title", {}).get("zh", "")])
    yield f"total: {counts}"


def _row(cells: Sequence[object]) -> str:
    shown = [_clean(c) for c in cells]
    padded = [f"{c:<{w}}" for c, w in zip(shown, WIDTHS, strict=False)]
    return " ".join([*padded, *shown[len(WIDTHS):]]).rstrip()


def json_array(docs: Iterable[Doc]) -> Iterator[str]:
    """The pieces of ``json.dump(list(docs), indent=1, ensure_ascii=False)``, byte for byte,
    one document at a time (the array is never held)."""
    first = True
    for doc in docs:
        text = json.dumps(doc, ensure_ascii=False, indent=1).replace("\n", "\n ")
        yield ("[\n " if first else ",\n ") + text
        first = False
    yield "[]" if first else "\n]"


def json_lines(docs: Iterable[Doc]) -> Iterator[str]:
    """One compact JSON document a line (JSON Lines), non-ASCII kept as is."""
    for doc in docs:
        yield json.dumps(doc, ensure_ascii=False, separators=(",", ":"))


def fails_at(docs: Iterable[Doc], threshold: Severity) -> list[Doc]:
    """The failed findings at or above ``threshold`` (what ``--fail-on`` exits 1 for)."""
    return [d for d in docs if evaluation(d) == "failed" and severity(d).rank <= threshold.rank]
