"""Server handshake messages after ServerHello: Certificate, ServerKeyExchange,
CertificateRequest and ServerHelloDone, in their TLS 1.0-1.2, TLS 1.3 and TLCP forms.

Every parser takes the message body (after the 4-byte handshake header) and returns a frozen
dataclass; malformed input raises DecodeError. Builders exist where tests need round trips.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from sentinel.wire._reader import Reader, u16_list, u16s, vec
from sentinel.wire.constants import HandshakeType
from sentinel.wire.extensions import Extension, encode_extensions, parse_extensions
from sentinel.wire.records import build_handshake

NAMED_CURVE = 3  # ECCurveType named_curve (RFC 8422 §5.4); explicit curves are rejected


class CertificateEntry(NamedTuple):
    """One TLS 1.3 CertificateEntry: DER certificate and its per-entry extensions."""

    cert_data: bytes
    extensions: tuple[Extension, ...]


class Certificate13(NamedTuple):
    """The TLS 1.3 Certificate message."""

    request_context: bytes
    entries: tuple[CertificateEntry, ...]

    @property
    def chain(self) -> tuple[bytes, ...]:
        """Just the DER certificates, leaf first."""
        return tuple(entry.cert_data for entry in self.entries)


def parse_certificate(body: bytes) -> tuple[bytes, ...]:
    """TLS 1.0-1.2 / TLCP Certificate: DER certificates in order.

    TLCP servers send the signing certificate, then the encryption certificate, then the CA
    chain (DOMAIN §1.1); the order is kept exactly as received.
    """
    reader = Reader(body, "certificate")
    block = reader.sub(3, "certificate_list")
    reader.expect_end("certificate")
    chain: list[bytes] = []
    while block.remaining:  # each pass consumes >= 4 bytes
        chain.append(block.vector(3, "ASN.1Cert", minimum=1))
    return tuple(chain)


def build_certificate(chain: Sequence[bytes]) -> bytes:
    """Encode a TLS 1.0-1.2 / TLCP Certificate message."""
    return build_handshake(HandshakeType.CERTIFICATE, vec(3, b"".join(vec(3, c) for c in chain)))


def parse_certificate13(body: bytes) -> Certificate13:
    """TLS 1.3 Certificate (RFC 8446 §4.4.2): context, then entries with extensions."""
    reader = Reader(body, "certificate13")
    context = reader.vector(1, "certificate_request_context")
    block = reader.sub(3, "certificate_list")
    reader.expect_end("certificate13")
    entries: list[CertificateEntry] = []
    while block.remaining:  # each pass consumes >= 6 bytes
        cert = block.vector(3, "cert_data", minimum=1)
        entries.append(CertificateEntry(cert, parse_extensions(block)))
    return Certificate13(context, tuple(entries))


def build_certificate13(context: bytes, entries: Sequence[CertificateEntry]) -> bytes:
    """Encode a TLS 1.3 Certificate message."""
    items = b"".join(vec(3, e.cert_data) + encode_extensions(e.extensions) for e in entries)
    return build_handshake(HandshakeType.CERTIFICATE, vec(1, context) + vec(3, items))


class EcdheParams(NamedTuple):
    """ECDHE ServerKeyExchange: the named curve, the server point and the signature.

    ``signed_params`` is the ServerECDHParams encoding, which the signature covers after
    client_random and server_random.
    """

    named_curve: int
    point: bytes
    signature_algorithm: int | None
    signature: bytes
    signed_params: bytes


def _ske_signature(reader: Reader, with_signature_algorithm: bool,
                   signed: bool) -> tuple[int | None, bytes]:
    """The end of a ServerKeyExchange: (signature algorithm, signature), then nothing more."""
    algorithm: int | None = None
    signature = b""
    if signed:
        algorithm = reader.u16("signature algorithm") if with_signature_algorithm else None
        signature = reader.vector(2, "signature", minimum=1)
    reader.expect_end("server_key_exchange")
    return algorithm, signature


def parse_ecdhe_server_key_exchange(body: bytes, with_signature_algorithm: bool,
                                    signed: bool = True) -> EcdheParams:
    """ECDHE SKE. TLS 1.2 has a signature algorithm before the signature; TLS 1.0/1.1 and
    TLCP's ECDHE form do not; ECDH_anon has no signature at all (``signed=False``)."""
    reader = Reader(body, "server_key_exchange")
    curve_type = reader.u8("curve_type")
    if curve_type != NAMED_CURVE:
        raise reader.error(f"curve_type {curve_type} is not named_curve", 0)
    curve = reader.u16("named_curve")
    point = reader.vector(1, "point", minimum=1)
    params_end = reader.offset
    algorithm, signature = _ske_signature(reader, with_signature_algorithm, signed)
    return EcdheParams(curve, point, algorithm, signature, body[:params_end])


