"""The snmp probe against the lab's Net-SNMP agents on both address families: which
communities and v3 levels answer is what the manifest says; IP-MIB shows the IPv6 address;
and a whole scan with v3 credentials leaves the passphrases nowhere (store, logs, report)."""

from __future__ import annotations

import asyncio
import ipaddress
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from sentinel.lab import LabStatus
from sentinel.lab.manifest import Host, Service, ServiceKind
from sentinel.lab.playbook import SNMP_AUTH_ENV, SNMP_PRIV_ENV
from sentinel.playbook import RateLimits
from sentinel.probe_options import SnmpV3Credential, resolve_v3
from sentinel.probes.base import Network
from sentinel.probes.snmp import SnmpProbe, probe_snmp
from sentinel.scope import Gate, ScopePolicy

from .clients import MANIFEST, endpoint_id, endpoint_params

pytestmark = pytest.mark.lab
SNMP_ENDPOINTS = endpoint_params({ServiceKind.SNMPD})


def _v3_service() -> Service:
    return next(s for h in MANIFEST.hosts for s in h.services if s.properties.v3_user)


@pytest.fixture
def lab_secrets(monkeypatch: pytest.MonkeyPatch) -> tuple[str, str]:
    """The lab's v3 passphrases, handed over the way an operator would: environment."""
    props = _v3_service().properties
    assert props.v3_auth_pass and props.v3_priv_pass
    monkeypatch.setenv(SNMP_AUTH_ENV, props.v3_auth_pass)
    monkeypatch.setenv(SNMP_PRIV_ENV, props.v3_priv_pass)
    return props.v3_auth_pass, props.v3_priv_pass


def _options(auth_env: str = SNMP_AUTH_ENV) -> SnmpProbe:
    props = _v3_service().properties
    credential = SnmpV3Credential(user=props.v3_user or "", auth_protocol=props.v3_auth,
                                  auth_key_env=auth_env, priv_protocol=props.v3_priv,
                                  priv_key_env=SNMP_PRIV_ENV)
    return SnmpProbe(timeout=1.0, credentials=resolve_v3((credential,)))


def _probe(address: str, port: int, options: SnmpProbe) -> dict[str, Any]:
    policy = ScopePolicy(authorised=(ipaddress.ip_network("198.18.0.0/15"),
                                     ipaddress.ip_network("2001:db8::/32")))
    network = Network(Gate(policy, RateLimits()), connect_timeout=5.0)
    return asyncio.run(probe_snmp(network, address, port, options))


@pytest.mark.parametrize(("host", "service", "address"), SNMP_ENDPOINTS, ids=endpoint_id)
def test_versions_communities_and_system(lab: LabStatus, lab_secrets: tuple[str, str],
                                         host: Host, service: Service, address: str) -> None:
    props = service.properties
    versions = set(props.snmp_versions or [])
    facts = _probe(address, service.port, _options())
    assert facts["engine"] and facts["engine"]["enterprise"] == 8072  # net-snmp
    answered = {c["community"]: c for c in facts["communities"]}
    if versions & {"v1", "v2c"}:
        assert set(answered) == {props.community}
        assert set(answered[props.community or ""]["versions"]) == versions & {"v1", "v2c"}
        assert answered[props.community or ""]["default"]
    else:
        assert answered == {}, "a v3-only agent must not answer any community"
    (user,) = facts["v3_users"]
    if "v3" in versions:
        assert user["accepted"] == ["authPriv"], user
        assert facts["access"] == "v3 authPriv"
    else:
        assert user["accepted"] == []
    assert facts["system"]["sysName"] == host.hostname
    assert facts["system"]["sysDescr"] == "Sentinel lab managed device"


@pytest.mark.parametrize(("host", "service", "address"),
                         [p for p in SNMP_ENDPOINTS if p[1].properties.ip_mib_ipv6],
                         ids=endpoint_id)
