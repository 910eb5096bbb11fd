"""TLS 1.3 handshake pieces the certificate reader needs beyond the shared codecs. No I/O.

The shared codecs do the rest: :class:`~sentinel.wire.hello.ClientHello` and the extension
builders make the ClientHello, :func:`~sentinel.wire.hello.parse_server_hello` reads the
ServerHello and HelloRetryRequest, :func:`~sentinel.wire.handshake.parse_certificate13` the
Certificate. Here: the TLS 1.3-only ClientHello's shape, the HelloRetryRequest cookie, the
synthetic message_hash and CertificateVerify (RFC 8446 §4).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from sentinel.wire import extensions as ext
from sentinel.wire._reader import Reader, vec
from sentinel.wire.constants import ExtensionType, HandshakeType, ProtocolVersion
from sentinel.wire.hello import ClientHello, ServerHello
from sentinel.wire.records import build_handshake

_LAYER = "tls13-handshake"


def _is_ip_literal(name: str) -> bool:
    try:
        ipaddress.ip_address(name.strip("[]"))
    except ValueError:
        return False
    return True


def tls13_client_hello(
    random: bytes,
    session_id: bytes,
    suites: Sequence[int],
    *,
    groups: Sequence[int],
    signature_schemes: Sequence[int],
    key_shares: Sequence[tuple[int, bytes]],
    server_name: str | None = None,
    cookie: bytes | None = None,
) -> ClientHello:
    """A ClientHello offering TLS 1.3 only, as the certificate reader sends it.

    Extensions in this order: server_name (DNS names only, RFC 6066 §3), supported_versions,
    supported_groups, signature_algorithms, psk_key_exchange_modes, key_share, and the
    HelloRetryRequest's cookie when answering one (RFC 8446 §4.2.2).
    """
    extensions: list[ext.Extension] = []
    if server_name and not _is_ip_literal(server_name):
        extensions.append(ext.server_name(server_name))
    extensions += [
        ext.supported_versions([ProtocolVersion.TLS1_3]),
        ext.supported_groups(groups),
        ext.signature_algorithms(signature_schemes),
        ext.psk_key_exchange_modes(),
        ext.key_share(key_shares),
    ]
    if cookie is not None:
        extensions.append(ext.Extension(ExtensionType.COOKIE, vec(2, cookie)))
    return ClientHello(ProtocolVersion.TLS1_2, random, session_id, tuple(suites),
                       extensions=tuple(extensions))


def parse_cookie(data: bytes) -> bytes:
    """The cookie extension's body: ``opaque cookie<1..2^16-1>``."""
    reader = Reader(data, _LAYER)
    cookie = reader.vector(2, "cookie")
    reader.expect_end("cookie")
    return cookie


def hello_retry_cookie(retry: ServerHello) -> bytes | None:
    """The cookie a HelloRetryRequest asks the client to echo, if it sent one."""
    found = ext.find_extension(retry.extensions or (), ExtensionType.COOKIE)
    return parse_cookie(found.data) if found is not None else None


def message_hash(client_hello_hash: bytes) -> bytes:
    """The synthetic message that replaces ClientHello1 in the transcript after a
    HelloRetryRequest (RFC 8446 §4.4.1)."""
    return build_handshake(HandshakeType.MESSAGE_HASH, client_hello_hash)


def parse_certificate_verify(body: bytes) -> tuple[int, bytes]:
    """(signature scheme, signature) of a CertificateVerify message."""
    reader = Reader(body, _LAYER)
    scheme = reader.u16("signature scheme")
    signature = reader.vector(2, "signature")
    reader.expect_end("CertificateVerify")
    return scheme, signature
