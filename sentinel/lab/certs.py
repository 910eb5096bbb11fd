"""Test certificates, made with the openssl command line when the lab is built.

One lab CA (RSA 2048, SHA-256) issues every server certificate, so clients can verify a
modern server with ``-CAfile ca.pem`` while a legacy one still shows its own weaknesses: an
RSA 1024 key and a SHA-1 signature (OpenSSL signs with SHA-1 when asked; only verifying
peers at SECLEVEL>=1 refuse it). Lifetimes are 365 days: short ones add "expires soon"
findings that muddy comparisons with other scanners.
"""

from __future__ import annotations

import ipaddress
import threading
from dataclasses import dataclass, field
from pathlib import Path

from sentinel.errors import LabError
from sentinel.lab.procs import run

VALIDITY_DAYS = "365"
KEY_OPTIONS: dict[str, list[str]] = {
    "rsa2048": ["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"],
    "rsa1024": ["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:1024"],
    "ecdsa-p256": ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"],
}
SIGNATURES = {"sha256": "-sha256", "sha1": "-sha1"}


@dataclass(frozen=True)
class CertPair:
    """A certificate and its private key, in PEM files."""

    cert: Path
    key: Path


@dataclass
class CertFactory:
    """Issues and remembers server certificates under one directory."""

    folder: Path
    _issued: dict[str, CertPair] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _serial: int = 1

    @property
    def ca(self) -> CertPair:
        """The lab CA (created on first use)."""
        pair = CertPair(self.folder / "ca.pem", self.folder / "ca.key")
        if not pair.cert.exists():
            self.folder.mkdir(parents=True, exist_ok=True)
            _genkey(pair.key, "rsa2048")
            run(["openssl", "req", "-x509", "-new", "-key", str(pair.key), "-sha256",
                 "-days", VALIDITY_DAYS, "-subj", "/C=CN/O=Sentinel Lab/CN=Sentinel Lab CA",
                 "-addext", "basicConstraints=critical,CA:TRUE",
                 "-addext", "keyUsage=critical,keyCertSign,cRLSign", "-out", str(pair.cert)])
        return pair

    def issue(self, hostname: str, addresses: list[str], key_kind: str,
              signature: str = "sha256") -> CertPair:
        """A server certificate for a host name and its addresses, signed by the lab CA."""
        if key_kind not in KEY_OPTIONS or signature not in SIGNATURES:
            raise LabError(f"cannot issue a {key_kind}/{signature} certificate")
        name = f"{hostname}-{key_kind}-{signature}"
        with self._lock:
            if name in self._issued:
                return self._issued[name]
            ca = self.ca
            self._serial += 1
            serial = self._serial
        pair = CertPair(self.folder / f"{name}.pem", self.folder / f"{name}.key")
        _genkey(pair.key, key_kind)
        csr = self.folder / f"{name}.csr"
        run(["openssl", "req", "-new", "-key", str(pair.key), "-subj",
             f"/C=CN/O=Sentinel Lab/CN={hostname}", "-out", str(csr)])
        extensions = self.folder / f"{name}.ext"
        extensions.write_text(_extensions(hostname, addresses), encoding="ascii")
        run(["openssl", "x509", "-req", "-in", str(csr), "-CA", str(ca.cert), "-CAkey",
             str(ca.key), "-set_serial", str(serial), "-days", VALIDITY_DAYS,
             SIGNATURES[signature], "-extfile", str(extensions), "-out", str(pair.cert)])
        csr.unlink()
        extensions.unlink()
        with self._lock:
            self._issued[name] = pair
        return pair


def _genkey(path: Path, key_kind: str) -> None:
    run(["openssl", "genpkey", *KEY_OPTIONS[key_kind], "-out", str(path)])
    path.chmod(0o600)


def _extensions(hostname: str, addresses: list[str]) -> str:
    names = [f"DNS:{hostname}"]
    names += [f"IP:{ipaddress.ip_address(a)}" for a in addresses]
    return ("basicConstraints=critical,CA:FALSE\n"
            "keyUsage=critical,digitalSignature,keyEncipherment\n"
            "extendedKeyUsage=serverAuth\n"
            f"subjectAltName={','.join(names)}\n")
