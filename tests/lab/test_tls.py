"""nginx/OpenSSL and gnutls-serv answer with exactly the TLS the manifest claims.

Clients: openssl s_client (versions, suites, certificates) and nmap ssl-enum-ciphers (3DES,
which Debian's OpenSSL 3.0 cannot offer as a client either).
"""

from __future__ import annotations

import re

import pytest

from sentinel.lab.manifest import Host, Service, ServiceKind
from tests.lab.clients import (
    endpoint,
    endpoint_id,
    endpoint_params,
    negotiated,
    nmap_script,
    run,
    s_client,
)

TLS_KINDS = {ServiceKind.NGINX, ServiceKind.GNUTLS}
TLS_ENDPOINTS = [p for p in endpoint_params(TLS_KINDS) if p[1].properties.tls_versions]
# Property-specific checks run only on the endpoints that claim the property.
AEAD_ONLY = [p for p in TLS_ENDPOINTS if p[1].properties.aead_only]
TRIPLE_DES = [p for p in TLS_ENDPOINTS if p[1].properties.triple_des]
VERSION_FLAGS = {"TLSv1": "-tls1", "TLSv1.1": "-tls1_1", "TLSv1.2": "-tls1_2", "TLSv1.3": "-tls1_3"}
ANY_CIPHER = ["-cipher", "ALL:@SECLEVEL=0"]
pytestmark = pytest.mark.usefixtures("lab")


def _claimed_versions(service: Service) -> set[str]:
    return {"TLSv1" if v == "TLSv1.0" else v for v in service.properties.tls_versions or []}


@pytest.mark.parametrize(("host", "service", "address"), TLS_ENDPOINTS, ids=endpoint_id)
def test_exactly_the_claimed_tls_versions(host: Host, service: Service, address: str) -> None:
    accepted = {version for version, flag in VERSION_FLAGS.items()
                if negotiated(s_client(address, service.port, flag, *ANY_CIPHER))}
    assert accepted == _claimed_versions(service)


@pytest.mark.parametrize(("host", "service", "address"), TLS_ENDPOINTS, ids=endpoint_id)
def test_each_claimed_suite_negotiates(host: Host, service: Service, address: str) -> None:
    versions = _claimed_versions(service)
    below13 = [v for v in ("TLSv1.2", "TLSv1.1", "TLSv1") if v in versions]
    for suite in service.properties.suites or []:
        if suite == "DES-CBC3-SHA":
            continue  # the openssl client has no 3DES; nmap checks it below
        if suite.startswith("TLS_"):
            result = negotiated(s_client(address, service.port, "-tls1_3", "-ciphersuites", suite))
        else:
            result = negotiated(s_client(address, service.port, VERSION_FLAGS[below13[0]],
                                         "-cipher", f"{suite}:@SECLEVEL=0"))
        assert result.get("cipher") == suite, f"{suite} not negotiated: {result}"


@pytest.mark.parametrize(("host", "service", "address"), AEAD_ONLY, ids=endpoint_id)
def test_modern_servers_refuse_cbc_and_static_rsa(host: Host, service: Service,
                                                  address: str) -> None:
    weak = "AES128-SHA:AES256-SHA:ECDHE-RSA-AES128-SHA:AES128-GCM-SHA256:@SECLEVEL=0"
    assert not negotiated(s_client(address, service.port, "-tls1_2", "-cipher", weak))


KEY_SIGALGS = {"rsa": "rsa_pss_rsae_sha256:rsa_pkcs1_sha256:rsa_pkcs1_sha1",
               "ecdsa": "ecdsa_secp256r1_sha256"}
KEY_TEXT = {"rsa2048": "Public-Key: (2048 bit)", "rsa1024": "Public-Key: (1024 bit)",
            "ecdsa-p256": "NIST CURVE: P-256"}


def _leaf_text(address: str, port: int, key: str) -> str:
    sigalgs = KEY_SIGALGS["ecdsa" if key.startswith("ecdsa") else "rsa"]
    done = run(["openssl", "s_client", "-connect", endpoint(address, port), *ANY_CIPHER,
                "-sigalgs", sigalgs, "-showcerts"], timeout=15)
    leaf = re.search(r"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----",
                     done.stdout, re.S)
    assert leaf, done.stdout + done.stderr
    return run(["openssl", "x509", "-noout", "-text"], stdin=leaf.group(0)).stdout


@pytest.mark.parametrize(("host", "service", "address"), TLS_ENDPOINTS, ids=endpoint_id)
def test_certificate_keys_and_signature(host: Host, service: Service, address: str,
                                        lab_ca: str) -> None:
    props = service.properties
    signature = props.cert_signature or "sha256"
    for key in props.cert_keys or ["rsa2048"]:
        text = _leaf_text(address, service.port, key)
        assert KEY_TEXT[key] in text
        assert f"Signature Algorithm: {signature}WithRSAEncryption" in text
        assert f"DNS:{host.hostname}" in text
    if signature == "sha256" and "rsa1024" not in (props.cert_keys or []):
        verified = s_client(address, service.port, "-CAfile", lab_ca, "-verify_return_error",
                            "-verify_hostname", host.hostname)
        assert negotiated(verified), verified.stderr


@pytest.mark.parametrize(("host", "service", "address"), TRIPLE_DES, ids=endpoint_id)
def test_3des_really_offered(host: Host, service: Service, address: str) -> None:
    report = nmap_script(address, service.port, "ssl-enum-ciphers")
    assert "TLS_RSA_WITH_3DES_EDE_CBC_SHA" in report, report


@pytest.fixture(scope="session")
def lab_ca(lab: object) -> str:
    from sentinel.lab.state import LabPaths

    return str(LabPaths.from_env().certs / "ca.pem")
