"""The lab's two government-cloud tenants, declared against observed (issue 16 items 3, 4).

The declared inventory (lab/cloud/openstack) is served to the real openstacksdk by the local
Keystone/Neutron/Nova of tests/integration/test_cloud_collect.py on 127.0.0.1 and collected
with ``sentinel cloud collect``; the lab enforces the same security groups with nftables in
each instance's namespace, with one declared difference (lab/cloud/lab.yml: redis on
t2cache accepted over IPv4 from every lab address). ``sentinel cloud drift`` probes the
instances from the scanner, ``sentinel cloud isolation`` from inside tenant cloud-t1 (the
namespace of its host tlcp); both must find that one difference and nothing else.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from sentinel.lab import LabStatus
from sentinel.lab.cloud_fw import LAB_CLOUD
from sentinel.report.tenants import tenant_sections
from tests.integration import test_cloud_collect as openstack_api

PLAYBOOK = Path(__file__).parents[3] / "playbooks" / "lab.yml"
SCANNER = ("198.18.0.1", "2001:db8::1")  # the manifest's transit, root side
T1_VANTAGE = ("sl-tlcp", "198.18.20.31", "2001:db8:20::31")  # tenant cloud-t1's host tlcp


def _sentinel(env: dict[str, str] | None, *args: str, netns: str | None = None
              ) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "sentinel.cli", *args]
    if netns is not None:
        argv = ["ip", "netns", "exec", netns, *argv]
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=600,
                          check=False)


def _failed(store: Path, scan: str, check: str) -> list[dict[str, Any]]:
    done = _sentinel(None, "findings", "--json", "--store", str(store), "--scan", scan,
                     "--check", check)
    assert done.returncode == 0, done.stderr
    return list(json.loads(done.stdout))


def _endpoint(doc: dict[str, Any]) -> tuple[str, int]:
    evidence = doc["sentinel"]["evidence"]
    return evidence["address"], evidence["port"]


@pytest.fixture(scope="module")
def collected(tmp_path_factory: pytest.TempPathFactory, lab: LabStatus
              ) -> tuple[Path, Path, dict[str, str]]:
    """The lab's bodies fetched through openstacksdk (``--dump``) and stored."""
    del lab
    tmp = tmp_path_factory.mktemp("cloud-lab")
    server = ThreadingHTTPServer(("127.0.0.1", 0), openstack_api.OpenStackApi)
    server.seen = []  # type: ignore[attr-defined]
    server.broken = False  # type: ignore[attr-defined]
    bodies = openstack_api.BODIES
    openstack_api.BODIES = LAB_CLOUD / "openstack"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        env = openstack_api._clouds(tmp, server.server_address[1])
        store, dump = tmp / "s.db", tmp / "dump"
        done = _sentinel(env, "cloud", "collect", "--provider", "openstack", "--cloud",
                         "govcloud", "--all-projects", "--playbook", str(PLAYBOOK),
                         "--store", str(store), "--dump", str(dump))
        assert done.returncode == 0, done.stderr
        assert "stored 16 cloud resources" in done.stderr, done.stderr
    finally:
        openstack_api.BODIES = bodies
        server.shutdown()
        server.server_close()
        thread.join(5)
    return store, dump, env


def test_the_collected_bodies_are_the_committed_ones(
        collected: tuple[Path, Path, dict[str, str]]) -> None:
    _, dump, _ = collected
    for name in ("security-groups", "ports", "servers", "networks", "subnets"):
        got = json.loads((dump / f"{name}.json").read_text(encoding="utf-8"))
        want = json.loads((LAB_CLOUD / "openstack" / f"{name}.json").read_text(encoding="utf-8"))
        assert got == want, name


