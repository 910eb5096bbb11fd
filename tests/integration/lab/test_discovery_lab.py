"""Discovery against the lab: every host on the families it was built with, RA per segment.

Local-link discovery runs as an agent would, inside one host's namespace per segment
(``ip netns exec sl-<host> sentinel discover --json``); remote discovery runs from
the scanner's namespace with ICMP/ICMPv6 echo and a TCP SYN fallback.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from sentinel.lab import LabStatus, Manifest
from sentinel.playbook import load_playbook
from sentinel.probes.discovery import echo_sweep, syn_ping
from sentinel.scan.run import policy_for
from sentinel.scope import Gate

pytestmark = pytest.mark.lab
ROOT = Path(__file__).resolve().parents[3]
PLAYBOOK = ROOT / "playbooks" / "lab.yml"


def _agent(manifest: Manifest, segment: str) -> str:
    """The host whose namespace plays the agent (not ws: it must be found by SLAAC)."""
    return next(h.id for h in manifest.hosts if h.segment == segment and h.id != "ws")


@pytest.fixture(scope="module")
def local(lab: LabStatus, manifest: Manifest, tmp_path_factory: pytest.TempPathFactory
          ) -> dict[str, dict[str, Any]]:
    """Local-link discovery output per segment (``sentinel discover --json``, each into a
    store of its own), all segments run in parallel."""
    stores = tmp_path_factory.mktemp("discover")
    procs = {
        s.id: subprocess.Popen(
            ["ip", "netns", "exec", f"sl-{_agent(manifest, s.id)}", sys.executable, "-m",
             "sentinel.cli", "discover", "--playbook", str(PLAYBOOK), "--segment", s.id,
             "--iface", "eth0", "--json", "--store", str(stores / f"{s.id}.db")],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for s in manifest.segments
    }
    out = {}
    for segment, proc in procs.items():
        stdout, stderr = proc.communicate(timeout=120)
        assert proc.returncode == 0, stderr
        out[segment] = json.loads(stdout)
    return out


def _found(result: dict[str, Any]) -> set[str]:
    return {h["address"] for h in result["hosts"]} | set(result["self"])


def test_every_host_is_found_on_each_address_it_has(local: dict[str, dict[str, Any]],
                                                    manifest: Manifest) -> None:
    for host in manifest.hosts:
        seen = _found(local[host.segment])
        for address in (host.v4, host.v6):
            if address is not None:
                assert str(address) in seen, f"{host.id} {address}"


def test_ipv6_only_host_is_found_only_over_ipv6(local: dict[str, dict[str, Any]],
                                                manifest: Manifest) -> None:
    v6portal = next(h for h in manifest.hosts if h.id == "v6portal")
    found = {h["address"]: h for h in local["dmz"]["hosts"]}
    assert str(v6portal.v6) in found
    macs_v4 = {h["mac"] for h in local["dmz"]["hosts"] if h["family"] == "ipv4"}
    assert found[str(v6portal.v6)]["mac"] not in macs_v4


def test_psb_hosts_are_ipv4_only_and_hear_no_router(local: dict[str, dict[str, Any]]) -> None:
    psb = local["psb"]
    assert {h["family"] for h in psb["hosts"]} == {"ipv4"}
    assert len(psb["hosts"]) >= 3  # the gateway and the two other psb hosts
    assert psb["router_advertisements"] == []
    assert "no IPv6 prefix" in psb["notes"][0]


def test_ws_is_found_by_its_slaac_address(local: dict[str, dict[str, Any]],
                                          manifest: Manifest) -> None:
    ws = next(h for h in manifest.hosts if h.id == "ws")
    data = local["data"]["hosts"]
    ws_mac = next(h["mac"] for h in data if h["address"] == str(ws.v4))
    slaac = [h for h in data if h["family"] == "ipv6" and h["mac"] == ws_mac]
    assert len(slaac) == 1
    address = ipaddress.IPv6Address(slaac[0]["address"])
    assert address in ipaddress.ip_network("2001:db8:11::/64")
    assert "icmpv6-multicast" in slaac[0]["methods"]


def test_router_advertisements_carry_the_segment_prefix_and_rdnss(
        local: dict[str, dict[str, Any]], manifest: Manifest) -> None:
    resolver = next(h for h in manifest.hosts if h.id == manifest.resolver)
    for segment in manifest.segments:
        adverts = local[segment.id]["router_advertisements"]
        if not segment.ra:
            assert adverts == []
            continue
        prefixes = {p["prefix"] for a in adverts for p in a["prefixes"]}
        assert prefixes == {str(segment.v6)}, segment.id
        assert {str(resolver.v6)} == {r for a in adverts for r in a["rdnss"]}
        assert not any(a["managed"] for a in adverts)


def test_remote_echo_and_syn_find_every_address_from_the_scanner(lab: LabStatus,
                                                                 manifest: Manifest) -> None:
    playbook = load_playbook(PLAYBOOK)
    gate = Gate(policy_for(playbook), playbook.rate)
    addresses = [str(a) for h in manifest.hosts for a in (h.v4, h.v6) if a is not None]

    async def sweep() -> set[str]:
        echoed = {h["address"] for h in await echo_sweep(gate, addresses, 2.0)}
        missing = [a for a in addresses if a not in echoed]
        synned = {h["address"] for h in await syn_ping(gate, missing, 2.0)}
        return echoed | synned

    found = asyncio.run(sweep())
    assert set(addresses) <= found
    assert gate.bucket.spent >= len(addresses)
    assert not gate.refusals


def test_discovery_refuses_addresses_outside_scope(lab: LabStatus) -> None:
    playbook = load_playbook(PLAYBOOK)
    gate = Gate(policy_for(playbook), playbook.rate)
    found = asyncio.run(echo_sweep(gate, ["192.0.2.1", "198.18.10.10"], 1.0))
    assert [h["address"] for h in found] == ["198.18.10.10"]
    assert gate.refusals == [("192.0.2.1", "outside the authorised scope")]
