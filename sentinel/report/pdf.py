"""HTML to PDF with WeasyPrint, offline.

Fonts come from the system's fontconfig (Debian ``fonts-noto-cjk`` for Chinese), never from
the network: the URL fetcher refuses every URL, so neither a template nor a hostile string
that slipped through could make rendering fetch anything. Subsetting the CJK fonts is fast
only with HarfBuzz's subsetter (Debian ``libharfbuzz-subset0``); without it WeasyPrint falls
back to fontTools and a report takes several seconds instead of well under one.
"""

from __future__ import annotations

import importlib
from typing import Any, NoReturn

from sentinel.errors import ReportError


def _refuse(url: str, *args: Any, **kwargs: Any) -> NoReturn:
    raise ValueError(f"reports are offline: refusing to fetch {url[:80]!r}")


def html_to_pdf(html: str) -> bytes:
    """Render one self-contained HTML document to PDF bytes."""
    try:
        weasyprint = importlib.import_module("weasyprint")  # untyped: used as Any
    except (ImportError, OSError) as exc:  # OSError: pango/harfbuzz libraries missing
        raise ReportError(f"PDF output needs WeasyPrint and its libraries: {exc}") from exc
    document = weasyprint.HTML(string=html, url_fetcher=_refuse, base_url=None)
    data = document.write_pdf()
    if not isinstance(data, bytes):
        raise ReportError("WeasyPrint returned no PDF")
    return data
