"""Issue #14 item 9: faults end cleanly.

Tracebacks were seen for a full disk during a scan, an unwritable or invalid ``--out``, a
``--store`` whose parent is a file, a corrupted page or a dropped table, and bad JSON in a
stored document; SIGTERM left a scan ``running`` where Ctrl-C marks it ``interrupted``, and a
scan killed with SIGKILL stayed ``running`` for ever; random UDP replies made pysnmp print
tracebacks. Each must end with one clear message naming the file (exit 2 for a path a
person gave that cannot be used, 1 for a store or disk that fails), no traceback.

Stores are made by importing nmap XML (nothing is sent) and damaged with sqlite3 itself.
A full disk is a tiny tmpfs mounted in a private mount namespace (``unshare -m``), which
disappears with the command. Scans are of 127.0.0.1 only.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import socket
import sqlite3
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.hostile.runner import (
    assert_clean_error,
    assert_no_crash,
    clean_env,
    closed_port,
    loopback_playbook,
    nmap_host,
    nmap_xml,
    populated_store,
    run,
    start,
    stop,
)

pytestmark = pytest.mark.hostile

READERS = ["findings", "findings-json", "report", "detect"]


def _reader(command: str, store: Path, tmp_path: Path) -> list[object]:
    return {
        "findings": ["findings", "--store", store],
        "findings-json": ["findings", "--json", "--store", store],
        "report": ["report", "--all", "--store", store, "--out", tmp_path / "out"],
        "detect": ["detect", "--store", store],
    }[command]


def _import_args(tmp_path: Path, store: Path, hosts: int = 1) -> list[object]:
    book = tmp_path / "book.yml"
    book.write_text(loopback_playbook(cidrs=("127.0.0.0/24",), hosts=None), encoding="utf-8")
    xml = tmp_path / "scan.xml"
    xml.write_text(nmap_xml(*(nmap_host(f"127.0.0.{i}") for i in range(1, hosts + 1))),
                   encoding="utf-8")
    return ["import", "nmap", xml, "--playbook", book, "--store", store]


# -- paths a person gave ---------------------------------------------------------------------


@pytest.mark.parametrize("command", ["scan", "import", *READERS])
def test_store_whose_parent_is_a_file(tmp_path: Path, command: str) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("x", encoding="utf-8")
    store = blocker / "store.db"
    if command == "scan":
        book = tmp_path / "book.yml"
        with closed_port() as port:
            book.write_text(loopback_playbook(probes=f"{{tcp: {{ports: [{port}]}}}}"),
                            encoding="utf-8")
            result = run("scan", "--playbook", book, "--store", store, home=tmp_path / "home")
    elif command == "import":
        result = run(*_import_args(tmp_path, store), home=tmp_path / "home")
    else:
        result = run(*_reader(command, store, tmp_path), home=tmp_path / "home")
    # Creating a store there is a bad --store (2); reading one that cannot exist may also
    # say there is no store (1).
    assert_clean_error(result, 2 if command in ("scan", "import") else (1, 2), str(store))


def _out(tmp_path: Path, case: str) -> Path:
    blocker = tmp_path / "a-file"
    blocker.write_text("x", encoding="utf-8")
    return {
        "is-a-file": blocker,
        "parent-is-a-file": blocker / "reports",
        "unwritable": Path("/proc/sentinel-hostile-reports"),  # not even root writes there
        "name-too-long": tmp_path / ("r" * 300),
    }[case]


@pytest.mark.parametrize("case", ["is-a-file", "parent-is-a-file", "unwritable",
                                  "name-too-long"])
def test_report_out_that_cannot_be_used(tmp_path: Path, case: str) -> None:
    store = populated_store(tmp_path / "populated")
    out = _out(tmp_path, case)
    result = run("report", "--all", "--store", store, "--out", out, home=tmp_path / "home")
    assert_clean_error(result, 2, str(out))


@pytest.mark.parametrize("case", ["is-a-file", "parent-is-a-file", "unwritable",
                                  "name-too-long"])
@pytest.mark.parametrize("command", ["rules", "es"])
def test_export_output_that_cannot_be_used(tmp_path: Path, command: str, case: str) -> None:
    out = _out(tmp_path, case)
    target = out / "x.ndjson" if case == "is-a-file" else out
    result = run(command, "export-kibana", "-o", target, home=tmp_path / "home")
    assert_clean_error(result, 2, str(target))


# -- a damaged store -------------------------------------------------------------------------


def _damage(tmp_path: Path, how: str) -> Path:
    store = populated_store(tmp_path / "populated")
    with contextlib.closing(sqlite3.connect(store)) as db:
        # Everything into the main file, no WAL left, so the damage is what readers see.
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        db.execute("PRAGMA journal_mode=DELETE")
        if how.startswith("drop-"):
            db.execute(f"DROP TABLE {how.removeprefix('drop-')}")
        elif how == "finding-not-json":
            db.execute("UPDATE findings SET doc = '{not json' "
                       "WHERE rowid = (SELECT min(rowid) FROM findings)")
        elif how == "finding-empty-document":
            db.execute("UPDATE findings SET doc = '{}'")
        elif how == "scan-document-not-an-object":
            db.execute("UPDATE scans SET doc = '[]'")
        elif how == "event-not-json":
            db.execute("UPDATE events SET doc = 'null' "
                       "WHERE rowid = (SELECT max(rowid) FROM events)")
        db.commit()
        (root,) = db.execute("SELECT rootpage FROM sqlite_master WHERE name = 'findings'"
                             ).fetchone() or (0,)
        (page_size,) = db.execute("PRAGMA page_size").fetchone()
    if how == "garbage-page":
        with store.open("r+b") as handle:  # the findings table's root page
            handle.seek((root - 1) * page_size)
            handle.write(random.Random(14).randbytes(page_size))
    return store


DAMAGE = ["garbage-page", "drop-findings", "drop-scans", "drop-events", "finding-not-json",
          "finding-empty-document", "scan-document-not-an-object", "event-not-json"]


@pytest.mark.parametrize("how", DAMAGE)
@pytest.mark.parametrize("command", [*READERS, "import"])
def test_damaged_store(tmp_path: Path, how: str, command: str) -> None:
    store = _damage(tmp_path, how)
    args = (_import_args(tmp_path, store) if command == "import"
            else _reader(command, store, tmp_path))
    result = run(*args, home=tmp_path / "home")
    if result.status == 0:
        # Damage the command never reads (an event row for ``findings``) may go unnoticed;
        # it must not crash.
        assert_no_crash(result)
        assert not result.messages, result.describe()
        return
    assert_clean_error(result, 1, str(store))


# -- a full disk -----------------------------------------------------------------------------


def _on_full_tmpfs(mount: Path, size: str, fill: bool = False) -> list[str]:
    """Wrap a command so it runs in a private mount namespace with a tmpfs of ``size`` at
    ``mount`` (optionally filled to the brim first); the tmpfs goes with the namespace."""
    mount.mkdir(parents=True, exist_ok=True)
    filler = ' && (dd if=/dev/zero of="$0/fill" bs=4k 2>/dev/null || true)' if fill else ""
    return ["unshare", "-m", "--propagation", "private", "sh", "-c",
            f'mount -t tmpfs -o size={size} sentinel-hostile "$0"{filler} && exec "$@"',
            str(mount)]


def test_disk_full_during_an_import(tmp_path: Path) -> None:
    mount = tmp_path / "full"
    store = mount / "store.db"
    result = run(*_import_args(tmp_path, store, hosts=254), home=tmp_path / "home",
                 wrap=_on_full_tmpfs(mount, "320k"), timeout=60)
    assert_clean_error(result, 1, str(store))


def test_disk_full_during_a_scan(tmp_path: Path) -> None:
    mount = tmp_path / "full"
    store = mount / "store.db"
    ports = ", ".join(str(p) for p in range(47001, 47011))  # closed: refused at once
    book = tmp_path / "book.yml"
    book.write_text(loopback_playbook(
        cidrs=("127.0.0.0/26",), hosts=None,
        probes=f"{{tcp: {{ports: [{ports}], banner_wait_s: 0.1}}}}",
        rate="{packets_per_second: 5000, probe_timeout_s: 2}"), encoding="utf-8")
    result = run("scan", "--playbook", book, "--store", store, home=tmp_path / "home",
                 wrap=_on_full_tmpfs(mount, "320k"), timeout=120)
    assert_clean_error(result, 1, str(store))


def test_disk_full_writing_a_report(tmp_path: Path) -> None:
    store = populated_store(tmp_path / "populated")
    out = tmp_path / "full"
    result = run("report", "--all", "--store", store, "--out", out, home=tmp_path / "home",
                 wrap=_on_full_tmpfs(out, "64k", fill=True))
    assert_clean_error(result, (1, 2), str(out))


# -- signals ---------------------------------------------------------------------------------


def _slow_scan(tmp_path: Path, store: Path) -> subprocess.Popen[bytes]:
    """A scan of 40 closed loopback ports at one connection a second: ~40 s if left alone."""
    ports = ", ".join(str(p) for p in range(47101, 47141))
    book = tmp_path / "slow.yml"
    book.write_text(loopback_playbook(
        probes=f"{{tcp: {{ports: [{ports}], banner_wait_s: 0.1}}}}",
        rate="{packets_per_second: 1, probe_timeout_s: 2}"), encoding="utf-8")
    return start("scan", "--playbook", book, "--store", store,
                 env=clean_env(tmp_path / "home"), stdout=tmp_path / "scan.out",
                 stderr=tmp_path / "scan.err")


def _scans(store: Path) -> dict[str, str]:
    """scan id -> status, read with sqlite3 itself (the store may be mid-write)."""
    if not store.exists():
        return {}
    try:
        with contextlib.closing(sqlite3.connect(f"file:{store}?mode=ro", uri=True,
                                                timeout=5)) as db:
            return dict(db.execute("SELECT id, status FROM scans"))
    except sqlite3.Error:
        return {}


def _wait_running(store: Path, child: subprocess.Popen[bytes]) -> str:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and child.poll() is None:
        running = [k for k, v in _scans(store).items() if v == "running"]
        if running:
            time.sleep(1.0)  # well into the scan: probes in flight
            return running[0]
        time.sleep(0.1)
    stop(child)
    pytest.fail("the scan never showed as running in the store")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signal_marks_the_scan_interrupted(tmp_path: Path, sig: signal.Signals) -> None:
    store = tmp_path / "store.db"
    child = _slow_scan(tmp_path, store)
    try:
        scan_id = _wait_running(store, child)
        os.kill(child.pid, sig)
        child.wait(timeout=20)
    finally:
        stop(child)
    stderr = (tmp_path / "scan.err").read_text(errors="replace")
    assert _scans(store).get(scan_id) == "interrupted", (_scans(store), stderr[-2000:])
    assert "Traceback" not in stderr, stderr[-3000:]
    assert child.returncode != 0


def test_scan_killed_by_sigkill_is_marked_abandoned_by_the_next_run(tmp_path: Path) -> None:
    store = tmp_path / "store.db"
    child = _slow_scan(tmp_path, store)
    try:
        scan_id = _wait_running(store, child)
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=20)
    finally:
        stop(child)
    assert _scans(store).get(scan_id) == "running"  # nothing can mark it as it dies
    result = run(*_import_args(tmp_path, store), home=tmp_path / "home")  # the next run
    assert_no_crash(result)
    assert result.status == 0, result.describe()
    assert _scans(store).get(scan_id) == "abandoned", _scans(store)


# -- a hostile SNMP agent --------------------------------------------------------------------


@contextlib.contextmanager
def noisy_udp(kind: str) -> Iterator[int]:
    """A loopback UDP 'agent' answering every datagram with noise of one kind."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    noise = random.Random(14)

    def answer(data: bytes) -> bytes:
        if kind == "random":
            return noise.randbytes(noise.randint(1, 300))
        if kind == "ber-sequence":
            return b"\x30\x03\x02\x01\x03"  # a SEQUENCE holding only INTEGER 3
        if kind == "huge-length":
            return b"\x30\x84\x7f\xff\xff\xff" + data[2:]  # claims 2 GiB follow
        if kind == "truncated":
            return data[: len(data) // 2]
        return data  # echo: the request comes back as if it were the response

    def serve() -> None:
        while True:
            try:
                data, peer = sock.recvfrom(65535)
            except OSError:
                return
            with contextlib.suppress(OSError):
                sock.sendto(answer(data), peer)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield sock.getsockname()[1]
    finally:
        sock.close()
        thread.join(timeout=5)


@pytest.mark.parametrize("v3", [False, True], ids=["communities", "v3"])
@pytest.mark.parametrize("kind", ["random", "ber-sequence", "huge-length", "echo", "truncated"])
def test_snmp_noise_does_not_print_tracebacks(tmp_path: Path, kind: str, v3: bool) -> None:
    env = clean_env(tmp_path / "home", HOSTILE_SNMP_AUTH="correct horse battery")
    extra = ["--v3-user", "sentinel-ro", "--v3-auth-env", "HOSTILE_SNMP_AUTH"] if v3 else []
    with noisy_udp(kind) as port:
        result = run("probe", "snmp", f"127.0.0.1:{port}", "--timeout", "0.5", *extra,
                     env=env, timeout=60)
    assert_no_crash(result)
    assert result.status in (0, 1), result.describe()
    assert len(result.messages) <= 1, result.describe()
