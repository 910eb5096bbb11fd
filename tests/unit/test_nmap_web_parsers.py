"""nmap XML and HTML parsing on hostile or odd input: no network."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sentinel.errors import InputError
from sentinel.playbook import RateLimits
from sentinel.probes.nmap_scan import parse_nmap_xml, timing_arguments
from sentinel.probes.web import _dechunk, parse_page, same_site

XML = b"""<?xml version="1.0"?><nmaprun scanner="nmap"><host><status state="up"/>
<address addr="2001:db8:11:0::20" addrtype="ipv6"/><address addr="aa:bb:cc:dd:ee:ff"
addrtype="mac"/><ports><port protocol="tcp" portid="443"><state state="open"/>
<service name="http" product="nginx" version="1.22.1" tunnel="ssl"/></port>
<port protocol="tcp" portid="21"><state state="closed"/></port></ports></host></nmaprun>"""


def test_nmap_xml_keeps_tunnel_ssl_and_normalises_addresses() -> None:
    (host,) = parse_nmap_xml(XML)
    assert host.address == "2001:db8:11::20" and host.state == "up"
    assert host.ports[0].tunnel == "ssl" and host.ports[0].product == "nginx"
    assert host.ports[1].state == "closed" and host.ports[1].name is None


@pytest.mark.parametrize("bad", [b"", b"<html/>", b"<nmaprun><host>", b"\x00\xff"])
def test_bad_nmap_xml_is_an_input_error(bad: bytes) -> None:
    with pytest.raises(InputError):
        parse_nmap_xml(bad)


@given(st.binary(max_size=300))
def test_nmap_parser_never_crashes_otherwise(data: bytes) -> None:
    with contextlib.suppress(InputError):
        parse_nmap_xml(data)


def test_timing_follows_the_rate_budget() -> None:
    slow = timing_arguments(RateLimits(packets_per_second=50, connections_per_host=2))
    assert slow[:3] == ["-T2", "--max-rate", "50"] and "2" in slow


def test_links_are_absolute_defragmented_and_http_only() -> None:
    body = (b"<title> A  b </title><a href='/x#f'>x</a><a href='javascript:alert(1)'>j</a>"
            b"<a href='mailto:a@b'>m</a><a href='https://o.test/y'>y</a><a>no href</a>")
    page = parse_page(body, "http://s.test/dir/")
    assert page.title == "A b"
    assert page.links == ("http://s.test/x", "https://o.test/y")


@given(st.binary(max_size=2000))
def test_html_parser_never_crashes_on_garbage(data: bytes) -> None:
    parse_page(data, "http://s.test/")


def test_same_site_by_host_or_internal_domain() -> None:
    assert same_site("http://WWW.s.test/a", "www.s.test")
    assert not same_site("http://login.test/", "www.s.test")
    assert same_site("http://login.test/", "www.s.test", ("test",))
    assert not same_site("http://evil-test/", "www.s.test", ("test",))


def test_dechunk_stops_at_a_truncated_or_broken_chunk() -> None:
    assert _dechunk(b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n") == b"abcde"
    assert _dechunk(b"3\r\nabc\r\nzz\r\nxx") == b"abc"
