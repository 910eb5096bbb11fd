"""The lab, brought up once per test session and torn down at its end.

Every test under this folder is marked ``lab``: they need root, network namespaces and the
lab's servers. Clients run in the root namespace, as the scanner does, and reach the lab only
through its routes for 198.18.0.0/15 and 2001:db8::/32.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from sentinel.lab import LabStatus, Manifest, lab_down, lab_status, lab_up

from .clients import MANIFEST

HERE = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.lab)


@pytest.fixture(scope="session")
def lab() -> Iterator[LabStatus]:
    """The running lab (built once; removed at the end unless it was up before the session)."""
    assert os.geteuid() == 0, "the lab needs root (network namespaces); run the tests as root"
    was_up = lab_status().up
    status = lab_up(MANIFEST)
    yield status
    if not was_up:
        lab_down()


@pytest.fixture(scope="session")
def manifest() -> Manifest:
    """The shipped manifest the lab is built from."""
    return MANIFEST
