"""Scope: the deny lists always win; every refusal is audited; all probes share one budget."""

from __future__ import annotations

import asyncio
import time

import pytest

from sentinel.errors import ScopeRefused
from sentinel.playbook import RateLimits
from sentinel.scope import Gate, TokenBucket, policy_from


def test_verdicts_for_both_families_and_deny_lists() -> None:
    policy = policy_from(
        ["198.18.0.0/15", "2001:db8::/32"],
        deny=["198.18.9.0/24"],
        global_deny=["2001:db8:dead::/48"],
    )
    assert policy.verdict("198.18.1.5") is None
    assert policy.verdict("2001:db8:1::5") is None
    assert "playbook's deny" in (policy.verdict("198.18.9.7") or "")
    assert "global deny" in (policy.verdict("2001:db8:dead::1") or "")
    assert "outside" in (policy.verdict("203.0.113.1") or "")
    assert "outside" in (policy.verdict("2001:db9::1") or "")
    assert policy.verdict("not-an-ip") == "not an IP address"


def test_global_deny_wins_over_an_explicit_authorisation() -> None:
    policy = policy_from(["198.18.5.5/32"], global_deny=["198.18.0.0/16"])
    assert "global deny" in (policy.verdict("198.18.5.5") or "")


def test_network_verdict_refuses_overlap_with_deny() -> None:
    import ipaddress

    policy = policy_from(["198.18.0.0/15"], deny=["198.18.1.128/25"])
    assert policy.network_verdict(ipaddress.ip_network("198.18.2.0/24")) is None
    assert "deny" in (policy.network_verdict(ipaddress.ip_network("198.18.1.0/24")) or "")
    assert "outside" in (policy.network_verdict(ipaddress.ip_network("198.20.0.0/16")) or "")


async def test_gate_refuses_audits_and_never_connects() -> None:
    audited: list[tuple[str, str]] = []
    gate = Gate(
        policy_from(["198.18.0.0/15"]), RateLimits(), audit=lambda a, r: audited.append((a, r))
    )
    with pytest.raises(ScopeRefused):
        async with gate.connection("192.0.2.1"):
            pytest.fail("the body must not run for a refused address")
    assert audited == [("192.0.2.1", "outside the authorised scope")]
    assert gate.connections == 0


async def test_bucket_holds_the_rate_for_all_takers() -> None:
    bucket = TokenBucket(rate=50)
    start = time.monotonic()
    # 50 tokens of burst, then 25 more must wait about half a second whoever asks.
    await asyncio.gather(*(bucket.take() for _ in range(75)))
    assert time.monotonic() - start >= 0.45
    assert bucket.spent == 75


async def test_connections_per_host_cap_is_enforced() -> None:
    gate = Gate(
        policy_from(["127.0.0.0/8"]), RateLimits(connections_per_host=2, packets_per_second=1000)
    )
    inside = 0
    peak = 0

    async def hold() -> None:
        nonlocal inside, peak
        async with gate.connection("127.0.0.1"):
            inside += 1
            peak = max(peak, inside)
            await asyncio.sleep(0.02)
            inside -= 1

    await asyncio.gather(*(hold() for _ in range(8)))
    assert peak == 2 and gate.connections == 8


# ---- one canonical address form (no address here is ever sent to: verdicts only) -------------

FORMS = policy_from(
    ["198.18.0.0/15", "2001:db8::/32", "2002::/16", "64:ff9b::/96", "2001::/32"],
    deny=["198.18.9.0/24"],
    global_deny=["198.18.77.0/24"],
)


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("::ffff:198.18.9.7", "playbook's deny list"),  # IPv4-mapped: it is the IPv4 host
        ("::ffff:198.18.77.1", "global deny list"),
        ("::FFFF:c612:4d01", "global deny list"),  # the same, written in hex
        ("::ffff:203.0.113.5", "outside the authorised scope"),
        ("::198.18.1.1", "IPv4-compatible"),  # deprecated form: destination undefined
        ("2002:c612:4d01::1", "leads to 198.18.77.1"),  # 6to4 of a denied host
        ("2002:cb00:7105::1", "leads to 203.0.113.5"),  # 6to4 of a host outside scope
        ("64:ff9b::198.18.9.1", "leads to 198.18.9.1"),  # NAT64 of a denied host
        ("64:ff9b::c612:4d01", "leads to 198.18.77.1"),
        # Teredo: server 198.18.77.2 (denied); client obfuscated as ~198.18.1.1
        ("2001:0:c612:4d02:0:0:39ed:fefe", "leads to 198.18.77.2"),
        ("198.18.9.7%eth0", "playbook's deny list"),
        (" 198.18.9.7", "playbook's deny list"),
    ],
)
def test_every_form_of_an_address_gets_the_same_verdict(address: str, expected: str) -> None:
    assert expected in (FORMS.verdict(address) or "authorised"), address


