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
