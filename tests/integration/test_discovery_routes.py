"""Discovery sends by the kernel's current routes, not by scapy's copy from import time.

scapy reads the routing table once when imported. Here scapy is imported first, then a test
host appears behind a new link (as the lab does when it comes up after the process started):
the sweep must reach it through that link. With the stale table the echo would have left by
the machine's default route instead.
"""

from __future__ import annotations

import asyncio
import subprocess
import time
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


def make_link() -> None:
    """The test host's namespace and the veth to it (made anew: new index, new MACs)."""
    remove_link()
    ip("netns", "add", NS)
    ip("link", "add", ROOT_IF, "type", "veth", "peer", "name", NS_IF, "netns", NS)
    ip("addr", "add", f"{ROOT_ADDR}/30", "dev", ROOT_IF)
    ip("link", "set", ROOT_IF, "up")
    ip("-n", NS, "addr", "add", f"{HOST_ADDR}/30", "dev", NS_IF)
    ip("-n", NS, "link", "set", NS_IF, "up")
    ip("-n", NS, "link", "set", "lo", "up")


def remove_link() -> None:
    subprocess.run(["ip", "link", "del", ROOT_IF], capture_output=True, check=False)
    subprocess.run(["ip", "netns", "del", NS], capture_output=True, check=False)


@pytest.fixture
def host_behind_new_link() -> Iterator[str]:
    discovery.conf.route.resync()  # scapy's table as it is before the link exists
    assert discovery.conf.route.route(HOST_ADDR)[0] != ROOT_IF
    try:
        make_link()
        yield HOST_ADDR
    finally:
        remove_link()


def test_sweep_follows_a_route_that_appeared_after_import(host_behind_new_link: str) -> None:
    gate = Gate(policy_from([NET]), RateLimits())
    found = asyncio.run(discovery.echo_sweep(gate, [host_behind_new_link], 2.0))
    assert [f["address"] for f in found] == [HOST_ADDR]
    assert discovery.conf.route.route(HOST_ADDR)[0] == ROOT_IF



def test_sweep_survives_the_link_being_made_again(host_behind_new_link: str) -> None:
    """The lab rebuilt under a running scanner: same link name, new kernel index, new MACs.
    scapy's interface list and neighbour cache from the first send must not be used again
    (the send failed with ENODEV, or went to the old peer's MAC and the host looked down)."""
    gate = Gate(policy_from([NET]), RateLimits())
    first = asyncio.run(discovery.echo_sweep(gate, [host_behind_new_link], 2.0))
    make_link()
    again = asyncio.run(discovery.echo_sweep(gate, [host_behind_new_link], 2.0))
    assert [f["address"] for f in first] == [f["address"] for f in again] == [HOST_ADDR]


ROUTER_NS, HOST_NS = "sx-rt", "sx-h6"
LINK6, HIDDEN_HOP6, HOST6 = "2001:db8:fe::", "2001:db8:fe::99", "2001:db8:ff::2"
LINK4, HIDDEN_HOP4, HOST4 = "198.19.251.", "198.19.251.99", "198.19.252.2"


def _netns(ns: str, *args: str) -> None:
    ip("-n", ns, *args)


def _wait_operational(links: list[tuple[str, str]]) -> None:
    """Until the kernel calls each link UP: before that, a just-raised link still drops what
    is sent on it (its queue is not yet attached), and the test would measure that."""
    deadline = time.monotonic() + 10
    while True:
        states = [subprocess.run(["ip", *(["-n", ns] if ns else []), "-br", "link", "show",
                                  link], capture_output=True, text=True, check=True
                                 ).stdout.split()[1] for ns, link in links]
        if all(state == "UP" for state in states) or time.monotonic() > deadline:
            assert states == ["UP"] * len(links), states
            return
        time.sleep(0.05)


