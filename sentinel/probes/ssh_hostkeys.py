"""The server's host keys: one key exchange per offered host key algorithm, never finished.

For each algorithm the probe opens a connection, offers only that host key algorithm and a
key exchange Sentinel can compute (:mod:`sentinel.probes.ssh_kex`), sends its share and reads
the reply, which carries the host key blob (K_S). It then closes: no NEWKEYS, no
authentication, so the server logs a client that went away during key exchange, not a login.
Before closing it computes the exchange hash H from both identifications, both KEXINITs as
sent, K_S, both shares and the shared secret, and verifies the server's signature over H
with K_S (:func:`sentinel.probes.ssh_kex.verify_signature`): a key whose signature does not
verify proves nothing about the server.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

from sentinel.errors import DecodeError, ErrorReason, ProbeError
from sentinel.probes import ssh_kex
from sentinel.probes.ssh_session import SshSession
from sentinel.wire import ssh as wire

MAX_ALGORITHMS = 8  # connections per port for host keys; OpenSSH offers at most 7 plain ones
# Host key algorithm → the key type its blob carries (RFC 8332: one RSA key, three names).
KEY_TYPES = {
    "ssh-ed25519": "ssh-ed25519", "ssh-ed448": "ssh-ed448",
    "ecdsa-sha2-nistp256": "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384": "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521": "ecdsa-sha2-nistp521",
    "rsa-sha2-512": "ssh-rsa", "rsa-sha2-256": "ssh-rsa", "ssh-rsa": "ssh-rsa",
    "ssh-dss": "ssh-dss",
}


def fetchable(offered: list[str]) -> tuple[list[str], list[str]]:
    """Offered algorithms whose keys we fetch (capped), and those we leave (certificates,
    unknown names, over the cap)."""
    known = [name for name in offered if name in KEY_TYPES]
    chosen = known[:MAX_ALGORITHMS]
    return chosen, [name for name in offered if name not in chosen]


async def fetch_host_key(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                         algorithm: str, *, software: bytes,
                         timeout: float = 5.0) -> dict[str, Any]:
    """The host key the server presents for ``algorithm``, as facts."""
    try:
        return await asyncio.wait_for(
            _exchange(SshSession(reader, writer), algorithm, software), timeout)
    except TimeoutError:
        raise ProbeError(ErrorReason.TIMEOUT,
                         f"no {algorithm} key exchange reply in {timeout}s") from None
    except DecodeError as exc:
        raise ProbeError(ErrorReason.PROTOCOL, str(exc)) from None
    except (ConnectionError, OSError) as exc:
        raise ProbeError(ErrorReason.RESET, f"connection lost: {exc}") from None


def _our_kexinit(server: wire.KexInit, kex: str, algorithm: str) -> wire.KexInit:
    """Only our kex and host key algorithm; the server's own cipher, MAC and compression
    lists back to it, so negotiation cannot fail on them."""
    return wire.KexInit(
        cookie=os.urandom(16), kex_algorithms=(kex,), server_host_key_algorithms=(algorithm,),
        encryption_algorithms_client_to_server=server.encryption_algorithms_client_to_server,
        encryption_algorithms_server_to_client=server.encryption_algorithms_server_to_client,
        mac_algorithms_client_to_server=server.mac_algorithms_client_to_server,
        mac_algorithms_server_to_client=server.mac_algorithms_server_to_client,
        compression_algorithms_client_to_server=server.compression_algorithms_client_to_server,
        compression_algorithms_server_to_client=server.compression_algorithms_server_to_client)


async def _exchange(session: SshSession, algorithm: str, software: bytes) -> dict[str, Any]:
    banner = await session.banner()
    if banner.protocol not in ("2.0", "1.99"):
        raise ProbeError(ErrorReason.UNSUPPORTED, f"SSH-{banner.protocol} server")
    await session.send(prefix=software)
    i_s = await session.packet("KEXINIT")  # kept as sent: H covers the server's KEXINIT
    if i_s[0] != wire.MSG_KEXINIT:
        raise DecodeError(wire.LAYER, f"message {i_s[0]} before KEXINIT")
    server = wire.decode_kexinit(i_s)
    kex = ssh_kex.choose_kex(server.kex_algorithms)
    if kex is None:
        raise ProbeError(ErrorReason.UNSUPPORTED, "no key exchange Sentinel can compute")
    client = ssh_kex.KexClient.start(kex)
    i_c = wire.encode_kexinit(_our_kexinit(server, kex, algorithm))
    await session.send(i_c, client.first_message)
    if ssh_kex.is_group_exchange(kex):
        await session.send(client.gex_init(await session.packet("KEX_DH_GEX_GROUP")))
    payload = await session.packet("key exchange reply")
    reply = wire.decode_kex_reply(payload, ssh_kex.reply_number(kex))
    key = wire.decode_host_key(reply.host_key)
    if key.key_type != KEY_TYPES[algorithm]:
        raise DecodeError(wire.LAYER, f"a {key.key_type} key offered for {algorithm}")
    facts: dict[str, Any] = {"algorithm": algorithm, "type": key.family, "bits": key.bits,
                             "fingerprint_sha256": key.fingerprint_sha256, "kex": kex}
    if key.curve:
        facts["curve"] = key.curve
    facts["signature"] = signature_facts(client, algorithm, reply, v_c=software.rstrip(b"\r\n"),
                                         v_s=banner.raw.encode("ascii"), i_c=i_c, i_s=i_s)
    return facts


def signature_facts(client: ssh_kex.KexClient, algorithm: str, reply: wire.KexReply, *,
                    v_c: bytes, v_s: bytes, i_c: bytes, i_s: bytes) -> dict[str, Any]:
    """Whether the reply's signature over the exchange hash H verifies with its host key."""
    try:
        exchange_hash = client.exchange_hash(v_c=v_c, v_s=v_s, i_c=i_c, i_s=i_s,
                                             k_s=reply.host_key,
                                             server_public=reply.server_public)
    except ssh_kex.KexFailure as exc:
        return {"status": ssh_kex.INVALID, "reason": f"exchange cannot complete: {exc}"}
    return ssh_kex.verify_signature(algorithm, reply.host_key, reply.signature, exchange_hash)
