"""What one agency's report shows, as plain values: cover, scores, findings grouped by
check with owner and due date, change since the previous scan, and the inventory.

Built once and rendered three ways (HTML, PDF, JSON), so the formats never disagree.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sentinel.accept import Acceptances, is_accepted
from sentinel.catalog import checks as catalog
from sentinel.catalog.scoring import ScoringFile, SlaFile, scoring, sla
from sentinel.model import KeyState, ScanRecord
from sentinel.playbook import Agency
from sentinel.report.actions import actions, endpoint_grades, timeline
from sentinel.report.evidence import public
from sentinel.report.inventory import AssetInventory, inventory
from sentinel.report.scores import Scores, score, scored
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


def _shared(value: Any) -> Any:
    return sys.intern(value) if type(value) is str else value


def _item(doc: dict[str, Any], state: KeyState | None, change: str, period: Period,
          policy: SlaFile, *, shared: dict[Any, Any] | None = None) -> dict[str, Any]:
    severity = Severity(doc["sentinel"]["severity"])
    first_seen = state.first_seen if state else datetime.fromisoformat(
        doc["@timestamp"].replace("Z", "+00:00"))
    due = policy.due(severity, first_seen) if doc["result"]["evaluation"] == "failed" else None
    dest = doc.get("destination", {})
    evidence, unverified = public(doc["sentinel"].get("evidence", {}))
    if shared is not None and not unverified:  # alike evidence (in its key order): one object
        evidence = _one(shared, ("evidence", json.dumps(evidence, default=str)), evidence)
    # Strings that repeat across an agency's items (an asset's name and address, dates,
    # states) are interned: one copy each, not one per finding (issue 20).
    return {
        "asset": _shared(doc["host"].get("name") or doc["host"]["id"]),
        "address": _shared(dest.get("ip", "")),
        "port": dest.get("port"),
        "evaluation": _shared(doc["result"]["evaluation"]),
        "severity": severity.value,
        "zone": _shared(str(doc["sentinel"].get("zone") or "")),
        "status": _shared(doc["sentinel"]["finding"].get("status", "")),
        "change": change,
        "first_seen": _shared(first_seen.date().isoformat()),
        "days_open": max(0, (period.moment - first_seen).days),
        "due": _shared(due.date().isoformat()) if due else "",
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
        zone = str(item["evidence"].get("zone") or ", ".join(item["evidence"].get("zones") or []))
        # A finding stored once per name server names its websites; an older one per website.
        websites = item["evidence"].get("websites") or [item["asset"]]
        for name in names:
            row = rows.get((zone, str(name)))
            if row is None:
                row = rows[(zone, str(name))] = {
                    **item, "asset": str(name), "address": "", "port": None, "unverified": [],
                    "evidence": {"zone": zone, "name_server": str(name), "websites": []}}
            row["evidence"]["websites"].extend(w for w in websites
                                               if w not in row["evidence"]["websites"])
    return [*rows.values(), *kept]


def _group(check_id: str, severity: str) -> dict[str, Any]:
    spec = catalog.check(check_id)
    return {"check_id": check_id, "severity": severity, "title": spec.title.model_dump(),
            "why": spec.why.model_dump(), "fix": spec.fix.model_dump(),
            "ruleset": spec.ruleset, "references": list(spec.references), "items": []}


def _keys(store: SqliteStore, scan_id: str | None, agency_id: str
          ) -> dict[str, tuple[str, str, int | None, str]]:
    """The agency's failed findings of a scan by key: (check id, asset, port, severity), a
    projection read in SQL (a report only counts or names them)."""
    if scan_id is None:
        return {}
    return store.finding_keys(scan_id, agency_id)


def changes(store: SqliteStore, agency_id: str, period: Period,
            accepted: frozenset[str] = frozenset(), *,
            before: dict[str, tuple[str, str, int | None, str]] | None = None
            ) -> dict[str, Any]:
    """New, resolved and still-open failed findings against the previous scan (the keys in
    ``accepted``, held by a risk acceptance, are neither new nor still open). ``before``:
    the previous scan's keys when the caller already read them."""
    now_keys = [k for k in _keys(store, period.scan.id, agency_id) if k not in accepted]
    if before is None:
        before = _keys(store, period.previous.id if period.previous else None, agency_id)
    now = set(now_keys)
    resolved = [{"check_id": check, "asset": asset, "port": port, "severity": severity}
                for k, (check, asset, port, severity) in before.items() if k not in now]
    return {"previous_scan": period.previous.id if period.previous else None,
            "new": sum(k not in before for k in now_keys) if period.previous else len(now_keys),
            "still_open": sum(k in before for k in now_keys),
            "resolved": len(resolved), "resolved_items": resolved}


def _kept(doc: dict[str, Any], policy: ScoringFile) -> bool:
    """Whether a finding is read again after its item is built: by the scores (``scored``)
    or the tenant sections (failed CLOUD- findings). Every other one is dropped once its item
    is built (issue 20: a 100,000-finding report does not hold 100,000 documents)."""
    return scored(doc, policy) or (doc["rule"]["id"].startswith("CLOUD-")
                                   and doc["result"]["evaluation"] == "failed")


