"""TLCP (GB/T 38636-2020) ServerKeyExchange SM2 signature checks.

ECC suites (ECC_SM4_*): the server signs client_random ‖ server_random ‖ uint24 length ‖
DER of its *encryption* certificate with the key of its *signing* certificate.
ECDHE suites (ECDHE_SM4_*): it signs client_random ‖ server_random ‖ ServerECDHParams.
Both use SM2-with-SM3 and the default signer ID "1234567812345678" (DOMAIN.md §1.1).
"""

from __future__ import annotations

from sentinel.crypto import sm2

_RANDOM_SIZE = 32


def _check_randoms(client_random: bytes, server_random: bytes) -> None:
    if len(client_random) != _RANDOM_SIZE or len(server_random) != _RANDOM_SIZE:
        raise ValueError("TLCP randoms are 32 bytes")


def ecc_signed_params(client_random: bytes, server_random: bytes, encryption_cert: bytes) -> bytes:
    """The bytes an ECC-suite ServerKeyExchange signs."""
    _check_randoms(client_random, server_random)
    if len(encryption_cert) >= 1 << 24:
        raise ValueError("certificate too large for a uint24 length")
    return client_random + server_random + len(encryption_cert).to_bytes(3, "big") + encryption_cert


def ecdhe_signed_params(client_random: bytes, server_random: bytes, ecdh_params: bytes) -> bytes:
    """The bytes an ECDHE-suite ServerKeyExchange signs (params: curve_type ‖ curve ‖ point)."""
    _check_randoms(client_random, server_random)
    return client_random + server_random + ecdh_params


def verify_server_key_exchange(
    signing_cert: bytes,
    signed_params: bytes,
    signature: bytes,
    signer_id: bytes = sm2.DEFAULT_SIGNER_ID,
) -> bool:
    """Verify the SKE signature with the SM2 key of the signing certificate.

    Raises `DecodeError` when the certificate holds no SM2 key or the signature is not
    DER; returns False for a well-formed signature that does not verify.
    """
    public_key = sm2.public_key_from_certificate(signing_cert)
    return sm2.verify(public_key, signed_params, signature, signer_id)
