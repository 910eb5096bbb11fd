"""The hostile-input harness: run ``sentinel`` inside an empty network namespace under strace.

Safety is the point of this file. A test that names a non-loopback target (``::ffff:8.8.8.8``,
a lab address with the lab down, a public resolver) must never be able to reach it, even if
the code under test is broken. So every run here:

* starts in a **new, empty network namespace** (``unshare -n``): only a down ``lo`` exists
  (checked before anything else runs; the run aborts with status 97 otherwise). A test may
  bring ``lo`` up or add a veth pair *inside that namespace* (``setup``); a veth whose both
  ends live in the namespace has no path to any real network, so a packet sent there is
  dropped on the spot;
* runs the command under **strace** (``-f``: threads and children such as nmap), recording
  every ``connect``/``sendto``/``sendmsg``/``sendmmsg`` with its socket and destination, so
  a test can assert that nothing was even *attempted*;
* is **bounded**: a wall-clock timeout kills the whole process group, and by default the run
  is also killed at the first outbound attempt (``stop_on_outbound``), so a test of a broken
  gate fails in a second instead of sending a thousand probes into the namespace.

The command is the command line people use, ``python -m sentinel.cli ...`` (or, where the
package has no runnable ``sentinel.cli`` module, ``python -c "from sentinel.cli import
main; main()"``), with ``PYTHONPATH`` at this checkout, so the tests do not depend on the
package's internal layout. Nothing here is skipped: without root, ``unshare`` or ``strace``
a test fails loudly.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import re
import shlex
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DEFAULT_TIMEOUT_S = 60.0
TRACED = "connect,sendto,sendmsg,sendmmsg"
NOT_EMPTY_NETNS = 97  # the harness's own exit status: the namespace was not empty

# What a crash looks like in the output, whatever the exit status says.
CRASH_MARKERS = ("Traceback (most recent call last)", "Fatal Python error",
                 "Exception ignored in", "Segmentation fault", "MemoryError",
                 "RecursionError")
# Messages for people: Sentinel's own ``error: ...`` line, click/typer's usage error
# (plain ``Error: ...`` or the rich panel ``╭─ Error ─...``).
_MESSAGE = re.compile(r"^[ \t]*(error:|Error:|╭─+ Error)", re.MULTILINE | re.IGNORECASE)


# -- the command ---------------------------------------------------------------------------


def sentinel_argv(*args: str | os.PathLike[str]) -> list[str]:
    """``python -m sentinel.cli ARGS`` from this checkout (``-c`` where that cannot run)."""
    package = REPO / "sentinel"
    runnable = (package / "cli.py").is_file() or (package / "cli" / "__main__.py").is_file()
    head = ["-m", "sentinel.cli"] if runnable else [
        "-c", "from sentinel.cli import main; main()"]
    return [sys.executable, *head, *map(str, args)]


def clean_env(home: Path, cache: Path | None = None, **extra: str | None) -> dict[str, str]:
    """The parent's environment without ``SENTINEL_*``, PYTHONPATH at this checkout, HOME (and
    so the default store) in ``home``; ``extra`` sets variables (None removes one)."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("SENTINEL_")
           and k not in ("PYTHONPATH", "PYTHONSTARTUP", "PYTHONIOENCODING", "PYTHONHOME")}
    home.mkdir(parents=True, exist_ok=True)
    env.update(PYTHONPATH=str(REPO), PYTHONDONTWRITEBYTECODE="1", HOME=str(home),
               XDG_DATA_HOME=str(home / "data"), XDG_CACHE_HOME=str(cache or home / "cache"),
               LANG="C.UTF-8", COLUMNS="200", SENTINEL_STORE=str(home / "sentinel.db"))
    for key, value in extra.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


# -- what strace saw -----------------------------------------------------------------------

_CALL = re.compile(r"^(?P<pid>\d+)\s+(?P<call>connect|sendto|sendmsg|sendmmsg)\("
                   r"(?P<fd>\d+)(?:<(?P<kind>[^>]*)>)?")