@pytest.mark.parametrize("address", ["::ffff:198.18.1.1", "2002:c612:101::1",
                                     "64:ff9b::198.18.1.1", "2001:db8::1", "198.18.1.1"])
def test_translated_forms_of_authorised_hosts_are_authorised(address: str) -> None:
    assert FORMS.verdict(address) is None


def test_the_gate_connects_to_the_canonical_address() -> None:
    gate = Gate(FORMS, RateLimits())
    assert gate.authorise("::ffff:198.18.1.1") == "198.18.1.1"
    assert gate.authorise("2001:db8::0:1") == "2001:db8::1"
    with pytest.raises(ScopeRefused):
        gate.authorise("::ffff:198.18.9.7")


def test_networks_and_deny_entries_in_mapped_form_mean_their_ipv4_networks() -> None:
    policy = policy_from(["::ffff:198.18.0.0/111"], global_deny=["::ffff:198.18.77.0/120"])
    assert policy.authorised == (__import__("ipaddress").ip_network("198.18.0.0/15"),)
    assert "global deny" in (policy.verdict("198.18.77.3") or "")
    assert policy.verdict("198.18.1.3") is None
    net = __import__("ipaddress").ip_network
    assert "leads to" in (FORMS.network_verdict(net("2002:c612:4d00::/40")) or "")
    assert "leads to" in (FORMS.network_verdict(net("64:ff9b::c612:900/120")) or "")
    assert FORMS.network_verdict(net("64:ff9b::c612:100/120")) is None


def test_public_scope_needs_the_flag_and_resolvers_must_be_in_scope() -> None:
    from sentinel.playbook import Playbook
    from sentinel.scan.plan import refusals
    from sentinel.scan.run import policy_for

    def book(authorised: list[str], resolvers: tuple[str, ...] = ()) -> Playbook:
        return Playbook.model_validate({
            "name": "p", "agencies": [{"id": "a", "name": {"zh": "甲", "en": "A"}}],
            "scope": {"authorised": authorised},
            "segments": [{"id": "s", "agency": "a", "cidrs": ["198.18.1.0/24"],
                          "zone": "extranet"}],
            "resolvers": list(resolvers)})

    everything = book(["0.0.0.0/0", "198.18.0.0/15"])
    refused = refusals(everything, policy_for(everything))
    assert [(r.what, r.target) for r in refused] == [("scope", "0.0.0.0/0")]
    assert "--allow-public-scope" in refused[0].reason
    assert refusals(everything, policy_for(everything), allow_public=True) == []
    lab = book(["198.18.0.0/15"], ["198.18.1.53", "::ffff:203.0.113.53"])
    refused = refusals(lab, policy_for(lab))
    assert [(r.what, r.target) for r in refused] == [("resolvers[1]", "::ffff:203.0.113.53")]


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("http://127.0.0.1:9200", True),
        ("https://localhost:9200", True),
        ("http://[::1]:9200", True),
        ("http://[::ffff:127.0.0.1]:9200", True),
        ("http://198.18.1.9:9200", False),  # not a listed sink
        ("http://203.0.113.9:9200", False),
        ("http://soc.example:9200", False),
        ("ftp://127.0.0.1", False),
    ],
)
def test_results_go_only_to_loopback_or_a_listed_sink(url: str, allowed: bool,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    from sentinel.errors import SentinelError
    from sentinel.store.elastic_config import judge_sink

    monkeypatch.delenv("SENTINEL_SINK_ALLOW", raising=False)
    if allowed:
        judge_sink(url)
    else:
        with pytest.raises(SentinelError):
            judge_sink(url)
    monkeypatch.setenv("SENTINEL_SINK_ALLOW", "198.18.1.0/24,soc.example")
    if url.startswith("http://198.18") or "soc.example" in url:
        judge_sink(url)
