"""Independent clients, run as subprocesses from the scanner's (root) namespace."""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

from sentinel.lab.cloud_fw import accepts, load_lab_cloud
from sentinel.lab.manifest import Family, Host, Manifest, Service, ServiceKind, load_manifest


def _manifest() -> Manifest:
    """The shipped manifest, or ``$SENTINEL_LAB_MANIFEST`` (to test a variant of the lab)."""
    given = os.environ.get("SENTINEL_LAB_MANIFEST")
    return load_manifest(Path(given) if given else None)


MANIFEST = _manifest()


def run(argv: list[str], timeout: float = 30, stdin: str = "") -> subprocess.CompletedProcess[str]:
    """Run a client; output is text, stderr folded into stdout."""
    return subprocess.run(argv, input=stdin, capture_output=True, text=True, timeout=timeout,
                          check=False)


def endpoint(address: str, port: int) -> str:
    """host:port with IPv6 in brackets."""
    return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"


def family_of(address: str) -> Family:
    """The family of an address literal."""
    return Family.IPV6 if ":" in address else Family.IPV4


def service_endpoints(kinds: set[ServiceKind], manifest: Manifest = MANIFEST
                      ) -> Iterator[tuple[Host, Service, str]]:
    """(host, service, address) for each family each service of these kinds answers on,
    except where a cloud tenant's nftables drop the scanner on purpose (lab/cloud/: the
    security groups deny it; tests/integration/lab/test_cloud_tenants_lab.py checks those)."""
    cloud = load_lab_cloud()
    scanner = {4: str(manifest.transit.root_v4), 6: str(manifest.transit.root_v6)}
    for host in manifest.hosts:
        for service in host.services:
            if service.kind in kinds:
                for family in service.families:
                    for address in host.addresses(family):
                        source = scanner[6 if ":" in address else 4]
                        if accepts(cloud, host.id, address=address, port=service.port,
                                   protocol="udp" if service.kind in _UDP else "tcp",
                                   source=source):
                            yield host, service, address


_UDP = {ServiceKind.SNMPD}


def endpoint_params(kinds: set[ServiceKind]) -> list[tuple[Host, Service, str]]:
    """The same, as a list for parametrize."""
    return list(service_endpoints(kinds))


def endpoint_id(value: object) -> str:
    """Readable parametrize ids: host, service id, address."""
    if isinstance(value, Host):
        return value.id
    if isinstance(value, Service):
        return value.id
    return str(value)


def s_client(address: str, port: int, *options: str) -> subprocess.CompletedProcess[str]:
    """openssl s_client: one handshake, then close."""
    return run(["openssl", "s_client", "-connect", endpoint(address, port), "-brief",
                *options], timeout=15)


def negotiated(done: subprocess.CompletedProcess[str]) -> dict[str, str]:
    """Protocol and cipher from s_client -brief output (empty when the handshake failed)."""
    text = done.stdout + done.stderr
    if "CONNECTION ESTABLISHED" not in text:
        return {}
    found = dict(re.findall(r"^(Protocol version|Ciphersuite): (\S+)", text, re.M))
    return {"protocol": found.get("Protocol version", ""),
            "cipher": found.get("Ciphersuite", "")}


def nmap_script(address: str, port: int, script: str) -> str:
    """nmap -n -Pn with one NSE script against one port; the script's output."""
    family = ["-6"] if ":" in address else []
    done = run(["nmap", "-n", "-Pn", *family, "-p", str(port), "--script", script, address],
               timeout=120)
    return done.stdout
