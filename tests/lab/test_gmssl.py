"""The GmSSL server is what the manifest says, checked with GmSSL's own tlcp_client (IPv4
only) and Tongsuo's s_client without extensions (``-no_ticket``: its NTLS hello then carries
none), on both families: the claimed suite completes with a verified chain, nothing else
does, a hello with extensions is refused, standard TLS is not answered, and the relay gives
connection after connection a fresh server (several at once too).
"""

from __future__ import annotations

import concurrent.futures

import pytest

from sentinel.lab.manifest import Host, Service, ServiceKind
from sentinel.lab.state import LabPaths
from tests.lab.clients import endpoint, endpoint_id, endpoint_params, negotiated, run, s_client

pytestmark = pytest.mark.usefixtures("lab")
GMSSL = endpoint_params({ServiceKind.GMSSL})
TONGSUO_NAMES = {"ECC_SM4_CBC_SM3": "ECC-SM2-SM4-CBC-SM3"}
OTHER_TLCP = ("ECC-SM2-SM4-GCM-SM3", "ECDHE-SM2-SM4-CBC-SM3", "RSA-SM4-CBC-SM3")


def _certs(host: Host) -> str:
    return str(LabPaths.from_env().certs / f"tongsuo-{host.id}")


def _bin(name: str) -> str:
    return str(LabPaths.from_env().cache / "bin" / name)


def _tongsuo(host: Host, service: Service, address: str, cipher: str, *extra: str) -> str:
    done = run(["env", "OPENSSL_CONF=/dev/null", _bin("tongsuo-openssl"), "s_client",
                "-connect", endpoint(address, service.port), "-enable_ntls", "-ntls",
                "-cipher", cipher, "-CAfile", f"{_certs(host)}/ca.crt", "-verify_return_error",
                "-verify_hostname", host.hostname, "-brief", *extra], timeout=15)
    return done.stdout + done.stderr


@pytest.mark.parametrize(("host", "service", "address"), GMSSL, ids=endpoint_id)
def test_claimed_suite_only_and_no_extensions(host: Host, service: Service,
                                              address: str) -> None:
    for suite in service.properties.suites or []:
        output = _tongsuo(host, service, address, TONGSUO_NAMES[suite], "-no_ticket")
        assert "CONNECTION ESTABLISHED" in output, output
        assert f"Ciphersuite: {TONGSUO_NAMES[suite]}" in output
        assert "Verification: OK" in output
        # The same hello with its session_ticket extension: unexpected_message.
        refused = _tongsuo(host, service, address, TONGSUO_NAMES[suite])
        assert "CONNECTION ESTABLISHED" not in refused
        assert "unexpected message" in refused, refused
    for cipher in OTHER_TLCP:
        assert "CONNECTION ESTABLISHED" not in _tongsuo(host, service, address, cipher,
                                                        "-no_ticket")


@pytest.mark.parametrize(("host", "service", "address"),
                         [p for p in GMSSL if ":" not in p[2]], ids=endpoint_id)
def test_gmssl_own_client_connection_after_connection(host: Host, service: Service,
                                                      address: str) -> None:
    def connect(_index: int) -> str:
        done = run([_bin("gmssl"), "tlcp_client", "-host", address, "-port", str(service.port),
                    "-cacert", f"{_certs(host)}/ca.crt"], stdin="ping\n", timeout=20)
        return done.stdout + done.stderr

    for index in range(6):  # every failed or finished handshake ends a GmSSL process
        assert "Connection established" in connect(index)
    with concurrent.futures.ThreadPoolExecutor(max_workers=6) as pool:
        results = list(pool.map(connect, range(6)))
    assert all("Connection established" in r for r in results), results


@pytest.mark.parametrize(("host", "service", "address"), GMSSL, ids=endpoint_id)
def test_no_standard_tls(host: Host, service: Service, address: str) -> None:
    for flag in ("-tls1_2", "-tls1_3"):
        assert not negotiated(s_client(address, service.port, flag))
