"""Issue #14 item 2: egress pinned per segment.

With the lab down, ``sentinel scan --playbook playbooks/lab.yml`` sent its probes for
198.18.0.0/15 and 2001:db8::/32 out of the machine's default route. Proposed contract:

* a segment (or the playbook, as the default of its segments) declares where its traffic
  must leave: ``egress: {interface: NAME}``, ``egress: {via: NEXT_HOP}`` (the route's
  gateway) or ``egress: {netns: NAME}`` (Sentinel must be running in that named network
  namespace, /run/netns/NAME);
* before anything is sent — the discovery sweep (scapy) as much as kernel sockets — Sentinel
  asks the kernel for the route to each target (``ip route get`` / RTM_GETROUTE) and refuses
  the scan when a route leaves elsewhere or there is none: exit 2, one message naming the
  segment, the address and where it would have left, and an audit event in the store;
* ``playbooks/lab.yml`` (generated from the lab manifest) declares the lab's transit link,
  ``sl-core0``, so a lab scan with the lab down is refused before its first packet.

Every run is inside an empty network namespace. There, a veth pair whose both ends stay in
the namespace stands in for "the default interface" (``v0``, default routes v4 and v6) and,
where a test needs one, for the lab's link: frames sent there go nowhere.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.hostile.conftest import (
    DEFAULT_ROUTE_SETUP,
    REPO,
    Run,
    Sandbox,
    assert_no_crash,
    assert_refused,
    playbook,
    segment,
    store_events,
)

pytestmark = pytest.mark.hostile

LAB = REPO / "playbooks" / "lab.yml"
LAB_RANGES = ("198.18.0.0/15", "2001:db8::/32")


def _link(name: str, v4: str, v6: str) -> tuple[str, ...]:
    """A veth ``name`` (peer ``name``p, both in the namespace), up, with addresses."""
    return (f"ip link add {name} type veth peer name {name}p", f"ip link set {name}p up",
            f"ip link set {name} up", f"ip addr add {v4} dev {name}",
            f"ip -6 addr add {v6} dev {name} nodad")


def _egress_audited(store: Path) -> list[tuple[str, str]]:
    """The audit events that record an egress refusal."""
    return [(action, doc) for action, doc in store_events(store)
            if "egress" in action or ("refused" in action and "egress" in doc.lower())]


def _assert_egress_refused(run: Run, store: Path, *needles: str) -> None:
    assert_refused(run, "egress", *needles)
    assert _egress_audited(store), (
        f"no audit event for the egress refusal: {store_events(store)}\n{run.describe()}")


def _scan(sandbox: Sandbox, book: Path, setup: tuple[str, ...]) -> Run:
    return sandbox.run("scan", "--playbook", book, "--store", sandbox.store, setup=setup,
                       timeout=90)


# -- the lab playbook ----------------------------------------------------------------------


def _lab_egress() -> list[dict[str, Any]]:
    """Every egress the lab playbook declares (its own default and each segment's)."""
    doc = yaml.safe_load(LAB.read_text(encoding="utf-8"))
    declared = [doc["egress"]] if doc.get("egress") else []
    declared += [s["egress"] for s in doc["segments"] if s.get("egress")]
    missing = [s["id"] for s in doc["segments"] if not s.get("egress") and not doc.get("egress")]
    assert declared and not missing, (
        f"{LAB} declares no egress for segments {missing or 'all'}: a lab scan with the lab "
        "down would leave by the default route")
    return declared


def test_lab_playbook_declares_its_egress() -> None:
    for egress in _lab_egress():
        assert set(egress) <= {"interface", "via", "netns"} and egress, egress


@pytest.mark.parametrize("routes", [
    DEFAULT_ROUTE_SETUP,
    # A more specific route for the lab ranges, out of the wrong link (a VPN gone, its
    # routes replaced by a misconfigured static one).
    (*DEFAULT_ROUTE_SETUP, "ip route add 198.18.0.0/15 via 198.19.99.2 dev v0",
     "ip -6 route add 2001:db8::/32 via fd00:99::2 dev v0"),
], ids=["default-route", "lab-ranges-via-wrong-link"])
def test_lab_scan_with_the_lab_down_is_refused_before_the_first_packet(
        sandbox: Sandbox, routes: tuple[str, ...]) -> None:
    """The issue's case: no lab, lab addresses would leave by v0. Refused, exit 2, audited,
    nothing sent (no SYN, no ICMP echo, no ARP, no DNS query to the lab resolvers)."""
    run = _scan(sandbox, LAB, routes)
    _assert_egress_refused(run, sandbox.store)


def test_lab_scan_refused_when_the_lab_link_exists_but_routes_leave_elsewhere(
        sandbox: Sandbox) -> None:
    """The lab's link is there (and up) but the routes to the lab ranges are not on it."""
    names = {e["interface"] for e in _lab_egress() if "interface" in e}
    setup = list(DEFAULT_ROUTE_SETUP)
    for index, name in enumerate(sorted(names)):
        setup += _link(name, f"10.97.{index}.1/30", f"fd00:97:{index}::1/64")
    run = _scan(sandbox, LAB, tuple(setup))
    _assert_egress_refused(run, sandbox.store)


def test_lab_scan_goes_ahead_when_routes_leave_by_the_declared_egress(sandbox: Sandbox) -> None:
    """The lab's link up with the lab routes on it (the lab's servers themselves absent): the
    scan is not refused — its first packet goes to the declared link (where it ends)."""
    setup = list(DEFAULT_ROUTE_SETUP)
    for index, egress in enumerate(_lab_egress()):
        if "interface" in egress:
            name = egress["interface"]
            setup += _link(name, f"10.97.{index}.1/30", f"fd00:97:{index}::1/64")
            setup += [f"ip route replace {LAB_RANGES[0]} via 10.97.{index}.2 dev {name}",
                      f"ip -6 route replace {LAB_RANGES[1]} via fd00:97:{index}::2 dev {name}"]
        elif "via" in egress:
            gateway = egress["via"]
            family = "-6 " if ":" in gateway else ""
            setup += [*_link(f"eg{index}", f"10.97.{index}.1/30", f"fd00:97:{index}::1/64"),
                      f"ip {family}route replace "
                      f"{LAB_RANGES[1] if family else LAB_RANGES[0]} via {gateway} "
                      f"dev eg{index} onlink"]
        else:
            pytest.fail(f"cannot emulate egress {egress} in an empty namespace")
    run = _scan(sandbox, LAB, tuple(dict.fromkeys(setup)))
    assert_no_crash(run)
    assert "egress" not in run.stderr.lower(), run.describe()
    assert run.outbound, f"the scan did not start\n{run.describe()}"


# -- the contract on a small playbook ------------------------------------------------------

HOST = "198.18.66.7"
V6_HOST = "2001:db8:66::7"


def _book(sandbox: Sandbox, egress: dict[str, str] | None = None, *,
          dual: bool = False, **extra: Any) -> Path:
    cidrs = ["198.18.66.0/24", "2001:db8:66::/64"] if dual else ["198.18.66.0/24"]
    hosts = [HOST, V6_HOST] if dual else [HOST]
    seg = segment(cidrs, hosts, **({"egress": egress} if egress else {}))
    return sandbox.write("book.yml", playbook(authorised=list(LAB_RANGES), segments=[seg],
                                              **extra))


LAB0 = _link("lab0", "198.19.98.1/30", "fd00:98::1/64")
LAB0_ROUTES = ("ip route add 198.18.66.0/24 via 198.19.98.2 dev lab0",
               "ip -6 route add 2001:db8:66::/64 via fd00:98::2 dev lab0")


def test_segment_route_leaving_by_another_interface_is_refused(sandbox: Sandbox) -> None:
    """egress lab0; lab0 is up but the segment's route goes out v0 (the default)."""
    run = _scan(sandbox, _book(sandbox, {"interface": "lab0"}), (*DEFAULT_ROUTE_SETUP, *LAB0))
    _assert_egress_refused(run, sandbox.store, "lab0")


def test_segment_egress_interface_missing_is_refused(sandbox: Sandbox) -> None:
    run = _scan(sandbox, _book(sandbox, {"interface": "lab0"}), DEFAULT_ROUTE_SETUP)
    _assert_egress_refused(run, sandbox.store, "lab0")


def test_segment_without_any_route_is_refused(sandbox: Sandbox) -> None:
    """No route at all (only lo): refused up front with the egress audit, not a thousand
    'network unreachable' errors recorded as failed checks."""
    run = _scan(sandbox, _book(sandbox, {"interface": "lab0"}), LAB0)
    _assert_egress_refused(run, sandbox.store, "lab0")


def test_segment_v6_route_leaving_elsewhere_is_refused(sandbox: Sandbox) -> None:
    """Dual-stack segment: IPv4 leaves by lab0 as declared, IPv6 by the default route on v0."""
    setup = (*DEFAULT_ROUTE_SETUP, *LAB0, LAB0_ROUTES[0])
    run = _scan(sandbox, _book(sandbox, {"interface": "lab0"}, dual=True), setup)
    _assert_egress_refused(run, sandbox.store, "lab0")


def test_segment_via_other_next_hop_is_refused(sandbox: Sandbox) -> None:
    run = _scan(sandbox, _book(sandbox, {"via": "198.19.99.3"}), DEFAULT_ROUTE_SETUP)
    _assert_egress_refused(run, sandbox.store, "198.19.99.3")


def test_segment_netns_elsewhere_is_refused(sandbox: Sandbox) -> None:
    """egress netns: we do not run in that (absent) namespace."""
    run = _scan(sandbox, _book(sandbox, {"netns": "hostile-absent-ns"}), DEFAULT_ROUTE_SETUP)
    _assert_egress_refused(run, sandbox.store, "hostile-absent-ns")


def test_discovery_sweep_is_refused_too(sandbox: Sandbox) -> None:
    """With the discovery sweep on (scapy: ICMP echo, TCP SYN), no frame leaves either."""
    book = _book(sandbox, {"interface": "lab0"},
                 probes={"discovery": {"methods": ["icmp", "syn"]}, "tcp": {"ports": [443]}})
    run = _scan(sandbox, book, (*DEFAULT_ROUTE_SETUP, *LAB0))
    _assert_egress_refused(run, sandbox.store, "lab0")


def test_one_misrouted_segment_refuses_the_whole_scan(sandbox: Sandbox) -> None:
    """Two segments, the first well routed, the second not: nothing is sent at all."""
    good = segment(["198.18.66.0/24"], [HOST], id="good", egress={"interface": "lab0"})
    bad = segment(["198.18.77.0/24"], ["198.18.77.7"], id="bad", egress={"interface": "lab0"})
    book = sandbox.write("book.yml", playbook(authorised=list(LAB_RANGES), segments=[good, bad]))
    run = _scan(sandbox, book, (*DEFAULT_ROUTE_SETUP, *LAB0, LAB0_ROUTES[0]))
    _assert_egress_refused(run, sandbox.store, "bad")


def test_discover_iface_other_than_the_segment_egress_is_refused(sandbox: Sandbox) -> None:
    """``sentinel discover --iface v0`` for a segment pinned to lab0: refused, no frame."""
    book = _book(sandbox, {"interface": "lab0"})
    run = sandbox.run("discover", "--playbook", book, "--segment", "s1", "--iface", "v0",
                      "--timeout", "1", "--store", sandbox.store,
                      setup=(*DEFAULT_ROUTE_SETUP, *LAB0, *LAB0_ROUTES))
    _assert_egress_refused(run, sandbox.store, "lab0")


@pytest.mark.parametrize("egress,routes", [
    ({"interface": "lab0"}, (*DEFAULT_ROUTE_SETUP, *LAB0, *LAB0_ROUTES)),
    ({"interface": "v0"}, DEFAULT_ROUTE_SETUP),
    ({"via": "198.19.98.2"}, (*DEFAULT_ROUTE_SETUP, *LAB0, *LAB0_ROUTES)),
], ids=["interface-lab0", "interface-v0", "via"])
def test_segment_routed_as_declared_is_scanned(sandbox: Sandbox, egress: dict[str, str],
                                               routes: tuple[str, ...]) -> None:
    """Routes as declared: the scan is not refused (its first connection ends in the
    namespace, where the tripwire stops it)."""
    run = _scan(sandbox, _book(sandbox, egress), routes)
    assert_no_crash(run)
    for wrong in ("egress", "unknown field", "extra inputs"):
        assert wrong not in run.stderr.lower(), run.describe()
    assert any(a.address == HOST for a in run.attempts), (
        f"the scan did not reach its first target\n{run.describe()}")
