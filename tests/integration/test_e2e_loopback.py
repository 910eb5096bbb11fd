"""End to end on loopback: real listeners, the real command line, a report that escapes.

A hostile fixture server volunteers a banner with markup and control characters; the scan
must find the cleartext services on both address families, the report must show the banner
escaped, and closing then reopening a port must resolve then reopen its findings.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.loopback import ThreadedServer, sends

HOSTILE = "<script>alert('x')</script> 登录 login:\x1b[31m\x00"


def _listener(address: str, port: int, banner: str) -> ThreadedServer:
    """A real TCP server on one loopback address that sends a banner and closes."""
    return ThreadedServer(sends(banner.encode()), address=address, port=port, backlog=16)


PLAYBOOK = """\
name: loopback-e2e
agencies: [{id: dsj, name: {zh: 省政务服务数据管理局, en: Provincial Data Bureau}}]
scope: {authorised: ["127.0.0.0/8", "::1/128"]}
segments:
  - {id: lo, agency: dsj, cidrs: ["127.0.0.0/8", "::1/128"], hosts: ["127.0.0.1", "::1"],
     zone: extranet}
assets:
  - {id: loopback-host, name: localhost, addresses: ["127.0.0.1", "::1"]}
rate: {packets_per_second: 500, probe_timeout_s: 3}
probes: {tcp: {ports: [21, 23, 443], banner_wait_s: 0.5}}
"""


def sentinel(*args: str, store: Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SENTINEL_STORE": str(store)}
    result = subprocess.run(
        [sys.executable, "-m", "sentinel.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if check and result.returncode != 0:
        raise AssertionError(f"sentinel {' '.join(args)} failed: {result.stderr}")
    return result


@pytest.fixture
def listeners() -> Iterator[dict[str, ThreadedServer]]:
    started = {
        "telnet": _listener("127.0.0.1", 23, HOSTILE),
        "ftp": _listener("::1", 21, "220 <b>FTP</b> ready\r\n"),
    }
    yield started
    for listener in started.values():
        listener.close()


def failed_checks(store: Path) -> set[tuple[str, str, int]]:
    docs = json.loads(sentinel("findings", "--json", store=store).stdout)
    # Host-level findings (V6-SECPARITY compares a host's families) have no destination.
    return {
        (d["rule"]["id"], d.get("destination", {}).get("ip", ""),
         d.get("destination", {}).get("port", 0))
        for d in docs
        if d["result"]["evaluation"] == "failed"
    }


def test_scan_findings_report_and_lifecycle(tmp_path: Path,
                                            listeners: dict[str, ThreadedServer]) -> None:
    book = tmp_path / "book.yml"
    book.write_text(PLAYBOOK, encoding="utf-8")
    store = tmp_path / "store.db"
    sentinel("scan", "--playbook", str(book), store=store)
    failed = failed_checks(store)
    assert ("DB-CES-CREDPLAIN", "127.0.0.1", 23) in failed
    assert ("DB-CES-CREDPLAIN", "::1", 21) in failed
    assert ("DB-CES-HIGHRISKPORT", "::1", 21) in failed
    # FTP answers only on the host's IPv6 address: IPv6 exposes more than IPv4.
    assert ("V6-SECPARITY", "", 0) in failed
    assert not any(port == 443 for _, _, port in failed)  # closed port: nothing to judge

    out = tmp_path / "reports"
    sentinel("report", "--all", "--out", str(out), store=store)
    html = (out / "dsj.html").read_text(encoding="utf-8")
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; 登录" in html
    assert "<script>" not in html and "<b>FTP</b>" not in html
    assert "\x1b" not in html or "&#" in html  # control bytes never reach markup unescaped
    assert "省政务服务数据管理局" in html and "明文传输登录凭据的协议" in html

    keys_before = {
        d["sentinel"]["finding"]["key"]
        for d in json.loads(sentinel("findings", "--json", store=store).stdout)
    }
    listeners["telnet"].close()
    sentinel("scan", "--playbook", str(book), store=store)
    assert not any(port == 23 for _, _, port in failed_checks(store))
    listeners["telnet"] = _listener("127.0.0.1", 23, HOSTILE)
    sentinel("scan", "--playbook", str(book), store=store)
    docs = json.loads(sentinel("findings", "--json", store=store).stdout)
    telnet = [d for d in docs if d.get("destination", {}).get("port") == 23]
    assert telnet and all(d["sentinel"]["finding"]["status"] == "reopened" for d in telnet)
    assert {d["sentinel"]["finding"]["key"] for d in docs} == keys_before
    # The host's IPv4 and IPv6 addresses are one inventory asset.
    assert {d["host"]["id"] for d in docs} == {"loopback-host"}

    import sqlite3

    telnet_keys = {d["sentinel"]["finding"]["key"] for d in telnet}
    assert {"EXP-SVC-NOTALLOWED", "DB-CES-HIGHRISKPORT", "DB-CES-CREDPLAIN"} <= {
        d["rule"]["id"] for d in telnet}
    events = [json.loads(r[0]) for r in sqlite3.connect(store).execute(
        "SELECT doc FROM events ORDER BY created")]
    lifecycle = [(e["event"]["action"], e["sentinel"]["finding"]["key"]) for e in events
                 if e["sentinel"].get("finding", {}).get("key") in telnet_keys]
    for key in telnet_keys:  # each telnet finding: opened, resolved when closed, reopened
        assert [a for a, k in lifecycle if k == key] == [
            "finding-opened", "finding-resolved", "finding-reopened"]


def test_out_of_scope_segment_is_refused_before_sending(tmp_path: Path) -> None:
    book = tmp_path / "book.yml"
    book.write_text(
        PLAYBOOK.replace(
            'cidrs: ["127.0.0.0/8", "::1/128"], hosts: ["127.0.0.1", "::1"]',
            'cidrs: ["198.18.1.0/24"]',
        ),
        encoding="utf-8",
    )
    store = tmp_path / "store.db"
    result = sentinel("scan", "--playbook", str(book), store=store, check=False)
    assert result.returncode == 2
    assert (
        "segment lo 198.18.1.0/24" in result.stderr
        and "outside the authorised scope" in result.stderr
    )
    import sqlite3

    db = sqlite3.connect(store)
    assert db.execute("SELECT count(*) FROM scans").fetchone()[0] == 0
    assert db.execute("SELECT count(*) FROM observations").fetchone()[0] == 0
    audit = [json.loads(r[0]) for r in db.execute("SELECT doc FROM events")]
    assert [a["event"]["action"] for a in audit] == ["scope-refused"]
    assert audit[0]["sentinel"]["after"]["target"] == "198.18.1.0/24"


def test_bad_playbook_exits_2_and_writes_nothing(tmp_path: Path) -> None:
    book = tmp_path / "book.yml"
    book.write_text(
        PLAYBOOK.replace("zone: extranet", "zone: extranet, colour: red"), encoding="utf-8"
    )
    store = tmp_path / "store.db"
    result = sentinel("scan", "--playbook", str(book), store=store, check=False)
    assert result.returncode == 2
    assert f"{book}:6" in result.stderr and "unknown field 'colour'" in result.stderr
    assert not store.exists()


def test_dry_run_lists_targets_and_sends_nothing(tmp_path: Path) -> None:
    book = tmp_path / "book.yml"
    book.write_text(PLAYBOOK, encoding="utf-8")
    store = tmp_path / "store.db"
    result = sentinel("scan", "--playbook", str(book), "--dry-run", store=store)
    assert "loopback-host\t127.0.0.1,::1\t6 probes" in result.stdout
    assert "nothing was sent" in result.stderr
    assert not store.exists()
