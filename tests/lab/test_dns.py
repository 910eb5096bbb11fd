"""dnsmasq serves the .test zone authoritatively: A for hosts with IPv4, AAAA only where the
manifest publishes it; the NS set has servers with and without IPv6; nothing is forwarded."""

from __future__ import annotations

import pytest

from sentinel.lab.manifest import Host, Service, ServiceKind
from tests.lab.clients import MANIFEST, endpoint_id, endpoint_params, run

DNS_ENDPOINTS = endpoint_params({ServiceKind.DNSMASQ})
pytestmark = pytest.mark.usefixtures("lab")


def _dig(server: str, name: str, rtype: str) -> tuple[list[str], str]:
    done = run(["dig", f"@{server}", name, rtype, "+norec", "+time=2", "+tries=1"])
    answers = [line.split()[-1] for line in done.stdout.splitlines()
               if line and not line.startswith(";") and f"\tIN\t{rtype}\t" in line]
    return sorted(answers), done.stdout


@pytest.mark.parametrize(("host", "service", "address"), DNS_ENDPOINTS, ids=endpoint_id)
def test_a_and_aaaa_as_published(host: Host, service: Service, address: str) -> None:
    for target in MANIFEST.hosts:
        a, _ = _dig(address, target.hostname, "A")
        aaaa, raw = _dig(address, target.hostname, "AAAA")
        assert a == ([str(target.v4)] if target.v4 else []), target.id
        assert aaaa == ([str(target.v6)] if target.aaaa else []), target.id
        assert " aa" in raw.split("flags:")[1].split(";")[0], "not authoritative"


@pytest.mark.parametrize(("host", "service", "address"), DNS_ENDPOINTS, ids=endpoint_id)
def test_name_servers_with_and_without_ipv6(host: Host, service: Service, address: str) -> None:
    servers, _ = _dig(address, MANIFEST.dns_zone, "NS")
    assert servers == ["ns1.test.", "ns2.test."]
    with_v6 = [name for name in servers if _dig(address, name, "AAAA")[0]]
    assert with_v6 == ["ns1.test."]


@pytest.mark.parametrize(("host", "service", "address"), DNS_ENDPOINTS, ids=endpoint_id)
def test_nothing_outside_the_zone_is_answered(host: Host, service: Service,
                                              address: str) -> None:
    answers, raw = _dig(address, "example.com", "A")
    assert answers == []
    assert "status: NOERROR" not in raw or "ANSWER: 0" in raw
