"""A port joining and leaving a segment's bridge (an agent's namespace, an inject's host)
must not cost the next sweep any host.

A Linux bridge without a set MAC takes the lowest MAC of its ports and changes it when such a
port comes or goes; the hosts keep the old MAC for their gateway and their replies are lost
until neighbour unreachability detection gives up on it. Before the lab set each bridge's
MAC, ``lab down --agents`` then ``lab up --agents`` left 1 to 12 of the 36 listed IPv6
addresses silent to the next sweep (and once failed the agents test in CI)."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

import pytest

from sentinel.lab import LabStatus, Manifest
from sentinel.lab.netns import CORE_NS, bridge_mac, bridge_name
from sentinel.playbook import load_playbook
from sentinel.probes.routes import EgressGuard
from sentinel.scan.liveness import sweep
from sentinel.scan.run import policy_for
from sentinel.scope import Gate

pytestmark = pytest.mark.lab
ROOT = Path(__file__).resolve().parents[3]
PLAYBOOK = ROOT / "playbooks" / "lab.yml"
LOW_MAC = "02:00:00:00:00:01"  # lower than any port the lab makes: a bridge would take it


def _silent() -> list[str]:
    """The listed addresses of the lab playbook that a sweep (egress pinned) does not find."""
    book = load_playbook(PLAYBOOK)
    guard = EgressGuard.for_playbook(book)
    assert guard is not None and all(s.egress is not None for s in book.segments)
    live = asyncio.run(sweep(book, Gate(policy_for(book), book.rate, egress=guard)))
    assert live is not None
    return [a for s in book.segments for a in s.hosts if a not in live.up]


def _core(*args: str) -> str:
    return subprocess.run(["ip", "-n", CORE_NS, *args], check=True, capture_output=True,
                          text=True).stdout


def test_a_port_coming_and_going_keeps_every_host_reachable(lab: LabStatus,
                                                             manifest: Manifest) -> None:
    bridges = [bridge_name(s) for s in manifest.segments]
    added = []
    try:
        for i, bridge in enumerate(bridges):
            port = f"t-low{i}"
            _core("link", "add", port, "address", LOW_MAC, "type", "veth", "peer", "name",
                  f"t-peer{i}")
            added.append(port)
            _core("link", "set", port, "master", bridge, "up")
        # The hosts answer through the bridges while the low-MAC ports are on them.
        assert _silent() == []
    finally:
        for port in added:
            _core("link", "del", port)
    for segment in manifest.segments:
        shown = _core("-j", "link", "show", bridge_name(segment))
        assert bridge_mac(segment) in shown, shown
    # The ports are gone; the next sweep still finds every listed address, both families.
    assert _silent() == []
