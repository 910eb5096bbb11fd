"""Agents in the lab (`sentinel lab up --agents`): one `sentinel agent run` inside each segment.

Each segment gets an agent namespace (``sl-a-<segment>``) on its bridge, at the segment's
``AGENT_HOST`` address (``.250`` / ``::250``; the manifest keeps it free), routed like a host:
only the lab ranges, no default route. The broker is the local RabbitMQ node of
``tools/broker`` (started here when it does not answer, and then stopped by `lab down`); the
namespaces reach it through a relay on the scanner's end of the transit link
(``198.18.0.1:<port>``, a recorded lab process, so it lives and dies with the lab). The
coordinator, in the root namespace, uses the node's own 127.0.0.1 URL (``lab status --json``
prints it as ``broker``).

Every agent gets the lab playbook with its own segment's egress pinned to its ``eth0`` (the
central scanner's path, ``sl-core0``, does not exist in its namespace), the deployment key
(a 0600 file in the state dir) and the lab's SNMPv3 passphrases from the manifest.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import secrets
import shutil
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import yaml

from sentinel.errors import LabError
from sentinel.lab import netns
from sentinel.lab.manifest import Manifest, Segment
from sentinel.lab.playbook import SNMP_AUTH_ENV, SNMP_PRIV_ENV, lab_playbook
from sentinel.lab.procs import ROOT_NS, alive, run, spawn, stop
from sentinel.lab.state import LabPaths, ProcessRecord

AGENT_HOST = 0x250  # an agent's address in its segment: network + 592 (v6), .250 (v4)
AGENT_HOST_V4 = 250
NS_PREFIX = "sl-a-"
RELAY = "agents-broker-relay"
BROKER_HOME_ENV = "SENTINEL_BROKER_HOME"
READY_TIMEOUT_S = 90.0
ROOT = Path(__file__).resolve().parents[2]


def broker_home() -> Path:
    return Path(os.environ.get(BROKER_HOME_ENV) or Path.home() / ".cache/sentinel-broker")


def agent_namespace(segment: Segment) -> str:
    return f"{NS_PREFIX}{segment.id}"


def agent_addresses(segment: Segment) -> tuple[ipaddress.IPv4Address,
                                               ipaddress.IPv6Address | None]:
    """Where a segment's agent stands (the manifest refuses a host there)."""
    v6 = None if segment.v6 is None else segment.v6.network_address + AGENT_HOST
    return segment.v4.network_address + AGENT_HOST_V4, v6


def _folder(paths: LabPaths) -> Path:
    return paths.root / "agents"


def broker_env() -> dict[str, str]:
    """``broker.env`` of the running node (``tools/broker/start.sh`` writes it)."""
    text = (broker_home() / "broker.env").read_text(encoding="utf-8")
    return dict(line.split("=", 1) for line in text.split() if "=" in line)


def answers(url: str) -> bool:
    """Whether a broker answers at ``url``."""
    from kombu import Connection

    try:
        with Connection(url, connect_timeout=3) as conn:
            conn.ensure_connection(max_retries=1)
        return True
    except Exception:
        return False


def _broker(paths: LabPaths) -> str:
    """The node's local URL, starting the node when it does not answer."""
    envfile = broker_home() / "broker.env"
    if envfile.exists() and answers(broker_env().get("SENTINEL_BROKER", "")):
        return broker_env()["SENTINEL_BROKER"]
    script = ROOT / "tools" / "broker" / "start.sh"
    if not script.is_file():
        raise LabError(f"no broker: {script} is missing (a wheel install has no tools/; run "
                       "`make broker` from a checkout and set SENTINEL_BROKER_HOME)")
    done = run(["bash", str(script)], check=False, timeout=240)
    if done.returncode != 0:
        raise LabError(f"tools/broker/start.sh failed: {(done.stderr or done.stdout)[-800:]}")
    (_folder(paths) / "broker-started").write_text("1\n", encoding="ascii")
    return broker_env()["SENTINEL_BROKER"]


