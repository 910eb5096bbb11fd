"""SSL 2.0 framing: the ClientHello used to detect SSLv2, and the SERVER-HELLO it provokes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from sentinel.errors import DecodeError
from sentinel.wire._reader import Reader

MSG_ERROR = 0
MSG_CLIENT_HELLO = 1
MSG_SERVER_HELLO = 4

# SSL 2.0 cipher kinds (3-byte codes) as listed in the SSL 2.0 draft.
SSL2_CIPHER_NAMES: dict[int, str] = {
    0x010080: "SSL_CK_RC4_128_WITH_MD5",
    0x020080: "SSL_CK_RC4_128_EXPORT40_WITH_MD5",
    0x030080: "SSL_CK_RC2_128_CBC_WITH_MD5",
    0x040080: "SSL_CK_RC2_128_CBC_EXPORT40_WITH_MD5",
    0x050080: "SSL_CK_IDEA_128_CBC_WITH_MD5",
    0x060040: "SSL_CK_DES_64_CBC_WITH_MD5",
    0x0700C0: "SSL_CK_DES_192_EDE3_CBC_WITH_MD5",
}


def build_sslv2_client_hello(
    cipher_specs: Sequence[int] = tuple(SSL2_CIPHER_NAMES),
    challenge: bytes = b"\x00" * 16,
    version: int = 0x0002,
    session_id: bytes = b"",
) -> bytes:
    """A complete SSLv2 record carrying CLIENT-HELLO (2-byte header, no padding).

    With ``version`` 0x0300+ and 0x00xxxx specs it is the SSLv2-compatible hello of old
    clients; with 0x0002 it asks for SSL 2.0 itself.
    """
    if not 16 <= len(challenge) <= 32:
        raise ValueError("challenge must be 16..32 bytes")
    specs = b"".join((spec & 0xFFFFFF).to_bytes(3, "big") for spec in cipher_specs)
    body = bytes((MSG_CLIENT_HELLO,)) + version.to_bytes(2, "big")
    body += len(specs).to_bytes(2, "big") + len(session_id).to_bytes(2, "big")
    body += len(challenge).to_bytes(2, "big") + specs + session_id + challenge
    if len(body) > 0x7FFF:
        raise ValueError("SSLv2 record too long")
    return (len(body) | 0x8000).to_bytes(2, "big") + body


def sslv2_record_length(header: bytes) -> tuple[int, int]:
    """(header length, body length) from the first 2 or 3 bytes of an SSLv2 record."""
    if len(header) < 2:
        raise DecodeError("sslv2", "record header truncated", 0)
    if header[0] & 0x80:
        return 2, ((header[0] & 0x7F) << 8) | header[1]
    if len(header) < 3:
        raise DecodeError("sslv2", "record header truncated", 0)
    return 3, ((header[0] & 0x3F) << 8) | header[1]


class SSLv2ServerHello(NamedTuple):
    """What an SSL 2.0 server says: its version, certificate and the cipher kinds it shares."""

    version: int
    session_id_hit: bool
    certificate_type: int
    certificate: bytes
    cipher_specs: tuple[int, ...]
    connection_id: bytes


def parse_sslv2_server_hello(record: bytes) -> SSLv2ServerHello:
    """Parse a whole SSLv2 record holding SERVER-HELLO; anything else is a DecodeError."""
    header_len, body_len = sslv2_record_length(record)
    reader = Reader(record, "sslv2", header_len)
    if reader.remaining < body_len:
        raise reader.error(f"record body truncated ({reader.remaining} of {body_len})")
    body = Reader(record, "sslv2", header_len, header_len + body_len)
    msg_type = body.u8("message type")
    if msg_type == MSG_ERROR:
        raise body.error(f"SSLv2 ERROR message, code {body.u16('error code')}")
    if msg_type != MSG_SERVER_HELLO:
        raise body.error(f"expected SERVER-HELLO, got message type {msg_type}", header_len)
    hit = body.u8("session_id_hit")
    cert_type = body.u8("certificate_type")
    version = body.u16("server_version")
    cert_len = body.u16("certificate length")
    specs_len = body.u16("cipher_specs length")
    conn_len = body.u16("connection_id length")
    certificate = body.raw(cert_len, "certificate")
    specs = body.raw(specs_len, "cipher_specs")
    if specs_len % 3:
        raise body.error(f"cipher_specs length {specs_len} not a multiple of 3")
    connection_id = body.raw(conn_len, "connection_id")
    body.expect_end("SERVER-HELLO")
    codes = tuple(int.from_bytes(specs[i : i + 3], "big") for i in range(0, specs_len, 3))
    return SSLv2ServerHello(version, bool(hit), cert_type, certificate, codes, connection_id)
