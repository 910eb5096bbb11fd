"""Manual injects (``performed_by: people``): verified by scans, acknowledged by agencies,
timed per agency.

Nothing here sends or applies anything: people act on their authorised target within the
inject's window, Sentinel's ordinary scans see it. From the store, per manual inject:

- **verified**: every expectation appears as a failed finding (or a change event) on its
  asset in a scan, with the document's time inside the inject's window: the first such
  scan's id and time are kept. Seen only outside the window, or never: not verified.
- **detected**: the time of that first document (inject start → detection).
- **acknowledged**: the earliest acknowledgement at or after the inject's start, from
  ``sentinel drill ack`` (the store) or from an alert's workflow status in Elasticsearch
  (:func:`es_acks`).
- **remediated**: the first later scan that observed the asset again and no longer has
  any expectation failing (its finish time).

A time that never came is ``None``: shown as missing (未完成), never as 0.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sentinel.drill.plan import Drill, Inject, inject_agency
from sentinel.drill.run import matches
from sentinel.playbook import Playbook
from sentinel.store.sqlite import SqliteStore


@dataclass(frozen=True)
class Ack:
    """One acknowledgement of an inject by an agency."""

    agency: str
    inject: str
    at: datetime
    by: str
    source: str  # "cli" (sentinel drill ack) or "elasticsearch" (an alert's status)


@dataclass
class ManualResult:
    """How one manual inject went, from the scans and the acknowledgements."""

    inject: Inject
    agency: str
    verified: bool = False
    scan_id: str | None = None
    detected_at: datetime | None = None
    seen_outside_window: bool = False
    acked_at: datetime | None = None
    acked_by: str = ""
    ack_source: str = ""
    remediated_at: datetime | None = None
    remediated_scan: str | None = None

    @property
    def start(self) -> datetime:
        assert self.inject.window is not None  # a manual inject has one (plan.Inject)
        return self.inject.window.start

    def _since_start(self, moment: datetime | None) -> float | None:
        return None if moment is None else max(0.0, (moment - self.start).total_seconds())

    @property
    def ttd_s(self) -> float | None:
        return self._since_start(self.detected_at)

    @property
    def tta_s(self) -> float | None:
        return self._since_start(self.acked_at)

    @property
    def ttr_s(self) -> float | None:
        return self._since_start(self.remediated_at)


def _when(doc: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(str(doc["@timestamp"]).replace("Z", "+00:00"))


def _scan_docs(store: SqliteStore, scan_id: str) -> list[dict[str, Any]]:
    return store.findings(scan_id=scan_id, evaluations=("failed",)) + store.events(scan_id)


def _first_seen(result: ManualResult, docs: list[dict[str, Any]]) -> datetime | None:
    """When every expectation is met by a document in the window (the latest of their first
    times), else None; notes a sighting outside the window."""
    window = result.inject.window
    assert window is not None
    times: list[datetime] = []
    for expect in result.inject.expect:
        moments = [_when(d) for d in docs if matches(expect, d)]
        inside = [m for m in moments if window.contains(m)]
        if moments and not inside:
            result.seen_outside_window = True
        if not inside:
            return None
        times.append(min(inside))
    return max(times)


def _assets(inject: Inject) -> set[str]:
    return {e.asset for e in inject.expect}


def verify(drill: Drill, playbook: Playbook, store: SqliteStore,
           acks: list[Ack] | None = None) -> list[ManualResult]:
    """Every manual inject of the drill, judged from the store's completed scans (in the
    order they started) and the acknowledgements (the store's plus ``acks``)."""
    scans = [s for s in store.scans() if s.status in ("completed", "partial")]
    docs = {s.id: _scan_docs(store, s.id) for s in scans}
    every = [Ack(a, i, at, by, src) for a, i, at, by, src in store.acks(drill.id)]
    every += acks or []
    results: list[ManualResult] = []
    for inject in (i for i in drill.injects if i.manual):
        result = ManualResult(inject, inject_agency(playbook, inject))
        seen_in = None
        for index, scan in enumerate(scans):
            moment = _first_seen(result, docs[scan.id])
            if moment is not None:
                result.verified, result.scan_id, result.detected_at = True, scan.id, moment
                seen_in = index
                break
        if seen_in is not None:
            for scan in scans[seen_in + 1:]:
                observed = _assets(inject) <= store.stored_assets(scan.id)
                failing = any(matches(e, d) for e in inject.expect for d in docs[scan.id])
                if observed and not failing:
                    result.remediated_at = scan.finished or scan.started
                    result.remediated_scan = scan.id
                    break
        mine = [a for a in every if a.agency == result.agency and a.inject == inject.id
                and a.at >= result.start]
        if mine:
            first = min(mine, key=lambda a: a.at)
            result.acked_at, result.acked_by, result.ack_source = first.at, first.by, first.source
        results.append(result)
    return results


def alert_acks(drill: Drill, playbook: Playbook, alerts: list[dict[str, Any]]) -> list[Ack]:
    """Acknowledgements read from alert documents (Elasticsearch, :func:`es_acks` in
    ``sentinel.store.drill_leaderboard``): an alert acknowledged or closed whose checks and
    hosts name a manual inject's expectation acknowledges that inject for its agency."""
    out: list[Ack] = []
    for inject in (i for i in drill.injects if i.manual):
        agency = inject_agency(playbook, inject)
        for alert in alerts:
            checks, hosts = set(alert["checks"]), set(alert["hosts"])
            if any((e.check or e.event) in checks and e.asset in hosts for e in inject.expect):
                out.append(Ack(agency, inject.id, alert["at"], alert["by"], "elasticsearch"))
    return out
