"""What every server module gets: the manifest, the lab's paths and its certificate factory."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sentinel.lab.certs import CertFactory, CertPair
from sentinel.lab.manifest import Host, Manifest, Service
from sentinel.lab.state import LabPaths


@dataclass(frozen=True)
class ServerContext:
    """Shared inputs for starting servers."""

    manifest: Manifest
    paths: LabPaths
    certs: CertFactory

    def host_dir(self, host: Host) -> Path:
        """The host's config directory (created on demand)."""
        folder = self.paths.host_dir(host.id)
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def cert_for(self, host: Host, service: Service, index: int = 0) -> CertPair:
        """The certificate a service's properties ask for (``cert_keys[index]``)."""
        props = service.properties
        keys = props.cert_keys or ["rsa2048"]
        addresses = [str(a) for a in (host.v4, host.v6) if a is not None]
        return self.certs.issue(host.hostname, addresses, keys[index],
                                props.cert_signature or "sha256")


def listen_addresses(host: Host, service: Service) -> list[str]:
    """The host addresses a service binds to, one per family it answers on."""
    return [address for family in service.families for address in host.addresses(family)]


def bracketed(address: str) -> str:
    """An address as it appears before ``:port`` (IPv6 in brackets)."""
    return f"[{address}]" if ":" in address else address
