"""OpenSSH servers offer exactly the manifest's algorithms (nmap ssh2-enum-algos) and hand
their host keys to ssh-keyscan, on every family the manifest lists."""

from __future__ import annotations

import re

import pytest

from sentinel.lab.manifest import Host, Service, ServiceKind
from tests.lab.clients import endpoint_id, endpoint_params, nmap_script, run

SSH_ENDPOINTS = endpoint_params({ServiceKind.SSHD})
# Markers OpenSSH adds to its KEXINIT that are not key exchange methods.
KEX_MARKERS = {"kex-strict-s-v00@openssh.com", "ext-info-s"}
pytestmark = pytest.mark.usefixtures("lab")


def _section(report: str, name: str) -> set[str]:
    match = re.search(rf"{name}: \(\d+\)\n((?:\|\s{{7}}.*\n)+)", report)
    assert match, report
    return {line.split()[-1] for line in match.group(1).splitlines()}


@pytest.mark.parametrize(("host", "service", "address"), SSH_ENDPOINTS, ids=endpoint_id)
def test_algorithms_are_exactly_the_claimed_ones(host: Host, service: Service,
                                                 address: str) -> None:
    props = service.properties
    report = nmap_script(address, service.port, "ssh2-enum-algos")
    assert _section(report, "kex_algorithms") - KEX_MARKERS == set(props.ssh_kex or [])
    assert _section(report, "encryption_algorithms") == set(props.ssh_ciphers or [])
    assert _section(report, "mac_algorithms") == set(props.ssh_macs or [])
    assert _section(report, "server_host_key_algorithms") == set(props.ssh_host_keys or [])


@pytest.mark.parametrize(("host", "service", "address"), SSH_ENDPOINTS, ids=endpoint_id)
def test_keyscan_gets_the_host_keys(host: Host, service: Service, address: str) -> None:
    types = {"ssh-ed25519": "ed25519", "ssh-rsa": "rsa", "ssh-dss": "dsa"}
    for algorithm in service.properties.ssh_host_keys or []:
        done = run(["ssh-keyscan", "-T", "5", "-p", str(service.port), "-t", types[algorithm],
                    address])
        keys = [line.split()[1] for line in done.stdout.splitlines() if not line.startswith("#")]
        assert keys == [algorithm], done.stderr
