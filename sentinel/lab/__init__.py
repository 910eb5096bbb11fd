"""The Sentinel lab: a simulated provincial government extranet in network namespaces.

``lab_up()`` builds it from the manifest shipped in this package (``manifest.yml``),
``lab_down()`` removes all of it, ``lab_status()`` tells what is running, and
``exec_argv()`` gives the command line that runs a program inside one lab host.
"""

from __future__ import annotations

from sentinel.lab.lifecycle import (
    LabStatus,
    ProcessStatus,
    lab_agents_down,
    lab_agents_up,
    lab_down,
    lab_status,
    lab_up,
)
from sentinel.lab.manifest import Manifest, load_manifest
from sentinel.lab.procs import ns_argv


def exec_argv(host_id: str, argv: list[str], manifest: Manifest | None = None) -> list[str]:
    """The command line that runs ``argv`` inside a lab host's namespace (or ``core``)."""
    if host_id == "core":
        return ns_argv("sl-core", argv)
    return ns_argv((manifest or load_manifest()).host(host_id).namespace, argv)


__all__ = ["LabStatus", "Manifest", "ProcessStatus", "exec_argv", "lab_agents_down",
           "lab_agents_up", "lab_down", "lab_status",
           "lab_up", "load_manifest"]
