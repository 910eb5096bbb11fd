"""Plain-HTTP services seen with curl: a cleartext login form, a site with three levels of
links (some to IPv4-only hosts), and an admin console that only IPv6 reaches."""

from __future__ import annotations

import re

import pytest

from sentinel.lab.manifest import Family, Host, Service, ServiceKind
from tests.lab.clients import MANIFEST, endpoint, endpoint_id, endpoint_params, run

HTTP_ENDPOINTS = [p for p in endpoint_params({ServiceKind.NGINX})
                  if p[1].properties.http_content]
pytestmark = pytest.mark.usefixtures("lab")


def _get(address: str, port: int, path: str = "/") -> tuple[int, str]:
    family = "-6" if ":" in address else "-4"
    done = run(["curl", family, "-s", "-g", "--max-time", "5", "-w", "\n%{http_code}",
                f"http://{endpoint(address, port)}{path}"])
    body, _, code = done.stdout.rpartition("\n")
    return int(code or 0), body


@pytest.mark.parametrize(("host", "service", "address"), HTTP_ENDPOINTS, ids=endpoint_id)
def test_page_content(host: Host, service: Service, address: str) -> None:
    code, body = _get(address, service.port)
    assert code == 200
    content = service.properties.http_content
    if content == "login":
        assert re.search(r'<form method="post"', body)
        assert 'type="password"' in body
    elif content == "admin":
        assert "Admin console" in body


@pytest.mark.parametrize(("host", "service", "address"),
                         [p for p in HTTP_ENDPOINTS if p[1].properties.http_content == "links"],
                         ids=endpoint_id)
def test_links_reach_the_claimed_depth_and_hosts(host: Host, service: Service,
                                                 address: str) -> None:
    seen_depth, external, frontier, visited = 0, set(), [("/", 0)], set()
    while frontier:
        path, depth = frontier.pop()
        if path in visited:
            continue
        visited.add(path)
        code, body = _get(address, service.port, path)
        assert code == 200, path
        seen_depth = max(seen_depth, depth)
        for link in re.findall(r'href="([^"]+)"', body):
            if link.startswith("http"):
                external.add(link)
            elif link not in visited:
                frontier.append((link, depth + 1 if link != "/" else 0))
    assert seen_depth == service.properties.link_depth
    assert external == set(service.properties.links_to or [])
    linked_hosts = {re.sub(r"^https?://([^/]+)/.*$", r"\1", url) for url in external}
    v4_only = [h for h in MANIFEST.hosts if h.hostname in linked_hosts and not h.aaaa]
    assert v4_only, "some links must lead to hosts without AAAA"


def test_ipv6_exposes_a_port_ipv4_does_not() -> None:
    extra = [h for h in MANIFEST.hosts if h.v6_extra_ports]
    assert extra
    for host in extra:
        for port in host.v6_extra_ports:
            assert _get(str(host.v6), port)[0] == 200
            assert _get(str(host.v4), port)[0] == 0  # refused: nothing listens on IPv4


def test_ipv6_only_host_has_no_ipv4() -> None:
    only = [h for h in MANIFEST.hosts if h.ipv6_only]
    assert only
    for host in only:
        addresses = run(["ip", "-n", host.namespace, "-4", "-o", "addr", "show", "scope",
                         "global"]).stdout
        assert addresses.strip() == ""
        for service in host.services:
            assert service.families == [Family.IPV6]
