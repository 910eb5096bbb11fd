"""Discovery sends by the kernel's current routes, not by scapy's copy from import time.

scapy reads the routing table once when imported. Here scapy is imported first, then a test
host appears behind a new link (as the lab does when it comes up after the process started):
the sweep must reach it through that link. With the stale table the echo would have left by
the machine's default route instead.
"""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Iterator

import pytest

from sentinel.playbook import RateLimits
from sentinel.probes import discovery
from sentinel.scope import Gate, policy_from

pytestmark = pytest.mark.lab  # root: it makes a namespace and links of its own

NS, ROOT_IF, NS_IF = "sx-routes", "sx-routes0", "sx-routes1"
NET, ROOT_ADDR, HOST_ADDR = "198.19.250.0/30", "198.19.250.1", "198.19.250.2"


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True)


@pytest.fixture
def host_behind_new_link() -> Iterator[str]:
    discovery.conf.route.resync()  # scapy's table as it is before the link exists
    assert discovery.conf.route.route(HOST_ADDR)[0] != ROOT_IF
    subprocess.run(["ip", "netns", "del", NS], capture_output=True, check=False)
    ip("netns", "add", NS)
    try:
        ip("link", "add", ROOT_IF, "type", "veth", "peer", "name", NS_IF, "netns", NS)
        ip("addr", "add", f"{ROOT_ADDR}/30", "dev", ROOT_IF)
        ip("link", "set", ROOT_IF, "up")
        ip("-n", NS, "addr", "add", f"{HOST_ADDR}/30", "dev", NS_IF)
        ip("-n", NS, "link", "set", NS_IF, "up")
        ip("-n", NS, "link", "set", "lo", "up")
        yield HOST_ADDR
    finally:
        subprocess.run(["ip", "link", "del", ROOT_IF], capture_output=True, check=False)
        subprocess.run(["ip", "netns", "del", NS], capture_output=True, check=False)


def test_sweep_follows_a_route_that_appeared_after_import(host_behind_new_link: str) -> None:
    gate = Gate(policy_from([NET]), RateLimits())
    found = asyncio.run(discovery.echo_sweep(gate, [host_behind_new_link], 2.0))
    assert [f["address"] for f in found] == [HOST_ADDR]
    assert discovery.conf.route.route(HOST_ADDR)[0] == ROOT_IF

