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
import binascii
import contextlib
import hashlib
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, padding, rsa
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from cryptography.x509.oid import ExtensionOID, NameOID

from sentinel.catalog.tls import TlsRegistry, tls_registry
from sentinel.crypto import sm2
from sentinel.errors import DecodeError

if TYPE_CHECKING:  # the trust loader imports pydantic; `sentinel probe` must not pay for it
    from sentinel.catalog.trust import TrustStore

OID_SM2_CURVE = "1.2.156.10197.1.301"
OID_SM3_WITH_SM2 = "1.2.156.10197.1.501"
SM2_SIGN_USAGES = frozenset({"digital_signature"})
SM2_ENC_USAGES = frozenset({"key_encipherment", "data_encipherment", "key_agreement"})
_KEY_USAGE_FIELDS = (
    "digital_signature", "content_commitment", "key_encipherment", "data_encipherment",
    "key_agreement", "key_cert_sign", "crl_sign",
)


# What cryptography raises on a certificate it cannot read (two are not ValueErrors).
_UNPARSEABLE = (ValueError, TypeError, x509.DuplicateExtension, x509.UnsupportedGeneralNameType)


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


def _common_names(name: x509.Name) -> list[str]:
    return [str(a.value) for a in name.get_attributes_for_oid(NameOID.COMMON_NAME)]


def _key_id(cert: x509.Certificate, oid: x509.ObjectIdentifier) -> str | None:
    """SubjectKeyIdentifier or AuthorityKeyIdentifier.key_identifier as hex, if present."""
    try:
        value = cert.extensions.get_extension_for_oid(oid).value
    except x509.ExtensionNotFound:
        return None
    if isinstance(value, x509.SubjectKeyIdentifier):
        return value.digest.hex()
    if isinstance(value, x509.AuthorityKeyIdentifier) and value.key_identifier is not None:
        return value.key_identifier.hex()
    return None


def _spki_sha256(cert: x509.Certificate, der: bytes) -> str | None:
    """SHA-256 of the public key (SM2: of its point), to see one key in two certificates."""
    with contextlib.suppress(DecodeError):
        return hashlib.sha256(sm2.encode_point(sm2.public_key_from_certificate(der))).hexdigest()
    try:
        spki = cert.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    except (UnsupportedAlgorithm, ValueError, TypeError):
        return None
    return hashlib.sha256(spki).hexdigest()


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
            "common_names": _common_names(cert.subject),
            "issuer_common_names": _common_names(cert.issuer),
            "subject_key_id": _key_id(cert, ExtensionOID.SUBJECT_KEY_IDENTIFIER),
            "authority_key_id": _key_id(cert, ExtensionOID.AUTHORITY_KEY_IDENTIFIER),
            "spki_sha256": _spki_sha256(cert, der),
        }
    except _UNPARSEABLE as exc:
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


# ---- the chain as a whole ------------------------------------------------------------------

MAX_CHAIN = 16
"""Certificates of one chain that are examined; a longer chain is reported as ``truncated``
(no client accepts a path that long, and verifying 10,000 signatures is a denial of
service on the scanner)."""
WEAK_HASHES = frozenset({"md2", "md4", "md5", "sha1"})
RSA_MIN_BITS = 2048


def _load(fact: dict[str, Any]) -> tuple[x509.Certificate, bytes] | None:
    if fact.get("error") or not isinstance(fact.get("der_b64"), str):
        return None
    try:
        der = base64.b64decode(fact["der_b64"], validate=True)
        return x509.load_der_x509_certificate(der), der
    except (*_UNPARSEABLE, binascii.Error):
        return None


def signed_by(child: x509.Certificate, parent: x509.Certificate, parent_der: bytes
              ) -> bool | None:
    """Whether ``parent`` issued ``child``: its name is the child's issuer and its key
    verifies the child's signature (SM3withSM2 with Sentinel's SM2: the default ID of
    GB/T 35276, or the empty ID OpenSSL 3.0 uses by default). None when the names match
    but the signature cannot be checked here."""
    if child.issuer.public_bytes() != parent.subject.public_bytes():
        return False
    if child.signature_algorithm_oid.dotted_string == OID_SM3_WITH_SM2:
        try:
            key = sm2.public_key_from_certificate(parent_der)
            # The GB/T 35276 default ID first; OpenSSL 3.0 signs with an empty ID unless
            # told otherwise (-sigopt distid:...), and its own verify accepts that.
            return any(sm2.verify(key, child.tbs_certificate_bytes, child.signature, signer)
                       for signer in (sm2.DEFAULT_SIGNER_ID, b""))
        except (DecodeError, ValueError):
            return False
    try:
        child.verify_directly_issued_by(parent)
    except InvalidSignature:
        return False
    except (UnsupportedAlgorithm, ValueError, TypeError):
        return _verify_legacy(child, parent)  # cryptography 48 refuses SHA-1 and MD5 here
    return True