def _relayed(url: str, manifest: Manifest) -> str:
    """The same URL through the transit relay (what the namespaces can reach)."""
    parts = urlsplit(url)
    auth = parts.netloc.rsplit("@", 1)[0] + "@" if "@" in parts.netloc else ""
    netloc = f"{auth}{manifest.transit.root_v4}:{parts.port or 5672}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def _build_namespace(segment: Segment) -> None:
    ns = agent_namespace(segment)
    v4, v6 = agent_addresses(segment)
    netns.ip("netns", "add", ns)
    netns.sysctl(ns, {"net.ipv6.conf.all.accept_dad": "0",
                      "net.ipv6.conf.default.accept_dad": "0",
                      "net.ipv6.conf.all.accept_ra": "0", "net.ipv6.conf.default.accept_ra": "0"})
    netns.ip("link", "set", "lo", "up", namespace=ns)
    port = f"a-{segment.id}"
    netns.ip("link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", ns,
             namespace=netns.CORE_NS)
    netns.ip("link", "set", port, "master", netns.bridge_name(segment), "up",
             namespace=netns.CORE_NS)
    netns.ip("addr", "add", f"{v4}/{segment.v4.prefixlen}", "dev", "eth0", namespace=ns)
    if v6 is not None and segment.v6 is not None:
        netns.ip("addr", "add", f"{v6}/{segment.v6.prefixlen}", "dev", "eth0", "nodad",
                 namespace=ns)
    netns.ip("link", "set", "eth0", "up", namespace=ns)
    netns.ip("route", "add", "198.18.0.0/15", "via", str(segment.gateway_v4), namespace=ns)
    if segment.gateway_v6 is not None:
        netns.ip("-6", "route", "add", "2001:db8::/32", "via", str(segment.gateway_v6), "dev",
                 "eth0", "onlink", namespace=ns)


def agent_playbook(manifest: Manifest, segment: Segment) -> dict[str, Any]:
    """The lab playbook as an agent of ``segment`` holds it: its own segment leaves by its
    ``eth0``; the other segments are not this agent's to reach (no egress of theirs exists
    in its namespace)."""
    book = lab_playbook(manifest)
    for item in book["segments"]:
        if item["id"] == segment.id:
            item["egress"] = {"interface": "eth0"}
        else:
            item.pop("egress", None)
    book["description"] = f"The lab playbook as the agent of segment {segment.id} holds it."
    return book


def consumers(url: str, segment: str) -> int:
    """The consumers of a segment's queue, as the broker counts them (0: not declared)."""
    from kombu import Connection

    with Connection(url, connect_timeout=3) as conn:
        try:
            return int(conn.default_channel.queue_declare(
                queue=f"sentinel.seg.{segment}", passive=True).consumer_count)
        except Exception:  # the queue is declared by the agent's worker when it starts
            return 0