@pytest.fixture
def hosts_behind_a_static_gateway() -> Iterator[tuple[str, str]]:
    """Two hosts behind a router that the scanner reaches through a next hop known only from
    a static neighbour entry (as gateways are often configured): the router's MAC is in the
    kernel's table, but nothing answers ARP or neighbour solicitation for that next hop."""

    def clean() -> None:
        subprocess.run(["ip", "link", "del", "sx-rt0"], capture_output=True, check=False)
        for ns in (ROUTER_NS, HOST_NS):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, check=False)

    clean()
    try:
        ip("netns", "add", ROUTER_NS)
        ip("netns", "add", HOST_NS)
        # No duplicate-address detection: a tentative link-local address holds back the
        # router's forwarding for about two seconds after the links come up.
        for ns in (ROUTER_NS, HOST_NS):
            for knob in ("all", "default"):
                subprocess.run(["ip", "netns", "exec", ns, "sysctl", "-qw",
                                f"net.ipv6.conf.{knob}.accept_dad=0"], check=True,
                               capture_output=True)
        ip("link", "add", "sx-rt0", "type", "veth", "peer", "name", "up0", "netns", ROUTER_NS)
        subprocess.run(["sysctl", "-qw", "net.ipv6.conf.sx-rt0.accept_dad=0"], check=True,
                       capture_output=True)
        ip("-n", ROUTER_NS, "link", "add", "down0", "type", "veth", "peer", "name", "h0",
           "netns", HOST_NS)
        ip("addr", "add", f"{LINK4}1/24", "dev", "sx-rt0")
        ip("addr", "add", f"{LINK6}1/64", "dev", "sx-rt0", "nodad")
        ip("link", "set", "sx-rt0", "up")
        _netns(ROUTER_NS, "addr", "add", f"{LINK4}2/24", "dev", "up0")
        _netns(ROUTER_NS, "addr", "add", f"{LINK6}2/64", "dev", "up0", "nodad")
        _netns(ROUTER_NS, "addr", "add", "198.19.252.1/24", "dev", "down0")
        _netns(ROUTER_NS, "addr", "add", "2001:db8:ff::1/64", "dev", "down0", "nodad")
        _netns(HOST_NS, "addr", "add", f"{HOST4}/24", "dev", "h0")
        _netns(HOST_NS, "addr", "add", f"{HOST6}/64", "dev", "h0", "nodad")
        for ns, links in ((ROUTER_NS, ("up0", "down0", "lo")), (HOST_NS, ("h0", "lo"))):
            for link in links:
                _netns(ns, "link", "set", link, "up")
        _netns(HOST_NS, "route", "add", "default", "via", "198.19.252.1")
        _netns(HOST_NS, "-6", "route", "add", "default", "via", "2001:db8:ff::1")
        for knob in ("net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1"):
            subprocess.run(["ip", "netns", "exec", ROUTER_NS, "sysctl", "-qw", knob],
                           check=True, capture_output=True)
        mac = subprocess.run(["ip", "-n", ROUTER_NS, "-br", "link", "show", "up0"], check=True,
                             capture_output=True, text=True).stdout.split()[2]
        for hop in (HIDDEN_HOP4, HIDDEN_HOP6):
            ip("neigh", "replace", hop, "lladdr", mac, "dev", "sx-rt0", "nud", "permanent")
        _wait_operational([("", "sx-rt0"), (ROUTER_NS, "up0"), (ROUTER_NS, "down0"),
                           (HOST_NS, "h0")])
        ip("route", "add", "198.19.252.0/24", "via", HIDDEN_HOP4, "dev", "sx-rt0")
        ip("-6", "route", "add", "2001:db8:ff::/64", "via", HIDDEN_HOP6, "dev", "sx-rt0")
        yield HOST4, HOST6
    finally:
        clean()


def test_sweep_uses_the_kernels_neighbours(hosts_behind_a_static_gateway: tuple[str, str]
                                           ) -> None:
    """The probe packets go where the kernel would send them. scapy's own next-hop lookup asks
    once and, unanswered, falls back to the broadcast MAC, which a router never forwards: the
    live hosts were called down (as the IPv6-only lab host was, on a loaded CI machine, when
    the gateway's neighbour advertisement came late)."""
    gate = Gate(policy_from(["198.19.252.0/24", "2001:db8:ff::/64"]), RateLimits())
    echo = asyncio.run(discovery.echo_sweep(gate, list(hosts_behind_a_static_gateway), 2.0))
    syn = asyncio.run(discovery.syn_ping(gate, list(hosts_behind_a_static_gateway), 2.0, (22,)))
    assert sorted(f["address"] for f in echo) == sorted(hosts_behind_a_static_gateway)
    assert sorted(f["address"] for f in syn) == sorted(hosts_behind_a_static_gateway)