def _verify_legacy(child: x509.Certificate, parent: x509.Certificate) -> bool | None:
    """An RSA or ECDSA signature with a hash ``verify_directly_issued_by`` no longer takes
    (SHA-1, MD5): the weak chains the checks exist to find must still link up."""
    try:
        key = parent.public_key()
        algorithm = child.signature_hash_algorithm
        parameters = child.signature_algorithm_parameters
    except (UnsupportedAlgorithm, ValueError, TypeError):
        return None
    if algorithm is None:
        return None
    try:
        if isinstance(key, rsa.RSAPublicKey):
            scheme = (parameters if isinstance(parameters, padding.PSS | padding.PKCS1v15)
                      else padding.PKCS1v15())
            key.verify(child.signature, child.tbs_certificate_bytes, scheme, algorithm)
        elif isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(child.signature, child.tbs_certificate_bytes, ec.ECDSA(algorithm))
        else:
            return None
    except InvalidSignature:
        return False
    except (UnsupportedAlgorithm, ValueError, TypeError):
        return None
    return True


def _hash_name(cert: x509.Certificate) -> str | None:
    if cert.signature_algorithm_oid.dotted_string == OID_SM3_WITH_SM2:
        return "sm3"
    try:
        algorithm = cert.signature_hash_algorithm
    except UnsupportedAlgorithm:
        return None
    return algorithm.name if algorithm is not None else None  # Ed25519/Ed448: none


def _rsa_bits(cert: x509.Certificate) -> int | None:
    try:
        key = cert.public_key()
    except (UnsupportedAlgorithm, ValueError, TypeError):
        return None
    return key.key_size if isinstance(key, rsa.RSAPublicKey) else None


def _link(index: int, cert: x509.Certificate, issuer: x509.Certificate | None,
          issuer_at: int | str | None, verified: bool | None) -> dict[str, Any]:
    """One certificate's signature: by what, how, and whether it is weak."""
    hash_name = _hash_name(cert)
    issuer_rsa = _rsa_bits(issuer) if issuer is not None else None
    weak = []
    if hash_name in WEAK_HASHES:
        weak.append(f"signed with {hash_name}")
    if issuer_rsa is not None and issuer_rsa < RSA_MIN_BITS:
        weak.append(f"signed by a {issuer_rsa}-bit RSA key")
    return {"index": index, "subject": cert.subject.rfc4514_string(), "issuer_at": issuer_at,
            "verified": verified, "signature_hash": hash_name, "issuer_rsa_bits": issuer_rsa,
            "weak": weak}


def _enc_index(chain: Sequence[dict[str, Any]]) -> int | None:
    """Where a TLCP Certificate message holds the encryption certificate (1, or 2 after a CA
    in Kona's tolerated sign, CA, enc order)."""
    if len(chain) < 2:
        return None
    if chain[1].get("is_ca") and len(chain) > 2 and not chain[2].get("is_ca"):
        return 2
    return 1


