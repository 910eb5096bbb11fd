"""Change events end to end on the lab: scan, open a real service, scan, close it, scan.

A small playbook derived from ``playbooks/lab.yml`` (two hosts of the extranet ``data``
segment, tcp + tls probes) is scanned into a fresh store with the real CLI. Between scans a
throwaway HTTP listener is started inside ``legacy.test``'s namespace on 5900 (a VNC port, so
a management port), then stopped: the store must hold ``service-opened`` and then
``service-closed`` for that endpoint (its nginx on 443 keeps the host alive: a host that
answers nothing raises no change at all), and ``sentinel detect`` over the second scan must raise
the "management port opened" alert (and the plain "service opened" one) for it.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from sentinel.lab import LabStatus
from sentinel.store.sqlite import SqliteStore

pytestmark = pytest.mark.lab
REPO = Path(__file__).resolve().parents[3]
HOST, NAMESPACE, PORT = "198.18.11.20", "sl-legacy", 5900  # legacy.test (nginx on 443)
OTHER_HOST = "198.18.11.100"  # ws.test: runs nothing, and nothing changes there
MANAGEMENT_PORT_OPENED = "17955ad5-4681-5ade-a9e9-dae76cf22086"
SERVICE_OPENED = "578df9b0-a7da-556c-8229-33409feefc0b"


def _playbook(path: Path) -> Path:
    """playbooks/lab.yml cut down to ws.test and legacy.test over IPv4, tcp + tls."""
    spec: dict[str, Any] = yaml.safe_load((REPO / "playbooks" / "lab.yml").read_text("utf-8"))
    spec["name"] = "lab-change-events"
    spec["segments"] = [
        {**s, "hosts": [HOST, OTHER_HOST]} for s in spec["segments"] if s["id"] == "data"
    ]
    spec["assets"] = [
        {**a, "addresses": [a["addresses"][0]]}
        for a in spec["assets"]
        if a["id"] in ("ws.test", "legacy.test")
    ]
    spec["probes"] = {
        "tcp": {"ports": [22, 80, 443, PORT], "banner_wait_s": 0.3},
        "tls": {"ports": [443]},
    }
    spec.pop("sites", None)
    path.write_text(yaml.safe_dump(spec, allow_unicode=True), "utf-8")
    return path


def _sentinel(args: list[str], store: Path) -> str:
    env = {**os.environ, "SENTINEL_STORE": str(store)}
    done = subprocess.run(
        [sys.executable, "-m", "sentinel.cli", *args],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def _scan(playbook: Path, store: Path) -> str:
    _sentinel(["scan", "--playbook", str(playbook)], store)
    with SqliteStore(store, create=False) as opened:
        latest = opened.latest_scan()
        assert latest is not None
        return latest.id


def _events(store: Path, scan_id: str) -> list[dict[str, Any]]:
    with SqliteStore(store, create=False) as opened:
        return [doc for _, doc in opened.documents("events", scan_id=scan_id)]


def _port_events(events: list[dict[str, Any]], action: str) -> list[dict[str, Any]]:
    return [
        e
        for e in events
        if e["event"]["action"] == action
        and e.get("destination", {}).get("ip") == HOST
        and int(e["destination"]["port"]) == PORT
    ]


def _reachable() -> bool:
    try:
        with socket.create_connection((HOST, PORT), timeout=1.0):
            return True
    except OSError:
        return False


def _wait(up: bool) -> None:
    deadline = time.monotonic() + 20
    while _reachable() != up:
        assert time.monotonic() < deadline, f"{HOST}:{PORT} did not {'open' if up else 'close'}"
        time.sleep(0.1)


def _start_listener(workdir: Path) -> subprocess.Popen[bytes]:
    """python -m http.server inside legacy.test's namespace, in its own process group."""
    listener = subprocess.Popen(
        [
            "ip",
            "netns",
            "exec",
            NAMESPACE,
            sys.executable,
            "-m",
            "http.server",
            "--bind",
            HOST,
            "--directory",
            str(workdir),
            str(PORT),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    _wait(up=True)
    return listener


def _stop_listener(listener: subprocess.Popen[bytes]) -> None:
    if listener.poll() is None:
        os.killpg(listener.pid, signal.SIGTERM)
        listener.wait(timeout=10)


def test_service_opened_and_closed_raise_events_and_the_alert(
    lab: LabStatus, tmp_path: Path
) -> None:
    assert not _reachable(), f"{HOST}:{PORT} is already open: the lab is not as built"
    playbook, store = _playbook(tmp_path / "playbook.yml"), tmp_path / "sentinel.db"
    (tmp_path / "www").mkdir()
    _scan(playbook, store)
    listener = _start_listener(tmp_path / "www")
    try:
        opened_scan = _scan(playbook, store)
    finally:
        _stop_listener(listener)
        _wait(up=False)
    closed_scan = _scan(playbook, store)

    opened = _port_events(_events(store, opened_scan), "service-opened")
    assert len(opened) == 1, _events(store, opened_scan)
    assert opened[0]["sentinel"]["zone"] == "extranet"
    assert not _port_events(_events(store, opened_scan), "service-closed")
    assert len(_port_events(_events(store, closed_scan), "service-closed")) == 1
    assert not _port_events(_events(store, closed_scan), "service-opened")
    # ws.test did not change: no service event for it in any scan
    for scan_id in (opened_scan, closed_scan):
        assert not [
            e
            for e in _events(store, scan_id)
            if e.get("destination", {}).get("ip") == OTHER_HOST
            and e["event"]["action"].startswith("service-")
        ]

    alerts = [
        json.loads(line)
        for line in _sentinel(["detect", "--scan", opened_scan, "--json"], store).splitlines()
    ]
    fired = {a["rule"]["id"] for a in alerts}
    assert {MANAGEMENT_PORT_OPENED, SERVICE_OPENED} <= fired, alerts
    quiet = [
        json.loads(line)
        for line in _sentinel(["detect", "--scan", closed_scan, "--json"], store).splitlines()
    ]
    assert MANAGEMENT_PORT_OPENED not in {a["rule"]["id"] for a in quiet}
