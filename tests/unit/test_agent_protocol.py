"""The agents' protocol without a broker: signatures, versions, keys, the cut of a plan into
work units, and an agent's checks of a unit against its own playbook."""

from __future__ import annotations

from pathlib import Path

import pytest

from sentinel.agent.coordinator import _Follow, cut_units, share_budget
from sentinel.agent.protocol import (
    PROTOCOL,
    JobSpec,
    UnitResult,
    WorkUnit,
    canonical,
    load_key,
    opened,
    read_result,
    read_unit,
    seal,
    to_body,
)
from sentinel.agent.worker import Agent, limits_for
from sentinel.errors import ScopeRefused, UnitRefused, UsageError
from sentinel.model import Asset
from sentinel.playbook import Playbook, RateLimits, load_playbook
from sentinel.scan.plan import asset_plans, probes_for

KEY = b"0123456789abcdef0123456789abcdef"
BOOK = """\
name: units
agencies: [{id: dsj, name: {zh: 数据局, en: Data Bureau}}]
scope: {authorised: ["127.0.8.0/24", "127.0.9.0/24"]}
segments:
  - {id: a, agency: dsj, cidrs: ["127.0.8.0/24"], hosts: ["127.0.8.1", "127.0.8.2", "127.0.8.3"],
     zone: extranet}
  - {id: b, agency: dsj, cidrs: ["127.0.9.0/24"], hosts: ["127.0.9.1"], zone: extranet}
probes: {tcp: {ports: [21, 23]}, ssh: {ports: [22]}}
"""


def unit(**change: object) -> dict[str, object]:
    body = to_body(WorkUnit(id="s1-u0", scan="s1", segment="a", probe="tcp", shard=0,
                            budget_s=10, jobs=(JobSpec(asset=Asset(id="127.0.8.1"),
                                                       address="127.0.8.1", port=23),)))
    body.update(change)
    return body


def test_sealed_unit_round_trips_and_any_change_is_refused() -> None:
    envelope = seal(unit(), KEY)
    assert envelope["v"] == PROTOCOL and read_unit(envelope, KEY).jobs[0].port == 23
    altered = seal(unit(), KEY)
    altered["body"]["jobs"][0]["address"] = "127.0.8.2"  # type: ignore[index]
    with pytest.raises(UnitRefused, match="bad signature"):
        read_unit(altered, KEY)
    with pytest.raises(UnitRefused, match="bad signature"):
        read_unit(seal(unit(), b"x" * 32), KEY)
    with pytest.raises(UnitRefused, match="unsigned"):
        read_unit({"v": PROTOCOL, "body": unit()}, KEY)
    with pytest.raises(UnitRefused, match="not a signed envelope"):
        read_unit([1, 2], KEY)
    with pytest.raises(UnitRefused, match=f"protocol version {PROTOCOL + 1}"):
        read_unit(seal(unit(v=PROTOCOL + 1), KEY), KEY)
    with pytest.raises(UnitRefused, match="malformed WorkUnit"):
        read_unit(seal(unit(extra=1), KEY), KEY)
    with pytest.raises(UnitRefused, match="malformed UnitResult"):
        read_result(seal(unit(), KEY), KEY)  # a unit is not a result


def test_canonical_form_ignores_key_order_and_refuses_nan() -> None:
    expected = '{"a":"é","b":1}'.encode()
    assert canonical({"b": 1, "a": "é"}) == canonical({"a": "é", "b": 1}) == expected
    with pytest.raises(UnitRefused, match="canonical"):
        opened({"body": {"x": float("nan")}, "sig": "00"}, KEY)


def test_result_carries_no_target() -> None:
    assert "address" not in UnitResult.model_fields and "asset" not in UnitResult.model_fields


def test_key_from_env_or_a_private_file(tmp_path: Path) -> None:
    assert load_key({"SENTINEL_AGENT_KEY": KEY.decode()}) == KEY
    with pytest.raises(UsageError, match="at least 32"):
        load_key({"SENTINEL_AGENT_KEY": "short"})
    with pytest.raises(UsageError, match="no agent key"):
        load_key({})
    path = tmp_path / "agent.key"
    path.write_bytes(KEY + b"\n")
    path.chmod(0o640)
    with pytest.raises(UsageError, match="readable by others"):
        load_key({"SENTINEL_AGENT_KEY_FILE": str(path)})
    path.chmod(0o600)
    assert load_key({"SENTINEL_AGENT_KEY_FILE": str(path)}) == KEY
    with pytest.raises(UsageError, match="No such file"):
        load_key({"SENTINEL_AGENT_KEY_FILE": str(tmp_path / "none")})


