"""Running a drill on the lab: baseline scan, injects, drill scan, detection, revert,
verification scan, scorecards.

Only lab injects (``performed_by: lab``) are applied here; manual injects are people's, and
:mod:`sentinel.drill.people` verifies them from the store's scans.

Injects are always reverted, whatever fails in between (``finally``), and each revert runs
even when another failed. Detection works with or without Sigma rules: an expectation is met
by the failed finding or change event it names in the drill scan; when the local rule engine
(``sentinel.detect.local``) is present its alerts are stored too, and an alert that matched
the expected document is credited as the detection (with the alert's time).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sentinel.drill.plan import Drill, Expect, Inject
from sentinel.errors import LabError, SentinelError
from sentinel.lab import injects
from sentinel.lab.manifest import Manifest
from sentinel.lab.state import LabPaths
from sentinel.model import now
from sentinel.playbook import Playbook
from sentinel.scan.run import run_scan
from sentinel.store.sqlite import SqliteStore

INVERSE_EVENTS = {"service-opened": "service-closed", "ipv6-lost": "ipv6-gained",
                  "national-crypto-lost": "national-crypto-gained",
                  "protocol-added": "protocol-removed", "suite-added": "suite-removed"}


@dataclass
class InjectResult:
    """How one inject went: when applied, whether and how fast it was detected, verified."""

    inject: Inject
    agency: str
    applied_at: datetime | None = None
    detected_at: datetime | None = None
    detected_by: str = ""
    verified: bool = False
    expectations: list[dict[str, Any]] = field(default_factory=list)

    @property
    def detected(self) -> bool:
        return self.detected_at is not None

    @property
    def ttd_s(self) -> float | None:
        if self.detected_at is None or self.applied_at is None:
            return None
        return max(0.0, (self.detected_at - self.applied_at).total_seconds())


@dataclass
class DrillResult:
    drill: Drill
    scans: dict[str, str]
    started: datetime
    finished: datetime
    results: list[InjectResult]
    revert_errors: list[str]
    rules: str


def _when(doc: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(str(doc["@timestamp"]).replace("Z", "+00:00"))


def matches(expect: Expect, doc: dict[str, Any]) -> bool:
    """Whether a finding or event document is what the expectation names."""
    host = doc.get("host", {})
    if expect.asset not in (host.get("id"), host.get("name")):
        return False
    if expect.port is not None and doc.get("destination", {}).get("port") != expect.port:
        return False
    if expect.check is not None:
        return bool(doc.get("rule", {}).get("id") == expect.check
                    and doc.get("result", {}).get("evaluation") == "failed")
    return bool(doc.get("event", {}).get("action") == expect.event)


def scan_documents(store: SqliteStore, scan_id: str) -> list[dict[str, Any]]:
    """Failed findings and events of one scan."""
    return store.findings(scan_id=scan_id, evaluations=("failed",)) + store.events(scan_id)


def rule_alerts(store: SqliteStore, scan_id: str) -> tuple[list[tuple[Any, list[Any]]], str]:
    """Run the local Sigma engine on the scan when it exists; (alert, matched docs) pairs."""
    try:
        local = importlib.import_module("sentinel.detect.local")
        sigma = importlib.import_module("sentinel.detect.sigma")
        items = list(local.store_items(store, scan_id=scan_id))
        alerts = local.LocalEngine(sigma.load_rules()).run(items)
    except (ImportError, AttributeError, SentinelError) as exc:
        return [], f"findings and change events only (no local rule engine: {exc})"
    store.add_alerts(alerts)
    by_id = {doc_id: doc for _, doc_id, doc in items}
    pairs = [(a, [by_id[i] for i in a.matched_ids if i in by_id]) for a in alerts]
    return pairs, f"local Sigma engine: {len(alerts)} alerts"


def _detect(result: InjectResult, docs: list[dict[str, Any]],
            alerts: list[tuple[Any, list[Any]]]) -> None:
    times: list[datetime] = []
    how: list[str] = []
    for expect in result.inject.expect:
        found = [d for d in docs if matches(expect, d)]
        by_rule = [(a, d) for a, matched in alerts for d in matched if matches(expect, d)]
        entry: dict[str, Any] = {"expect": expect.label, "found": bool(found or by_rule)}
        if by_rule:
            alert = min(by_rule, key=lambda pair: pair[0].created)[0]
            times.append(alert.created)
            how.append(f"rule {alert.rule_id}")
        elif found:
            times.append(min(_when(d) for d in found))
            how.append(f"{'finding' if expect.check else 'event'} {expect.check or expect.event}")
        result.expectations.append(entry)
    if times and len(times) == len(result.inject.expect):
        result.detected_at, result.detected_by = max(times), ", ".join(how)


def _verified(inject: Inject, docs: list[dict[str, Any]]) -> bool:
    for expect in inject.expect:
        if expect.check is not None and any(matches(expect, d) for d in docs):
            return False
        if expect.event is not None:
            inverse = INVERSE_EVENTS.get(expect.event)
            if inverse is None and any(matches(expect, d) for d in docs):
                return False
            undo = expect.model_copy(update={"event": inverse})
            if inverse is not None and not any(matches(undo, d) for d in docs):
                return False
    return True


def lab_injects(drill: Drill) -> list[Inject]:
    """The injects Sentinel applies itself (not the manual ones)."""
    return [i for i in drill.injects if not i.manual]


def _revert_all(drill: Drill, manifest: Manifest, paths: LabPaths) -> list[str]:
    errors: list[str] = []
    for inject in reversed(lab_injects(drill)):
        assert inject.kind is not None  # a lab inject
        assert inject.host is not None
        try:
            injects.revert(inject.kind, manifest, paths, inject.host, inject.port)
        except LabError as exc:
            errors.append(f"{inject.id}: {exc}")
    return errors


async def run_drill(drill: Drill, playbook: Playbook, store: SqliteStore, *,
                    manifest: Manifest, paths: LabPaths, name: str) -> DrillResult:
    """Baseline scan, apply injects, drill scan, revert (always), verification scan."""
    started = now()
    owners = {h.id: manifest.segment(h.segment).agency for h in manifest.hosts}
    results = [InjectResult(i, owners[i.host or ""]) for i in lab_injects(drill)]
    baseline = await run_scan(playbook, store, playbook_name=name, drill_id=drill.id)
    try:
        for result in results:
            inject = result.inject
            assert inject.kind is not None  # a lab inject
            assert inject.host is not None
            injects.apply(inject.kind, manifest, paths, inject.host, inject.port,
                          banner=inject.banner)
            result.applied_at = now()
        during = await run_scan(playbook, store, playbook_name=name, drill_id=drill.id)
    finally:
        revert_errors = _revert_all(drill, manifest, paths)
    alerts, rules = rule_alerts(store, during.id)
    docs = scan_documents(store, during.id)
    for result in results:
        _detect(result, docs, alerts)
    after = await run_scan(playbook, store, playbook_name=name, drill_id=drill.id)
    verify_docs = scan_documents(store, after.id)
    for result in results:
        result.verified = not revert_errors and _verified(result.inject, verify_docs)
    scans = {"baseline": baseline.id, "drill": during.id, "verify": after.id}
    return DrillResult(drill, scans, started, now(), results, revert_errors, rules)
