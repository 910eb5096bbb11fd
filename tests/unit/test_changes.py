"""Change events between two scans of one asset, from their asset documents."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sentinel.detect.changes import asset_changes
from sentinel.model import (
    Asset,
    AttemptStatus,
    Context,
    Endpoint,
    Observation,
    event_to_ecs,
    observation_to_ecs,
)

T0 = datetime(2026, 11, 1, tzinfo=UTC)
V4, V6 = "198.18.1.5", "2001:db8:1::5"
ASSET = Asset(id="web1", addresses=(V4, V6))


def ctx(scan: str) -> Context:
    return Context(scan_id=scan, agency_id="a1", segment_id="s1")


def obs(
    scan: str,
    probe: str,
    address: str,
    port: int,
    facts: dict[str, Any],
    status: AttemptStatus = AttemptStatus.COMPLETED,
    day: int = 0,
) -> dict[str, Any]:
    return observation_to_ecs(
        Observation(
            probe=probe,
            context=ctx(scan),
            asset=ASSET,
            endpoint=Endpoint(address=address, port=port),
            status=status,
            facts=facts,
            started=T0 + timedelta(days=day),
        )
    )


def tcp(scan: str, port: int, state: str, address: str = V4, day: int = 0) -> dict[str, Any]:
    service = {22: "ssh", 23: "telnet", 443: "https"}.get(port)
    return obs(
        scan, "tcp", address, port, {"port": port, "state": state, "service": service}, day=day
    )


def cert(digest: str, not_after: datetime) -> dict[str, Any]:
    return {"sha256": digest, "not_after": not_after.isoformat().replace("+00:00", "Z")}


def tls(
    scan: str,
    suites: list[tuple[str, str, str]],
    *,
    groups: tuple[str, ...] = (),
    leaf: dict[str, Any] | None = None,
    day: int = 0,
) -> dict[str, Any]:
    facts = {
        "port_state": "open",
        "versions": sorted({s[0] for s in suites}),
        "accepted": [{"protocol": p, "code": c, "name": n} for p, c, n in suites],
        "groups": [
            {"protocol": "TLSv1.3", "code": "0x11EC", "name": g, "class": "pqc-hybrid"}
            for g in groups
        ],
        "certificates": [{"protocol": "TLSv1.2", "chain": [leaf]}] if leaf else [],
        "tls13_certificate": None,
    }
    return obs(scan, "tls", V4, 443, facts, day=day)


GCM = ("TLSv1.2", "0xC02F", "ECDHE_RSA_WITH_AES_128_GCM_SHA256")
CBC = ("TLSv1.0", "0xC013", "ECDHE_RSA_WITH_AES_128_CBC_SHA")
TLCP = ("TLCPv1.1", "0xE013", "ECC_SM4_CBC_SM3")
SM13 = ("TLSv1.3", "0x00C6", "TLS_SM4_GCM_SM3")


def changes(before: list[dict[str, Any]], after: list[dict[str, Any]], **kw: Any) -> list[str]:
    events = asset_changes(before, after, ctx("s2"), ASSET, T0 + timedelta(days=1), **kw)
    return sorted(e.action for e in events)


def test_first_sight_and_dead_host_raise_nothing() -> None:
    assert changes([], [tcp("s2", 22, "open")]) == []
    assert changes([tcp("s1", 22, "open")], [tcp("s2", 22, "filtered")]) == []


def test_service_opened_and_closed() -> None:
    before = [tcp("s1", 22, "open"), tcp("s1", 23, "closed")]
    after = [tcp("s2", 22, "closed"), tcp("s2", 23, "open"), tcp("s2", 443, "open")]
    # 443 was not looked at last time: no claim that it opened
    assert changes(before, after) == ["service-closed", "service-opened"]


def test_failed_probe_is_not_a_closed_service() -> None:
    before = [tcp("s1", 22, "open"), tcp("s1", 23, "open")]
    failed = obs("s2", "tcp", V4, 23, {}, status=AttemptStatus.ERROR)
    assert changes(before, [tcp("s2", 22, "open"), failed]) == []


def test_suites_protocols_and_national_crypto() -> None:
    before = [tls("s1", [GCM, TLCP])]
    after = [tls("s2", [GCM, CBC])]
    assert changes(before, after) == [
        "national-crypto-lost",
        "protocol-added",
        "protocol-removed",
        "suite-added",
        "suite-removed",
    ]
    # RFC 8998 SM suites under TLS 1.3 count as national crypto too
    assert "national-crypto-gained" in changes([tls("s1", [GCM])], [tls("s2", [GCM, SM13])])


def test_pqc_hybrid_lost_and_gained() -> None:
    assert changes([tls("s1", [GCM], groups=("X25519MLKEM768",))], [tls("s2", [GCM])]) == [
        "pqc-hybrid-lost"
    ]
    assert changes([tls("s1", [GCM])], [tls("s2", [GCM], groups=("X25519MLKEM768",))]) == [
        "pqc-hybrid-gained"
    ]


def test_certificate_changed_and_expiring_once() -> None:
    far, near = T0 + timedelta(days=300), T0 + timedelta(days=20)
    assert changes(
        [tls("s1", [GCM], leaf=cert("aa", far))], [tls("s2", [GCM], leaf=cert("bb", far))]
    ) == ["certificate-changed"]
    # the same certificate enters the 30-day window between the two scans...
    assert changes(
        [tls("s1", [GCM], leaf=cert("aa", T0 + timedelta(days=31)), day=-30)],
        [tls("s2", [GCM], leaf=cert("aa", T0 + timedelta(days=31)))],
    ) == ["certificate-expiring"]
    # ...and is not reported again once it is in the window
    assert (
        changes(
            [tls("s1", [GCM], leaf=cert("aa", near))], [tls("s2", [GCM], leaf=cert("aa", near))]
        )
        == []
    )
    assert (
        changes(
            [tls("s1", [GCM], leaf=cert("aa", near))],
            [tls("s2", [GCM], leaf=cert("aa", near))],
            expiry_days=10,
        )
        == []
    )


def test_ipv6_lost_and_gained() -> None:
    both = [tcp("s1", 443, "open"), tcp("s1", 443, "open", V6)]
    v4_only = [tcp("s2", 443, "open"), tcp("s2", 443, "filtered", V6)]
    # the v6 endpoint itself is reported too: that port no longer answers there
    assert changes(both, v4_only) == ["ipv6-lost", "service-closed"]
    assert changes(v4_only, both) == ["ipv6-gained", "service-opened"]


def discovery(scan: str, address: str, state: str) -> dict[str, Any]:
    family = "ipv6" if ":" in address else "ipv4"
    return observation_to_ecs(Observation(
        probe="discovery", context=ctx(scan), asset=ASSET,
        endpoint=Endpoint(address=address, port=None, transport="icmp"),
        status=AttemptStatus.COMPLETED, started=T0,
        facts={"state": state, "family": family, "methods": ["icmp"] if state == "up" else []}))


def test_ipv6_lost_when_discovery_finds_the_v6_address_down() -> None:
    # With discovery on, a down address gets no port probes: the sweep itself says it is gone.
    before = [discovery("s1", V4, "up"), discovery("s1", V6, "up"),
              tcp("s1", 443, "open"), tcp("s1", 443, "open", V6)]
    after = [discovery("s2", V4, "up"), discovery("s2", V6, "down"), tcp("s2", 443, "open")]
    assert changes(before, after) == ["ipv6-lost"]
    assert changes(after, before) == ["ipv6-gained"]


def test_events_render_as_change_documents() -> None:
    events = asset_changes([tls("s1", [GCM, TLCP])], [tls("s2", [GCM])], ctx("s2"), ASSET, T0)
    doc = event_to_ecs(next(e for e in events if e.action == "national-crypto-lost"))
    assert doc["event"]["kind"] == "event" and doc["event"]["type"] == ["change"]
    assert doc["destination"]["port"] == 443 and doc["sentinel"]["severity"] == "high"
    assert doc["organization"]["id"] == "a1" and doc["sentinel"]["segment"] == "s1"
