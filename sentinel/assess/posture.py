"""The crypto posture of a TLS attempt: the labels the SOC's crypto-posture panels filter on.

A judgement, so it lives with the assessors; the scan attaches it to each TLS observation
(``Observation.crypto``) and the store indexes it as ``sentinel.crypto``.
"""

from __future__ import annotations

from typing import Any

from sentinel.model import Observation

# Protocol versions and group classes that make a TLS endpoint "weak" on the crypto-posture
# dashboard (the findings judge them in detail: TLS-PROTO-*, TLS-CIPHER-*).
_WEAK_VERSIONS = frozenset({"SSLv2", "SSLv3", "TLSv1.0", "TLSv1.1"})
_WEAK_GROUP_CLASSES = frozenset({"legacy"})
_WEAK_DHE_BITS = 2048


def crypto_posture(facts: dict[str, Any]) -> dict[str, list[str]] | None:
    """The indexed crypto summary of a TLS attempt (``sentinel.crypto``), None without one.

    ``posture`` is any of ``national`` (the probe's ``national.offered``: a national TLCP or
    RFC 8998 suite no recorded certificate or signature refutes; older documents: SM2 key
    exchange or certificates, or TLCP),
    ``international`` (classical or hybrid standard crypto), ``post-quantum`` (a PQC or
    hybrid group) and ``weak`` (a deprecated version, a legacy group, DHE under 2048 bits).
    """
    posture = facts.get("posture")
    if not isinstance(posture, dict):
        return None
    exchange = [str(x) for x in posture.get("key_exchange", [])]
    auth = [str(x) for x in posture.get("authentication", [])]
    versions = {str(v) for v in facts.get("versions", [])}
    labels: set[str] = set()
    # the probe's verdict by the shared definition (catalog.tls.national_crypto)
    national = (facts.get("national") or {}).get("offered")
    if not isinstance(national, bool):  # a document from before the probe recorded it
        national = "sm2" in exchange or "sm2" in auth or any(v.startswith("TLCP")
                                                              for v in versions)
    if national:
        labels.add("national")
    if {"classical", "pqc-hybrid"} & {*exchange, *auth}:
        labels.add("international")
    if {"pqc", "pqc-hybrid"} & set(exchange):
        labels.add("post-quantum")
    dhe = facts.get("dhe") or {}
    if (
        versions & _WEAK_VERSIONS
        or any(g.get("class") in _WEAK_GROUP_CLASSES for g in facts.get("groups", []))
        or (isinstance(dhe.get("prime_bits"), int) and dhe["prime_bits"] < _WEAK_DHE_BITS)
    ):
        labels.add("weak")
    return {"posture": sorted(labels), "key_exchange": exchange, "authentication": auth}


def with_crypto_posture(observation: Observation) -> Observation:
    """The observation with its crypto summary attached (TLS attempts only)."""
    if observation.probe != "tls":
        return observation
    summary = crypto_posture(observation.facts)
    return observation if summary is None else observation.model_copy(update={"crypto": summary})
