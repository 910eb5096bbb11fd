"""Issue #14 item 6: external text is printed as text, on any terminal.

A ``[/]`` in a playbook value, a target or an algorithm name offered by a hostile SSH server
crashed commands through rich markup (hiding the real error), and ``[bold]x[/bold]`` was
silently printed as ``x``. Every external string must come out literally: playbook values
and keys, file names, targets, flags, SSH banners and algorithm names (valid and invalid),
Elasticsearch error reasons, Sigma rule errors. Output to a terminal that is not UTF-8
(``PYTHONIOENCODING=ascii`` or ``latin-1``, ``LANG=C``) must not crash either, though the
findings and reports are Chinese.

The SSH server is a socket on 127.0.0.1 that sends its identification and a KEXINIT built
by hand (RFC 4253 sections 4.2, 6 and 7.1).
"""

from __future__ import annotations

import contextlib
import http.server
import json
import os
import struct
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from tests.hostile.runner import (
    assert_clean_error,
    assert_no_crash,
    clean_env,
    loopback_playbook,
    populated_store,
    run,
)
from tests.support.loopback import ThreadedServer, sends

pytestmark = pytest.mark.hostile

MARKUP = ["[/]", "[bold]x[/bold]", "[link=file:///etc/passwd]click[/link]", "[red]"]
EVIL = "[/]evil[bold]"


# -- a hostile SSH server (RFC 4253) -------------------------------------------------------


def name_list(names: Sequence[str]) -> bytes:
    """RFC 4251 section 5: uint32 length, then the names joined by commas."""
    data = ",".join(names).encode("latin-1")
    return struct.pack(">I", len(data)) + data


def kexinit_packet(lists: Sequence[Sequence[str]]) -> bytes:
    """An unencrypted binary packet (RFC 4253 section 6) carrying SSH_MSG_KEXINIT (7.1):
    byte 20, a 16-byte cookie, the ten name-lists, first_kex_packet_follows, uint32 0."""
    assert len(lists) == 10
    payload = (bytes([20]) + os.urandom(16) + b"".join(name_list(n) for n in lists)
               + b"\x00" + struct.pack(">I", 0))
    padding = 8 - (len(payload) + 5) % 8
    if padding < 4:
        padding += 8
    return struct.pack(">IB", len(payload) + padding + 1, padding) + payload + bytes(padding)


def _ssh_server(lists: Sequence[Sequence[str]],
                banner: bytes = b"SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n") -> ThreadedServer:
    """Answers every connection with an identification line and a KEXINIT, then waits for
    the client to go away."""
    return ThreadedServer(sends(banner + kexinit_packet(lists), drain=True), backlog=16)


def _lists(evil: str) -> list[list[str]]:
    """Real algorithms with ``evil`` offered in every list that takes a name."""
    return [["curve25519-sha256", evil], [evil, "ssh-ed25519"], ["aes128-ctr", evil],
            ["aes128-ctr", evil], ["hmac-sha2-256", evil], ["hmac-sha2-256", evil],
            ["none", evil], ["none", evil], [], []]


@contextlib.contextmanager
def hostile_ssh(evil: str, banner: bytes | None = None) -> Iterator[ThreadedServer]:
    server = _ssh_server(_lists(evil), *([banner] if banner else []))
    try:
        yield server
    finally:
        server.close()


@pytest.mark.parametrize("as_json", [False, True], ids=["text", "json"])
def test_ssh_algorithm_names_with_markup_print_literally(tmp_path: Path, as_json: bool) -> None:
    with hostile_ssh(EVIL, b"SSH-2.0-[/]evil[bold]server\r\n") as server:
        result = run("probe", "ssh", f"127.0.0.1:{server.port}", "--timeout", "3",
                     *(["--json"] if as_json else []), home=tmp_path / "home")
    assert_no_crash(result)
    assert result.status == 0, result.describe()
    assert EVIL in result.stdout and "[/]evil[bold]server" in result.stdout, result.describe()
    if as_json:
        json.loads(result.stdout)


def test_ssh_invalid_algorithm_name_with_markup_is_a_clean_error(tmp_path: Path) -> None:
    # A space makes the name invalid (RFC 4251 section 6): the probe fails with a protocol
    # error whose message quotes the server's bytes.
    with hostile_ssh("[/]evil name[bold]") as server:
        result = run("probe", "ssh", f"127.0.0.1:{server.port}", "--timeout", "3",
                     home=tmp_path / "home")
    assert_clean_error(result, 1, [f"127.0.0.1:{server.port}", "[/]evil name[bold]"])