_V4 = re.compile(r'sa_family=AF_INET, sin_port=htons\((?P<port>\d+)\), '
                 r'sin_addr=inet_addr\("(?P<addr>[^"]+)"\)')
_V6 = re.compile(r'sa_family=AF_INET6, sin6_port=htons\((?P<port>\d+)\),.*?'
                 r'inet_pton\(AF_INET6, "(?P<addr>[^"]+)"')
_PEER = re.compile(r"->\[?(?P<addr>[0-9A-Fa-f.:]+?)\]?:(?P<port>\d+)\]$")
_LOCAL_KINDS = ("NETLINK", "UNIX")  # kernel and local IPC sockets: never on the wire


@dataclass(frozen=True)
class Attempt:
    """One traced connect/send: the socket kind (strace -yy), the family and destination
    where one is known, and the strace line itself (with the syscall's result)."""

    pid: int
    call: str
    kind: str  # e.g. TCP, UDPv6, RAW, NETLINK, UNIX-STREAM, socket (packet sockets)
    family: str  # inet, inet6, packet (a raw frame whose destination is in the payload), local
    address: str | None
    port: int | None
    line: str

    @property
    def outbound(self) -> bool:
        """Could this have put a packet on a wire (anything but loopback and local IPC)?"""
        if self.family == "local":
            return False
        if self.address is None:
            return True  # a packet socket, or a socket we cannot place: count it
        return not _is_loopback(self.address)

    def __str__(self) -> str:
        where = (f"{self.address}:{self.port}" if self.address is not None
                 else "(local)" if self.family == "local" else _frame(self.line))
        return f"{self.call} {self.kind} {self.family} {where}"


_ESCAPES = {"n": 10, "t": 9, "r": 13, "v": 11, "f": 12, "\\": 92, '"': 34}


def _frame(line: str) -> str:
    """A packet socket's frame, as far as strace shows it: destination MAC and ethertype."""
    found = re.search(r', "((?:[^"\\]|\\.)*)"', line)
    if not found:
        return "(frame)"
    text, data, index = found[1], bytearray(), 0
    while index < len(text):
        char = text[index]
        if char == "\\" and index + 1 < len(text):
            octal = re.match(r"[0-7]{1,3}", text[index + 1:])
            if octal:
                data.append(int(octal[0], 8) & 0xFF)
                index += 1 + len(octal[0])
                continue
            data.append(_ESCAPES.get(text[index + 1], ord(text[index + 1])))
            index += 2
            continue
        data.append(ord(char) & 0xFF)
        index += 1
    if len(data) < 14:
        return "(frame)"
    return f"(frame to {data[:6].hex(':')}, ethertype 0x{data[12:14].hex()})"


