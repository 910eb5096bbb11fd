"""Discovery as a phase of ``sentinel scan``, UDP services in the nmap scan, and the agent's
``sentinel discover`` stored per segment, all against the lab.

The psb segment is scanned with its ``hosts`` list removed: the sweep of 198.18.12.0/24 must
find exactly the manifest's psb hosts (and the segment gateway, the core router's interface),
and only those are probed.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest

from sentinel.assess import AssetView, assess
from sentinel.lab import LabStatus, Manifest
from sentinel.model import Evaluation, Finding, Observation
from sentinel.playbook import DiscoveryProbeConfig, InventoryAsset, NmapProbeConfig, load_playbook
from sentinel.probes.base import Network
from sentinel.probes.tcp import default_ports
from sentinel.scan.engine import AssetPlan, Engine
from sentinel.scan.plan import asset_plans
from sentinel.scan.run import policy_for, run_scan
from sentinel.scope import Gate
from sentinel.store.sqlite import SqliteStore

pytestmark = pytest.mark.lab
ROOT = Path(__file__).resolve().parents[3]
PLAYBOOK = ROOT / "playbooks" / "lab.yml"
GHOST = "198.18.12.99"  # an inventory address nothing answers on


@pytest.fixture(scope="module")
def psb_scan(lab: LabStatus, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """tcp probes over psb with no hosts listed, discovery on, one dead inventory asset."""
    playbook = load_playbook(PLAYBOOK)
    psb = next(s for s in playbook.segments if s.id == "psb").model_copy(update={"hosts": ()})
    probes = playbook.probes.model_copy(update={
        "tls": None, "ssh": None, "snmp": None, "discovery": DiscoveryProbeConfig()})
    playbook = playbook.model_copy(update={
        "segments": (psb,), "sites": (), "probes": probes,
        "assets": (InventoryAsset(id="ghost.test", addresses=(GHOST,)),)})
    store = SqliteStore(tmp_path_factory.mktemp("psb") / "sentinel.db")
    record = asyncio.run(run_scan(playbook, store, playbook_name="psb-discovery"))
    docs = store.assets(record.id)
    return {"record": record, "store": store, "docs": docs, "ports": default_ports(playbook)}


def _probe(doc: dict[str, Any]) -> str:
    return str(doc["sentinel"]["attempt"]["probe"])


def _discovered(docs: Iterable[dict[str, Any]], state: str) -> set[str]:
    return {d["destination"]["ip"] for d in docs if _probe(d) == "discovery"
            and d["sentinel"]["facts"]["discovery"]["state"] == state}


def test_sweep_finds_exactly_the_psb_hosts(psb_scan: dict[str, Any], manifest: Manifest) -> None:
    segment = next(s for s in manifest.segments if s.id == "psb")
    expected = {str(h.v4) for h in manifest.hosts if h.segment == "psb"}
    assert _discovered(psb_scan["docs"], "up") == expected | {str(segment.gateway_v4)}


def test_only_live_hosts_are_probed(psb_scan: dict[str, Any]) -> None:
    live = _discovered(psb_scan["docs"], "up")
    tcp = [d for d in psb_scan["docs"] if _probe(d) == "tcp"]
    assert len(tcp) == len(live) * len(psb_scan["ports"])
    assert {d["destination"]["ip"] for d in tcp} == live
    assert len(tcp) < 254 * len(psb_scan["ports"]) / 50


def test_dead_host_is_recorded_once_as_down(psb_scan: dict[str, Any]) -> None:
    ghost = [d for d in psb_scan["docs"] if d["destination"]["ip"] == GHOST]
    assert len(ghost) == 1 and _probe(ghost[0]) == "discovery"
    assert ghost[0]["sentinel"]["facts"]["discovery"]["state"] == "down"
    errors = psb_scan["store"].findings(scan_id=psb_scan["record"].id,
                                        check_id="SEN-PROBE-ERROR")
    assert errors == []


def test_discovery_is_in_the_store_and_the_audit_trail(psb_scan: dict[str, Any]) -> None:
    record = psb_scan["record"]
    assert record.attempts["completed"] == len(psb_scan["docs"])
    finished = [e for e in psb_scan["store"].events(record.id)
                if e["event"]["action"] == "scan-finished"]
    summary = finished[0]["sentinel"]["after"]["discovery"]
    assert summary["swept"] == 254  # the /24 (the ghost is one of its addresses)
    assert summary["up"] == len(_discovered(psb_scan["docs"], "up"))
    assert summary["families"] == ["ipv4"]
    found = {d["host"]["id"] for d in psb_scan["docs"] if _probe(d) == "discovery"}
    assert found == {"ghost.test"} | _discovered(psb_scan["docs"], "up")  # no inventory here


@pytest.fixture(scope="module")
def udp_findings(lab: LabStatus) -> list[Finding]:
    """nmap (TCP catalog ports, then the catalog's UDP ports) over the NOC's hosts."""
    playbook = load_playbook(PLAYBOOK)
    probes = playbook.probes.model_copy(update={
        "tls": None, "tcp": None, "ssh": None, "snmp": None,
        "nmap": NmapProbeConfig(top_ports=0, budget_s=120)})
    playbook = playbook.model_copy(update={"probes": probes, "sites": ()})
    gate = Gate(policy_for(playbook), playbook.rate)
    engine = Engine(Network(gate, 4.0), probe_timeout=4.0)
    findings: list[Finding] = []

    async def done(plan: AssetPlan, observations: list[Observation]) -> None:
        target = plan.jobs[0].target
        findings.extend(assess(AssetView(target.asset, target.context, target.segment,
                                         observations)))

    wanted = {"sw1.test", "rtr1.test", "ns1.test"}
    asyncio.run(engine.run((p for p in asset_plans(playbook, "udp") if p.asset_id in wanted),
                           done))
    assert not gate.refusals
    return findings


def _udp(found: list[Finding], check: str, asset: str, port: int) -> list[Finding]:
    return [f for f in found if f.check_id == check and f.asset.id == asset and f.endpoint
            and f.endpoint.port == port and f.endpoint.transport == "udp"]


def _families(found: list[Finding]) -> set[str]:
    """The families judged: one finding per key (the worst), whose evidence names the other
    addresses of the same port (``other_addresses``)."""
    addresses = [f.endpoint.address for f in found if f.endpoint]
    addresses += [o["address"] for f in found for o in f.evidence.get("other_addresses", ())]
    return {"ipv6" if ":" in a else "ipv4" for a in addresses}


def test_snmp_is_found_on_udp_and_judged_high_risk(udp_findings: list[Finding]) -> None:
    for asset in ("sw1.test", "rtr1.test"):
        risky = _udp(udp_findings, "DB-CES-HIGHRISKPORT", asset, 161)
        assert len(risky) == 1 and _families(risky) == {"ipv4", "ipv6"}, asset
        assert all(f.evaluation is Evaluation.FAILED and f.protocol == "udp" for f in risky)


def test_snmp_community_is_cleartext_but_v3_is_not(udp_findings: list[Finding]) -> None:
    v1 = _udp(udp_findings, "DB-CES-CREDPLAIN", "sw1.test", 161)
    v3 = _udp(udp_findings, "DB-CES-CREDPLAIN", "rtr1.test", 161)
    assert v1 and all(f.evaluation is Evaluation.FAILED for f in v1)
    assert v3 and all(f.evaluation is Evaluation.PASSED for f in v3)


def test_dns_on_udp_is_allowed_in_the_management_zone(udp_findings: list[Finding]) -> None:
    dns = _udp(udp_findings, "EXP-SVC-NOTALLOWED", "ns1.test", 53)
    assert len(dns) == 1 and _families(dns) == {"ipv4", "ipv6"}
    assert all(f.evaluation is Evaluation.PASSED for f in dns)


def _agent(manifest: Manifest, segment: str) -> str:
    return next(h.id for h in manifest.hosts if h.segment == segment and h.id != "ws")


def test_sentinel_discover_stores_router_adverts_per_segment(
        lab: LabStatus, manifest: Manifest, tmp_path: Path) -> None:
    store_path = tmp_path / "sentinel.db"
    for segment in ("psb", "data"):  # one after the other: one SQLite writer at a time
        done = subprocess.run(
            ["ip", "netns", "exec", f"sl-{_agent(manifest, segment)}", sys.executable, "-m",
             "sentinel.cli", "discover", "--playbook", str(PLAYBOOK), "--segment", segment,
             "--store", str(store_path)],
            cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
        assert done.returncode == 0, done.stderr
    with SqliteStore(store_path) as store:
        ra = {f["sentinel"]["segment"]: f for f in store.findings(
            check_id="V6-RA", evaluations=("passed", "failed"))}
        assert ra["psb"]["result"]["evaluation"] == "failed"
        assert ra["data"]["result"]["evaluation"] == "passed"
        assert ra["data"]["sentinel"]["evidence"]["prefixes"] == ["2001:db8:11::/64"]
        ws = [d for scan in store.scans() for d in store.assets(scan.id)
              if d["host"]["id"] == "ws.test"]
        assert {d["sentinel"]["facts"]["discovery"]["family"] for d in ws} == {"ipv4", "ipv6"}
