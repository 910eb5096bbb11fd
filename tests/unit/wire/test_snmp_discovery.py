"""SNMPv3 discovery: the request we send and a Net-SNMP Report captured from the lab."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sentinel.errors import DecodeError
from sentinel.wire import snmp

# Net-SNMP 5.9 (lab snmp3) answering discovery_request(4242, 77): a Report with
# usmStatsUnknownEngineIDs, engine id 80001f8880..., boots 1, time 285.
CAPTURED = bytes.fromhex(
    "306d020103300f02021092020300ffe304010002010304223020041180001f888079a2585a10b1076b"
    "000000000201010202011d0400040004003033041180001f888079a2585a10b1076b000000000400a8"
    "1c02014d0201000201003011300f060a2b060106030f01010400410102")


def test_captured_report_gives_the_engine() -> None:
    report = snmp.decode_report(CAPTURED)
    assert report.message_id == 4242
    assert report.engine_id.hex() == "80001f888079a2585a10b1076b00000000"
    assert (report.engine_boots, report.engine_time) == (1, 285)
    assert report.pdu_tag == snmp.REPORT
    assert (report.enterprise, report.format) == (8072, 128)  # net-snmp, random id


def test_request_is_a_reportable_empty_user_v3_get() -> None:
    request = snmp.discovery_request(4242, 77)
    # Our own message parses with the same decoder: v3, our message id, empty engine id.
    parsed = snmp.decode_report(request)
    assert (parsed.message_id, parsed.engine_id, parsed.pdu_tag) == (4242, b"", snmp.GET_REQUEST)
    assert b"\x04\x01\x04" in request  # msgFlags: reportable, noAuthNoPriv


@given(st.integers(min_value=1, max_value=2**31 - 1), st.integers(min_value=1,
                                                                  max_value=2**31 - 1))
def test_request_ids_round_trip(message_id: int, request_id: int) -> None:
    assert snmp.decode_report(snmp.discovery_request(message_id, request_id)).message_id == \
        message_id


@given(st.binary(max_size=300))
def test_random_bytes_only_ever_raise_decode_error(data: bytes) -> None:
    with contextlib.suppress(DecodeError):
        snmp.decode_report(data)


@given(st.integers(min_value=0, max_value=len(CAPTURED) - 1), st.integers(0, 255))
def test_mutated_reports_never_crash(position: int, value: int) -> None:
    data = bytearray(CAPTURED)
    data[position] = value
    with contextlib.suppress(DecodeError):
        snmp.decode_report(bytes(data))


def test_truncated_report_is_a_decode_error() -> None:
    with pytest.raises(DecodeError):
        snmp.decode_report(CAPTURED[:40])