def _is_loopback(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    mapped = getattr(ip, "ipv4_mapped", None)
    return ip.is_loopback or (mapped is not None and mapped.is_loopback)


def parse_attempt(line: str) -> Attempt | None:
    """One strace line as an :class:`Attempt` (None for lines that are not one)."""
    match = _CALL.match(line)
    if match is None:
        return None
    kind = (match["kind"] or "socket").split(":", 1)[0]
    pid, call = int(match["pid"]), match["call"]
    if kind.startswith(_LOCAL_KINDS) or "sa_family=AF_UNIX" in line \
            or ("sa_family=AF_NETLINK" in line and not kind.startswith(("TCP", "UDP", "RAW"))):
        return Attempt(pid, call, kind, "local", None, None, line)
    if call == "connect" and "sa_family=AF_UNSPEC" in line:
        return Attempt(pid, call, kind, "local", None, None, line)  # a disconnect
    for pattern, family in ((_V6, "inet6"), (_V4, "inet")):
        found = pattern.search(line)
        if found:
            return Attempt(pid, call, kind, family, found["addr"], int(found["port"]), line)
    peer = _PEER.search(match["kind"] or "")
    if peer:  # a connected socket: strace -yy shows its peer
        family = "inet6" if ":" in peer["addr"] else "inet"
        return Attempt(pid, call, kind, family, peer["addr"], int(peer["port"]), line)
    return Attempt(pid, call, kind, "packet", None, None, line)


def parse_trace(text: str) -> list[Attempt]:
    return [a for a in map(parse_attempt, text.splitlines()) if a is not None]


# -- one run -------------------------------------------------------------------------------


@dataclass
class Run:
    """How one run ended. Unpacks as ``status, stdout, stderr, attempts``."""

    args: tuple[str, ...]
    status: int | None  # None: killed (timeout or tripwire)
    stdout: str
    stderr: str
    attempts: list[Attempt]
    elapsed_s: float = 0.0
    timed_out: bool = False
    tripped: Attempt | None = None  # the outbound attempt that stopped the run
    trace: str = field(default="", repr=False)

    def __iter__(self) -> Iterator[object]:
        return iter((self.status, self.stdout, self.stderr, self.attempts))

    def __repr__(self) -> str:  # short: assertion messages carry describe() instead
        return f"Run({shlex.join(self.args)!r}, status={self.status})"

    @property
    def outbound(self) -> list[Attempt]:
        return [a for a in self.attempts if a.outbound]

    @property
    def messages(self) -> list[str]:
        """The lines of stderr that start a message for people (error: ..., click panels)."""
        return [self.stderr[m.start(1):].split("\n", 1)[0].strip()
                for m in _MESSAGE.finditer(self.stderr)]

    def describe(self) -> str:
        if self.timed_out:
            ended = f"killed after {self.elapsed_s:.1f}s (timeout)"
        elif self.tripped is not None:
            ended = f"killed at the first outbound attempt ({self.tripped})"
        else:
            ended = f"exit {self.status} after {self.elapsed_s:.1f}s"
        shown = "\n".join(f"  {a}" for a in self.attempts[:20]) or "  (none)"
        more = f"\n  ... {len(self.attempts) - 20} more" if len(self.attempts) > 20 else ""
        return (f"sentinel {shlex.join(self.args)}\n{ended}\n"
                f"--- attempted connect/send ---\n{shown}{more}\n"
                f"--- stdout ---\n{self.stdout[-2500:]}\n--- stderr ---\n{self.stderr[-2500:]}")


def _require_tools() -> None:
    if os.geteuid() != 0:
        pytest.fail("the hostile suite needs root (unshare -n, veth links in the namespace)")
    for tool in ("unshare", "strace", "ip"):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} is missing: apt-get install -y strace iproute2 util-linux "
                        "(make deps installs them)")