def chain_facts(chain: Sequence[dict[str, Any]], trust: TrustStore,
                *, tlcp: bool = False) -> dict[str, Any]:
    """The certification path from the leaf, built from what the server sent and the trust
    store, with every link's signature verified (DOMAIN: facts, not judgements).

    ``path``: indices of the sent certificates from the leaf up; ``in_order``: they were sent
    leaf first, each followed by its issuer (RFC 8446 §4.4.2, RFC 5246 §7.4.2; TLCP: sign,
    enc, then the CAs); ``complete``: the path ends in a self-signed certificate or in a root
    of the trust store; ``trusted``: that root is in the trust store; ``missing_issuer``:
    the name nobody sent when incomplete; ``links``: each path certificate's signature (the
    self-signed root's own signature is not a link); ``unused``: sent but not on the path.
    For TLCP the encryption certificate is judged apart (``enc``: its issuer on the path?).
    """
    truncated = len(chain) > MAX_CHAIN
    loaded = [_load(f) for f in chain[:MAX_CHAIN]]
    enc_at = _enc_index(chain) if tlcp else None
    out: dict[str, Any] = {"examined": len(loaded), "sent": len(chain), "truncated": truncated,
                           "path": [], "in_order": True, "complete": False, "trusted": False,
                           "anchor": None, "missing_issuer": None, "links": [], "unused": []}
    if not loaded or loaded[0] is None:
        out["error"] = "leaf certificate unparseable"
        return out
    path = [0]
    used = {0} | ({enc_at} if enc_at is not None else set())
    expected = [i for i in range(len(loaded)) if i != enc_at]
    while True:
        at = path[-1]
        entry = loaded[at]
        assert entry is not None
        cert, der = entry
        if cert.issuer == cert.subject and signed_by(cert, cert, der) is not False:
            trusted = trust.holds(der) or any(
                signed_by(cert, x509.load_der_x509_certificate(r), r) is True
                for r in trust.issuers(cert.subject.public_bytes()))
            anchor = {"source": "sent", "index": at, "subject": cert.subject.rfc4514_string()}
            out.update(complete=True, trusted=trusted, anchor=anchor)
            break
        parent = _sent_issuer(cert, loaded, used, preferred=len(path))
        if parent is not None:
            index, verified = parent
            issuer_cert = loaded[index]
            assert issuer_cert is not None
            out["links"].append(_link(at, cert, issuer_cert[0], index, verified))
            path.append(index)
            used.add(index)
            continue
        root = _store_issuer(cert, trust)
        if root is not None:
            out["links"].append(_link(at, cert, root, "trust-store", True))
            out.update(complete=True, trusted=True,
                       anchor={"source": "trust-store",
                               "subject": root.subject.rfc4514_string()})
        else:
            out["links"].append(_link(at, cert, None, None, None))
            out["missing_issuer"] = cert.issuer.rfc4514_string()
        break
    out["path"] = path
    out["in_order"] = path == expected[:len(path)]
    out["unused"] = [i for i in range(len(loaded)) if i not in used]
    if enc_at is not None:
        out["enc"] = _enc_link(loaded, enc_at, path)
    return out


def _sent_issuer(cert: x509.Certificate, loaded: Sequence[tuple[x509.Certificate, bytes] | None],
                 used: set[int], *, preferred: int) -> tuple[int, bool | None] | None:
    """The sent certificate that issued ``cert`` (the one at ``preferred`` first; a verified
    signature before an unverifiable one), with whether its signature verified."""
    order = sorted(range(len(loaded)), key=lambda i: i != preferred)
    unverifiable = None
    for index in order:
        entry = loaded[index]
        if index in used or entry is None:
            continue
        verdict = signed_by(cert, entry[0], entry[1])
        if verdict is True:
            return index, True
        if verdict is None and unverifiable is None:
            unverifiable = index
    return (unverifiable, None) if unverifiable is not None else None


def _store_issuer(cert: x509.Certificate, trust: TrustStore) -> x509.Certificate | None:
    for der in trust.issuers(cert.issuer.public_bytes()):
        try:
            root = x509.load_der_x509_certificate(der)
        except _UNPARSEABLE:
            continue
        if signed_by(cert, root, der) is True:
            return root
    return None


def _enc_link(loaded: Sequence[tuple[x509.Certificate, bytes] | None], enc_at: int,
              path: Sequence[int]) -> dict[str, Any]:
    entry = loaded[enc_at]
    if entry is None:
        return {"index": enc_at, "issuer_at": None, "verified": None}
    for index in path:
        issuer = loaded[index]
        if issuer is not None and (verdict := signed_by(entry[0], issuer[0], issuer[1])):
            return {"index": enc_at, "issuer_at": index, "verified": verdict}
    return {"index": enc_at, "issuer_at": None, "verified": None}


def tlcp_pair_defects(chain: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """What :func:`tlcp_pair_check` does not look at: one key in both certificates, and
    usages that mix the roles (a signing certificate that may encrypt, an encryption
    certificate that may sign): GM/T 0015 keeps the two keys and their uses apart."""
    enc_at = _enc_index(chain)
    if enc_at is None:
        return {"applicable": False}
    sign, enc = chain[0], chain[enc_at]
    if sign.get("error") or enc.get("error"):
        return {"applicable": False}
    same = sign.get("spki_sha256") is not None and sign.get("spki_sha256") == enc.get(
        "spki_sha256")
    sign_extra = sorted(set(sign.get("key_usage") or ()) & SM2_ENC_USAGES)
    enc_extra = sorted(set(enc.get("key_usage") or ()) & (SM2_SIGN_USAGES | {
        "content_commitment"}))
    return {"applicable": True, "same_key": same, "sign_extra_usages": sign_extra,
            "enc_extra_usages": enc_extra, "enc_index": enc_at}
