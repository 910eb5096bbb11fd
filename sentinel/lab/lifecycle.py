"""Bringing the lab up, tearing it down, and telling what is running.

`lab up` is idempotent: when the lab is already up, healthy and built from the same manifest
it returns at once; anything less (a half-built lab, a dead server, another manifest) is torn
down and built again. `lab down` finds everything by name and by record (namespaces named
``sl-*``, root links named ``sl-*``, processes inside those namespaces, recorded pids, netns
mounts), so it also cleans up after a crashed `lab up`.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from collections import defaultdict
from pathlib import Path

from pydantic import BaseModel

from sentinel.errors import LabError
from sentinel.lab import cloud_fw, netns, readiness
from sentinel.lab.agents import agents_down, agents_status, agents_up
from sentinel.lab.certs import CertFactory
from sentinel.lab.manifest import Manifest, Service, ServiceKind, load_manifest, parse_manifest
from sentinel.lab.procs import alive, run, stop
from sentinel.lab.servers import STARTERS, ServerContext, national, radvd
from sentinel.lab.state import LabPaths, ProcessRecord

LOG = logging.getLogger(__name__)
CLOUD_DIGEST = "cloud-digest"
MARKER = ".sentinel-lab"  # only a directory holding this file is ever removed by `lab down`
REQUIRED_TOOLS = ("ip", "sysctl", "ss", "openssl", "ssh-keygen", "nginx", "gnutls-serv",
                  "sshd", "snmpd", "dnsmasq", "radvd", "redis-server", "vsftpd", "inetd",
                  "nft")


class ProcessStatus(BaseModel):
    """One lab process and whether it is still running."""

    name: str
    pid: int
    namespace: str
    alive: bool


class LabStatus(BaseModel):
    """What `lab status` reports."""

    up: bool
    state_dir: str
    namespaces: list[str]
    missing_namespaces: list[str]
    processes: list[ProcessStatus]
    root_links: list[str]
    hosts: int
    services: int
    built_seconds: float | None = None
    # With `lab up --agents`: the broker URL for the coordinator (127.0.0.1, with the lab
    # node's credentials), the agents' key file, and whether every agent process runs.
    broker: str | None = None
    agent_key_file: str | None = None
    agents: dict[str, bool] | None = None


def lab_status(paths: LabPaths | None = None) -> LabStatus:
    """Inspect the lab without changing anything."""
    paths = paths or LabPaths.from_env()
    present = netns.lab_namespaces()
    manifest = _built_manifest(paths)
    expected = [] if manifest is None else \
        [netns.CORE_NS, *(h.namespace for h in manifest.hosts)]
    processes = [ProcessStatus(name=r.name, pid=r.pid, namespace=r.namespace, alive=alive(r.pid))
                 for r in paths.records()]
    missing = [name for name in expected if name not in present]
    built = paths.root / "built-seconds"
    up = bool(manifest) and not missing and all(p.alive for p in processes) and bool(processes)
    agents = agents_status(paths)
    return LabStatus(
        up=up, state_dir=str(paths.root), namespaces=present, missing_namespaces=missing,
        processes=processes, root_links=netns.root_lab_links(),
        hosts=0 if manifest is None else len(manifest.hosts),
        services=0 if manifest is None else sum(len(h.services) for h in manifest.hosts),
        built_seconds=float(built.read_text()) if built.exists() else None,
        broker=None if agents is None else agents["broker"],
        agent_key_file=None if agents is None else agents["key_file"],
        agents=None if agents is None else agents["processes"])


def lab_agents_up(manifest: Manifest | None = None, paths: LabPaths | None = None) -> LabStatus:
    """The lab (built when it is not up) with one agent in each segment (docs/agents.md)."""
    manifest = manifest or load_manifest()
    paths = paths or LabPaths.from_env()
    lab_up(manifest, paths)
    agents_up(manifest, paths)
    return lab_status(paths)


def lab_agents_down(paths: LabPaths | None = None) -> LabStatus:
    """Remove the agents (and the broker node when `lab up --agents` started it); the rest
    of the lab stays up."""
    _require_root()
    paths = paths or LabPaths.from_env()
    agents_down(paths)
    return lab_status(paths)


def lab_up(manifest: Manifest | None = None, paths: LabPaths | None = None) -> LabStatus:
    """Build the lab (or confirm it is already built from this manifest) and start servers."""
    _require_root()
    manifest = manifest or load_manifest()
    paths = paths or LabPaths.from_env()
    current = lab_status(paths)
    built = _built_manifest(paths)
    if current.up and built is not None and built == manifest and not _stale_build(built,
                                                                                     paths):
        return current
    if current.namespaces or current.root_links or current.processes or paths.root.exists():
        LOG.warning("lab up: rebuilding the lab (%s)",
                    _why_rebuilt(current, built, manifest, paths))
        lab_down(paths)
    _check_tools()
    started = time.monotonic()
    paths.make()
    (paths.root / MARKER).write_text("sentinel lab state\n", encoding="ascii")
    try:
        _build(manifest, paths)
    except BaseException:
        lab_down(paths)
        raise
    # Recorded last: a state dir with a manifest copy is a lab that finished building.
    (paths.root / CLOUD_DIGEST).write_text(cloud_fw.digest() + "\n", encoding="ascii")
    paths.manifest_copy.write_text(manifest.model_dump_json(), encoding="utf-8")
    (paths.root / "built-seconds").write_text(f"{time.monotonic() - started:.1f}\n")
    return lab_status(paths)


def _built_cloud(paths: LabPaths) -> str | None:
    """The digest of the cloud data the running lab was built from (None: not recorded)."""
    try:
        return (paths.root / CLOUD_DIGEST).read_text(encoding="ascii").strip()
    except OSError:
        return None


def _why_rebuilt(current: LabStatus, built: Manifest | None, manifest: Manifest,
                 paths: LabPaths) -> str:
    """Why a lab that exists is taken down and built again: a rebuild renumbers every link,
    so the reason is worth a line (a process that died mid-run is a finding of its own)."""
    if built is None:
        return "no finished build recorded"
    if built != manifest:
        return "built from another manifest"
    dead = [p.name for p in current.processes if not p.alive]
    if dead:
        return "not running: " + ", ".join(sorted(dead)[:8])
    if current.missing_namespaces:
        return "missing namespaces: " + ", ".join(current.missing_namespaces[:8])
    return _stale_build(built, paths) or "no lab process recorded"


def _stale_build(built: Manifest, paths: LabPaths) -> str | None:
    """What a running lab built from this manifest still lacks (None: nothing)."""
    if _built_cloud(paths) != cloud_fw.digest():
        return "the cloud tenants' data (lab/cloud) changed"
    unset = netns.bridges_unset(built)
    if unset:
        return "bridges without their fixed MAC: " + ", ".join(unset[:8])
    return None


def _build(manifest: Manifest, paths: LabPaths) -> None:
    national.prepare(manifest, paths)  # first: a failed build leaves no namespace to undo
    netns.build_core(manifest)
    for host in manifest.hosts:
        netns.build_host(manifest, host)
    # The cloud tenants' instances enforce their security groups (lab/cloud/) before any
    # server starts, so no window exists in which a denied port answers.
    cloud = cloud_fw.load_lab_cloud()
    for host in manifest.hosts:
        cloud_fw.apply(host.namespace, host.id, cloud)
    ctx = ServerContext(manifest=manifest, paths=paths, certs=CertFactory(paths.certs))
    records: list[ProcessRecord] = radvd.start(ctx)
    for host in manifest.hosts:
        by_kind: dict[ServiceKind, list[Service]] = defaultdict(list)
        for service in host.services:
            by_kind[service.kind].append(service)
        for kind, services in by_kind.items():
            records += STARTERS[kind](ctx, host, services)
    readiness.wait_until_listening(manifest, records, paths)


def lab_down(paths: LabPaths | None = None) -> None:
    """Remove every namespace, link, process, mount and state file the lab made."""
    _require_root()
    paths = paths or LabPaths.from_env()
    agents_down(paths)  # the agents first: a warm shutdown
    namespaces = netns.lab_namespaces()
    pids = {record.pid for record in paths.records()}
    for name in namespaces:
        done = run(["ip", "netns", "pids", name], check=False)
        pids |= {int(p) for p in done.stdout.split() if p.isdigit()}
    stop(sorted(pids))
    netns.delete_namespaces(namespaces)
    netns.delete_root_links(netns.root_lab_links())
    _unmount_leftovers()
    if (paths.root / MARKER).exists():
        shutil.rmtree(paths.root, ignore_errors=True)
    left = netns.lab_namespaces() + netns.root_lab_links()
    if left:
        raise LabError(f"lab down left these behind: {', '.join(left)}")


def _unmount_leftovers() -> None:
    """Netns bind mounts survive a crashed `ip netns delete`; unmount and remove them."""
    mounts = Path("/proc/self/mounts").read_text(encoding="ascii", errors="replace")
    for line in mounts.splitlines():
        target = line.split()[1]
        if target.startswith(f"/run/netns/{netns.PREFIX}"):
            run(["umount", "-l", target], check=False)
    for leftover in Path("/run/netns").glob(f"{netns.PREFIX}*"):
        leftover.unlink(missing_ok=True)


def _built_manifest(paths: LabPaths) -> Manifest | None:
    if not paths.manifest_copy.exists():
        return None
    try:
        return Manifest.model_validate_json(paths.manifest_copy.read_text(encoding="utf-8"))
    except ValueError:
        return None


def _require_root() -> None:
    if os.geteuid() != 0:
        raise LabError("the lab needs root (network namespaces, links, routes)")


def _check_tools() -> None:
    missing = [tool for tool in REQUIRED_TOOLS if shutil.which(tool) is None]
    if missing:
        raise LabError(f"missing programs for the lab: {', '.join(missing)}")


__all__ = ["LabStatus", "ProcessStatus", "lab_agents_down", "lab_agents_up", "lab_down",
           "lab_status", "lab_up", "parse_manifest"]
