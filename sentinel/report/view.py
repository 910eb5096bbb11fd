"""What one agency's report shows, as plain values: cover, scores, findings grouped by
check with owner and due date, change since the previous scan, and the inventory.

Built once and rendered three ways (HTML, PDF, JSON), so the formats never disagree.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sentinel.accept import Acceptances, counted, is_accepted
from sentinel.catalog import checks as catalog
from sentinel.catalog.scoring import SlaFile, scoring, sla
from sentinel.model import KeyState, ScanRecord
from sentinel.playbook import Agency
from sentinel.report.actions import actions, endpoint_grades, timeline
from sentinel.report.evidence import public
from sentinel.report.inventory import AssetInventory, inventory
from sentinel.report.scores import Scores, score
from sentinel.report.tenants import tenant_sections
from sentinel.severity import Severity
from sentinel.store.sqlite import SqliteStore


@dataclass(frozen=True)
class Period:
    """The scan the report is about, the one it is compared with, and the drill if any."""

    scan: ScanRecord
    previous: ScanRecord | None
    drill_id: str | None

    @property
    def moment(self) -> datetime:
        return self.scan.finished or self.scan.started


def previous_scan(store: SqliteStore, scan: ScanRecord) -> ScanRecord | None:
    """The last completed scan that started before ``scan``."""
    earlier = [s for s in store.scans() if s.status == "completed" and s.started < scan.started]
    return earlier[-1] if earlier else None


def _owner(agency: Agency | None) -> dict[str, str]:
    if agency is None or not agency.contacts:
        return {"name": "", "role": "", "email": "", "phone": ""}
    first = agency.contacts[0]
    return {"name": first.name, "role": first.role or "", "email": first.email or "",
            "phone": first.phone or ""}


def _item(doc: dict[str, Any], state: KeyState | None, change: str, period: Period,
          policy: SlaFile) -> dict[str, Any]:
    severity = Severity(doc["sentinel"]["severity"])
    first_seen = state.first_seen if state else datetime.fromisoformat(
        doc["@timestamp"].replace("Z", "+00:00"))
    due = policy.due(severity, first_seen) if doc["result"]["evaluation"] == "failed" else None
    dest = doc.get("destination", {})
    evidence, unverified = public(doc["sentinel"].get("evidence", {}))
    return {
        "asset": doc["host"].get("name") or doc["host"]["id"],
        "address": dest.get("ip", ""),
        "port": dest.get("port"),
        "evaluation": doc["result"]["evaluation"],
        "severity": severity.value,
        "zone": str(doc["sentinel"].get("zone") or ""),
        "status": doc["sentinel"]["finding"].get("status", ""),
        "change": change,
        "first_seen": first_seen.date().isoformat(),
        "days_open": max(0, (period.moment - first_seen).days),
        "due": due.date().isoformat() if due else "",
        "overdue": bool(due and due < period.moment),
        "evidence": evidence,
        "unverified": unverified,
    }


def _per_name_server(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """V6-NS is one problem per name server without IPv6, however many websites of its zone
    were judged: one row per such name server (its oldest item's dates), naming the
    websites; passing websites keep their own rows."""
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    kept = []
    for item in sorted(items, key=lambda i: (i["first_seen"], i["asset"])):
        names = item["evidence"].get("not_v6") or []
        if item["evaluation"] != "failed" or not names:
            kept.append(item)
            continue
        zone = str(item["evidence"].get("zone", ""))
        for name in names:
            row = rows.get((zone, str(name)))
            if row is None:
                row = rows[(zone, str(name))] = {
                    **item, "asset": str(name), "address": "", "port": None, "unverified": [],
                    "evidence": {"zone": zone, "name_server": str(name), "websites": []}}
            row["evidence"]["websites"].append(item["asset"])
    return [*rows.values(), *kept]


def _group(check_id: str, severity: str) -> dict[str, Any]:
    spec = catalog.check(check_id)
    return {"check_id": check_id, "severity": severity, "title": spec.title.model_dump(),
            "why": spec.why.model_dump(), "fix": spec.fix.model_dump(),
            "ruleset": spec.ruleset, "references": list(spec.references), "items": []}


def _keys(store: SqliteStore, scan_id: str | None, agency_id: str) -> dict[str, dict[str, Any]]:
    if scan_id is None:
        return {}
    docs = store.findings(scan_id=scan_id, agency_id=agency_id, evaluations=("failed",))
    return {d["sentinel"]["finding"]["key"]: d for d in docs}


def changes(store: SqliteStore, agency_id: str, period: Period,
            accepted: frozenset[str] = frozenset()) -> dict[str, Any]:
    """New, resolved and still-open failed findings against the previous scan (the keys in
    ``accepted``, held by a risk acceptance, are neither new nor still open)."""
    now_keys = {k: d for k, d in _keys(store, period.scan.id, agency_id).items()
                if k not in accepted}
    before = _keys(store, period.previous.id if period.previous else None, agency_id)
    resolved = [{"check_id": d["rule"]["id"], "asset": d["host"].get("name") or d["host"]["id"],
                 "port": d.get("destination", {}).get("port"),
                 "severity": d["sentinel"]["severity"]}
                for k, d in before.items() if k not in now_keys]
    return {"previous_scan": period.previous.id if period.previous else None,
            "new": sum(k not in before for k in now_keys) if period.previous else len(now_keys),
            "still_open": sum(k in before for k in now_keys),
            "resolved": len(resolved), "resolved_items": resolved}


def _groups(store: SqliteStore, docs: list[dict[str, Any]], agency_id: str,
            period: Period) -> list[dict[str, Any]]:
    states = store.states([d["sentinel"]["finding"]["key"] for d in docs])
    before = _keys(store, period.previous.id if period.previous else None, agency_id)
    policy = sla()
    groups: dict[str, dict[str, Any]] = {}
    for doc in docs:
        check_id = doc["rule"]["id"]
        group = groups.setdefault(check_id, _group(check_id, doc["sentinel"]["severity"]))
        key = doc["sentinel"]["finding"]["key"]
        change = "still-open" if key in before else "new"
        group["items"].append(_item(doc, states.get(key), change, period, policy))
    if "V6-NS" in groups:
        groups["V6-NS"]["items"] = _per_name_server(groups["V6-NS"]["items"])
    return sorted(groups.values(), key=lambda g: (Severity(g["severity"]).rank, g["check_id"]))


@dataclass
class AgencyView:
    """Everything one agency's report shows; ``as_dict`` is the JSON format."""

    agency: dict[str, Any]
    period: Period
    scores: Scores
    counts: dict[str, int]
    groups: list[dict[str, Any]]
    changes: dict[str, Any]
    assets: list[AssetInventory]
    actions: list[dict[str, Any]]
    grades: list[dict[str, Any]]
    timeline: list[dict[str, Any]]
    # Findings a risk acceptance holds (--accept): shown apart, not counted or scored.
    accepted: list[dict[str, Any]] = field(default_factory=list)
    # The agency's government-cloud tenants (report/tenants.py): empty without CLOUD- findings.
    tenants: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "agency": self.agency,
            "scan": {"id": self.period.scan.id, "playbook": self.period.scan.playbook,
                     "started": self.period.scan.started.isoformat(),
                     "finished": self.period.moment.isoformat(),
                     "drill": self.period.drill_id},
            "scores": self.scores.as_dict(),
            "counts": self.counts,
            "actions": self.actions,
            "grades": self.grades,
            "timeline": self.timeline,
            "changes": self.changes,
            "findings": self.groups,
            "inventory": [{"asset": a.asset_id, "name": a.name,
                           "addresses": sorted(a.addresses), "ports": a.ports, "tls": a.tls,
                           "ssh": a.ssh} for a in self.assets],
            "accepted": self.accepted,
            "tenants": self.tenants,
        }