def agents_up(manifest: Manifest, paths: LabPaths) -> dict[str, Any]:
    """Start the broker relay and one agent per segment (nothing when they already run)."""
    current = agents_status(paths)
    if current is not None and current["up"]:
        return current
    agents_down(paths)
    folder = _folder(paths)
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    taken = {str(a) for h in manifest.hosts for a in (h.v4, h.v6) if a is not None}
    for segment in manifest.segments:
        clash = {str(a) for a in agent_addresses(segment) if a is not None} & taken
        if clash:
            raise LabError(f"segment {segment.id}: a host has its agent's address "
                           f"{', '.join(sorted(clash))}")
    url = _broker(paths)
    port = urlsplit(url).port or 5672
    relay = spawn(paths, RELAY, ROOT_NS, [
        "socat", f"TCP-LISTEN:{port},bind={manifest.transit.root_v4},reuseaddr,fork",
        f"TCP:127.0.0.1:{port}"])
    key = folder / "agent.key"
    key.touch(mode=0o600)
    key.write_text(secrets.token_hex(32), encoding="ascii")
    snmp = next((p for h in manifest.hosts for s in h.services
                 if (p := s.properties).v3_user), None)
    env = {"SENTINEL_BROKER": _relayed(url, manifest), "SENTINEL_AGENT_KEY_FILE": str(key),
           "SENTINEL_DATA_DIR": os.environ.get("SENTINEL_DATA_DIR", ""),
           # The agents run the code `lab up` runs, however it was installed.
           "PYTHONPATH": os.pathsep.join(filter(None, (str(ROOT),
                                                       os.environ.get("PYTHONPATH"))))}
    if snmp is not None:
        env |= {SNMP_AUTH_ENV: snmp.v3_auth_pass or "", SNMP_PRIV_ENV: snmp.v3_priv_pass or ""}
    env = {k: v for k, v in env.items() if v}
    records: list[ProcessRecord] = [relay]
    try:
        for segment in manifest.segments:
            _build_namespace(segment)
            book = folder / f"{segment.id}.yml"
            book.write_text(yaml.safe_dump(agent_playbook(manifest, segment),
                                           allow_unicode=True, sort_keys=False),
                            encoding="utf-8")
            records.append(spawn(paths, f"agent-{segment.id}", agent_namespace(segment), [
                sys.executable, "-m", "sentinel.cli", "agent", "run", "--playbook", str(book),
                "--segment", segment.id, "--name", f"lab-{segment.id}", "--heartbeat", "5"],
                env=env, cwd=folder))
        _wait_ready(url, manifest, records, paths)
    except BaseException:
        agents_down(paths)
        raise
    (folder / "agents.json").write_text(json.dumps({
        "broker": url, "key_file": str(key),
        "segments": [s.id for s in manifest.segments]}), encoding="utf-8")
    status = agents_status(paths)
    assert status is not None
    return status


def _wait_ready(url: str, manifest: Manifest, records: list[ProcessRecord],
                paths: LabPaths) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    waiting = [s.id for s in manifest.segments]
    while waiting:
        dead = [r.name for r in records if not alive(r.pid)]
        if dead:
            logs = "; ".join(
                f"{name}: {(paths.logs / f'{name}.log').read_text(errors='replace')[-600:]}"
                for name in dead)
            raise LabError(f"lab agents exited at start: {logs}")
        waiting = [s for s in waiting if consumers(url, s) == 0]
        if waiting and time.monotonic() > deadline:
            raise LabError(f"lab agents of {', '.join(waiting)} did not reach the broker "
                           f"within {READY_TIMEOUT_S:g} s (logs in {paths.logs})")
        if waiting:
            time.sleep(0.2)


def agents_status(paths: LabPaths) -> dict[str, Any] | None:
    """The agents' broker and processes, or None when the lab runs without agents."""
    info = _folder(paths) / "agents.json"
    if not info.exists():
        return None
    data: dict[str, Any] = json.loads(info.read_text(encoding="utf-8"))
    mine = [r for r in paths.records() if r.name == RELAY or r.name.startswith("agent-")]
    data["processes"] = {r.name: alive(r.pid) for r in mine}
    data["up"] = bool(mine) and all(data["processes"].values())
    return data


def agents_down(paths: LabPaths) -> None:
    """Stop the agents and the relay, remove their namespaces (the lab stays up); stop the
    broker node when `lab up --agents` started it."""
    mine = [r for r in paths.records() if r.name == RELAY or r.name.startswith("agent-")]
    stop([r.pid for r in mine], grace=15.0)  # SIGTERM first: a warm shutdown
    for record in mine:
        with contextlib.suppress(OSError):
            (paths.pids / f"{record.name}.pid").unlink()
    netns.delete_namespaces([n for n in netns.lab_namespaces() if n.startswith(NS_PREFIX)])
    folder = _folder(paths)
    if (folder / "broker-started").exists():
        run(["bash", str(ROOT / "tools" / "broker" / "stop.sh")], check=False, timeout=120)
    shutil.rmtree(folder, ignore_errors=True)
