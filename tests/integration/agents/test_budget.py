"""One rate budget across agents, measured at the target: three ``sentinel agent run``
processes of one segment against one loopback server that records when each connection
arrives and how many are open at once (over all its addresses and per address).

The playbook allows 10 connections per second, 3 hosts at once and 2 connections per host:
at most 6 connections open at once, and over any interval of ``t`` seconds at most
``10 + 10 t`` connections (a token bucket of one second's burst, as an in-process scan's
gate). Each agent alone would allow the whole budget, three times over together.
"""

from __future__ import annotations

import contextlib
import json
import socket
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from tests.integration.agents.conftest import Env

PPS, HOSTS_AT_ONCE, PER_HOST = 10, 3, 2
HOLD_S = 0.5  # the server answers half a second after each connection


class CountingServer:
    """One server listening on several loopback addresses and ports: it stamps each
    connection's arrival and counts the connections open at once (all, and per address)."""

    def __init__(self, endpoints: list[tuple[str, int]]) -> None:
        self.lock = threading.Lock()
        self.arrivals: list[float] = []
        self.open_now = 0
        self.open_max = 0
        self.per_address: Counter[str] = Counter()
        self.per_address_max: Counter[str] = Counter()
        self.closing = threading.Event()
        self.listeners: list[socket.socket] = []
        for address, port in endpoints:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((address, port))
            sock.listen(64)
            self.listeners.append(sock)
            threading.Thread(target=self._accept, args=(sock, address), daemon=True).start()

    def _accept(self, sock: Any, address: str) -> None:
        while True:
            try:
                conn, _ = sock.accept()
            except OSError:
                return
            with self.lock:
                self.arrivals.append(time.monotonic())
                self.open_now += 1
                self.open_max = max(self.open_max, self.open_now)
                self.per_address[address] += 1
                self.per_address_max[address] = max(self.per_address_max[address],
                                                    self.per_address[address])
            threading.Thread(target=self._answer, args=(conn, address), daemon=True).start()

    def _answer(self, conn: Any, address: str) -> None:
        self.closing.wait(HOLD_S)
        with self.lock:  # counted closed before the answer: the count never runs ahead
            self.open_now -= 1
            self.per_address[address] -= 1
        with contextlib.suppress(OSError):
            conn.sendall(b"220 ready\r\n")
            conn.close()

    def worst_burst(self) -> float:
        """The largest excess over the budget ``PPS + PPS * t`` of any run of arrivals."""
        times = sorted(self.arrivals)
        worst = float("-inf")
        for i, first in enumerate(times):
            for j in range(i, len(times)):
                worst = max(worst, (j - i + 1) - (PPS + PPS * (times[j] - first)))
        return worst

    def close(self) -> None:
        self.closing.set()
        for sock in self.listeners:
            with contextlib.suppress(OSError):
                sock.close()


@pytest.fixture
def target() -> Iterator[CountingServer]:
    hosts = [f"127.0.21.{i}" for i in range(1, 13)]
    server = CountingServer([(h, p) for h in hosts for p in (21, 2121, 2221)])
    yield server
    server.close()


def test_three_agents_keep_the_playbooks_limits_at_the_target(env: Env, tag: str,
                                                              target: CountingServer) -> None:
    seg = f"{tag}-budget"
    env.segments.append(seg)
    hosts = [f"127.0.21.{i}" for i in range(1, 13)]
    book = env.tmp / "budget.yml"
    book.write_text("\n".join([
        "name: budget",
        "agencies: [{id: dsj, name: {zh: 省大数据局, en: Provincial Data Bureau}}]",
        'scope: {authorised: ["127.0.21.0/24"]}',
        f'segments: [{{id: {seg}, agency: dsj, cidrs: ["127.0.21.0/24"], '
        f"hosts: {json.dumps(hosts)}, zone: extranet}}]",
        f"rate: {{packets_per_second: {PPS}, concurrent_hosts: {HOSTS_AT_ONCE}, "
        f"connections_per_host: {PER_HOST}, probe_timeout_s: 5}}",
        "probes: {tcp: {ports: [21, 2121, 2221], banner_wait_s: 2}}",
    ]) + "\n", encoding="utf-8")
    for n in range(3):
        env.agent(book, seg, f"{tag}-agent{n}")
    store = env.tmp / "budget.db"
    done = env.sentinel("scan", "--playbook", str(book), "--store", str(store),
                        "--shard-size", "4")
    scan_id = done.stdout.strip()
    record = json.loads(sqlite3.connect(store).execute(
        "SELECT doc FROM scans WHERE id = ?", (scan_id,)).fetchone()[0])
    assert record["status"] == "completed", done.stderr
    assert record["attempts"] == {"completed": 36}
    events = {json.loads(r[0])["event"]["action"]: json.loads(r[0]) for r in
              sqlite3.connect(store).execute("SELECT doc FROM events WHERE scan_id = ?",
                                             (scan_id,))}
    started = events["scan-started"]["sentinel"]["after"]
    assert started["agents"] == {seg: 3}
    assert started["share"] == {"packets_per_second": pytest.approx(PPS / 3),
                                "connections_per_host": PER_HOST, "concurrent_hosts": 1,
                                "agents": 3}
    # All three agents ran a unit (one each: a unit is prefetched one at a time).
    assert len(events["scan-finished"]["sentinel"]["after"]["agents"]) == 3

    # Measured at the target: every connection came, within the scan-wide limits.
    assert len(target.arrivals) == 36
    assert target.open_max <= HOSTS_AT_ONCE * PER_HOST, target.open_max
    assert max(target.per_address_max.values()) <= PER_HOST
    assert target.worst_burst() <= 2.0, target.worst_burst()  # two tokens of clock slack
    span = max(target.arrivals) - min(target.arrivals)
    assert span >= (36 - PPS) / PPS - 0.2, span
