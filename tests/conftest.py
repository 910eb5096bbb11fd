"""Fixtures and markers shared by every test folder.

``lab``: the simulated extranet, brought up once per session (root, network namespaces) and
taken down at its end, where the teardown is itself checked (nothing may remain); if the lab
was up before the session it is brought up again afterwards. Every test that uses it, and
every test under ``tests/lab`` (the lab's self-checks: its servers are what the manifest
says), ``tests/integration/lab`` (Sentinel against the lab) or ``tests/hostile`` (hostile input
in empty namespaces), carries the ``lab`` marker: they all need root and namespaces.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from sentinel.lab import LabStatus, Manifest, lab_status, lab_up
from tests.lab.clients import MANIFEST
from tests.lab.teardown_check import down_leaves_nothing_behind

HERE = Path(__file__).parent
# Folders whose tests need root and network namespaces: the lab's, Sentinel against the lab,
# and the hostile-input suite (an empty namespace per run, strace, private mounts).
LAB_FOLDERS = (HERE / "lab", HERE / "integration" / "lab", HERE / "hostile")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        path = Path(str(item.fspath))
        in_lab_folder = any(folder in path.parents for folder in LAB_FOLDERS)
        if in_lab_folder or "lab" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.lab)


@pytest.fixture(scope="session")
def lab() -> Iterator[LabStatus]:
    """The running lab (built once; removed, and the removal checked, at the end)."""
    assert os.geteuid() == 0, "the lab needs root (network namespaces); run the tests as root"
    was_up = lab_status().up
    lab_up(MANIFEST)
    yield lab_status()
    down_leaves_nothing_behind(lab_status())
    if was_up:
        lab_up(MANIFEST)


@pytest.fixture(scope="session")
def manifest() -> Manifest:
    """The shipped manifest the lab is built from."""
    return MANIFEST