def run_in_netns(
    *args: str | os.PathLike[str],
    home: Path,
    env: Mapping[str, str] | None = None,
    setup: Sequence[str] = (),
    lo_up: bool = False,
    timeout: float = DEFAULT_TIMEOUT_S,
    stop_on_outbound: bool = True,
    cwd: Path | None = None,
) -> Run:
    """Run ``sentinel ARGS`` in a fresh empty network namespace under strace.

    ``setup`` are shell commands run inside the namespace first (``ip link add ...``);
    ``lo_up`` brings loopback up. Returns the :class:`Run`, whose ``attempts`` are every
    connect/send the command (and its threads and children) tried.
    """
    _require_tools()
    home.mkdir(parents=True, exist_ok=True)
    trace = home / f"strace-{time.monotonic_ns()}.txt"
    out_path, err_path = trace.with_suffix(".out"), trace.with_suffix(".err")
    command = sentinel_argv(*args)
    script = "\n".join([
        "set -eu",
        # A fresh namespace holds exactly one link, a down lo; anything else means we are not
        # where we think we are, and nothing may run.
        f'[ "$(ip -o link show | wc -l)" -eq 1 ] || {{ echo "harness: the network namespace '
        f'is not empty" >&2; exit {NOT_EMPTY_NETNS}; }}',
        f'[ -z "$(ip -o addr show scope global)" ] || exit {NOT_EMPTY_NETNS}',
        *(["ip link set lo up"] if lo_up else []),
        *setup,
        "exec strace -f --seccomp-bpf -qq -yy -e signal=none -e trace=" + TRACED
        + f" -o {shlex.quote(str(trace))} -- " + shlex.join(command),
    ])
    environment = dict(env) if env is not None else clean_env(home)
    started = time.monotonic()
    with out_path.open("wb") as out, err_path.open("wb") as err:
        child = subprocess.Popen(
            ["unshare", "--net", "--", "sh", "-c", script], stdin=subprocess.DEVNULL,
            stdout=out, stderr=err, env=environment, cwd=cwd or REPO, start_new_session=True)
    status, timed_out, tripped, seen = None, False, None, 0
    attempts: list[Attempt] = []
    try:
        while True:
            code = child.poll()
            if trace.exists():
                text = trace.read_text(errors="replace")
                complete = text[: text.rfind("\n") + 1]
                for line in complete[seen:].splitlines():
                    attempt = parse_attempt(line)
                    if attempt is not None:
                        attempts.append(attempt)
                        if stop_on_outbound and attempt.outbound and tripped is None:
                            tripped = attempt
                seen = len(complete)
            if code is not None:
                status = code
                break
            if tripped is not None:
                break
            if time.monotonic() - started > timeout:
                timed_out = True
                break
            time.sleep(0.05)
    finally:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(child.pid, signal.SIGKILL)
        child.wait()
    elapsed = time.monotonic() - started
    text = trace.read_text(errors="replace") if trace.exists() else ""
    attempts = parse_trace(text)  # the whole trace, including what came after the tripwire
    run = Run(tuple(map(str, args)), status, out_path.read_text(errors="replace"),
              err_path.read_text(errors="replace"), attempts, elapsed, timed_out, tripped, text)
    if status == NOT_EMPTY_NETNS:
        pytest.fail(f"the harness did not get an empty network namespace\n{run.describe()}")
    if status is not None and not trace.exists():
        pytest.fail(f"strace did not run (no trace file)\n{run.describe()}")
    return run


# -- judging -------------------------------------------------------------------------------


def assert_no_crash(run: Run) -> None:
    assert not run.timed_out, f"hung: killed at the timeout\n{run.describe()}"
    for marker in CRASH_MARKERS:
        assert marker not in run.stderr and marker not in run.stdout, (
            f"{marker!r} in the output\n{run.describe()}")


def assert_nothing_sent(run: Run) -> None:
    """No connect or send that could leave the machine: not to the target, not to anything
    (loopback and local IPC aside)."""
    assert not run.outbound, (
        "attempted to send before (or instead of) refusing:\n"
        + "\n".join(f"  {a}" for a in run.outbound[:10]) + f"\n{run.describe()}")


def assert_refused(run: Run, *needles: str, status: int = 2) -> str:
    """Refused cleanly: nothing sent, the exit status, no traceback, exactly one message,
    naming every ``needle`` (case-insensitive). Returns the message."""
    assert_nothing_sent(run)
    assert_no_crash(run)
    assert run.status == status, f"expected exit {status}, got {run.status}\n{run.describe()}"
    messages = run.messages
    assert len(messages) == 1, (
        f"expected one message, got {len(messages)}: {messages}\n{run.describe()}")
    # The message may wrap inside a panel: judge the whole of stderr for the words.
    lowered = run.stderr.lower()
    for needle in needles:
        assert needle.lower() in lowered, f"the message does not name {needle!r}\n{run.describe()}"
    for wrong in ("no such option", "unknown field", "extra inputs are not permitted"):
        assert wrong not in lowered, (
            f"refused for the wrong reason ({wrong!r}): the feature is missing\n{run.describe()}")
    return messages[0]


