"""SSH transport codec (RFC 4253), no I/O: identification lines, binary packets, KEXINIT,
the key exchange replies that carry the server's host key (RFC 4253 §8, RFC 4419, RFC 5656,
RFC 8731) and the host key blobs themselves (RFC 4253 §6.6, RFC 5656 §3.1, RFC 8709).

Everything here reads bytes a scanned server chose, so every size is capped before anything
is sliced or decoded: the identification line at 255 bytes (RFC 4253 §4.2), the lines a
server may send before it at :data:`MAX_PRELUDE_LINES`, a packet at :data:`MAX_PACKET`, a
name-list at :data:`MAX_NAME_LIST`. Malformed input raises
:class:`~sentinel.errors.DecodeError` with layer ``ssh`` and the offset.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sentinel.errors import DecodeError
from sentinel.wire._reader import Reader

LAYER = "ssh"
MAX_LINE = 255  # RFC 4253 §4.2: the identification line, CR LF included
MAX_PRELUDE_LINES = 32  # other lines before it (RFC 4253 allows them); more is hostile
MAX_PACKET = 35000  # RFC 4253 §6.1: implementations must handle this much, need no more
MAX_NAME_LIST = 8192  # far above any real server's list (OpenSSH's longest is < 1 KiB)
MAX_MPINT = 2049  # bytes: a 16384-bit modulus and its sign byte; more is not a real key
MAX_BLOB = 16384  # a host key or signature blob (an RSA-16384 key is ~2 KiB)
MAX_TEXT = 1024  # a DISCONNECT description kept for the error message
MSG_DISCONNECT = 1
MSG_KEXINIT = 20
MSG_KEX_ECDH_INIT = 30  # also SSH_MSG_KEXDH_INIT (RFC 4253 §8)
MSG_KEX_ECDH_REPLY = 31  # also SSH_MSG_KEXDH_REPLY and SSH_MSG_KEX_DH_GEX_GROUP
MSG_KEX_DH_GEX_INIT = 32
MSG_KEX_DH_GEX_REPLY = 33
MSG_KEX_DH_GEX_REQUEST = 34
KEXINIT_FIELDS = (
    "kex_algorithms",
    "server_host_key_algorithms",
    "encryption_algorithms_client_to_server",
    "encryption_algorithms_server_to_client",
    "mac_algorithms_client_to_server",
    "mac_algorithms_server_to_client",
    "compression_algorithms_client_to_server",
    "compression_algorithms_server_to_client",
    "languages_client_to_server",
    "languages_server_to_client",
)
# RFC 4251 §6: names are printable US-ASCII without comma or whitespace, at most 64 chars.
_NAME = re.compile(rb"^[\x21-\x2b\x2d-\x7e]{1,64}$")
# RFC 4253 forbids '-' in softwareversion, but real servers use it ("SSH-1.5-Cisco-1.25").
_IDENT = re.compile(r"^SSH-([0-9][0-9.]{0,15})-([\x21-\x7e]+)(?: (.*))?$", re.ASCII)


@dataclass(frozen=True)
class Banner:
    """The server's identification string, split into its RFC 4253 §4.2 parts."""

    raw: str
    protocol: str  # "2.0", "1.99" (SSH-1 and SSH-2), "1.5" ...
    software: str
    comments: str | None
    prelude: tuple[str, ...] = ()  # lines the server sent before the identification

    @property
    def ssh1(self) -> bool:
        """True when the server speaks SSH-1 (``1.x``, including the dual ``1.99``)."""
        return self.protocol.startswith("1.")


def parse_identification(line: bytes) -> Banner:
    """One identification line (without CR LF) into its parts."""
    text = line.decode("ascii", errors="strict") if line.isascii() else None
    if text is None:
        raise DecodeError(LAYER, "identification line is not ASCII")
    match = _IDENT.match(text)
    if match is None:
        raise DecodeError(LAYER, "identification line is not SSH-protoversion-softwareversion")
    return Banner(raw=text, protocol=match.group(1), software=match.group(2),
                  comments=match.group(3))


