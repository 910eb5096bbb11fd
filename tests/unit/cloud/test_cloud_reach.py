"""Declared against observed: the judgement of CLOUD-DRIFT, CLOUD-ISOLATION and
CLOUD-ALLOWED-UNUSED on the lab's declared inventory (lab/cloud/openstack), with the TCP
states a probe would report given as facts (the lab test sends the real connects)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from sentinel.assess.base import AssetView
from sentinel.assess.cloud import allowing, assess_cloud
from sentinel.lab.cloud_fw import load_lab_cloud
from sentinel.model import AttemptStatus, Evaluation, Finding, Observation
from sentinel.playbook import Playbook, load_playbook
from sentinel.scan.cloud_import import reach_plans

WHEN = datetime(2026, 12, 4, tzinfo=UTC)
LAB = load_lab_cloud()
SCANNER = ["198.18.0.1", "2001:db8::1"]
T1_HOST = ["198.18.20.31", "2001:db8:20::31"]  # tlcp, an instance of cloud-t1


@pytest.fixture(scope="module")
def book(tmp_path_factory: pytest.TempPathFactory) -> Playbook:
    path: Path = tmp_path_factory.mktemp("pb") / "playbook.yml"
    path.write_text(
        "name: cloud-reach\n"
        "agencies:\n"
        "  - {id: cloud-t1, name: {zh: 租户一, en: Tenant one}}\n"
        "  - {id: cloud-t2, name: {zh: 租户二, en: Tenant two}}\n"
        "scope: {authorised: ['198.18.0.0/15', '2001:db8::/32']}\n"
        "segments:\n"
        "  - {id: cloud, agency: cloud-t1, cidrs: ['198.18.20.0/24'], zone: cloud-tenant}\n"
        "probes: {tcp: {ports: [22, 80, 443, 6379]}}\n"
        "tenants:\n" + "".join(
            f"  - {{id: {t['id']}, agency: {t['agency']}, provider: openstack, "
            f"project: {t['project']}}}\n" for t in LAB.tenants),
        encoding="utf-8")
    return load_playbook(path)


def _judge(book: Playbook, vantage: dict[str, object],
           states: dict[tuple[str, int], str]) -> list[Finding]:
    """Assess every planned asset; a TCP job's state is ``states`` (default filtered)."""
    out: list[Finding] = []
    for plan in reach_plans(book, LAB.inventory, "s", vantage=vantage):
        observations = []
        for job in plan.jobs:
            target = job.target
            if job.probe.kind == "cloud":
                facts = job.probe.facts[target.asset.id]  # type: ignore[attr-defined]
            else:
                port = target.endpoint.port
                assert port is not None
                facts = {"port": port,
                         "state": states.get((target.endpoint.address, port), "filtered")}
            observations.append(Observation(
                probe=job.probe.kind, context=target.context, asset=target.asset,
                endpoint=target.endpoint, status=AttemptStatus.COMPLETED, facts=facts,
                started=WHEN))
        first = plan.jobs[0].target
        out += assess_cloud(AssetView(first.asset, first.context, first.segment, observations))
    return out


# What the lab serves (every lab instance serves 443; tongsuo 8443 too; t2ssh 22; t2cache
# 6379), as seen from the scanner: the nftables drop what the groups deny, except the drift.
FROM_SCANNER = {**{(a, 443): "open" for a in ("198.18.21.10", "2001:db8:21::10")},
                ("198.18.21.10", 80): "closed", ("2001:db8:21::10", 80): "closed",
                ("198.18.21.30", 6379): "open"}


def _failed(findings: list[Finding], check: str) -> list[Finding]:
    return [f for f in findings if f.check_id == check and f.evaluation is Evaluation.FAILED]


