"""Findings as rows: JSON lines, CSV and XLSX, one row per finding.

Every string cell is made safe for a spreadsheet: control and bidi characters become visible
escapes (:func:`sentinel.report.safe.visible`, carriage returns too), and a cell that starts
with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is prefixed with ``'`` so that no
spreadsheet runs it as a formula (CSV injection).
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from sentinel.accept import is_accepted
from sentinel.model import doc_field
from sentinel.report.safe import clean, visible

COLUMNS: tuple[str, ...] = (
    "scan", "agency_id", "agency_name", "asset", "address", "port", "check_id", "severity",
    "evaluation", "status", "accepted_until", "accepted_by", "acceptance_reason", "title_zh",
    "title_en", "references", "finding_key", "observed_at",
)
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
MAX_CELL = 32_000




def status(doc: dict[str, Any]) -> str:
    """open, reopened, ... as stored; ``accepted`` while an acceptance holds."""
    if is_accepted(doc):
        return "accepted"
    return str(doc_field(doc, "sentinel", "finding", "status") or "")


def row(doc: dict[str, Any]) -> dict[str, Any]:
    """One finding document as a flat row (``COLUMNS``)."""
    acceptance = doc_field(doc, "sentinel", "acceptance") or {}
    references = doc_field(doc, "rule", "reference") or []
    return {
        "scan": doc_field(doc, "sentinel", "scan", "id"),
        "agency_id": doc_field(doc, "organization", "id"),
        "agency_name": doc_field(doc, "organization", "name"),
        "asset": doc_field(doc, "host", "id"),
        "address": doc_field(doc, "destination", "ip"),
        "port": doc_field(doc, "destination", "port"),
        "check_id": doc_field(doc, "rule", "id"),
        "severity": doc_field(doc, "sentinel", "severity"),
        "evaluation": doc_field(doc, "result", "evaluation"),
        "status": status(doc),
        "accepted_until": acceptance.get("expires"),
        "accepted_by": acceptance.get("approver"),
        "acceptance_reason": acceptance.get("reason"),
        "title_zh": doc_field(doc, "sentinel", "title", "zh"),
        "title_en": doc_field(doc, "sentinel", "title", "en"),
        "references": "; ".join(str(r) for r in references) if isinstance(references, list)
        else str(references),
        "finding_key": doc_field(doc, "sentinel", "finding", "key"),
        "observed_at": doc.get("@timestamp"),
    }


def cell(value: Any) -> Any:
    """A value a spreadsheet shows as text and never evaluates."""
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        value = json.dumps(clean(value), ensure_ascii=False, default=str)
    if not isinstance(value, str):
        return value
    text = visible(value).replace("\r", "\\r")
    if text.startswith(_FORMULA_START):
        text = "'" + text
    if len(text) > MAX_CELL:  # a spreadsheet cell holds 32,767 characters at most
        text = text[:MAX_CELL] + "…"
    return text


def jsonl(docs: list[dict[str, Any]]) -> str:
    """One finding document per line (control characters escaped by JSON itself)."""
    return "".join(json.dumps(d, ensure_ascii=False, sort_keys=True, default=str) + "\n"
                   for d in docs)


def csv_text(docs: list[dict[str, Any]]) -> str:
    """A header row and one row per finding, every cell neutralised (:func:`cell`)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, quoting=csv.QUOTE_MINIMAL, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for doc in docs:
        values = row(doc)
        writer.writerow([cell(values[c]) for c in COLUMNS])
    return buffer.getvalue()


def xlsx(docs: list[dict[str, Any]]) -> bytes:
    """A workbook with one sheet, ``findings``: the CSV's columns, cells as text."""
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    sheet = book.create_sheet("findings")
    sheet.append(list(COLUMNS))
    for doc in docs:
        values = row(doc)
        sheet.append([cell(values[c]) for c in COLUMNS])
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()
