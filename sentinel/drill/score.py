"""Drill scorecards: per agency, what was injected, whether and how fast it was detected,
and whether the rescan after revert verified the remediation. JSON and HTML.

Score per inject: 60 for detection, 40 for verified remediation; an agency's score is the
mean over its injects (no injects: no score).

Manual injects (people's) are scored by time instead (:func:`manual_scores`): per agency the
times to detect, acknowledge and remediate, from the inject window's start; a time that
never came is ``None`` in JSON and 未完成 / "not done" for people, never 0.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sentinel.drill.people import ManualResult
from sentinel.drill.plan import Drill
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


def write_scorecards(outcome: DrillResult, out_dir: Path, lang: str = "zh",
                     marking: str | None = None) -> list[Path]:
    """``<out>/<drill>/<agency>.scorecard.json|html`` for each agency, and ``drill.json``
    (``marking``: the classification marking on the HTML, as on the reports)."""
    folder = out_dir / outcome.drill.id
    written: list[Path] = []
    cards = [scorecard(outcome, agency) for agency in outcome.drill.agencies]
    for card in cards:
        stem = f"{card['agency']}.scorecard"
        written.append(write_atomic(folder / f"{stem}.json", dumps(card) + "\n"))
        html = render_template("scorecard.html.j2", lang, card=card, marking=marking)
        written.append(write_atomic(folder / f"{stem}.html", html))
    written.append(write_atomic(folder / "drill.json", dumps({"scorecards": cards}) + "\n"))
    return written


# -- manual injects (performed by people): times per agency ------------------------------

TIMES = ("ttd_s", "tta_s", "ttr_s")


def _iso(moment: Any) -> str | None:
    return moment.isoformat() if moment is not None else None


def _seconds(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def manual_inject(result: ManualResult) -> dict[str, Any]:
    """One manual inject's outcome as plain values; a time that never came is ``None``."""
    inject = result.inject
    assert inject.window is not None
    return {
        "id": inject.id, "target": inject.target, "agency": result.agency,
        "window": {"start": inject.window.start.isoformat(),
                   "end": inject.window.end.isoformat()},
        "expect": [e.label for e in inject.expect],
        "verified": result.verified, "scan": result.scan_id,
        "seen_outside_window": result.seen_outside_window,
        "detected_at": _iso(result.detected_at), "acknowledged_at": _iso(result.acked_at),
        "acknowledged_by": result.acked_by or None, "acknowledged_via": result.ack_source or None,
        "remediated_at": _iso(result.remediated_at), "remediated_scan": result.remediated_scan,
        "ttd_s": _seconds(result.ttd_s), "tta_s": _seconds(result.tta_s),
        "ttr_s": _seconds(result.ttr_s),
    }


def _mean(values: list[float | None]) -> float | None:
    """The mean when every inject has the time; else None (missing is never averaged in)."""
    if not values or any(v is None for v in values):
        return None
    present = [v for v in values if v is not None]
    return round(sum(present) / len(present), 1)


def manual_scores(drill: Drill, results: list[ManualResult]) -> list[dict[str, Any]]:
    """Per agency of the drill: its manual injects, how many were verified, acknowledged,
    remediated, and the mean times to detect, acknowledge and remediate (``None``: some
    inject has not got there yet, shown as missing)."""
    cards: list[dict[str, Any]] = []
    for agency in drill.agencies:
        mine = [manual_inject(r) for r in results if r.agency == agency]
        cards.append({
            "drill": drill.id, "agency": agency,
            "injects": {"total": len(mine), "verified": sum(i["verified"] for i in mine),
                        "acknowledged": sum(i["tta_s"] is not None for i in mine),
                        "remediated": sum(i["ttr_s"] is not None for i in mine)},
            **{key: _mean([i[key] for i in mine]) for key in TIMES},
            "items": mine,
        })
    return cards


def ranked(cards: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The live leaderboard (实时榜单): most remediated, acknowledged, verified first, then the
    fastest mean times (a missing time ranks after any time), then the agency id."""
    def key(card: dict[str, Any]) -> tuple[Any, ...]:
        counts = card["injects"]
        times = tuple((card[t] is None, card[t] or 0.0) for t in ("ttr_s", "tta_s", "ttd_s"))
        return (-counts["remediated"], -counts["acknowledged"], -counts["verified"], *times,
                card["agency"])
    rows = sorted(cards, key=key)
    return [{**card, "rank": rank} for rank, card in enumerate(rows, start=1)]


def shown(seconds: float | None, missing: str) -> str:
    """A time for people: minutes and seconds, or the missing word (未完成), never 0."""
    if seconds is None:
        return missing
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest:02d} s" if minutes else f"{rest} s"