def test_ip_mib_shows_the_ipv6_address(lab: LabStatus, lab_secrets: tuple[str, str],
                                       host: Host, service: Service, address: str) -> None:
    facts = _probe(address, service.port, _options())
    ipv6 = facts["ipv6"]
    assert ipv6["ip_mib"] and ipv6["walk_error"] is None
    assert str(host.v6) in ipv6["global_ipv6"]
    assert str(host.v4) in {a["address"] for a in ipv6["addresses"]}
    assert ipv6["ipv6_forwarding"] in ("forwarding", "notForwarding")


@pytest.mark.parametrize(("host", "service", "address"),
                         [p for p in SNMP_ENDPOINTS if "v3" in (p[1].properties.snmp_versions
                                                                or [])], ids=endpoint_id)
def test_wrong_passphrase_is_refused(lab: LabStatus, lab_secrets: tuple[str, str],
                                     monkeypatch: pytest.MonkeyPatch, host: Host,
                                     service: Service, address: str) -> None:
    monkeypatch.setenv("SENTINEL_TEST_WRONG_AUTH", "not-the-lab-passphrase")
    facts = _probe(address, service.port, _options("SENTINEL_TEST_WRONG_AUTH"))
    (user,) = facts["v3_users"]
    assert user["accepted"] == [] and user["levels"]["authPriv"] != "accepted"
    assert facts["system"] is None  # no access at all: no community, no valid user


PLAYBOOK = """\
name: snmp-secrets
agencies: [{{id: noc, name: {{zh: 网络运维中心, en: NOC}}}}]
scope: {{authorised: ["198.18.30.0/24", "2001:db8:30::/64"]}}
segments:
  - {{id: mgmt, agency: noc, cidrs: ["198.18.30.0/24", "2001:db8:30::/64"], zone: management,
     hosts: [{hosts}]}}
rate: {{packets_per_second: 200, probe_timeout_s: 4}}
probes:
  tcp: null
  snmp:
    v3: [{{user: {user}, auth_protocol: {auth}, auth_key_env: {auth_env},
          priv_protocol: {priv}, priv_key_env: {priv_env}}}]
"""


def _sentinel(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([sys.executable, "-m", "sentinel.cli", *args], env=env,
                          capture_output=True, text=True, timeout=180, check=False)
    assert done.returncode == 0, done.stderr
    return done


def test_scan_with_v3_credentials_leaks_no_secret(lab: LabStatus, lab_secrets: tuple[str, str],
                                                  tmp_path: Path) -> None:
    props = _v3_service().properties
    hosts = [str(a) for h in MANIFEST.hosts for s in h.services if s.kind is ServiceKind.SNMPD
             for a in (h.v4, h.v6) if a is not None]
    playbook = tmp_path / "snmp.yml"
    playbook.write_text(PLAYBOOK.format(hosts=", ".join(f'"{a}"' for a in hosts),
                                        user=props.v3_user, auth=props.v3_auth,
                                        priv=props.v3_priv, auth_env=SNMP_AUTH_ENV,
                                        priv_env=SNMP_PRIV_ENV), encoding="utf-8")
    store = tmp_path / "store"
    env = {**os.environ, "SENTINEL_STORE": str(store / "sentinel.db"),
           "SENTINEL_LOG_LEVEL": "DEBUG"}
    outputs = [_sentinel(["scan", "--playbook", str(playbook)], env),
               _sentinel(["findings", "--json"], env),
               _sentinel(["report", "--all", "--format", "html", "--out",
                          str(tmp_path / "reports")], env)]
    findings = outputs[1].stdout  # failed findings only
    assert "SNMP-COMMUNITY-DEFAULT" in findings
    v3_host = next(h for h in MANIFEST.hosts if any(s.properties.v3_user for s in h.services))
    assert v3_host.hostname in findings  # sysName: the v3 agent was read with the credentials
    files = [p for p in tmp_path.rglob("*") if p.is_file() and p != playbook]
    assert any(p.suffix == ".html" for p in files)
    for secret in lab_secrets:
        for done in outputs:
            assert secret not in done.stdout and secret not in done.stderr
        for path in files:
            assert secret.encode() not in path.read_bytes(), path