def test_scan_of_a_hostile_ssh_server(tmp_path: Path) -> None:
    """A scan stores what the server offered and reports on it without being confused."""
    store = tmp_path / "store.db"
    with hostile_ssh(EVIL, b"SSH-2.0-[/]evil[bold]server\r\n") as server:
        book = tmp_path / "book.yml"
        book.write_text(loopback_playbook(
            probes=f"{{tcp: null, ssh: {{ports: [{server.port}], timeout_s: 3}}}}"),
            encoding="utf-8")
        result = run("scan", "--playbook", book, "--store", store, home=tmp_path / "home",
                     timeout=60)
    assert_no_crash(result)
    assert result.status == 0, result.describe()
    for args in (["findings", "--all-results"], ["findings", "--json", "--all-results"],
                 ["report", "--all", "--out", tmp_path / "out"]):
        shown = run(*args, "--store", store, home=tmp_path / "home")
        assert_no_crash(shown)
        assert shown.status == 0, shown.describe()


# -- playbooks, targets, flags, file names ---------------------------------------------------


@pytest.mark.parametrize("value", MARKUP)
def test_playbook_value_with_markup(tmp_path: Path, value: str) -> None:
    book = tmp_path / "book.yml"
    book.write_text(loopback_playbook().replace("zone: extranet", f"zone: '{value}'"),
                    encoding="utf-8")
    result = run("scan", "--playbook", book, "--dry-run", home=tmp_path / "home")
    assert_clean_error(result, 2, [f"{book}:4", "segments.0.zone", value])


@pytest.mark.parametrize("value", MARKUP)
def test_playbook_key_with_markup(tmp_path: Path, value: str) -> None:
    book = tmp_path / "book.yml"
    book.write_text(loopback_playbook(extra=f"'{value}': 1\n"), encoding="utf-8")
    result = run("scan", "--playbook", book, "--dry-run", home=tmp_path / "home")
    assert_clean_error(result, 2, [f"{book}:7", value])


def test_playbook_path_with_markup(tmp_path: Path) -> None:
    folder = tmp_path / "x[" / "]y"  # the path reads .../x[/]y/book.yml
    folder.mkdir(parents=True)
    book = folder / "book.yml"
    book.write_text(loopback_playbook().replace("zone: extranet", "zone: nowhere"),
                    encoding="utf-8")
    assert "[/]" in str(book)
    result = run("scan", "--playbook", book, "--dry-run", home=tmp_path / "home")
    assert_clean_error(result, 2, [f"{book}:4", "segments.0.zone"])
    missing = folder / "[bold]missing[/bold].yml"
    result = run("scan", "--playbook", missing, "--dry-run", home=tmp_path / "home")
    assert_clean_error(result, 2, str(missing))


@pytest.mark.parametrize("value", MARKUP)
@pytest.mark.parametrize("kind", ["tls", "ssh", "snmp"])
def test_probe_target_with_markup(tmp_path: Path, kind: str, value: str) -> None:
    result = run("probe", kind, f"{value}:22", home=tmp_path / "home")
    assert_clean_error(result, 2, value)


@pytest.mark.parametrize("value", MARKUP)
def test_flags_with_markup(tmp_path: Path, value: str) -> None:
    store = populated_store(tmp_path / "populated")
    home = tmp_path / "home"
    result = run("report", "--all", "--format", value, "--store", store,
                 "--out", tmp_path / "out", home=home)
    assert_clean_error(result, 2, value)
    result = run("detect", "--since", value, "--store", store, home=home)
    assert_clean_error(result, 2, "--since")
    book = tmp_path / "book.yml"
    book.write_text(loopback_playbook(), encoding="utf-8")
    result = run("discover", "--playbook", book, "--segment", value, home=home,
                 wrap=["unshare", "-n"])
    assert_clean_error(result, 2, value)


def test_store_and_output_paths_with_markup(tmp_path: Path) -> None:
    folder = tmp_path / "x[" / "]y"
    folder.mkdir(parents=True)
    result = run("findings", "--store", folder / "none.db", home=tmp_path / "home")
    assert_clean_error(result, (1, 2), str(folder / "none.db"))
    blocker = folder / "[bold]no[-]"  # a file where the output's folder would be
    blocker.write_text("not a folder", encoding="utf-8")
    result = run("es", "export-kibana", "-o", blocker / "k.ndjson", home=tmp_path / "home")
    assert_clean_error(result, (1, 2), str(blocker))
    # Missing folders are made; the path is printed as given, brackets and all.
    written = folder / "[red]new" / "k.ndjson"
    result = run("es", "export-kibana", "-o", written, home=tmp_path / "home")
    assert result.status == 0 and str(written) in result.stderr, result.describe()


