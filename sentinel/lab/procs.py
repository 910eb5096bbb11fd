"""Running commands for the lab: one-shot commands, and tracked daemons inside namespaces.

Every daemon is started in its own session (so its pid is also its process-group id and
`lab down` can stop the daemon with everything it forked) and recorded in the state dir.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from sentinel.errors import LabError
from sentinel.lab.state import LabPaths, ProcessRecord

COMMAND_TIMEOUT = 60.0
ROOT_NS = "root"  # a recorded process in the scanner's own namespace (the agents' relay)


def run(argv: Sequence[str], *, check: bool = True, timeout: float = COMMAND_TIMEOUT,
        input_text: str | None = None, env: Mapping[str, str] | None = None
        ) -> subprocess.CompletedProcess[str]:
    """Run a command to completion; a failure (when checked) is a LabError naming it."""
    try:
        done = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout,
                              input=input_text, check=False,
                              env=None if env is None else {**os.environ, **env})
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise LabError(f"{' '.join(argv)}: {exc}") from exc
    if check and done.returncode != 0:
        detail = (done.stderr or done.stdout).strip()
        raise LabError(f"{' '.join(argv)} failed ({done.returncode}): {detail}")
    return done


def ns_argv(namespace: str, argv: Sequence[str]) -> list[str]:
    """A command line that runs argv inside a network namespace."""
    return ["ip", "netns", "exec", namespace, *argv]


def spawn(paths: LabPaths, name: str, namespace: str, argv: Sequence[str], *,
          env: Mapping[str, str] | None = None, cwd: Path | None = None) -> ProcessRecord:
    """Start a long-running daemon in a namespace (in the foreground, its own session);
    ``ROOT_NS`` runs it in this namespace."""
    log = (paths.logs / f"{name}.log").open("ab")
    full_env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                "LANG": "C.UTF-8", "HOME": "/root"}
    full_env.update(env or {})
    try:
        command = list(argv) if namespace == ROOT_NS else ns_argv(namespace, argv)
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL,
                                   stdout=log, stderr=subprocess.STDOUT, env=full_env,
                                   cwd=cwd, start_new_session=True)
    except OSError as exc:
        raise LabError(f"cannot start {name}: {exc}") from exc
    finally:
        log.close()
    record = ProcessRecord(name, process.pid, namespace)
    paths.record(record)
    return record


def alive(pid: int) -> bool:
    """Whether a process exists and is not a zombie waiting to be reaped."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return False
    # The state letter follows the parenthesised command name, which may contain spaces.
    return stat.rsplit(")", 1)[-1].split()[0] not in {"Z", "X"}


def _reap(pid: int) -> None:
    """Collect a dead child of this process so it does not linger as a zombie."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def stop(pids: Sequence[int], grace: float = 3.0) -> None:
    """Stop processes and their groups: SIGTERM, then SIGKILL after a grace period."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in pids:
            for kill in (os.killpg, os.kill):
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    kill(pid, sig)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            for pid in pids:
                _reap(pid)
            if not any(alive(pid) for pid in pids):
                return
            time.sleep(0.05)
    for pid in pids:
        _reap(pid)
