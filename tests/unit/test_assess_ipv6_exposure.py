"""IPv6 readiness and exposure assessors on constructed facts: no network."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from typing import Any

import pytest

from sentinel.assess.base import AssetView
from sentinel.assess.exposure import assess_exposure
from sentinel.assess.ipv6 import assess_ipv6, degradation, score_site
from sentinel.catalog import ipv6 as catalog
from sentinel.model import Asset, AttemptStatus, Context, Endpoint, Evaluation, Observation
from sentinel.playbook import Segment
from sentinel.severity import Severity

WHEN = datetime(2026, 1, 1, tzinfo=UTC)


def obs(probe: str, address: str, port: int | None, facts: dict[str, Any]) -> Observation:
    return Observation(probe=probe, context=Context(scan_id="s", agency_id="a", segment_id="g"),
                       asset=Asset(id="h"), endpoint=Endpoint(address=address, port=port),
                       status=AttemptStatus.COMPLETED, facts=facts, started=WHEN)


def view(observations: list[Observation], zone: str = "extranet",
         allowed: tuple[str, ...] = ()) -> AssetView:
    segment = Segment(id="g", agency="a", cidrs=("198.18.13.0/24", "2001:db8:13::/64"),
                      zone=zone, allowed_services=allowed)  # type: ignore[arg-type]
    return AssetView(Asset(id="h"), observations[0].context, segment, observations)


def by_check(findings: list[Any]) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {}
    for f in findings:
        out.setdefault(f.check_id, []).append(f)
    return out


def home(rate: float, title: str = "t", size: int = 100, fb: float = 1.0) -> dict[str, Any]:
    return {"address": "x", "attempts": 5, "successes": int(rate * 5), "success_rate": rate,
            "title": title, "size": size, "connect_ms": 0.5, "first_byte_ms": fb}


def site(aaaa: bool = True, v6_rate: float = 1.0, link2: float | None = 1.0,
         ns_ok: tuple[bool, ...] = (True,), **extra: Any) -> dict[str, Any]:
    return {
        "hostname": "www.x.test", "url": "http://www.x.test/",
        "dns": {"a": ["198.18.13.10"], "aaaa": ["2001:db8:13::10"] if aaaa else [],
                "dns_ms": {"ipv4": 1.0, "ipv6": 1.0}, "zone": "test.",
                "name_servers": [{"name": f"ns{i}.test", "v6_ok": ok}
                                 for i, ok in enumerate(ns_ok)]},
        "home": {"ipv4": home(1.0), "ipv6": home(v6_rate) if aaaa else None},
        "links": {"2": {"total": 4, "ok": int((link2 or 0) * 4), "ratio": link2, "failed": []},
                  "3": {"total": 3, "ok": 3, "ratio": 1.0, "failed": []}},
        **extra,
    }


def test_a_fully_ready_site_scores_100_and_passes_everything() -> None:
    findings = by_check(assess_ipv6(view([obs("site", "198.18.30.53", None, site())])))
    checks = ("V6-AAAA", "V6-NS", "V6-HOME", "V6-CONSIST", "V6-LINK2", "V6-LINK3",
              "V6-PERF", "V6-SCORE")
    assert {k: v[0].evaluation for k, v in findings.items()} == dict.fromkeys(
        checks, Evaluation.PASSED)
    assert findings["V6-SCORE"][0].evidence["score"] == 100.0


def test_no_aaaa_fails_aaaa_home_and_consistency() -> None:
    found = by_check(assess_ipv6(view([obs("site", "198.18.30.53", None, site(aaaa=False))])))
    for check in ("V6-AAAA", "V6-HOME", "V6-CONSIST", "V6-SCORE"):
        assert found[check][0].evaluation is Evaluation.FAILED, check


def test_one_name_server_without_ipv6_fails_v6_ns_and_costs_half_its_weight() -> None:
    facts = site(ns_ok=(True, False))
    found = by_check(assess_ipv6(view([obs("site", "198.18.30.53", None, facts)])))
    ns = {f.asset.id: f for f in found["V6-NS"]}  # one finding per name server
    assert ns["ns:ns1.test@a"].evaluation is Evaluation.FAILED
    assert ns["ns:ns1.test@a"].evidence["not_v6"] == ["ns1.test"]
    assert ns["ns:ns0.test@a"].evaluation is Evaluation.PASSED
    weights = catalog.ipv6_policy().weights
    expected = 100 * (sum(weights.values()) - weights["ns"] / 2) / sum(weights.values())
    assert score_site(facts, catalog.ipv6_policy()).value == pytest.approx(expected, abs=0.1)


def test_a_name_server_this_vantage_cannot_reach_over_ipv6_is_not_judged() -> None:
    """From an IPv4-only segment (an agent there) the probe cannot ask anything over IPv6:
    that name server gets no V6-NS from this vantage and does not count in the score; the
    one it could ask is judged as ever."""
    facts = site(ns_ok=(True, False))
    facts["dns"]["name_servers"][1].update(
        {"aaaa": ["2001:db8:30::53"], "answers_v6": {}, "unmeasured_v6": ["2001:db8:30::53"]})
    found = by_check(assess_ipv6(view([obs("site", "198.18.30.53", None, facts)])))
    assert [f.asset.id for f in found["V6-NS"]] == ["ns:ns0.test@a"]
    assert found["V6-NS"][0].evaluation is Evaluation.PASSED
    assert found["V6-SCORE"][0].evidence["components"]["ns"] == 1.0


def test_has_route_asks_the_kernel_and_sends_nothing() -> None:
    """In an empty network namespace (no route at all) no lab address has a route; once the
    namespace routes the IPv6 lab prefix (to its own loopback), that address has one and the
    IPv4 one still not. The check is a UDP connect: strace sees no datagram sent."""
    code = ("from sentinel.probes.routes import has_route; "
            "print(has_route('2001:db8:30::53'), has_route('198.18.30.53'))")
    script = ("ip link set lo up && ip -6 route add 2001:db8:30::/64 dev lo && "
              "strace -f -qq -e trace=connect,sendto,sendmsg,sendmmsg "
              f"{sys.executable} -c \"$1\"")
    bare = subprocess.run(["unshare", "-n", sys.executable, "-c", code], capture_output=True,
                          text=True, check=True, timeout=60)
    assert bare.stdout.split() == ["False", "False"]
    routed = subprocess.run(["unshare", "-n", "sh", "-c", script, "sh", code],
                            capture_output=True, text=True, check=True, timeout=60)
    assert routed.stdout.split() == ["True", "False"]
    assert "connect(" in routed.stderr and "2001:db8:30::53" in routed.stderr  # traced
    assert "send" not in routed.stderr


def test_link_ratio_threshold_is_data_and_flagged_unverified() -> None:
    found = by_check(assess_ipv6(view([obs("site", "198.18.30.53", None, site(link2=0.75))])))
    link2 = found["V6-LINK2"][0]
    assert link2.evaluation is Evaluation.FAILED
    assert link2.evidence["threshold"] == catalog.ipv6_policy().thresholds["link2_ratio"].value
    assert link2.evidence["threshold_status"] == "unverified"


def test_success_rate_below_threshold_fails_home() -> None:
    found = by_check(assess_ipv6(view([obs("site", "198.18.30.53", None, site(v6_rate=0.8))])))
    assert found["V6-HOME"][0].evaluation is Evaluation.FAILED


def test_degradation_ratio_uses_a_floor_and_fails_a_slow_ipv6_path() -> None:
    facts = site()
    facts["home"]["ipv6"]["first_byte_ms"] = 30.0  # v4 1 ms, floor 5 ms: (30-1)/5 = 5.8
    assert degradation(facts, 5.0)["first_byte"] == pytest.approx(5.8)
    found = by_check(assess_ipv6(view([obs("site", "198.18.30.53", None, facts)])))
    assert found["V6-PERF"][0].evaluation is Evaluation.FAILED
    assert found["V6-PERF"][0].severity is Severity.LOW


def test_a_name_only_site_is_scored_on_dns_components_and_marked_partial() -> None:
    facts = {"hostname": "ftp.x.test", "url": None, "dns": site(aaaa=False)["dns"]}
    score = score_site(facts, catalog.ipv6_policy())
    assert score.partial and score.components["home"] is None
    assert score.value == pytest.approx(100 * 10 / 30, abs=0.1)  # ns only: 10 of aaaa+ns 30


def nmap_obs(address: str, ports: list[tuple[int, str]]) -> Observation:
    return obs("nmap", address, None, {"ports": [
        {"port": p, "protocol": "tcp", "state": "open", "name": n} for p, n in ports]})


def test_a_port_open_only_on_ipv6_fails_secparity() -> None:
    found = by_check(assess_exposure(view([
        nmap_obs("198.18.13.10", [(80, "http")]),
        nmap_obs("2001:db8:13::10", [(80, "http"), (8080, "http")]),
    ], allowed=("http",))))
    parity = found["V6-SECPARITY"][0]
    assert parity.evaluation is Evaluation.FAILED
    assert parity.evidence["ipv6_only"] == [8080]
    assert parity.severity is Severity.MEDIUM


def test_a_port_whose_ipv4_attempt_timed_out_is_not_called_ipv6_only() -> None:
    """On a loaded link the IPv4 connect to 8080 timed out: that port was not measured over
    IPv4, so it is not "open only over IPv6"; 9090, closed over IPv4, still is."""
    timed_out = obs("tcp", "198.18.13.10", 8080, {})
    timed_out = timed_out.model_copy(update={"status": AttemptStatus.ERROR})
    found = by_check(assess_exposure(view([
        obs("tcp", "198.18.13.10", 80, {"state": "open"}), timed_out,
        obs("tcp", "198.18.13.10", 9090, {"state": "closed"}),
        obs("tcp", "2001:db8:13::10", 80, {"state": "open"}),
        obs("tcp", "2001:db8:13::10", 8080, {"state": "open"}),
        obs("tcp", "2001:db8:13::10", 9090, {"state": "open"}),
    ], allowed=("http",))))
    parity = found["V6-SECPARITY"][0]
    assert parity.evidence["ipv6_only"] == [9090]
    assert parity.evidence["ipv4_not_measured"] == [8080]


def test_a_high_risk_port_only_on_ipv6_makes_secparity_high() -> None:
    found = by_check(assess_exposure(view([
        nmap_obs("198.18.13.10", []), nmap_obs("2001:db8:13::10", [(6379, "redis")])])))
    assert found["V6-SECPARITY"][0].severity is Severity.HIGH


def test_nmap_name_recognises_a_database_on_a_non_standard_port() -> None:
    found = by_check(assess_exposure(view([nmap_obs("198.18.13.10", [(13306, "mysql")])])))
    assert found["DB-CES-HIGHRISKPORT"][0].evaluation is Evaluation.FAILED
    assert found["DB-CES-HIGHRISKPORT"][0].evidence["service"] == "mysql"


def test_management_port_in_a_business_zone_fails_mgmtacl_but_not_in_mgmt() -> None:
    ssh = [nmap_obs("198.18.13.10", [(22, "ssh")])]
    assert by_check(assess_exposure(view(ssh)))["DB-CES-MGMTACL"][0].evaluation \
        is Evaluation.FAILED
    assert by_check(assess_exposure(view(ssh, zone="management")))["DB-CES-MGMTACL"][0] \
        .evaluation is Evaluation.PASSED


def test_kubelet_in_a_cloud_tenant_fails_mgmtplane() -> None:
    found = by_check(assess_exposure(view([nmap_obs("198.18.13.10", [(10250, "unknown")])],
                                          zone="cloud-tenant")))
    assert found["DB-CLOUD-MGMTPLANE"][0].evaluation is Evaluation.FAILED


def test_cleartext_telnet_fails_credplain() -> None:
    found = by_check(assess_exposure(view([nmap_obs("198.18.12.23", [(23, "telnet")])])))
    assert found["DB-CES-CREDPLAIN"][0].evaluation is Evaluation.FAILED


def test_ra_absent_fails_and_ra_present_passes() -> None:
    for adverts, expected in (([], Evaluation.FAILED),
                              ([{"prefixes": [{"prefix": "2001:db8:11::/64"}]}],
                               Evaluation.PASSED)):
        found = assess_ipv6(view([obs("discovery", "198.18.11.20", None,
                                      {"router_advertisements": adverts})]))
        assert [f.evaluation for f in found if f.check_id == "V6-RA"] == [expected]


def test_a_name_without_a_website_gets_no_website_indicators() -> None:
    """A switch (sw1.test) has a name but no website: no V6-AAAA/NS/SCORE for it (issue 18
    item 4); a website in the same zone still gets them."""
    switch = {"hostname": "sw1.test", "url": None,
              "dns": site(aaaa=False, ns_ok=(True, False))["dns"]}
    assert assess_ipv6(view([obs("site", "198.18.30.53", None, switch)])) == []
    web = by_check(assess_ipv6(view([obs("site", "198.18.30.53", None,
                                         site(ns_ok=(True, False)))])))
    failed_ns = [f for f in web["V6-NS"] if f.evaluation is Evaluation.FAILED]
    assert [f.asset.id for f in failed_ns] == ["ns:ns1.test@a"]  # stored under the name server
    assert failed_ns[0].evidence["not_v6"] == ["ns1.test"]
    assert len(web["V6-NS"]) == 2 and len(web["V6-SCORE"]) == 1  # ns0.test and ns1.test