@pytest.fixture
def book(tmp_path: Path) -> Playbook:
    path = tmp_path / "book.yml"
    path.write_text(BOOK, encoding="utf-8")
    return load_playbook(path)


def test_cut_is_segment_by_shard_by_probe_kind(book: Playbook) -> None:
    plans = list(asset_plans(book, "s1", None, None, probes_for(book)))
    cuts = cut_units(plans, "s1", None, book.rate, shard_size=2)
    shape = [(c.unit.segment, c.unit.shard, c.unit.probe, len(c.unit.jobs)) for c in cuts]
    assert shape == [("a", 0, "tcp", 4), ("a", 0, "ssh", 2), ("a", 1, "tcp", 2),
                     ("a", 1, "ssh", 1), ("b", 0, "tcp", 2), ("b", 0, "ssh", 1)]
    # Every planned job is in exactly one unit, and the unit says where it sits.
    refs = [r for c in cuts for r in c.refs]
    assert sorted(refs) == sorted((p, j) for p, plan in enumerate(plans)
                                  for j in range(len(plan.jobs)))
    for cut in cuts:
        for spec, (p, j) in zip(cut.unit.jobs, cut.refs, strict=True):
            assert spec.address == plans[p].jobs[j].target.endpoint.address
        assert len({c.unit.id for c in cuts}) == len(cuts) and cut.unit.budget_s > 0


def test_agent_checks_a_unit_against_its_own_playbook(book: Playbook) -> None:
    agent = Agent(book, ("a",), KEY, "amqp://x@127.0.0.1//", agent_id="t")
    assert agent.check(seal(unit(), KEY))[0].id == "s1-u0"
    job = {"asset": {"id": "h"}, "address": "127.0.10.1", "port": 23}
    for change, reason in (
        ({"jobs": [job]}, "127.0.10.1: outside the authorised scope"),
        ({"segment": "b"}, "segment 'b' is not served"),
        ({"probe": "snmp"}, "probe kind 'snmp' is not run"),
        ({"jobs": [{**job, "address": "127.0.8.1", "port": 25}]}, "tcp on port 25"),
    ):
        with pytest.raises(UnitRefused, match=reason):
            agent.check(seal(unit(**change), KEY))
    with pytest.raises(UsageError, match="not a segment"):
        Agent(book, ("c",), KEY, "amqp://x@127.0.0.1//", agent_id="t")


def test_agent_with_a_playbook_outside_its_scope_does_not_start(tmp_path: Path) -> None:
    path = tmp_path / "wide.yml"
    path.write_text(BOOK.replace('"127.0.9.0/24"]}', '"127.0.9.1/32"]}'), encoding="utf-8")
    with pytest.raises(ScopeRefused, match=r"segment b 127\.0\.9\.0/24"):
        Agent(load_playbook(path), ("a",), KEY, "amqp://x@127.0.0.1//", agent_id="t")


def test_site_units_carry_one_probe_per_site_of_the_agents_playbook(tmp_path: Path) -> None:
    path = tmp_path / "sites.yml"
    path.write_text(BOOK + "sites:\n  - {agency: dsj, hostname: www.example.gov.cn}\n"
                    "  - {agency: dsj, hostname: gov.example.cn}\n", encoding="utf-8")
    sites = load_playbook(path)
    plans = list(asset_plans(sites, "s1", None, None, probes_for(sites)))
    [cut] = [c for c in cut_units(plans, "s1", None, sites.rate, shard_size=8)
             if c.unit.probe == "site"]
    assert [j.asset.name for j in cut.unit.jobs] == ["www.example.gov.cn", "gov.example.cn"]
    agent = Agent(sites, ("a",), KEY, "amqp://x@127.0.0.1//", agent_id="t")
    _, _, probes = agent.check(seal(to_body(cut.unit), KEY))
    hostnames = [getattr(p, "site").hostname for p in probes]  # noqa: B009
    assert hostnames == ["www.example.gov.cn", "gov.example.cn"]
    body = to_body(cut.unit)
    body["jobs"][0]["asset"] = {"id": "site:evil.example",  # type: ignore[index]
                                "name": "evil.example"}
    with pytest.raises(UnitRefused, match=r"'evil\.example': not a site"):
        agent.check(seal(body, KEY))


