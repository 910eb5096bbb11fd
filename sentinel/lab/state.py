"""Where the running lab keeps its files: configs, certificates, logs and pid records.

The state dir (``/run/sentinel-lab`` or ``$SENTINEL_LAB_STATE``) lives only while the lab is
up; `lab down` removes it. Built artifacts that are slow to make (the national-crypto server
builds) live in the cache dir (``/var/cache/sentinel-lab`` or ``$SENTINEL_LAB_CACHE``), which
survives `lab down` so a warm `lab up` stays fast.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

STATE_ENV = "SENTINEL_LAB_STATE"
CACHE_ENV = "SENTINEL_LAB_CACHE"
DEFAULT_STATE = Path("/run/sentinel-lab")
DEFAULT_CACHE = Path("/var/cache/sentinel-lab")


@dataclass(frozen=True)
class ProcessRecord:
    """One lab process: a name, its pid (also its process group) and its namespace."""

    name: str
    pid: int
    namespace: str


@dataclass(frozen=True)
class LabPaths:
    """The lab's directories."""

    root: Path
    cache: Path

    @classmethod
    def from_env(cls) -> LabPaths:
        """Paths from the environment, or the defaults."""
        root = Path(os.environ.get(STATE_ENV) or DEFAULT_STATE)
        cache = Path(os.environ.get(CACHE_ENV) or DEFAULT_CACHE)
        return cls(root=root, cache=cache)

    @property
    def pids(self) -> Path:
        """One file per started process: ``NAME.pid`` holding ``PID NAMESPACE``."""
        return self.root / "pids"

    @property
    def certs(self) -> Path:
        """The lab CA and every server certificate."""
        return self.root / "certs"

    @property
    def logs(self) -> Path:
        """Each server's stdout and stderr."""
        return self.root / "logs"

    @property
    def manifest_copy(self) -> Path:
        """The manifest the running lab was built from."""
        return self.root / "manifest.yml"

    def host_dir(self, host_id: str) -> Path:
        """A host's private config directory."""
        return self.root / "hosts" / host_id

    def make(self) -> None:
        """Create the state directories (private to root: they hold lab keys)."""
        for folder in (self.root, self.pids, self.certs, self.logs, self.cache):
            folder.mkdir(parents=True, exist_ok=True)
        self.root.chmod(0o755)

    def record(self, record: ProcessRecord) -> None:
        """Remember a started process so `lab down` can stop it."""
        path = self.pids / f"{record.name}.pid"
        path.write_text(f"{record.pid} {record.namespace}\n", encoding="ascii")

    def records(self) -> list[ProcessRecord]:
        """Every process the lab started (unreadable records are skipped)."""
        found: list[ProcessRecord] = []
        if not self.pids.is_dir():
            return found
        for path in sorted(self.pids.glob("*.pid")):
            parts = path.read_text(encoding="ascii").split()
            if len(parts) == 2 and parts[0].isdigit():
                found.append(ProcessRecord(path.stem, int(parts[0]), parts[1]))
        return found
