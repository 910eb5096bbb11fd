"""Client halves of the SSH key exchanges Sentinel runs far enough to see a host key.

Only the first message is needed: the server answers it with its host key, its own share and
a signature, and the probe closes before NEWKEYS. Our share is still a real one (a fresh
X25519, NIST-curve or Diffie-Hellman key), so the server computes a normal exchange, and
:class:`KexClient` keeps our secret half: with the server's share it computes the shared
secret K and the exchange hash H exactly as the server did (RFC 4253 §8, RFC 4419 §3,
RFC 5656 §4, RFC 8731 §3), and :func:`verify_signature` checks the server's signature over
H with the host key it sent (RFC 8709 Ed25519/Ed448, RFC 5656 ECDSA, RFC 8332 and RFC 4253
RSA, RFC 4253 DSA). The fixed groups are RFC 2409 §6.2 (Oakley group 2) and RFC 3526 §3, §5,
written out from their definition; Diffie-Hellman uses Python integers.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, padding, rsa, x25519
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from sentinel.errors import DecodeError
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
    return pow(generator, dh_secret(), prime)


def dh_secret() -> int:
    """A fresh Diffie-Hellman exponent of :data:`EXPONENT_BITS` bits."""
    return secrets.randbits(EXPONENT_BITS) | (1 << (EXPONENT_BITS - 1))


def first_message(kex: str) -> bytes:
    """KEX_ECDH_INIT / KEXDH_INIT with a fresh share, or the GEX request."""
    return KexClient.start(kex).first_message


def gex_init(group_payload: bytes) -> bytes:
    """KEX_DH_GEX_INIT for the group the server chose (its message parsed and checked)."""
    prime, generator = wire.decode_gex_group(group_payload)
    return bytes([wire.MSG_KEX_DH_GEX_INIT]) + wire.encode_mpint(dh_public(prime, generator))


def reply_number(kex: str) -> int:
    """The message number of the reply that carries the host key."""
    return wire.MSG_KEX_DH_GEX_REPLY if kex in GROUP_EXCHANGE else wire.MSG_KEX_ECDH_REPLY


# ---- our half of the exchange, kept to compute K and H ------------------------------------

# The exchange hash of each method (RFC 4253 §8, RFC 4419 §4, RFC 5656 §6.2.1, RFC 8268 §3,
# RFC 8731 §3); the ECDH hash follows the curve size.
KEX_HASHES = {
    "curve25519-sha256": "sha256", "curve25519-sha256@libssh.org": "sha256",
    "ecdh-sha2-nistp256": "sha256", "ecdh-sha2-nistp384": "sha384",
    "ecdh-sha2-nistp521": "sha512",
    "diffie-hellman-group14-sha256": "sha256", "diffie-hellman-group14-sha1": "sha1",
    "diffie-hellman-group16-sha512": "sha512", "diffie-hellman-group1-sha1": "sha1",
    "diffie-hellman-group-exchange-sha256": "sha256",
    "diffie-hellman-group-exchange-sha1": "sha1",
}
EcdhSecret = x25519.X25519PrivateKey | ec.EllipticCurvePrivateKey


class KexFailure(Exception):
    """The server's share cannot complete the exchange (so nothing it signed can prove it)."""