def test_the_budget_is_divided_among_the_live_agents(book: Playbook) -> None:
    plans = list(asset_plans(book, "s1", None, None, probes_for(book)))
    cuts = cut_units(plans, "s1", None, book.rate, shard_size=2)
    shared, notes = share_budget(plans, cuts, {"a": 2, "b": 1}, book.rate)
    assert notes == [] and [c.refs for c in shared] == [c.refs for c in cuts]
    shares = {(c.unit.segment, c.unit.shard, c.unit.probe): c.unit.share for c in shared}
    rate = book.rate  # 200 packets/s, 4 connections per host, 32 hosts at once
    for share in shares.values():
        assert share is not None and share.agents == 3
        assert share.packets_per_second == pytest.approx(rate.packets_per_second / 3)
        assert share.concurrent_hosts == rate.concurrent_hosts // 3
    # A host of segment a sits in a tcp and an ssh unit, which its 2 agents may run at once;
    # segment b's host has one agent: nobody shares its connections.
    assert shares[("a", 0, "tcp")].connections_per_host == 2  # type: ignore[union-attr]
    assert shares[("b", 0, "ssh")].connections_per_host == 4  # type: ignore[union-attr]
    # A unit's time budget follows its share; a segment without a live agent gets no share.
    assert all(s.unit.budget_s >= c.unit.budget_s for s, c in zip(shared, cuts, strict=True))
    alone, _ = share_budget(plans, cuts, {"a": 0, "b": 1}, book.rate)
    assert {c.unit.segment for c in alone if c.unit.share is None} == {"a"}
    # More agents than a limit: each gets 1, and people are told the limit cannot hold.
    tight = book.rate.model_copy(update={"concurrent_hosts": 2, "connections_per_host": 1})
    _, notes = share_budget(plans, cuts, {"a": 2, "b": 1}, tight)
    assert any("concurrent_hosts 2 is less than the 3 live agents" in n for n in notes)
    assert any("segment a: connections_per_host 1" in n for n in notes)


def test_an_agent_runs_a_unit_under_the_lower_of_its_limits_and_its_share() -> None:
    own = RateLimits(packets_per_second=50, connections_per_host=2, concurrent_hosts=8)
    assert limits_for(own, None) == own
    body = unit(share={"packets_per_second": 100, "connections_per_host": 1,
                       "concurrent_hosts": 4, "agents": 2})
    share = read_unit(seal(body, KEY), KEY).share
    lowered = limits_for(own, share)
    assert (lowered.packets_per_second, lowered.connections_per_host,
            lowered.concurrent_hosts) == (50, 1, 4)
    assert lowered.probe_timeout_s == own.probe_timeout_s
    with pytest.raises(UnitRefused, match="malformed"):
        read_unit(seal(unit(share={"packets_per_second": 0, "connections_per_host": 1,
                                   "concurrent_hosts": 1, "agents": 1}), KEY), KEY)


class _Message:
    def __init__(self) -> None:
        self.acks = 0

    def ack(self) -> None:
        self.acks += 1


def test_a_result_is_acknowledged_once_every_asset_of_its_unit_is_stored(book: Playbook
                                                                        ) -> None:
    """Until then its observations exist only in the coordinator: a coordinator killed
    before finds the result in the queue again (tests/integration/agents/test_resume.py)."""
    plans = list(asset_plans(book, "s1", None, None, probes_for(book)))
    cuts = cut_units(plans, "s1", None, book.rate, shard_size=2)
    tcp, ssh = cuts[0], cuts[1]  # segment a, shard 0: the same two assets, two probe kinds
    assert {p for p, _ in tcp.refs} == {p for p, _ in ssh.refs} == {0, 1}
    follow = _Follow.of(plans, cuts, set())
    message = _Message()
    assert follow.hold(tcp, message)  # its assets wait for the ssh unit
    assert not follow.hold(tcp, _Message())  # a second copy is not held twice
    follow.assessed.add(0)
    follow.release(0)
    assert message.acks == 0
    follow.assessed.add(1)
    follow.release(1)
    assert message.acks == 1 and not follow.held
    # Resumed with asset 0 stored: units holding only stored assets have ended.
    resumed = _Follow.of(plans, cuts, {0, 1})
    assert tcp.unit.id not in resumed.pending and ssh.unit.id not in resumed.pending
    assert not resumed.hold(tcp, _Message())  # nothing left to wait for: ack at once
    partly = _Follow.of(plans, cuts, {0})
    assert tcp.unit.id in partly.pending and partly.units_left[0] == 2