def find_banner(buffer: bytes) -> tuple[Banner, int] | None:
    """The identification in ``buffer`` and how many bytes it used; None if more is needed.

    Lines before the ``SSH-`` line are kept (decoded leniently, capped); a line longer than
    255 bytes, or more than :data:`MAX_PRELUDE_LINES` of them, is an error, not a wait.
    """
    prelude: list[str] = []
    start = 0
    while True:
        end = buffer.find(b"\n", start, start + MAX_LINE + 1)
        if end < 0:
            if len(buffer) - start > MAX_LINE:
                raise DecodeError(LAYER, f"line longer than {MAX_LINE} bytes", start)
            return None
        line = buffer[start:end].removesuffix(b"\r")
        if line.startswith(b"SSH-"):
            banner = parse_identification(line)
            return _with_prelude(banner, prelude), end + 1
        if len(prelude) >= MAX_PRELUDE_LINES:
            raise DecodeError(LAYER, f"more than {MAX_PRELUDE_LINES} lines before SSH-", start)
        prelude.append(line.decode("utf-8", errors="replace"))
        start = end + 1


def _with_prelude(banner: Banner, prelude: list[str]) -> Banner:
    return Banner(banner.raw, banner.protocol, banner.software, banner.comments, tuple(prelude))


def identification(software: str, comments: str | None = None) -> bytes:
    """Our own identification line, CR LF terminated."""
    text = f"SSH-2.0-{software}" + (f" {comments}" if comments else "")
    data = text.encode("ascii") + b"\r\n"
    if len(data) > MAX_LINE:
        raise ValueError("identification longer than 255 bytes")
    return data


def frame(payload: bytes, block: int = 8, padding: Callable[[int], bytes] = os.urandom) -> bytes:
    """An unencrypted binary packet (RFC 4253 §6): length, padding length, payload, padding."""
    pad = block - (5 + len(payload)) % block
    if pad < 4:
        pad += block
    body = bytes([pad]) + payload + padding(pad)
    return len(body).to_bytes(4, "big") + body


def unframe(buffer: bytes, mac_length: int = 0) -> tuple[bytes, int] | None:
    """The payload of the first packet in ``buffer`` and its size; None when incomplete."""
    if len(buffer) < 5:
        return None
    reader = Reader(buffer, LAYER)
    length = reader.uint(4, "packet_length")
    if length < 5 or length > MAX_PACKET:
        raise DecodeError(LAYER, f"packet_length {length} outside 5..{MAX_PACKET}", 0)
    total = 4 + length + mac_length
    if len(buffer) < total:
        return None
    padding = reader.u8("padding_length")
    if padding < 4 or padding > length - 1:
        raise DecodeError(LAYER, f"padding_length {padding} invalid for length {length}", 4)
    return buffer[5 : 4 + length - padding], total


@dataclass(frozen=True)
class KexInit:
    """SSH_MSG_KEXINIT: the ten algorithm name-lists, in the order the peer prefers."""

    cookie: bytes
    kex_algorithms: tuple[str, ...]
    server_host_key_algorithms: tuple[str, ...]
    encryption_algorithms_client_to_server: tuple[str, ...]
    encryption_algorithms_server_to_client: tuple[str, ...]
    mac_algorithms_client_to_server: tuple[str, ...]
    mac_algorithms_server_to_client: tuple[str, ...]
    compression_algorithms_client_to_server: tuple[str, ...]
    compression_algorithms_server_to_client: tuple[str, ...]
    languages_client_to_server: tuple[str, ...] = ()
    languages_server_to_client: tuple[str, ...] = ()
    first_kex_packet_follows: bool = False

    def name_lists(self) -> tuple[tuple[str, ...], ...]:
        """The ten lists in wire order."""
        return tuple(getattr(self, name) for name in KEXINIT_FIELDS)


def decode_name_list(data: bytes, offset: int = 0) -> tuple[str, ...]:
    """A comma-separated list of algorithm names (may be empty)."""
    if not data:
        return ()
    names = data.split(b",")
    for name in names:
        if not _NAME.match(name):
            raise DecodeError(LAYER, f"invalid algorithm name {name[:64]!r}", offset)
    return tuple(n.decode("ascii") for n in names)


def encode_name_list(names: Sequence[str]) -> bytes:
    """uint32 length, then the names joined by commas."""
    data = ",".join(names).encode("ascii")
    return len(data).to_bytes(4, "big") + data


