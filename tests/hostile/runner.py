"""Run the ``sentinel`` command as a bounded subprocess, and judge how it ended.

Hostile inputs can make a regression eat memory, hang on a read or fill a disk, so every run
here is a child process (in its own process group) with:

* stdin at EOF (``/dev/null``): nothing can wait on a terminal;
* a wall-clock timeout, after which the whole process group is killed;
* an address-space cap (``RLIMIT_AS`` through ``prlimit``, 2 GiB by default), so a YAML
  alias bomb or ``/dev/zero`` cannot take the machine down: it ends in MemoryError (a failed
  test) instead;
* a file-size cap (``RLIMIT_FSIZE``), and stdout/stderr written to files (never to pipes
  held in this process's memory), read back only up to a limit;
* its peak resident memory measured (``wait4``), so a test can hold a run to a budget.

The command is the console script's entry point (read from ``pyproject.toml``) run with
``python -c`` and ``PYTHONPATH`` at this checkout, so the suite tests the command line people
use and does not depend on the package's internal layout. The environment is the parent's
minus every ``SENTINEL_*`` variable, with HOME, the default store and the data cache moved to
the test's own folder, and the working directory a scratch folder: no run reads or writes the
user's store, the repository or the current directory.

This module also builds the hostile inputs the tests share: YAML that explodes or nests
without end, loopback playbooks, nmap XML, and a store filled by importing nmap XML.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
GIB = 1 << 30
DEFAULT_TIMEOUT_S = 60.0  # a hang guard, not a speed test: room for a loaded machine
DEFAULT_MEMORY = 2 * GIB
DEFAULT_FSIZE = GIB
OUTPUT_LIMIT = 1 << 20  # bytes of stdout/stderr kept for the assertions

# Budgets for a hostile input: the command must give up on it about as fast as it starts
# (start-up alone is 0.5-3 s on a loaded two-core machine), well under its memory cap.
HOSTILE_TIMEOUT_S = 20.0
FAST_S = 12.0
BOUNDED_RSS_MIB = 512


def _entry() -> str:
    """The console script's entry point (``[project.scripts] sentinel``), as ``python -c``
    code: the command people run, whatever the package's internal layout."""
    import tomllib

    with (REPO / "pyproject.toml").open("rb") as handle:
        target = tomllib.load(handle)["project"]["scripts"]["sentinel"]
    module, _, function = target.partition(":")
    return f"from {module} import {function}; {function}()"


ENTRY = _entry()

# What a crash looks like in the output, whatever the exit status says.
CRASH_MARKERS = ("Traceback", "Fatal Python error", "Exception ignored in",
                 "Segmentation fault", "MemoryError", "RecursionError")
# A message for people: Sentinel's ``error: ...``, click's ``Error: ...`` or its rich panel,
# a logging ``ERROR:...`` line.
_MESSAGE = re.compile(r"^[ \t]*(error\b|╭─+ Error)", re.MULTILINE | re.IGNORECASE)


@dataclass
class Result:
    """How one run ended."""

    args: tuple[str, ...]
    status: int | None  # None: killed at the timeout; negative: killed by that signal
    stdout: str
    stderr: str
    elapsed_s: float
    timed_out: bool
    max_rss_kib: int  # peak resident memory of the child (getrusage via wait4)

    def describe(self) -> str:
        """Enough of the run to understand a failed assertion."""
        ended = f"killed after {self.elapsed_s:.1f}s (timeout)" if self.timed_out else (
            f"exit {self.status} after {self.elapsed_s:.1f}s")
        return (f"sentinel {' '.join(self.args)}\n{ended}, peak RSS {self.max_rss_kib} KiB\n"
                f"--- stdout ---\n{self.stdout[-3000:]}\n--- stderr ---\n{self.stderr[-3000:]}")

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    @property
    def messages(self) -> list[str]:
        """The lines of stderr that start a message for people."""
        return [self.stderr[m.start():].split("\n", 1)[0].strip()
                for m in _MESSAGE.finditer(self.stderr)]


