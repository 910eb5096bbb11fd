"""SSH transport codec (RFC 4253), no I/O: identification lines, binary packets, KEXINIT.

Everything here reads bytes a scanned server chose, so every size is capped before anything
is sliced or decoded: the identification line at 255 bytes (RFC 4253 §4.2), the lines a
server may send before it at :data:`MAX_PRELUDE_LINES`, a packet at :data:`MAX_PACKET`, a
name-list at :data:`MAX_NAME_LIST`. Malformed input raises
:class:`~sentinel.errors.DecodeError` with layer ``ssh`` and the offset.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sentinel.errors import DecodeError
from sentinel.wire._reader import Reader

LAYER = "ssh"
MAX_LINE = 255  # RFC 4253 §4.2: the identification line, CR LF included
MAX_PRELUDE_LINES = 32  # other lines before it (RFC 4253 allows them); more is hostile
MAX_PACKET = 35000  # RFC 4253 §6.1: implementations must handle this much, need no more
MAX_NAME_LIST = 8192  # far above any real server's list (OpenSSH's longest is < 1 KiB)
MSG_KEXINIT = 20
KEXINIT_FIELDS = (
    "kex_algorithms",
    "server_host_key_algorithms",
    "encryption_algorithms_client_to_server",
    "encryption_algorithms_server_to_client",
    "mac_algorithms_client_to_server",
    "mac_algorithms_server_to_client",
    "compression_algorithms_client_to_server",
    "compression_algorithms_server_to_client",
    "languages_client_to_server",
    "languages_server_to_client",
)
# RFC 4251 §6: names are printable US-ASCII without comma or whitespace, at most 64 chars.
_NAME = re.compile(rb"^[\x21-\x2b\x2d-\x7e]{1,64}$")
# RFC 4253 forbids '-' in softwareversion, but real servers use it ("SSH-1.5-Cisco-1.25").
_IDENT = re.compile(r"^SSH-([0-9][0-9.]{0,15})-([\x21-\x7e]+)(?: (.*))?$", re.ASCII)


@dataclass(frozen=True)
class Banner:
    """The server's identification string, split into its RFC 4253 §4.2 parts."""

    raw: str
    protocol: str  # "2.0", "1.99" (SSH-1 and SSH-2), "1.5" ...
    software: str
    comments: str | None
    prelude: tuple[str, ...] = ()  # lines the server sent before the identification

    @property
    def ssh1(self) -> bool:
        """True when the server speaks SSH-1 (``1.x``, including the dual ``1.99``)."""
        return self.protocol.startswith("1.")


def parse_identification(line: bytes) -> Banner:
    """One identification line (without CR LF) into its parts."""
    text = line.decode("ascii", errors="strict") if line.isascii() else None
    if text is None:
        raise DecodeError(LAYER, "identification line is not ASCII")
    match = _IDENT.match(text)
    if match is None:
        raise DecodeError(LAYER, "identification line is not SSH-protoversion-softwareversion")
    return Banner(raw=text, protocol=match.group(1), software=match.group(2),
                  comments=match.group(3))


def find_banner(buffer: bytes) -> tuple[Banner, int] | None:
    """The identification in ``buffer`` and how many bytes it used; None if more is needed.

    Lines before the ``SSH-`` line are kept (decoded leniently, capped); a line longer than
    255 bytes, or more than :data:`MAX_PRELUDE_LINES` of them, is an error, not a wait.
    """
    prelude: list[str] = []
    start = 0
    while True:
        end = buffer.find(b"\n", start, start + MAX_LINE + 1)
        if end < 0:
            if len(buffer) - start > MAX_LINE:
                raise DecodeError(LAYER, f"line longer than {MAX_LINE} bytes", start)
            return None
        line = buffer[start:end].removesuffix(b"\r")
        if line.startswith(b"SSH-"):
            banner = parse_identification(line)
            return _with_prelude(banner, prelude), end + 1
        if len(prelude) >= MAX_PRELUDE_LINES:
            raise DecodeError(LAYER, f"more than {MAX_PRELUDE_LINES} lines before SSH-", start)
        prelude.append(line.decode("utf-8", errors="replace"))
        start = end + 1


def _with_prelude(banner: Banner, prelude: list[str]) -> Banner:
    return Banner(banner.raw, banner.protocol, banner.software, banner.comments, tuple(prelude))


def identification(software: str, comments: str | None = None) -> bytes:
    """Our own identification line, CR LF terminated."""
    text = f"SSH-2.0-{software}" + (f" {comments}" if comments else "")
    data = text.encode("ascii") + b"\r\n"
    if len(data) > MAX_LINE:
        raise ValueError("identification longer than 255 bytes")
    return data