def _one(shared: dict[Any, Any], key: tuple[Any, ...], value: dict[str, Any]
         ) -> dict[str, Any]:
    """``value``, or the equal one already in ``shared`` (a value that cannot be a key, as a
    damaged document's list, is kept as it is)."""
    try:
        return shared.setdefault(key, value)  # type: ignore[no-any-return]
    except TypeError:
        return value


def _slim(doc: dict[str, Any], shared: dict[Any, Any]) -> dict[str, Any]:
    """The fields of a kept finding that the scores and the tenant sections read; the parts
    many findings have alike (a check's rule and title, an asset's host, a port) are one
    object in ``shared``, never changed by their readers."""
    sentinel, host = doc["sentinel"], doc["host"]
    check, evaluation = doc["rule"]["id"], doc["result"]["evaluation"]
    kept: dict[str, Any] = {k: sentinel[k] for k in ("severity", "tenant", "evidence")
                            if k in sentinel}
    if "title" in sentinel:
        title = sentinel["title"]
        kept["title"] = _one(shared, ("title", json.dumps(title, default=str)), title)
    names = tuple((k, host[k]) for k in ("id", "name") if k in host)
    slim: dict[str, Any] = {
        "rule": _one(shared, ("rule", check), {"id": check}),
        "result": _one(shared, ("result", evaluation), {"evaluation": evaluation}),
        "sentinel": kept,
        "host": _one(shared, ("host", names), dict(names))}
    if "destination" in doc:
        port = doc["destination"].get("port")
        slim["destination"] = _one(shared, ("port", port), {"port": port})
    return slim


class _Grouper:
    """Findings into groups by check, as they are read: each one's item is built from its
    document and its state (looked up per page of keys); only the findings read again are
    kept, as slim copies."""

    PAGE = 500

    def __init__(self, store: SqliteStore, before: dict[str, Any], period: Period) -> None:
        self._store, self._before, self._period = store, before, period
        self._policy = sla()
        self._scoring = scoring()
        self._page: list[dict[str, Any]] = []
        self.groups: dict[str, dict[str, Any]] = {}
        self.kept: list[dict[str, Any]] = []
        self._shared: dict[Any, Any] = {}

    def add(self, doc: dict[str, Any]) -> None:
        self._page.append(doc)
        if len(self._page) >= self.PAGE:
            self.flush()

    def flush(self) -> None:
        page, self._page = self._page, []
        states = self._store.states([(d["host"]["id"], d["sentinel"]["finding"]["key"])
                                     for d in page])
        for doc in page:
            check_id = doc["rule"]["id"]
            group = self.groups.setdefault(check_id, _group(check_id, doc["sentinel"]["severity"]))
            key = doc["sentinel"]["finding"]["key"]
            change = "still-open" if key in self._before else "new"
            group["items"].append(_item(doc, states.get(key), change, self._period,
                                        self._policy, shared=self._shared))
            if _kept(doc, self._scoring):
                self.kept.append(_slim(doc, self._shared))

    def sorted_groups(self) -> list[dict[str, Any]]:
        self.flush()
        if "V6-NS" in self.groups:
            self.groups["V6-NS"]["items"] = _per_name_server(self.groups["V6-NS"]["items"])
        return sorted(self.groups.values(),
                      key=lambda g: (Severity(g["severity"]).rank, g["check_id"]))


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
    previous = previous_scan(store, scan)
    before = _keys(store, previous.id if previous else None, agency_id)
    grouper = _Grouper(store, before, Period(scan, previous, None))
    accepted: list[dict[str, Any]] = []
    accepted_keys: set[str] = set()
    drill: str | None = None
    first: list[dict[str, Any]] = []  # the first counted finding (its agency's stored name)
    # Read from the store's cursor, judged and grouped as they come; only slim copies stay.
    for stored in store.iter_findings(scan_id=scan.id, agency_id=agency_id):
        doc = acceptances.mark([stored])[0] if acceptances is not None else stored
        if is_accepted(doc):  # an accepted finding is listed apart, not counted or scored
            accepted.append(_accepted(doc))
            accepted_keys.add(doc["sentinel"]["finding"]["key"])
            continue
        if not first:
            first.append(doc)
        if drill is None and "drill" in doc["sentinel"]:
            drill = doc["sentinel"]["drill"]["id"]
        grouper.add(doc)
    groups = grouper.sorted_groups()
    docs = grouper.kept
    period = Period(scan, previous, drill)
    if observations is None:
        observations = [o for o in store.agency_assets(scan.id, agency_id)
                        if o["organization"]["id"] == agency_id]
    assets = inventory(observations)
    stored_name = next((d["organization"].get("name") for d in first + observations), agency_id)
    names = agency.name.model_dump() if agency else {"zh": stored_name, "en": stored_name}
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
        changes=changes(store, agency_id, period, frozenset(accepted_keys), before=before),
        assets=assets,
        actions=todo,
        grades=endpoint_grades(groups, assets),
        timeline=timeline(todo),
        accepted=accepted,
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
