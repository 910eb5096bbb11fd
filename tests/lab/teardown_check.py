"""What `lab down` must leave: no sl- namespace or link, no lab process, no netns mount, no
state dir, no route. The session's ``lab`` fixture runs this after its final teardown, so the
check does not depend on running last."""

from __future__ import annotations

from pathlib import Path

from sentinel.lab import LabStatus, lab_down, lab_status
from sentinel.lab.netns import lab_namespaces, root_lab_links
from sentinel.lab.procs import alive
from tests.lab.clients import run


def down_leaves_nothing_behind(before: LabStatus) -> None:
    """Take the lab down and assert that nothing of it remains (raises AssertionError)."""
    pids = [p.pid for p in before.processes]
    assert pids and all(alive(pid) for pid in pids), "the lab was not fully up before down"
    lab_down()
    assert lab_namespaces() == []
    assert root_lab_links() == []
    assert not [pid for pid in pids if alive(pid)]
    assert "/run/netns/sl-" not in Path("/proc/self/mounts").read_text()
    assert not Path(before.state_dir).exists()
    assert run(["ip", "route", "show", "198.18.0.0/15"]).stdout == ""
    assert run(["ip", "-6", "route", "show", "2001:db8::/32"]).stdout == ""
    assert not lab_status().up
    lab_down()  # a second down on nothing is fine
