"""ClientHello building (any version, any suite list, optional extensions) and hello parsing."""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from sentinel.wire._reader import Reader, u16_list, u16s, vec
from sentinel.wire.constants import (
    DOWNGRADE_TLS11,
    DOWNGRADE_TLS12,
    HELLO_RETRY_REQUEST_RANDOM,
    ContentType,
    ExtensionType,
    HandshakeType,
    ProtocolVersion,
)
from sentinel.wire.extensions import (
    Extension,
    ServerKeyShare,
    encode_extensions,
    find_extension,
    parse_extensions,
    parse_selected_version,
    parse_server_key_share,
)
from sentinel.wire.records import build_handshake, build_record


class ClientHello(NamedTuple):
    """A ClientHello's fields; ``extensions is None`` means no extensions block at all."""

    client_version: int
    random: bytes
    session_id: bytes
    cipher_suites: tuple[int, ...]
    compression_methods: bytes = b"\x00"
    extensions: tuple[Extension, ...] | None = None

    def encode(self) -> bytes:
        """The handshake message (type 1), not yet wrapped in a record."""
        if len(self.random) != 32:
            raise ValueError("random must be 32 bytes")
        if len(self.session_id) > 32:
            raise ValueError("session_id is at most 32 bytes")
        body = self.client_version.to_bytes(2, "big") + self.random + vec(1, self.session_id)
        body += vec(2, u16s(self.cipher_suites)) + vec(1, self.compression_methods)
        if self.extensions is not None:
            body += encode_extensions(self.extensions)
        return build_handshake(HandshakeType.CLIENT_HELLO, body)


def default_record_version(client_version: int) -> int:
    """Record version for a first flight: TLCP 0x0101, SSL 3.0 0x0300, else TLS 1.0 0x0301.

    TLS 1.0 in the record header is what interoperable clients send (RFC 8446 §5.1); a TLCP
    server answers a 0x0301 record carrying client_version 0x0101 with protocol_version.
    """
    if client_version == ProtocolVersion.TLCP1_1:
        return 0x0101
    if client_version <= ProtocolVersion.SSL3:
        return 0x0300
    return 0x0301


def client_hello_record(hello: ClientHello, record_version: int | None = None) -> bytes:
    """The hello wrapped in handshake record(s), ready to send."""
    version = default_record_version(hello.client_version) if record_version is None else (
        record_version
    )
    return build_record(ContentType.HANDSHAKE, version, hello.encode())


def parse_client_hello(body: bytes) -> ClientHello:
    """Parse a ClientHello body (after the 4-byte handshake header)."""
    reader = Reader(body, "client_hello")
    version = reader.u16("client_version")
    random = reader.raw(32, "random")
    session_id = reader.vector(1, "session_id")
    if len(session_id) > 32:
        raise reader.error("session_id longer than 32 bytes")
    suites = u16_list(reader, 2, "cipher_suites", minimum=2)
    compression = reader.vector(1, "compression_methods", minimum=1)
    extensions = parse_extensions(reader) if reader.remaining else None
    reader.expect_end("client_hello")
    return ClientHello(version, random, session_id, suites, compression, extensions)


class ServerHello(NamedTuple):
    """A ServerHello (or a TLS 1.3 HelloRetryRequest, which shares its format)."""

    legacy_version: int
    random: bytes
    session_id: bytes
    cipher_suite: int
    compression_method: int
    extensions: tuple[Extension, ...] | None
    selected_version: int | None
    key_share: ServerKeyShare | None

    @property
    def version(self) -> int:
        """The negotiated version: supported_versions when present, else legacy_version."""
        return self.selected_version if self.selected_version is not None else self.legacy_version

    @property
    def is_hello_retry_request(self) -> bool:
        """True when the random is RFC 8446's HelloRetryRequest constant."""
        return self.random == HELLO_RETRY_REQUEST_RANDOM

    @property
    def downgrade_marker(self) -> int | None:
        """0x0303 / 0x0302 if a TLS 1.3 server signals a downgrade in its random."""
        tail = self.random[-8:]
        if tail == DOWNGRADE_TLS12:
            return 0x0303
        return 0x0302 if tail == DOWNGRADE_TLS11 else None


def parse_server_hello(body: bytes) -> ServerHello:
    """Parse a ServerHello body; supported_versions and key_share are decoded when present."""
    reader = Reader(body, "server_hello")
    version = reader.u16("server_version")
    random = reader.raw(32, "random")
    session_id = reader.vector(1, "session_id")
    if len(session_id) > 32:
        raise reader.error("session_id longer than 32 bytes")
    suite = reader.u16("cipher_suite")
    compression = reader.u8("compression_method")
    extensions = parse_extensions(reader) if reader.remaining else None
    reader.expect_end("server_hello")
    selected: int | None = None
    share: ServerKeyShare | None = None
    if extensions is not None:
        found = find_extension(extensions, ExtensionType.SUPPORTED_VERSIONS)
        selected = parse_selected_version(found.data) if found else None
        found = find_extension(extensions, ExtensionType.KEY_SHARE)
        if found is not None:
            share = parse_server_key_share(found.data, random == HELLO_RETRY_REQUEST_RANDOM)
    return ServerHello(version, random, session_id, suite, compression, extensions, selected,
                       share)


def build_server_hello(hello: ServerHello) -> bytes:
    """Encode a ServerHello message (for tests and captured-traffic fixtures)."""
    body = hello.legacy_version.to_bytes(2, "big") + hello.random + vec(1, hello.session_id)
    body += hello.cipher_suite.to_bytes(2, "big") + bytes((hello.compression_method,))
    if hello.extensions is not None:
        body += encode_extensions(hello.extensions)
    return build_handshake(HandshakeType.SERVER_HELLO, body)


def signalling_suites(suites: Sequence[int], scsv: bool) -> tuple[int, ...]:
    """The suite list, with TLS_EMPTY_RENEGOTIATION_INFO_SCSV appended when asked."""
    return (*suites, 0x00FF) if scsv and 0x00FF not in suites else tuple(suites)
