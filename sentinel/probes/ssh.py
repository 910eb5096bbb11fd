"""SSH probe: the server's identification, the algorithms its KEXINIT offers, its host keys.

One job per port. On the first connection we read the server's identification line, send
ours and a KEXINIT (servers send theirs at once; ours only keeps a strict peer talking), read
the server's KEXINIT and close. Every name is classified with ``probes/ssh.yml``. Then,
unless switched off, one more connection per offered host key algorithm runs the key
exchange up to the server's reply to learn that host key
(:mod:`sentinel.probes.ssh_hostkeys`) and to verify the server's signature over the
exchange hash with it (each key's ``signature``: verified, invalid or not-checked, with the
reason; :mod:`sentinel.probes.ssh_kex`). No exchange is finished and nothing is
authenticated, so the probe leaves no login attempt in the server's logs.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from sentinel import __version__
from sentinel.catalog.ssh import AlgorithmKind, SshRegistry, ssh_registry
from sentinel.errors import DecodeError, ErrorReason, ProbeError
from sentinel.probes.base import Network, Planned, Target
from sentinel.probes.ssh_hostkeys import fetch_host_key, fetchable
from sentinel.probes.ssh_session import SshSession
from sentinel.wire import ssh as wire

if TYPE_CHECKING:
    from sentinel.playbook import Playbook

# What we offer: broad enough that no server hangs up before sending its own KEXINIT.
OUR_KEXINIT = wire.KexInit(
    cookie=b"sentinel-probe\x00\x00",
    kex_algorithms=("curve25519-sha256", "ecdh-sha2-nistp256", "diffie-hellman-group14-sha256",
                    "diffie-hellman-group14-sha1", "diffie-hellman-group1-sha1"),
    server_host_key_algorithms=("ssh-ed25519", "ecdsa-sha2-nistp256", "rsa-sha2-512",
                                "rsa-sha2-256", "ssh-rsa", "ssh-dss"),
    encryption_algorithms_client_to_server=("aes128-ctr", "aes128-cbc", "3des-cbc"),
    encryption_algorithms_server_to_client=("aes128-ctr", "aes128-cbc", "3des-cbc"),
    mac_algorithms_client_to_server=("hmac-sha2-256", "hmac-sha1", "hmac-md5"),
    mac_algorithms_server_to_client=("hmac-sha2-256", "hmac-sha1", "hmac-md5"),
    compression_algorithms_client_to_server=("none",),
    compression_algorithms_server_to_client=("none",),
)


@dataclass(frozen=True)
class SshProbe:
    """Probe kind ``ssh``: identification and offered algorithms of one port."""

    kind: ClassVar[str] = "ssh"
    transport: ClassVar[str] = "tcp"
    timeout: float = 5.0
    host_keys: bool = True
    budget_s: float = 0.0  # no more than the playbook's probe timeout

    async def run(self, target: Target, network: Network) -> dict[str, Any]:
        port = target.endpoint.port
        if port is None:
            raise ProbeError(ErrorReason.INTERNAL, "ssh probe needs a port")
        try:
            async with network.tcp(target.endpoint.address, port) as stream:
                facts = {"port_state": "open", **await probe_ssh(*stream, timeout=self.timeout)}
        except ProbeError as exc:
            # Planned on every host's SSH ports: a closed port is a fact, not a failure.
            if exc.reason is ErrorReason.REFUSED:
                return {"port_state": "closed"}
            raise
        if self.host_keys and facts["ssh2"]:
            offered = [a["name"] for a in facts["host_key"]]
            facts.update(await probe_host_keys(network, target.endpoint.address, port, offered,
                                               timeout=self.timeout))
        return facts


async def probe_host_keys(network: Network, address: str, port: int, offered: list[str], *,
                          timeout: float = 5.0) -> dict[str, Any]:
    """One connection per offered host key algorithm, in turn; a failed one is recorded
    with its reason and does not stop the others."""
    chosen, skipped = fetchable(offered)
    keys, errors = [], []
    for algorithm in chosen:
        try:
            async with network.tcp(address, port) as (reader, writer):
                keys.append(await fetch_host_key(reader, writer, algorithm,
                                                 software=our_identification(), timeout=timeout))
        except ProbeError as exc:
            errors.append({"algorithm": algorithm, "reason": exc.reason.value,
                           "detail": exc.detail})
    return {"host_keys": keys, "host_key_errors": errors, "host_keys_not_fetched": skipped}


async def probe_ssh(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *,
                    timeout: float = 5.0, registry: SshRegistry | None = None) -> dict[str, Any]:
    """Identification and KEXINIT of the server on this stream, as JSON-able facts."""
    try:
        return await asyncio.wait_for(_exchange(reader, writer, registry or ssh_registry()),
                                      timeout)
    except TimeoutError:
        raise ProbeError(ErrorReason.TIMEOUT,
                         f"no SSH identification/KEXINIT in {timeout}s") from None
    except DecodeError as exc:
        raise ProbeError(ErrorReason.PROTOCOL, str(exc)) from None
    except (ConnectionError, OSError) as exc:
        raise ProbeError(ErrorReason.RESET, f"connection lost: {exc}") from None


async def _exchange(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                    registry: SshRegistry) -> dict[str, Any]:
    session = SshSession(reader, writer)
    banner = await session.banner()
    facts = {"banner": banner_facts(banner), "ssh1": banner.ssh1,
             "ssh2": banner.protocol in ("2.0", "1.99")}
    if not facts["ssh2"]:
        # An SSH-1-only server: nothing more to ask it (we never speak SSH-1).
        return {**facts, **algorithm_facts(None, registry)}
    await session.send(wire.encode_kexinit(OUR_KEXINIT), prefix=our_identification())
    kexinit = await session.kexinit()
    return {**facts, **algorithm_facts(kexinit, registry)}


def our_identification() -> bytes:
    """The identification line Sentinel sends."""
    return wire.identification(f"Sentinel_{__version__}")


def banner_facts(banner: wire.Banner) -> dict[str, Any]:
    """The identification; the text is the server's and stays untrusted downstream."""
    return {"raw": banner.raw, "protocol": banner.protocol, "software": banner.software,
            "comments": banner.comments, "prelude": list(banner.prelude)}


