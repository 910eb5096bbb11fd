"""SSH probe: the server's identification and the algorithms its KEXINIT offers.

One connection per job. We read the server's identification line, send ours and a KEXINIT
(servers send theirs at once; ours only keeps a strict peer talking), read the server's
KEXINIT and close. No key is exchanged and nothing is authenticated, so the probe leaves no
login attempt in the server's logs. Every name is classified with ``probes/ssh.yml``.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, ClassVar

from sentinel import __version__
from sentinel.errors import DecodeError, ErrorReason, ProbeError
from sentinel.probes.base import Network, Target
from sentinel.probes.ssh_registry import AlgorithmKind, SshRegistry, ssh_registry
from sentinel.wire import ssh as wire

READ_CHUNK = 4096
MAX_BUFFER = 64 * 1024  # banner prelude plus a few packets; a server sending more is hostile
MAX_PACKETS = 8  # IGNORE/DEBUG messages a server may send before its KEXINIT
MSG_IGNORE, MSG_DEBUG = 2, 4
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

    async def run(self, target: Target, network: Network) -> dict[str, Any]:
        port = target.endpoint.port
        if port is None:
            raise ProbeError(ErrorReason.INTERNAL, "ssh probe needs a port")
        try:
            async with network.tcp(target.endpoint.address, port) as stream:
                return {"port_state": "open", **await probe_ssh(*stream, timeout=self.timeout)}
        except ProbeError as exc:
            # Planned on every host's SSH ports: a closed port is a fact, not a failure.
            if exc.reason is ErrorReason.REFUSED:
                return {"port_state": "closed"}
            raise


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
    buffer = b""
    found = None
    while found is None:
        buffer = await _more(reader, buffer, "identification")
        found = wire.find_banner(buffer)
    banner, used = found
    facts = {"banner": banner_facts(banner), "ssh1": banner.ssh1,
             "ssh2": banner.protocol in ("2.0", "1.99")}
    if not facts["ssh2"]:
        # An SSH-1-only server: nothing more to ask it (we never speak SSH-1).
        return {**facts, **algorithm_facts(None, registry)}
    writer.write(wire.identification(f"Sentinel_{__version__}")
                 + wire.frame(wire.encode_kexinit(OUR_KEXINIT)))
    await writer.drain()
    kexinit = await _read_kexinit(reader, buffer[used:])
    return {**facts, **algorithm_facts(kexinit, registry)}


async def _more(reader: asyncio.StreamReader, buffer: bytes, waiting_for: str) -> bytes:
    chunk = await reader.read(READ_CHUNK)
    if not chunk:
        raise ProbeError(ErrorReason.PROTOCOL, f"server closed before its {waiting_for}")
    if len(buffer) + len(chunk) > MAX_BUFFER:
        raise ProbeError(ErrorReason.PROTOCOL, f"over {MAX_BUFFER} bytes before {waiting_for}")
    return buffer + chunk


async def _read_kexinit(reader: asyncio.StreamReader, buffer: bytes) -> wire.KexInit:
    """Packets until the KEXINIT, skipping IGNORE and DEBUG (at most MAX_PACKETS)."""
    for _ in range(MAX_PACKETS):
        packet = wire.unframe(buffer)
        while packet is None:
            buffer = await _more(reader, buffer, "KEXINIT")
            packet = wire.unframe(buffer)
        payload, used = packet
        buffer = buffer[used:]
        if not payload:
            raise DecodeError(wire.LAYER, "empty packet payload")
        if payload[0] == wire.MSG_KEXINIT:
            return wire.decode_kexinit(payload)
        if payload[0] not in (MSG_IGNORE, MSG_DEBUG):
            raise DecodeError(wire.LAYER, f"message {payload[0]} before KEXINIT")
    raise DecodeError(wire.LAYER, f"no KEXINIT in the first {MAX_PACKETS} packets")


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
