"""Exposure and IPv6 findings on the lab equal the properties its manifest built in.

The lab playbook is run through the real plan, engine and assessors (tcp probes, the site
probe and, for a few hosts, the nmap service scan); findings are compared with the manifest.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from pathlib import Path

import pytest

from sentinel.assess import AssetView, assess
from sentinel.lab import LabStatus, Manifest
from sentinel.model import Evaluation, Finding, Observation
from sentinel.playbook import NmapProbeConfig, Playbook, load_playbook
from sentinel.probes.base import Network
from sentinel.scan.engine import AssetPlan, Engine
from sentinel.scan.plan import asset_plans
from sentinel.scan.run import policy_for
from sentinel.scope import Gate
from sentinel.severity import Severity

pytestmark = pytest.mark.lab
PLAYBOOK = Path(__file__).resolve().parents[3] / "playbooks" / "lab.yml"
NMAP_HOSTS = {"www.city.test", "legacy.test", "telnet.test"}


def _scan(playbook: Playbook, only: Iterable[str] | None = None) -> list[Finding]:
    gate = Gate(policy_for(playbook), playbook.rate)
    engine = Engine(Network(gate, playbook.rate.probe_timeout_s),
                    probe_timeout=playbook.rate.probe_timeout_s)
    findings: list[Finding] = []
    wanted = set(only) if only is not None else None

    async def done(plan: AssetPlan, observations: list[Observation]) -> None:
        target = plan.jobs[0].target
        findings.extend(assess(AssetView(target.asset, target.context, target.segment,
                                         observations)))

    plans = (p for p in asset_plans(playbook, "lab-test")
             if wanted is None or p.asset_id in wanted)
    asyncio.run(engine.run(plans, done))
    assert not gate.refusals
    return findings


@pytest.fixture(scope="module")
def findings(lab: LabStatus) -> list[Finding]:
    """tcp + site probes over the whole lab (no TLS enumeration: another test covers it)."""
    playbook = load_playbook(PLAYBOOK)
    playbook = playbook.model_copy(update={"probes": playbook.probes.model_copy(
        update={"tls": None})})
    return _scan(playbook)


@pytest.fixture(scope="module")
def nmap_findings(lab: LabStatus) -> list[Finding]:
    """The nmap service scan (-sV, no extra top ports) of three hosts on both families."""
    playbook = load_playbook(PLAYBOOK)
    probes = playbook.probes.model_copy(update={
        "tls": None, "tcp": None, "nmap": NmapProbeConfig(top_ports=0, budget_s=120)})
    return _scan(playbook.model_copy(update={"probes": probes}), NMAP_HOSTS)


def _one(found: list[Finding], check: str, asset: str) -> Finding:
    matches = [f for f in found if f.check_id == check and f.asset.id == asset]
    assert len(matches) == 1, (check, asset, matches)
    return matches[0]


def test_v6_aaaa_follows_the_manifest_for_every_website(findings: list[Finding],
                                                        manifest: Manifest) -> None:
    """Website indicators only where a website is served (the site has a URL): a switch,
    a name server or a telnet host gets none of V6-AAAA/NS/SCORE (issue 18 item 4)."""
    websites = {s.hostname for s in load_playbook(PLAYBOOK).sites if s.url is not None}
    assert {"portal.test", "legacy.test", "www.city.test"} <= websites
    for host in manifest.hosts:
        if not host.services:
            continue
        if host.hostname in websites:
            verdict = _one(findings, "V6-AAAA", f"site:{host.hostname}").evaluation
            assert verdict is (Evaluation.PASSED if host.aaaa else Evaluation.FAILED), host.id
        else:
            assert not [f for f in findings if f.asset.id == f"site:{host.hostname}"], host.id
    assert not [f for f in findings if f.asset.id == "site:sw1.test"]


def test_v6_ns_fails_because_ns2_has_no_ipv6(findings: list[Finding]) -> None:
    # judged from each website it serves, on the name server as the website's agency depends
    # on it (stored once per agency: ScanRecorder)
    ns = [f for f in findings if f.check_id == "V6-NS" and f.asset.id == "ns:ns2.test@prov-data"]
    assert ns and all(f.evaluation is Evaluation.FAILED for f in ns)
    assert all(f.evidence["not_v6"] == ["ns2.test"] for f in ns)
    assert "portal.test" in {w for f in ns for w in f.evidence["websites"]}
    assert not [f for f in findings if f.check_id == "V6-NS" and f.asset.id.startswith("site:")]


def test_homepages_with_aaaa_answer_over_ipv6_every_time(findings: list[Finding]) -> None:
    for site in ("portal.test", "www.city.test", "v6portal.test"):
        home = _one(findings, "V6-HOME", f"site:{site}")
        assert home.evaluation is Evaluation.PASSED and home.evidence["success_rate"] == 1.0
    assert _one(findings, "V6-HOME", "site:login.test").evaluation is Evaluation.FAILED


def test_link_ratios_count_links_to_ipv4_only_sites(findings: list[Finding]) -> None:
    city = _one(findings, "V6-LINK2", "site:www.city.test")  # its index links login.test
    assert city.evaluation is Evaluation.FAILED
    assert city.evidence["ratio"] == pytest.approx(0.75)
    assert [f["url"] for f in city.evidence["failed"]] == ["http://login.test/"]
    assert _one(findings, "V6-LINK3", "site:www.city.test").evaluation is Evaluation.PASSED
    assert _one(findings, "V6-LINK2", "site:portal.test").evaluation is Evaluation.PASSED


def test_scores_rank_ready_sites_above_ipv4_only_ones(findings: list[Finding]) -> None:
    def score(site: str) -> float:
        return float(_one(findings, "V6-SCORE", f"site:{site}").evidence["score"])

    assert score("v6portal.test") > score("login.test")
    assert score("portal.test") > score("legacy.test")
    assert score("login.test") < 50


def test_web_admin_on_ipv6_only_fails_secparity(findings: list[Finding]) -> None:
    parity = _one(findings, "V6-SECPARITY", "www.city.test")
    assert parity.evaluation is Evaluation.FAILED
    assert parity.evidence["ipv6_only"] == [8080]
    for dual in ("portal.test", "db.city.test", "ftp.city.test"):
        assert _one(findings, "V6-SECPARITY", dual).evaluation is Evaluation.PASSED


def test_exposure_matches_what_each_host_runs(findings: list[Finding]) -> None:
    failed = {(f.check_id, f.asset.id, f.endpoint.port if f.endpoint else None)
              for f in findings if f.evaluation is Evaluation.FAILED}
    assert ("DB-CES-CREDPLAIN", "telnet.test", 23) in failed
    assert ("DB-CES-CREDPLAIN", "ftp.city.test", 21) in failed
    assert ("DB-CES-HIGHRISKPORT", "db.city.test", 6379) in failed
    assert ("DB-CES-MGMTACL", "oldssh.test", 22) in failed
    assert ("DB-CES-MGMTACL", "bastion.test", 22) not in failed  # the management zone
    assert ("EXP-SVC-NOTALLOWED", "telnet.test", 23) in failed


def test_dual_stack_hosts_pass_and_psb_hosts_fail_nothing_for_missing_prefix(
        findings: list[Finding]) -> None:
    assert _one(findings, "V6-DUALSTACK", "portal.test").evaluation is Evaluation.PASSED
    # psb has no IPv6 prefix: no dual-stack judgement there.
    assert not [f for f in findings if f.check_id == "V6-DUALSTACK" and f.asset.id == "login.test"]


def test_nmap_names_services_and_keeps_tls_tunnels(nmap_findings: list[Finding]) -> None:
    parity = _one(nmap_findings, "V6-SECPARITY", "www.city.test")
    assert parity.evaluation is Evaluation.FAILED and parity.evidence["ipv6_only"] == [8080]
    legacy = [f for f in nmap_findings if f.asset.id == "legacy.test"
              and f.check_id == "EXP-SVC-NOTALLOWED" and f.endpoint and f.endpoint.port == 443]
    assert legacy and all(f.evidence["tunnel"] == "ssl" for f in legacy)
    assert all(f.evidence["service"] == "https" for f in legacy)
    telnet = _one(nmap_findings, "DB-CES-CREDPLAIN", "telnet.test")
    assert telnet.evaluation is Evaluation.FAILED and telnet.severity is Severity.HIGH
