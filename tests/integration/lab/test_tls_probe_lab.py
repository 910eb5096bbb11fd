"""The tls probe against the lab's real TLS/TLCP servers: what it enumerates is what the
manifest says each server was built with (versions, suites, groups, certificate keys)."""

from __future__ import annotations

import asyncio
import ipaddress
import json
import subprocess
import sys
from typing import Any

import pytest

from sentinel.catalog.tls import tls_registry
from sentinel.lab import LabStatus
from sentinel.lab.manifest import Family, Host, Service
from sentinel.playbook import RateLimits
from sentinel.probes.base import Network
from sentinel.probes.tls import probe_tls
from sentinel.scope import Gate, ScopePolicy
from tests.lab.clients import MANIFEST

pytestmark = pytest.mark.lab


def _gate() -> Gate:
    """Only the lab's ranges are authorised."""
    policy = ScopePolicy(authorised=(ipaddress.ip_network("198.18.0.0/15"),
                                     ipaddress.ip_network("2001:db8::/32")))
    return Gate(policy, RateLimits(connections_per_host=4))


def _tls_services() -> list[tuple[Host, Service, Family]]:
    return [(h, s, f) for h in MANIFEST.hosts for s in h.services
            if s.properties.tls_versions for f in s.families]


def _iana(name: str) -> str:
    """Manifest suite names are OpenSSL's or the standard's; the probe reports IANA's."""
    for suite in tls_registry().data.suites:
        if name in (suite.name, suite.openssl, *suite.aliases):
            return suite.name
    raise AssertionError(f"suite {name} not in probes/tls.yml")


def _probe(address: str, port: int, sni: str | None) -> dict[str, Any]:
    network = Network(_gate(), connect_timeout=5.0)
    return asyncio.run(probe_tls(network.connector(address, port), server_name=sni))


def _versions(claimed: list[str]) -> set[str]:
    return {"TLSv1.0" if v == "TLSv1" else v for v in claimed}


@pytest.mark.parametrize(("host", "service", "family"), _tls_services(),
                         ids=lambda v: getattr(v, "id", str(v)))
def test_enumeration_matches_manifest(lab: LabStatus, host: Host, service: Service,
                                      family: Family) -> None:
    address = str(host.v4 if family is Family.IPV4 else host.v6)
    facts = _probe(address, service.port, host.hostname)
    props = service.properties
    assert set(facts["versions"]) == _versions(props.tls_versions or [])
    if props.suites:
        assert {a["name"] for a in facts["accepted"]} == {_iana(s) for s in props.suites}
    # Selected, then abandoned: exactly the suites the server was built to fail on.
    assert {i["name"] for i in facts["incomplete"]} == {
        _iana(s) for s in props.incomplete_suites or []}
    if props.groups:
        tls13 = {g["name"].lower() for g in facts["groups"] if g["protocol"] == "TLSv1.3"}
        assert tls13 == {g.lower() for g in props.groups}
    if props.cert_keys:
        assert _key_kinds(facts) == {_claimed_kind(k) for k in props.cert_keys}


def _claimed_kind(key: str) -> str:
    return "sm2" if key.startswith("sm2") else "rsa" if key.startswith("rsa") else "ec"


def _key_kinds(facts: dict[str, Any]) -> set[str]:
    chains = [c["chain"] for c in facts["certificates"]]
    tls13 = facts.get("tls13_certificate") or {}
    chains += [r["chain"] for r in tls13.values() if r and "chain" in r]
    ends = [x for chain in chains for x in chain if not x.get("is_ca")]
    return {x["key"]["type"] for x in ends}


def test_tlcp_pair_and_ske_signature(lab: LabStatus) -> None:
    facts = _probe("198.18.20.31", 443, "tlcp.cloud.test")
    assert facts["personality"] == "tlcp-only"
    assert facts["tlcp_key_exchange"]["signature_valid"] is True
    pair = facts["certificates"][0]["tlcp_pair"]
    assert pair["ok"], pair
    assert facts["posture"] == {"key_exchange": ["sm2"], "authentication": ["sm2"]}


def test_rfc8998_certificate_is_sm2(lab: LabStatus) -> None:
    facts = _probe("198.18.20.32", 443, "sm13.cloud.test")
    sm = facts["tls13_certificate"]["sm"]
    assert (sm["suite_name"], sm["group_name"], sm["signature_scheme_name"]) == (
        "TLS_SM4_GCM_SM3", "curveSM2", "sm2sig_sm3")
    assert sm["signature_valid"] is True and sm["finished_valid"] is True
    assert sm["chain"][0]["key"]["type"] == "sm2"
    assert sm["chain"][0]["signature_algorithm"]["oid"] == "1.2.156.10197.1.501"


