"""The lab's network: namespaces, addresses only from the two lab ranges, no way out,
router advertisements (prefix and RDNSS) on dual-stack segments and none on the IPv4-only one,
and an idempotent `lab up`."""

from __future__ import annotations

import ipaddress
import json
import sys
import time
from pathlib import Path

import pytest

from sentinel.lab import LabStatus, lab_status, lab_up
from sentinel.lab.manifest import LAB_V4, LAB_V6, Host
from tests.lab.clients import MANIFEST, run

RA_PROBE = str(Path(__file__).with_name("ra_probe.py"))
ALL_NAMESPACES = ["sl-core", *(h.namespace for h in MANIFEST.hosts)]
pytestmark = pytest.mark.usefixtures("lab")


def _addresses(namespace: str) -> list[ipaddress.IPv4Interface | ipaddress.IPv6Interface]:
    entries = json.loads(run(["ip", "-n", namespace, "-j", "addr", "show"]).stdout)
    return [ipaddress.ip_interface(f"{a['local']}/{a['prefixlen']}")
            for entry in entries for a in entry.get("addr_info", [])]


def test_status_reports_every_namespace_and_process(lab: LabStatus) -> None:
    status = lab_status()
    assert status.up
    assert set(ALL_NAMESPACES) <= set(status.namespaces)
    assert all(p.alive for p in status.processes)


@pytest.mark.parametrize("namespace", ALL_NAMESPACES)
def test_only_lab_addresses(namespace: str) -> None:
    for address in _addresses(namespace):
        ip = address.ip
        assert ip.is_loopback or ip.is_link_local or ip in LAB_V4 or ip in LAB_V6, address


@pytest.mark.parametrize("namespace", ALL_NAMESPACES)
def test_no_default_route(namespace: str) -> None:
    for family in ("-4", "-6"):
        assert run(["ip", "-n", namespace, family, "route", "show", "default"]).stdout == ""


def test_scanner_routes_lead_only_into_the_lab() -> None:
    routes = run(["ip", "-j", "route", "show", "dev", "sl-core0"]).stdout
    routes6 = run(["ip", "-6", "-j", "route", "show", "dev", "sl-core0"]).stdout
    destinations = {r["dst"] for r in json.loads(routes) + json.loads(routes6)}
    transit = {str(MANIFEST.transit.v4), str(MANIFEST.transit.v6), "fe80::/64"}
    assert destinations - transit == {"198.18.0.0/15", "2001:db8::/32"}


def _adverts(host: Host) -> list[dict[str, object]]:
    done = run(["ip", "netns", "exec", host.namespace, sys.executable, RA_PROBE, "eth0", "3"])
    return list(json.loads(done.stdout or "[]"))


def test_router_advertisement_with_prefix_and_rdnss() -> None:
    resolver = MANIFEST.host(MANIFEST.resolver)
    for host in MANIFEST.hosts:
        if not host.accept_ra:
            continue
        segment = MANIFEST.segment(host.segment)
        adverts = _adverts(host)
        assert adverts, f"no RA heard on {segment.id}"
        assert adverts[0]["prefixes"] == [str(segment.v6)]
        assert adverts[0]["rdnss"] == [str(resolver.v6)]
        # The host configured itself from that prefix (SLAAC).
        assert any(a.ip in segment.v6 for a in _addresses(host.namespace)
                   if isinstance(a, ipaddress.IPv6Interface))


def test_no_router_advertisement_on_the_ipv4_only_segment() -> None:
    quiet = [s for s in MANIFEST.segments if not s.ra and s.v6 is None]
    assert quiet
    for segment in quiet:
        host = next(h for h in MANIFEST.hosts if h.segment == segment.id)
        assert _adverts(host) == []


def test_up_again_is_a_quick_no_op(lab: LabStatus) -> None:
    before = {p.name: p.pid for p in lab_status().processes}
    started = time.monotonic()
    after = lab_up(MANIFEST)
    assert time.monotonic() - started < 5
    assert {p.name: p.pid for p in after.processes} == before