def decode_kexinit(payload: bytes) -> KexInit:
    """Parse a KEXINIT payload (message number included); trailing bytes are an error."""
    reader = Reader(payload, LAYER)
    if reader.u8("message number") != MSG_KEXINIT:
        raise DecodeError(LAYER, "not a KEXINIT message", 0)
    cookie = reader.raw(16, "cookie")
    lists: dict[str, tuple[str, ...]] = {}
    for name in KEXINIT_FIELDS:
        length = reader.uint(4, f"{name} length")
        if length > MAX_NAME_LIST:
            raise reader.error(f"{name}: {length} bytes exceeds {MAX_NAME_LIST}")
        at = reader.offset
        lists[name] = decode_name_list(reader.raw(length, name), at)
    follows = reader.u8("first_kex_packet_follows")
    if follows > 1:
        raise reader.error("first_kex_packet_follows is not a boolean")
    reader.uint(4, "reserved")
    if reader.remaining:
        raise reader.error(f"{reader.remaining} bytes after KEXINIT")
    return KexInit(cookie=cookie, first_kex_packet_follows=bool(follows), **lists)


def encode_kexinit(kexinit: KexInit) -> bytes:
    """The KEXINIT payload for ``kexinit`` (to send, or to test the decoder)."""
    if len(kexinit.cookie) != 16:
        raise ValueError("the KEXINIT cookie is 16 bytes")
    body = b"".join(encode_name_list(names) for names in kexinit.name_lists())
    return (bytes([MSG_KEXINIT]) + kexinit.cookie + body
            + bytes([kexinit.first_kex_packet_follows]) + b"\0\0\0\0")


# ---- key exchange messages (RFC 4253 §6.6, §8; RFC 4419; RFC 5656 §4) --------------------


def encode_string(data: bytes) -> bytes:
    """An SSH ``string``: uint32 length, then the bytes."""
    return len(data).to_bytes(4, "big") + data


