"""Hostile servers on loopback: a banner and a TLS certificate subject (made with openssl)
carrying markup, CJK and control characters reach the reports escaped in HTML, PDF and JSON.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from ssl import SSLContext

import pytest

from tests.support.loopback import ThreadedServer, sends, tls_context, tls_handshakes

MARKUP = "<script>alert(1)</script>登录"
SUBJECT_CN = "<img src=x onerror=alert(1)>登录"  # no '/': openssl -subj splits RDNs on it
SUBJECT_O = "\x1b[31mEvil\u202eOrg"
BANNER = f"220 {MARKUP} <b>ftp</b>\x1b[2J\x07 ready\r\n"


def _certificate(folder: Path) -> SSLContext:
    key, cert = folder / "k.pem", folder / "c.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-days", "90", "-utf8",
                    "-subj", f"/CN={SUBJECT_CN}/O={SUBJECT_O}", "-keyout", str(key),
                    "-out", str(cert)], check=True, capture_output=True, timeout=30)
    return tls_context(cert, key)


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[tuple[int, int]]:
    """Real TCP servers on 127.0.0.1: the plain banner, and TLS with the hostile certificate."""
    started = [ThreadedServer(sends(BANNER.encode())),
               ThreadedServer(tls_handshakes(_certificate(tmp_path), timeout=3))]
    yield started[0].port, started[1].port
    for server in started:
        server.close()


def sentinel(*args: str, store: Path) -> str:
    env = {**os.environ, "SENTINEL_STORE": str(store)}
    done = subprocess.run([sys.executable, "-m", "sentinel.cli", *args], env=env,
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_hostile_strings_are_escaped_in_every_format(servers: tuple[int, int],
                                                     tmp_path: Path) -> None:
    ftp_port, tls_port = servers
    book = tmp_path / "book.yml"
    book.write_text(f"""\
name: hostile
agencies: [{{id: evil, name: {{zh: 测试单位, en: Test agency}}}}]
scope: {{authorised: ["127.0.0.0/8"]}}
segments: [{{id: lo, agency: evil, cidrs: ["127.0.0.0/8"], hosts: ["127.0.0.1"], zone: extranet}}]
rate: {{packets_per_second: 2000, probe_timeout_s: 5}}
probes:
  tcp: {{ports: [{ftp_port}, {tls_port}], banner_wait_s: 0.5}}
  tls: {{ports: [{tls_port}]}}
""", encoding="utf-8")
    store = tmp_path / "s.db"
    sentinel("scan", "--playbook", str(book), store=store)
    out = tmp_path / "out"
    for fmt in ("html", "json", "pdf"):
        sentinel("report", "--agency", "evil", "--format", fmt, "--out", str(out), store=store)

    html = (out / "evil.html").read_text(encoding="utf-8")
    assert "<script>" not in html and "<img" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;登录 &lt;b&gt;ftp&lt;/b&gt;\\x1b[2J\\x07" in html
    # The certificate subject (RFC 4514 escapes < and > with a backslash), controls visible.
    assert "&lt;img src=x onerror=alert(1)\\&gt;登录" in html
    assert "O=\\x1b[31mEvil\\u202eOrg" in html
    assert not any(c in html for c in "\x1b\x07\u202e")

    text = (out / "evil.json").read_text(encoding="utf-8")
    assert "<" not in text and not any(c in text for c in "\x1b\x07\u202e")
    doc = json.loads(text)
    subjects = [c["subject"] for a in doc["inventory"] for t in a["tls"] for c in t["certificates"]]
    assert any("<img src=x onerror=alert(1)\\>登录" in s and "\\x1b[31m" in s
               for s in subjects)

    pdf_text = subprocess.run(["pdftotext", str(out / "evil.pdf"), "-"], capture_output=True,
                              text=True, check=True, timeout=60).stdout
    flat = " ".join(pdf_text.split())
    assert MARKUP in flat and "<img src=x onerror=alert(1)" in flat  # text, not markup
    assert not any(c in pdf_text for c in "\x1b\x07\u202e")
