"""The Tongsuo servers are what the manifest says, checked with Tongsuo's own s_client (the
one client here that speaks TLCP with the GCM suites) and, for the select-then-abort bytes,
with a hello written out by hand: nothing of Sentinel's is used.

- every claimed suite completes with a verified chain (TLCP: the SM2 CA and the host name;
  the ECDHE suites with a client sign/enc pair; TLS: the RSA CA);
- every ``incomplete_suites`` entry is selected in the ServerHello and the handshake does not
  complete (the Certificate message is empty), and a raw TLCP hello that lists it first gets
  that ServerHello followed by a fatal internal_error(80);
- a server without the RSA certificate selects no RSA suite, and standard TLS answers only
  where it is claimed.
"""

from __future__ import annotations

import re
import socket

import pytest

from sentinel.lab.manifest import Host, Service, ServiceKind
from sentinel.lab.state import LabPaths
from tests.lab.clients import (
    endpoint,
    endpoint_id,
    endpoint_params,
    negotiated,
    run,
    s_client,
)

pytestmark = pytest.mark.usefixtures("lab")
TONGSUO = endpoint_params({ServiceKind.TONGSUO})
DUAL = [p for p in TONGSUO if p[1].properties.incomplete_suites]
# Manifest names (GB/T 38636 for TLCP, OpenSSL's for TLS) -> Tongsuo's names and codes.
TLCP_SUITES = {"ECC_SM4_GCM_SM3": ("ECC-SM2-SM4-GCM-SM3", 0xE053),
               "ECDHE_SM4_GCM_SM3": ("ECDHE-SM2-SM4-GCM-SM3", 0xE051),
               "ECC_SM4_CBC_SM3": ("ECC-SM2-SM4-CBC-SM3", 0xE013),
               "ECDHE_SM4_CBC_SM3": ("ECDHE-SM2-SM4-CBC-SM3", 0xE011),
               "RSA_SM4_CBC_SM3": ("RSA-SM4-CBC-SM3", 0xE019),
               "RSA_SM4_GCM_SM3": ("RSA-SM4-GCM-SM3", 0xE059)}
ENV_CONF = "OPENSSL_CONF=/dev/null"


def _certs(host: Host) -> str:
    return str(LabPaths.from_env().certs / f"tongsuo-{host.id}")


def _client(host: Host, service: Service, address: str, *options: str) -> str:
    """Tongsuo's s_client, one handshake; stdout and stderr together."""
    tongsuo = str(LabPaths.from_env().cache / "bin" / "tongsuo-openssl")
    done = run(["env", ENV_CONF, tongsuo, "s_client", "-connect",
                endpoint(address, service.port), *options], timeout=15)
    return done.stdout + done.stderr


def _tlcp(host: Host, service: Service, address: str, cipher: str, *extra: str) -> str:
    certs = _certs(host)
    pair = ["-sign_cert", f"{certs}/sign.crt", "-sign_key", f"{certs}/sign.key",
            "-enc_cert", f"{certs}/enc.crt", "-enc_key", f"{certs}/enc.key"]
    return _client(host, service, address, "-enable_ntls", "-ntls", "-cipher", cipher,
                   *(pair if cipher.startswith("ECDHE") else []), *extra)


@pytest.mark.parametrize(("host", "service", "address"), TONGSUO, ids=endpoint_id)
def test_each_claimed_suite_completes_with_a_verified_chain(host: Host, service: Service,
                                                             address: str) -> None:
    certs = _certs(host)
    for suite in service.properties.suites or []:
        if suite in TLCP_SUITES:
            name = TLCP_SUITES[suite][0]
            output = _tlcp(host, service, address, name, "-brief", "-CAfile",
                           f"{certs}/ca.crt", "-verify_return_error", "-verify_hostname",
                           host.hostname)
            expected = ("NTLSv1.1", name)
        else:
            version = ["-tls1_3", "-ciphersuites"] if suite.startswith("TLS_") else \
                ["-tls1_2", "-cipher"]
            output = _client(host, service, address, *version, suite, "-brief", "-CAfile",
                             f"{certs}/rsa-ca.crt", "-verify_return_error",
                             "-verify_hostname", host.hostname)
            expected = ("TLSv1.3" if suite.startswith("TLS_") else "TLSv1.2", suite)
        assert "CONNECTION ESTABLISHED" in output, (suite, output)
        found = dict(re.findall(r"^(Protocol version|Ciphersuite): (\S+)", output, re.M))
        assert (found.get("Protocol version"), found.get("Ciphersuite")) == expected, output
        assert "Verification: OK" in output, output


