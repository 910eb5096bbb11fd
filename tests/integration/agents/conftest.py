"""Agents against the real RabbitMQ node on 127.0.0.1 (``tools/broker``), with real
``sentinel agent run`` processes and loopback servers started by the tests.

The broker is started once per session if it does not answer (and then stopped at the
session's end); a node that was already running is left running. Every test uses segment ids
of its own (``t<random>-<name>``), whose queues are deleted afterwards, so tests never see
each other's units. Nothing here sleeps to synchronise: every wait polls a condition with a
deadline.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from kombu import Connection

from sentinel.lab.agents import answers, broker_env, broker_home, consumers
from tests.support.loopback import ThreadedServer

ROOT = Path(__file__).parents[3]


def wait_for(condition: Callable[[], Any], timeout: float, what: str, step: float = 0.05) -> Any:
    """Poll ``condition`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(step)  # a poll interval, not a synchronisation


@pytest.fixture(scope="session")
def broker() -> Iterator[dict[str, str]]:
    """``SENTINEL_BROKER``, ``SENTINEL_BROKER_TLS`` and ``SENTINEL_BROKER_CA`` of a running
    node (started here when it does not answer, and then stopped at the end)."""
    started = False
    if not ((broker_home() / "broker.env").exists() and answers(broker_env()["SENTINEL_BROKER"])):
        done = subprocess.run(["bash", str(ROOT / "tools/broker/start.sh")], capture_output=True,
                              text=True, timeout=180, check=False)
        assert done.returncode == 0, f"tools/broker/start.sh failed:\n{done.stderr[-2000:]}"
        started = True
    yield broker_env()
    if started:
        subprocess.run(["bash", str(ROOT / "tools/broker/stop.sh")], capture_output=True,
                       timeout=120, check=False)


@pytest.fixture
def key() -> str:
    return secrets.token_hex(32)


@pytest.fixture
def tag() -> str:
    """A prefix for this test's segment ids (their queues are this test's own)."""
    return f"t{secrets.token_hex(4)}"


@dataclass
class Env:
    """What a test's processes share: the broker, the key, the playbook, a store."""

    broker: dict[str, str]
    key: str
    tmp: Path
    url: str = ""  # the URL the processes get (default: the plain amqp one)
    segments: list[str] = field(default_factory=list)
    agents: list[AgentProcess] = field(default_factory=list)

    def environ(self, *, with_broker: bool = True, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items()
               if k not in ("SENTINEL_BROKER", "SENTINEL_AGENT_KEY_FILE", "SENTINEL_ES_URL")}
        env["SENTINEL_AGENT_KEY"] = self.key
        env["SENTINEL_BROKER_CA"] = self.broker["SENTINEL_BROKER_CA"]
        if with_broker:
            env["SENTINEL_BROKER"] = self.url or self.broker["SENTINEL_BROKER"]
        env.update(extra)
        return env

    def sentinel(self, *args: str, with_broker: bool = True, check: bool = True,
                 timeout: float = 120, **extra: str) -> subprocess.CompletedProcess[str]:
        done = subprocess.run([sys.executable, "-m", "sentinel.cli", *args],
                              env=self.environ(with_broker=with_broker, **extra),
                              capture_output=True, text=True, timeout=timeout, check=False)
        if check and done.returncode != 0:
            raise AssertionError(f"sentinel {' '.join(args)} exited {done.returncode}:\n"
                                 f"{done.stderr[-3000:]}")
        return done

    def process_scan(self, playbook: Path, store: Path, *args: str) -> subprocess.Popen[str]:
        """``sentinel scan --broker`` in the background (the test acts while it follows)."""
        return subprocess.Popen(
            [sys.executable, "-m", "sentinel.cli", "scan", "--playbook", str(playbook),
             "--store", str(store), *args],
            env=self.environ(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def agent(self, playbook: Path, segment: str, name: str, *, heartbeat: float = 1.0,
              wait: bool = True) -> AgentProcess:
        """Start ``sentinel agent run`` for one segment; by default, wait until the broker
        counts one more consumer on the segment's queue."""
        before = self.consumers(segment)
        log = (self.tmp / f"{name}.log").open("w")
        process = subprocess.Popen(
            [sys.executable, "-m", "sentinel.cli", "agent", "run", "--playbook", str(playbook),
             "--segment", segment, "--name", name, "--heartbeat", str(heartbeat)],
            env=self.environ(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        agent = AgentProcess(name, process, self.tmp / f"{name}.log")
        self.agents.append(agent)
        if wait:
            wait_for(lambda: self.consumers(segment) > before or agent.died(), 60,
                     f"agent {name} to consume {segment}")
            assert not agent.died(), f"agent {name} exited:\n{agent.output()[-3000:]}"
        return agent

    def consumers(self, segment: str) -> int:
        return consumers(self.broker["SENTINEL_BROKER"], segment)


@dataclass
class AgentProcess:
    name: str
    process: subprocess.Popen[bytes]
    log: Path

    def died(self) -> bool:
        return self.process.poll() is not None

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def kill(self) -> None:
        """SIGKILL the agent (its whole session: it holds no children, but be sure)."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        """SIGTERM (a warm shutdown), then SIGKILL if it has not left within 15 s."""
        if self.died():
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.kill()


@pytest.fixture
def env(broker: dict[str, str], key: str, tmp_path: Path) -> Iterator[Env]:
    """The test's environment; its agents are stopped and its queues deleted afterwards."""
    made = Env(broker, key, tmp_path)
    yield made
    for agent in made.agents:
        agent.stop()
    with Connection(broker["SENTINEL_BROKER"]) as conn:
        channel = conn.default_channel
        for segment in made.segments:
            with contextlib.suppress(Exception):
                channel.queue_delete(f"sentinel.seg.{segment}")


class Server(ThreadedServer):
    """A TCP server on one loopback address and port that counts connections; it sends
    ``banner`` after ``delay`` seconds (None: it never sends, and holds the connection)."""

    def __init__(self, address: str, port: int, banner: bytes | None, delay: float = 0.0):
        self.banner = banner
        self.delay = delay
        super().__init__(self._answer, address=address, port=port)

    def _answer(self, conn: socket.socket) -> None:
        if self.banner is None or self.closing.wait(self.delay):
            return  # held open until close()
        conn.sendall(self.banner)
        conn.close()


@pytest.fixture
def servers() -> Iterator[Callable[..., Server]]:
    started: list[Server] = []

    def start(address: str, port: int, banner: bytes | None, delay: float = 0.0) -> Server:
        server = Server(address, port, banner, delay)
        started.append(server)
        return server

    yield start
    for server in started:
        server.close()
