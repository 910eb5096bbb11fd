"""Unauthenticated Redis, anonymous FTP and telnet answer on every family they claim."""

from __future__ import annotations

import socket

import pytest

from sentinel.lab.manifest import Host, Service, ServiceKind
from tests.lab.clients import endpoint_id, endpoint_params, run

pytestmark = pytest.mark.usefixtures("lab")


@pytest.mark.parametrize(("host", "service", "address"), endpoint_params({ServiceKind.REDIS}),
                         ids=endpoint_id)
def test_redis_without_auth(host: Host, service: Service, address: str) -> None:
    done = run(["redis-cli", "-h", address, "-p", str(service.port), "CONFIG", "GET",
                "requirepass"])
    # Reading the server's own config without credentials: the exposure itself.
    assert done.stdout.split() == ["requirepass"]
    assert service.properties.auth_required is False


@pytest.mark.parametrize(("host", "service", "address"), endpoint_params({ServiceKind.VSFTPD}),
                         ids=endpoint_id)
def test_ftp_anonymous_listing(host: Host, service: Service, address: str) -> None:
    url = f"ftp://[{address}]:{service.port}/pub/" if ":" in address \
        else f"ftp://{address}:{service.port}/pub/"
    done = run(["curl", "-s", "-g", "--max-time", "5", url])
    assert ("README.txt" in done.stdout) == bool(service.properties.anonymous)


@pytest.mark.parametrize(("host", "service", "address"), endpoint_params({ServiceKind.TELNETD}),
                         ids=endpoint_id)
def test_telnet_negotiates(host: Host, service: Service, address: str) -> None:
    with socket.create_connection((address, service.port), timeout=5) as conn:
        first = conn.recv(64)
    assert first[:1] == b"\xff"  # IAC: a telnet server opening option negotiation
