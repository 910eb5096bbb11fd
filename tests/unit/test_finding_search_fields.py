"""What an analyst filters on in Elasticsearch: a finding's evidence fills ECS ``tls.*`` and
``sentinel.indexed.*``; ``network.protocol`` is the application protocol, ``network.transport``
the transport (ECS). No cluster: the documents as the sink sends them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sentinel.model import (
    Asset,
    Context,
    Endpoint,
    Evaluation,
    Finding,
    Text,
    finding_to_ecs,
)
from sentinel.severity import Severity


def _doc(check: str, probe: str, protocol: str | None, evidence: dict[str, Any],
         port: int = 443) -> dict[str, Any]:
    return finding_to_ecs(Finding(
        check_id=check, title=Text(zh="检查", en="check"), evaluation=Evaluation.FAILED,
        severity=Severity.MEDIUM, context=Context(scan_id="s", agency_id="a", segment_id="g"),
        asset=Asset(id="h", addresses=("198.18.0.5",)),
        endpoint=Endpoint(address="198.18.0.5", port=port), protocol=protocol, probe=probe,
        evidence=evidence, observed_at=datetime(2026, 3, 2, tzinfo=UTC)))


def test_tls_evidence_fills_ecs_tls_and_the_indexed_fields() -> None:
    doc = _doc("TLS-PROTO-10", "tls", "tls", {"versions": ["TLSv1.0", "TLSv1.2", "TLCPv1.1"]})
    assert doc["tls"] == {"version": ["1.0", "1.1", "1.2"], "version_protocol": ["tlcp", "tls"]}
    assert doc["sentinel"]["indexed"] == {"tls_version": ["TLSv1.0", "TLSv1.2", "TLCPv1.1"]}
    assert doc["network"] == {"type": "ipv4", "transport": "tcp", "protocol": "tls"}
    suites = _doc("TLS-CIPHER-CBC", "tls", "tls", {"suites": ["TLS_RSA_WITH_AES_128_CBC_SHA"]})
    assert suites["tls"]["cipher"] == ["TLS_RSA_WITH_AES_128_CBC_SHA"]
    key = _doc("TLS-KEY-RSA", "tls", "tls", {"rsa_bits": [1024]})
    assert key["tls"]["server"]["x509"] == {"public_key_size": [1024],
                                            "public_key_algorithm": ["RSA"]}
    sig = _doc("TLS-CERT-HASH", "tls", "tls", {"weak_signatures": ["CN=a: sha1WithRSAEncryption"]})
    assert sig["tls"]["server"]["x509"]["signature_algorithm"] == ["sha1WithRSAEncryption"]
    assert _doc("TLS-PROTO-SSL", "tls", "tls", {"versions": ["SSLv3"]})["tls"]["version"] == ["3.0"]


def test_snmp_community_is_indexed_by_name_only() -> None:
    doc = _doc("SNMP-COMMUNITY-DEFAULT", "snmp", "snmp", {"communities": [
        {"community": "public", "versions": ["v2c"], "default": True}, "junk", {"x": 1}]}, 161)
    assert doc["sentinel"]["indexed"] == {"snmp_community": ["public"]}
    assert doc["network"]["protocol"] == "snmp"
    assert "tls" not in doc


def test_ssh_algorithms_by_kind_and_host_key_sizes() -> None:
    doc = _doc("SSH-WEAK", "ssh", "ssh", {
        "broken": {"kex": ["diffie-hellman-group1-sha1"], "mac": ["hmac-md5"]},
        "weak": {"cipher": ["aes128-cbc"], "kex": ["diffie-hellman-group1-sha1"]}}, 22)
    assert doc["sentinel"]["indexed"]["ssh"] == {
        "kex": ["diffie-hellman-group1-sha1"], "mac": ["hmac-md5"], "cipher": ["aes128-cbc"]}
    keys = _doc("SSH-HOSTKEY-WEAK", "ssh", "ssh", {"host_keys": [
        {"algorithm": "ssh-rsa", "type": "rsa", "bits": 1024}]}, 22)
    assert keys["sentinel"]["indexed"] == {"key_size": [1024], "ssh": {"host_key": ["ssh-rsa"]}}


def test_exposure_transport_and_service_protocol() -> None:
    doc = _doc("EXP-SVC-NOTALLOWED", "tcp", "tcp", {"service": "Telnet"}, 23)
    assert doc["network"] == {"type": "ipv4", "transport": "tcp", "protocol": "telnet"}
    assert doc["service"] == {"name": "Telnet"}
    assert "indexed" not in doc["sentinel"]


def test_ipv6_score_is_a_number() -> None:
    doc = _doc("V6-SCORE", "site", "http", {"score": 62.5, "components": {"aaaa": 1.0}})
    assert doc["sentinel"]["indexed"] == {"score": 62.5}
    assert "score" not in _doc("V6-SCORE", "site", "http", {"score": True})["sentinel"].get(
        "indexed", {})


def test_hostile_evidence_is_bounded() -> None:
    doc = _doc("TLS-CIPHER-CBC", "tls", "tls", {
        "suites": [f"S{n}" + "x" * 5000 for n in range(10_000)],
        "rsa_bits": [True, -1, 1 << 40, "2048", 2048], "versions": "TLSvX"})
    indexed = doc["sentinel"]["indexed"]
    assert len(indexed["cipher"]) == 64 and max(map(len, indexed["cipher"])) == 256
    assert indexed["key_size"] == [2048]
    assert "version" not in doc["tls"]  # "TLSvX" names no version number ECS can hold
