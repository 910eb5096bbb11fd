"""National-crypto (商用密码) primitives and TLS key-exchange helpers Sentinel needs itself.

    sm2       sm2p256v1 points, ECDH (RFC 8998 curveSM2), Z_A, signature verification,
              SM2 keys from SubjectPublicKeyInfo / certificates (own bounded DER reader)
    sm3       SM3 digest (via cryptography)
    sm4       SM4-GCM (cryptography) and SM4-CCM (built here) with the AEAD interface
    keyshare  TLS 1.3 key shares: x25519, x448, secp256r1/384r1/521r1, curveSM2
    tlcp      TLCP ServerKeyExchange SM2 signature checks

Verification and ephemeral ECDH only: nothing here signs with a long-term key, so
the SM2 arithmetic is not constant-time. Malformed peer bytes raise `DecodeError`.
"""

from sentinel.crypto.keyshare import KeyShare, NamedGroup, generate_key_share
from sentinel.crypto.sm3 import sm3_digest
from sentinel.crypto.sm4 import Sm4Ccm, Sm4Gcm

__all__ = [
    "KeyShare",
    "NamedGroup",
    "Sm4Ccm",
    "Sm4Gcm",
    "generate_key_share",
    "sm3_digest",
]
