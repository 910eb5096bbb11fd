"""Where Sentinel's data folders are: shipped in the package, or overlaid by the user.

The four data folders (``probes``, ``rules``, ``playbooks``, ``reports``) ship inside the
wheel under ``sentinel/_data`` and are found with importlib.resources. In a source checkout
they are read from the repository root. A user overlays them with a folder of their own
(``--data-dir`` or ``SENTINEL_DATA_DIR``) holding any of the same sub-folders: a file there
replaces the shipped file of the same relative path, and new files are added.

An overlay is trusted to be what it says, or refused: ``SENTINEL_DATA_DIR`` naming a missing
folder or a file, a data sub-folder that is not a folder, or an overlay entry that exists
but is not a regular file (a FIFO, a device, a symbolic link to ``/dev/zero`` or to nothing)
is a :class:`CatalogError` naming it, never silently replaced by the shipped data (an
organisation's deny list could vanish). The checks are a few ``os.stat`` calls: the short
commands (``sentinel probe``) pay nothing for them.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterator
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Literal

from sentinel.errors import CatalogError, SourceLocation

DataKind = Literal["probes", "rules", "playbooks", "reports"]
DATA_KINDS: tuple[DataKind, ...] = ("probes", "rules", "playbooks", "reports")
OVERLAY_ENV = "SENTINEL_DATA_DIR"
MAX_DATA_BYTES = 8 * 1024 * 1024  # the same cap as sentinel.yamlio.MAX_BYTES


def shipped_root(kind: DataKind) -> Traversable:
    """The shipped folder of one data kind (inside the package, or the source checkout)."""
    packaged = files("sentinel").joinpath("_data", kind)
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[2] / kind


def overlay_base() -> Path | None:
    """The overlay folder ``SENTINEL_DATA_DIR`` names (None when it is unset or empty); a
    value that is not an existing folder is a :class:`CatalogError`."""
    base = os.environ.get(OVERLAY_ENV)
    if not base:
        return None
    folder = Path(base)
    _require(folder, stat.S_ISDIR, f"{OVERLAY_ENV} must name an existing folder")
    return folder


def overlay_root(kind: DataKind) -> Path | None:
    """The user's overlay folder for one data kind, if an overlay is configured and holds
    that sub-folder (one that exists but is not a folder is a :class:`CatalogError`)."""
    base = overlay_base()
    if base is None:
        return None
    folder = base / kind
    return folder if _entry(folder, stat.S_ISDIR, "not a folder") else None


def _require(path: Path, wanted: Callable[[int], bool], problem: str) -> None:
    """``path`` must exist and be of the ``wanted`` kind (``stat.S_ISDIR``/``S_ISREG``)."""
    try:
        info = path.stat()
    except OSError as exc:
        raise CatalogError(f"{problem} ({exc.strerror or exc})",
                           SourceLocation(str(path))) from None
    if not wanted(info.st_mode):
        raise CatalogError(problem, SourceLocation(str(path)))


def _entry(path: Path, wanted: Callable[[int], bool], problem: str) -> bool:
    """Whether an overlay holds ``path``: False when nothing is there; True when it is of the
    ``wanted`` kind (following symbolic links); anything else (another kind, a dangling
    link, an entry that cannot be examined) is a :class:`CatalogError` naming it."""
    try:
        info = path.stat()
    except FileNotFoundError:
        if not os.path.lexists(path):
            return False
        raise CatalogError(f"{problem}: a symbolic link to nothing",
                           SourceLocation(str(path))) from None
    except OSError as exc:
        raise CatalogError(f"cannot examine overlay entry: {exc.strerror or exc}",
                           SourceLocation(str(path))) from None
    if not wanted(info.st_mode):
        raise CatalogError(problem, SourceLocation(str(path)))
    return True


def data_file(kind: DataKind, relative: str) -> Traversable:
    """One data file: the overlay's copy if it has one, else the shipped one. An overlay
    entry of that name that is not a regular file is refused, not skipped."""
    overlay = overlay_root(kind)
    if overlay is not None and _entry(overlay / relative, stat.S_ISREG, "not a regular file"):
        return overlay / relative
    node = shipped_root(kind)
    for part in Path(relative).parts:
        node = node.joinpath(part)
    return node


def data_files(
    kind: DataKind, folder: str = "", suffixes: tuple[str, ...] = (".yml",)
) -> Iterator[tuple[str, Traversable]]:
    """Every file of a data folder as (relative name, file), overlay winning, sorted by name."""
    found: dict[str, Traversable] = {}
    node = shipped_root(kind)
    for part in Path(folder).parts:
        node = node.joinpath(part)
    if node.is_dir():
        for child in node.iterdir():
            if child.is_file() and child.name.endswith(suffixes):
                found[child.name] = child
    overlay = overlay_root(kind)
    if overlay is not None and _entry(overlay / folder, stat.S_ISDIR, "not a folder"):
        for entry in (overlay / folder).iterdir():
            if entry.name.endswith(suffixes) and _entry(entry, stat.S_ISREG,
                                                        "not a regular file"):
                found[entry.name] = entry
    yield from sorted(found.items())


def read_text(source: Traversable) -> str:
    """A data file's text, at most ``MAX_DATA_BYTES`` of UTF-8, for the loaders that must not
    import the YAML loader (``sentinel probe``): an overlay is a person's file."""
    name = str(source)
    try:
        with source.open("rb") as handle:
            raw = handle.read(MAX_DATA_BYTES + 1)
    except OSError as exc:
        raise CatalogError(f"cannot read file: {exc.strerror or exc}",
                           SourceLocation(name)) from None
    if len(raw) > MAX_DATA_BYTES:
        raise CatalogError(f"larger than {MAX_DATA_BYTES} bytes", SourceLocation(name))
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CatalogError(f"not UTF-8 text (byte {exc.start})", SourceLocation(name)) from None
