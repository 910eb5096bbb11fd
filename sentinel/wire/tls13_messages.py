"""TLS 1.3 handshake message codecs the certificate reader needs (RFC 8446 §4). No I/O.

Parses ServerHello (and HelloRetryRequest), Certificate and CertificateVerify, and
builds the client's extensions. Every vector length is checked against what remains.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from sentinel.errors import DecodeError

HANDSHAKE_CLIENT_HELLO = 1
HANDSHAKE_SERVER_HELLO = 2
HANDSHAKE_ENCRYPTED_EXTENSIONS = 8
HANDSHAKE_CERTIFICATE = 11
HANDSHAKE_CERTIFICATE_REQUEST = 13
HANDSHAKE_CERTIFICATE_VERIFY = 15
HANDSHAKE_FINISHED = 20
HANDSHAKE_MESSAGE_HASH = 254

EXT_SERVER_NAME = 0
EXT_SUPPORTED_GROUPS = 10
EXT_SIGNATURE_ALGORITHMS = 13
EXT_SUPPORTED_VERSIONS = 43
EXT_COOKIE = 44
EXT_PSK_KEY_EXCHANGE_MODES = 45
EXT_KEY_SHARE = 51

TLS13 = 0x0304
# SHA-256("HelloRetryRequest"), RFC 8446 §4.1.3.
HELLO_RETRY_RANDOM = bytes.fromhex(
    "cf21ad74e59a6111be1d8c021e65b891c2a211167abb8c5e079e09e2c8a8339c"
)

_LAYER = "tls13-handshake"


class Cursor:
    """Bounded big-endian reader; every overrun is a `DecodeError` with its offset."""

    def __init__(self, data: bytes, layer: str = _LAYER, base: int = 0) -> None:
        self.data = data
        self.pos = 0
        self.layer = layer
        self.base = base

    def take(self, count: int, what: str) -> bytes:
        """The next `count` bytes."""
        if count > len(self.data) - self.pos:
            raise DecodeError(self.layer, f"truncated {what}", self.base + self.pos)
        chunk = self.data[self.pos : self.pos + count]
        self.pos += count
        return chunk

    def uint(self, size: int, what: str) -> int:
        """An unsigned big-endian integer of `size` bytes."""
        return int.from_bytes(self.take(size, what), "big")

    def vector(self, length_size: int, what: str) -> Cursor:
        """A length-prefixed vector, as a cursor over its content."""
        length = self.uint(length_size, f"{what} length")
        start = self.base + self.pos
        return Cursor(self.take(length, what), self.layer, start)

    def at_end(self) -> bool:
        """True when nothing is left."""
        return self.pos >= len(self.data)

    def expect_end(self, what: str) -> None:
        """Fail on trailing bytes."""
        if not self.at_end():
            raise DecodeError(self.layer, f"trailing bytes after {what}", self.base + self.pos)


def handshake_message(msg_type: int, body: bytes) -> bytes:
    """Wrap a body in the 4-byte handshake header."""
    return bytes([msg_type]) + len(body).to_bytes(3, "big") + body


def _vec(length_size: int, payload: bytes) -> bytes:
    return len(payload).to_bytes(length_size, "big") + payload


def _u16s(values: Sequence[int]) -> bytes:
    return b"".join(value.to_bytes(2, "big") for value in values)


def extension(ext_type: int, payload: bytes) -> bytes:
    """One encoded extension."""
    return ext_type.to_bytes(2, "big") + _vec(2, payload)


def key_share_extension(shares: Sequence[tuple[int, bytes]]) -> bytes:
    """The ClientHello key_share extension from (group, key_exchange) pairs."""
    entries = b"".join(group.to_bytes(2, "big") + _vec(2, public) for group, public in shares)
    return extension(EXT_KEY_SHARE, _vec(2, entries))


def list_extensions(groups: Sequence[int], signature_schemes: Sequence[int]) -> bytes:
    """supported_versions (TLS 1.3 only), supported_groups and signature_algorithms."""
    return (
        extension(EXT_SUPPORTED_VERSIONS, _vec(1, TLS13.to_bytes(2, "big")))
        + extension(EXT_SUPPORTED_GROUPS, _vec(2, _u16s(groups)))
        + extension(EXT_SIGNATURE_ALGORITHMS, _vec(2, _u16s(signature_schemes)))
        + extension(EXT_PSK_KEY_EXCHANGE_MODES, _vec(1, b"\x01"))
    )


def server_name_extension(host_name: str) -> bytes:
    """server_name with one host_name entry (RFC 6066 §3)."""
    name = host_name.encode("idna")
    return extension(EXT_SERVER_NAME, _vec(2, b"\x00" + _vec(2, name)))


class ServerHelloInfo(NamedTuple):
    """What the certificate reader needs from a ServerHello or HelloRetryRequest."""

    is_retry: bool
    random: bytes
    session_id: bytes
    cipher_suite: int
    selected_version: int | None
    key_share_group: int | None
    key_share_public: bytes | None  # None in a HelloRetryRequest
    cookie: bytes | None


def parse_server_hello(body: bytes) -> ServerHelloInfo:
    """Parse a ServerHello body (handshake header removed); detects HelloRetryRequest."""
    cursor = Cursor(body)
    cursor.uint(2, "legacy_version")
    random = cursor.take(32, "random")
    session_id = cursor.vector(1, "legacy_session_id_echo").data
    if len(session_id) > 32:
        raise DecodeError(_LAYER, "session id longer than 32 bytes", 38)
    cipher_suite = cursor.uint(2, "cipher_suite")
    cursor.uint(1, "legacy_compression_method")
    is_retry = random == HELLO_RETRY_RANDOM
    version = group = public = cookie = None
    extensions = cursor.vector(2, "extensions") if not cursor.at_end() else Cursor(b"")
    cursor.expect_end("ServerHello")
    seen: set[int] = set()
    while not extensions.at_end():
        ext_type = extensions.uint(2, "extension type")
        data = extensions.vector(2, "extension data")
        if ext_type in seen:
            raise DecodeError(_LAYER, f"duplicate extension {ext_type}", data.base)
        seen.add(ext_type)
        if ext_type == EXT_SUPPORTED_VERSIONS:
            version = data.uint(2, "selected_version")
            data.expect_end("supported_versions")
        elif ext_type == EXT_KEY_SHARE:
            group = data.uint(2, "key_share group")
            if not is_retry:
                public = data.vector(2, "key_exchange").data
            data.expect_end("key_share")
        elif ext_type == EXT_COOKIE:
            cookie = data.vector(2, "cookie").data
            data.expect_end("cookie")
    return ServerHelloInfo(
        is_retry, random, session_id, cipher_suite, version, group, public, cookie
    )


def parse_certificate(body: bytes) -> tuple[bytes, ...]:
    """The DER certificates of a TLS 1.3 Certificate message, leaf first."""
    cursor = Cursor(body)
    cursor.vector(1, "certificate_request_context")
    entries = cursor.vector(3, "certificate_list")
    cursor.expect_end("Certificate")
    certificates: list[bytes] = []
    while not entries.at_end():
        cert_data = entries.vector(3, "cert_data")
        if not cert_data.data:
            raise DecodeError(_LAYER, "empty cert_data", cert_data.base)
        entries.vector(2, "certificate entry extensions")
        certificates.append(cert_data.data)
    return tuple(certificates)


def parse_certificate_verify(body: bytes) -> tuple[int, bytes]:
    """(signature scheme, signature) of a CertificateVerify message."""
    cursor = Cursor(body)
    scheme = cursor.uint(2, "signature scheme")
    signature = cursor.vector(2, "signature").data
    cursor.expect_end("CertificateVerify")
    return scheme, signature
