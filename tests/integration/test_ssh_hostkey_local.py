"""The host key's signature over the exchange hash, against real servers on 127.0.0.1.

A Debian OpenSSH sshd started here serves the fixed host keys of ``tests/data/ssh``
(Ed25519, ECDSA P-256/384/521, RSA-2048): for every key exchange Sentinel runs, every host
key algorithm's signature must verify, and the fingerprints must be those of the committed
public keys. A hostile SSH server written here completes the exchange with a signature that
does not prove it (another key signs the right H, a signature over something else, garbage
or truncated fields, an unusable share, a stall): the probe reports the signature invalid or
the attempt failed, within its timeout, and SSH-HOSTKEY-SIG-INVALID fails. The client's
ephemeral keys are random (the probe's own); no assertion depends on them.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import shutil
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519, x25519
from cryptography.hazmat.primitives.serialization import load_ssh_private_key

from sentinel.assess.base import AssetView
from sentinel.assess.ssh import assess_ssh
from sentinel.model import (
    Asset,
    AttemptStatus,
    Context,
    Endpoint,
    Evaluation,
    Finding,
    Observation,
)
from sentinel.playbook import RateLimits, Segment
from sentinel.probes.base import Network, Target
from sentinel.probes.ssh import SshProbe
from sentinel.scope import Gate, policy_from
from sentinel.wire import ssh as wire
from tests.support.loopback import free_port, running

KEYS = Path(__file__).parents[1] / "data" / "ssh"
KEY_FILES = ("ed25519", "ecdsa_256", "ecdsa_384", "ecdsa_521", "rsa_2048")
HOST_KEY_ALGORITHMS = ("ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384",
                       "ecdsa-sha2-nistp521", "rsa-sha2-512", "rsa-sha2-256", "ssh-rsa")
SSHD = Path("/usr/sbin/sshd")
assert SSHD.exists(), "openssh-server is missing (Debian package openssh-server)"
TIMEOUT = 3.0


def _public_blob(name: str) -> bytes:
    return base64.b64decode((KEYS / f"ssh_host_{name}_key.pub").read_text().split()[1])


def _target(port: int) -> Target:
    return Target(Endpoint(address="127.0.0.1", port=port),
                  Asset(id="127.0.0.1", addresses=("127.0.0.1",)),
                  Context(scan_id="s", agency_id="a1", segment_id="lo"),
                  Segment(id="lo", agency="a1", cidrs=("127.0.0.1/32",), zone="extranet"))


def _probe(port: int) -> dict[str, Any]:
    network = Network(Gate(policy_from(["127.0.0.1/32"]), RateLimits()), 2.0)
    return asyncio.run(SshProbe(timeout=TIMEOUT).run(_target(port), network))


def _findings(facts: dict[str, Any], port: int) -> dict[str, Finding]:
    target = _target(port)
    obs = Observation(probe="ssh", context=target.context, asset=target.asset,
                      endpoint=target.endpoint, status=AttemptStatus.COMPLETED, facts=facts,
                      started=datetime(2026, 1, 1, tzinfo=UTC))
    view = AssetView(asset=target.asset, context=target.context, segment=target.segment,
                     observations=[obs])
    return {f.check_id: f for f in assess_ssh(view)}


@contextlib.contextmanager
def sshd(tmp_path: Path, kex: str) -> Iterator[int]:
    """An sshd on 127.0.0.1 offering only ``kex`` and the fixed host keys."""
    keys = []
    for name in KEY_FILES:
        copy = tmp_path / f"ssh_host_{name}_key"
        shutil.copyfile(KEYS / copy.name, copy)
        copy.chmod(0o600)
        keys += ["-h", str(copy)]
    port = free_port()
    config = tmp_path / "sshd_config"
    config.write_text(f"ListenAddress 127.0.0.1\nPort {port}\nPidFile none\nUsePAM no\n"
                      f"KexAlgorithms {kex}\n"
                      f"HostKeyAlgorithms {','.join(HOST_KEY_ALGORITHMS)}\n")
    with running([str(SSHD), "-D", "-e", "-f", str(config), *keys], port, timeout=10):
        yield port


KEXES = ["curve25519-sha256", "curve25519-sha256@libssh.org", "ecdh-sha2-nistp256",
         "ecdh-sha2-nistp384", "ecdh-sha2-nistp521", "diffie-hellman-group14-sha256",
         "diffie-hellman-group14-sha1", "diffie-hellman-group16-sha512",
         "diffie-hellman-group-exchange-sha256", "diffie-hellman-group-exchange-sha1"]


@pytest.mark.parametrize("kex", KEXES)
def test_openssh_signatures_verify_for_every_host_key(tmp_path: Path, kex: str) -> None:
    with sshd(tmp_path, kex) as port:
        facts = _probe(port)
    assert facts["host_key_errors"] == []
    keys = {k["algorithm"]: k for k in facts["host_keys"]}
    assert sorted(keys) == sorted(HOST_KEY_ALGORITHMS)
    for algorithm, key in keys.items():
        assert key["kex"] == kex
        assert key["signature"] == {"status": "verified", "signature_algorithm": algorithm}
    expected = {"ssh-ed25519": "ed25519", "ecdsa-sha2-nistp256": "ecdsa_256",
                "ecdsa-sha2-nistp384": "ecdsa_384", "ecdsa-sha2-nistp521": "ecdsa_521",
                "rsa-sha2-512": "rsa_2048", "rsa-sha2-256": "rsa_2048", "ssh-rsa": "rsa_2048"}
    for algorithm, name in expected.items():
        assert keys[algorithm]["fingerprint_sha256"] == \
            wire.fingerprint_sha256(_public_blob(name))
    finding = _findings(facts, port)["SSH-HOSTKEY-SIG-INVALID"]
    assert finding.evaluation is Evaluation.PASSED
    assert finding.evidence["verified"] == list(keys)


# ---- a hostile server ------------------------------------------------------------------------



def _ed25519_key() -> ed25519.Ed25519PrivateKey:
    key = load_ssh_private_key((KEYS / "ssh_host_ed25519_key").read_bytes(), None)
    assert isinstance(key, ed25519.Ed25519PrivateKey)
    return key


HOST_KEY = _ed25519_key()
IMPOSTOR = ed25519.Ed25519PrivateKey.from_private_bytes(bytes(range(7, 39)))
SERVER_SHARE = x25519.X25519PrivateKey.from_private_bytes(bytes(range(200, 232)))
V_S = b"SSH-2.0-Hostile_1.0"


def _string(data: bytes) -> bytes:
    return len(data).to_bytes(4, "big") + data


def _mpint(value: int) -> bytes:
    return _string(value.to_bytes((value.bit_length() + 8) // 8, "big") if value else b"")


def _server_kexinit() -> bytes:
    lists = [b"curve25519-sha256", b"ssh-ed25519", b"aes128-ctr", b"aes128-ctr",
             b"hmac-sha2-256", b"hmac-sha2-256", b"none", b"none", b"", b""]
    return (b"\x14" + bytes(16) + b"".join(_string(n) for n in lists) + b"\0" + bytes(4))


def _packet(payload: bytes) -> bytes:
    pad = 8 - (5 + len(payload)) % 8
    pad += 8 if pad < 4 else 0
    body = bytes([pad]) + payload + bytes(pad)
    return len(body).to_bytes(4, "big") + body


async def _read_packet(reader: asyncio.StreamReader) -> bytes:
    length = int.from_bytes(await reader.readexactly(4), "big")
    body = await reader.readexactly(length)
    return body[1 : length - body[0]]


Reply = Callable[[bytes, bytes], bytes]  # (client share, correct H) -> reply payload


def _reply(signature: bytes, share: bytes | None = None, host_key: bytes | None = None) -> bytes:
    q_s = SERVER_SHARE.public_key().public_bytes_raw() if share is None else share
    k_s = _public_blob("ed25519") if host_key is None else host_key
    return b"\x1f" + _string(k_s) + _string(q_s) + _string(signature)


def _ed25519_blob(signature: bytes) -> bytes:
    return _string(b"ssh-ed25519") + _string(signature)


BEHAVIOURS: dict[str, Reply] = {
    # The control: the hostile server's own exchange is right when it signs with its key.
    "honest": lambda _share, h: _reply(_ed25519_blob(HOST_KEY.sign(h))),
    # A man in the middle: shows the real host key, but only its own key can sign H.
    "impostor signs H": lambda _share, h: _reply(_ed25519_blob(IMPOSTOR.sign(h))),
    "signs something else": lambda _share, _h: _reply(_ed25519_blob(HOST_KEY.sign(b"\0" * 32))),
    "garbage signature": lambda _share, _h: _reply(b"\xff" * 40),
    "truncated signature": lambda _share, h: _reply(_ed25519_blob(HOST_KEY.sign(h)[:63])),
    "other algorithm": lambda _share, h: _reply(
        _string(b"rsa-sha2-256") + _string(HOST_KEY.sign(h))),
    "unusable share": lambda _share, h: _reply(_ed25519_blob(HOST_KEY.sign(h)),
                                               share=b"\x09" * 31),
}


def _exchange_hash(v_c: bytes, i_c: bytes, i_s: bytes, client_share: bytes) -> bytes:
    """RFC 8731 §3 and RFC 4253 §8, as the hostile server computes it."""
    shared = SERVER_SHARE.exchange(x25519.X25519PublicKey.from_public_bytes(client_share))
    q_s = SERVER_SHARE.public_key().public_bytes_raw()
    return hashlib.sha256(
        _string(v_c) + _string(V_S) + _string(i_c) + _string(i_s)
        + _string(_public_blob("ed25519")) + _string(client_share) + _string(q_s)
        + _mpint(int.from_bytes(shared, "big"))).digest()


async def _hostile(behaviour: str, reader: asyncio.StreamReader,
                   writer: asyncio.StreamWriter) -> None:
    i_s = _server_kexinit()
    writer.write(V_S + b"\r\n" + _packet(i_s))
    with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
        v_c = (await reader.readline()).rstrip(b"\r\n")
        i_c = await _read_packet(reader)
        init = await _read_packet(reader)
        if behaviour == "stall":
            await asyncio.sleep(3600)
        client_share = init[5:]
        if behaviour == "garbage reply":
            writer.write(_packet(b"\x1f\xff\xff\xff\xff" + b"\x01" * 64))
        else:
            h = _exchange_hash(v_c, i_c, i_s, client_share)
            writer.write(_packet(BEHAVIOURS[behaviour](client_share, h)))
        await writer.drain()
        await reader.read()  # until the probe hangs up
    writer.close()


def _probe_hostile(behaviour: str) -> tuple[dict[str, Any], float, int]:
    async def run() -> tuple[dict[str, Any], float, int]:
        server = await asyncio.start_server(
            lambda r, w: _hostile(behaviour, r, w), "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        network = Network(Gate(policy_from(["127.0.0.1/32"]), RateLimits()), 2.0)
        async with server:
            started = time.monotonic()
            facts = await SshProbe(timeout=TIMEOUT).run(_target(port), network)
            return facts, time.monotonic() - started, port
    return asyncio.run(run())


def test_hostile_servers_own_exchange_verifies_when_it_signs_honestly() -> None:
    facts, _, port = _probe_hostile("honest")
    [key] = facts["host_keys"]
    assert key["signature"] == {"status": "verified", "signature_algorithm": "ssh-ed25519"}
    assert _findings(facts, port)["SSH-HOSTKEY-SIG-INVALID"].evaluation is Evaluation.PASSED


@pytest.mark.parametrize(("behaviour", "reason"), [
    ("impostor signs H", "signature over the exchange hash does not verify"),
    ("signs something else", "signature over the exchange hash does not verify"),
    ("garbage signature", "malformed signature"),
    ("truncated signature", "is 63 bytes, an Ed25519 signature is 64"),
    ("other algorithm", "signature is rsa-sha2-256, negotiated ssh-ed25519"),
    ("unusable share", "exchange cannot complete: X25519 share of 31 bytes, not 32"),
])
def test_a_signature_that_does_not_prove_the_server_is_invalid(behaviour: str,
                                                               reason: str) -> None:
    facts, elapsed, port = _probe_hostile(behaviour)
    assert elapsed < TIMEOUT
    [key] = facts["host_keys"]
    assert key["algorithm"] == "ssh-ed25519"
    assert key["fingerprint_sha256"] == wire.fingerprint_sha256(_public_blob("ed25519"))
    assert key["signature"]["status"] == "invalid"
    assert reason in key["signature"]["reason"]
    finding = _findings(facts, port)["SSH-HOSTKEY-SIG-INVALID"]
    assert finding.evaluation is Evaluation.FAILED
    assert finding.severity.value == "high"
    assert [i["algorithm"] for i in finding.evidence["invalid"]] == ["ssh-ed25519"]


@pytest.mark.parametrize(("behaviour", "error"), [
    ("garbage reply", "protocol"),
    ("stall", "timeout"),
])
def test_garbage_and_stalls_end_the_attempt_in_bounded_time(behaviour: str, error: str) -> None:
    facts, elapsed, port = _probe_hostile(behaviour)
    assert elapsed < TIMEOUT + 1.0
    assert facts["host_keys"] == []
    assert [(e["algorithm"], e["reason"]) for e in facts["host_key_errors"]] == [
        ("ssh-ed25519", error)]
    assert "SSH-HOSTKEY-SIG-INVALID" not in _findings(facts, port)