def build_ecdhe_server_key_exchange(params: EcdheParams) -> bytes:
    """Encode an ECDHE SKE (inverse of the parser)."""
    body = bytes((NAMED_CURVE,)) + params.named_curve.to_bytes(2, "big") + vec(1, params.point)
    if params.signature_algorithm is not None:
        body += params.signature_algorithm.to_bytes(2, "big")
    if params.signature:
        body += vec(2, params.signature)
    return build_handshake(HandshakeType.SERVER_KEY_EXCHANGE, body)


class DheParams(NamedTuple):
    """Finite-field DHE ServerKeyExchange (the prime size is what assessors care about)."""

    prime: bytes
    generator: bytes
    public_value: bytes
    signature_algorithm: int | None
    signature: bytes
    signed_params: bytes

    @property
    def prime_bits(self) -> int:
        """Bit length of the DH prime."""
        return int.from_bytes(self.prime, "big").bit_length()


def parse_dhe_server_key_exchange(body: bytes, with_signature_algorithm: bool,
                                  signed: bool = True) -> DheParams:
    """DHE SKE: dh_p, dh_g, dh_Ys, then (optionally) algorithm and signature."""
    reader = Reader(body, "server_key_exchange")
    prime = reader.vector(2, "dh_p", minimum=1)
    generator = reader.vector(2, "dh_g", minimum=1)
    public = reader.vector(2, "dh_Ys", minimum=1)
    params_end = reader.offset
    algorithm, signature = _ske_signature(reader, with_signature_algorithm, signed)
    return DheParams(prime, generator, public, algorithm, signature, body[:params_end])


def parse_tlcp_ecc_server_key_exchange(body: bytes) -> bytes:
    """TLCP ECC SKE: only the SM2 signature, ``opaque<1..2^16-1>`` (DOMAIN §1.1).

    The signature covers client_random ‖ server_random ‖ uint24(len) ‖ DER(enc cert);
    :func:`tlcp_ecc_signed_data` rebuilds that input.
    """
    reader = Reader(body, "tlcp_server_key_exchange")
    signature = reader.vector(2, "signature", minimum=1)
    reader.expect_end("tlcp_server_key_exchange")
    return signature


def tlcp_ecc_signed_data(client_random: bytes, server_random: bytes, enc_cert: bytes) -> bytes:
    """The bytes a TLCP ECC server signs with its signing key (GB/T 38636, gotlcp)."""
    return client_random + server_random + vec(3, enc_cert)


def parse_tlcp_ecdhe_server_key_exchange(body: bytes) -> EcdheParams:
    """TLCP ECDHE SKE: ServerECDHParams then the SM2 signature (no algorithm field)."""
    return parse_ecdhe_server_key_exchange(body, with_signature_algorithm=False)


class CertificateRequest(NamedTuple):
    """A (TLS 1.0-1.2 / TLCP) CertificateRequest: the server wants a client certificate."""

    certificate_types: bytes
    signature_algorithms: tuple[int, ...] | None
    authorities: tuple[bytes, ...]


def parse_certificate_request(body: bytes, with_signature_algorithms: bool) -> CertificateRequest:
    """TLS 1.2 carries supported_signature_algorithms; TLS 1.0/1.1 and TLCP do not."""
    reader = Reader(body, "certificate_request")
    types = reader.vector(1, "certificate_types", minimum=1)
    algorithms = (
        u16_list(reader, 2, "supported_signature_algorithms", minimum=2)
        if with_signature_algorithms
        else None
    )
    block = reader.sub(2, "certificate_authorities")
    reader.expect_end("certificate_request")
    names: list[bytes] = []
    while block.remaining:  # each pass consumes >= 3 bytes
        names.append(block.vector(2, "DistinguishedName", minimum=1))
    return CertificateRequest(types, algorithms, tuple(names))


def build_certificate_request(request: CertificateRequest) -> bytes:
    """Encode a CertificateRequest (inverse of the parser)."""
    body = vec(1, request.certificate_types)
    if request.signature_algorithms is not None:
        body += vec(2, u16s(request.signature_algorithms))
    body += vec(2, b"".join(vec(2, name) for name in request.authorities))
    return build_handshake(HandshakeType.CERTIFICATE_REQUEST, body)


def parse_server_hello_done(body: bytes) -> None:
    """ServerHelloDone has an empty body; anything else is malformed."""
    Reader(body, "server_hello_done").expect_end("server_hello_done")
