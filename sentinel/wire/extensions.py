"""Hello extensions: builders for the ClientHello, parsers for what servers send back."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import NamedTuple

from sentinel.wire._reader import Reader, u16_list, u16s, vec
from sentinel.wire.constants import ExtensionType


class Extension(NamedTuple):
    """One extension: type and opaque data (as on the wire)."""

    ext_type: int
    data: bytes

    def encode(self) -> bytes:
        """Type, uint16 length, data."""
        return self.ext_type.to_bytes(2, "big") + vec(2, self.data)


def encode_extensions(extensions: Iterable[Extension]) -> bytes:
    """The extensions block with its uint16 length."""
    return vec(2, b"".join(ext.encode() for ext in extensions))


def parse_extensions(reader: Reader) -> tuple[Extension, ...]:
    """Read an extensions block; a repeated type is malformed (RFC 8446 §4.2)."""
    block = reader.sub(2, "extensions")
    seen: set[int] = set()
    found: list[Extension] = []
    while block.remaining:  # each pass consumes >= 4 bytes
        start = block.offset
        ext_type = block.u16("extension type")
        data = block.vector(2, f"extension {ext_type}")
        if ext_type in seen:
            raise block.error(f"duplicate extension {ext_type}", start)
        seen.add(ext_type)
        found.append(Extension(ext_type, data))
    return tuple(found)


def find_extension(extensions: Sequence[Extension], ext_type: int) -> Extension | None:
    """The extension of that type, if present."""
    return next((ext for ext in extensions if ext.ext_type == ext_type), None)


# -- builders ---------------------------------------------------------------------------


def server_name(host: str) -> Extension:
    """SNI with one host_name entry (RFC 6066 §3). IP literals must not be sent."""
    name = host.encode("idna")
    entry = b"\x00" + vec(2, name)
    return Extension(ExtensionType.SERVER_NAME, vec(2, entry))


def supported_groups(groups: Sequence[int]) -> Extension:
    """supported_groups (formerly elliptic_curves), RFC 8422 / RFC 8446."""
    return Extension(ExtensionType.SUPPORTED_GROUPS, vec(2, u16s(list(groups))))


def ec_point_formats(formats: Sequence[int] = (0,)) -> Extension:
    """ec_point_formats; 0 = uncompressed, the only format still allowed."""
    return Extension(ExtensionType.EC_POINT_FORMATS, vec(1, bytes(formats)))


def signature_algorithms(schemes: Sequence[int]) -> Extension:
    """signature_algorithms (TLS 1.2 hash/sig pairs, TLS 1.3 schemes, TLCP's 0x0704)."""
    return Extension(ExtensionType.SIGNATURE_ALGORITHMS, vec(2, u16s(list(schemes))))


def supported_versions(versions: Sequence[int]) -> Extension:
    """supported_versions, client form (RFC 8446 §4.2.1)."""
    return Extension(ExtensionType.SUPPORTED_VERSIONS, vec(1, u16s(list(versions))))


def key_share(shares: Sequence[tuple[int, bytes]]) -> Extension:
    """key_share, client form: (group, key_exchange) entries; may be empty (forces HRR)."""
    entries = b"".join(group.to_bytes(2, "big") + vec(2, key) for group, key in shares)
    return Extension(ExtensionType.KEY_SHARE, vec(2, entries))


def psk_key_exchange_modes(modes: Sequence[int] = (1,)) -> Extension:
    """psk_key_exchange_modes; some TLS 1.3 servers want it even without a PSK."""
    return Extension(ExtensionType.PSK_KEY_EXCHANGE_MODES, vec(1, bytes(modes)))


def renegotiation_info(verify_data: bytes = b"") -> Extension:
    """renegotiation_info, initial-handshake form (RFC 5746)."""
    return Extension(ExtensionType.RENEGOTIATION_INFO, vec(1, verify_data))


def empty(ext_type: int) -> Extension:
    """An extension with no data (extended_master_secret, session_ticket, ...)."""
    return Extension(ext_type, b"")


# -- server-side parsers ---------------------------------------------------------------


def parse_selected_version(data: bytes) -> int:
    """supported_versions, server form: one uint16."""
    reader = Reader(data, "supported_versions")
    version = reader.u16("selected version")
    reader.expect_end("supported_versions")
    return version


class ServerKeyShare(NamedTuple):
    """A server's key_share: the group and its public value (empty in a HelloRetryRequest)."""

    group: int
    key_exchange: bytes


def parse_server_key_share(data: bytes, hello_retry: bool) -> ServerKeyShare:
    """key_share in ServerHello (group + key) or HelloRetryRequest (selected group only)."""
    reader = Reader(data, "key_share")
    group = reader.u16("group")
    key = b"" if hello_retry else reader.vector(2, "key_exchange", minimum=1)
    reader.expect_end("key_share")
    return ServerKeyShare(group, key)


def parse_client_groups(data: bytes) -> tuple[int, ...]:
    """supported_groups body (used by tests and for parsing captured client hellos)."""
    reader = Reader(data, "supported_groups")
    groups = u16_list(reader, 2, "named_group_list")
    reader.expect_end("supported_groups")
    return groups
