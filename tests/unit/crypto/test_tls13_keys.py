"""TLS 1.3 key schedule and record layer against RFC 8448 §3 and RFC 5869."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import hashes
from gmssl import sm3 as gm_sm3

from sentinel.errors import DecodeError
from sentinel.wire.handshake import parse_certificate13
from sentinel.wire.hello import parse_server_hello
from sentinel.wire.records import HandshakeAssembler, split_handshake_messages
from sentinel.wire.tls13_keys import (
    SUITES,
    finished_verify_data,
    handshake_secrets,
    hkdf_expand,
    hkdf_extract,
    hmac_digest,
    traffic_keys,
)
from sentinel.wire.tls13_messages import parse_certificate_verify
from sentinel.wire.tls13_record import (
    RecordDecryptor,
    RecordEncryptor,
    parse_tls13_record_header,
)
from sentinel.wire.tls13_verify import verify_certificate_verify

from . import rfc8448_vectors as v

AES128 = SUITES[0x1301]
CH, SH = bytes.fromhex(v.CLIENT_HELLO), bytes.fromhex(v.SERVER_HELLO)


def rfc8448_flight() -> list[bytes]:
    record = bytes.fromhex(v.SERVER_FLIGHT_RECORD)
    secrets = handshake_secrets(
        AES128, bytes.fromhex(v.SHARED_SECRET), AES128.transcript_hash(CH, SH)
    )
    decryptor = RecordDecryptor(
        AES128, traffic_keys(AES128, secrets.server_handshake_traffic_secret)
    )
    content_type, content = decryptor.decrypt(parse_tls13_record_header(record[:5]), record[5:])
    assert content_type == 22
    return [message.raw for message in split_handshake_messages(content)]


def test_hkdf_rfc5869_case_1() -> None:
    prk = hkdf_extract(hashes.SHA256(), bytes(range(13)), b"\x0b" * 22)
    assert prk.hex() == "077709362c2e32df0ddc3f0dc47bba6390b6c73bb50f9c3122ec844ad7c2b3e5"
    okm = hkdf_expand(hashes.SHA256(), prk, bytes(range(0xF0, 0xFA)), 42)
    assert okm.hex() == (
        "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865"
    )


def test_hmac_sm3_matches_gmssl_construction() -> None:
    # HMAC built by hand over gmssl's SM3 (RFC 2104) as an independent check of HMAC-SM3.
    key, data = b"k" * 20, b"the handshake secret input"

    def gm(message: bytes) -> bytes:
        return bytes.fromhex(gm_sm3.sm3_hash(list(message)))

    padded = key + bytes(64 - len(key))
    inner = gm(bytes(b ^ 0x36 for b in padded) + data)
    expected = gm(bytes(b ^ 0x5C for b in padded) + inner)
    assert hmac_digest(hashes.SM3(), key, data) == expected


def test_rfc8448_key_schedule() -> None:
    hello_hash = AES128.transcript_hash(CH, SH)
    assert hello_hash.hex() == v.HELLO_TRANSCRIPT_HASH
    secrets = handshake_secrets(AES128, bytes.fromhex(v.SHARED_SECRET), hello_hash)
    assert secrets.early_secret.hex() == v.EARLY_SECRET
    assert secrets.handshake_secret.hex() == v.HANDSHAKE_SECRET
    assert secrets.client_handshake_traffic_secret.hex() == v.CLIENT_HS_TRAFFIC
    assert secrets.server_handshake_traffic_secret.hex() == v.SERVER_HS_TRAFFIC
    assert secrets.master_secret.hex() == v.MASTER_SECRET
    server = traffic_keys(AES128, secrets.server_handshake_traffic_secret)
    client = traffic_keys(AES128, secrets.client_handshake_traffic_secret)
    assert (server.key.hex(), server.iv.hex()) == (v.SERVER_HS_KEY, v.SERVER_HS_IV)
    assert (client.key.hex(), client.iv.hex()) == (v.CLIENT_HS_KEY, v.CLIENT_HS_IV)


def test_rfc8448_server_flight_decrypts_and_splits() -> None:
    encrypted_extensions, certificate, certificate_verify, finished = rfc8448_flight()
    assert encrypted_extensions.hex() == v.ENCRYPTED_EXTENSIONS
    assert parse_certificate13(certificate[4:]).chain == (bytes.fromhex(v.CERTIFICATE_DER),)
    assert certificate_verify.hex() == v.CERTIFICATE_VERIFY
    assert finished[4:].hex() == v.SERVER_FINISHED_VERIFY_DATA


def test_rfc8448_certificate_verify_and_finished() -> None:
    encrypted_extensions, certificate, certificate_verify, finished = rfc8448_flight()
    scheme, signature = parse_certificate_verify(certificate_verify[4:])
    assert scheme == 0x0804  # rsa_pss_rsae_sha256
    leaf = bytes.fromhex(v.CERTIFICATE_DER)
    through_certificate = AES128.transcript_hash(CH, SH, encrypted_extensions, certificate)
    assert verify_certificate_verify(scheme, signature, leaf, through_certificate) is True
    assert verify_certificate_verify(scheme, signature, leaf, bytes(32)) is False
    assert verify_certificate_verify(0x0403, signature, leaf, through_certificate) is False
    assert verify_certificate_verify(0xFEFE, signature, leaf, through_certificate) is None
    secrets = handshake_secrets(
        AES128, bytes.fromhex(v.SHARED_SECRET), AES128.transcript_hash(CH, SH)
    )
    through_verify = AES128.transcript_hash(
        CH, SH, encrypted_extensions, certificate, certificate_verify
    )
    expected = finished_verify_data(AES128, secrets.server_handshake_traffic_secret, through_verify)
    assert expected == finished[4:]


def test_rfc8448_server_hello_fields() -> None:
    info = parse_server_hello(SH[4:])
    assert info.key_share is not None
    assert (info.cipher_suite, info.selected_version, info.key_share.group) == (0x1301, 0x0304, 29)
    assert info.key_share.key_exchange == bytes.fromhex(v.SERVER_PUBLIC)
    assert not info.is_hello_retry_request


def test_tampered_record_fails_authentication() -> None:
    record = bytearray(bytes.fromhex(v.SERVER_FLIGHT_RECORD))
    record[100] ^= 1
    secrets = handshake_secrets(
        AES128, bytes.fromhex(v.SHARED_SECRET), AES128.transcript_hash(CH, SH)
    )
    decryptor = RecordDecryptor(
        AES128, traffic_keys(AES128, secrets.server_handshake_traffic_secret)
    )
    with pytest.raises(DecodeError, match="authentication failed"):
        decryptor.decrypt(parse_tls13_record_header(bytes(record[:5])), bytes(record[5:]))


@pytest.mark.parametrize("code", sorted(SUITES), ids=lambda c: SUITES[c].name)
def test_every_suite_round_trips_records_with_padding(code: int) -> None:
    suite = SUITES[code]
    secret = bytes(range(suite.hash_size))
    keys = traffic_keys(suite, secret)
    assert (len(keys.key), len(keys.iv)) == (suite.key_size, 12)
    sender, receiver = RecordEncryptor(suite, keys), RecordDecryptor(suite, keys)
    for number, padding in enumerate((0, 7, 100)):
        content = bytes([number]) * (50 + number)
        record = sender.encrypt(22, content, padding)
        header = parse_tls13_record_header(record[:5])
        assert receiver.decrypt(header, record[5:]) == (22, content)


def test_sm_suites_use_sm3() -> None:
    for code in (0x00C6, 0x00C7):
        assert SUITES[code].hash_factory().name == "sm3"
        assert SUITES[code].key_size == 16


def test_all_padding_record_is_rejected() -> None:
    suite = SUITES[0x00C6]
    keys = traffic_keys(suite, bytes(32))
    aead = suite.aead_factory(keys.key)
    header = bytes.fromhex("1703030014")
    body = aead.encrypt(keys.iv, bytes(4), header)
    with pytest.raises(DecodeError, match="no content type"):
        RecordDecryptor(suite, keys).decrypt(parse_tls13_record_header(header), body)


def test_record_header_limits() -> None:
    with pytest.raises(DecodeError, match="exceeds"):
        parse_tls13_record_header(bytes.fromhex("1703034101"))
    with pytest.raises(DecodeError, match="not TLS"):
        parse_tls13_record_header(bytes.fromhex("1701010010"))
    with pytest.raises(DecodeError, match="content type"):
        parse_tls13_record_header(bytes.fromhex("1803030010"))


def test_handshake_reassembly_across_records_and_limits() -> None:
    message = b"\x0b\x00\x00\x05hello"
    reassembler = HandshakeAssembler()
    assert reassembler.feed(message[:3]) == []
    assert reassembler.feed(message[3:7]) == []
    assert [m.raw for m in reassembler.feed(message[7:] + message)] == [message, message]
    with pytest.raises(DecodeError, match="message of 5 bytes exceeds the cap"):
        HandshakeAssembler(cap=8).feed(message[:4])
    with pytest.raises(DecodeError, match=r"^handshake: "):  # a message cut short
        split_handshake_messages(message[:-1])