# -- running -------------------------------------------------------------------------------


def clean_env(home: Path | None = None, **extra: str | None) -> dict[str, str]:
    """The parent's environment without SENTINEL_* (and with PYTHONPATH at this checkout).

    ``home`` moves HOME, XDG_DATA_HOME (the default store) and XDG_CACHE_HOME (the data
    cache) there. ``extra`` adds variables; a value of None removes one.
    """
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("SENTINEL_")
           and k not in ("PYTHONPATH", "PYTHONSTARTUP", "PYTHONIOENCODING", "PYTHONHOME")}
    env["PYTHONPATH"] = str(REPO)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env["LANG"] = "C.UTF-8"
    env.pop("LC_ALL", None)
    env["COLUMNS"] = "200"  # rich wraps at the terminal width; keep a message on one line
    if home is not None:
        home.mkdir(parents=True, exist_ok=True)
        env["HOME"] = str(home)
        env["XDG_DATA_HOME"] = str(home / "data")
        env["XDG_CACHE_HOME"] = str(home / "cache")
    for key, value in extra.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


def limited(argv: Sequence[str], memory: int | None, fsize: int | None) -> list[str]:
    """``argv`` under ``prlimit`` (util-linux): it sets the limits on itself and execs the
    command, so they hold for it and everything it starts. (A ``preexec_fn`` would do the
    same, but is unsafe in a test process that runs server threads.)"""
    caps = ["--core=0"]
    if memory is not None:
        caps.append(f"--as={memory}")
    if fsize is not None:
        caps.append(f"--fsize={fsize}")
    return ["prlimit", *caps, "--", *argv]


def _read(path: Path) -> str:
    with path.open("rb") as handle:
        data = handle.read(OUTPUT_LIMIT)
    return data.decode("utf-8", errors="replace")


def run_command(
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    timeout: float = DEFAULT_TIMEOUT_S,
    memory: int | None = DEFAULT_MEMORY,
    fsize: int | None = DEFAULT_FSIZE,
    cwd: Path | None = None,
    display: Sequence[str] | None = None,
) -> Result:
    """Run any argv with the bounds above (:func:`run` builds the sentinel argv)."""
    env = dict(env) if env is not None else clean_env()
    with tempfile.TemporaryDirectory(prefix="sentinel-hostile-") as scratch:
        out_path, err_path = Path(scratch) / "stdout", Path(scratch) / "stderr"
        workdir = Path(scratch) / "cwd"
        workdir.mkdir()
        with out_path.open("wb") as out, err_path.open("wb") as err:
            started = time.monotonic()
            child = subprocess.Popen(
                limited(argv, memory, fsize), stdin=subprocess.DEVNULL, stdout=out,
                stderr=err, env=env, cwd=cwd or workdir, start_new_session=True,
            )
            timed_out, status, rss = False, None, 0
            while True:
                pid, wait_status, usage = os.wait4(child.pid, os.WNOHANG)
                if pid:
                    status = os.waitstatus_to_exitcode(wait_status)
                    rss = usage.ru_maxrss
                    break
                if time.monotonic() - started > timeout:
                    timed_out = True
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(child.pid, signal.SIGKILL)
                    _, wait_status, usage = os.wait4(child.pid, 0)
                    rss = usage.ru_maxrss
                    break
                time.sleep(0.02)
            elapsed = time.monotonic() - started
            child.returncode = status if status is not None else -signal.SIGKILL  # reaped
            # Anything the child left in its process group (a helper it started) goes too.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(child.pid, signal.SIGKILL)
        return Result(tuple(display if display is not None else argv), status,
                      _read(out_path), _read(err_path), elapsed, timed_out, rss)


def sentinel_argv(*args: str | os.PathLike[str]) -> list[str]:
    """The argv of one ``sentinel`` command run from this checkout."""
    return [sys.executable, "-c", ENTRY, *map(str, args)]


