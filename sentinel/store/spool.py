"""The disk spool: bulk lines waiting for Elasticsearch, append-only, fsync'd, size-capped.

Lines are kept in segment files (``segment-<n>.ndjson``) in write order. A batch is written
to the newest segment and fsync'd before :meth:`Spool.append` returns, so a spooled document
survives a crash of the agent. Replay reads the oldest segment first and deletes a segment
only once all its lines are acknowledged; a replay cut short is repeated from the start of
the segment, which is harmless because every document has a fixed ``_id``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from sentinel.errors import SpoolFullError

_SEGMENT_BYTES = 4 * 1024 * 1024  # small segments: a replay cut short repeats little


class Spool:
    """Bulk lines on disk, in order, at most ``max_bytes`` in total."""

    def __init__(self, directory: Path, max_bytes: int) -> None:
        self.directory = directory
        self.max_bytes = max_bytes
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)

    def segments(self) -> list[Path]:
        """Segment files, oldest first."""
        return sorted(self.directory.glob("segment-*.ndjson"))

    def size(self) -> int:
        """Bytes currently spooled."""
        return sum(path.stat().st_size for path in self.segments())

    def __bool__(self) -> bool:
        return bool(self.segments())

    def append(self, lines: list[str]) -> None:
        """Append bulk lines durably, or raise :class:`SpoolFullError` and write nothing."""
        data = "".join(line + "\n" for line in lines).encode()
        if self.size() + len(data) > self.max_bytes:
            raise SpoolFullError(str(self.directory), self.max_bytes)
        existing = self.segments()
        if existing and existing[-1].stat().st_size + len(data) <= _SEGMENT_BYTES:
            target = existing[-1]
        else:
            number = int(existing[-1].stem.split("-")[1]) + 1 if existing else 1
            target = self.directory / f"segment-{number:08d}.ndjson"
        fd = os.open(target, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        self._sync_directory()

    def batches(self, segment: Path, lines_per_batch: int) -> Iterator[list[str]]:
        """The lines of one segment, ``lines_per_batch`` at a time (bulk pairs stay whole)."""
        batch: list[str] = []
        with segment.open(encoding="utf-8") as handle:
            for line in handle:
                batch.append(line.rstrip("\n"))
                if len(batch) >= lines_per_batch:
                    yield batch
                    batch = []
        if batch:
            yield batch

    def remove(self, segment: Path) -> None:
        """Drop a segment whose lines Elasticsearch has acknowledged."""
        segment.unlink(missing_ok=True)
        self._sync_directory()

    def _sync_directory(self) -> None:
        # fsync the directory so a created or removed segment survives a power cut too.
        fd = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
