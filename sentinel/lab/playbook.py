"""The lab's scan playbook, derived from the lab manifest so the two never drift apart.

``python -m sentinel.lab.playbook > playbooks/lab.yml`` rewrites the committed playbook; a test
fails when the committed file differs. The segment policies below say what each lab segment
is *meant* to expose: everything else the lab runs is a finding on purpose.
"""

from __future__ import annotations

import sys
from typing import Any

import yaml

from sentinel.lab.cloud_fw import load_lab_cloud
from sentinel.lab.manifest import Host, Manifest, ServiceKind, load_manifest
from sentinel.lab.netns import ROOT_LINK

# What each lab segment's owner allows (service ids from probes/services.yml).
SEGMENT_POLICY: dict[str, list[str]] = {
    "dmz": ["http", "https"],
    "data": ["https"],
    "psb": ["http"],
    "city": ["http", "https"],
    "cloud": ["https"],
    "cloud2": ["https"],
    "mgmt": ["ssh", "dns"],
}
EXTRA_TCP_PORTS = [4433]  # the lab's gnutls 3DES server listens beside nginx
# The lab's SNMPv3 user; its passphrases come from these variables (the lab tests set them
# from the manifest), never from the playbook.
SNMP_AUTH_ENV, SNMP_PRIV_ENV = "SENTINEL_LAB_SNMP_AUTH", "SENTINEL_LAB_SNMP_PRIV"


def _snmp_v3(manifest: Manifest) -> list[dict[str, Any]]:
    users = {(p.v3_user, p.v3_auth, p.v3_priv) for h in manifest.hosts for s in h.services
             if (p := s.properties).v3_user}
    return [{"user": user, "auth_protocol": auth, "auth_key_env": SNMP_AUTH_ENV,
             "priv_protocol": priv, "priv_key_env": SNMP_PRIV_ENV}
            for user, auth, priv in sorted(users, key=str)]


def _site_url(host: Host) -> str | None:
    """The homepage the lab host serves with nginx: plain HTTP first, else HTTPS."""
    ports = {s.port for s in host.services if s.kind is ServiceKind.NGINX}
    if 80 in ports:
        return f"http://{host.hostname}/"
    return f"https://{host.hostname}/" if 443 in ports else None


def lab_sites(manifest: Manifest) -> list[dict[str, Any]]:
    """Every named lab host with a service is an agency site for the V6-* checks; links to
    anything under the lab zone count as internal (as a province's own domain would)."""
    agency_of = {s.id: s.agency for s in manifest.segments}
    sites = []
    for host in manifest.hosts:
        if not host.services:
            continue
        site: dict[str, Any] = {"agency": agency_of[host.segment], "hostname": host.hostname}
        url = _site_url(host)
        if url is not None:
            site["url"] = url
        site["internal_domains"] = [manifest.dns_zone]
        sites.append(site)
    return sites


def lab_resolvers(manifest: Manifest) -> list[str]:
    """The lab resolver's addresses (IPv4 first): Sentinel asks it, never the system's."""
    host = next(h for h in manifest.hosts if h.id == manifest.resolver)
    return [str(a) for a in (host.v4, host.v6) if a is not None]


def lab_tenants(manifest: Manifest) -> list[dict[str, str]]:
    """The lab cloud's tenants whose agency the manifest has (lab/cloud/lab.yml)."""
    agencies = {a.id for a in manifest.agencies}
    return [t for t in load_lab_cloud().tenants if t["agency"] in agencies]


def lab_playbook(manifest: Manifest) -> dict[str, Any]:
    """A playbook that scans every lab host on every address it has, with the lab as scope."""
    segments = []
    for segment in manifest.segments:
        hosts = [h for h in manifest.hosts if h.segment == segment.id]
        addresses = [str(a) for h in hosts for a in (h.v4, h.v6) if a is not None]
        cidrs = [str(segment.v4)] + ([str(segment.v6)] if segment.v6 else [])
        segments.append({"id": segment.id, "agency": segment.agency, "cidrs": cidrs,
                         "zone": segment.zone.value, "hosts": addresses,
                         "allowed_services": SEGMENT_POLICY.get(segment.id, []),
                         # The lab is reached only over its transit link: with the lab down,
                         # the scan is refused instead of leaving by the default route.
                         "egress": {"interface": ROOT_LINK}})
    assets = [{"id": h.hostname, "name": h.hostname,
               "addresses": [str(a) for a in (h.v4, h.v6) if a is not None]}
              for h in manifest.hosts]
    from sentinel.catalog.services import services

    ports = sorted({p.port for s in services().services for p in s.ports if p.transport == "tcp"}
                   | set(EXTRA_TCP_PORTS))
    # TLS is enumerated on every port where the manifest built a TLS/TLCP server.
    tls_ports = sorted({svc.port for h in manifest.hosts for svc in h.services
                        if svc.properties.tls_versions})
    snmp_v3 = _snmp_v3(manifest)
    ssh_ports = sorted({svc.port for h in manifest.hosts for svc in h.services
                        if svc.kind.value == "sshd"})
    return {
        "name": "lab",
        "description": "The whole Sentinel lab (generated from sentinel/lab/manifest.yml).",
        "agencies": [{"id": a.id, "name": {"zh": a.name_zh, "en": a.name}}
                     for a in manifest.agencies],
        "scope": {"authorised": ["198.18.0.0/15", "2001:db8::/32"], "deny": []},
        "segments": segments,
        "assets": assets,
        "rate": {"packets_per_second": 1000, "connections_per_host": 8, "concurrent_hosts": 16,
                 "probe_timeout_s": 4},
        # Every listed address is swept first; a host that is down is recorded once.
        "probes": {"discovery": {"methods": ["icmp", "icmpv6", "syn"], "syn_ports": [80, 443, 22]},
                   "tcp": {"ports": ports, "banner_wait_s": 0.6},
                   "tls": {"ports": tls_ports},
                   "ssh": {"ports": ssh_ports},
                   "snmp": {"v3": snmp_v3}},
        "sites": lab_sites(manifest),
        "resolvers": lab_resolvers(manifest),
        # The OpenStack projects of lab/cloud/openstack: whose the lab's cloud instances are.
        "tenants": lab_tenants(manifest),
    }


def render(manifest: Manifest | None = None) -> str:
    header = ("# Generated from sentinel/lab/manifest.yml by `python -m sentinel.lab.playbook`;\n"
              "# do not edit by hand (a test compares it with the manifest).\n")
    body = yaml.safe_dump(lab_playbook(manifest or load_manifest()), allow_unicode=True,
                          sort_keys=False, width=100)
    return header + body


if __name__ == "__main__":
    sys.stdout.write(render())
