"""An agency's report built as the findings stream (issue 20 item 4: slim copies, keys read
in SQL, states per page) is byte for byte the report built from every whole document, the
way it was built before: the same HTML in both languages and the same JSON, on a store with
three scans (new, still open and resolved findings), risk acceptances and V6-SCORE."""

from __future__ import annotations

from collections import Counter
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from sentinel.accept import Acceptance, Acceptances, counted, is_accepted
from sentinel.catalog.scoring import scoring, sla
from sentinel.model import ScanRecord
from sentinel.report import view as v
from sentinel.report.actions import actions, endpoint_grades, timeline
from sentinel.report.html import agency_document
from sentinel.report.inventory import inventory
from sentinel.report.scores import score
from sentinel.report.tenants import tenant_sections
from sentinel.severity import Severity
from sentinel.store.sqlite import SqliteStore
from tests import samples as sample


def _whole_keys(store: SqliteStore, scan_id: str | None, agency: str) -> dict[str, Any]:
    if scan_id is None:
        return {}
    docs = store.findings(scan_id=scan_id, agency_id=agency, evaluations=("failed",))
    return {d["sentinel"]["finding"]["key"]: d for d in docs}


def whole_view(store: SqliteStore, agency: str, scan: ScanRecord,
               acceptances: Acceptances | None) -> v.AgencyView:
    """The view as it was built before issue 20: every whole document held at once."""
    marked = store.findings(scan_id=scan.id, agency_id=agency)
    if acceptances is not None:
        marked = acceptances.mark(marked)
    docs = counted(marked)
    drill = next((d["sentinel"]["drill"]["id"] for d in docs if "drill" in d["sentinel"]), None)
    period = v.Period(scan, v.previous_scan(store, scan), drill)
    observations = [o for o in store.assets(scan.id) if o["organization"]["id"] == agency]
    assets = inventory(observations)
    stored = next((d["organization"].get("name") for d in docs + observations), agency)
    before = _whole_keys(store, period.previous.id if period.previous else None, agency)
    states = store.states([(d["host"]["id"], d["sentinel"]["finding"]["key"]) for d in docs])
    groups: dict[str, dict[str, Any]] = {}
    for doc in docs:
        group = groups.setdefault(doc["rule"]["id"],
                                  v._group(doc["rule"]["id"], doc["sentinel"]["severity"]))
        key = doc["sentinel"]["finding"]["key"]
        group["items"].append(v._item(doc, states.get(key),
                                      "still-open" if key in before else "new", period, sla()))
    if "V6-NS" in groups:
        groups["V6-NS"]["items"] = v._per_name_server(groups["V6-NS"]["items"])
    ordered = sorted(groups.values(), key=lambda g: (Severity(g["severity"]).rank,
                                                     g["check_id"]))
    accepted = {d["sentinel"]["finding"]["key"] for d in marked if is_accepted(d)}
    now = {k: d for k, d in _whole_keys(store, scan.id, agency).items() if k not in accepted}
    resolved = [{"check_id": d["rule"]["id"], "asset": d["host"].get("name") or d["host"]["id"],
                 "port": d.get("destination", {}).get("port"),
                 "severity": d["sentinel"]["severity"]}
                for k, d in before.items() if k not in now]
    changes = {"previous_scan": period.previous.id if period.previous else None,
               "new": sum(k not in before for k in now) if period.previous else len(now),
               "still_open": sum(k in before for k in now),
               "resolved": len(resolved), "resolved_items": resolved}
    todo = actions(ordered)
    counts = Counter(i["severity"] for g in ordered for i in g["items"]
                     if i["evaluation"] == "failed")
    scored = docs + store.findings(scan_id=scan.id, agency_id=agency, check_id="V6-SCORE",
                                   evaluations=("passed",))
    return v.AgencyView(
        agency={"id": agency, "name": {"zh": stored, "en": stored}, "owner": v._owner(None)},
        period=period, scores=score(scored, assets, scoring()),
        counts={s.value: counts.get(s.value, 0) for s in Severity}, groups=ordered,
        changes=changes, assets=assets, actions=todo, grades=endpoint_grades(ordered, assets),
        timeline=timeline(todo), accepted=[v._accepted(d) for d in marked if is_accepted(d)],
        tenants=tenant_sections(docs))


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> SqliteStore:
    db = SqliteStore(tmp_path_factory.mktemp("view") / "s.db")
    sample.build(db, agencies=3, assets=3, scans=3)
    return db


def test_streamed_view_renders_what_the_whole_documents_rendered(store: SqliteStore,
                                                                  monkeypatch: pytest.MonkeyPatch
                                                                  ) -> None:
    monkeypatch.setattr(v._Grouper, "PAGE", 7)  # several pages of states per agency
    last = store.scans()[-1]
    docs = store.findings(scan_id=last.id)
    acceptances = Acceptances(tuple(
        Acceptance(key=d["sentinel"]["finding"]["key"], reason="办理中", approver="张三",
                   expires=date(2999, 1, 1)) for d in docs[::4]), "accept.yml",
        date(2026, 12, 1))
    compared = 0
    for scan in store.scans():
        for agency in store.agencies(scan.id):
            for accepting in (None, acceptances):
                streamed = v.agency_view(store, agency, scan, acceptances=accepting)
                whole = whole_view(store, agency, scan, accepting)
                for fmt, lang in (("html", "zh"), ("html", "en"), ("json", "zh")):
                    assert (agency_document(streamed, fmt, lang)  # type: ignore[arg-type]
                            == agency_document(whole, fmt, lang))  # type: ignore[arg-type]
                compared += 1
    assert compared == 18
    # The store had what makes the view's parts differ: resolved findings, accepted ones.
    view = v.agency_view(store, "agency-001", last, acceptances=acceptances)
    assert view.changes["resolved"] and view.changes["still_open"] and view.accepted


def test_the_keys_projection_names_findings_as_the_documents_do(store: SqliteStore,
                                                                tmp_path: Path) -> None:
    scan = store.scans()[-1]
    keys = store.finding_keys(scan.id, "agency-000")
    docs = store.findings(scan_id=scan.id, agency_id="agency-000", evaluations=("failed",))
    assert list(keys) == [d["sentinel"]["finding"]["key"] for d in docs]
    assert list(keys.values()) == [
        (d["rule"]["id"], d["host"].get("name") or d["host"]["id"],
         d.get("destination", {}).get("port"), d["sentinel"]["severity"]) for d in docs]


def test_tenant_sections_are_those_of_the_whole_documents(tmp_path: Path) -> None:
    """The OpenStack fixture stored as a scan: the tenant sections read the slim copies of
    the CLOUD- findings the view keeps."""
    import asyncio

    from sentinel.cloud.openstack import load_dir
    from sentinel.playbook import load_playbook
    from sentinel.scan.cloud_import import store_inventory

    data = Path(__file__).parents[1] / "data" / "cloud"
    book = load_playbook(data / "playbook.yml")
    with SqliteStore(tmp_path / "s.db") as db:
        asyncio.run(store_inventory(book, db, load_dir(data / "openstack"),
                                    playbook_name="cloud", scan_id="cloud-1"))
        scan = db.scans()[-1]
        for agency in ("rsj", "wjw"):
            streamed = v.agency_view(db, agency, scan)
            whole = whole_view(db, agency, scan, None)
            assert streamed.tenants
            for fmt, lang in (("html", "zh"), ("json", "zh")):
                assert (agency_document(streamed, fmt, lang)  # type: ignore[arg-type]
                        == agency_document(whole, fmt, lang))  # type: ignore[arg-type]
