"""Scans through agents with real processes: a RabbitMQ node, ``sentinel agent run``
workers, the ``sentinel scan --broker`` coordinator and loopback servers.

They show: the same finding keys as an in-process scan; an agent SIGKILLed mid-unit whose
unit another agent of the segment finishes (nothing lost, nothing counted twice); forged,
unsigned, altered, other-version and out-of-scope units refused with nothing sent; a unit
that keeps failing dead-lettered and named in the scan record; a segment without an agent
reported at once; heartbeats in the store and in ``sentinel agents --json``.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from amqp.exceptions import NotFound
from kombu import Connection

from sentinel.agent.broker import dead_exchange, scan_dead, scan_results, segment_units
from sentinel.agent.protocol import (
    PROTOCOL,
    TASK,
    JobSpec,
    WorkUnit,
    read_result,
    seal,
    to_body,
    unit_routing_key,
)
from sentinel.model import Asset
from tests.integration.agents.conftest import ROOT, Env, wait_for

AGENCY = "{id: dsj, name: {zh: 省大数据局, en: Provincial Data Bureau}}"


def playbook(env: Env, name: str, segments: dict[str, list[str]], *, ports: list[int],
             banner_wait: float = 0.5, authorised: str = "127.0.0.0/8",
             cidr: str | None = None, probe_timeout: float = 3) -> Path:
    """A playbook of loopback segments (a /24 each unless ``cidr``, listed hosts), TCP probes
    on ``ports``."""
    lines = [f"name: {name}", f"agencies: [{AGENCY}]",
             f'scope: {{authorised: ["{authorised}"]}}', "segments:"]
    for segment, hosts in segments.items():
        env.segments.append(segment)
        net = cidr or ".".join(hosts[0].split(".")[:3]) + ".0/24"
        lines.append(f'  - {{id: {segment}, agency: dsj, cidrs: ["{net}"], '
                     f"hosts: {json.dumps(hosts)}, zone: extranet}}")
    lines.append(f"rate: {{packets_per_second: 500, probe_timeout_s: {probe_timeout}}}")
    lines.append(f"probes: {{tcp: {{ports: {json.dumps(ports)}, banner_wait_s: {banner_wait}}}}}")
    path = env.tmp / f"{name}.yml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def finding_keys(env: Env, store: Path, scan_id: str) -> Counter[tuple[str, str]]:
    docs = json.loads(env.sentinel("findings", "--json", "--all-results", "--scan", scan_id,
                                   "--store", str(store), with_broker=False).stdout)
    return Counter((d["sentinel"]["finding"]["key"], d["result"]["evaluation"]) for d in docs)


def scan_record(store: Path, scan_id: str) -> dict[str, Any]:
    row = sqlite3.connect(store).execute("SELECT doc FROM scans WHERE id = ?",
                                         (scan_id,)).fetchone()
    record: dict[str, Any] = json.loads(row[0])
    return record


def observations(store: Path, scan_id: str) -> Counter[tuple[str, str, int, str]]:
    rows = sqlite3.connect(store).execute(
        "SELECT asset_id, address, port, probe FROM observations WHERE scan_id = ?", (scan_id,))
    return Counter(tuple(r) for r in rows)  # type: ignore[misc]


def test_same_finding_keys_as_in_process_and_heartbeats(env: Env, tag: str, servers: Any
                                                       ) -> None:
    a, b = f"{tag}-a", f"{tag}-b"
    servers("127.0.1.1", 23, b"\xff\xfb\x01login: ")
    servers("127.0.1.2", 21, b"220 FTP ready\r\n")
    servers("127.0.2.1", 23, b"login: ")
    book = playbook(env, "same-keys", {a: ["127.0.1.1", "127.0.1.2"], b: ["127.0.2.1"]},
                    ports=[21, 23, 2222])
    local, distributed = env.tmp / "local.db", env.tmp / "agents.db"

    in_process = env.sentinel("scan", "--playbook", str(book), "--store", str(local),
                              with_broker=False).stdout.strip()
    env.agent(book, a, f"{tag}-agent-a")
    env.agent(book, b, f"{tag}-agent-b")
    done = env.sentinel("scan", "--playbook", str(book), "--store", str(distributed),
                        "--shard-size", "1")
    through_agents = done.stdout.strip()

    record = scan_record(distributed, through_agents)
    assert record["status"] == "completed", done.stderr
    assert record["units"] == 3 and record["unfinished"] == []
    local_keys = finding_keys(env, local, in_process)
    assert "failed" in {e for _, e in local_keys}
    assert finding_keys(env, distributed, through_agents) == local_keys
    assert observations(distributed, through_agents) == observations(local, in_process)
    # The scan's own queues are gone; Celery declared none of its defaults.
    with Connection(env.broker["SENTINEL_BROKER"]) as conn:
        for name in (f"sentinel.results.{through_agents}", f"sentinel.dead.{through_agents}",
                     "celery", "celery_delayed_0"):
            with pytest.raises(NotFound):
                conn.channel().queue_declare(queue=name, passive=True)

    # Heartbeats: in the coordinator's store, and listed (live, with their counters).
    def listed() -> list[dict[str, Any]]:
        agents = json.loads(env.sentinel("agents", "--json", "--store",
                                         str(distributed)).stdout)
        mine = [x for x in agents if x["agent_id"].startswith(tag)]
        return mine if sum(x["units_done"] for x in mine) == 3 else []

    mine = wait_for(listed, 30, "heartbeats counting the 3 units", step=0.2)
    assert {x["agent_id"]: x["segments"] for x in mine} == {
        f"{tag}-agent-a": [a], f"{tag}-agent-b": [b]}
    for agent in mine:
        assert agent["live"] and agent["state"] == "running"
        assert agent["vantage"] and agent["protocol"] == PROTOCOL and agent["version"]
        assert agent["units_failed"] == 0 and agent["units_refused"] == 0
    rows = sqlite3.connect(distributed).execute("SELECT id FROM agents").fetchall()
    assert {f"{tag}-agent-a", f"{tag}-agent-b"} <= {r[0] for r in rows}


def test_killed_agent_unit_goes_to_another_agent(env: Env, tag: str, servers: Any) -> None:
    seg = f"{tag}-k"
    # Each server answers 1.5 s after the connection: both units are in progress at once.
    first = servers("127.0.3.1", 23, b"login: ", delay=1.5)
    second = servers("127.0.3.2", 23, b"login: ", delay=1.5)
    book = playbook(env, "kill", {seg: ["127.0.3.1", "127.0.3.2"]}, ports=[23],
                    banner_wait=2.5)
    one = env.agent(book, seg, f"{tag}-one")
    two = env.agent(book, seg, f"{tag}-two")
    store = env.tmp / "kill.db"
    scan = env.process_scan(book, store, "--shard-size", "1")
    # One unit per host, one unit per agent (prefetch 1): both hosts connected means both
    # agents are mid-unit. Kill one of them.
    wait_for(lambda: first.connections and second.connections, 30, "both units in progress")
    one.kill()
    out, err = scan.communicate(timeout=60)
    assert scan.returncode == 0, err
    scan_id = out.strip()
    record = scan_record(store, scan_id)
    assert record["status"] == "completed" and record["unfinished"] == [], err
    # The killed agent's unit ran again on the other agent: three connections in all.
    assert first.connections + second.connections == 3
    assert not two.died()
    # Nothing lost, nothing doubled: one attempt per planned job, one finding per key.
    assert observations(store, scan_id) == Counter({
        ("127.0.3.1", "127.0.3.1", 23, "tcp"): 1, ("127.0.3.2", "127.0.3.2", 23, "tcp"): 1})
    keys = finding_keys(env, store, scan_id)
    assert keys and set(keys.values()) == {1}
    docs = json.loads(env.sentinel("findings", "--json", "--scan", scan_id, "--store",
                                   str(store)).stdout)
    assert {(d["rule"]["id"], d["destination"]["ip"]) for d in docs} >= {
        ("DB-CES-CREDPLAIN", "127.0.3.1"), ("DB-CES-CREDPLAIN", "127.0.3.2")}


def test_forged_units_are_refused_and_nothing_is_sent(env: Env, tag: str, servers: Any) -> None:
    seg = f"{tag}-f"
    inside = servers("127.0.4.1", 23, b"login: ")
    outside = servers("127.0.4.2", 23, b"login: ")
    # An agent whose own playbook reaches outside its scope does not start.
    wide = playbook(env, "wide", {seg: ["127.0.4.1"]}, ports=[23], authorised="127.0.4.1/32")
    refusing = env.agent(wide, seg, f"{tag}-wide", wait=False)
    assert refusing.process.wait(timeout=60) == 2
    assert "outside the authorised scope" in refusing.output()
    # The agent's own playbook authorises 127.0.4.1 only.
    book = playbook(env, "forged", {seg: ["127.0.4.1"]}, ports=[23],
                    authorised="127.0.4.1/32", cidr="127.0.4.1/32")
    agent = env.agent(book, seg, f"{tag}-agent")
    scan_id = f"forged{tag}"
    key = env.key.encode()

    def unit(uid: str, address: str, **change: Any) -> dict[str, Any]:
        body = to_body(WorkUnit(
            id=f"{scan_id}-{uid}", scan=scan_id, segment=seg, probe="tcp", shard=0,
            budget_s=10, jobs=(JobSpec(asset=Asset(id=address, addresses=(address,)),
                                       address=address, port=23),)))
        body.update(change)
        return body

    altered = seal(unit("altered", "127.0.4.1"), key)
    altered["body"]["jobs"][0]["address"] = "127.0.4.2"
    forged = {
        "unsigned": {"v": PROTOCOL, "body": unit("unsigned", "127.0.4.1")},
        "wrong-key": seal(unit("wrong-key", "127.0.4.1"), b"k" * 64),
        "altered": altered,
        "version": seal(unit("version", "127.0.4.1", v=PROTOCOL + 1), key),
        "scope": seal(unit("scope", "127.0.4.2"), key),
        "segment": seal(unit("segment", "127.0.4.1", segment=f"{tag}-other"), key),
        "port": seal(unit("port", "127.0.4.1", jobs=[
            {"asset": {"id": "x", "addresses": ["127.0.4.1"]}, "address": "127.0.4.1",
             "port": 22}]), key),
    }
    with Connection(env.broker["SENTINEL_BROKER"]) as conn:
        channel = conn.default_channel
        dead_exchange()(channel).declare()
        dead = scan_dead(scan_id)(channel)
        dead.declare()
        results = scan_results(scan_id)(channel)
        results.declare()
        producer = conn.Producer(serializer="json")
        for uid, envelope in forged.items():
            _publish(producer, seg, scan_id, f"{scan_id}-{uid}", envelope)
        refused: dict[str, str] = {}

        def collect() -> bool:
            while (message := dead.get(no_ack=True)) is not None:
                refused[message.headers["id"]] = message.headers["x-death"][0]["reason"]
            return len(refused) == len(forged)

        wait_for(collect, 30, "the forged units in the dead-letter queue")
        assert refused == {f"{scan_id}-{uid}": "rejected" for uid in forged}
        assert inside.connections == 0 and outside.connections == 0, "a refused unit sent"

        # The same agent runs a genuine unit at once: it was the checks that refused.
        _publish(producer, seg, scan_id, f"{scan_id}-good",
                 seal(unit("good", "127.0.4.1"), key))
        message = wait_for(lambda: results.get(no_ack=True), 30, "the genuine unit's result")
        result = read_result(message.decode(), key)
        assert result.unit == f"{scan_id}-good" and result.results[0].status == "completed"
        assert inside.connections == 1 and outside.connections == 0
        dead.delete()
        results.delete()
    log = agent.output()
    for reason in ("unsigned", "bad signature", f"protocol version {PROTOCOL + 1}",
                   "127.0.4.2: outside the authorised scope", "is not served by this agent",
                   "tcp on port 22: not planned"):
        assert reason in log, reason


def test_failing_unit_is_dead_lettered_and_named(env: Env, tag: str, servers: Any) -> None:
    seg = f"{tag}-d"
    servers("127.0.5.1", 23, None)  # accepts and never answers: the unit outlives its budget
    healthy = servers("127.0.5.2", 23, b"login: ")
    book = playbook(env, "dead", {seg: ["127.0.5.1", "127.0.5.2"]}, ports=[23],
                    banner_wait=3.0)
    agent = env.agent(book, seg, f"{tag}-agent")
    store = env.tmp / "dead.db"
    done = env.sentinel("scan", "--playbook", str(book), "--store", str(store),
                        "--shard-size", "1", "--unit-timeout", "1", "--deadline", "60")
    scan_id = done.stdout.strip()
    record = scan_record(store, scan_id)
    assert record["status"] == "partial"
    assert [(u["segment"], u["probe"], u["reason"]) for u in record["unfinished"]] == [
        (seg, "tcp", "dead-letter")]
    dead_unit = record["unfinished"][0]["unit"]
    assert f"unfinished {dead_unit} ({seg}, tcp): dead-letter" in done.stderr
    assert healthy.connections >= 1
    # The dead unit's job is recorded as an error attempt that names it; the healthy one ran.
    rows = sqlite3.connect(store).execute(
        "SELECT address, status, reason, doc FROM observations WHERE scan_id = ?", (scan_id,))
    by_address = {r[0]: r for r in rows}
    assert by_address["127.0.5.2"][1] == "completed"
    assert by_address["127.0.5.1"][1:3] == ("error", "unfinished")
    assert dead_unit in by_address["127.0.5.1"][3]
    assert "failed, returned to the queue" in agent.output()


def test_segment_without_agent_is_reported_at_once(env: Env, tag: str) -> None:
    book = playbook(env, "no-agent", {f"{tag}-n": ["127.0.6.1"]}, ports=[23])
    store = env.tmp / "none.db"
    done = env.sentinel("scan", "--playbook", str(book), "--store", str(store),
                        "--deadline", "600", timeout=60)
    assert f"segment {tag}-n: no live agent" in done.stderr
    record = scan_record(store, done.stdout.strip())
    assert record["status"] == "partial"
    assert [u["reason"] for u in record["unfinished"]] == ["no-agent"]
    events = [json.loads(r[0]) for r in sqlite3.connect(store).execute("SELECT doc FROM events")]
    assert "agent-missing" in {e["event"]["action"] for e in events}


def test_agents_over_tls(env: Env, tag: str) -> None:
    """An agent and ``sentinel agents`` over amqps, the CA from $SENTINEL_BROKER_CA."""
    seg = f"{tag}-t"
    book = playbook(env, "tls", {seg: ["127.0.7.1"]}, ports=[23])
    env.url = env.broker["SENTINEL_BROKER_TLS"]
    env.agent(book, seg, f"{tag}-tls")
    store = env.tmp / "tls.db"

    def listed() -> bool:
        agents = json.loads(env.sentinel("agents", "--json", "--store", str(store)).stdout)
        return any(a["agent_id"] == f"{tag}-tls" and a["live"] for a in agents)

    wait_for(listed, 30, "the TLS agent's heartbeat", step=0.2)
    # Without the CA, the same URL is refused (the system store does not know it).
    bad = env.sentinel("agents", "--json", "--store", str(store), check=False,
                       SENTINEL_BROKER_CA="")
    assert bad.returncode == 1 and "broker amqps://sentinel:**@127.0.0.1" in bad.stderr


def _publish(producer: Any, segment: str, scan_id: str, task_id: str,
             envelope: dict[str, Any]) -> None:
    """A Celery task message (protocol 2) carrying ``envelope``, as a coordinator sends it."""
    producer.publish(
        [[envelope], {}, {"callbacks": None, "errbacks": None, "chain": None, "chord": None}],
        exchange="sentinel.units", routing_key=unit_routing_key(segment, scan_id),
        declare=[segment_units(segment)], delivery_mode=2,
        headers={"lang": "py", "task": TASK, "id": task_id, "root_id": task_id,
                 "parent_id": None, "group": None, "retries": 0, "eta": None, "expires": None,
                 "argsrepr": "(...)", "kwargsrepr": "{}", "origin": "test"},
    )


def test_broker_restarted_mid_scan_loses_nothing(env: Env, tag: str, servers: Any) -> None:
    """RabbitMQ stopped and started again while a unit runs: the agent and the coordinator
    reconnect, the unit (unacknowledged) comes again, and every job is recorded once."""
    seg = f"{tag}-r"
    # A unit lasts 4 s (the server answers then): the broker goes down while it runs.
    first = servers("127.0.12.1", 23, b"login: ", delay=4.0)
    servers("127.0.12.2", 23, b"login: ", delay=4.0)
    book = playbook(env, "restart", {seg: ["127.0.12.1", "127.0.12.2"]}, ports=[23],
                    banner_wait=6.0, probe_timeout=10)
    agent = env.agent(book, seg, f"{tag}-agent")
    store = env.tmp / "restart.db"
    scan = env.process_scan(book, store, "--shard-size", "1", "--deadline", "150")
    wait_for(lambda: first.connections, 30, "the first unit in progress")
    for script in ("stop", "start"):
        done = subprocess.run(["bash", str(ROOT / f"tools/broker/{script}.sh")],
                              capture_output=True, text=True, timeout=180, check=False)
        assert done.returncode == 0, done.stderr[-2000:]
    out, err = scan.communicate(timeout=170)
    assert scan.returncode == 0, err
    scan_id = out.strip()
    assert "broker connection lost" in err and "following the scan again" in err
    record = scan_record(store, scan_id)
    assert record["status"] == "completed" and record["unfinished"] == [], err
    assert observations(store, scan_id) == Counter({
        ("127.0.12.1", "127.0.12.1", 23, "tcp"): 1, ("127.0.12.2", "127.0.12.2", 23, "tcp"): 1})
    keys = finding_keys(env, store, scan_id)
    assert keys and set(keys.values()) == {1}
    assert not agent.died()
