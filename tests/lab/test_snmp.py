"""Net-SNMP agents: v2c with community `public`; a v3-only authPriv agent whose IP-MIB
ipAddressTable lists its IPv6 addresses. Client: net-snmp's snmpget/snmpwalk, numeric OIDs."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from sentinel.lab.manifest import Host, Service, ServiceKind
from tests.lab.clients import endpoint_id, endpoint_params, run

SNMP_ENDPOINTS = endpoint_params({ServiceKind.SNMPD})
SYS_NAME = "1.3.6.1.2.1.1.5.0"
IP_ADDRESS_IFINDEX = "1.3.6.1.2.1.4.34.1.3"  # ipAddressIfIndex, indexed by type and address
pytestmark = pytest.mark.usefixtures("lab")


def _agent(address: str, port: int) -> str:
    return f"udp6:[{address}]:{port}" if ":" in address else f"udp:{address}:{port}"


def _snmp(tool: str, args: list[str], tmp_path: Path) -> str:
    # The client's persistent files go to a temporary folder, not /var/lib/snmp.
    done = run(["env", f"SNMP_PERSISTENT_DIR={tmp_path}", "MIBS=", tool, "-On", "-t", "1",
                "-r", "1", *args])
    return done.stdout


def _v3(service: Service) -> list[str]:
    props = service.properties
    return ["-v3", "-l", props.v3_level or "authPriv", "-u", props.v3_user or "",
            "-a", props.v3_auth or "", "-A", props.v3_auth_pass or "",
            "-x", props.v3_priv or "", "-X", props.v3_priv_pass or ""]


@pytest.mark.parametrize(("host", "service", "address"), SNMP_ENDPOINTS, ids=endpoint_id)
def test_versions_answered_as_claimed(host: Host, service: Service, address: str,
                                      tmp_path: Path) -> None:
    versions = set(service.properties.snmp_versions or [])
    agent = _agent(address, service.port)
    v2c = _snmp("snmpget", ["-v2c", "-c", "public", agent, SYS_NAME], tmp_path)
    assert (host.hostname in v2c) == ("v2c" in versions)
    if "v3" in versions:
        v3 = _snmp("snmpget", [*_v3(service), agent, SYS_NAME], tmp_path)
        assert host.hostname in v3


@pytest.mark.parametrize(("host", "service", "address"),
                         [p for p in SNMP_ENDPOINTS if p[1].properties.ip_mib_ipv6],
                         ids=endpoint_id)
def test_ip_mib_shows_ipv6_addresses(host: Host, service: Service, address: str,
                                     tmp_path: Path) -> None:
    walk = _snmp("snmpwalk", [*_v3(service), _agent(address, service.port),
                              IP_ADDRESS_IFINDEX], tmp_path)
    ipv6_rows = set()
    for line in walk.splitlines():
        index = line.split(" = ")[0].removeprefix(f".{IP_ADDRESS_IFINDEX}.").split(".")
        if index[:2] == ["2", "16"]:  # InetAddressType ipv6, 16 octets follow
            ipv6_rows.add(ipaddress.IPv6Address(bytes(int(x) for x in index[2:18])))
    assert host.v6 in ipv6_rows, walk