def _union(first: tuple[str, ...], second: tuple[str, ...]) -> list[str]:
    """Both directions' lists in the server's order (they are the same on every real server)."""
    return list(dict.fromkeys(first + second))


def algorithm_facts(kexinit: wire.KexInit | None, registry: SshRegistry) -> dict[str, Any]:
    """Each offered name with its class, per kind; markers kept apart from key exchanges."""
    lists: dict[AlgorithmKind, list[str]] = {"kex": [], "host_key": [], "cipher": [],
                                             "mac": [], "compression": []}
    markers: list[str] = []
    if kexinit is not None:
        markers = [n for n in kexinit.kex_algorithms if n in registry.markers]
        lists["kex"] = [n for n in kexinit.kex_algorithms if n not in registry.markers]
        lists["host_key"] = list(kexinit.server_host_key_algorithms)
        lists["cipher"] = _union(kexinit.encryption_algorithms_server_to_client,
                                 kexinit.encryption_algorithms_client_to_server)
        lists["mac"] = _union(kexinit.mac_algorithms_server_to_client,
                              kexinit.mac_algorithms_client_to_server)
        lists["compression"] = _union(kexinit.compression_algorithms_server_to_client,
                                      kexinit.compression_algorithms_client_to_server)
    facts: dict[str, Any] = {
        kind: [{"name": n, "class": registry.classify(kind, n)} for n in names]
        for kind, names in lists.items()
    }
    facts["kex_markers"] = markers
    facts["strict_kex"] = "kex-strict-s-v00@openssh.com" in markers
    facts["classes"] = sorted({a["class"] for kind in lists for a in facts[kind]})
    return facts


def planned(playbook: Playbook) -> Planned | None:
    """The ``ssh`` kind as the playbook configures it (None: not selected)."""
    ssh = playbook.probes.ssh
    if ssh is None:
        return None
    return Planned(SshProbe(timeout=ssh.timeout_s), tuple(sorted(set(ssh.ports))))
