"""The coordinator's report: every agency side by side, a leaderboard by score and
remediation progress, and the trend across scans and drills (an SVG line chart).

Remediation progress per agency comes from the finding lifecycle (``finding_state``):
resolved keys over all keys ever failed. The trend recomputes the scores for each of the
last scans from their stored findings and observations. Each row also counts the agency's
overdue findings (failed, due date passed at the scan's time). With a single scan there is
no progress to draw yet: a statement stands in for the progress and trend charts (not bars
at 0 %).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

from markupsafe import Markup

from sentinel.catalog.scoring import scoring, sla
from sentinel.model import FindingStatus, ScanRecord
from sentinel.report import charts
from sentinel.report.inventory import inventory
from sentinel.report.scores import Scores, score
from sentinel.report.view import AgencyView
from sentinel.store.sqlite import SqliteStore

TREND_SCANS = 12


def progress(store: SqliteStore) -> dict[str, dict[str, int]]:
    """Per agency: keys ever failed, resolved now, open now (open or reopened)."""
    out: dict[str, dict[str, int]] = defaultdict(lambda: {"total": 0, "resolved": 0, "open": 0})
    for state in store.states().values():
        entry = out[state.context.agency_id]
        entry["total"] += 1
        entry["resolved" if state.status is FindingStatus.RESOLVED else "open"] += 1
    return dict(out)


def _scan_label(scan: ScanRecord, drills: dict[str, str]) -> str:
    label = scan.started.strftime("%m-%d %H:%M")
    return f"{label} {drills[scan.id]}" if scan.id in drills else label


def _scan_scores(store: SqliteStore, scan: ScanRecord) -> tuple[dict[str, Scores], str | None]:
    findings: dict[str, list[dict[str, Any]]] = defaultdict(list)
    drill = None
    for doc in store.findings(scan_id=scan.id, evaluations=("failed", "error", "passed")):
        findings[doc["organization"]["id"]].append(doc)
        drill = drill or doc["sentinel"].get("drill", {}).get("id")
    observations: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for doc in store.assets(scan.id):
        observations[doc["organization"]["id"]].append(doc)
    policy = scoring()
    return ({agency: score(findings[agency], inventory(observations[agency]), policy)
             for agency in set(findings) | set(observations)}, drill)


def trend(store: SqliteStore) -> dict[str, Any]:
    """Mean scores over agencies, per scan, for the last ``TREND_SCANS`` completed scans."""
    scans = [s for s in store.scans() if s.status == "completed"][-TREND_SCANS:]
    labels: list[str] = []
    series: dict[str, list[float | None]] = {"overall": [], "ipv6": [], "crypto": [],
                                             "exposure": []}
    drills: dict[str, str] = {}
    for scan in scans:
        per_agency, drill = _scan_scores(store, scan)
        if drill:
            drills[scan.id] = drill
        labels.append(_scan_label(scan, drills))
        for name, values in series.items():
            numbers = [getattr(s, name) for s in per_agency.values()]
            measured = [n for n in numbers if n is not None]
            values.append(sum(measured) / len(measured) if measured else None)
    return {"labels": labels, "series": series, "scans": [s.id for s in scans]}


def latest_overall(store: SqliteStore) -> dict[str, float | None]:
    """Per agency: the overall score of the last completed scan (the leaderboard's score)."""
    scans = [s for s in store.scans() if s.status == "completed"]
    if not scans:
        return {}
    per_agency, _ = _scan_scores(store, scans[-1])
    return {agency: scores.overall for agency, scores in per_agency.items()}


def overdue_states(store: SqliteStore, at: datetime) -> dict[str, int]:
    """Per agency: open findings (open or reopened) whose due date had passed at ``at``."""
    policy = sla()
    out: dict[str, int] = defaultdict(int)
    for state in store.open_states():
        due = policy.due(state.severity, state.first_seen)
        if due is not None and due < at:
            out[state.context.agency_id] += 1
    return dict(out)


def overdue(view: AgencyView) -> int:
    """An agency's failed findings whose remediation due date had passed at the scan."""
    return sum(1 for group in view.groups for item in group["items"]
               if item["evaluation"] == "failed" and item["overdue"])


def leaderboard(views: list[AgencyView], done: dict[str, dict[str, int]]
                ) -> list[dict[str, Any]]:
    """Agencies ranked by overall score, then by remediation progress."""
    rows: list[dict[str, Any]] = []
    for view in views:
        entry = done.get(view.agency["id"], {"total": 0, "resolved": 0, "open": 0})
        share = 100.0 * entry["resolved"] / entry["total"] if entry["total"] else 100.0
        rows.append({"agency": view.agency, "scores": view.scores, "counts": view.counts,
                     "progress": share, "resolved": entry["resolved"], "open": entry["open"],
                     "overdue": overdue(view)})
    rows.sort(key=lambda r: (r["scores"].overall is None, -(r["scores"].overall or 0.0),
                             -r["progress"], r["agency"]["id"]))
    for rank, row in enumerate(rows, start=1):
        row["rank"] = rank
    return rows


def coordinator_charts(rows: list[dict[str, Any]], history: dict[str, Any],
                       words: dict[str, dict[str, str]], lang: str) -> dict[str, Markup]:
    """The leaderboard bars and the trend lines."""
    names = {"overall": words["overall"][lang], "ipv6": words["ipv6"][lang],
             "crypto": words["crypto"][lang], "exposure": words["exposure"][lang]}
    if len(history["labels"]) <= 1:  # a first scan: nothing to compare yet, no 0 % bars
        statement = Markup('<p class="note first-scan">{}</p>').format(
            words["progress_first_scan"][lang])
        return {
            "leaderboard": charts.hbar([(r["agency"]["name"][lang], r["scores"].overall)
                                        for r in rows[:40]], title=words["leaderboard"][lang],
                                       missing=words["not_measured"][lang]),
            "progress": statement, "trend": statement,
        }
    return {
        "leaderboard": charts.hbar([(r["agency"]["name"][lang], r["scores"].overall)
                                    for r in rows[:40]], title=words["leaderboard"][lang],
                                   missing=words["not_measured"][lang]),
        "progress": charts.hbar([(r["agency"]["name"][lang], r["progress"]) for r in rows[:40]],
                                title=words["progress"][lang], missing=words["not_measured"][lang]),
        "trend": charts.line_chart(history["labels"],
                                   [charts.Series(names[k], v)
                                    for k, v in history["series"].items()],
                                   title=words["trend"][lang]),
    }


def as_dict(rows: list[dict[str, Any]], history: dict[str, Any]) -> dict[str, Any]:
    """The coordinator report as JSON."""
    return {"leaderboard": [{"rank": r["rank"], "agency": r["agency"],
                             "scores": r["scores"].as_dict(), "counts": r["counts"],
                             "progress": round(r["progress"], 1), "resolved": r["resolved"],
                             "open": r["open"], "overdue": r["overdue"]} for r in rows],
            "trend": history}