@dataclass
class KexClient:
    """One client side of a key exchange: our secret, our share, what H needs from us."""

    kex: str
    first_message: bytes
    ecdh: EcdhSecret | None = None
    exponent: int = 0
    client_public: bytes = b""  # Q_C (octet string) or e (mpint bytes, unencoded)
    group: tuple[int, int] | None = None  # (p, g) of a fixed group, or the one a GEX chose
    _gex_request: bytes = field(default=b"", repr=False)

    @classmethod
    def start(cls, kex: str, *, ecdh: EcdhSecret | None = None,
              exponent: int | None = None) -> KexClient:
        """Our first message for ``kex`` with a fresh secret (or the one given, for tests)."""
        if kex in CURVE25519:
            key = ecdh if isinstance(ecdh, x25519.X25519PrivateKey) else \
                x25519.X25519PrivateKey.generate()
            share = key.public_key().public_bytes_raw()
            return cls(kex, bytes([wire.MSG_KEX_ECDH_INIT]) + wire.encode_string(share),
                       ecdh=key, client_public=share)
        if kex in NIST_CURVES:
            curve = NIST_CURVES[kex]
            nist = ecdh if isinstance(ecdh, ec.EllipticCurvePrivateKey) else \
                ec.generate_private_key(curve)
            point = nist.public_key().public_bytes(Encoding.X962,
                                                   PublicFormat.UncompressedPoint)
            return cls(kex, bytes([wire.MSG_KEX_ECDH_INIT]) + wire.encode_string(point),
                       ecdh=nist, client_public=point)
        secret = exponent if exponent is not None else dh_secret()
        if kex in FIXED_GROUPS:
            prime = FIXED_GROUPS[kex]
            public = wire.encode_mpint(pow(2, secret, prime))
            return cls(kex, bytes([wire.MSG_KEX_ECDH_INIT]) + public, exponent=secret,
                       client_public=public, group=(prime, 2))
        if kex in GROUP_EXCHANGE:
            request = b"".join(wire.encode_uint32(size) for size in GEX_SIZES)
            return cls(kex, bytes([wire.MSG_KEX_DH_GEX_REQUEST]) + request, exponent=secret,
                       _gex_request=request)
        raise ValueError(f"Sentinel cannot compute {kex}")

    def gex_init(self, group_payload: bytes) -> bytes:
        """KEX_DH_GEX_INIT for the group the server chose (parsed and checked)."""
        prime, generator = wire.decode_gex_group(group_payload)
        self.group = (prime, generator)
        self.client_public = wire.encode_mpint(pow(generator, self.exponent, prime))
        return bytes([wire.MSG_KEX_DH_GEX_INIT]) + self.client_public

    def exchange_hash(self, *, v_c: bytes, v_s: bytes, i_c: bytes, i_s: bytes, k_s: bytes,
                      server_public: bytes) -> bytes:
        """H for this exchange, given the server's share as its reply carried it.

        Raises :class:`KexFailure` when the share is unusable (wrong size, not on the curve,
        a Diffie-Hellman value outside 1 < f < p-1, an all-zero X25519 result).
        """
        if self.ecdh is not None:
            exchange = wire.encode_string(self.client_public) + wire.encode_string(server_public)
            k = self._ecdh_secret(server_public)
        else:
            if self.group is None:
                raise KexFailure("no group: the group exchange did not happen")
            prime, generator = self.group
            f = _dh_value(server_public, prime)
            exchange = self.client_public + wire.encode_mpint(f)
            if self.kex in GROUP_EXCHANGE:
                exchange = (self._gex_request + wire.encode_mpint(prime)
                            + wire.encode_mpint(generator) + exchange)
            k = wire.encode_mpint(pow(f, self.exponent, prime))
        return wire.exchange_hash(KEX_HASHES[self.kex], v_c=v_c, v_s=v_s, i_c=i_c, i_s=i_s,
                                  k_s=k_s, exchange=exchange, k=k)

    def _ecdh_secret(self, server_public: bytes) -> bytes:
        try:
            if isinstance(self.ecdh, x25519.X25519PrivateKey):
                if len(server_public) != 32:
                    raise KexFailure(f"X25519 share of {len(server_public)} bytes, not 32")
                shared = self.ecdh.exchange(
                    x25519.X25519PublicKey.from_public_bytes(server_public))
                if not any(shared):
                    raise KexFailure("X25519 shared secret is all zero")
            else:
                assert isinstance(self.ecdh, ec.EllipticCurvePrivateKey)
                peer = ec.EllipticCurvePublicKey.from_encoded_point(self.ecdh.curve,
                                                                    server_public)
                shared = self.ecdh.exchange(ec.ECDH(), peer)
        except ValueError as exc:  # not a point, not on the curve, low order
            raise KexFailure(f"server share unusable: {exc}") from None
        # RFC 8731 §3.1 and RFC 5656 §4: the bytes as an unsigned big-endian mpint.
        return wire.encode_mpint(int.from_bytes(shared, "big"))


def _dh_value(data: bytes, prime: int) -> int:
    """The server's f, which must satisfy 1 < f < p-1 (RFC 4253 §8)."""
    try:
        value = wire.mpint_value(data, "f")
    except DecodeError as exc:
        raise KexFailure(str(exc)) from None
    if not 1 < value < prime - 1:
        raise KexFailure("server's Diffie-Hellman value outside 2..p-2")
    return value


# ---- the host key's signature over H -------------------------------------------------------

# Host key algorithm → the hash its signature uses (RFC 8332 §3, RFC 5656 §6.2.1, RFC 4253).
SIGNATURE_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "rsa-sha2-512": hashes.SHA512, "rsa-sha2-256": hashes.SHA256, "ssh-rsa": hashes.SHA1,
    "ecdsa-sha2-nistp256": hashes.SHA256, "ecdsa-sha2-nistp384": hashes.SHA384,
    "ecdsa-sha2-nistp521": hashes.SHA512, "ssh-dss": hashes.SHA1,
}
ECDSA_CURVES: dict[str, ec.EllipticCurve] = {
    "nistp256": ec.SECP256R1(), "nistp384": ec.SECP384R1(), "nistp521": ec.SECP521R1()}
