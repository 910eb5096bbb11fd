"""Checking a TLS 1.3 server CertificateVerify signature (RFC 8446 §4.4.3).

sm2sig_sm3 (RFC 8998 §3.2) is verified with Sentinel's SM2 code and the TLS 1.3
signer ID; ECDSA, RSA-PSS and EdDSA with `cryptography`. The answer is True/False
for a scheme Sentinel can check and None when it cannot (unknown scheme, or a
certificate `cryptography` will not load); the certificate itself is not judged.
"""

from __future__ import annotations

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, padding, rsa

from sentinel.crypto import sm2
from sentinel.errors import DecodeError

SM2SIG_SM3 = 0x0708
_SERVER_CONTEXT = b"TLS 1.3, server CertificateVerify"

_ECDSA: dict[int, type[hashes.HashAlgorithm]] = {
    0x0403: hashes.SHA256,
    0x0503: hashes.SHA384,
    0x0603: hashes.SHA512,
}
# rsa_pss_rsae_* and rsa_pss_pss_* differ only in the certificate's key OID.
_RSA_PSS: dict[int, type[hashes.HashAlgorithm]] = {
    0x0804: hashes.SHA256,
    0x0805: hashes.SHA384,
    0x0806: hashes.SHA512,
    0x0809: hashes.SHA256,
    0x080A: hashes.SHA384,
    0x080B: hashes.SHA512,
}
_ED25519, _ED448 = 0x0807, 0x0808


def certificate_verify_content(transcript_hash: bytes) -> bytes:
    """The bytes the server signs: 64 spaces, context string, 0x00, transcript hash."""
    return b" " * 64 + _SERVER_CONTEXT + b"\x00" + transcript_hash


def verify_certificate_verify(
    scheme: int, signature: bytes, leaf_der: bytes, transcript_hash: bytes
) -> bool | None:
    """Check the server's CertificateVerify against its leaf certificate.

    `transcript_hash` is Transcript-Hash(ClientHello .. Certificate) under the suite hash.
    """
    content = certificate_verify_content(transcript_hash)
    if scheme == SM2SIG_SM3:
        return _verify_sm2(signature, leaf_der, content)
    try:
        public_key = x509.load_der_x509_certificate(leaf_der).public_key()
    except (ValueError, UnsupportedAlgorithm):
        return None
    try:
        return _verify_with_cryptography(scheme, public_key, signature, content)
    except InvalidSignature:
        return False


def _verify_sm2(signature: bytes, leaf_der: bytes, content: bytes) -> bool:
    try:
        public_key = sm2.public_key_from_certificate(leaf_der)
        return sm2.verify(public_key, content, signature, sm2.TLS13_SIGNER_ID)
    except DecodeError:
        # Not an SM2 certificate, or a malformed signature: either way it does not verify.
        return False


def _verify_with_cryptography(
    scheme: int, public_key: object, signature: bytes, content: bytes
) -> bool | None:
    """True when valid, None when the scheme is unknown; raises InvalidSignature."""
    if scheme in _ECDSA and isinstance(public_key, ec.EllipticCurvePublicKey):
        public_key.verify(signature, content, ec.ECDSA(_ECDSA[scheme]()))
    elif scheme in _RSA_PSS and isinstance(public_key, rsa.RSAPublicKey):
        algorithm = _RSA_PSS[scheme]()
        pss = padding.PSS(mgf=padding.MGF1(algorithm), salt_length=algorithm.digest_size)
        public_key.verify(signature, content, pss, algorithm)
    elif (scheme == _ED25519 and isinstance(public_key, ed25519.Ed25519PublicKey)) or (
        scheme == _ED448 and isinstance(public_key, ed448.Ed448PublicKey)
    ):
        public_key.verify(signature, content)
    elif scheme in _ECDSA or scheme in _RSA_PSS or scheme in (_ED25519, _ED448):
        return False  # the certificate's key type cannot make this scheme's signatures
    else:
        return None
    return True
