"""A banner's bytes that are not UTF-8 stay visible: telnet option negotiation (IAC DO/WILL)
reaches the evidence as \\xNN escapes, not as replacement characters that hide it."""

from __future__ import annotations

import asyncio

from sentinel.model import Asset, Context, Endpoint
from sentinel.playbook import RateLimits, Segment
from sentinel.probes.base import Network, Target
from sentinel.probes.tcp import TcpProbe
from sentinel.scope import Gate, policy_from

TELNET_GREETING = b"\xff\xfd\x18\xff\xfb\x01login: "


async def banner_of(greeting: bytes) -> str | None:
    async def greet(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(greeting)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(greet, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    network = Network(Gate(policy_from(["127.0.0.1/32"]), RateLimits()), 2.0)
    target = Target(Endpoint(address="127.0.0.1", port=port),
                    Asset(id="127.0.0.1", addresses=("127.0.0.1",)),
                    Context(scan_id="b", agency_id="a1", segment_id="lo"),
                    Segment(id="lo", agency="a1", cidrs=("127.0.0.1/32",), zone="extranet"))
    async with server:
        facts = await TcpProbe(banner_wait_s=1.0).run(target, network)
    assert facts["state"] == "open"
    return facts["banner"]


def test_telnet_negotiation_bytes_stay_visible() -> None:
    banner = asyncio.run(banner_of(TELNET_GREETING))
    assert banner == "\\xff\\xfd\x18\\xff\\xfb\x01login: "
    assert "\ufffd" not in (banner or "")


def test_utf8_banners_are_kept_as_text() -> None:
    assert asyncio.run(banner_of("220 政务外网 FTP\r\n".encode())) == "220 政务外网 FTP\r\n"
