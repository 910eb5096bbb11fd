"""The TLS 1.3 certificate reader's ClientHello, pinned byte for byte for fixed inputs.

Written before the TLS 1.3 code moved onto the shared hello builder (issue 17 item 3):
the bytes a server sees must not change. Only the 32-byte random is drawn per hello; it is
read back from the produced message and everything around it must match exactly.
"""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric import x25519

from sentinel.crypto.keyshare import KeyShare, NamedGroup
from sentinel.probes.tls13_client import _client_hello, _Offer

# A fixed X25519 key (private bytes 1..32), so the key_share bytes are fixed too.
_PRIVATE = x25519.X25519PrivateKey.from_private_bytes(bytes(range(1, 33)))
SHARE = KeyShare(NamedGroup.X25519, _PRIVATE.public_key().public_bytes_raw(), _PRIVATE)
SHARE_HEX = "07a37cbc142093c8b755dc1b10e86cb426374ad16aa853ed0bdfc0b2b86d1c7c"

STANDARD = _Offer("scan.example.test", (0x1301, 0x1302, 0x1303), (29, 23, 24),
                  (0x0403, 0x0804, 0x0807), bytes(range(32)))
SHANGMI_IP = _Offer("198.18.0.7", (0x00C6, 0x00C7), (41,), (0x0708,), bytes(range(100, 132)))
BRACKETED_IPV6 = _Offer("[2001:db8::1]", (0x1301,), (23, 29), (0x0403,), bytes(32))

# (offer, cookie, the 6 bytes before the random, every byte after it)
CASES = {
    "sni-three-suites": (
        STANDARD, None, "010000b80303",
        "20000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f00061301130213030100"
        "00690000001600140000117363616e2e6578616d706c652e74657374002b0003020304000a00080006001d"
        "00170018000d00080006040308040807002d00020101003300260024001d0020" + SHARE_HEX,
    ),
    "ip-literal-no-sni": (
        SHANGMI_IP, None, "010000940303",
        "206465666768696a6b6c6d6e6f707172737475767778797a7b7c7d7e7f80818283000400c600c701000047"
        "002b0003020304000a000400020029000d000400020708002d00020101003300260024001d0020"
        + SHARE_HEX,
    ),
    "bracketed-ipv6-with-cookie": (
        BRACKETED_IPV6, b"cookie-from-hrr", "010000a90303",
        "20" + "00" * 32 + "0002130101000"
        "05e002b0003020304000a000600040017001d000d000400020403002d00020101003300260024001d0020"
        + SHARE_HEX + "002c0011000f636f6f6b69652d66726f6d2d687272",
    ),
    "long-cookie": (
        STANDARD, bytes(range(200)), "010001860303",
        "20000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f00061301130213030100"
        "01370000001600140000117363616e2e6578616d706c652e74657374002b0003020304000a00080006001d"
        "00170018000d00080006040308040807002d00020101003300260024001d0020" + SHARE_HEX
        + "002c00ca00c8" + bytes(range(200)).hex(),
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_tls13_client_hello_bytes_are_pinned(case: str) -> None:
    offer, cookie, head, tail = CASES[case]
    hello = _client_hello(offer, SHARE, cookie)
    random = hello[6:38]
    assert hello == bytes.fromhex(head) + random + bytes.fromhex(tail)


def test_every_hello_draws_a_fresh_random() -> None:
    first, second = (_client_hello(STANDARD, SHARE, None) for _ in range(2))
    assert first[6:38] != second[6:38]
    assert first[:6] + first[38:] == second[:6] + second[38:]
