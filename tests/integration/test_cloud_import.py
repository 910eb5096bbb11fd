"""``sentinel cloud import`` end to end: a folder of OpenStack bodies into a temp store, read
back by ``sentinel findings --json`` like any scan's findings; the same folder twice is one
scan; a rule removed in the cloud resolves its finding in the next import."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from sentinel.model import FindingStatus
from sentinel.store.sqlite import SqliteStore

DATA = Path(__file__).parents[1] / "data" / "cloud"


def _sentinel(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "sentinel.cli", *args], capture_output=True,
                          text=True, timeout=120, check=False)


def _import(folder: Path, store: Path) -> str:
    done = _sentinel("cloud", "import", "--provider", "openstack", str(folder),
                     "--playbook", str(DATA / "playbook.yml"), "--store", str(store))
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def _findings(store: Path, *extra: str) -> list[dict[str, Any]]:
    listed = _sentinel("findings", "--json", "--store", str(store), *extra)
    assert listed.returncode == 0, listed.stderr
    docs: list[dict[str, Any]] = json.loads(listed.stdout)
    return docs


def test_cloud_findings_are_stored_with_their_agency_and_tenant(tmp_path: Path) -> None:
    store = tmp_path / "s.db"
    scan = _import(DATA / "openstack", store)
    docs = _findings(store)
    failed = {(d["rule"]["id"], d["organization"]["id"], d["sentinel"].get("tenant"),
               d["host"].get("name")) for d in docs}
    assert failed == {
        ("CLOUD-SG-RISKYWORLD", "rsj", "rsj-cloud", "rsj-web"),
        ("CLOUD-SG-RISKYWORLD", "rsj", "rsj-cloud", "rsj-db"),  # postgresql to ::/0
        ("CLOUD-SG-CROSSTENANT", "rsj", "rsj-cloud", "rsj-web"),
        ("CLOUD-SG-V6MISSING", "rsj", "rsj-cloud", "rsj-web"),
        ("CLOUD-SG-V6WIDER", "rsj", "rsj-cloud", "rsj-db"),
        ("CLOUD-SG-UNUSED", "rsj", "rsj-cloud", "rsj-old"),
        ("CLOUD-NET-NOV6", "rsj", "rsj-cloud", "rsj-db"),
        ("CLOUD-EIP-RISKY", "rsj", "rsj-cloud", "198.18.200.10"),
        ("CLOUD-EIP-ORPHAN", "rsj", "rsj-cloud", "198.18.200.30"),
        ("CLOUD-SG-ANYINGRESS", "wjw", "wjw-cloud", "wjw-open"),
        ("CLOUD-EIP-RISKY", "wjw", "wjw-cloud", "198.18.200.20"),
        # the unmapped project's resources: reported, not dropped
        ("CLOUD-NET-NOV6", "unmapped", None, "x-net"),
        ("CLOUD-TENANT-UNMAPPED", "unmapped", None, "x-1"),
        ("CLOUD-TENANT-UNMAPPED", "unmapped", None, "x-net"),
        ("CLOUD-TENANT-UNMAPPED", "unmapped", None, "default"),
        ("CLOUD-TENANT-UNMAPPED", "unmapped", None, "public"),
    }
    assert {d["sentinel"]["zone"] for d in docs} == {"cloud-tenant"}
    assert {d["sentinel"]["scan"]["id"] for d in docs} == {scan}
    # words and references come from playbooks/remediation/cloud.yml
    cross = next(d for d in docs if d["rule"]["id"] == "CLOUD-SG-CROSSTENANT")
    # The 等保 clause and its GB/T 28448 test item, each cited exactly.
    assert {"GB/T 22239-2019 8.2.2.1", "GB/T 28448-2019 L3-CNS2-01"} <= set(
        cross["rule"]["reference"])
    assert _findings(store, "--agency", "wjw") and all(
        d["organization"]["id"] == "wjw" for d in _findings(store, "--agency", "wjw"))
    assert _import(DATA / "openstack", store) == scan  # the same bodies: one scan


def test_a_rule_removed_in_the_cloud_resolves_its_finding(tmp_path: Path) -> None:
    store = tmp_path / "s.db"
    _import(DATA / "openstack", store)
    changed = tmp_path / "dump"
    shutil.copytree(DATA / "openstack", changed)
    body = json.loads((changed / "security-groups.json").read_text(encoding="utf-8"))
    web = next(g for g in body["security_groups"] if g["name"] == "rsj-web")
    web["security_group_rules"] = [r for r in web["security_group_rules"]
                                   if r["id"] != "r-web-22"]
    (changed / "security-groups.json").write_text(json.dumps(body), encoding="utf-8")
    second = _import(changed, store)
    now = {(d["rule"]["id"], d["host"].get("name")) for d in _findings(store)}
    assert ("CLOUD-SG-RISKYWORLD", "rsj-web") not in now
    assert ("CLOUD-EIP-RISKY", "198.18.200.10") not in now  # its instance exposes ssh no more
    assert ("CLOUD-SG-CROSSTENANT", "rsj-web") in now  # still there
    with SqliteStore(store) as db:
        resolved = {(s.check_id, s.asset.name) for s in db.states().values()
                    if s.status is FindingStatus.RESOLVED}
        actions = [e["event"]["action"] for e in db.events(second)]
    assert resolved == {("CLOUD-SG-RISKYWORLD", "rsj-web"), ("CLOUD-EIP-RISKY", "198.18.200.10")}
    assert actions.count("finding-resolved") == 2, actions


def test_the_sigma_rule_fires_on_the_cloud_findings_without_a_tenant_only(
        tmp_path: Path) -> None:
    """``cloud-finding-without-tenant`` over an imported cloud: one alert per failed CLOUD-
    finding of the unmapped project (and the unbound floating IP), none for a tenant's."""
    store = tmp_path / "s.db"
    scan = _import(DATA / "openstack", store)
    done = _sentinel("detect", "--scan", scan, "--json", "--store", str(store))
    assert done.returncode == 0, done.stderr
    alerts = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
    mine = [a for a in alerts if a["rule"]["name"] == "Cloud finding without a tenant"]
    hosts = {(a["organization"]["id"], a["sentinel"]["alert"]["documents"][0]["check"],
              a["host"]["id"][0].split(":", 1)[1]) for a in mine}
    without = {(d["organization"]["id"], d["rule"]["id"], d["host"]["id"].split(":", 1)[1])
               for d in _findings(store) if d["sentinel"].get("tenant") is None}
    assert len(mine) == len(without) == 5 and hosts == without
    assert {org for org, _, _ in hosts} == {"unmapped"}