def test_drift_from_the_scanner_is_exactly_the_declared_one(
        collected: tuple[Path, Path, dict[str, str]]) -> None:
    store, dump, _ = collected
    done = _sentinel(None, "cloud", "drift", str(dump), "--playbook", str(PLAYBOOK),
                     "--source", SCANNER[0], "--source", SCANNER[1], "--store", str(store))
    assert done.returncode == 0, done.stderr
    scan = done.stdout.strip().splitlines()[-1]
    (drift,) = _failed(store, scan, "CLOUD-DRIFT")
    assert _endpoint(drift) == ("198.18.21.30", 6379)
    evidence = drift["sentinel"]["evidence"]
    assert evidence["family"] == "IPv4" and evidence["groups"] == ["t2-cache"]
    assert evidence["why_denied"].startswith("tcp/6379 over IPv4 is open only to tcp/6379 from "
                                             "group ")
    assert drift["sentinel"]["tenant"] == "cloud-t2"
    assert drift["organization"]["id"] == "cloud-t2"
    # t2web's HTTP rule opens port 80 to everyone, and nothing serves it: one finding for the
    # port (a key names a check on an asset's port), refused over both families
    (unused,) = _failed(store, scan, "CLOUD-ALLOWED-UNUSED")
    assert _endpoint(unused) == ("198.18.21.10", 80)
    assert unused["sentinel"]["severity"] == "info"
    assert unused["sentinel"]["evidence"]["other_addresses"] == [
        {"address": "2001:db8:21::10", "evaluation": "failed"}]
    assert not _failed(store, scan, "CLOUD-ISOLATION")
    sections = {s["tenant"]: s for s in tenant_sections(
        _failed(store, scan, "CLOUD-DRIFT") + _failed(store, scan, "CLOUD-ALLOWED-UNUSED"))}
    assert [i["check_id"] for i in sections["cloud-t2"]["drift"]] == ["CLOUD-DRIFT"]


def test_isolation_from_inside_tenant_one_finds_the_one_gap(
        collected: tuple[Path, Path, dict[str, str]]) -> None:
    store, dump, _ = collected
    netns, v4, v6 = T1_VANTAGE
    done = _sentinel(None, "cloud", "isolation", str(dump), "--playbook", str(PLAYBOOK),
                     "--from-tenant", "cloud-t1", "--source", v4, "--source", v6,
                     "--store", str(store), netns=netns)
    assert done.returncode == 0, done.stderr
    scan = done.stdout.strip().splitlines()[-1]
    (gap,) = _failed(store, scan, "CLOUD-ISOLATION")
    assert _endpoint(gap) == ("198.18.21.30", 6379)
    assert gap["sentinel"]["evidence"]["from_tenant"] == "cloud-t1"
    assert gap["sentinel"]["evidence"]["source"] == v4
    assert not _failed(store, scan, "CLOUD-DRIFT")
    (section,) = tenant_sections([gap])
    assert section["isolation"] == [{"from": "cloud-t1", "to": "cloud-t2", "findings": 1}]


def _listening(netns: str, port: int) -> set[str]:
    done = subprocess.run(["ip", "netns", "exec", netns, "ss", "-H", "-l", "-n", "-t"],
                          capture_output=True, text=True, timeout=10, check=True)
    found = set()
    for line in done.stdout.splitlines():
        local = line.split()[3]
        address, _, bound = local.rpartition(":")
        if bound == str(port):
            found.add(address.strip("[]"))
    return found


def _connects(address: str, port: int) -> str:
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.settimeout(3)
        try:
            sock.connect((address, port))
        except TimeoutError:
            return "dropped"
        except ConnectionRefusedError:
            return "refused"
        return "open"


def test_nftables_really_drop_while_the_server_listens(lab: LabStatus) -> None:
    del lab
    # t2ssh: sshd listens on both addresses; only the NOC and the web tier may connect
    assert {"198.18.21.20", "2001:db8:21::20"} <= _listening("sl-t2ssh", 22)
    assert _connects("198.18.21.20", 22) == "dropped"
    assert _connects("2001:db8:21::20", 22) == "dropped"
    # t2cache: redis listens on both; the drift accepts IPv4 only
    assert {"198.18.21.30", "2001:db8:21::30"} <= _listening("sl-t2cache", 6379)
    assert _connects("2001:db8:21::30", 6379) == "dropped"
    assert _connects("198.18.21.30", 6379) == "open"
    # an allowed port with nothing behind it is refused, not dropped
    assert _connects("198.18.21.10", 80) == "refused"
    done = subprocess.run(["ip", "netns", "exec", "sl-t2cache", "nft", "list", "table", "inet",
                           "sentinel_cloud"], capture_output=True, text=True, timeout=10,
                          check=True)
    assert "policy drop;" in done.stdout and "drift: no group allows this" in done.stdout
