"""Wire codecs on constructed bytes: what a scanner user would see if they were wrong."""

from __future__ import annotations

import pytest

from sentinel.errors import DecodeError
from sentinel.wire import extensions as ext
from sentinel.wire.alerts import Alert, is_gotlcp_version_alert, parse_alert
from sentinel.wire.constants import HELLO_RETRY_REQUEST_RANDOM, ExtensionType
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
    tlcp_ecc_signed_data,
)
from sentinel.wire.hello import (
    ClientHello,
    ServerHello,
    build_server_hello,
    client_hello_record,
    parse_client_hello,
    parse_server_hello,
)
from sentinel.wire.profiles import tlcp_hello, tls_hello
from sentinel.wire.records import (
    HandshakeAssembler,
    build_record,
    parse_record_header,
    parse_records,
    split_handshake_messages,
)
from sentinel.wire.sslv2 import build_sslv2_client_hello, parse_sslv2_server_hello

RANDOM = bytes(range(32))


def _body(message: bytes) -> bytes:
    return message[4:]


def test_tlcp_hello_uses_record_and_client_version_0101() -> None:
    record = client_hello_record(tlcp_hello([0xE013, 0xE011], RANDOM, with_extensions=False))
    assert record[:3] == b"\x16\x01\x01"
    hello = parse_client_hello(record[9:])
    assert hello.client_version == 0x0101
    assert hello.cipher_suites == (0xE013, 0xE011)
    assert hello.extensions is None  # no extensions block at all, not an empty one
    assert len(record) == 5 + 4 + 2 + 32 + 1 + 2 + 4 + 2


def test_tls13_hello_offers_1_3_only_via_supported_versions() -> None:
    hello = tls_hello(0x0304, [0x1301, 0x00C6], RANDOM, server_name="gov.example",
                      groups=[29, 0x11EC, 41], key_shares=[(29, b"\x01" * 32)])
    record = client_hello_record(hello)
    assert record[1:3] == b"\x03\x01"
    parsed = parse_client_hello(record[9:])
    assert parsed.client_version == 0x0303
    assert parsed.extensions is not None
    versions = ext.find_extension(parsed.extensions, ExtensionType.SUPPORTED_VERSIONS)
    assert versions is not None and versions.data == b"\x02\x03\x04"
    groups = ext.find_extension(parsed.extensions, ExtensionType.SUPPORTED_GROUPS)
    assert groups is not None and ext.parse_client_groups(groups.data) == (29, 0x11EC, 41)
    sni = ext.find_extension(parsed.extensions, ExtensionType.SERVER_NAME)
    assert sni is not None and sni.data.endswith(b"gov.example")


def test_ssl3_hello_has_no_extensions_and_signals_scsv() -> None:
    hello = tls_hello(0x0300, [0x000A, 0x1234], RANDOM)
    record = client_hello_record(hello)
    assert record[1:3] == b"\x03\x00"
    parsed = parse_client_hello(record[9:])
    assert parsed.extensions is None
    assert parsed.cipher_suites == (0x000A, 0x1234, 0x00FF)  # unknown code kept as given


def test_ip_literal_gets_no_sni() -> None:
    hello = tls_hello(0x0303, [0xC02F], RANDOM, server_name="127.0.0.1")
    assert hello.extensions is not None
    assert ext.find_extension(hello.extensions, ExtensionType.SERVER_NAME) is None


def _server_hello(random: bytes, extensions: tuple[ext.Extension, ...] | None) -> ServerHello:
    return ServerHello(0x0303, random, b"\x07" * 32, 0x1301, 0, extensions, None, None)


def test_hello_retry_request_is_detected_with_its_group() -> None:
    exts = (ext.Extension(43, b"\x03\x04"), ext.Extension(51, b"\x11\xec"))
    parsed = parse_server_hello(_body(build_server_hello(
        _server_hello(HELLO_RETRY_REQUEST_RANDOM, exts))))
    assert parsed.is_hello_retry_request
    assert parsed.version == 0x0304
    assert parsed.key_share is not None and parsed.key_share.group == 0x11EC


def test_server_hello_key_share_and_downgrade_marker() -> None:
    exts = (ext.Extension(43, b"\x03\x04"), ext.Extension(51, b"\x00\x1d\x00\x20" + b"k" * 32))
    parsed = parse_server_hello(_body(build_server_hello(_server_hello(RANDOM, exts))))
    assert not parsed.is_hello_retry_request
    assert parsed.key_share == ext.ServerKeyShare(29, b"k" * 32)
    downgraded = parse_server_hello(_body(build_server_hello(
        _server_hello(RANDOM[:24] + b"DOWNGRD\x01", None))))
    assert downgraded.downgrade_marker == 0x0303 and downgraded.version == 0x0303


def test_duplicate_extension_is_malformed() -> None:
    exts = (ext.Extension(43, b"\x03\x04"), ext.Extension(43, b"\x03\x04"))
    with pytest.raises(DecodeError, match="duplicate extension"):
        parse_server_hello(_body(build_server_hello(_server_hello(RANDOM, exts))))


def test_two_messages_in_one_record_and_one_message_across_records() -> None:
    cert = build_certificate([b"\x30" * 3000, b"\x30\x01"])
    done = b"\x0e\x00\x00\x00"
    stream = build_record(22, 0x0303, cert[:100]) + build_record(22, 0x0303, cert[100:] + done)
    records, tail = parse_records(stream)
    assert tail == b"" and len(records) == 2
    assembler = HandshakeAssembler()
    assert assembler.feed(records[0].payload) == []
    messages = assembler.feed(records[1].payload)
    assert [m.msg_type for m in messages] == [11, 14]
    assert parse_certificate(messages[0].body) == (b"\x30" * 3000, b"\x30\x01")
    parse_server_hello_done(messages[1].body)


