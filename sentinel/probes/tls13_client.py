"""Read the certificate chain a TLS 1.3 server sends encrypted (RFC 8446, RFC 8998).

`read_tls13_certificates` sends one TLS 1.3-only ClientHello on a connection the
caller opened (and the scope gate allowed), answers one HelloRetryRequest, derives
the server handshake keys, decrypts EncryptedExtensions..Finished and reports the
negotiated suite, group, CertificateVerify scheme, DER chain, whether the
CertificateVerify signature and the server Finished verify. It never completes the
handshake: once the server's Finished is read the connection is closed.

The bytes go through the shared wire stack (records, hello, handshake); only record
protection (``tls13_record``), the key schedule (``tls13_keys``) and the TLS 1.3-only hello
shape, cookie and CertificateVerify (``tls13_messages``) are TLS 1.3's own.
"""

from __future__ import annotations

import asyncio
import hmac
import secrets
from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import NamedTuple

from sentinel.crypto.keyshare import KeyShare, generate_key_share
from sentinel.errors import ErrorReason, ProbeError
from sentinel.wire import tls13_messages as msg
from sentinel.wire.alerts import parse_alert
from sentinel.wire.constants import ContentType, HandshakeType, ProtocolVersion
from sentinel.wire.handshake import parse_certificate13
from sentinel.wire.hello import ServerHello, default_record_version, parse_server_hello
from sentinel.wire.records import (
    RECORD_HEADER_LEN,
    HandshakeAssembler,
    HandshakeMessage,
    RecordHeader,
    build_record,
)
from sentinel.wire.tls13_keys import SUITES, Tls13Suite, handshake_secrets, traffic_keys
from sentinel.wire.tls13_keys import finished_verify_data as _finished
from sentinel.wire.tls13_record import RecordDecryptor, parse_tls13_record_header
from sentinel.wire.tls13_verify import verify_certificate_verify

StreamPair = tuple[asyncio.StreamReader, asyncio.StreamWriter]
ConnectFactory = Callable[[], AbstractAsyncContextManager[StreamPair]]

# Bounds on what one server may make us read before its Finished.
MAX_RECORDS = 128
MAX_FLIGHT_BYTES = 512 * 1024


class Tls13CertResult(NamedTuple):
    """What a TLS 1.3 handshake up to the server Finished showed."""

    cipher_suite: int
    group: int
    signature_scheme: int
    certificates: tuple[bytes, ...]  # DER, leaf first
    signature_valid: bool | None  # None: scheme or key type Sentinel cannot check
    finished_valid: bool
    hello_retry: bool


class ServerAlert(ProbeError):
    """The server ended the handshake with an alert (e.g. 40 handshake_failure)."""

    def __init__(self, level: int, description: int) -> None:
        self.level = level
        self.description = description
        super().__init__(ErrorReason.PROTOCOL, f"server sent alert {level}/{description}")


async def read_tls13_certificates(
    connect: ConnectFactory,
    *,
    server_name: str | None,
    suites: Sequence[int],
    groups: Sequence[int],
    signature_schemes: Sequence[int],
    timeout: float = 10.0,
) -> Tls13CertResult:
    """Handshake with TLS 1.3 only and return the server's certificates and checks.

    `connect()` yields one (reader, writer) pair. Raises `ProbeError` (timeout,
    reset, alert, protocol violation, no TLS 1.3) or `DecodeError` (malformed bytes).
    """
    unknown = [code for code in suites if code not in SUITES]
    if unknown or not suites or not groups:
        raise ValueError(f"unusable suites {unknown} or empty suite/group list")
    try:
        async with asyncio.timeout(timeout), connect() as (reader, writer):
            offer = _Offer(server_name, tuple(suites), tuple(groups), tuple(signature_schemes))
            session = _Session(reader, writer, offer)
            return await session.run()
    except TimeoutError as exc:
        raise ProbeError(ErrorReason.TIMEOUT, f"no TLS 1.3 answer within {timeout}s") from exc
    except (asyncio.IncompleteReadError, ConnectionResetError, BrokenPipeError) as exc:
        raise ProbeError(ErrorReason.RESET, "server closed the connection") from exc
    except ConnectionRefusedError as exc:
        raise ProbeError(ErrorReason.REFUSED, str(exc)) from exc
    except OSError as exc:
        raise ProbeError(ErrorReason.UNREACHABLE, str(exc)) from exc


def _protocol(detail: str) -> ProbeError:
    return ProbeError(ErrorReason.PROTOCOL, detail)


