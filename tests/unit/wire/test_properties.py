"""Hypothesis properties for every wire parser: builders round-trip, arbitrary bytes and
truncations raise only DecodeError (never IndexError, struct.error or MemoryError)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable

from hypothesis import given, settings
from hypothesis import strategies as st

from sentinel.errors import DecodeError
from sentinel.wire import extensions as ext
from sentinel.wire.alerts import parse_alert
from sentinel.wire.handshake import (
    CertificateEntry,
    CertificateRequest,
    EcdheParams,
    build_certificate,
    build_certificate13,
    build_certificate_request,
    build_ecdhe_server_key_exchange,
    parse_certificate,
    parse_certificate13,
    parse_certificate_request,
    parse_dhe_server_key_exchange,
    parse_ecdhe_server_key_exchange,
    parse_server_hello_done,
    parse_tlcp_ecc_server_key_exchange,
)
from sentinel.wire.hello import (
    ClientHello,
    ServerHello,
    build_server_hello,
    parse_client_hello,
    parse_server_hello,
)
from sentinel.wire.records import HandshakeAssembler, parse_records, split_handshake_messages
from sentinel.wire.sslv2 import parse_sslv2_server_hello

u16 = st.integers(0, 0xFFFF)
blob = st.binary(max_size=64)
extension_lists = st.lists(st.tuples(u16, blob), max_size=6, unique_by=lambda e: e[0]).map(
    lambda items: tuple(ext.Extension(t, d) for t, d in items))

PARSERS: dict[str, Callable[[bytes], object]] = {
    "client_hello": parse_client_hello,
    "server_hello": parse_server_hello,
    "certificate": parse_certificate,
    "certificate13": parse_certificate13,
    "ecdhe_ske_12": lambda b: parse_ecdhe_server_key_exchange(b, True),
    "ecdhe_ske_tlcp": lambda b: parse_ecdhe_server_key_exchange(b, False),
    "dhe_ske": lambda b: parse_dhe_server_key_exchange(b, True),
    "tlcp_ecc_ske": parse_tlcp_ecc_server_key_exchange,
    "certificate_request_12": lambda b: parse_certificate_request(b, True),
    "certificate_request_tlcp": lambda b: parse_certificate_request(b, False),
    "server_hello_done": parse_server_hello_done,
    "alert": parse_alert,
    "sslv2_server_hello": parse_sslv2_server_hello,
    "records": parse_records,
    "split_handshake": split_handshake_messages,
    "assembler": lambda b: HandshakeAssembler(cap=4096).feed(b),
    "supported_version": ext.parse_selected_version,
    "key_share": lambda b: ext.parse_server_key_share(b, False),
}


def only_decode_errors(parser: Callable[[bytes], object], data: bytes) -> None:
    """The parser may succeed or raise DecodeError; anything else fails the test."""
    with contextlib.suppress(DecodeError):
        parser(data)


@settings(max_examples=300)
@given(name=st.sampled_from(sorted(PARSERS)), data=st.binary(max_size=400))
def test_arbitrary_bytes_only_raise_decode_error(name: str, data: bytes) -> None:
    only_decode_errors(PARSERS[name], data)


client_hellos = st.builds(
    ClientHello, st.sampled_from([0x0300, 0x0301, 0x0302, 0x0303, 0x0101]), st.binary(
        min_size=32, max_size=32), st.binary(max_size=32),
    st.lists(u16, min_size=1, max_size=40).map(tuple), st.binary(min_size=1, max_size=3),
    st.one_of(st.none(), extension_lists))


@given(client_hellos)
def test_client_hello_round_trip_and_truncations(hello: ClientHello) -> None:
    body = hello.encode()[4:]
    assert parse_client_hello(body) == hello
    for cut in range(0, len(body), max(1, len(body) // 16)):
        only_decode_errors(parse_client_hello, body[:cut])


@given(random=st.binary(min_size=32, max_size=32), session=st.binary(max_size=32), suite=u16,
       extensions=st.one_of(st.none(), extension_lists.filter(
           lambda es: all(e.ext_type not in (43, 51) for e in es))))
def test_server_hello_round_trip(random: bytes, session: bytes, suite: int,
                                 extensions: tuple[ext.Extension, ...] | None) -> None:
    hello = ServerHello(0x0303, random, session, suite, 0, extensions, None, None)
    body = build_server_hello(hello)[4:]
    assert parse_server_hello(body) == hello
    for cut in range(len(body)):
        only_decode_errors(parse_server_hello, body[:cut])


@given(st.lists(st.binary(min_size=1, max_size=300), max_size=5))
def test_certificate_round_trip_and_truncations(chain: list[bytes]) -> None:
    body = build_certificate(chain)[4:]
    assert parse_certificate(body) == tuple(chain)
    for cut in range(len(body)):
        only_decode_errors(parse_certificate, body[:cut])


@given(st.binary(max_size=8), st.lists(st.tuples(st.binary(min_size=1, max_size=50),
                                                 extension_lists), max_size=4))
def test_certificate13_round_trip(context: bytes, items: list[tuple[bytes, tuple[
        ext.Extension, ...]]]) -> None:
    entries = tuple(CertificateEntry(c, e) for c, e in items)
    parsed = parse_certificate13(build_certificate13(context, entries)[4:])
    assert parsed.request_context == context and parsed.entries == entries


@given(curve=u16, point=st.binary(min_size=1, max_size=133), algorithm=st.one_of(st.none(), u16),
       signature=st.binary(min_size=1, max_size=200))
def test_ecdhe_ske_round_trip(curve: int, point: bytes, algorithm: int | None,
                              signature: bytes) -> None:
    params = EcdheParams(curve, point, algorithm, signature, b"")
    body = build_ecdhe_server_key_exchange(params)[4:]
    parsed = parse_ecdhe_server_key_exchange(body, algorithm is not None)
    assert (parsed.named_curve, parsed.point, parsed.signature_algorithm, parsed.signature) == (
        curve, point, algorithm, signature)
    for cut in range(len(body)):
        only_decode_errors(lambda b: parse_ecdhe_server_key_exchange(b, True), body[:cut])


@given(types=st.binary(min_size=1, max_size=4),
       algorithms=st.one_of(st.none(), st.lists(u16, min_size=1, max_size=8).map(tuple)),
       names=st.lists(st.binary(min_size=1, max_size=40), max_size=4).map(tuple))
def test_certificate_request_round_trip(types: bytes, algorithms: tuple[int, ...] | None,
                                        names: tuple[bytes, ...]) -> None:
    request = CertificateRequest(types, algorithms, names)
    body = build_certificate_request(request)[4:]
    assert parse_certificate_request(body, algorithms is not None) == request


@given(st.binary(max_size=2000), st.integers(1, 50))
def test_assembler_split_anywhere_gives_same_messages(stream: bytes, step: int) -> None:
    whole = HandshakeAssembler()
    pieces = HandshakeAssembler()
    try:
        expected = whole.feed(stream)
    except DecodeError:
        return
    got = []
    for start in range(0, len(stream), step):
        got += pieces.feed(stream[start : start + step])
    assert got == expected
