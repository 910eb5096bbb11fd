"""X.509 certificates as JSON-able facts, SM2 included.

``cryptography`` parses names, extensions and validity of every certificate Sentinel meets,
but it cannot load an SM2 public key (curve 1.2.156.10197.1.301) nor hash an SM3withSM2
signature; for those, the key is read with Sentinel's own DER code
(:func:`sentinel.crypto.sm2.public_key_from_certificate`). Certificates come from hostile
servers: a certificate that does not parse becomes a fact with an ``error``, never an
exception, and every text field is the server's text (escape it when rendering).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
from cryptography.x509.oid import ExtensionOID

from sentinel.catalog.tls import TlsRegistry, tls_registry
from sentinel.crypto import sm2
from sentinel.errors import DecodeError

OID_SM2_CURVE = "1.2.156.10197.1.301"
OID_SM3_WITH_SM2 = "1.2.156.10197.1.501"
SM2_SIGN_USAGES = frozenset({"digital_signature"})
SM2_ENC_USAGES = frozenset({"key_encipherment", "data_encipherment", "key_agreement"})
_KEY_USAGE_FIELDS = (
    "digital_signature", "content_commitment", "key_encipherment", "data_encipherment",
    "key_agreement", "key_cert_sign", "crl_sign",
)


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _key_facts(cert: x509.Certificate, der: bytes) -> dict[str, Any]:
    """Key type and size; SM2 is tried first because ``cryptography`` rejects its curve."""
    with contextlib.suppress(DecodeError):  # not an SM2 key: cryptography handles the rest
        sm2.public_key_from_certificate(der)
        return {"type": "sm2", "size": 256, "curve": "sm2p256v1", "curve_oid": OID_SM2_CURVE}
    try:
        key = cert.public_key()
    except (UnsupportedAlgorithm, ValueError, TypeError) as exc:
        return {"type": "unknown", "size": None, "error": f"{type(exc).__name__}: {exc}"}
    if isinstance(key, rsa.RSAPublicKey | dsa.DSAPublicKey):
        return {"type": "rsa" if isinstance(key, rsa.RSAPublicKey) else "dsa",
                "size": key.key_size}
    if isinstance(key, ec.EllipticCurvePublicKey):
        return {"type": "ec", "size": key.curve.key_size, "curve": key.curve.name}
    edwards = {ed25519.Ed25519PublicKey: ("ed25519", 256), ed448.Ed448PublicKey: ("ed448", 456)}
    for cls, (name, size) in edwards.items():
        if isinstance(key, cls):
            return {"type": name, "size": size}
    return {"type": type(key).__name__, "size": None}


def _key_usage(cert: x509.Certificate) -> list[str] | None:
    """Key-usage bits set, or None when the extension is absent."""
    try:
        usage = cert.extensions.get_extension_for_oid(ExtensionOID.KEY_USAGE).value
    except x509.ExtensionNotFound:
        return None
    assert isinstance(usage, x509.KeyUsage)
    bits = [name for name in _KEY_USAGE_FIELDS if getattr(usage, name)]
    if usage.key_agreement:  # encipher_only / decipher_only are only defined with it
        bits += [n for n in ("encipher_only", "decipher_only") if getattr(usage, n)]
    return bits


def _san(cert: x509.Certificate) -> list[str]:
    try:
        names = cert.extensions.get_extension_for_oid(
            ExtensionOID.SUBJECT_ALTERNATIVE_NAME
        ).value
    except x509.ExtensionNotFound:
        return []
    assert isinstance(names, x509.SubjectAlternativeName)
    out = [f"DNS:{n}" for n in names.get_values_for_type(x509.DNSName)]
    out += [f"IP:{a}" for a in names.get_values_for_type(x509.IPAddress)]
    return out


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        constraints = cert.extensions.get_extension_for_oid(ExtensionOID.BASIC_CONSTRAINTS).value
    except x509.ExtensionNotFound:
        return False
    assert isinstance(constraints, x509.BasicConstraints)
    return constraints.ca


def _signature(oid: str, registry: TlsRegistry) -> dict[str, Any]:
    known = registry.oids.get(oid)
    return {
        "oid": oid,
        "name": known.name if known else oid,
        "class": known.category if known else "unknown",
    }


def certificate_facts(der: bytes, registry: TlsRegistry | None = None) -> dict[str, Any]:
    """One DER certificate as plain values (``error`` set when it does not parse)."""
    registry = registry or tls_registry()
    base: dict[str, Any] = {
        "sha256": hashlib.sha256(der).hexdigest(),
        "der_b64": base64.b64encode(der).decode("ascii"),
    }
    try:
        cert = x509.load_der_x509_certificate(der)
        not_before, not_after = cert.not_valid_before_utc, cert.not_valid_after_utc
        facts = {
            "subject": cert.subject.rfc4514_string(),
            "issuer": cert.issuer.rfc4514_string(),
            "serial": format(cert.serial_number, "x"),
            "san": _san(cert),
            "key": _key_facts(cert, der),
            "signature_algorithm": _signature(cert.signature_algorithm_oid.dotted_string,
                                              registry),
            "not_before": _iso(not_before),
            "not_after": _iso(not_after),
            "lifetime_days": (not_after - not_before).days,
            "key_usage": _key_usage(cert),
            "is_ca": _is_ca(cert),
            "self_signed": cert.subject == cert.issuer,
        }
    except (ValueError, TypeError) as exc:
        return {**base, "error": f"unparseable certificate: {exc}"}
    return {**facts, **base}


def tlcp_pair_check(chain: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """GM-CERT-PAIR conditions on a TLCP Certificate message (DOMAIN §1.1, §2.1).

    Expected order is sign, enc, CA...; Kona also tolerates sign, CA, enc, which is
    reported as ``order: sign-ca-enc`` (a warning, not a failure).
    """
    sign = chain[0] if chain else None
    enc, order = (chain[1], "sign-enc") if len(chain) > 1 else (None, "missing")
    if enc is not None and enc.get("is_ca") and len(chain) > 2:
        enc, order = chain[2], "sign-ca-enc"
    problems: list[str] = []
    if sign is None or enc is None:
        problems.append("fewer than two end-entity certificates")
        return {"ok": False, "order": order, "problems": problems, "warnings": []}
    for role, cert, wanted in (("sign", sign, SM2_SIGN_USAGES), ("enc", enc, SM2_ENC_USAGES)):
        if cert.get("error"):
            problems.append(f"{role} certificate unparseable")
            continue
        if cert["key"]["type"] != "sm2":
            problems.append(f"{role} certificate key is {cert['key']['type']}, not SM2")
        usage = cert.get("key_usage")
        # Kona accepts a missing KU on the encryption certificate; a present KU must fit.
        if (usage is not None or role == "sign") and not wanted & set(usage or ()):
            problems.append(f"{role} certificate key usage {usage} lacks {sorted(wanted)}")
    warnings: list[str] = []
    if not sign.get("error") and not enc.get("error"):
        if sign["issuer"] != enc["issuer"]:
            problems.append("sign and enc certificates have different issuers")
        # Deployed pairs often differ only by a "(enc)" suffix; clients do not reject that.
        if sign["subject"] != enc["subject"]:
            warnings.append("sign and enc certificates have different subjects")
    if order != "sign-enc":
        warnings.append(f"certificate order {order}")
    return {"ok": not problems, "order": order, "problems": problems, "warnings": warnings}