def test_a_denied_port_that_answers_is_one_drift_with_why(book: Playbook) -> None:
    found = _judge(book, {"tenant": None, "addresses": SCANNER}, FROM_SCANNER)
    (drift,) = _failed(found, "CLOUD-DRIFT")
    assert drift.endpoint is not None
    assert (drift.endpoint.address, drift.endpoint.port) == ("198.18.21.30", 6379)
    assert drift.context.tenant == "cloud-t2" and drift.context.agency_id == "cloud-t2"
    ev = drift.evidence
    assert ev["family"] == "IPv4" and ev["source"] == "198.18.0.1"
    assert ev["groups"] == ["t2-cache"]
    assert ev["why_denied"] == ("tcp/6379 over IPv4 is open only to "
                                "tcp/6379 from group " + LAB.inventory.groups[2].id
                                + " (IPv4) (t2-cache)")
    # the allowed 443s passed; nothing else is judged a drift
    passed = [f for f in found if f.check_id == "CLOUD-DRIFT"
              and f.evaluation is Evaluation.PASSED]
    assert sorted((f.endpoint.address, f.endpoint.port) for f in passed if f.endpoint) == [
        ("198.18.21.10", 443), ("2001:db8:21::10", 443)]
    assert not _failed(found, "CLOUD-ISOLATION")


def test_an_allowed_port_that_refuses_is_info(book: Playbook) -> None:
    found = _judge(book, {"tenant": None, "addresses": SCANNER}, FROM_SCANNER)
    unused = _failed(found, "CLOUD-ALLOWED-UNUSED")
    assert sorted((f.endpoint.address, f.endpoint.port) for f in unused if f.endpoint) == [
        ("198.18.21.10", 80), ("2001:db8:21::10", 80)]
    assert {f.severity.value for f in unused} == {"info"}
    assert unused[0].evidence["allowed_by"][0].startswith("tcp/80 from")


def test_families_are_judged_apart(book: Playbook) -> None:
    # v6 6379 open from the scanner: the IPv6 rule allows only t2web's IPv6 address
    states = {**FROM_SCANNER, ("2001:db8:21::30", 6379): "open"}
    found = _judge(book, {"tenant": None, "addresses": SCANNER}, states)
    assert sorted(f.evidence["family"] for f in _failed(found, "CLOUD-DRIFT")) == [
        "IPv4", "IPv6"]
    # the web tier's own address is allowed by the remote group: no drift from there
    source = ["198.18.21.10"]
    from_web = _judge(book, {"tenant": None, "addresses": source},
                      {("198.18.21.30", 6379): "open"})
    assert not _failed(from_web, "CLOUD-DRIFT")


def test_isolation_from_another_tenant(book: Playbook) -> None:
    states = {("198.18.21.10", 443): "open", ("198.18.21.30", 6379): "open",
              ("198.18.21.20", 22): "filtered"}
    found = _judge(book, {"tenant": "cloud-t1", "addresses": T1_HOST}, states)
    (gap,) = _failed(found, "CLOUD-ISOLATION")
    assert gap.endpoint is not None
    assert (gap.endpoint.address, gap.endpoint.port) == ("198.18.21.30", 6379)
    assert gap.evidence["from_tenant"] == "cloud-t1" and gap.context.tenant == "cloud-t2"
    assert gap.severity.value == "high"
    # only the other tenant's instances are probed from inside cloud-t1
    assert {f.context.tenant for f in found} == {"cloud-t2"}
    assert not _failed(found, "CLOUD-DRIFT") and not _failed(found, "CLOUD-ALLOWED-UNUSED")


def test_allowing_reads_port_ranges_protocols_and_sources() -> None:
    entries = [{"group": "g", "rule": "r", "family": 4, "protocol": "tcp", "port_min": 1000,
                "port_max": 2000, "sources": ["198.18.20.0/24"]},
               {"group": "g", "rule": "any6", "family": 6, "protocol": None, "port_min": None,
                "port_max": None, "sources": ["::/0"]}]
    assert [e["rule"] for e in allowing(entries, "198.18.20.5", 1500, "tcp")] == ["r"]
    assert allowing(entries, "198.18.20.5", 2001, "tcp") == []
    assert allowing(entries, "198.18.21.5", 1500, "tcp") == []
    assert allowing(entries, "198.18.20.5", 1500, "udp") == []
    assert [e["rule"] for e in allowing(entries, "2001:db8::9", 9, "udp")] == ["any6"]
    off = [{"port_security": False, "group": None, "rule": "port security disabled"}]
    assert allowing(off, "198.18.0.1", 1, "tcp") == off
