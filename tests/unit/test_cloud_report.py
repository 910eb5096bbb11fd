"""The tenant section of an agency's report: the OpenStack fixture stored as a scan (the real
store and assessor), rendered as the agency's HTML report."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sentinel.cloud.openstack import load_dir
from sentinel.playbook import load_playbook
from sentinel.report.html import agency_document, find_scan
from sentinel.report.view import agency_view
from sentinel.scan.cloud_import import store_inventory
from sentinel.store.sqlite import SqliteStore

DATA = Path(__file__).parents[1] / "data" / "cloud"


def test_the_owning_agency_report_has_its_tenant_groups_and_exposure(tmp_path: Path) -> None:
    book = load_playbook(DATA / "playbook.yml")
    with SqliteStore(tmp_path / "s.db") as store:
        asyncio.run(store_inventory(book, store, load_dir(DATA / "openstack"),
                                    playbook_name="cloud", scan_id="cloud-1"))
        scan = find_scan(store, None)
        rsj = agency_view(store, "rsj", scan, book.agency("rsj"))
        wjw = agency_view(store, "wjw", scan, book.agency("wjw"))
    (section,) = rsj.tenants
    assert section["tenant"] == "rsj-cloud" and section["findings"] == 9
    assert [(g["group"], g["severity"], sorted(g["checks"])) for g in section["groups"]] == [
        ("rsj-db", "high", ["CLOUD-SG-RISKYWORLD", "CLOUD-SG-V6WIDER"]),
        ("rsj-web", "high", ["CLOUD-SG-CROSSTENANT", "CLOUD-SG-RISKYWORLD",
                             "CLOUD-SG-V6MISSING"]),
        ("rsj-old", "info", ["CLOUD-SG-UNUSED"])]
    exposed = {(i["check_id"], i["asset"]) for i in section["exposure"]}
    assert exposed == {("CLOUD-SG-RISKYWORLD", "rsj-web"), ("CLOUD-SG-RISKYWORLD", "rsj-db"),
                       ("CLOUD-SG-CROSSTENANT", "rsj-web"), ("CLOUD-SG-V6WIDER", "rsj-db"),
                       ("CLOUD-EIP-RISKY", "198.18.200.10")}
    web = next(i for i in section["exposure"] if i["check_id"] == "CLOUD-SG-RISKYWORLD"
               and i["asset"] == "rsj-web")
    assert web["rules"] == ["tcp/22 from 0.0.0.0/0 (IPv4)"]
    assert section["drift"] == [] and section["isolation"] == []  # no such findings here
    html = str(agency_document(rsj, "html", "en"))
    block = html.split('<section id="tenants">', 1)[1].split("</section>", 1)[0]
    assert "Government-cloud tenants" in block and "<code>rsj-cloud</code>" in block
    assert "<code>tcp/22 from 0.0.0.0/0 (IPv4)</code>" in block and "Drift" not in block
    assert "政务云租户" in str(agency_document(rsj, "html", "zh"))
    # the other agency's report shows its own tenant only
    assert [t["tenant"] for t in wjw.tenants] == ["wjw-cloud"]
    assert "rsj-cloud" not in str(agency_document(wjw, "html", "en"))
