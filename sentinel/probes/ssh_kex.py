"""Client halves of the SSH key exchanges Sentinel runs far enough to see a host key.

Only the first message is needed: the server answers it with its host key, its own share and
a signature, and the probe closes before NEWKEYS. Our share is still a real one (a fresh
X25519, NIST-curve or Diffie-Hellman key), so the server computes a normal exchange. The
fixed groups are RFC 2409 §6.2 (Oakley group 2) and RFC 3526 §3, §5, written out from
their definition; Diffie-Hellman uses Python integers.
"""

from __future__ import annotations

import secrets

from cryptography.hazmat.primitives.asymmetric import ec, x25519
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from sentinel.wire import ssh as wire

OAKLEY_GROUP_2 = int(
    "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74020BBEA63B139B22"
    "514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245E485B576625E7EC6"
    "F44C42E9A637ED6B0BFF5CB6F406B7EDEE386BFB5A899FA5AE9F24117C4B1FE649286651ECE65381"
    "FFFFFFFFFFFFFFFF"
    "", 16)
MODP_2048 = int(
    "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74020BBEA63B139B22"
    "514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245E485B576625E7EC6"
    "F44C42E9A637ED6B0BFF5CB6F406B7EDEE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3D"
    "C2007CB8A163BF0598DA48361C55D39A69163FA8FD24CF5F83655D23DCA3AD961C62F356208552BB"
    "9ED529077096966D670C354E4ABC9804F1746C08CA18217C32905E462E36CE3BE39E772C180E8603"
    "9B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF6955817183995497CEA956AE515D2261898FA0510"
    "15728E5A8AACAA68FFFFFFFFFFFFFFFF"
    "", 16)
MODP_4096 = int(
    "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74020BBEA63B139B22"
    "514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245E485B576625E7EC6"
    "F44C42E9A637ED6B0BFF5CB6F406B7EDEE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3D"
    "C2007CB8A163BF0598DA48361C55D39A69163FA8FD24CF5F83655D23DCA3AD961C62F356208552BB"
    "9ED529077096966D670C354E4ABC9804F1746C08CA18217C32905E462E36CE3BE39E772C180E8603"
    "9B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF6955817183995497CEA956AE515D2261898FA0510"
    "15728E5A8AAAC42DAD33170D04507A33A85521ABDF1CBA64ECFB850458DBEF0A8AEA71575D060C7D"
    "B3970F85A6E1E4C7ABF5AE8CDB0933D71E8C94E04A25619DCEE3D2261AD2EE6BF12FFA06D98A0864"
    "D87602733EC86A64521F2B18177B200CBBE117577A615D6C770988C0BAD946E208E24FA074E5AB31"
    "43DB5BFCE0FD108E4B82D120A92108011A723C12A787E6D788719A10BDBA5B2699C327186AF4E23C"
    "1A946834B6150BDA2583E9CA2AD44CE8DBBBC2DB04DE8EF92E8EFC141FBECAA6287C59474E6BC05D"
    "99B2964FA090C3A2233BA186515BE7ED1F612970CEE2D7AFB81BDD762170481CD0069127D5B05AA9"
    "93B4EA988D8FDDC186FFB7DC90A6C08F4DF435C934063199FFFFFFFFFFFFFFFF"
    "", 16)

CURVE25519 = ("curve25519-sha256", "curve25519-sha256@libssh.org")
NIST_CURVES: dict[str, ec.EllipticCurve] = {
    "ecdh-sha2-nistp256": ec.SECP256R1(), "ecdh-sha2-nistp384": ec.SECP384R1(),
    "ecdh-sha2-nistp521": ec.SECP521R1()}
FIXED_GROUPS = {
    "diffie-hellman-group14-sha256": MODP_2048, "diffie-hellman-group14-sha1": MODP_2048,
    "diffie-hellman-group16-sha512": MODP_4096, "diffie-hellman-group1-sha1": OAKLEY_GROUP_2}
GROUP_EXCHANGE = ("diffie-hellman-group-exchange-sha256", "diffie-hellman-group-exchange-sha1")
# Cheapest first, then the rest; 1024-bit group 1 only when nothing else is shared.
PREFERENCE = (*CURVE25519, *NIST_CURVES, "diffie-hellman-group14-sha256",
              "diffie-hellman-group14-sha1", *GROUP_EXCHANGE, "diffie-hellman-group16-sha512",
              "diffie-hellman-group1-sha1")
GEX_SIZES = (2048, 3072, 8192)  # min, preferred, max bits we ask for (RFC 8270 floor)
EXPONENT_BITS = 512  # twice the strength of the largest group we accept


def choose_kex(offered: tuple[str, ...]) -> str | None:
    """The key exchange we can compute that the server offers, or None."""
    return next((name for name in PREFERENCE if name in offered), None)


def is_group_exchange(kex: str) -> bool:
    """True when the exchange starts with a group request (RFC 4419)."""
    return kex in GROUP_EXCHANGE


def dh_public(prime: int, generator: int = 2) -> int:
    """g^x mod p for a fresh secret x."""
    exponent = secrets.randbits(EXPONENT_BITS) | (1 << (EXPONENT_BITS - 1))
    return pow(generator, exponent, prime)


def first_message(kex: str) -> bytes:
    """KEX_ECDH_INIT / KEXDH_INIT with a fresh share, or the GEX request."""
    if kex in CURVE25519:
        share = x25519.X25519PrivateKey.generate().public_key().public_bytes_raw()
        return bytes([wire.MSG_KEX_ECDH_INIT]) + wire.encode_string(share)
    if kex in NIST_CURVES:
        point = ec.generate_private_key(NIST_CURVES[kex]).public_key().public_bytes(
            Encoding.X962, PublicFormat.UncompressedPoint)
        return bytes([wire.MSG_KEX_ECDH_INIT]) + wire.encode_string(point)
    if kex in FIXED_GROUPS:
        return bytes([wire.MSG_KEX_ECDH_INIT]) + wire.encode_mpint(dh_public(FIXED_GROUPS[kex]))
    if kex in GROUP_EXCHANGE:
        return bytes([wire.MSG_KEX_DH_GEX_REQUEST]) + b"".join(
            size.to_bytes(4, "big") for size in GEX_SIZES)
    raise ValueError(f"Sentinel cannot compute {kex}")


def gex_init(group_payload: bytes) -> bytes:
    """KEX_DH_GEX_INIT for the group the server chose (its message parsed and checked)."""
    prime, generator = wire.decode_gex_group(group_payload)
    return bytes([wire.MSG_KEX_DH_GEX_INIT]) + wire.encode_mpint(dh_public(prime, generator))


def reply_number(kex: str) -> int:
    """The message number of the reply that carries the host key."""
    return wire.MSG_KEX_DH_GEX_REPLY if kex in GROUP_EXCHANGE else wire.MSG_KEX_ECDH_REPLY
