"""The broker path's cost, without the lab: a loopback farm scanned in-process, through one
agent and through three, at equal concurrency; and the work units per second the coordinator
sustains with empty units.

    python bench/agents.py [--hosts 144] [--ports 4] [--delay 0.5] [--runs 3]
                           [--units 5000] [--skip-farm] [--skip-units]

Needs the broker on 127.0.0.1 (``make broker``; started here with tools/broker/start.sh when
it does not answer, and stopped again at the end). Nothing leaves loopback.

**Farm.** One server process listens on ``--hosts`` addresses 127.0.30.x, ``--ports`` ports
each, and answers every connection with a banner after ``--delay`` seconds. The playbook
scans them with the TCP probe at 24 hosts at once and 4 connections per host. In-process is
``run_scan``; through agents, the coordinator runs in this process (``Coordinator.run``) and
the agents are real ``sentinel agent run`` processes, started (and consuming) before the
clock starts. The coordinator gives each of the 3 agents a third of the hosts at once (8),
so the concurrency is the same in every mode; the shard size is the per-agent concurrency
(24 with one agent, 8 with three), so a unit is one wave. Median wall time of ``--runs``.

**Empty units.** The coordinator's own rate, with agents that cost nothing: ``--units``
signed units without jobs are published by the coordinator's ``_send`` (timed: "publish"); a
responder thread in this process then answers each at once with a signed empty result
(kombu, no Celery), and once every result waits on the scan's queue the coordinator's loop
(``_publish_and_follow``: signature check, bookkeeping, acknowledgements) takes them all
(timed: "follow"). "publish then follow" is the two in sequence. Private pieces of the
coordinator are driven directly: a bench, not an interface.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import os
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from kombu import Connection

from sentinel.agent.broker import scan_dead, scan_results, segment_units
from sentinel.agent.coordinator import Coordinator, Cut, _Follow, _Link
from sentinel.agent.protocol import UnitResult, WorkUnit, read_unit, seal, to_body
from sentinel.lab.agents import answers, broker_env, broker_home, consumers
from sentinel.model import ScanRecord, now
from sentinel.playbook import load_playbook
from sentinel.scan.run import ScanRecorder, run_scan
from sentinel.store.sqlite import SqliteStore

ROOT = Path(__file__).parents[1]
PORT_BASE = 2100
HOSTS_AT_ONCE = 24


# -- the broker ------------------------------------------------------------------------------


def ensure_broker() -> bool:
    """True when this bench started the broker (and must stop it)."""
    if (broker_home() / "broker.env").exists() and answers(broker_env()["SENTINEL_BROKER"]):
        return False
    subprocess.run(["bash", str(ROOT / "tools/broker/start.sh")], check=True,
                   capture_output=True, timeout=180)
    return True


# -- the farm --------------------------------------------------------------------------------


def hosts(count: int) -> list[str]:
    return [f"127.0.{30 + i // 200}.{1 + i % 200}" for i in range(count)]


def serve(addresses: list[str], ports: list[int], delay: float, ready: Any) -> None:
    """The farm (a child process): a banner ``delay`` seconds after each connection."""

    async def answer(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(delay)
        with contextlib.suppress(OSError):
            writer.write(b"220 ready\r\n")
            await writer.drain()
            writer.close()

    async def main() -> None:
        servers = [await asyncio.start_server(answer, a, p, backlog=256, reuse_address=True)
                   for a in addresses for p in ports]
        ready.set()
        await asyncio.gather(*(s.serve_forever() for s in servers))

    asyncio.run(main())


def write_playbook(path: Path, segment: str, addresses: list[str], ports: list[int]) -> None:
    path.write_text("\n".join([
        "name: bench-agents",
        "agencies: [{id: dsj, name: {zh: 省大数据局, en: Provincial Data Bureau}}]",
        'scope: {authorised: ["127.0.30.0/23"]}',
        f'segments: [{{id: {segment}, agency: dsj, cidrs: ["127.0.30.0/23"], '
        f"hosts: {json.dumps(addresses)}, zone: extranet}}]",
        f"rate: {{packets_per_second: 100000, concurrent_hosts: {HOSTS_AT_ONCE}, "
        "connections_per_host: 4, probe_timeout_s: 10}",
        f"probes: {{tcp: {{ports: {json.dumps(ports)}, banner_wait_s: 5}}}}",
    ]) + "\n", encoding="utf-8")


def in_process(book_path: Path, tmp: Path, run: int) -> float:
    book = load_playbook(book_path)
    with SqliteStore(tmp / f"local{run}.db") as store:
        began = time.perf_counter()
        record = asyncio.run(run_scan(book, store, playbook_name=str(book_path)))
        took = time.perf_counter() - began
    assert record.status == "completed", record.status
    return took


def through_agents(book_path: Path, tmp: Path, run: int, url: str, key: bytes,
                   shard: int) -> float:
    book = load_playbook(book_path)
    with SqliteStore(tmp / f"agents{shard}-{run}.db") as store:
        coordinator = Coordinator(book, store, playbook_name=str(book_path), url=url, key=key,
                                  shard_size=shard, notify=lambda text: print("  " + text))
        began = time.perf_counter()
        record = asyncio.run(coordinator.run())
        took = time.perf_counter() - began
    assert record.status == "completed", (record.status, record.unfinished)
    return took


def start_agents(count: int, book: Path, segment: str, env: dict[str, str], tmp: Path,
                 url: str) -> list[subprocess.Popen[bytes]]:
    before = consumers(url, segment)
    agents = []
    for n in range(count):
        log = (tmp / f"agent{n}.log").open("w")
        agents.append(subprocess.Popen(
            [sys.executable, "-m", "sentinel.cli", "agent", "run", "--playbook", str(book),
             "--segment", segment, "--name", f"{segment}-{n}", "--heartbeat", "5"],
            env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True))
    deadline = time.monotonic() + 120
    while consumers(url, segment) < before + count:
        if time.monotonic() > deadline or any(a.poll() is not None for a in agents):
            raise SystemExit(f"agents did not start; see {tmp}/agent*.log")
        time.sleep(0.1)  # a poll interval (a bench, not a test)
    return agents


def stop_agents(agents: list[subprocess.Popen[bytes]]) -> None:
    for agent in agents:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(agent.pid, 15)
    for agent in agents:
        try:
            agent.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(agent.pid, 9)
            agent.wait()


def farm(args: argparse.Namespace, url: str, tmp: Path) -> dict[str, Any]:
    addresses = hosts(args.hosts)
    ports = [PORT_BASE + i for i in range(args.ports)]
    ready = multiprocessing.Event()
    server = multiprocessing.Process(target=serve, args=(addresses, ports, args.delay, ready),
                                     daemon=True)
    server.start()
    if not ready.wait(60):
        raise SystemExit("the farm did not start")
    segment = f"bench{secrets.token_hex(3)}"
    book = tmp / "farm.yml"
    write_playbook(book, segment, addresses, ports)
    key = secrets.token_hex(32)
    env = {**os.environ, "SENTINEL_AGENT_KEY": key, "SENTINEL_BROKER": url}
    os.environ["SENTINEL_AGENT_KEY"] = key
    times: dict[str, list[float]] = {"in-process": [], "1 agent": [], "3 agents": []}
    try:
        in_process(book, tmp, -1)  # warm-up: imports, the catalog's caches
        for run in range(args.runs):
            times["in-process"].append(in_process(book, tmp, run))
        for count, shard in ((1, HOSTS_AT_ONCE), (3, HOSTS_AT_ONCE // 3)):
            agents = start_agents(count, book, segment, env, tmp, url)
            try:
                through_agents(book, tmp, -1, url, key.encode(), shard)  # warm-up
                for run in range(args.runs):
                    times[f"{count} agent{'s' if count > 1 else ''}"].append(
                        through_agents(book, tmp, run, url, key.encode(), shard))
            finally:
                stop_agents(agents)
    finally:
        server.terminate()
        server.join(10)
        with Connection(url) as conn, contextlib.suppress(Exception):
            conn.default_channel.queue_delete(f"sentinel.seg.{segment}")
    medians = {mode: statistics.median(values) for mode, values in times.items()}
    base = medians["in-process"]
    print(f"farm: {args.hosts} hosts x {args.ports} ports ({args.hosts * args.ports} jobs), "
          f"banner after {args.delay:g} s, {HOSTS_AT_ONCE} hosts at once, 4 per host; "
          f"median of {args.runs}")
    for mode, values in times.items():
        print(f"  {mode:<11} {medians[mode]:7.3f} s  overhead {medians[mode] / base - 1:+6.1%}"
              f"  (runs: {', '.join(f'{v:.3f}' for v in values)})")
    return {"times": times, "medians": medians}


# -- empty units -----------------------------------------------------------------------------


def responder(url: str, segment: str, key: bytes, stop: threading.Event) -> None:
    """Answers every unit of ``segment`` at once with a signed empty result."""
    with Connection(url) as conn:
        channel = conn.channel()
        producer = conn.Producer(channel=channel, serializer="json")

        inbox: list[tuple[Any, Any]] = []
        consumer = conn.Consumer([segment_units(segment)], channel=channel,
                                 callbacks=[lambda body, message: inbox.append((body, message))],
                                 accept=["json"], prefetch_count=500)
        consumer.consume()
        while not stop.is_set():
            with contextlib.suppress(TimeoutError, socket.timeout):
                conn.drain_events(timeout=0.2)
            batch, inbox[:] = list(inbox), []
            for body, message in batch:
                unit = read_unit(body[0][0], key)
                result = UnitResult(unit=unit.id, scan=unit.scan, agent="bench", results=())
                producer.publish(seal(to_body(result), key), exchange="",
                                 routing_key=f"sentinel.results.{unit.scan}", delivery_mode=2)
                message.ack()


def empty_units(args: argparse.Namespace, url: str, tmp: Path) -> dict[str, float]:
    segment = f"bench{secrets.token_hex(3)}"
    key = secrets.token_hex(32).encode()
    book_path = tmp / "empty.yml"
    write_playbook(book_path, segment, ["127.0.30.1"], [PORT_BASE])
    book = load_playbook(book_path)
    scan_id = f"bench{secrets.token_hex(4)}"
    cuts = [Cut(WorkUnit(id=f"{scan_id}-u{n}", scan=scan_id, segment=segment, probe="tcp",
                         shard=n, budget_s=60, jobs=()), ()) for n in range(args.units)]
    out: dict[str, float] = {}
    with SqliteStore(tmp / "empty.db") as store, Connection(url) as conn:
        channel = conn.default_channel
        for queue in (segment_units(segment), scan_results(scan_id), scan_dead(scan_id)):
            queue(channel).declare()
        coordinator = Coordinator(book, store, playbook_name="empty", url=url, key=key,
                                  scan_id=scan_id, notify=print)
        # 1. Publishing (Coordinator._send: Celery task messages, publisher confirms).
        began = time.perf_counter()
        coordinator._send(cuts, None)
        out["publish"] = args.units / (time.perf_counter() - began)
        # The responder answers them all; the results wait on the scan's queue.
        stop = threading.Event()
        thread = threading.Thread(target=responder, args=(url, segment, key, stop), daemon=True)
        thread.start()
        while True:
            waiting = channel.queue_declare(queue=scan_results(scan_id).name, passive=True)
            if waiting.message_count >= args.units:
                break
            time.sleep(0.05)  # a poll interval (a bench, not a test)
        stop.set()
        thread.join(5)

        # 2. Following: the coordinator's loop takes, checks and closes every unit.
        async def follow() -> float:
            link = _Link(url, scan_id, {segment})
            await link.open()
            await link.consume()
            record = ScanRecord(id=scan_id, playbook="empty", started=now(), units=len(cuts))
            run = ScanRecorder.start(book, store, record)
            tracking = _Follow([], {c.unit.id: c for c in cuts}, {},
                               cuts={c.unit.id: c for c in cuts})
            began = time.perf_counter()
            await coordinator._publish_and_follow(link, run, tracking, [], {segment: 1},
                                                  deadline_s=600)
            took = time.perf_counter() - began
            await link.close(cleanup=True)
            assert not tracking.pending, len(tracking.pending)
            assert not tracking.unfinished, tracking.unfinished
            return took

        out["follow"] = args.units / asyncio.run(follow())
        out["both"] = 1 / (1 / out["publish"] + 1 / out["follow"])
        channel.queue_delete(segment_units(segment).name)
    print(f"empty units: {args.units} units; publish {out['publish']:,.0f} units/s, "
          f"follow (results waiting) {out['follow']:,.0f} units/s, "
          f"publish then follow {out['both']:,.0f} units/s")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=144)
    parser.add_argument("--ports", type=int, default=4)
    parser.add_argument("--delay", type=float, default=0.5)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--units", type=int, default=5000)
    parser.add_argument("--skip-farm", action="store_true")
    parser.add_argument("--skip-units", action="store_true")
    args = parser.parse_args()
    started = ensure_broker()
    url = broker_env()["SENTINEL_BROKER"]
    print(f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}")
    try:
        with tempfile.TemporaryDirectory(prefix="bench-agents-") as folder:
            tmp = Path(folder)
            if not args.skip_farm:
                farm(args, url, tmp)
            if not args.skip_units:
                empty_units(args, url, tmp)
    finally:
        if started:
            subprocess.run(["bash", str(ROOT / "tools/broker/stop.sh")], check=False,
                           capture_output=True, timeout=120)


if __name__ == "__main__":
    main()
