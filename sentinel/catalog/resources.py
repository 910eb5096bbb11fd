"""Where Sentinel's data folders are: shipped in the package, or overlaid by the user.

The four data folders (``probes``, ``rules``, ``playbooks``, ``reports``) ship inside the
wheel under ``sentinel/_data`` and are found with importlib.resources. In a source checkout
they are read from the repository root. A user overlays them with a folder of their own
(``--data-dir`` or ``SENTINEL_DATA_DIR``) holding any of the same sub-folders: a file there
replaces the shipped file of the same relative path, and new files are added.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Literal

DataKind = Literal["probes", "rules", "playbooks", "reports"]
DATA_KINDS: tuple[DataKind, ...] = ("probes", "rules", "playbooks", "reports")
OVERLAY_ENV = "SENTINEL_DATA_DIR"


def shipped_root(kind: DataKind) -> Traversable:
    """The shipped folder of one data kind (inside the package, or the source checkout)."""
    packaged = files("sentinel").joinpath("_data", kind)
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[2] / kind


def overlay_root(kind: DataKind) -> Path | None:
    """The user's overlay folder for one data kind, if one is configured and exists."""
    base = os.environ.get(OVERLAY_ENV)
    if not base:
        return None
    folder = Path(base) / kind
    return folder if folder.is_dir() else None


def data_file(kind: DataKind, relative: str) -> Traversable:
    """One data file: the overlay's copy if it has one, else the shipped one."""
    overlay = overlay_root(kind)
    if overlay is not None and (overlay / relative).is_file():
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
    roots: list[Traversable] = [shipped_root(kind)]
    overlay = overlay_root(kind)
    if overlay is not None:
        roots.append(overlay)
    for root in roots:
        node = root
        for part in Path(folder).parts:
            node = node.joinpath(part)
        if not node.is_dir():
            continue
        for child in node.iterdir():
            if child.is_file() and child.name.endswith(suffixes):
                found[child.name] = child
    yield from sorted(found.items())