def test_assembler_rejects_a_huge_announced_length_before_buffering() -> None:
    with pytest.raises(DecodeError, match="exceeds the cap"):
        HandshakeAssembler(cap=1024).feed(b"\x0b\xff\xff\xff" + b"\x00" * 10)
    assembler = HandshakeAssembler(cap=64)
    assert assembler.feed(b"\x0b\x00\x00\x3c" + b"\x00" * 26) == []
    with pytest.raises(DecodeError, match="exceeds 64"):
        assembler.feed(b"\x00" * 50)


def test_record_header_validation() -> None:
    assert parse_record_header(b"\x16\x01\x01\x00\x10").version == 0x0101
    for bad in (b"\x63\x03\x03\x00\x01", b"\x16\x02\x00\x00\x01", b"\x16\x03\x03\x50\x00",
                b"HTTP/"):
        with pytest.raises(DecodeError):
            parse_record_header(bad)


def test_gotlcp_alert_fingerprint_and_tlcp_alert_names() -> None:
    raw = bytes.fromhex("15010100020246")
    assert is_gotlcp_version_alert(raw)
    assert not is_gotlcp_version_alert(bytes.fromhex("15030300020246"))
    assert parse_alert(raw[5:]) == Alert(2, 70)
    assert Alert(2, 70).name == "protocol_version"
    assert Alert(2, 205).name == "identity_need"
    assert Alert(1, 250).name == "unknown_250" and not Alert(1, 0).fatal


def test_tls13_certificate_round_trip_with_entry_extensions() -> None:
    entries = (CertificateEntry(b"\x30\x82leaf", (ext.Extension(5, b"ocsp"),)),
               CertificateEntry(b"\x30\x82ca", ()))
    parsed = parse_certificate13(_body(build_certificate13(b"", entries)))
    assert parsed.entries == entries and parsed.chain == (b"\x30\x82leaf", b"\x30\x82ca")


def test_ecdhe_server_key_exchange_tls12_and_tlcp_forms() -> None:
    params = EcdheParams(41, b"\x04" + b"P" * 64, 0x0708, b"sig", b"")
    body = _body(build_ecdhe_server_key_exchange(params))
    parsed = parse_ecdhe_server_key_exchange(body, with_signature_algorithm=True)
    assert (parsed.named_curve, parsed.signature_algorithm) == (41, 0x0708)
    assert parsed.signature == b"sig"
    assert parsed.signed_params == b"\x03\x00\x29\x41" + b"\x04" + b"P" * 64
    tlcp = parse_ecdhe_server_key_exchange(body[:-7] + b"\x00\x03sig", False)
    assert tlcp.signature_algorithm is None and tlcp.signature == b"sig"
    with pytest.raises(DecodeError, match="named_curve"):
        parse_ecdhe_server_key_exchange(b"\x01" + body[1:], True)


def test_tlcp_ecc_ske_is_just_a_signature_over_the_enc_cert() -> None:
    assert parse_tlcp_ecc_server_key_exchange(b"\x00\x04\x30\x02\x01\x01") == b"\x30\x02\x01\x01"
    with pytest.raises(DecodeError):
        parse_tlcp_ecc_server_key_exchange(b"\x00\x00")  # opaque<1..2^16-1>
    signed = tlcp_ecc_signed_data(b"c" * 32, b"s" * 32, b"ENC")
    assert signed == b"c" * 32 + b"s" * 32 + b"\x00\x00\x03ENC"


def test_dhe_prime_size() -> None:
    prime = b"\xff" * 128
    body = b"\x00\x80" + prime + b"\x00\x01\x02" + b"\x00\x01\x05" + b"\x04\x01" + b"\x00\x01s"
    assert parse_dhe_server_key_exchange(body, True).prime_bits == 1024


def test_certificate_request_tlcp_and_tls12_forms() -> None:
    tlcp = CertificateRequest(b"\x40\x50", None, (b"0\x00",))
    assert parse_certificate_request(_body(build_certificate_request(tlcp)), False) == tlcp
    tls12 = CertificateRequest(b"\x01", (0x0401, 0x0708), ())
    assert parse_certificate_request(_body(build_certificate_request(tls12)), True) == tls12


def test_sslv2_server_hello() -> None:
    body = bytes([4, 0, 1]) + b"\x00\x02" + b"\x00\x03" + b"\x00\x06" + b"\x00\x02"
    body += b"DER" + bytes.fromhex("010080" "0700c0") + b"id"
    record = (len(body) | 0x8000).to_bytes(2, "big") + body
    hello = parse_sslv2_server_hello(record)
    assert hello.version == 2 and hello.certificate == b"DER"
    assert hello.cipher_specs == (0x010080, 0x0700C0)
    with pytest.raises(DecodeError, match="ERROR message"):
        parse_sslv2_server_hello(b"\x80\x03\x00\x00\x01")
    client = build_sslv2_client_hello()
    assert client[0] & 0x80 and client[2] == 1 and client[3:5] == b"\x00\x02"


def test_split_rejects_trailing_partial_message() -> None:
    with pytest.raises(DecodeError, match="truncated"):
        split_handshake_messages(b"\x0e\x00\x00\x00\x02\x00")


def test_client_hello_round_trip_keeps_unknown_suites() -> None:
    hello = ClientHello(0x0303, RANDOM, b"", (0xFFFF, 0x0A0A, 0xE05A),
                        extensions=(ext.renegotiation_info(),))
    assert parse_client_hello(_body(hello.encode())) == hello
