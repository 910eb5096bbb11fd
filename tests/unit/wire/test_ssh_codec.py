"""The SSH codec: identification lines, packet framing and KEXINIT, on fixed and random bytes."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sentinel.errors import DecodeError
from sentinel.wire import ssh

NAME = st.text(alphabet=st.sampled_from("abcdefghijklmnopqrstuvwxyz0123456789-@."),
               min_size=1, max_size=64)
NAMES = st.lists(NAME, max_size=12).map(tuple)


def _kexinit(lists: list[tuple[str, ...]], cookie: bytes, follows: bool) -> ssh.KexInit:
    return ssh.KexInit(cookie=cookie, first_kex_packet_follows=follows,
                       **dict(zip(ssh.KEXINIT_FIELDS, lists, strict=True)))


def test_openssh_identification_parts() -> None:
    found = ssh.find_banner(b"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u10\r\n\x00\x00")
    assert found is not None
    banner, used = found
    assert (banner.protocol, banner.software, banner.comments) == (
        "2.0", "OpenSSH_9.2p1", "Debian-2+deb12u10")
    assert used == 41 and not banner.ssh1


@pytest.mark.parametrize(("line", "ssh1"), [(b"SSH-1.5-Cisco-1.25", True),
                                              (b"SSH-1.99-OpenSSH_3.9p1", True),
                                              (b"SSH-2.0-dropbear_2022.83", False)])
def test_ssh1_detected_from_the_protocol_version(line: bytes, ssh1: bool) -> None:
    found = ssh.find_banner(line + b"\n")
    assert found is not None and found[0].ssh1 is ssh1


def test_lines_before_the_identification_are_kept_and_capped() -> None:
    found = ssh.find_banner(b"Welcome\r\nauthorised use only\r\nSSH-2.0-x\r\n")
    assert found is not None and found[0].prelude == ("Welcome", "authorised use only")
    with pytest.raises(DecodeError):
        ssh.find_banner(b"spam\n" * (ssh.MAX_PRELUDE_LINES + 1) + b"SSH-2.0-x\n")
    with pytest.raises(DecodeError):
        ssh.find_banner(b"SSH-2.0-" + b"a" * 300)
    assert ssh.find_banner(b"SSH-2.0-Open") is None  # incomplete: wait for more


def test_malformed_identification_is_a_decode_error() -> None:
    for line in (b"SSH-2.0\r\n", b"SSH-x-y\r\n", "SSH-2.0-\u00e9\r\n".encode()):
        with pytest.raises(DecodeError):
            ssh.find_banner(line)


@given(st.lists(NAMES, min_size=10, max_size=10), st.binary(min_size=16, max_size=16),
       st.booleans())
def test_kexinit_round_trips(lists: list[tuple[str, ...]], cookie: bytes,
                             follows: bool) -> None:
    message = _kexinit(lists, cookie, follows)
    assert ssh.decode_kexinit(ssh.encode_kexinit(message)) == message


@given(st.binary(max_size=2000), st.integers(min_value=8, max_value=32))
def test_framing_round_trips(payload: bytes, block: int) -> None:
    packet = ssh.frame(payload, block)
    assert len(packet) % block == 0
    assert ssh.unframe(packet + b"trailing") == (payload, len(packet))
    assert ssh.unframe(packet[:-1]) is None


@given(st.binary(max_size=600))
def test_random_bytes_only_ever_raise_decode_error(data: bytes) -> None:
    for parse in (ssh.decode_kexinit, ssh.unframe, ssh.find_banner):
        with contextlib.suppress(DecodeError):
            parse(data)


def test_lying_lengths_are_rejected() -> None:
    with pytest.raises(DecodeError):
        ssh.unframe(b"\xff\xff\xff\xff\x04")  # packet_length beyond 35000
    with pytest.raises(DecodeError):
        ssh.unframe(b"\x00\x00\x00\x08\x09" + b"\x00" * 8)  # padding longer than the packet
    kexinit = bytearray(ssh.encode_kexinit(_kexinit([()] * 10, b"\x00" * 16, False)))
    kexinit[17:21] = (ssh.MAX_NAME_LIST + 1).to_bytes(4, "big")
    with pytest.raises(DecodeError):
        ssh.decode_kexinit(bytes(kexinit))


def test_invalid_algorithm_names_are_rejected() -> None:
    body = ssh.encode_kexinit(_kexinit([("a",)] + [()] * 9, b"\x00" * 16, False))
    bad = body.replace(b"\x00\x00\x00\x01a", b"\x00\x00\x00\x01 ")
    with pytest.raises(DecodeError):
        ssh.decode_kexinit(bad)
