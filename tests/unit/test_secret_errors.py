"""Issue #14 item 5 and item 4 at the unit level: errors name where, never a secret; the nmap
XML reader is bounded. (The end-to-end runs are in tests/hostile.)"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from sentinel.errors import InputError, PlaybookError
from sentinel.probe_options import SnmpV3Credential, resolve_v3
from sentinel.probes.nmap_scan import MAX_XML_DEPTH, load_nmap_xml, parse_nmap_xml
from sentinel.scan.engine import internal_detail, scrubbed_traceback
from sentinel.store.elastic_config import load_config
from sentinel.yamlio import load_yaml

SECRET = "Sk!unit-secret-passphrase-9"


@pytest.mark.parametrize("value", ["Sk!1234", "S" * 257])
def test_a_passphrase_of_the_wrong_length_names_the_variable_only(
        monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("T_SHORT_AUTH", value)
    credential = SnmpV3Credential(user="u", auth_key_env="T_SHORT_AUTH")
    with pytest.raises(PlaybookError) as caught:
        resolve_v3((credential,))
    assert "T_SHORT_AUTH" in str(caught.value) and value[:6] not in str(caught.value)
    (lenient,) = resolve_v3((credential,), strict=False)  # a scan: unusable, and says why
    assert lenient.auth_key is None and lenient.missing and value[:6] not in lenient.missing


def test_an_internal_error_keeps_frames_and_types_but_no_message() -> None:
    def handle(passphrase: bytes) -> None:
        try:
            {}[passphrase]
        except KeyError as exc:
            raise ValueError(f"bad passphrase {passphrase!r}") from exc

    try:
        handle(SECRET.encode())
    except ValueError as exc:
        trace, detail = scrubbed_traceback(exc), internal_detail(exc)
    assert "in handle" in trace and "KeyError" in trace and "ValueError" in trace
    assert "direct cause" in trace
    assert "ValueError" in detail
    for text in (trace, detail):
        assert SECRET not in text and SECRET[:10] not in text


def _es_file(tmp_path: Path, text: str, mode: int = 0o600) -> dict[str, str]:
    config = tmp_path / "es.yml"
    config.write_text(text, encoding="utf-8")
    config.chmod(mode)
    return {"SENTINEL_ES_CONFIG": str(config)}


@pytest.mark.parametrize(("text", "mode", "says"), [
    (f"api_key: '{SECRET}'\n", 0o644, "mode 0644"),
    (f'api_key: "{SECRET}\n', 0o600, "not valid YAML"),
    (f"api_kee: '{SECRET}'\n", 0o600, "unknown field 'api_kee'"),
    (f"{SECRET}: x\n", 0o600, "unknown field (name not shown)"),
    (f"api_key: abcdefgh\nuser: ['{SECRET}']\n", 0o600, "user: Input should be a valid"),
    (f"api_key: !!binary '{SECRET}'\n", 0o600, "not a valid binary value"),
])
def test_es_config_errors_name_the_file_never_a_value(tmp_path: Path, text: str, mode: int,
                                                      says: str) -> None:
    environ = _es_file(tmp_path, text, mode)
    with pytest.raises(InputError) as caught:
        load_config(environ=environ)
    message = str(caught.value)
    assert environ["SENTINEL_ES_CONFIG"] in message and says in message
    assert SECRET not in message and SECRET[:10] not in message


def test_a_private_es_config_still_loads(tmp_path: Path) -> None:
    config = load_config(environ=_es_file(tmp_path, f"api_key: '{SECRET}'\n"))
    assert config.api_key is not None and config.api_key.get_secret_value() == SECRET


def test_a_bad_scalar_is_a_located_error(tmp_path: Path) -> None:
    path = tmp_path / "x.yml"
    path.write_text("a: 1\nwhen: 2020-13-45\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"x.yml:2:7: not a valid timestamp value"):
        load_yaml(path)


def test_nmap_xml_is_bounded(tmp_path: Path) -> None:
    deep = "<nmaprun>" + "<a>" * (MAX_XML_DEPTH + 1) + "</a>" * (MAX_XML_DEPTH + 1) + "</nmaprun>"
    with pytest.raises(InputError, match="nested more than"):
        parse_nmap_xml(deep)
    bad = ('<nmaprun><host><address addr="10.0.0.300" addrtype="ipv4"/></host></nmaprun>')
    with pytest.raises(InputError, match=r"host 1: address '10.0.0.300' is not an IP address"):
        parse_nmap_xml(bad)
    fifo = tmp_path / "scan.xml"
    os.mkfifo(fifo)
    with pytest.raises(InputError, match=rf"{fifo}: not a regular file"):
        load_nmap_xml(fifo)  # refused on the open descriptor: no blocking on the FIFO
    xml = tmp_path / "ok.xml"
    xml.write_text('<nmaprun><host><address addr="10.0.0.1" addrtype="ipv4"/></host>'
                   '<host><address addr="10.0.0.1" addrtype="ipv4"/><status state="up"/>'
                   "</host></nmaprun>", encoding="utf-8")
    report = load_nmap_xml(xml)
    assert list(report.hosts) == ["10.0.0.1"] and report.hosts["10.0.0.1"].state == "up"
    assert len(report.sha256) == 64
