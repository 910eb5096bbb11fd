"""Import results a team already has: nmap XML files become a scan like any other.

The imported file goes through the same plan, scope, assessment and lifecycle as a live scan,
with an ``nmap`` probe whose facts come from the file instead of the network: nothing is sent.
Hosts in the file that lie outside the playbook's segments are left out and counted; a host
inside a segment but outside the authorised scope is refused exactly as a live scan would.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from sentinel.errors import ErrorReason, ProbeError
from sentinel.model import ScanRecord
from sentinel.playbook import NmapProbeConfig, Playbook, ProbeSelection
from sentinel.probes.base import Network, Target
from sentinel.probes.nmap_scan import NmapHost, load_nmap_xml
from sentinel.scan.engine import AssetPlan, Job
from sentinel.scan.plan import asset_plans
from sentinel.scan.run import run_scan
from sentinel.store.sqlite import SqliteStore


@dataclass(frozen=True)
class ImportedNmap:
    """The ``nmap`` probe kind, answering from an imported XML file instead of the network."""

    hosts: dict[str, NmapHost]
    source: str
    kind: ClassVar[str] = "nmap"
    transport: ClassVar[str] = "tcp"
    budget_s: ClassVar[float] = 0.0  # answers from memory

    async def run(self, target: Target, network: Network) -> dict[str, Any]:
        network.gate.authorise(target.endpoint.address)  # same scope as a live scan
        host = self.hosts.get(target.endpoint.address)
        if host is None:
            raise ProbeError(ErrorReason.UNSUPPORTED, "address not in the imported file")
        return {"host_state": host.state, "ports": [p.facts() for p in host.ports],
                "ports_scanned": len(host.ports), "arguments": ["imported", self.source]}


@dataclass
class ImportSummary:
    record: ScanRecord
    imported: int = 0
    outside: list[str] = field(default_factory=list)


def _imported_plans(playbook: Playbook, scan_id: str, probe: ImportedNmap) -> Iterator[AssetPlan]:
    nmap_only = playbook.model_copy(
        update={"probes": ProbeSelection(tcp=None, nmap=NmapProbeConfig())})
    for plan in asset_plans(nmap_only, scan_id):
        jobs = tuple(Job(probe, j.target) for j in plan.jobs
                     if j.target.endpoint.address in probe.hosts)
        if jobs:
            yield AssetPlan(plan.asset_id, jobs)


@dataclass(frozen=True)
class NmapFile:
    """A parsed nmap XML file; parse it before opening the store, so bad input writes nothing."""

    path: Path
    hosts: dict[str, NmapHost]
    digest: str

    @classmethod
    def load(cls, path: Path) -> NmapFile:
        """Read the file once, bounded (see :func:`load_nmap_xml`); the digest is of the
        bytes that were parsed."""
        report = load_nmap_xml(path)
        return cls(path, report.hosts, report.sha256[:12])


async def import_nmap(playbook: Playbook, store: SqliteStore, source: NmapFile, *,
                      playbook_name: str) -> ImportSummary:
    """Store an nmap XML file as a scan of ``playbook``: observations, findings, lifecycle."""
    hosts, xml_path = source.hosts, source.path
    probe = ImportedNmap(hosts, str(xml_path))
    planned: set[str] = set()

    def counted(scan_id: str) -> Iterator[AssetPlan]:
        for plan in _imported_plans(playbook, scan_id, probe):
            planned.update(j.target.endpoint.address for j in plan.jobs)
            yield plan

    scan_id = f"import-{source.digest}"  # the same file twice is one scan: nothing doubles
    record = await run_scan(playbook, store, playbook_name=f"{playbook_name} + {xml_path}",
                            scan_id=scan_id, plans=counted(scan_id))
    return ImportSummary(record, len(planned), sorted(set(hosts) - planned))
