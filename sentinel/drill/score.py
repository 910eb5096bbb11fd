"""Drill scorecards: per agency, what was injected, whether and how fast it was detected,
and whether the rescan after revert verified the remediation. JSON and HTML.

Score per inject: 60 for detection, 40 for verified remediation; an agency's score is the
mean over its injects (no injects: no score).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sentinel.drill.run import DrillResult, InjectResult
from sentinel.report.html import render_template, write_atomic
from sentinel.report.safe import dumps

DETECT_POINTS, VERIFY_POINTS = 60.0, 40.0


def _inject(result: InjectResult) -> dict[str, Any]:
    inject = result.inject
    return {
        "id": inject.id, "kind": inject.kind, "host": inject.host, "port": inject.port,
        "applied_at": result.applied_at.isoformat() if result.applied_at else None,
        "detected": result.detected, "detected_by": result.detected_by,
        "detected_at": result.detected_at.isoformat() if result.detected_at else None,
        "ttd_s": None if result.ttd_s is None else round(result.ttd_s, 2),
        "verified": result.verified, "expectations": result.expectations,
    }


def scorecard(outcome: DrillResult, agency: str) -> dict[str, Any]:
    """One agency's scorecard as plain values (the JSON format)."""
    mine = [r for r in outcome.results if r.agency == agency]
    points = [DETECT_POINTS * r.detected + VERIFY_POINTS * r.verified for r in mine]
    ttds = [r.ttd_s for r in mine if r.ttd_s is not None]
    return {
        "drill": {"id": outcome.drill.id, "name": outcome.drill.name.model_dump(),
                  "window": {"start": outcome.drill.window.start.isoformat(),
                             "end": outcome.drill.window.end.isoformat()},
                  "started": outcome.started.isoformat(), "finished": outcome.finished.isoformat(),
                  "scans": outcome.scans, "detection": outcome.rules},
        "agency": agency,
        "score": round(sum(points) / len(points), 1) if points else None,
        "detected": sum(r.detected for r in mine),
        "verified": sum(r.verified for r in mine),
        "injects_total": len(mine),
        "mean_ttd_s": round(sum(ttds) / len(ttds), 2) if ttds else None,
        "injects": [_inject(r) for r in mine],
        "revert_errors": outcome.revert_errors,
    }


def write_scorecards(outcome: DrillResult, out_dir: Path, lang: str = "zh") -> list[Path]:
    """``<out>/<drill>/<agency>.scorecard.json|html`` for each agency, and ``drill.json``."""
    folder = out_dir / outcome.drill.id
    written: list[Path] = []
    cards = [scorecard(outcome, agency) for agency in outcome.drill.agencies]
    for card in cards:
        stem = f"{card['agency']}.scorecard"
        written.append(write_atomic(folder / f"{stem}.json", dumps(card) + "\n"))
        html = render_template("scorecard.html.j2", lang, card=card)
        written.append(write_atomic(folder / f"{stem}.html", html))
    written.append(write_atomic(folder / "drill.json", dumps({"scorecards": cards}) + "\n"))
    return written
