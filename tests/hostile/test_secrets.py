"""Issue #14 item 5: no secret in any output, log, traceback, document or report.

Seen on main: an SNMPv3 passphrase from an environment variable that is too short printed
(``b'...'``) five times in a traceback; a YAML error in the Elasticsearch config file printed
its ``api_key`` line; Elasticsearch error reasons printed verbatim, so a server echoing the
Authorization header leaked the key; an ES config file of mode 0644 was accepted though the
README requires 0600. Each test runs the command with a fresh random secret and then greps
everything the run produced — stdout, stderr, and every file under the test's folder (the
store and its WAL, the spool, the report folder, the data cache) — for the secret, its bytes
repr, and any 10-character piece of it.
"""

from __future__ import annotations

import base64
import http.server
import json
import secrets
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.hostile.runner import (
    assert_clean_error,
    assert_no_crash,
    assert_no_secret,
    clean_env,
    closed_port,
    loopback_playbook,
    populated_store,
    run,
)

pytestmark = pytest.mark.hostile


def _secret(length: int = 32) -> str:
    """A random secret that cannot occur by chance in ids or hashes (mixed case, a '!')."""
    return ("Sk!" + secrets.token_urlsafe(length))[:length]


def _short_secret() -> str:
    """Seven characters: one short of RFC 3414's minimum passphrase length."""
    return ("Q!" + secrets.token_urlsafe(8).replace("-", "x").replace("_", "y"))[:7]


