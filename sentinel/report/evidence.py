"""Evidence as a reader sees it: no internal fields, no Python reprs.

A finding's evidence is the assessor's structured record (lists, nested mappings, booleans).
Reports show it as text: lists joined with commas, mappings as ``key=value``, booleans as
words, nothing as a dash. Fields that describe Sentinel's own bookkeeping (``*_status``,
``formula_status``) are dropped; a threshold or target whose status is not ``verified`` is
named in ``unverified`` instead, so a report still says which numbers are not settled rules.
"""

from __future__ import annotations

from typing import Any

INTERNAL_SUFFIX = "_status"
EMPTY = "—"


def public(evidence: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """``evidence`` without internal fields, and the keys whose figure is not verified."""
    shown = {k: v for k, v in sorted(evidence.items())
             if not k.endswith(INTERNAL_SUFFIX) and v not in (None, [], "", {})}
    unverified = sorted(k.removesuffix(INTERNAL_SUFFIX) for k, v in evidence.items()
                        if k.endswith(INTERNAL_SUFFIX) and v != "verified"
                        and k.removesuffix(INTERNAL_SUFFIX) in shown)
    return shown, unverified


def readable(value: Any, yes: str = "yes", no: str = "no") -> str:
    """One evidence value as text (never a repr): ``a, b``; ``k=v, k=v``; yes/no; a dash."""

    def text(v: Any, nested: bool) -> str:
        if v is None or v in ([], {}, ""):
            return EMPTY
        if isinstance(v, bool):
            return yes if v else no
        if isinstance(v, float):
            return f"{v:.4g}"
        if isinstance(v, dict):
            inner = ", ".join(f"{k}={text(x, True)}" for k, x in v.items())
            return f"({inner})" if nested else inner
        if isinstance(v, list | tuple | set | frozenset):
            items = sorted(v, key=str) if isinstance(v, set | frozenset) else list(v)
            inner = ", ".join(text(x, True) for x in items)
            return f"[{inner}]" if nested and len(items) > 1 else inner
        return str(v)

    return text(value, False)
