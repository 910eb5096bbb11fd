"""Validated data kept pickled under the user's cache directory, so a short command (one
``sentinel probe``) does not pay for importing pydantic and the YAML loader to re-validate
files that have not changed.

The key is the SHA-256 of the file's text and of the modules that define its schema and its
plain form: an edited file or a changed schema never reads an old pickle. A missing,
unreadable, stale or foreign pickle falls back to ``build`` (which validates the file and
raises its CatalogError as usual); ``SENTINEL_NO_CACHE=1`` turns the cache off.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import pickle
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")


def cache_path(name: str, text: str, schema: Sequence[Path]) -> Path | None:
    """Where the pickle for this text and these schema modules lives (None: no cache)."""
    if os.environ.get("SENTINEL_NO_CACHE"):
        return None
    root = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    digest = hashlib.sha256(text.encode("utf-8"))
    for module in schema:
        digest.update(module.read_bytes())
    return Path(root) / "sentinel" / f"{name}-{digest.hexdigest()[:32]}.pickle"


def cached(name: str, text: str, schema: Sequence[Path], kind: type[T],
           build: Callable[[], T]) -> T:
    """The ``kind`` value pickled for ``text``, or ``build()`` (then pickled for next time)."""
    path = cache_path(name, text, schema)
    if path is not None:
        with contextlib.suppress(OSError, pickle.UnpicklingError, EOFError, AttributeError,
                                 TypeError, ValueError, ImportError):
            value = pickle.loads(path.read_bytes())  # noqa: S301 - our own file, see above
            if isinstance(value, kind):
                return value
    value = build()
    if path is not None:
        with contextlib.suppress(OSError):
            path.parent.mkdir(parents=True, exist_ok=True)
            partial = path.with_suffix(f".{os.getpid()}.tmp")
            partial.write_bytes(pickle.dumps(value, pickle.HIGHEST_PROTOCOL))
            partial.replace(path)
    return value
