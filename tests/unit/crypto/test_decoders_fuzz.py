"""Arbitrary bytes into every decoder: the only exception allowed is DecodeError."""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sentinel.crypto import sm2
from sentinel.errors import DecodeError
from sentinel.wire import tls13_messages, tls13_record
from sentinel.wire.handshake import parse_certificate13
from sentinel.wire.hello import parse_server_hello
from sentinel.wire.records import split_handshake_messages

DECODERS: list[Callable[[bytes], object]] = [
    sm2.decode_point,
    sm2.decode_signature,
    sm2.public_key_from_spki,
    sm2.public_key_from_certificate,
    parse_server_hello,
    parse_certificate13,
    tls13_messages.parse_certificate_verify,
    tls13_messages.parse_cookie,
    split_handshake_messages,
    tls13_record.split_inner_plaintext,
    tls13_record.parse_tls13_record_header,
]

# DER-shaped inputs reach deeper than uniform bytes do.
der_like = st.recursive(
    st.binary(max_size=70),
    lambda children: st.builds(
        lambda tag, parts: bytes([tag, min(len(b"".join(parts)), 0x7F)]) + b"".join(parts),
        st.sampled_from([0x30, 0x02, 0x03, 0x06, 0xA0, 0x04]),
        st.lists(children, max_size=4),
    ),
    max_leaves=12,
)


@pytest.mark.parametrize("decoder", DECODERS, ids=lambda d: d.__qualname__)
@settings(max_examples=300, deadline=None)
@given(data=st.one_of(st.binary(max_size=300), der_like))
def test_decoder_raises_only_decode_error(decoder: Callable[[bytes], object], data: bytes) -> None:
    with contextlib.suppress(DecodeError):
        decoder(data)


@settings(max_examples=300, deadline=None)
@given(point=st.binary(min_size=64, max_size=64))
def test_random_uncompressed_points_decode_only_when_on_curve(point: bytes) -> None:
    try:
        decoded = sm2.decode_point(b"\x04" + point)
    except DecodeError:
        return
    assert sm2.is_on_curve(decoded)