# -- Elasticsearch and Sigma rules ----------------------------------------------------------

ES_REASON = "[/]closing [bold]bold[/bold] [link=http://127.0.0.1/]x[/link]"


class _MarkupElasticsearch(http.server.BaseHTTPRequestHandler):
    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        body = json.dumps({"error": {"type": "x[/]y", "reason": ES_REASON},
                           "status": 400}).encode()
        self.send_response(400)
        self.send_header("Content-Type", "application/json")
        self.send_header("X-Elastic-Product", "Elasticsearch")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _answer

    def log_message(self, *args: object) -> None:
        """Quiet."""


@pytest.fixture
def markup_es() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _MarkupElasticsearch)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


@pytest.mark.parametrize("command", ["es-setup", "scan", "detect"])
def test_es_error_reason_with_markup(tmp_path: Path, markup_es: str, command: str) -> None:
    env = clean_env(tmp_path / "home", SENTINEL_SPOOL=str(tmp_path / "spool"))
    if command == "es-setup":
        args: list[object] = ["es", "setup", "--es-url", markup_es]
    elif command == "scan":
        book = tmp_path / "book.yml"
        book.write_text(loopback_playbook(), encoding="utf-8")
        args = ["scan", "--playbook", book, "--es-url", markup_es,
                "--store", tmp_path / "store.db"]
    else:
        args = ["detect", "--es-url", markup_es,
                "--store", populated_store(tmp_path / "populated")]
    result = run(*args, env=env, timeout=60)
    assert_clean_error(result, 1, ES_REASON)


@pytest.mark.parametrize("field,text", [
    ("level", "level: '[/]bad'"),
    ("modifier", "detection: {sel: {'rule.id|[/]': x}, condition: sel}"),
])
def test_rule_error_with_markup(tmp_path: Path, field: str, text: str) -> None:
    overlay = tmp_path / "overlay"
    rule = overlay / "rules" / "finding" / "markup.yml"
    rule.parent.mkdir(parents=True)
    body = {
        "title": "title: '[bold]markup[/bold]'",
        "id": "id: 5b1c9a7e-2f4d-4c1a-9f0e-3d2b1a0c9e8f",
        "logsource": "logsource: {product: sentinel, category: finding}",
        "detection": "detection: {sel: {rule.id: x}, condition: sel}",
        "level": "level: high",
    }
    body["detection" if field == "modifier" else field] = text
    rule.write_text("\n".join(body.values()) + "\n", encoding="utf-8")
    result = run("rules", "list", env=clean_env(tmp_path / "home",
                                                 SENTINEL_DATA_DIR=str(overlay)))
    assert_clean_error(result, 2, ["markup.yml", "[/]"])


# -- terminals that are not UTF-8 ------------------------------------------------------------


@pytest.mark.parametrize("encoding", ["ascii", "latin-1"])
@pytest.mark.parametrize("command", ["findings", "findings-json", "report-chinese-out",
                                     "rules-list", "detect", "scan-dry-run"])
def test_non_utf8_terminal(tmp_path: Path, encoding: str, command: str) -> None:
    store = populated_store(tmp_path / "populated", products=["登录 [/]evil[bold]"])
    env = clean_env(tmp_path / "home", PYTHONIOENCODING=encoding, LANG="C", LC_ALL="C")
    book = tmp_path / "book.yml"
    book.write_text(loopback_playbook(), encoding="utf-8")
    args: list[object] = {
        "findings": ["findings", "--store", store],
        "findings-json": ["findings", "--json", "--store", store],
        "report-chinese-out": ["report", "--all", "--store", store, "--out", tmp_path / "报告"],
        "rules-list": ["rules", "list"],
        "detect": ["detect", "--store", store],
        "scan-dry-run": ["scan", "--playbook", book, "--dry-run"],
    }[command]
    result = run(*args, env=env)
    assert_no_crash(result)
    assert result.status == 0, result.describe()
    assert result.stdout.strip(), result.describe()


@pytest.mark.parametrize("encoding", ["ascii", "latin-1"])
def test_non_utf8_terminal_error_message(tmp_path: Path, encoding: str) -> None:
    book = tmp_path / "书.yml"
    book.write_text(loopback_playbook().replace("zone: extranet", "zone: '外网 [/]'"),
                    encoding="utf-8")
    env = clean_env(tmp_path / "home", PYTHONIOENCODING=encoding, LANG="C", LC_ALL="C")
    result = run("scan", "--playbook", book, "--dry-run", env=env)
    assert_clean_error(result, 2, ["segments.0.zone", "[/]"])
