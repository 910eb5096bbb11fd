"""``sentinel scan`` on a terminal shows a progress bar with the planned total and an ETA on
stderr; piped, stderr carries only the summary line (scripts read stdout: the scan id).

Real loopback listeners, the real command line; the terminal is a pseudo-terminal."""

from __future__ import annotations

import os
import pty
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.loopback import ThreadedServer, sends

HOSTS = ("127.0.0.1", "127.0.0.2", "127.0.0.3")


@pytest.fixture
def servers() -> Iterator[int]:
    first = ThreadedServer(sends(b"220 ready\r\n"), address=HOSTS[0])
    rest = [ThreadedServer(sends(b"220 ready\r\n"), address=h, port=first.port)
            for h in HOSTS[1:]]
    yield first.port
    for server in (first, *rest):
        server.close()


def playbook(tmp_path: Path, port: int) -> Path:
    book = tmp_path / "book.yml"
    book.write_text(f"""\
name: progress
agencies: [{{id: a1, name: {{zh: 一号单位, en: Agency One}}}}]
scope: {{authorised: ["127.0.0.0/8"]}}
segments:
  - {{id: lo, agency: a1, cidrs: ["127.0.0.0/8"], hosts: {list(HOSTS)}, zone: extranet}}
rate: {{packets_per_second: 100, concurrent_hosts: 1, probe_timeout_s: 3}}
probes: {{tcp: {{ports: [{port}], banner_wait_s: 0.5}}}}
""", encoding="utf-8")
    return book


def _env(tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "SENTINEL_STORE": str(tmp_path / "s.db"), "TERM": "xterm",
            "COLUMNS": "120", "HOME": str(tmp_path)}


def test_progress_bar_on_a_terminal(tmp_path: Path, servers: int) -> None:
    book = playbook(tmp_path, servers)
    leader, follower = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "sentinel.cli", "scan", "--playbook", str(book)],
        stdout=subprocess.PIPE, stderr=follower, env=_env(tmp_path))
    os.close(follower)
    seen = b""
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the terminal's other side closed: the command left
            break
        if not chunk:
            break
        seen += chunk
    os.close(leader)
    stdout, _ = process.communicate(timeout=60)
    assert process.returncode == 0, seen.decode(errors="replace")
    terminal = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", seen.decode(errors="replace"))
    # The planned total (3 assets) from the start, and an ETA column.
    assert re.search(r"scanning progress .*\b[0-3]/3 assets\b.*ETA", terminal), terminal
    assert re.fullmatch(r"[0-9a-f]{16}\n", stdout.decode()), stdout


def test_no_progress_bar_when_piped(tmp_path: Path, servers: int) -> None:
    book = playbook(tmp_path, servers)
    result = subprocess.run(
        [sys.executable, "-m", "sentinel.cli", "scan", "--playbook", str(book)],
        capture_output=True, text=True, env=_env(tmp_path), timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert re.fullmatch(r"[0-9a-f]{16}\n", result.stdout), result.stdout
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("scan ") and "completed" in lines[0], (
        result.stderr)
    assert "ETA" not in result.stderr and "\x1b" not in result.stderr