def run(
    *args: str | os.PathLike[str],
    env: Mapping[str, str] | None = None,
    home: Path | None = None,
    timeout: float = DEFAULT_TIMEOUT_S,
    memory: int | None = DEFAULT_MEMORY,
    fsize: int | None = DEFAULT_FSIZE,
    cwd: Path | None = None,
    wrap: Sequence[str] = (),
) -> Result:
    """Run ``sentinel *args`` bounded; ``wrap`` prefixes the argv (e.g. ``unshare -n``)."""
    if env is None:
        env = clean_env(home)
    return run_command([*wrap, *sentinel_argv(*args)], env=env, timeout=timeout, memory=memory,
                       fsize=fsize, cwd=cwd, display=tuple(map(str, args)))


def start(
    *args: str | os.PathLike[str],
    env: Mapping[str, str],
    stdout: Path,
    stderr: Path,
    memory: int | None = DEFAULT_MEMORY,
) -> subprocess.Popen[bytes]:
    """Start ``sentinel *args`` in the background, in its own process group (for signal
    tests); the caller must end it (``stop``)."""
    with stdout.open("wb") as out, stderr.open("wb") as err:
        return subprocess.Popen(
            limited(sentinel_argv(*args), memory, DEFAULT_FSIZE), stdin=subprocess.DEVNULL,
            stdout=out, stderr=err, env=dict(env), cwd=stdout.parent, start_new_session=True,
        )