def encode_mpint(value: int) -> bytes:
    """A non-negative SSH ``mpint``: minimal big-endian two's complement in a string."""
    if value < 0:
        raise ValueError("only non-negative mpints are sent")
    data = value.to_bytes(value.bit_length() // 8 + 1, "big") if value else b""
    return encode_string(data)


def read_string(reader: Reader, what: str, limit: int = MAX_BLOB) -> bytes:
    """A ``string`` of at most ``limit`` bytes."""
    length = reader.uint(4, f"{what} length")
    if length > limit:
        raise reader.error(f"{what}: {length} bytes exceeds {limit}", reader.offset - 4)
    return reader.raw(length, what)


def mpint_value(data: bytes, what: str, offset: int = 0) -> int:
    """The value of an mpint's bytes; negative values are an error (no key uses them)."""
    if len(data) > MAX_MPINT:
        raise DecodeError(LAYER, f"{what}: {len(data)}-byte integer exceeds {MAX_MPINT}", offset)
    if data and data[0] & 0x80:
        raise DecodeError(LAYER, f"{what}: negative integer", offset)
    return int.from_bytes(data, "big")


def read_mpint(reader: Reader, what: str) -> int:
    """A non-negative ``mpint`` of at most :data:`MAX_MPINT` bytes."""
    at = reader.offset
    return mpint_value(read_string(reader, what, MAX_MPINT), what, at)


def _message(payload: bytes, number: int, what: str) -> Reader:
    reader = Reader(payload, LAYER)
    found = reader.u8("message number")
    if found != number:
        raise DecodeError(LAYER, f"expected {what} (message {number}), got message {found}", 0)
    return reader


@dataclass(frozen=True)
class KexReply:
    """KEXDH_REPLY, KEX_ECDH_REPLY or KEX_DH_GEX_REPLY: the parts a scanner looks at."""

    host_key: bytes  # K_S, the server's public host key blob
    server_public: bytes  # f (mpint bytes) or Q_S (octet string)
    signature: bytes  # the signature blob over the exchange hash


def decode_kex_reply(payload: bytes, number: int = MSG_KEX_ECDH_REPLY) -> KexReply:
    """A key exchange reply; all three kinds are string, string-or-mpint, string."""
    reader = _message(payload, number, "key exchange reply")
    host_key = read_string(reader, "host key")
    server_public = read_string(reader, "server public value")
    signature = read_string(reader, "signature")
    reader.expect_end("key exchange reply")
    return KexReply(host_key, server_public, signature)


def encode_kex_reply(reply: KexReply, number: int = MSG_KEX_ECDH_REPLY) -> bytes:
    """The reply payload (to test the decoder)."""
    return (bytes([number]) + encode_string(reply.host_key) + encode_string(reply.server_public)
            + encode_string(reply.signature))


def decode_gex_group(payload: bytes) -> tuple[int, int]:
    """SSH_MSG_KEX_DH_GEX_GROUP: the safe prime ``p`` and generator ``g`` the server chose."""
    reader = _message(payload, MSG_KEX_ECDH_REPLY, "KEX_DH_GEX_GROUP")
    prime = read_mpint(reader, "p")
    generator = read_mpint(reader, "g")
    reader.expect_end("KEX_DH_GEX_GROUP")
    if prime.bit_length() < 512 or not prime & 1:
        raise DecodeError(LAYER, f"group exchange prime of {prime.bit_length()} bits is not usable")
    if not 1 < generator < prime - 1:
        raise DecodeError(LAYER, "group exchange generator outside 2..p-2")
    return prime, generator


def decode_disconnect(payload: bytes) -> tuple[int, str]:
    """SSH_MSG_DISCONNECT: reason code and the server's description (capped, untrusted)."""
    reader = _message(payload, MSG_DISCONNECT, "DISCONNECT")
    code = reader.uint(4, "reason code")
    text = read_string(reader, "description", MAX_PACKET)[:MAX_TEXT]
    return code, text.decode("utf-8", errors="replace")


# ---- host key blobs (RFC 4253 §6.6, RFC 5656 §3.1, RFC 8709 §4) ------------------------

CURVE_BITS = {"nistp256": 256, "nistp384": 384, "nistp521": 521}
EDDSA_BYTES = {"ssh-ed25519": (32, 256), "ssh-ed448": (57, 448)}


@dataclass(frozen=True)
class HostKey:
    """What a host key blob says about the key: its family, size and fingerprint."""

    key_type: str  # the blob's own name, e.g. "ssh-rsa" (also for rsa-sha2-512)
    family: str  # rsa, dsa, ecdsa, ed25519, ed448, or the key type when unknown
    bits: int | None  # modulus / p / curve size; None for a type Sentinel does not know
    curve: str | None
    fingerprint_sha256: str  # as OpenSSH prints it: SHA256:<base64 without padding>


def fingerprint_sha256(blob: bytes) -> str:
    """The OpenSSH SHA-256 fingerprint of a host key blob."""
    digest = base64.b64encode(hashlib.sha256(blob).digest()).decode("ascii")
    return "SHA256:" + digest.rstrip("=")


def decode_host_key(blob: bytes) -> HostKey:
    """Family and size of a host key blob; unknown key types keep only name and fingerprint."""
    reader = Reader(blob, LAYER)
    name = read_string(reader, "key type", 64)
    if not _NAME.match(name):
        raise DecodeError(LAYER, f"invalid key type {name[:64]!r}", 4)
    key_type = name.decode("ascii")
    family, bits, curve = _key_size(key_type, reader)
    if bits is not None:  # a known type was parsed whole: nothing may follow
        reader.expect_end("host key")
    return HostKey(key_type, family, bits, curve, fingerprint_sha256(blob))


def _key_size(key_type: str, reader: Reader) -> tuple[str, int | None, str | None]:
    if key_type == "ssh-rsa":
        read_mpint(reader, "e")
        return "rsa", read_mpint(reader, "n").bit_length(), None
    if key_type == "ssh-dss":
        prime = read_mpint(reader, "p")
        for part in ("q", "g", "y"):
            read_mpint(reader, part)
        return "dsa", prime.bit_length(), None
    if key_type.startswith("ecdsa-sha2-"):
        return _ecdsa(key_type.removeprefix("ecdsa-sha2-"), reader)
    if key_type in EDDSA_BYTES:
        size, bits = EDDSA_BYTES[key_type]
        if len(read_string(reader, "public key", 64)) != size:
            raise reader.error(f"{key_type} public key is not {size} bytes")
        return key_type.removeprefix("ssh-"), bits, None
    return key_type, None, None


def _ecdsa(curve: str, reader: Reader) -> tuple[str, int | None, str | None]:
    at = reader.offset
    identifier = read_string(reader, "curve identifier", 64).decode("ascii", errors="replace")
    if identifier != curve:
        raise DecodeError(LAYER, f"curve {identifier!r} in an ecdsa-sha2-{curve} key", at)
    point = read_string(reader, "public point", 256)
    bits = CURVE_BITS.get(curve)
    # SEC 1 uncompressed point: 0x04, then x and y of the field's size each.
    if bits is not None and (len(point) != 1 + 2 * ((bits + 7) // 8) or point[:1] != b"\x04"):
        raise reader.error(f"{curve} public point is not an uncompressed point")
    return "ecdsa", bits, curve


# ---- the exchange hash and the host key's signature over it (RFC 4253 §8, RFC 4419 §3,
# RFC 5656 §4, RFC 8731 §3, RFC 8332 §3, RFC 8709 §6) ----------------------------------


def exchange_hash(hash_name: str, *, v_c: bytes, v_s: bytes, i_c: bytes, i_s: bytes,
                  k_s: bytes, exchange: bytes, k: bytes) -> bytes:
    """H = HASH(string V_C || string V_S || string I_C || string I_S || string K_S ||
    exchange || mpint K).

    ``v_c``/``v_s`` are the identification lines without CR LF, ``i_c``/``i_s`` the whole
    KEXINIT payloads as sent (message number included), ``exchange`` the method's own
    already-encoded middle part (``mpint e || mpint f``; ``string Q_C || string Q_S``; for
    group exchange ``uint32 min || uint32 n || uint32 max || mpint p || mpint g || mpint e
    || mpint f``) and ``k`` the shared secret already encoded as an ``mpint``.
    """
    digest = hashlib.new(hash_name)
    for part in (v_c, v_s, i_c, i_s, k_s):
        digest.update(encode_string(part))
    digest.update(exchange)
    digest.update(k)
    return digest.digest()


def encode_uint32(value: int) -> bytes:
    """An SSH ``uint32``."""
    return value.to_bytes(4, "big")


@dataclass(frozen=True)
class SignatureBlob:
    """A signature as the server sent it: ``string`` algorithm name, ``string`` blob."""

    algorithm: str
    data: bytes


def decode_signature(blob: bytes) -> SignatureBlob:
    """The algorithm name and the signature bytes; trailing bytes are an error."""
    reader = Reader(blob, LAYER)
    name = read_string(reader, "signature algorithm", 64)
    if not _NAME.match(name):
        raise DecodeError(LAYER, f"invalid signature algorithm {name[:64]!r}", 4)
    data = read_string(reader, "signature blob")
    reader.expect_end("signature")
    return SignatureBlob(name.decode("ascii"), data)


def encode_signature(signature: SignatureBlob) -> bytes:
    """The signature blob (to test the decoder, or for a test server)."""
    return encode_string(signature.algorithm.encode("ascii")) + encode_string(signature.data)


def decode_ecdsa_signature(data: bytes) -> tuple[int, int]:
    """RFC 5656 §3.1.2: ``mpint r || mpint s`` inside the signature blob."""
    reader = Reader(data, LAYER)
    r = read_mpint(reader, "r")
    s = read_mpint(reader, "s")
    reader.expect_end("ecdsa signature")
    return r, s


@dataclass(frozen=True)
class PublicKeyParts:
    """The public numbers of a host key blob, as a verifier needs them."""

    key_type: str
    integers: tuple[int, ...] = ()  # ssh-rsa: (e, n); ssh-dss: (p, q, g, y)
    data: bytes = b""  # ecdsa: the SEC 1 point; eddsa: the raw public key
    curve: str | None = None


def public_key_parts(blob: bytes) -> PublicKeyParts:
    """The numbers of a host key blob of a type Sentinel knows (others: the name only)."""
    decode_host_key(blob)  # every size check first
    reader = Reader(blob, LAYER)
    key_type = read_string(reader, "key type", 64).decode("ascii")
    if key_type == "ssh-rsa":
        return PublicKeyParts(key_type, (read_mpint(reader, "e"), read_mpint(reader, "n")))
    if key_type == "ssh-dss":
        return PublicKeyParts(key_type, tuple(read_mpint(reader, p) for p in "pqgy"))
    if key_type.startswith("ecdsa-sha2-"):
        curve = read_string(reader, "curve identifier", 64).decode("ascii")
        return PublicKeyParts(key_type, data=read_string(reader, "public point", 256),
                              curve=curve)
    if key_type in EDDSA_BYTES:
        return PublicKeyParts(key_type, data=read_string(reader, "public key", 64))
    return PublicKeyParts(key_type)
