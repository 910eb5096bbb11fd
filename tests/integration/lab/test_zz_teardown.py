"""`lab down` leaves nothing: no sl- namespace or link, no lab process, no netns mount, no
state dir, no route. Named to run last; it builds the lab again afterwards so any test that
runs after it still finds the lab up."""

from __future__ import annotations

from pathlib import Path

from sentinel.lab import LabStatus, lab_down, lab_status, lab_up
from sentinel.lab.netns import lab_namespaces, root_lab_links
from sentinel.lab.procs import alive

from .clients import MANIFEST, run


def test_down_leaves_nothing_behind(lab: LabStatus) -> None:
    status = lab_status()
    pids = [p.pid for p in status.processes]
    assert pids and all(alive(pid) for pid in pids)
    lab_down()
    assert lab_namespaces() == []
    assert root_lab_links() == []
    assert not [pid for pid in pids if alive(pid)]
    assert "/run/netns/sl-" not in Path("/proc/self/mounts").read_text()
    assert not Path(status.state_dir).exists()
    assert run(["ip", "route", "show", "198.18.0.0/15"]).stdout == ""
    assert run(["ip", "-6", "route", "show", "2001:db8::/32"]).stdout == ""
    assert not lab_status().up
    lab_down()  # a second down on nothing is fine
    assert lab_up(MANIFEST).up
