"""Small inline SVG charts for the reports: no JavaScript, no external fonts or URLs.

Every label is text a caller passes in (agency names, check ids, scan dates) and is escaped
here; the result is :class:`markupsafe.Markup`, so the autoescaping template prints it as is.
Numbers are formatted by this module, never taken as markup.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from markupsafe import Markup
from markupsafe import escape as _escape

from sentinel.report.safe import visible


def escape(text: str) -> Markup:
    """Escape markup and make control characters visible."""
    return _escape(visible(text))

FONT = "'Noto Sans CJK SC', 'Noto Sans', sans-serif"
PALETTE = ("#1f6fb2", "#c0392b", "#27ae60", "#d68910", "#8e44ad", "#16a085", "#7f8c8d")
SEVERITY_COLOURS = {"critical": "#7b001c", "high": "#c0392b", "medium": "#d68910",
                    "low": "#2e86c1", "info": "#7f8c8d"}


def _svg(width: float, height: float, body: list[str], title: str) -> Markup:
    head = (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}"'
            f' viewBox="0 0 {width:.0f} {height:.0f}" role="img" font-family="{FONT}"'
            f' font-size="11"><title>{escape(title)}</title>')
    return Markup(head + "".join(body) + "</svg>")  # noqa: S704 - every label escaped above


def _text(x: float, y: float, label: object, anchor: str = "start", fill: str = "#222") -> str:
    return (f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" fill="{fill}">'
            f"{escape(str(label))}</text>")


def _bar_colour(value: float) -> str:
    return "#27ae60" if value >= 80 else "#d68910" if value >= 50 else "#c0392b"


def text_width(label: str) -> float:
    """A generous estimate of a label's width at font-size 11: CJK and other wide characters
    11 px, others 7 px (so a label box sized by it does not clip the text)."""
    return sum(11.0 if ord(ch) >= 0x2E80 else 7.0 for ch in label)


def hbar(items: Sequence[tuple[str, float | None]], *, title: str, width: int = 520,
         maximum: float = 100.0, label_width: int | None = None,
         missing: str = "未测 / not tested") -> Markup:
    """Horizontal bars, one per (label, value); ``None`` draws a grey ``missing`` row. The
    label column is as wide as the longest label (at least 170 px), the chart widens with it."""
    if label_width is None:
        label_width = int(max([170.0] + [text_width(str(label)) + 12 for label, _ in items]))
    width = max(width, label_width + 350)
    row, top = 22, 6
    height = top + row * max(len(items), 1) + 4
    scale = (width - label_width - 50) / maximum
    body: list[str] = []
    for index, (label, value) in enumerate(items):
        y = top + index * row
        body.append(_text(label_width - 6, y + 14, label, "end"))
        if value is None:
            body.append(f'<rect x="{label_width}" y="{y + 3}" width="{scale * maximum:.1f}"'
                        ' height="14" fill="#eee" stroke="#bbb" stroke-dasharray="3 2"/>')
            body.append(_text(label_width + 6, y + 14, missing, fill="#666"))
            continue
        length = max(0.0, min(value, maximum)) * scale
        body.append(f'<rect x="{label_width}" y="{y + 3}" width="{length:.1f}" height="14"'
                    f' fill="{_bar_colour(100 * value / maximum)}"/>')
        body.append(_text(label_width + length + 4, y + 14, f"{value:.0f}"))
    return _svg(width, height, body, title)


def severity_strip(counts: Mapping[str, int], *, title: str, width: int = 520,
                   names: Mapping[str, str] | None = None) -> Markup:
    """One stacked bar of failed findings by severity, with a legend below."""
    total = sum(counts.values())
    body: list[str] = []
    x = 0.0
    for severity, colour in SEVERITY_COLOURS.items():
        share = counts.get(severity, 0) / total * width if total else 0.0
        if share:
            body.append(f'<rect x="{x:.1f}" y="0" width="{share:.1f}" height="18"'
                        f' fill="{colour}"/>')
        x += share
    if not total:
        body.append(f'<rect x="0" y="0" width="{width}" height="18" fill="#e8f6ec"/>')
    for index, (severity, colour) in enumerate(SEVERITY_COLOURS.items()):
        lx = index * (width / len(SEVERITY_COLOURS))
        body.append(f'<rect x="{lx:.1f}" y="26" width="10" height="10" fill="{colour}"/>')
        body.append(_text(lx + 14, 35, f"{(names or {}).get(severity, severity)} "
                          f"{counts.get(severity, 0)}"))
    return _svg(width, 42, body, title)


@dataclass(frozen=True)
class Series:
    """One line of a line chart: a name and one value (or gap) per x label."""

    name: str
    values: Sequence[float | None]


def line_chart(labels: Sequence[str], series: Sequence[Series], *, title: str,
               width: int = 640, height: int = 240, maximum: float = 100.0) -> Markup:
    """A line per series over shared x labels (scans or drills), y from 0 to ``maximum``.
    The legend column is as wide as the longest series name and the margins leave room for
    half of the first and last x labels, so no label is cut by the chart's edge; the chart
    widens (never narrows its plot) to make that room."""
    left = int(max([36.0] + [text_width(str(label)) / 2 + 4 for label in labels[:1]]))
    right = int(max([150.0] + [text_width(s.name) + 30 for s in series]
                    + [text_width(str(label)) / 2 + 4 for label in labels[-1:]]))
    width = max(width, left + right + 454)
    top, bottom = 10, 40
    plot_w, plot_h = width - left - right, height - top - bottom
    step = plot_w / max(len(labels) - 1, 1)
    body = [f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" fill="#fafafa"'
            ' stroke="#ccc"/>']
    for tick in range(0, 101, 25):
        y = top + plot_h - plot_h * tick / 100
        body.append(f'<line x1="{left}" x2="{left + plot_w}" y1="{y:.1f}" y2="{y:.1f}"'
                    ' stroke="#e3e3e3"/>')
        body.append(_text(left - 4, y + 4, f"{maximum * tick / 100:.0f}", "end"))
    for index, label in enumerate(labels):
        body.append(_text(left + index * step, top + plot_h + 16, label, "middle"))
    for number, line in enumerate(series):
        colour = PALETTE[number % len(PALETTE)]
        points = [(left + i * step, top + plot_h - plot_h * min(v, maximum) / maximum)
                  for i, v in enumerate(line.values) if v is not None]
        if len(points) > 1:
            path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
            body.append(f'<polyline points="{path}" fill="none" stroke="{colour}"'
                        ' stroke-width="2"/>')
        body.extend(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{colour}"/>'
                    for x, y in points)
        legend_y = top + 14 + number * 16
        body.append(f'<rect x="{left + plot_w + 10}" y="{legend_y - 9}" width="10" height="10"'
                    f' fill="{colour}"/>')
        body.append(_text(left + plot_w + 24, legend_y, line.name))
    return _svg(width, height, body, title)