@dataclass(frozen=True)
class _Offer:
    """What the client offers; identical in both ClientHellos."""

    server_name: str | None
    suites: tuple[int, ...]
    groups: tuple[int, ...]
    signature_schemes: tuple[int, ...]
    # A random legacy_session_id asks for middlebox-compatibility mode (RFC 8446 D.4),
    # which is what most servers expect from real clients.
    session_id: bytes = field(default_factory=lambda: secrets.token_bytes(32))


def _client_hello(offer: _Offer, share: KeyShare, cookie: bytes | None) -> bytes:
    """The TLS 1.3-only ClientHello handshake message, with a fresh random."""
    return msg.tls13_client_hello(
        secrets.token_bytes(32), offer.session_id, offer.suites, groups=offer.groups,
        signature_schemes=offer.signature_schemes, key_shares=[(share.group, share.public)],
        server_name=offer.server_name, cookie=cookie,
    ).encode()


class _Session:
    """One connection's state: transcript, key share, record reading."""

    def __init__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, offer: _Offer
    ) -> None:
        self.reader, self.writer = reader, writer
        self.offer = offer
        self.records_read = 0
        self.bytes_read = 0
        self.plain = HandshakeAssembler()

    async def run(self) -> Tls13CertResult:
        share = generate_key_share(self.offer.groups[0])
        hello = await self._send_hello(share, None)
        transcript = [hello]
        server_hello = await self._read_server_hello()
        info = parse_server_hello(server_hello.body)
        retry_suite = info.cipher_suite if info.is_hello_retry_request else None
        if info.is_hello_retry_request:
            share, transcript = await self._retry(info, share, hello, server_hello)
            server_hello = await self._read_server_hello()
            info = parse_server_hello(server_hello.body)
            if info.is_hello_retry_request:
                raise _protocol("second HelloRetryRequest")
            if info.cipher_suite != retry_suite:
                raise _protocol("ServerHello suite differs from the HelloRetryRequest's")
        suite, server_public = self._check_server_hello(info, share)
        transcript.append(server_hello.raw)
        shared = share.shared_secret(server_public)
        return await self._read_encrypted_flight(
            suite, shared, transcript, share, retried=retry_suite is not None
        )

    async def _send_hello(self, share: KeyShare, cookie: bytes | None) -> bytes:
        hello = _client_hello(self.offer, share, cookie)
        # Record version 0x0301 for the first flight, as interoperable clients send.
        version = default_record_version(ProtocolVersion.TLS1_2)
        self.writer.write(build_record(ContentType.HANDSHAKE, version, hello))
        await self.writer.drain()
        return hello

    async def _retry(
        self, info: ServerHello, share: KeyShare, hello: bytes, retry: HandshakeMessage
    ) -> tuple[KeyShare, list[bytes]]:
        cookie = msg.hello_retry_cookie(info)
        group = info.key_share.group if info.key_share is not None else None
        if group is None or group not in self.offer.groups or group == share.group:
            raise _protocol(f"HelloRetryRequest selected unusable group {group}")
        if info.cipher_suite not in self.offer.suites:
            raise _protocol(f"HelloRetryRequest selected suite 0x{info.cipher_suite:04x}")
        suite = SUITES[info.cipher_suite]
        # RFC 8446 §4.4.1: ClientHello1 is replaced by a synthetic message_hash message.
        synthetic = msg.message_hash(suite.transcript_hash(hello))
        new_share = generate_key_share(group)
        second = await self._send_hello(new_share, cookie)
        return new_share, [synthetic, retry.raw, second]

    def _check_server_hello(self, info: ServerHello, share: KeyShare) -> tuple[Tls13Suite, bytes]:
        """The negotiated suite and the server's key_exchange, after RFC 8446 §4.1.3 checks."""
        if info.selected_version != ProtocolVersion.TLS1_3:
            raise ProbeError(ErrorReason.UNSUPPORTED, "server did not negotiate TLS 1.3")
        if info.cipher_suite not in self.offer.suites:
            raise _protocol(f"server chose suite 0x{info.cipher_suite:04x} not offered")
        if info.session_id != self.offer.session_id:
            raise _protocol("server did not echo legacy_session_id")
        group = info.key_share.group if info.key_share is not None else None
        if info.key_share is None or group != share.group:
            raise _protocol(f"server key share for group {group} not offered")
        return SUITES[info.cipher_suite], info.key_share.key_exchange

    async def _read_record(self) -> tuple[RecordHeader, bytes]:
        self.records_read += 1
        if self.records_read > MAX_RECORDS:
            raise _protocol("too many records before the server Finished")
        header = parse_tls13_record_header(await self.reader.readexactly(RECORD_HEADER_LEN))
        self.bytes_read += RECORD_HEADER_LEN + header.length
        if self.bytes_read > MAX_FLIGHT_BYTES:
            raise _protocol("server flight larger than the read limit")
        body = await self.reader.readexactly(header.length)
        if header.content_type == ContentType.ALERT:
            _raise_alert(body)
        return header, body

    async def _read_server_hello(self) -> HandshakeMessage:
        while True:
            header, body = await self._read_record()
            if header.content_type == ContentType.CHANGE_CIPHER_SPEC:
                continue  # compatibility-mode CCS after a HelloRetryRequest
            if header.content_type != ContentType.HANDSHAKE:
                raise _protocol(f"record type {header.content_type} before ServerHello")
            messages = self.plain.feed(body)
            if messages:
                if (
                    len(messages) > 1
                    or self.plain.pending
                    or messages[0].msg_type != HandshakeType.SERVER_HELLO
                ):
                    raise _protocol("ServerHello not alone in its record(s)")
                return messages[0]

    async def _read_encrypted_flight(
        self,
        suite: Tls13Suite,
        shared: bytes,
        transcript: list[bytes],
        share: KeyShare,
        *,
        retried: bool,
    ) -> Tls13CertResult:
        secrets_ = handshake_secrets(suite, shared, suite.transcript_hash(*transcript))
        server_secret = secrets_.server_handshake_traffic_secret
        flight = _FlightState(suite, transcript)
        decryptor = RecordDecryptor(suite, traffic_keys(suite, server_secret))
        reassembler = HandshakeAssembler()
        while not flight.finished:
            header, body = await self._read_record()
            if header.content_type == ContentType.CHANGE_CIPHER_SPEC:
                continue
            inner_type, content = decryptor.decrypt(header, body)
            if inner_type == ContentType.ALERT:
                _raise_alert(content)
            if inner_type != ContentType.HANDSHAKE:
                raise _protocol(f"inner content type {inner_type} before server Finished")
            for message in reassembler.feed(content):
                flight.accept(message, server_secret)
        return flight.result(share.group, retried)


