"""Send a router solicitation and print the router advertisements heard, as JSON.

Run inside a lab host namespace (``ip netns exec sl-ws python3 ra_probe.py eth0 3``): the
tests use it as an independent RA client, since no ndisc6/rdisc6 is installed.
"""

from __future__ import annotations

import ipaddress
import json
import socket
import sys
import time

RS = bytes([133, 0, 0, 0, 0, 0, 0, 0])  # the kernel fills in the ICMPv6 checksum


def parse_ra(packet: bytes) -> dict[str, object]:
    """Prefixes, RDNSS and DNSSL options of one router advertisement."""
    found: dict[str, list[str]] = {"prefixes": [], "rdnss": [], "dnssl": []}
    offset = 16
    while offset + 2 <= len(packet):
        kind, length = packet[offset], packet[offset + 1] * 8
        if length == 0:
            break
        body = packet[offset:offset + length]
        if kind == 3 and len(body) >= 32:
            prefix = ipaddress.IPv6Address(body[16:32])
            found["prefixes"].append(f"{prefix}/{body[2]}")
        elif kind == 25:
            for start in range(8, len(body) - 15, 16):
                found["rdnss"].append(str(ipaddress.IPv6Address(body[start:start + 16])))
        elif kind == 31:
            labels, rest = [], body[8:]
            while rest and rest[0]:
                labels.append(rest[1:1 + rest[0]].decode("ascii", "replace"))
                rest = rest[1 + rest[0]:]
            found["dnssl"].append(".".join(labels))
        offset += length
    return {"router_lifetime": int.from_bytes(packet[6:8], "big"), **found}


def main() -> None:
    interface, wait = sys.argv[1], float(sys.argv[2])
    sock = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, interface.encode())
    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, 255)
    sock.sendto(RS, ("ff02::2", 0, 0, socket.if_nametoindex(interface)))
    adverts = []
    deadline = time.monotonic() + wait
    while (left := deadline - time.monotonic()) > 0:
        sock.settimeout(left)
        try:
            packet, source = sock.recvfrom(2048)
        except TimeoutError:
            break
        if packet and packet[0] == 134:
            adverts.append({"from": source[0].split("%")[0], **parse_ra(packet)})
    print(json.dumps(adverts))


if __name__ == "__main__":
    main()
