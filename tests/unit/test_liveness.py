"""Discovery as a scan phase, without the network: what is swept, what is planned, and how
UDP services from nmap are judged."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from itertools import islice
from pathlib import Path
from typing import Any

from sentinel.assess.base import AssetView
from sentinel.assess.exposure import assess_exposure
from sentinel.assess.ipv6 import assess_ipv6
from sentinel.model import Asset, AttemptStatus, Context, Endpoint, Evaluation, Observation
from sentinel.playbook import NmapProbeConfig, Playbook, RateLimits, load_playbook
from sentinel.probes.base import Network
from sentinel.probes.nmap_scan import nmap_arguments, parse_nmap_xml, udp_scan_ports
from sentinel.scan.engine import AssetPlan
from sentinel.scan.liveness import Liveness, sweep_targets
from sentinel.scan.plan import asset_plans
from sentinel.scope import Gate, policy_from

BOOK = """\
name: swept
agencies: [{id: a1, name: {zh: 甲, en: A}}]
scope: {authorised: ["198.18.0.0/15", "2001:db8::/32"]}
assets: [{id: db, addresses: ["198.18.2.5", "2001:db8:2::5"]}]
segments:
  - {id: open, agency: a1, cidrs: ["198.18.0.0/16"], zone: extranet}
  - {id: listed, agency: a1, cidrs: ["198.18.2.0/24", "2001:db8:2::/64"], zone: extranet,
     hosts: ["198.18.2.5", "2001:db8:2::5", "198.18.2.6"]}
probes: {discovery: {methods: [icmp, icmpv6, syn]}, tcp: {ports: [22, 80]}}
"""
WHEN = datetime(2026, 1, 1, tzinfo=UTC)


def book() -> Playbook:
    return load_playbook(Path("swept.yml"), text=BOOK)


def test_a_large_cidr_is_allowed_with_discovery_and_swept_lazily() -> None:
    playbook = book()
    targets = sweep_targets(playbook, ["2001:db8:2::99"])
    first = list(islice(targets, 6))
    assert first == ["198.18.2.5", "2001:db8:2::5", "198.18.2.6", "2001:db8:2::99",
                     "198.18.0.1", "198.18.0.2"]
    rest = list(targets)
    assert len(rest) == 65534 - 2 - 2  # the /16 without the two known ones already swept
    assert "198.18.2.5" not in rest


def _plans(live: Liveness) -> list[AssetPlan]:
    return [p for p in asset_plans(book(), "s", live=live) if not p.asset_id.startswith("site")]


def test_only_live_addresses_are_probed_and_dead_ones_recorded_once() -> None:
    live = Liveness(("icmp", "icmpv6", "syn"), up={"198.18.2.5": ["icmp-echo"],
                                                     "198.18.9.9": ["tcp-syn"]})
    plans = {p.asset_id: p for p in _plans(live)}
    assert set(plans) == {"db", "198.18.2.6", "198.18.9.9"}  # the /16: its live host only
    db = [(j.probe.kind, j.target.endpoint.address, j.target.endpoint.port)
          for j in plans["db"].jobs]
    assert db == [("discovery", "198.18.2.5", None), ("discovery", "2001:db8:2::5", None),
                  ("tcp", "198.18.2.5", 22), ("tcp", "198.18.2.5", 80)]
    dead = plans["198.18.2.6"].jobs
    assert [j.probe.kind for j in dead] == ["discovery"]
    network = Network(Gate(policy_from(["198.18.0.0/15"]), RateLimits()), 1.0)
    facts = asyncio.run(dead[0].probe.run(dead[0].target, network))
    assert facts["state"] == "down" and facts["methods"] == []


def test_a_family_no_method_sweeps_is_probed_as_before() -> None:
    live = Liveness(("icmp",), up={"198.18.2.5": ["icmp-echo"]})
    assert live.is_up("2001:db8:2::5") and live.facts("2001:db8:2::5")["state"] == "not-swept"
    assert not live.is_up("198.18.2.6")


def _obs(probe: str, address: str, facts: dict[str, Any], port: int | None = None) -> Observation:
    return Observation(probe=probe, context=Context(scan_id="s", agency_id="a1",
                                                    segment_id="listed"),
                       asset=Asset(id="db"), endpoint=Endpoint(address=address, port=port),
                       status=AttemptStatus.COMPLETED, facts=facts, started=WHEN)


def _view(observations: list[Observation], zone: str = "extranet") -> AssetView:
    segment = book().segments[1].model_copy(update={"zone": zone})
    return AssetView(Asset(id="db"), observations[0].context, segment, observations)


def test_dual_stack_counts_an_ipv6_address_only_when_it_answered() -> None:
    tcp = _obs("tcp", "198.18.2.5", {"state": "open"}, 22)
    up6 = _obs("discovery", "2001:db8:2::5", {"state": "up"})
    down6 = _obs("discovery", "2001:db8:2::5", {"state": "down"})
    passed = [f for f in assess_ipv6(_view([tcp, up6])) if f.check_id == "V6-DUALSTACK"]
    failed = [f for f in assess_ipv6(_view([tcp, down6])) if f.check_id == "V6-DUALSTACK"]
    assert passed[0].evaluation is Evaluation.PASSED
    assert passed[0].evidence["alive"] == ["2001:db8:2::5"]
    assert failed[0].evaluation is Evaluation.FAILED


NMAP_XML = """<?xml version="1.0"?><nmaprun><host><status state="up"/>
<address addr="198.18.30.161" addrtype="ipv4"/><ports>
<port protocol="udp" portid="161"><state state="open"/><service name="snmp"
 product="SNMPv1 server" extrainfo="public"/></port>
