"""How the committed certificates here were made (once; the tests read the files, so no test
depends on a key made at test time): ``python make.py`` in this folder.

x509-leaf: CN x509.es.test issued by "Sentinel ES Test CA" (named, not a real issuer: the
Elasticsearch test searches the issuer's name, no path is built), serial 0x5E4710, valid
2026-01-01 to 2036-01-01. hostile-leaf: the same key, a subject with control characters and a
3,000-character organisation name, as a hostile server could send.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

HERE = Path(__file__).parent


def make(name: str, subject: x509.Name) -> None:
    key = ec.derive_private_key(52_471, ec.SECP256R1())  # a fixed key
    issuer = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Sentinel Test"),
                        x509.NameAttribute(NameOID.COMMON_NAME, "Sentinel ES Test CA")])
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer)
            .public_key(key.public_key()).serial_number(0x5E4710)
            .not_valid_before(datetime(2026, 1, 1, tzinfo=UTC))
            .not_valid_after(datetime(2036, 1, 1, tzinfo=UTC))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("x509.es.test")]), False)
            .sign(key, hashes.SHA256()))
    (HERE / f"{name}.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (HERE / "x509-leaf.key").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))


make("x509-leaf", x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "x509.es.test")]))
make("hostile-leaf", x509.Name([
    x509.NameAttribute(NameOID.ORGANIZATION_NAME, "O" * 3000, _validate=False),
    x509.NameAttribute(NameOID.COMMON_NAME, "evil\x00\x1b[31m\nname", _validate=False)]))