def agency_view(store: SqliteStore, agency_id: str, scan: ScanRecord,
                agency: Agency | None = None, *,
                observations: list[dict[str, Any]] | None = None,
                acceptances: Acceptances | None = None) -> AgencyView:
    """Build one agency's view of one scan (``agency`` adds names in both languages and
    contacts; without it the names stored in the findings are used). ``observations``:
    the agency's asset documents of the scan when the caller already read them."""
    docs = store.findings(scan_id=scan.id, agency_id=agency_id)
    marked = acceptances.mark(docs) if acceptances is not None else docs
    docs = counted(marked)  # an accepted finding is listed apart, not counted or scored
    drill = next((d["sentinel"]["drill"]["id"] for d in docs if "drill" in d["sentinel"]), None)
    period = Period(scan, previous_scan(store, scan), drill)
    if observations is None:
        observations = [o for o in store.assets(scan.id)
                        if o["organization"]["id"] == agency_id]
    assets = inventory(observations)
    stored_name = next((d["organization"].get("name") for d in docs + observations), agency_id)
    names = agency.name.model_dump() if agency else {"zh": stored_name, "en": stored_name}
    groups = _groups(store, docs, agency_id, period)
    todo = actions(groups)
    counts = Counter(i["severity"] for g in groups for i in g["items"]
                     if i["evaluation"] == "failed")
    # Passing V6-SCORE findings carry the scores of the websites that are ready.
    scored = docs + store.findings(scan_id=scan.id, agency_id=agency_id, check_id="V6-SCORE",
                                   evaluations=("passed",))
    return AgencyView(
        agency={"id": agency_id, "name": names, "owner": _owner(agency)},
        period=period,
        scores=score(scored, assets, scoring()),
        counts={s.value: counts.get(s.value, 0) for s in Severity},
        groups=groups,
        changes=changes(store, agency_id, period, frozenset(
            d["sentinel"]["finding"]["key"] for d in marked if is_accepted(d))),
        assets=assets,
        actions=todo,
        grades=endpoint_grades(groups, assets),
        timeline=timeline(todo),
        accepted=[_accepted(d) for d in marked if is_accepted(d)],
        tenants=tenant_sections(docs),
    )


def _accepted(doc: dict[str, Any]) -> dict[str, Any]:
    acceptance = doc["sentinel"]["acceptance"]
    return {"check_id": doc["rule"]["id"], "title": doc["sentinel"].get("title", {}),
            "severity": doc["sentinel"]["severity"],
            "asset": doc["host"].get("name") or doc["host"]["id"],
            "port": doc.get("destination", {}).get("port"),
            "reason": acceptance["reason"], "approver": acceptance["approver"],
            "expires": acceptance["expires"]}
