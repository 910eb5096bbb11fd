"""The ssh probe against the lab's OpenSSH servers on both address families: the offered
algorithms equal the manifest's, and equal what ssh-audit (a peer, in its own venv) lists;
the host keys' types, sizes and fingerprints equal the lab's and ssh-keyscan's."""

from __future__ import annotations

import asyncio
import ipaddress
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from sentinel.lab import LabStatus
from sentinel.lab.manifest import Host, Service, ServiceKind
from sentinel.lab.servers.sshd import HOST_KEY_TYPES
from sentinel.playbook import RateLimits
from sentinel.probes.base import Network
from sentinel.probes.ssh import probe_host_keys, probe_ssh
from sentinel.scope import Gate, ScopePolicy
from tests.lab.clients import endpoint, endpoint_id, endpoint_params, run

pytestmark = pytest.mark.lab
SSH_ENDPOINTS = endpoint_params({ServiceKind.SSHD})
BENCH = Path("/var/cache/sentinel-bench")
VENV = BENCH / "ssh-audit-venv"
SSH_AUDIT_SPEC = "ssh-audit>=3.3,<4"
AUDIT_KINDS = {"kex": "kex", "key": "host_key", "enc": "cipher", "mac": "mac"}


@pytest.fixture(scope="session")
def ssh_audit() -> Path:
    """ssh-audit in its own venv under /var/cache/sentinel-bench, created when missing."""
    exe = VENV / "bin" / "ssh-audit"
    if not exe.exists():
        BENCH.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        done = subprocess.run([str(VENV / "bin" / "pip"), "install", "--quiet", SSH_AUDIT_SPEC],
                              capture_output=True, text=True, check=False)
        assert done.returncode == 0, f"could not install {SSH_AUDIT_SPEC}: {done.stderr}"
    return exe


def _network() -> Network:
    policy = ScopePolicy(authorised=(ipaddress.ip_network("198.18.0.0/15"),
                                     ipaddress.ip_network("2001:db8::/32")))
    return Network(Gate(policy, RateLimits()), connect_timeout=5.0)


def _probe(address: str, port: int) -> dict[str, Any]:
    network = _network()

    async def run() -> dict[str, Any]:
        async with network.tcp(address, port) as (reader, writer):
            return await probe_ssh(reader, writer)

    return asyncio.run(run())


def _lab_key(algorithm: str) -> tuple[str, int]:
    """Type and size of the key the lab generated for ``algorithm`` (ssh-keygen defaults:
    DSA 1024, ed25519 256)."""
    argv = HOST_KEY_TYPES[algorithm]
    key_type = argv[argv.index("-t") + 1]
    bits = int(argv[argv.index("-b") + 1]) if "-b" in argv else {"dsa": 1024, "ed25519": 256}[
        key_type]
    return key_type, bits


def _keyscan(address: str, port: int, key_type: str) -> tuple[int, str]:
    """Size and SHA-256 fingerprint of the key ssh-keyscan gets, as ssh-keygen -lf prints."""
    scanned = run(["ssh-keyscan", "-T", "10", "-p", str(port), "-t", key_type, address])
    lines = [line for line in scanned.stdout.splitlines() if line and not line.startswith("#")]
    assert len(lines) == 1, scanned.stdout
    listed = run(["ssh-keygen", "-lf", "-"], stdin=lines[0] + "\n")
    bits, fingerprint = listed.stdout.split()[:2]
    return int(bits), fingerprint


def _names(facts: dict[str, Any], kind: str) -> list[str]:
    return [a["name"] for a in facts[kind]]


@pytest.mark.parametrize(("host", "service", "address"), SSH_ENDPOINTS, ids=endpoint_id)
def test_offered_algorithms_equal_the_manifest(lab: LabStatus, host: Host, service: Service,
                                               address: str) -> None:
    props = service.properties
    facts = _probe(address, service.port)
    assert facts["ssh2"] and not facts["ssh1"]
    assert facts["banner"]["software"].startswith("OpenSSH_")
    # sshd offers exactly its configured lists, in the configured order.
    assert _names(facts, "kex") == props.ssh_kex
    assert _names(facts, "cipher") == props.ssh_ciphers
    assert _names(facts, "mac") == props.ssh_macs
    assert _names(facts, "host_key") == props.ssh_host_keys
    assert "unknown" not in facts["classes"]


@pytest.mark.parametrize(("host", "service", "address"), SSH_ENDPOINTS, ids=endpoint_id)
def test_legacy_server_is_classified_broken(lab: LabStatus, host: Host, service: Service,
                                            address: str) -> None:
    facts = _probe(address, service.port)
    legacy = "diffie-hellman-group1-sha1" in (service.properties.ssh_kex or [])
    assert ("broken" in facts["classes"]) is legacy
    if not legacy:
        assert "pqc-hybrid" in facts["classes"]


@pytest.mark.parametrize(("host", "service", "address"), SSH_ENDPOINTS, ids=endpoint_id)
def test_algorithm_lists_equal_ssh_audit(lab: LabStatus, ssh_audit: Path, host: Host,
                                         service: Service, address: str) -> None:
    started = time.perf_counter()
    # --skip-rate-test: ssh-audit otherwise opens dozens of connections (DHEat check).
    done = subprocess.run([str(ssh_audit), "--skip-rate-test", "-j", "-t", "10",
                           endpoint(address, service.port)],
                          capture_output=True, text=True, timeout=60, check=False)
    peer_seconds = time.perf_counter() - started
    assert done.stdout, f"ssh-audit gave no JSON (exit {done.returncode}): {done.stderr}"
    audit = json.loads(done.stdout)
    started = time.perf_counter()
    facts = _probe(address, service.port)
    ours_seconds = time.perf_counter() - started
    for audit_kind, our_kind in AUDIT_KINDS.items():
        theirs = [a["algorithm"] for a in audit[audit_kind]]
        ours = _names(facts, our_kind)
        if our_kind == "kex":
            ours += facts["kex_markers"]  # ssh-audit lists the strict-kex marker as a kex
        assert ours == theirs, audit_kind
    assert facts["compression"] and [a["name"] for a in facts["compression"]] == \
        audit["compression"]
    assert facts["banner"]["raw"] == audit["banner"]["raw"]
    print(f"{endpoint(address, service.port)}: sentinel {ours_seconds * 1000:.0f} ms, "
          f"ssh-audit {peer_seconds * 1000:.0f} ms")


@pytest.mark.parametrize(("host", "service", "address"), SSH_ENDPOINTS, ids=endpoint_id)
def test_host_keys_equal_the_lab_and_ssh_keyscan(lab: LabStatus, host: Host, service: Service,
                                                 address: str) -> None:
    algorithms = service.properties.ssh_host_keys or []
    offered = _names(_probe(address, service.port), "host_key")
    found = asyncio.run(probe_host_keys(_network(), address, service.port, offered))
    assert found["host_key_errors"] == [] and found["host_keys_not_fetched"] == []
    keys = found["host_keys"]
    assert [k["algorithm"] for k in keys] == algorithms
    for key in keys:
        key_type, bits = _lab_key(key["algorithm"])
        assert (key["type"], key["bits"]) == (key_type, bits), key["algorithm"]
        assert _keyscan(address, service.port, key_type) == (bits, key["fingerprint_sha256"])
    print(f"{endpoint(address, service.port)}: "
          + ", ".join(f"{k['algorithm']} {k['type']}-{k['bits']} via {k['kex']}" for k in keys))
