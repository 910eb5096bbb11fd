"""The snmp probe against the lab's Net-SNMP agents on both address families: which
communities and v3 levels answer is what the manifest says; IP-MIB shows the IPv6 address;
and a whole scan with v3 credentials, from the environment or from a credentials file, leaves
the passphrases nowhere (store, logs at DEBUG, report, error texts)."""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from sentinel.credentials import CREDENTIALS_ENV, snmp_credentials
from sentinel.lab import LabStatus
from sentinel.lab.manifest import Host, Service, ServiceKind
from sentinel.lab.playbook import SNMP_AUTH_ENV, SNMP_PRIV_ENV
from sentinel.playbook import RateLimits
from sentinel.probe_options import SnmpProbeConfig, SnmpV3Credential, resolve_v3
from sentinel.probes.base import Network
from sentinel.probes.snmp import SnmpProbe, probe_snmp
from sentinel.scope import Gate, ScopePolicy
from tests.lab.clients import MANIFEST, endpoint_id, endpoint_params

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
{snmp}
"""
ENV_USERS = """\
    v3: [{{user: {user}, auth_protocol: {auth}, auth_key_env: {auth_env},
          priv_protocol: {priv}, priv_key_env: {priv_env}}}]"""
CREDENTIALS = """\
version: 1
snmp_v3:
  - {{user: {user}, auth_protocol: {auth}, auth_key: "{auth_key}", priv_protocol: {priv},
     priv_key: "{priv_key}"}}
"""


def _credentials_file(folder: Path, secrets: tuple[str, str]) -> Path:
    """The lab user in a credentials file that only its owner can read."""
    props = _v3_service().properties
    path = folder / "credentials.yml"
    path.touch(mode=0o600)
    path.write_text(CREDENTIALS.format(user=props.v3_user, auth=props.v3_auth,
                                       priv=props.v3_priv, auth_key=secrets[0],
                                       priv_key=secrets[1]), encoding="utf-8")
    return path


def _sentinel(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([sys.executable, "-m", "sentinel.cli", *args], env=env,
                          capture_output=True, text=True, timeout=180, check=False)
    assert done.returncode == 0, done.stderr
    return done


def _playbook(folder: Path, source: str, credentials: Path) -> Path:
    props = _v3_service().properties
    hosts = [str(a) for h in MANIFEST.hosts for s in h.services if s.kind is ServiceKind.SNMPD
             for a in (h.v4, h.v6) if a is not None]
    snmp = {"env": ENV_USERS.format(user=props.v3_user, auth=props.v3_auth, priv=props.v3_priv,
                                    auth_env=SNMP_AUTH_ENV, priv_env=SNMP_PRIV_ENV),
            "playbook-file": f"    credentials_file: {credentials}",
            "env-file": "    v3: []"}[source]
    playbook = folder / "snmp.yml"
    playbook.write_text(PLAYBOOK.format(hosts=", ".join(f'"{a}"' for a in hosts), snmp=snmp),
                        encoding="utf-8")
    return playbook


@pytest.mark.parametrize("source", ["env", "playbook-file", "env-file"])
def test_scan_with_v3_credentials_leaks_no_secret(lab: LabStatus, lab_secrets: tuple[str, str],
                                                  tmp_path: Path, source: str) -> None:
    secrets_dir = tmp_path / "secrets"
    secrets_dir.mkdir()
    credentials = _credentials_file(secrets_dir, lab_secrets)
    playbook = _playbook(tmp_path, source, credentials)
    store = tmp_path / "store"
    env = {**os.environ, "SENTINEL_STORE": str(store / "sentinel.db"),
           "SENTINEL_LOG_LEVEL": "DEBUG"}
    if source != "env":  # the passphrases reach Sentinel through the file alone
        env.pop(SNMP_AUTH_ENV), env.pop(SNMP_PRIV_ENV)
    if source == "env-file":
        env[CREDENTIALS_ENV] = str(credentials)
    outputs = [_sentinel(["scan", "--playbook", str(playbook)], env),
               _sentinel(["findings", "--json"], env),
               _sentinel(["report", "--all", "--format", "html", "--out",
                          str(tmp_path / "reports")], env)]
    findings = outputs[1].stdout  # failed findings only
    assert "SNMP-COMMUNITY-DEFAULT" in findings
    v3_host = next(h for h in MANIFEST.hosts if any(s.properties.v3_user for s in h.services))
    assert v3_host.hostname in findings  # sysName: the v3 agent was read with the credentials
    files = [p for p in tmp_path.rglob("*")
             if p.is_file() and p not in (playbook, credentials)]
    assert any(p.suffix == ".html" for p in files)
    for secret in lab_secrets:
        for done in outputs:
            assert secret not in done.stdout and secret not in done.stderr
        for path in files:
            assert secret.encode() not in path.read_bytes(), path


def test_a_readable_credentials_file_stops_the_scan(lab: LabStatus, lab_secrets: tuple[str, str],
                                                    tmp_path: Path) -> None:
    credentials = _credentials_file(tmp_path, lab_secrets)
    credentials.chmod(0o644)
    playbook = _playbook(tmp_path, "playbook-file", credentials)
    env = {**os.environ, "SENTINEL_STORE": str(tmp_path / "sentinel.db")}
    done = subprocess.run([sys.executable, "-m", "sentinel.cli", "scan", "--playbook",
                           str(playbook)], env=env, capture_output=True, text=True, timeout=60,
                          check=False)
    assert done.returncode == 2, done.stderr
    assert f"{credentials}: credentials file has mode 0644" in done.stderr
    assert not any(secret in done.stderr + done.stdout for secret in lab_secrets)


@pytest.mark.parametrize(("host", "service", "address"),
                         [p for p in SNMP_ENDPOINTS if "v3" in (p[1].properties.snmp_versions
                                                                or [])], ids=endpoint_id)
def test_file_credentials_in_process_log_nothing_secret(
        lab: LabStatus, lab_secrets: tuple[str, str], tmp_path: Path,
        caplog: pytest.LogCaptureFixture, host: Host, service: Service, address: str) -> None:
    credentials = _credentials_file(tmp_path, lab_secrets)
    wrong = tmp_path / "wrong.yml"
    wrong.touch(mode=0o600)
    wrong.write_text(credentials.read_text(encoding="utf-8").replace(
        lab_secrets[0], "not-the-lab-passphrase"), encoding="utf-8")
    with caplog.at_level(logging.DEBUG):  # every logger, pysnmp's included, at DEBUG
        good = _probe(address, service.port, SnmpProbe(timeout=1.0, credentials=snmp_credentials(
            SnmpProbeConfig(credentials_file=str(credentials)))))
        bad = _probe(address, service.port, SnmpProbe(timeout=1.0, credentials=snmp_credentials(
            SnmpProbeConfig(credentials_file=str(wrong)))))
        logging.getLogger("sentinel").debug("facts %r %r", good, bad)
    assert good["access"] == "v3 authPriv" and good["system"]["sysName"] == host.hostname
    (user,) = bad["v3_users"]
    assert user["accepted"] == [] and user["levels"]["authPriv"] != "accepted"
    shown = caplog.text + repr(good) + repr(bad)
    assert caplog.records
    for secret in lab_secrets:
        assert secret not in shown