class _FlightState:
    """Checks the order EncryptedExtensions, [CertificateRequest], Certificate, CV, Finished."""

    _ORDER = (
        HandshakeType.ENCRYPTED_EXTENSIONS,
        HandshakeType.CERTIFICATE_REQUEST,
        HandshakeType.CERTIFICATE,
        HandshakeType.CERTIFICATE_VERIFY,
        HandshakeType.FINISHED,
    )

    def __init__(self, suite: Tls13Suite, transcript: list[bytes]) -> None:
        self.suite = suite
        self.transcript = list(transcript)
        self.position = -1
        self.certificates: tuple[bytes, ...] = ()
        self.scheme = 0
        self.signature_valid: bool | None = None
        self.finished = False
        self.finished_valid = False

    def accept(self, message: HandshakeMessage, server_secret: bytes) -> None:
        if self.finished:
            raise _protocol("handshake data after the server Finished")
        if message.msg_type not in self._ORDER:
            raise _protocol(f"unexpected handshake message {message.msg_type}")
        index = self._ORDER.index(message.msg_type)
        # Each message follows the previous one; only CertificateRequest may be skipped.
        skipped_request = self.position == 0 and index == 2
        if index != self.position + 1 and not skipped_request:
            raise _protocol(f"handshake message {message.msg_type} out of order")
        self.position = index
        if message.msg_type == HandshakeType.CERTIFICATE:
            self.certificates = parse_certificate13(message.body).chain
            if not self.certificates:
                raise _protocol("server sent an empty certificate list")
        elif message.msg_type == HandshakeType.CERTIFICATE_VERIFY:
            self.scheme, signature = msg.parse_certificate_verify(message.body)
            transcript_hash = self.suite.transcript_hash(*self.transcript)
            self.signature_valid = verify_certificate_verify(
                self.scheme, signature, self.certificates[0], transcript_hash
            )
        elif message.msg_type == HandshakeType.FINISHED:
            expected = _finished(
                self.suite, server_secret, self.suite.transcript_hash(*self.transcript)
            )
            self.finished_valid = hmac.compare_digest(expected, message.body)
            self.finished = True
        self.transcript.append(message.raw)

    def result(self, group: int, retried: bool) -> Tls13CertResult:
        return Tls13CertResult(
            cipher_suite=self.suite.code,
            group=group,
            signature_scheme=self.scheme,
            certificates=self.certificates,
            signature_valid=self.signature_valid,
            finished_valid=self.finished_valid,
            hello_retry=retried,
        )


def _raise_alert(body: bytes) -> None:
    alert = parse_alert(body)  # exactly two bytes, else DecodeError
    raise ServerAlert(alert.level, alert.description)