<port protocol="udp" portid="623"><state state="open|filtered"/><service name="asf-rmcp"/></port>
<port protocol="udp" portid="53"><state state="open"/><service name="domain"/></port>
</ports></host><host><status state="up"/><address addr="198.18.30.162" addrtype="ipv4"/>
<ports><port protocol="udp" portid="161"><state state="open"/><service name="snmp"
 product="net-snmp"/></port></ports></host></nmaprun>"""


def _nmap_findings(index: int, zone: str = "management") -> dict[tuple[str, int], Evaluation]:
    host = parse_nmap_xml(NMAP_XML)[index]
    obs = _obs("nmap", host.address, {"ports": [p.facts() for p in host.ports]})
    return {(f.check_id, f.endpoint.port or 0): f.evaluation
            for f in assess_exposure(_view([obs], zone)) if f.endpoint
            and f.endpoint.transport == "udp"}


def test_udp_ports_from_nmap_are_judged_and_snmpv3_is_not_cleartext() -> None:
    v1 = _nmap_findings(0)
    assert v1[("DB-CES-HIGHRISKPORT", 161)] is Evaluation.FAILED
    assert v1[("DB-CES-CREDPLAIN", 161)] is Evaluation.FAILED
    assert ("DB-CES-HIGHRISKPORT", 623) not in v1  # open|filtered is not a finding
    assert v1[("DB-CES-CREDPLAIN", 53)] is Evaluation.PASSED
    v3 = _nmap_findings(1)
    assert v3[("DB-CES-HIGHRISKPORT", 161)] is Evaluation.FAILED
    assert v3[("DB-CES-CREDPLAIN", 161)] is Evaluation.PASSED


def test_udp_scan_uses_the_catalog_ports_at_low_intensity() -> None:
    config = NmapProbeConfig()
    assert udp_scan_ports(config) == (53, 69, 137, 138, 161, 500, 623, 4500)
    assert udp_scan_ports(NmapProbeConfig(udp_ports=())) == ()
    args = nmap_arguments("2001:db8:30::161", [161, 623], RateLimits(), config, udp=True)
    assert args[:6] == ["-6", "-n", "-Pn", "-sU", "-sV", "--version-intensity"]
    assert args[6] == "0" and args[args.index("-p") + 1] == "161,623"