def stop(child: subprocess.Popen[bytes]) -> None:
    """Kill a started command's whole process group and reap it."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(child.pid, signal.SIGKILL)
    child.wait()


# -- judging -------------------------------------------------------------------------------


def assert_no_crash(result: Result) -> None:
    """No timeout, no signal death, no traceback or interpreter crash in the output."""
    assert not result.timed_out, f"hung (killed at the timeout)\n{result.describe()}"
    assert result.status is not None and result.status >= 0, (
        f"killed by signal {-(result.status or 0)}\n{result.describe()}")
    for marker in CRASH_MARKERS:
        assert marker not in result.stderr, f"{marker!r} in stderr\n{result.describe()}"
        assert marker not in result.stdout, f"{marker!r} in stdout\n{result.describe()}"


def assert_clean_error(
    result: Result,
    status: int | Iterable[int] = 2,
    where: str | Iterable[str] = (),
    *,
    max_seconds: float | None = None,
    max_rss_mib: int | None = None,
) -> str:
    """One clean error: the exit status, no traceback, exactly one message naming ``where``.

    ``where`` is a string (or strings) the message must contain: the file, and the line or
    field where the issue asks for them (e.g. ``"book.yml:3"``, ``"segments.0.zone"``).
    ``max_seconds`` and ``max_rss_mib`` hold the run to a time and memory budget.
    Returns the message line.
    """
    assert_no_crash(result)
    allowed = {status} if isinstance(status, int) else set(status)
    assert result.status in allowed, (
        f"expected exit status {sorted(allowed)}, got {result.status}\n{result.describe()}")
    messages = result.messages
    assert len(messages) == 1, (
        f"expected exactly one error message, got {len(messages)}: {messages}\n"
        f"{result.describe()}")
    message = messages[0]
    for needle in [where] if isinstance(where, str) else list(where):
        assert needle in message, (
            f"the error does not name {needle!r}: {message!r}\n{result.describe()}")
    assert_budget(result, max_seconds, max_rss_mib)
    return message


def assert_budget(result: Result, max_seconds: float | None = None,
                  max_rss_mib: int | None = None) -> None:
    """The run stayed within a time and a peak-memory budget."""
    if max_seconds is not None:
        assert result.elapsed_s <= max_seconds, (
            f"took {result.elapsed_s:.1f}s (limit {max_seconds}s)\n{result.describe()}")
    if max_rss_mib is not None:
        assert result.max_rss_kib <= max_rss_mib * 1024, (
            f"peak RSS {result.max_rss_kib // 1024} MiB (limit {max_rss_mib} MiB)\n"
            f"{result.describe()}")


def assert_hostile_refused(result: Result, where: str | Iterable[str],
                           status: int | Iterable[int] = 2) -> str:
    """A hostile input refused as bad input: :func:`assert_clean_error`, fast and small."""
    return assert_clean_error(result, status, where, max_seconds=FAST_S,
                              max_rss_mib=BOUNDED_RSS_MIB)


def files_under(*roots: Path) -> list[Path]:
    """Every regular file below the given folders (or the files themselves)."""
    found: list[Path] = []
    for root in roots:
        if root.is_file():
            found.append(root)
        elif root.is_dir():
            found += [p for p in root.rglob("*") if p.is_file()]
    return found


def secret_forms(secret: str, fragment: int = 10) -> set[str]:
    """What a leak of ``secret`` looks like: itself, its bytes repr, its escaped form, and
    every ``fragment``-character piece of it (an error snippet that cuts a line short still
    leaks the start of the key)."""
    forms = {secret, repr(secret.encode())[2:-1], secret.encode("unicode_escape").decode()}
    if len(secret) > fragment:
        forms |= {secret[i:i + fragment] for i in range(len(secret) - fragment + 1)}
    return forms


def assert_no_secret(secret: str, result: Result | None = None, *paths: Path) -> None:
    """``secret`` appears nowhere: not in the run's stdout/stderr, not in any file under
    ``paths`` (the store with its WAL, the out folder, the spool, the cache, logs)."""
    forms = secret_forms(secret)
    if result is not None:
        for form in forms:
            assert form not in result.stdout, f"secret ({form!r}) in stdout\n{result.describe()}"
            assert form not in result.stderr, f"secret ({form!r}) in stderr\n{result.describe()}"
    needles = {form.encode("utf-8") for form in forms}
    for path in files_under(*paths):
        data = path.read_bytes()
        for needle in needles:
            assert needle not in data, f"secret ({needle!r}) found in {path}"


# -- hostile inputs ---------------------------------------------------------------------------

# "Billion laughs" in YAML: nine aliases of nine lists of nine ... 9^9 (387 million) leaves
# from a few hundred bytes. A loader that expands aliases into new objects runs out of memory.
ALIAS_BOMB = "".join(
    [f'a: &a [{",".join(["lol"] * 9)}]\n']
    + [f"{name}: &{name} [{','.join(['*' + previous] * 9)}]\n"
       for previous, name in zip("abcdefgh", "bcdefghi", strict=True)]
)


def nested_flow_sequence(levels: int) -> str:
    return "name: " + "[" * levels + "]" * levels + "\n"


def nested_flow_mapping(levels: int) -> str:
    return "name: " + "{a: " * levels + "1" + "}" * levels + "\n"


def nested_block_sequence(levels: int) -> str:
    return "".join("  " * i + "-\n" for i in range(levels))


# name -> YAML text; each must be refused quickly, in bounded memory, with a located error.
HOSTILE_YAML: dict[str, str] = {
    "alias-bomb": ALIAS_BOMB,
    "brackets-100k": "[" * 100_000 + "]" * 100_000,
    "sequence-nest-1k": nested_flow_sequence(1_000),
    "sequence-nest-5k": nested_flow_sequence(5_000),
    "sequence-nest-20k": nested_flow_sequence(20_000),
    "mapping-nest-3k": nested_flow_mapping(3_000),
    "block-nest-1k": nested_block_sequence(1_000),
    "self-alias": "name: &a [*a]\n",
}


def loopback_playbook(
    *,
    probes: str = "{tcp: {ports: [9], banner_wait_s: 0.2}}",
    cidrs: Sequence[str] = ("127.0.0.1/32",),
    hosts: Sequence[str] | None = ("127.0.0.1",),
    rate: str = "{packets_per_second: 500, probe_timeout_s: 2}",
    extra: str = "",
) -> str:
    """A playbook authorised for 127.0.0.0/8 only (nothing it plans can leave the machine)."""
    listed = f", hosts: [{', '.join(repr(h) for h in hosts)}]" if hosts else ""
    return (
        "name: hostile-loopback\n"
        "agencies: [{id: a1, name: {zh: 测试局, en: Test Bureau}}]\n"
        "scope: {authorised: ['127.0.0.0/8']}\n"
        f"segments: [{{id: lo, agency: a1, cidrs: [{', '.join(repr(c) for c in cidrs)}]"
        f"{listed}, zone: extranet}}]\n"
        f"rate: {rate}\n"
        f"probes: {probes}\n"
        f"{extra}"
    )


def nmap_host(address: str, ports: Iterable[tuple[int, str, str]] = (
        (23, "telnet", "telnetd"), (21, "ftp", "vsftpd"), (3306, "mysql", "MySQL"))) -> str:
    """One ``<host>`` of nmap XML with open TCP ports (port, service name, product)."""
    listed = "".join(
        f'<port protocol="tcp" portid="{port}"><state state="open"/>'
        f'<service name="{name}" product="{product}"/></port>'
        for port, name, product in ports)
    return (f'<host><status state="up"/><address addr="{address}" addrtype="ipv4"/>'
            f"<ports>{listed}</ports></host>\n")


def nmap_xml(*hosts: str) -> str:
    """An nmap XML report (``nmap -oX``) of the given ``<host>`` elements."""
    return ('<?xml version="1.0"?>\n<nmaprun scanner="nmap" args="nmap -sV">\n'
            + "".join(hosts) + "</nmaprun>\n")


_TEMPLATES: dict[tuple[str, ...], Path] = {}


def populated_store(folder: Path, *, products: Sequence[str] = ("telnetd",)) -> Path:
    """A store holding one completed scan with findings, made by importing nmap XML of
    127.0.0.1 (nothing is sent). ``products`` are the telnet service's product strings.

    The import runs once per process and ``products``; each caller gets its own copy."""
    key = tuple(products)
    if key not in _TEMPLATES:
        template = Path(tempfile.mkdtemp(prefix="sentinel-hostile-store-"))
        atexit.register(shutil.rmtree, template, ignore_errors=True)
        _build_store(template, products)
        _TEMPLATES[key] = template
    folder.mkdir(parents=True, exist_ok=True)
    for source in _TEMPLATES[key].glob("store.db*"):
        shutil.copy(source, folder / source.name)
    return folder / "store.db"


def _build_store(folder: Path, products: Sequence[str]) -> None:
    book = folder / "populate.yml"
    book.write_text(loopback_playbook(), encoding="utf-8")
    ports = [(23, "telnet", products[0]), (21, "ftp", "vsftpd"), (3306, "mysql", "MySQL")]
    ports += [(2300 + i, "telnet", p) for i, p in enumerate(products[1:], start=1)]
    xml = folder / "populate.xml"
    xml.write_text(nmap_xml(nmap_host("127.0.0.1", ports)), encoding="utf-8")
    store = folder / "store.db"
    result = run("import", "nmap", xml, "--playbook", book, "--store", store,
                 home=folder / "home")
    assert result.status == 0, f"could not populate a store\n{result.describe()}"


@contextlib.contextmanager
def closed_port() -> Iterator[int]:
    """A loopback TCP port that refuses connections: bound (so nobody else takes it) but
    not listening."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


def make_fifo(path: Path) -> Path:
    """A named pipe nobody writes to: a reader that opens it blocks forever."""
    os.mkfifo(path)
    return path


def make_sparse(path: Path, size: int = 3 * GIB) -> Path:
    """A regular file of ``size`` bytes that takes no disk (a hole)."""
    with path.open("wb") as handle:
        handle.truncate(size)
    return path