def frame(payload: bytes, block: int = 8, padding: Callable[[int], bytes] = os.urandom) -> bytes:
    """An unencrypted binary packet (RFC 4253 §6): length, padding length, payload, padding."""
    pad = block - (5 + len(payload)) % block
    if pad < 4:
        pad += block
    body = bytes([pad]) + payload + padding(pad)
    return len(body).to_bytes(4, "big") + body


def unframe(buffer: bytes, mac_length: int = 0) -> tuple[bytes, int] | None:
    """The payload of the first packet in ``buffer`` and its size; None when incomplete."""
    if len(buffer) < 5:
        return None
    reader = Reader(buffer, LAYER)
    length = reader.uint(4, "packet_length")
    if length < 5 or length > MAX_PACKET:
        raise DecodeError(LAYER, f"packet_length {length} outside 5..{MAX_PACKET}", 0)
    total = 4 + length + mac_length
    if len(buffer) < total:
        return None
    padding = reader.u8("padding_length")
    if padding < 4 or padding > length - 1:
        raise DecodeError(LAYER, f"padding_length {padding} invalid for length {length}", 4)
    return buffer[5 : 4 + length - padding], total


@dataclass(frozen=True)
class KexInit:
    """SSH_MSG_KEXINIT: the ten algorithm name-lists, in the order the peer prefers."""

    cookie: bytes
    kex_algorithms: tuple[str, ...]
    server_host_key_algorithms: tuple[str, ...]
    encryption_algorithms_client_to_server: tuple[str, ...]
    encryption_algorithms_server_to_client: tuple[str, ...]
    mac_algorithms_client_to_server: tuple[str, ...]
    mac_algorithms_server_to_client: tuple[str, ...]
    compression_algorithms_client_to_server: tuple[str, ...]
    compression_algorithms_server_to_client: tuple[str, ...]
    languages_client_to_server: tuple[str, ...] = ()
    languages_server_to_client: tuple[str, ...] = ()
    first_kex_packet_follows: bool = False

    def name_lists(self) -> tuple[tuple[str, ...], ...]:
        """The ten lists in wire order."""
        return tuple(getattr(self, name) for name in KEXINIT_FIELDS)


def decode_name_list(data: bytes, offset: int = 0) -> tuple[str, ...]:
    """A comma-separated list of algorithm names (may be empty)."""
    if not data:
        return ()
    names = data.split(b",")
    for name in names:
        if not _NAME.match(name):
            raise DecodeError(LAYER, f"invalid algorithm name {name[:64]!r}", offset)
    return tuple(n.decode("ascii") for n in names)


def encode_name_list(names: Sequence[str]) -> bytes:
    """uint32 length, then the names joined by commas."""
    data = ",".join(names).encode("ascii")
    return len(data).to_bytes(4, "big") + data


def decode_kexinit(payload: bytes) -> KexInit:
    """Parse a KEXINIT payload (message number included); trailing bytes are an error."""
    reader = Reader(payload, LAYER)
    if reader.u8("message number") != MSG_KEXINIT:
        raise DecodeError(LAYER, "not a KEXINIT message", 0)
    cookie = reader.raw(16, "cookie")
    lists: dict[str, tuple[str, ...]] = {}
    for name in KEXINIT_FIELDS:
        length = reader.uint(4, f"{name} length")
        if length > MAX_NAME_LIST:
            raise reader.error(f"{name}: {length} bytes exceeds {MAX_NAME_LIST}")
        at = reader.offset
        lists[name] = decode_name_list(reader.raw(length, name), at)
    follows = reader.u8("first_kex_packet_follows")
    if follows > 1:
        raise reader.error("first_kex_packet_follows is not a boolean")
    reader.uint(4, "reserved")
    if reader.remaining:
        raise reader.error(f"{reader.remaining} bytes after KEXINIT")
    return KexInit(cookie=cookie, first_kex_packet_follows=bool(follows), **lists)


def encode_kexinit(kexinit: KexInit) -> bytes:
    """The KEXINIT payload for ``kexinit`` (to send, or to test the decoder)."""
    if len(kexinit.cookie) != 16:
        raise ValueError("the KEXINIT cookie is 16 bytes")
    body = b"".join(encode_name_list(names) for names in kexinit.name_lists())
    return (bytes([MSG_KEXINIT]) + kexinit.cookie + body
            + bytes([kexinit.first_kex_packet_follows]) + b"\0\0\0\0")
