"""Make server-controlled text safe to show: control and bidi characters become visible.

Markup is the template's job (autoescape); this module handles what escaping does not:
NUL, ESC and other C0/C1 controls (invalid in HTML and XML, and able to confuse terminals
and PDF text extraction), and bidirectional overrides that could reorder what a reader
sees (a certificate subject with U+202E). Each becomes its visible escape, e.g. ``\\x1b``.
"""

from __future__ import annotations

import json
import re
from typing import Any

_UNSAFE = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069"
    "\ufeff\ufffe\uffff\ud800-\udfff]"
)


def _visible(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def visible(text: str) -> str:
    """``text`` with every control, bidi-override or non-character shown as its escape."""
    return _UNSAFE.sub(_visible, text)


def clean(value: Any) -> Any:
    """``visible`` applied to every string inside nested lists and dicts (keys too)."""
    if isinstance(value, str):
        return visible(value)
    if isinstance(value, dict):
        return {clean(k): clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [clean(v) for v in value]
    return value


def dumps(value: Any) -> str:
    """JSON for reports: cleaned strings, and ``<``, ``>``, ``&`` as unicode escapes, so the
    file stays inert even if someone pastes it into a web page."""
    text = json.dumps(clean(value), ensure_ascii=False, indent=1, default=str)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
