"""Lifecycle: open → resolved → reopened, and a host that was down resolves nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sentinel.model import (
    Asset,
    Context,
    Endpoint,
    Evaluation,
    Finding,
    FindingStatus,
    KeyState,
    Text,
)
from sentinel.scan.lifecycle import apply
from sentinel.severity import Severity

T0 = datetime(2026, 11, 1, tzinfo=UTC)


def ctx(scan: str) -> Context:
    return Context(scan_id=scan, agency_id="a1", segment_id="s1")


def telnet(scan: str, evaluation: Evaluation = Evaluation.FAILED) -> Finding:
    return Finding(
        check_id="DB-CES-CREDPLAIN",
        title=Text(zh="明文", en="cleartext"),
        evaluation=evaluation,
        severity=Severity.HIGH,
        context=ctx(scan),
        asset=Asset(id="h1", addresses=("198.18.1.5",)),
        endpoint=Endpoint(address="198.18.1.5", port=23),
        protocol="tcp",
        probe="tcp",
        observed_at=T0,
    )


def run(
    previous: dict[str, KeyState], found: list[Finding], covered: bool, scan: str, day: int
) -> tuple[dict[str, KeyState], list[str], list[Finding]]:
    coverage = {("h1", "tcp")} if covered else set()
    outcome = apply(previous, found, coverage, ctx(scan), T0 + timedelta(days=day))
    states = dict(previous)
    states.update({s.key: s for s in outcome.states})
    return states, [e.action for e in outcome.events], outcome.findings


def test_open_resolved_reopened_across_scans() -> None:
    states, actions, found = run({}, [telnet("s1")], True, "s1", 0)
    assert actions == ["finding-opened"] and found[0].status is FindingStatus.OPEN
    states, actions, found = run(states, [telnet("s2")], True, "s2", 1)
    assert actions == [] and found[0].status is FindingStatus.OPEN
    states, actions, _ = run(states, [], True, "s3", 2)
    assert actions == ["finding-resolved"]
    assert next(iter(states.values())).status is FindingStatus.RESOLVED
    states, actions, found = run(states, [telnet("s4")], True, "s4", 3)
    assert actions == ["finding-reopened"] and found[0].status is FindingStatus.REOPENED
    state = next(iter(states.values()))
    assert state.reopened == 1 and state.first_seen == T0


def test_unreachable_host_resolves_nothing() -> None:
    states, _, _ = run({}, [telnet("s1")], True, "s1", 0)
    states, actions, _ = run(states, [], False, "s2", 1)
    assert actions == []
    assert next(iter(states.values())).status is FindingStatus.OPEN


def test_a_passed_result_resolves_and_carries_no_status() -> None:
    states, _, _ = run({}, [telnet("s1")], True, "s1", 0)
    _, actions, found = run(states, [telnet("s2", Evaluation.PASSED)], True, "s2", 1)
    assert actions == ["finding-resolved"] and found[0].status is None