@pytest.fixture
def udp_port() -> Iterator[int]:
    """A loopback UDP port with nobody answering (an SNMP agent that stays silent)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


# -- SNMPv3 passphrases ------------------------------------------------------------------------


@pytest.mark.parametrize("which", ["auth", "priv"])
def test_short_snmp_passphrase_from_environment_probe(tmp_path: Path, udp_port: int,
                                                      which: str) -> None:
    short = _short_secret()
    env = clean_env(tmp_path / "home",
                    HOSTILE_SNMP_AUTH=short if which == "auth" else _secret(),
                    HOSTILE_SNMP_PRIV=short if which == "priv" else _secret())
    result = run("probe", "snmp", f"127.0.0.1:{udp_port}", "--timeout", "0.5",
                 "--v3-user", "sentinel-ro", "--v3-auth-env", "HOSTILE_SNMP_AUTH",
                 "--v3-priv-env", "HOSTILE_SNMP_PRIV", env=env, timeout=60)
    assert_no_secret(short, result, tmp_path)
    assert_clean_error(result, 2, f"HOSTILE_SNMP_{which.upper()}")


def test_short_snmp_passphrase_from_environment_scan(tmp_path: Path, udp_port: int) -> None:
    """In a scan a credential that cannot be used is refused up front (exit 2) or recorded
    as unusable (the scan goes on); either way the passphrase is nowhere: not in the output,
    not in the store (an internal error's traceback is kept there), not in the cache."""
    short = _short_secret()
    book = tmp_path / "book.yml"
    book.write_text(loopback_playbook(probes=(
        f"{{tcp: null, snmp: {{port: {udp_port}, timeout_s: 0.5, v3: [{{user: sentinel-ro, "
        "auth_key_env: HOSTILE_SNMP_AUTH, priv_key_env: HOSTILE_SNMP_PRIV}]}}")),
        encoding="utf-8")
    env = clean_env(tmp_path / "home", HOSTILE_SNMP_AUTH=short, HOSTILE_SNMP_PRIV=_secret())
    result = run("scan", "--playbook", book, "--store", tmp_path / "store.db", env=env,
                 timeout=60)
    assert_no_crash(result)
    assert result.status in (0, 2), result.describe()
    findings = run("findings", "--all-results", "--json", "--store", tmp_path / "store.db",
                   env=env)
    assert_no_secret(short, result, tmp_path)
    assert_no_secret(short, findings)


def _credentials_book(tmp_path: Path, text: str, mode: int = 0o600) -> tuple[Path, Path]:
    credentials = tmp_path / "credentials.yml"
    credentials.write_text(text, encoding="utf-8")
    credentials.chmod(mode)
    book = tmp_path / "book.yml"
    book.write_text(loopback_playbook(probes=(
        f"{{tcp: null, snmp: {{port: 16161, credentials_file: '{credentials}'}}}}")),
        encoding="utf-8")
    return credentials, book


@pytest.mark.parametrize("case", ["short-passphrase", "yaml-error", "mode-0644",
                                  "unknown-field"])
def test_credentials_file_errors_hide_the_passphrase(tmp_path: Path, case: str) -> None:
    secret = _short_secret() if case == "short-passphrase" else _secret()
    text = {
        "short-passphrase": f"version: 1\nsnmp_v3:\n  - user: u1\n    auth_key: '{secret}'\n",
        "yaml-error": f'version: 1\nsnmp_v3:\n  - user: u1\n    auth_key: "{secret}\n',
        "mode-0644": f"version: 1\nsnmp_v3:\n  - user: u1\n    auth_key: '{secret}'\n",
        "unknown-field": f"version: 1\nsnmp_v3:\n  - user: u1\n    auth_kee: '{secret}'\n",
    }[case]
    credentials, book = _credentials_book(tmp_path, text,
                                          0o644 if case == "mode-0644" else 0o600)
    result = run("scan", "--playbook", book, "--dry-run", home=tmp_path / "home")
    assert_no_secret(secret, result, tmp_path / "home")
    assert_clean_error(result, 2, str(credentials))


# -- Elasticsearch -----------------------------------------------------------------------------


class _EchoingElasticsearch(http.server.BaseHTTPRequestHandler):
    """Answers every request 401 with a reason that quotes the Authorization header back."""

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        header = self.headers.get("Authorization")
        reason = f"unable to authenticate with provided credentials [{header}]"
        body = json.dumps({"error": {"type": "security_exception", "reason": reason,
                                     "root_cause": [{"type": "security_exception",
                                                     "reason": reason}]},
                           "status": 401}).encode()
        self.send_response(401)
        self.send_header("Content-Type", "application/json")
        self.send_header("X-Elastic-Product", "Elasticsearch")
        self.send_header("WWW-Authenticate", f"Basic realm=\"{header}\"")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _answer

    def log_message(self, *args: object) -> None:
        """Quiet."""


@pytest.fixture
def echoing_es() -> Iterator[str]:
    """The URL of a fake Elasticsearch on loopback that echoes credentials in its errors."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _EchoingElasticsearch)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


# The ES config file holds the key on purpose: the search for leaks skips its folder.
CONFIG_FOLDER = "config"


def _produced(tmp_path: Path) -> list[Path]:
    """Everything under the test's folder that a run produced (not the config file the test
    wrote, which holds the key by design)."""
    return [p for p in tmp_path.iterdir() if p.name != CONFIG_FOLDER]


def _es_config(tmp_path: Path, text: str, mode: int = 0o600) -> Path:
    config = tmp_path / CONFIG_FOLDER / "es.yml"
    config.parent.mkdir(exist_ok=True)
    config.write_text(text, encoding="utf-8")
    config.chmod(mode)
    return config


def _credentials_env(tmp_path: Path, source: str, url: str) -> tuple[dict[str, str], list[str]]:
    """(environment, the secrets to look for) for one way of giving ES credentials."""
    home = tmp_path / "home"
    if source == "env-api-key":
        key = _secret()
        return clean_env(home, SENTINEL_ES_API_KEY=key), [key]
    if source == "config-api-key":
        key = _secret()
        config = _es_config(tmp_path, f"url: {url}\napi_key: '{key}'\n")
        return clean_env(home, SENTINEL_ES_CONFIG=str(config)), [key]
    password = _secret()
    basic = base64.b64encode(f"sentinel:{password}".encode()).decode()
    return clean_env(home, SENTINEL_ES_USER="sentinel", SENTINEL_ES_PASSWORD=password), [
        password, basic]


SOURCES = ["env-api-key", "config-api-key", "env-basic-auth"]


@pytest.mark.parametrize("source", SOURCES)
def test_es_setup_error_does_not_echo_credentials(tmp_path: Path, echoing_es: str,
                                                  source: str) -> None:
    env, hidden = _credentials_env(tmp_path, source, echoing_es)
    result = run("es", "setup", "--es-url", echoing_es, env=env)
    for secret in hidden:
        assert_no_secret(secret, result, tmp_path / "home")
    assert_clean_error(result, 1)


@pytest.mark.parametrize("source", SOURCES)
def test_scan_streaming_to_es_does_not_echo_credentials(tmp_path: Path, echoing_es: str,
                                                        source: str) -> None:
    env, hidden = _credentials_env(tmp_path, source, echoing_es)
    env["SENTINEL_SPOOL"] = str(tmp_path / "spool")
    with closed_port() as port:
        book = tmp_path / "book.yml"
        book.write_text(loopback_playbook(probes=f"{{tcp: {{ports: [{port}]}}}}"),
                        encoding="utf-8")
        result = run("scan", "--playbook", book, "--es-url", echoing_es,
                     "--store", tmp_path / "store.db", env=env, timeout=60)
    for secret in hidden:
        assert_no_secret(secret, result, *_produced(tmp_path))
    assert_no_crash(result)
    assert len(result.messages) <= 1, result.describe()


@pytest.mark.parametrize("source", SOURCES)
def test_detect_on_es_does_not_echo_credentials(tmp_path: Path, echoing_es: str,
                                                source: str) -> None:
    env, hidden = _credentials_env(tmp_path, source, echoing_es)
    env["SENTINEL_SPOOL"] = str(tmp_path / "spool")
    store = populated_store(tmp_path / "populated")
    result = run("detect", "--es-url", echoing_es, "--store", store, env=env, timeout=60)
    for secret in hidden:
        assert_no_secret(secret, result, *_produced(tmp_path))
    assert_clean_error(result, 1)


def test_es_config_yaml_error_does_not_print_the_api_key(tmp_path: Path) -> None:
    key = _secret(24)
    with closed_port() as port:
        config = _es_config(tmp_path, f'url: http://127.0.0.1:{port}\napi_key: "{key}\n')
        result = run("es", "setup", env=clean_env(tmp_path / "home",
                                                   SENTINEL_ES_CONFIG=str(config)))
    assert_no_secret(key, result, tmp_path / "home")
    assert_clean_error(result, 2, str(config))


@pytest.mark.parametrize("case", ["unknown-field", "not-a-mapping", "wrong-type"])
def test_es_config_validation_errors_hide_values(tmp_path: Path, case: str) -> None:
    key = _secret()
    with closed_port() as port:
        text = {
            "unknown-field": f"url: http://127.0.0.1:{port}\napi_kee: '{key}'\n",
            "wrong-type": f"url: http://127.0.0.1:{port}\napi_key: ['{key}']\n",
            "not-a-mapping": f"- http://127.0.0.1:{port}\n- '{key}'\n",
        }[case]
        config = _es_config(tmp_path, text)
        result = run("es", "setup", env=clean_env(tmp_path / "home",
                                                   SENTINEL_ES_CONFIG=str(config)))
    assert_no_secret(key, result, tmp_path / "home")
    assert_clean_error(result, 2, str(config))


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604])
def test_es_config_readable_by_others_is_refused(tmp_path: Path, echoing_es: str,
                                                 mode: int) -> None:
    key = _secret()
    config = _es_config(tmp_path, f"url: {echoing_es}\napi_key: '{key}'\n", mode)
    result = run("es", "setup", env=clean_env(tmp_path / "home",
                                               SENTINEL_ES_CONFIG=str(config)))
    assert_no_secret(key, result, tmp_path / "home")
    assert_clean_error(result, 2, str(config))


def test_credentials_in_es_url_are_refused_and_not_echoed(tmp_path: Path) -> None:
    password = _secret()
    with closed_port() as port:
        result = run("es", "setup", "--es-url", f"http://sentinel:{password}@127.0.0.1:{port}",
                     home=tmp_path / "home")
    assert_no_secret(password, result, tmp_path / "home")
    assert_clean_error(result, 2)
