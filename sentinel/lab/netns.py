"""The lab's topology with iproute2: a core router namespace, one bridge per segment in it,
one namespace per host on a veth to its segment's bridge, and one veth from the root
namespace (where the scanner runs) to the core.

Safety: the only addresses configured are the manifest's, all inside 198.18.0.0/15 and
2001:db8::/32 (the manifest model refuses anything else); the root namespace gets one new
link and two routes for exactly those ranges; no namespace gets a default route, so nothing
in the lab can reach past the core.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable

from sentinel.lab.manifest import Host, Manifest, Segment
from sentinel.lab.procs import run

PREFIX = "sl-"
CORE_NS = "sl-core"
ROOT_LINK = "sl-core0"  # the scanner's end of the transit link, in the root namespace
CORE_UPLINK = "up0"


def bridge_name(segment: Segment) -> str:
    """The segment's bridge inside the core namespace."""
    return f"br-{segment.id}"


def core_port(host: Host) -> str:
    """The core end of a host's veth (the host end is ``eth0`` in the host namespace)."""
    return f"v-{host.id}"


def ip(*args: str, namespace: str | None = None) -> None:
    """One iproute2 command, in a namespace when given."""
    run(["ip", *(["-n", namespace] if namespace else []), *args])


def sysctl(namespace: str, settings: dict[str, str]) -> None:
    """Set sysctls inside a namespace (net.* sysctls are per namespace)."""
    run(["ip", "netns", "exec", namespace, "sysctl", "-q", "-w",
         *(f"{key}={value}" for key, value in settings.items())])


def lab_namespaces() -> list[str]:
    """Every network namespace whose name marks it as the lab's."""
    done = run(["ip", "-j", "netns", "list"], check=False)
    if done.returncode != 0 or not done.stdout.strip():
        return []
    return [entry["name"] for entry in json.loads(done.stdout)
            if str(entry.get("name", "")).startswith(PREFIX)]


def root_lab_links() -> list[str]:
    """Links in the root namespace whose name marks them as the lab's."""
    done = run(["ip", "-j", "link", "show"], check=False)
    if done.returncode != 0 or not done.stdout.strip():
        return []
    return [entry["ifname"] for entry in json.loads(done.stdout)
            if str(entry.get("ifname", "")).startswith(PREFIX)]


def _new_namespace(name: str, *, forwarding: bool, accept_ra: bool) -> None:
    ip("netns", "add", name)
    # DAD off before any interface exists, so every IPv6 address is usable at once.
    settings = {"net.ipv6.conf.all.accept_dad": "0", "net.ipv6.conf.default.accept_dad": "0",
                "net.ipv6.conf.default.accept_ra": "1" if accept_ra else "0",
                "net.ipv6.conf.all.accept_ra": "1" if accept_ra else "0",
                # A host keeps the prefix from an RA but never a default route from it.
                "net.ipv6.conf.default.accept_ra_defrtr": "0",
                "net.ipv6.conf.all.accept_ra_defrtr": "0"}
    if forwarding:
        settings |= {"net.ipv4.ip_forward": "1", "net.ipv6.conf.all.forwarding": "1"}
    sysctl(name, settings)
    ip("link", "set", "lo", "up", namespace=name)


def build_core(manifest: Manifest) -> None:
    """The core router, its bridges, and the transit link to the root namespace."""
    _new_namespace(CORE_NS, forwarding=True, accept_ra=False)
    transit = manifest.transit
    ip("link", "add", ROOT_LINK, "type", "veth", "peer", "name", CORE_UPLINK, "netns", CORE_NS)
    ip("addr", "add", f"{transit.core_v4}/{transit.v4.prefixlen}", "dev", CORE_UPLINK,
       namespace=CORE_NS)
    ip("addr", "add", f"{transit.core_v6}/{transit.v6.prefixlen}", "dev", CORE_UPLINK, "nodad",
       namespace=CORE_NS)
    ip("link", "set", CORE_UPLINK, "up", namespace=CORE_NS)
    for segment in manifest.segments:
        _build_bridge(segment)
    # The root end last: only once the core is whole does the scanner get a way in.
    run(["sysctl", "-q", "-w", f"net.ipv6.conf.{ROOT_LINK}.accept_ra=0"])
    ip("addr", "add", f"{transit.root_v4}/{transit.v4.prefixlen}", "dev", ROOT_LINK)
    ip("addr", "add", f"{transit.root_v6}/{transit.v6.prefixlen}", "dev", ROOT_LINK, "nodad")
    ip("link", "set", ROOT_LINK, "up")
    ip("route", "replace", "198.18.0.0/15", "via", str(transit.core_v4), "dev", ROOT_LINK)
    ip("-6", "route", "replace", "2001:db8::/32", "via", str(transit.core_v6), "dev", ROOT_LINK)