def store_events(store: Path) -> list[tuple[str, str]]:
    """(action, document) of every event in a SQLite store (read with sqlite3 itself, so the
    tests do not depend on the store's Python API)."""
    if not store.exists():
        return []
    with contextlib.closing(sqlite3.connect(f"file:{store}?mode=ro", uri=True)) as db:
        try:
            return list(db.execute("SELECT action, doc FROM events"))
        except sqlite3.DatabaseError:
            return []


# -- fixtures --------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def shared_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One data cache for the session (keyed on the files' contents, so sharing is safe)."""
    return tmp_path_factory.mktemp("sentinel-cache")


@dataclass
class Sandbox:
    """Per-test home, store and playbook folder, and a runner bound to them."""

    home: Path
    cache: Path

    @property
    def store(self) -> Path:
        return self.home / "sentinel.db"

    def env(self, **extra: str | None) -> dict[str, str]:
        return clean_env(self.home, self.cache, **extra)

    def write(self, name: str, text: str) -> Path:
        path = self.home / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return path

    def run(self, *args: str | os.PathLike[str], env: Mapping[str, str] | None = None,
            **kwargs: object) -> Run:
        return run_in_netns(*args, home=self.home, env=env or self.env(), **kwargs)  # type: ignore[arg-type]


@pytest.fixture
def sandbox(tmp_path: Path, shared_cache: Path) -> Sandbox:
    return Sandbox(tmp_path / "home", shared_cache)


# A veth pair whose two ends both live in the test's namespace, with a default route (v4 and
# v6) out of it: lab and public addresses WOULD route out "the default interface" here, yet a
# frame sent there goes nowhere but the other end of the pair, inside the namespace.
DEFAULT_ROUTE_SETUP = (
    "ip link add v0 type veth peer name v1",
    "ip link set v1 up",
    "ip link set v0 up",
    "ip addr add 198.19.99.1/24 dev v0",
    "ip -6 addr add fd00:99::1/64 dev v0 nodad",
    "ip route add default via 198.19.99.2 dev v0",
    "ip -6 route add default via fd00:99::2 dev v0",
)


# -- playbooks -------------------------------------------------------------------------------


def segment(cidrs: Sequence[str], hosts: Sequence[str] = (), id: str = "s1",
            **extra: object) -> dict[str, object]:
    found: dict[str, object] = {"id": id, "agency": "a1", "cidrs": list(cidrs),
                                "zone": "extranet", **extra}
    if hosts:
        found["hosts"] = list(hosts)
    return found


def playbook(*, authorised: Sequence[str], segments: Sequence[dict[str, object]],
             deny: Sequence[str] = (), **extra: object) -> str:
    """A playbook as YAML text (flow style: JSON is YAML). ``extra`` adds top-level keys
    (assets, resolvers, sites, probes, rate). The tcp probe defaults to one port, so a scan
    that is (wrongly) let through makes few connections before the tripwire stops it."""
    doc: dict[str, object] = {
        "name": "hostile",
        "agencies": [{"id": "a1", "name": {"zh": "测试局", "en": "Test Bureau"}}],
        "scope": {"authorised": list(authorised), "deny": list(deny)},
        "segments": list(segments),
        "probes": {"tcp": {"ports": [443]}},
    }
    doc.update(extra)
    return "\n".join(f"{key}: {json.dumps(value, ensure_ascii=False)}"
                     for key, value in doc.items()) + "\n"


def scope_overlay(root: Path, global_deny: Sequence[str]) -> Path:
    """A SENTINEL_DATA_DIR folder whose probes/scope.yml adds ``global_deny`` to the shipped
    lists (the shipped probe scope kept)."""
    folder = root / "probes"
    folder.mkdir(parents=True, exist_ok=True)
    shipped = (REPO / "probes" / "scope.yml").read_text(encoding="utf-8")
    listed = "".join(f"  - {c}\n" for c in global_deny)
    text = shipped.replace("global_deny:\n", "global_deny:\n" + listed, 1)
    assert listed in text, "probes/scope.yml has no global_deny list to extend"
    (folder / "scope.yml").write_text(text, encoding="utf-8")
    return root
