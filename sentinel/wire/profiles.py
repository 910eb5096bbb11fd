"""Ready-made ClientHellos for probing: which extensions each protocol version gets.

Pure functions; the enumeration strategies in ``sentinel.probes.tls_enum`` choose suites and
groups, these decide the hello's shape. A hello that looks like a real client's gets fewer
odd refusals from middleboxes and picky servers.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from sentinel.wire import extensions as ext
from sentinel.wire.constants import ProtocolVersion
from sentinel.wire.hello import ClientHello, signalling_suites

# Groups offered to TLS 1.0-1.2 servers for ECDHE: every curve still in use, strongest last.
CLASSIC_GROUPS: tuple[int, ...] = (29, 23, 24, 25, 30, 26, 27, 28, 22, 21, 19, 41, 256, 257, 258)
# Every signature scheme a server might pick; TLCP's 0x0704 and RFC 8998's 0x0708 included.
ALL_SIGNATURE_SCHEMES: tuple[int, ...] = (
    0x0403, 0x0503, 0x0603, 0x0804, 0x0805, 0x0806, 0x0807, 0x0808, 0x0809, 0x080A, 0x080B,
    0x0401, 0x0501, 0x0601, 0x081A, 0x081B, 0x081C, 0x0708, 0x0201, 0x0203, 0x0202, 0x0303,
    0x0301, 0x0402, 0x0502, 0x0602,
)
TLCP_SIGNATURE_SCHEMES: tuple[int, ...] = (0x0704, 0x0708)  # gotlcp and GmSSL disagree
TLCP_GROUPS: tuple[int, ...] = (41,)


def _sni(server_name: str | None) -> list[ext.Extension]:
    """SNI only for DNS names: RFC 6066 forbids IP literals there."""
    if not server_name:
        return []
    try:
        ipaddress.ip_address(server_name)
    except ValueError:
        return [ext.server_name(server_name)]
    return []


def tls_hello(
    version: int,
    suites: Sequence[int],
    random: bytes,
    *,
    server_name: str | None = None,
    groups: Sequence[int] = CLASSIC_GROUPS,
    signature_schemes: Sequence[int] = ALL_SIGNATURE_SCHEMES,
    key_shares: Sequence[tuple[int, bytes]] = (),
    session_id: bytes = b"",
) -> ClientHello:
    """A ClientHello offering exactly ``version`` (TLS 1.3 via supported_versions).

    SSL 3.0 hellos carry no extensions (SSL 3.0 servers may reject them) and signal secure
    renegotiation with the SCSV instead.
    """
    if version <= ProtocolVersion.SSL3:
        return ClientHello(version, random, session_id, signalling_suites(suites, True))
    extensions = _sni(server_name)
    extensions += [ext.supported_groups(groups), ext.ec_point_formats()]
    if version >= ProtocolVersion.TLS1_2:
        extensions.append(ext.signature_algorithms(signature_schemes))
    if version >= ProtocolVersion.TLS1_3:
        extensions += [
            ext.supported_versions([ProtocolVersion.TLS1_3]),
            ext.key_share(key_shares),
            ext.psk_key_exchange_modes(),
        ]
        # RFC 8446 §4.1.2: legacy_version 0x0303 and a 32-byte session id for middleboxes.
        return ClientHello(ProtocolVersion.TLS1_2, random, session_id or random,
                           tuple(suites), extensions=tuple(extensions))
    extensions.append(ext.renegotiation_info())
    return ClientHello(version, random, session_id, tuple(suites), extensions=tuple(extensions))


def tlcp_hello(
    suites: Sequence[int],
    random: bytes,
    *,
    with_extensions: bool = True,
    server_name: str | None = None,
) -> ClientHello:
    """A TLCP (0x0101) ClientHello, with GM/T 0024-2023 extensions or with none at all.

    Some GmSSL-based servers silently drop hellos carrying extensions they do not know
    (FIELD-NOTES), so callers retry with ``with_extensions=False`` on silence.
    """
    if not with_extensions:
        return ClientHello(ProtocolVersion.TLCP1_1, random, b"", tuple(suites))
    extensions = _sni(server_name)
    extensions += [ext.supported_groups(TLCP_GROUPS),
                   ext.signature_algorithms(TLCP_SIGNATURE_SCHEMES)]
    return ClientHello(ProtocolVersion.TLCP1_1, random, b"", tuple(suites),
                       extensions=tuple(extensions))