def _server_hello_suite(msg_output: str) -> int | None:
    """The cipher suite of the ServerHello in ``s_client -msg`` output (hex dump)."""
    found = re.search(r"<<< NTLS 1\.1, Handshake \[length [0-9a-f]+\], ServerHello\n"
                      r"((?:    [0-9a-f ]+\n)+)", msg_output)
    if found is None:
        return None
    body = bytes.fromhex(found[1].replace("\n", " "))
    at = 4 + 2 + 32  # header, server_version, random
    at += 1 + body[at]  # session id
    return int.from_bytes(body[at:at + 2], "big")


@pytest.mark.parametrize(("host", "service", "address"), TONGSUO, ids=endpoint_id)
def test_rsa_tlcp_suites_are_selected_then_abandoned_exactly_where_claimed(
        host: Host, service: Service, address: str) -> None:
    claimed = set(service.properties.incomplete_suites or [])
    for suite in ("RSA_SM4_CBC_SM3", "RSA_SM4_GCM_SM3"):
        name, code = TLCP_SUITES[suite]
        output = _tlcp(host, service, address, name, "-msg")
        assert "Cipher is (NONE)" in output or "CONNECTION ESTABLISHED" not in output
        if suite in claimed:
            assert _server_hello_suite(output) == code, output
            # The certificate list is empty: no RSA pair to send (then Tongsuo's client stops).
            assert re.search(r"Certificate\n    0b 00 00 03 00 00 00\n", output), output
        else:
            assert _server_hello_suite(output) is None, output  # refused before choosing


# A bare TLCP ClientHello (record and client_version 0x0101, no extensions) offering
# RSA_SM4_CBC_SM3 (0xE019) then ECC_SM4_CBC_SM3 (0xE013), written out byte by byte.
RAW_HELLO = bytes.fromhex(
    "160101002f" "0100002b" "0101" + "00" * 32 + "00" + "0004" "e019" "e013" "0100")
INTERNAL_ERROR_TLCP = bytes.fromhex("15010100020250")


@pytest.mark.parametrize(("host", "service", "address"), DUAL, ids=endpoint_id)
def test_raw_hello_gets_server_hello_then_internal_error(host: Host, service: Service,
                                                         address: str) -> None:
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.settimeout(10)
        sock.connect((address, service.port))
        sock.sendall(RAW_HELLO)
        answer = b""
        while chunk := sock.recv(4096):
            answer += chunk
    assert answer[:3] == bytes.fromhex("160101") and answer[5] == 2  # a TLCP ServerHello
    sid = answer[5 + 4 + 2 + 32]
    suite_at = 5 + 4 + 2 + 32 + 1 + sid
    assert answer[suite_at:suite_at + 2] == bytes.fromhex("e019")
    assert answer.endswith(INTERNAL_ERROR_TLCP), answer.hex()


@pytest.mark.parametrize(("host", "service", "address"), TONGSUO, ids=endpoint_id)
def test_standard_tls_only_where_claimed(host: Host, service: Service, address: str) -> None:
    versions = set(service.properties.tls_versions or [])
    for version, flag in (("TLSv1.1", "-tls1_1"), ("TLSv1.2", "-tls1_2"),
                          ("TLSv1.3", "-tls1_3")):
        # Debian's OpenSSL with every cipher allowed: answered only where claimed.
        found = negotiated(s_client(address, service.port, flag, "-cipher", "ALL:@SECLEVEL=0"))
        assert bool(found) == (version in versions), (version, found)