def bridge_mac(segment: Segment) -> str:
    """The bridge's own MAC: fixed (locally administered, from the segment id).

    A Linux bridge without a set address takes the lowest MAC of its ports and changes it
    whenever a port with a lower one joins or leaves (an agent, an inject's host). The
    hosts' neighbour entries for the gateway then name a MAC nobody answers to, and their
    replies are lost until neighbour unreachability detection gives up on it: measured,
    ``lab down --agents`` then ``lab up --agents`` left 1 to 12 of the 36 listed IPv6
    addresses silent to the next sweep. A set address is never recalculated."""
    digest = hashlib.sha256(segment.id.encode()).digest()
    return "02:53:4c:" + ":".join(f"{b:02x}" for b in digest[:3])


def bridges_unset(manifest: Manifest) -> list[str]:
    """The segments whose bridge is missing or lacks its fixed MAC (a lab built before the
    MAC was set): such a lab is built again rather than trusted."""
    done = run(["ip", "-n", CORE_NS, "-j", "link", "show", "type", "bridge"], check=False)
    try:
        shown = {e.get("ifname"): e.get("address") for e in json.loads(done.stdout or "[]")}
    except ValueError:
        shown = {}
    return [s.id for s in manifest.segments if shown.get(bridge_name(s)) != bridge_mac(s)]


def _build_bridge(segment: Segment) -> None:
    bridge = bridge_name(segment)
    # No multicast snooping: neighbour discovery and RAs must flood like on a plain switch.
    ip("link", "add", bridge, "address", bridge_mac(segment), "type", "bridge",
       "mcast_snooping", "0", namespace=CORE_NS)
    ip("addr", "add", f"{segment.gateway_v4}/{segment.v4.prefixlen}", "dev", bridge,
       namespace=CORE_NS)
    if segment.v6 is not None:
        ip("addr", "add", f"{segment.gateway_v6}/{segment.v6.prefixlen}", "dev", bridge,
           "nodad", namespace=CORE_NS)
    ip("link", "set", bridge, "up", namespace=CORE_NS)


def build_host(manifest: Manifest, host: Host) -> None:
    """A host namespace on a veth to its segment's bridge, routes only to the lab ranges."""
    segment = manifest.segment(host.segment)
    ns = host.namespace
    _new_namespace(ns, forwarding=False, accept_ra=host.accept_ra)
    port = core_port(host)
    ip("link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", ns,
       namespace=CORE_NS)
    ip("link", "set", port, "master", bridge_name(segment), "up", namespace=CORE_NS)
    if host.v6 is None and not host.accept_ra and segment.v6 is not None:
        # An IPv4-only host on a dual-stack segment has IPv6 off, not even link-local; hosts
        # on the IPv4-only segment keep link-local, so they can see that no RA comes.
        sysctl(ns, {"net.ipv6.conf.eth0.disable_ipv6": "1"})
    if host.v4 is not None:
        ip("addr", "add", f"{host.v4}/{segment.v4.prefixlen}", "dev", "eth0", namespace=ns)
    if host.v6 is not None and segment.v6 is not None:
        ip("addr", "add", f"{host.v6}/{segment.v6.prefixlen}", "dev", "eth0", "nodad",
           namespace=ns)
    ip("link", "set", "eth0", "up", namespace=ns)
    if host.v4 is not None:
        ip("route", "add", "198.18.0.0/15", "via", str(segment.gateway_v4), namespace=ns)
    if segment.gateway_v6 is not None and (host.v6 is not None or host.accept_ra):
        # onlink: a host that waits for SLAAC has no global address on the prefix yet.
        ip("-6", "route", "add", "2001:db8::/32", "via", str(segment.gateway_v6), "dev",
           "eth0", "onlink", namespace=ns)


def delete_namespaces(names: Iterable[str]) -> None:
    """Delete namespaces (their links, addresses and routes go with them)."""
    for name in names:
        run(["ip", "netns", "delete", name], check=False)


def delete_root_links(names: Iterable[str]) -> None:
    """Delete leftover lab links in the root namespace."""
    for name in names:
        run(["ip", "link", "delete", name], check=False)