def test_fragile_dual_server_isolates_the_suite_that_kills_it(lab: LabStatus) -> None:
    """tjfoc drops the connection when it picks 0xE011 (no client certificate): the
    enumeration bisects the offer, records 0xE011 and still finds TLCP with 0xE013."""
    facts = _probe("198.18.20.33", 443, "gmdual.cloud.test")
    assert facts["personality"] == "dual"
    assert facts["rejected_abruptly"] == [
        {"protocol": "TLCPv1.1", "code": "0xE011", "name": "ECDHE_SM4_CBC_SM3"}]
    assert facts["tlcp_key_exchange"]["signature_valid"] is True
    assert not facts["tlcp_needs_bare_hello"]


def test_tongsuo_dual_server_selects_rsa_tlcp_suites_then_aborts(lab: LabStatus) -> None:
    """Tongsuo with an RSA certificate for TLS and an SM2 pair for TLCP picks RSA_SM4_*
    when a TLCP hello lists it first, sends an empty Certificate and internal_error(80): the
    enumeration records each such choice and still finds the GCM suites it completes."""
    host = MANIFEST.host("tongsuo")
    for address in (str(host.v4), str(host.v6)):
        facts = _probe(address, 8443, host.hostname)
        assert facts["personality"] == "dual"
        tlcp = {a["code"] for a in facts["accepted"] if a["protocol"] == "TLCPv1.1"}
        assert tlcp == {"0xE053", "0xE051", "0xE013", "0xE011"}
        assert facts["incomplete"] == [
            {"protocol": "TLCPv1.1", "code": "0xE019", "name": "RSA_SM4_CBC_SM3",
             "reason": "alert internal_error(80)"},
            {"protocol": "TLCPv1.1", "code": "0xE059", "name": "RSA_SM4_GCM_SM3",
             "reason": "alert internal_error(80)"}]
        assert facts["rejected_abruptly"] == [] and facts["errors"] == []
        assert facts["tlcp_key_exchange"]["signature_valid"] is True
        tlcp_chain = next(c for c in facts["certificates"] if c["protocol"] == "TLCPv1.1")
        assert tlcp_chain["tlcp_pair"]["ok"], tlcp_chain["tlcp_pair"]
        # Two more connections than the drain needs without them: one per abandoned suite.
        assert facts["connections_used"] < 45


def test_tongsuo_tlcp_server_with_gcm_suites(lab: LabStatus) -> None:
    host = MANIFEST.host("tongsuo")
    facts = _probe(str(host.v4), 443, host.hostname)
    assert facts["personality"] == "tlcp-only" and facts["versions"] == ["TLCPv1.1"]
    assert [a["code"] for a in facts["accepted"]] == ["0xE011", "0xE013", "0xE051", "0xE053"]
    assert facts["incomplete"] == [] and facts["rejected_abruptly"] == []
    assert facts["posture"] == {"key_exchange": ["sm2"], "authentication": ["sm2"]}


def test_gmssl_server_is_enumerated_with_the_bare_hello(lab: LabStatus) -> None:
    """GmSSL 3.1 refuses a TLCP hello with extensions (unexpected_message): the probe retries
    bare and enumerates it like any other TLCP server, behind the lab's relay that gives
    every connection a fresh one-shot tlcp_server."""
    host = MANIFEST.host("gmssl")
    for address in (str(host.v4), str(host.v6)):
        facts = _probe(address, 443, host.hostname)
        assert facts["personality"] == "tlcp-only" and facts["tlcp_needs_bare_hello"]
        assert [a["code"] for a in facts["accepted"]] == ["0xE013"]
        assert "TLCPv1.1: unexpected_message" in facts["alerts"]
        assert facts["tlcp_key_exchange"]["signature_valid"] is True
        assert facts["certificates"][0]["tlcp_pair"]["ok"]
        assert facts["incomplete"] == [] and facts["errors"] == []


def test_pqc_server_reports_hybrid_key_exchange(lab: LabStatus) -> None:
    facts = _probe("198.18.20.34", 443, "pqc.cloud.test")
    assert "pqc-hybrid" in facts["posture"]["key_exchange"]
    assert facts["posture"]["authentication"] == ["classical"]


def test_cli_json_shape(lab: LabStatus) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "sentinel.cli", "probe", "tls", "[2001:db8:10::10]:443",
         "--sni", "portal.test", "--json"],
        capture_output=True, text=True, timeout=120, check=True)
    doc = json.loads(out.stdout)
    assert doc["target"] == {"address": "2001:db8:10::10", "port": 443, "sni": "portal.test"}
    assert {"accepted", "versions", "groups", "certificates", "personality", "posture",
            "tls13_certificate", "server_preference"} <= set(doc)
    assert doc["personality"] == "tls-only"
    first = doc["accepted"][0]
    assert set(first) == {"protocol", "code", "name"} and first["code"].startswith("0x")
    leaf = doc["tls13_certificate"]["standard"]["chain"][0]
    assert len(leaf["sha256"]) == 64 and leaf["not_after"].endswith("Z")