RSA = ("rsa-sha2-512", "rsa-sha2-256", "ssh-rsa")  # one ssh-rsa key, three signatures
VERIFIED, INVALID, NOT_CHECKED = "verified", "invalid", "not-checked"


def verify_signature(algorithm: str, host_key: bytes, signature: bytes,
                     exchange_hash: bytes) -> dict[str, Any]:
    """Whether ``signature`` (the reply's blob) is ``host_key``'s signature over H for the
    negotiated ``algorithm``: ``{"status": verified | invalid | not-checked, ...}``, with the
    reason when it is not verified. Never raises on the server's bytes."""
    result: dict[str, Any] = {}
    try:
        sig = wire.decode_signature(signature)
        result["signature_algorithm"] = sig.algorithm
        if sig.algorithm != algorithm:
            return {**result, "status": INVALID,
                    "reason": f"signature is {sig.algorithm}, negotiated {algorithm}"}
        checked = _verify(algorithm, wire.public_key_parts(host_key), sig.data, exchange_hash)
    except DecodeError as exc:
        return {**result, "status": INVALID, "reason": f"malformed signature: {exc}"}
    except (InvalidSignature, ValueError) as exc:
        detail = f": {exc}" if str(exc) else ""
        return {**result, "status": INVALID,
                "reason": f"signature over the exchange hash does not verify{detail}"}
    except UnsupportedAlgorithm as exc:
        return {**result, "status": NOT_CHECKED, "reason": f"this build cannot verify: {exc}"}
    if not checked:
        return {**result, "status": NOT_CHECKED,
                "reason": f"Sentinel does not verify {algorithm} signatures"}
    return {**result, "status": VERIFIED}


def _verify(algorithm: str, key: wire.PublicKeyParts, sig: bytes, data: bytes) -> bool:
    """True when verified; False when the algorithm is not one Sentinel checks; raises
    InvalidSignature (or DecodeError, ValueError) when the signature is wrong."""
    if algorithm not in SIGNATURE_HASHES and algorithm not in ("ssh-ed25519", "ssh-ed448"):
        return False
    if algorithm != key.key_type and not (key.key_type == "ssh-rsa" and algorithm in RSA):
        raise InvalidSignature(f"a {key.key_type} key cannot sign {algorithm}")
    if key.key_type == "ssh-ed25519" and algorithm == "ssh-ed25519":
        if len(sig) != 64:
            raise InvalidSignature(f"is {len(sig)} bytes, an Ed25519 signature is 64")
        ed25519.Ed25519PublicKey.from_public_bytes(key.data).verify(sig, data)
        return True
    if key.key_type == "ssh-ed448" and algorithm == "ssh-ed448":
        if len(sig) != 114:
            raise InvalidSignature(f"is {len(sig)} bytes, an Ed448 signature is 114")
        ed448.Ed448PublicKey.from_public_bytes(key.data).verify(sig, data)
        return True
    hash_type = SIGNATURE_HASHES[algorithm]
    if key.key_type == "ssh-rsa":
        exponent, modulus = key.integers
        size = (modulus.bit_length() + 7) // 8
        # RFC 8332 §3: S is as long as the modulus; OpenSSH accepts a shorter one padded.
        if len(sig) > size:
            raise InvalidSignature(f"is {len(sig)} bytes, longer than the modulus")
        rsa.RSAPublicNumbers(exponent, modulus).public_key().verify(
            sig.rjust(size, b"\0"), data, padding.PKCS1v15(), hash_type())
        return True
    if key.key_type == algorithm and key.curve in ECDSA_CURVES:
        r, s = wire.decode_ecdsa_signature(sig)
        public = ec.EllipticCurvePublicKey.from_encoded_point(ECDSA_CURVES[key.curve], key.data)
        public.verify(encode_dss_signature(r, s), data, ec.ECDSA(hash_type()))
        return True
    if key.key_type == "ssh-dss" and algorithm == "ssh-dss":
        # RFC 4253 §6.6: r and s as two 160-bit unsigned integers, 40 bytes together.
        if len(sig) != 40:
            raise InvalidSignature(f"is {len(sig)} bytes, an ssh-dss signature is 40")
        p, q, g, y = key.integers
        public_dsa = dsa.DSAPublicNumbers(y, dsa.DSAParameterNumbers(p, q, g)).public_key()
        public_dsa.verify(encode_dss_signature(int.from_bytes(sig[:20], "big"),
                                               int.from_bytes(sig[20:], "big")),
                          data, hash_type())
        return True
    raise InvalidSignature(f"a {key.key_type} key cannot sign {algorithm}")
