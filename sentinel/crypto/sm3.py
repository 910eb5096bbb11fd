"""SM3 (GB/T 32905-2016) through `cryptography`, which ships it with its OpenSSL."""

from __future__ import annotations

from cryptography.hazmat.primitives import hashes

SM3_DIGEST_SIZE = 32


def sm3_digest(*parts: bytes) -> bytes:
    """SM3 of the concatenation of `parts`."""
    digest = hashes.Hash(hashes.SM3())
    for part in parts:
        digest.update(part)
    return digest.finalize()
