"""SNMPv3 credentials files: private mode or refused, located errors, no value ever shown."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from sentinel.credentials import CREDENTIALS_ENV, snmp_credentials
from sentinel.errors import PlaybookError
from sentinel.probe_options import SnmpProbeConfig, SnmpV3Credential

AUTH = "file-auth-passphrase-7"
PRIV = "file-priv-passphrase-9"
GOOD = f"""\
version: 1
snmp_v3:
  - user: ro
    auth_protocol: SHA-512
    auth_key: "{AUTH}"
    priv_protocol: AES-256
    priv_key: "{PRIV}"
  - user: authonly
    auth_key: "{AUTH}"
"""


def _write(tmp_path: Path, text: str, mode: int = 0o600) -> Path:
    path = tmp_path / "credentials.yml"
    path.write_text(text, encoding="utf-8")
    path.chmod(mode)
    return path


def _refused(config: SnmpProbeConfig) -> PlaybookError:
    with pytest.raises(PlaybookError) as caught:
        snmp_credentials(config)
    for secret in (AUTH, PRIV):
        assert secret not in str(caught.value) and secret not in repr(caught.value)
    return caught.value


def test_file_users_resolve_to_masked_secrets(tmp_path: Path) -> None:
    path = _write(tmp_path, GOOD)
    ro, authonly = snmp_credentials(SnmpProbeConfig(credentials_file=str(path)))
    assert (ro.user, ro.level, ro.auth_protocol, ro.priv_protocol) == (
        "ro", "authPriv", "SHA-512", "AES-256")
    assert ro.auth_key is not None and ro.auth_key.get_secret_value() == AUTH
    assert ro.priv_key is not None and ro.priv_key.get_secret_value() == PRIV
    assert (authonly.level, authonly.priv_protocol) == ("authNoPriv", None)
    for text in (repr(ro), str(ro.auth_key), repr(ro.priv_key)):
        assert AUTH not in text and PRIV not in text


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660])
def test_a_file_others_can_read_is_refused(tmp_path: Path, mode: int) -> None:
    path = _write(tmp_path, GOOD, mode)
    error = _refused(SnmpProbeConfig(credentials_file=str(path)))
    assert f"mode {mode:04o}" in str(error) and "chmod 600" in str(error)
    assert error.location is not None and error.location.file == str(path)


def test_stricter_modes_are_accepted(tmp_path: Path) -> None:
    path = _write(tmp_path, GOOD, 0o400)
    assert len(snmp_credentials(SnmpProbeConfig(credentials_file=str(path)))) == 2


def test_environment_names_the_file_when_the_playbook_does_not(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _write(tmp_path, GOOD)
    monkeypatch.setenv(CREDENTIALS_ENV, str(path))
    assert [c.user for c in snmp_credentials(SnmpProbeConfig())] == ["ro", "authonly"]
    (tmp_path / "playbook").mkdir()
    other = _write(tmp_path / "playbook", "version: 1\nsnmp_v3: [{user: mine}]\n")
    config = SnmpProbeConfig(credentials_file=str(other))
    assert [c.user for c in snmp_credentials(config)] == ["mine"]  # the playbook wins


@pytest.mark.parametrize(("text", "line", "field", "message"), [
    (GOOD.replace("    priv_protocol: AES-256\n", "    priv_protocol: AES-256\n    pin: 1\n"),
     7, "snmp_v3.0.pin", "unknown field 'pin'"),
    (GOOD.replace(f'auth_key: "{AUTH}"\n    priv', 'auth_key: "short"\n    priv'),
     5, "snmp_v3.0.auth_key", "at least 8"),
    (GOOD.replace("auth_protocol: SHA-512", "auth_protocol: SHA-999"),
     4, "snmp_v3.0.auth_protocol", "Input should be"),
    (GOOD.replace(f'  - user: authonly\n    auth_key: "{AUTH}"\n',
                  f'  - user: privonly\n    priv_key: "{PRIV}"\n'),
     8, "snmp_v3.1", "privacy needs authentication"),
    (GOOD.replace("version: 1", "version: 2"), 1, "version", "Input should be"),
    (GOOD + "  - user: ro\n", 10, "snmp_v3.2.user", "user 'ro' is also in this file"),
    (GOOD.replace(f'    auth_key: "{AUTH}"\n', f'    auth_key: "{AUTH}"\n    auth_key: x\n', 1),
     6, "auth_key", "duplicate key"),
])
def test_errors_name_file_line_and_field_but_no_value(tmp_path: Path, text: str, line: int,
                                                       field: str, message: str) -> None:
    path = _write(tmp_path, text)
    error = _refused(SnmpProbeConfig(credentials_file=str(path)))
    assert error.location is not None
    assert (error.location.file, error.location.line, error.location.field) == (
        str(path), line, field)
    assert message in error.message


def test_a_passphrase_of_the_wrong_type_is_not_echoed(tmp_path: Path) -> None:
    path = _write(tmp_path, "version: 1\nsnmp_v3: [{user: u, auth_key: 987654321987}]\n")
    error = _refused(SnmpProbeConfig(credentials_file=str(path)))
    assert "987654321987" not in str(error)


def test_missing_file_and_user_in_both_sources(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    error = _refused(SnmpProbeConfig(credentials_file=str(tmp_path / "none.yml")))
    assert "cannot read credentials file" in str(error)
    monkeypatch.setenv("T_AUTH_ENV", AUTH)
    path = _write(tmp_path, GOOD)
    both = SnmpProbeConfig(credentials_file=str(path), v3=(
        SnmpV3Credential(user="ro", auth_key_env="T_AUTH_ENV", priv_key_env=None),))
    assert "also in the playbook" in str(_refused(both))


def test_debug_logging_of_a_load_shows_no_secret(tmp_path: Path,
                                                 caplog: pytest.LogCaptureFixture) -> None:
    path = _write(tmp_path, GOOD)
    with caplog.at_level(logging.DEBUG):
        resolved = snmp_credentials(SnmpProbeConfig(credentials_file=str(path)))
        logging.getLogger("sentinel.test").debug("resolved %r %s", resolved, resolved[0].auth_key)
    assert caplog.records and AUTH not in caplog.text and PRIV not in caplog.text
