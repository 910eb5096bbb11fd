"""National-crypto and post-quantum servers, checked with the lab/servers client modes
(tjfoc gmtls client for TLCP, the BouncyCastle client for RFC 8998, the Go crypto/tls client
for X25519MLKEM768) and with openssl s_client for what standard TLS must and must not get."""

from __future__ import annotations

import pytest

from sentinel.lab.manifest import Host, Service, ServiceKind
from sentinel.lab.state import LabPaths
from tests.lab.clients import endpoint_id, endpoint_params, negotiated, run, s_client

pytestmark = pytest.mark.usefixtures("lab")
TLCP_HEX = {"ECC_SM4_CBC_SM3": "e013", "ECDHE_SM4_CBC_SM3": "e011"}


def _bin(name: str) -> str:
    return str(LabPaths.from_env().cache / "bin" / name)


def _chain(host: Host) -> str:
    return str(LabPaths.from_env().certs / f"gm-{host.id}")


def _fields(stdout: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in stdout.splitlines() if "=" in line)


def _tlcp(host: Host, service: Service, address: str, *extra: str) -> dict[str, str]:
    done = run([_bin("gmtls-lab"), "client", "--host", address, "--port", str(service.port),
                "--ca", f"{_chain(host)}/ca.crt", "--servername", host.hostname, *extra])
    return _fields(done.stdout)


@pytest.mark.parametrize(("host", "service", "address"),
                         endpoint_params({ServiceKind.GM_TLCP, ServiceKind.GM_DUAL}),
                         ids=endpoint_id)
def test_tlcp_with_sm2_sign_and_enc_certificates(host: Host, service: Service,
                                                 address: str) -> None:
    for suite in (s for s in service.properties.suites or [] if s in TLCP_HEX):
        result = _tlcp(host, service, address, "--suites", TLCP_HEX[suite])
        assert result.get("protocol") == "TLCP1.1", result
        assert result.get("suite_name") == suite
        assert result.get("verified") == "ok"
    certs = [v for k, v in _tlcp(host, service, address).items() if k.startswith("peer_cert")]
    assert len(certs) >= 2
    assert all("sigalg=SM2-SM3" in c for c in certs)
    assert "(enc)" in certs[1]  # the second certificate is the encryption one


@pytest.mark.parametrize(("host", "service", "address"),
                         endpoint_params({ServiceKind.GM_TLCP, ServiceKind.GM_DUAL,
                                          ServiceKind.GM_TLS13}), ids=endpoint_id)
def test_standard_tls_only_where_claimed(host: Host, service: Service, address: str) -> None:
    versions = set(service.properties.tls_versions or [])
    for version, flag in (("TLSv1.2", "-tls1_2"), ("TLSv1.3", "-tls1_3")):
        # openssl's stock suites and groups: only a server that also speaks standard TLS
        # with standard algorithms answers (the RFC 8998 server offers SM suites only).
        answered = bool(negotiated(s_client(address, service.port, flag)))
        standard = version in versions and service.kind is ServiceKind.GM_DUAL
        assert answered == standard, version


@pytest.mark.parametrize(("host", "service", "address"), endpoint_params({ServiceKind.GM_TLS13}),
                         ids=endpoint_id)
def test_rfc8998_tls13_sm(host: Host, service: Service, address: str) -> None:
    done = run(["java", "-jar", _bin("bcsm-lab-server.jar"), "--client", address,
                str(service.port), "--ca", f"{_chain(host)}/ca.crt"], timeout=60)
    result = _fields(done.stdout)
    assert result.get("protocol") == "TLS 1.3", done.stdout + done.stderr
    assert [result.get("suite_name")] == service.properties.suites
    assert [result.get("group")] == service.properties.groups
    assert result.get("verified") == "ok"
    assert "sigalg=SM3WITHSM2" in result.get("peer_cert[0]", "")


@pytest.mark.parametrize(("host", "service", "address"), endpoint_params({ServiceKind.GO_PQ}),
                         ids=endpoint_id)
def test_hybrid_post_quantum_group(host: Host, service: Service, address: str) -> None:
    def connect(*extra: str) -> dict[str, str]:
        done = run([_bin("pqtls-lab"), "client", "--host", address, "--port",
                    str(service.port), "--ca", f"{_chain(host)}/ca-ecdsa.crt",
                    "--servername", host.hostname, *extra])
        return _fields(done.stdout)

    preferred = connect()
    assert preferred.get("group") == "X25519MLKEM768", preferred
    assert preferred.get("verified") == "true"
    assert connect("--groups", "x25519").get("group") == "X25519"
    # A client without ML-KEM (OpenSSL 3.0) still gets classic TLS 1.3 and TLS 1.2.
    assert negotiated(s_client(address, service.port, "-tls1_3"))["protocol"] == "TLSv1.3"
    assert negotiated(s_client(address, service.port, "-tls1_2"))["protocol"] == "TLSv1.2"
