"""SNMPv3 credentials come from the environment and never show in a repr or an error."""

from __future__ import annotations

import pytest

from sentinel.errors import PlaybookError
from sentinel.playbook import Playbook
from sentinel.probe_options import SnmpV3Credential, resolve_v3
from sentinel.scan.plan import asset_plans, probes_for

SECRET = "very-secret-passphrase-42"


def test_passphrases_are_read_from_the_environment_and_masked(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("T_AUTH", SECRET)
    monkeypatch.setenv("T_PRIV", SECRET + "-priv")
    (resolved,) = resolve_v3((SnmpV3Credential(user="u", auth_key_env="T_AUTH",
                                               priv_key_env="T_PRIV"),))
    assert resolved.level == "authPriv"
    assert resolved.auth_key is not None and resolved.auth_key.get_secret_value() == SECRET
    assert SECRET not in repr(resolved) and SECRET not in str(resolved.auth_key)


def test_missing_variable_names_the_field_not_a_value(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("T_MISSING", raising=False)
    credential = SnmpV3Credential(user="u", auth_key_env="T_MISSING")
    with pytest.raises(PlaybookError, match=r"probes.snmp.v3\[0\].auth_key_env.*T_MISSING"):
        resolve_v3((credential,))
    (lenient,) = resolve_v3((credential,), strict=False)
    assert lenient.auth_key is None and lenient.missing and "T_MISSING" in lenient.missing


def test_planned_snmp_probe_is_udp_and_its_repr_holds_no_secret(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("T_AUTH", SECRET)
    playbook = Playbook.model_validate({
        "name": "p", "agencies": [{"id": "a", "name": {"zh": "甲", "en": "A"}}],
        "scope": {"authorised": ["198.18.0.0/15"]},
        "segments": [{"id": "s", "agency": "a", "cidrs": ["198.18.30.0/24"],
                      "hosts": ["198.18.30.162"], "zone": "management"}],
        "probes": {"tcp": None, "ssh": {}, "snmp": {"v3": [
            {"user": "u", "auth_key_env": "T_AUTH", "priv_key_env": None}]}}})
    kinds = {probe.kind: (probe, ports) for probe, ports in probes_for(playbook)}
    assert kinds["ssh"][1] == (22,) and kinds["snmp"][1] == (161,)
    (plan,) = asset_plans(playbook, "scan-1")
    transports = {job.probe.kind: job.target.endpoint.transport for job in plan.jobs}
    assert transports == {"ssh": "tcp", "snmp": "udp"}
    assert SECRET not in repr(kinds["snmp"][0])
