"""One scan, end to end: scope check, plan, probes, assessment, lifecycle, store.

Data moves one way. Each asset is assessed as soon as all its probes have ended, and its
observations, findings, lifecycle states and change events are written in one go, so a
reader sees whole assets and memory stays flat however large the playbook.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sentinel.assess import AssetView, assess
from sentinel.assess.ipv6 import shared_findings
from sentinel.assess.posture import with_crypto_posture
from sentinel.catalog.scope_lists import global_deny
from sentinel.detect.changes import asset_changes
from sentinel.errors import ScopeRefused, StoreError
from sentinel.model import (
    AttemptStatus,
    Context,
    Evaluation,
    Event,
    Finding,
    Observation,
    ScanRecord,
    Text,
    now,
    observation_to_ecs,
)
from sentinel.playbook import Playbook
from sentinel.probes.base import Network
from sentinel.probes.routes import EgressGuard
from sentinel.scan.engine import AssetPlan, Engine
from sentinel.scan.lifecycle import apply
from sentinel.scan.liveness import sweep
from sentinel.scan.plan import Refusal, asset_plans, probes_for, refusals
from sentinel.scope import Gate, ScopePolicy
from sentinel.severity import Severity
from sentinel.store.sqlite import SqliteStore

if TYPE_CHECKING:
    from sentinel.store.elastic import ElasticSink

Progress = Callable[[AssetPlan, list[Observation]], None]


def policy_for(playbook: Playbook) -> ScopePolicy:
    """The playbook's scope with the organisation's global deny list on top."""
    import ipaddress

    return ScopePolicy(
        playbook.scope.authorised_networks,
        playbook.scope.deny_networks,
        tuple(ipaddress.ip_network(c) for c in global_deny()),
    )


def audit_event(
    action: str,
    words: Text,
    ctx: Context,
    severity: Severity = Severity.INFO,
    after: dict[str, object] | None = None,
) -> Event:
    """An audit event (``event.category: audit``) of the scan ``ctx`` names."""
    return Event(
        action=action,
        category="audit",
        message=words,
        context=ctx,
        severity=severity,
        after=after,
        created=now(),
    )


def scan_context(playbook: Playbook, scan_id: str, drill_id: str | None) -> Context:
    """The context of a scan's own audit events (segment ``*``: the whole scan)."""
    first = playbook.segments[0]
    return Context(
        scan_id=scan_id, agency_id=first.agency, segment_id="*", zone=first.zone, drill_id=drill_id
    )


def refuse_out_of_scope(
    playbook: Playbook,
    store: SqliteStore,
    scan_id: str,
    drill_id: str | None = None,
    sink: ElasticSink | None = None,
    *,
    allow_public: bool = False,
    egress: EgressGuard | None = None,
) -> None:
    """Refuse the whole scan before anything is sent if the playbook reaches outside scope,
    or if a segment's traffic would not leave where its ``egress`` says (asked of the kernel
    for each segment's listed hosts, else the first address of each of its networks)."""
    refused = refusals(playbook, policy_for(playbook), allow_public=allow_public)
    if egress is not None:
        refused += egress_refusals(playbook, egress)
    if not refused:
        return
    ctx = scan_context(playbook, scan_id, drill_id)
    audit = [
        audit_event(
            "scope-refused",
            Text(zh="超出授权范围，已拒绝", en="refused: out of scope"),
            ctx,
            Severity.HIGH,
            {"what": r.what, "target": r.target, "reason": r.reason},
        )
        for r in refused
    ]
    store.add_events(audit)
    if sink is not None:  # buffered only: the caller's close() delivers it
        sink.add_events(audit)
    first = refused[0]
    more = f" (and {len(refused) - 1} more)" if len(refused) > 1 else ""
    raise ScopeRefused(f"{first.what} {first.target}", f"{first.reason}{more}")


def refusal_event(playbook: Playbook, scan_id: str, target: str, reason: str) -> Event:
    """The audit event of one refusal."""
    return audit_event("scope-refused",
                       Text(zh="超出授权范围，已拒绝", en="refused: out of scope"),
                       scan_context(playbook, scan_id, None), Severity.HIGH,
                       {"target": target, "reason": reason})


def egress_refusals(playbook: Playbook, egress: EgressGuard) -> list[Refusal]:
    """A segment whose traffic would leave elsewhere than its ``egress`` says, refused whole."""
    out = []
    for segment in playbook.segments:
        if segment.egress is None:
            continue
        samples = list(segment.hosts[:4]) or [
            str(next(iter(n.hosts()), n.network_address)) for n in segment.networks]
        for address, reason in egress.first_refusals(samples):
            out.append(Refusal(f"egress of segment {segment.id}", address, reason))
            break
    return out


@dataclass
class ScanRecorder:
    """What a scan records, one whole asset at a time (:meth:`on_asset`): observations,
    findings, lifecycle states and change events into the store, then the sink; the
    counters of the scan record. An in-process scan and the agents' coordinator both use it,
    so their documents and finding keys are the same. Each asset's previous finding states
    are read from the store when the asset is recorded (by asset id, through an index), so
    memory does not grow with the store's history nor with the number of assets."""

    playbook: Playbook
    store: SqliteStore
    record: ScanRecord
    progress: Progress | None
    sink: ElasticSink | None = None
    previous_scan: str | None = None  # the last completed scan, for change events
    sink_turn: asyncio.Lock = field(default_factory=asyncio.Lock)  # one asset at a time
    attempts: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    failed: int = 0
    # Findings judged from several assets on one other asset (V6-NS: a name server, from each
    # website it serves), by key: merged across the scan, stored once, counted once.
    shared: dict[str, Finding] = field(default_factory=dict)
    shared_failed: set[str] = field(default_factory=set)

    @classmethod
    def start(cls, playbook: Playbook, store: SqliteStore, record: ScanRecord,
              progress: Progress | None = None, sink: ElasticSink | None = None
              ) -> ScanRecorder:
        """A recorder for ``record``, with the last completed scan of ``store`` as the
        baseline of change events."""
        last = store.latest_scan()
        return cls(playbook, store, record, progress, sink, last.id if last else None)

    async def on_asset(self, plan: AssetPlan, observations: list[Observation]) -> None:
        if not plan.jobs:
            return
        target = plan.jobs[0].target
        observations = [with_crypto_posture(o) for o in observations]
        for obs in observations:
            self.attempts[obs.status.value] += 1
        view = AssetView(target.asset, target.context, target.segment, observations)
        coverage = {
            (o.asset.id, o.probe) for o in observations if o.status is AttemptStatus.COMPLETED
        }
        judged = shared_findings(self.shared, assess(view))
        # One transaction per asset (no await inside): its observations, findings, states and
        # events are stored together or not at all, and the asset costs one commit, not four.
        with self.store.atomic():
            self.store.add_observations(observations)
            states = self.store.asset_states(target.asset.id)
            for other in sorted({f.asset.id for f in judged} - {target.asset.id}):
                states |= self.store.asset_states(other)  # a name server's V6-NS, for example
                coverage |= {(f.asset.id, f.probe) for f in judged if f.asset.id == other}
            outcome = apply(states, judged, coverage, target.context, now())
            self.store.add_findings(outcome.findings)
            self.store.save_states(outcome.states)
            if self.previous_scan is not None:
                earlier = self.store.assets(self.previous_scan, target.asset.id)
                current = [observation_to_ecs(o) for o in observations]
                outcome.events.extend(
                    asset_changes(earlier, current, target.context, target.asset, now())
                )
            self.store.add_events(outcome.events)
        if self.sink is not None:  # SQLite first: it is the record; Elasticsearch a copy
            # A worker thread, so a sink retrying a slow Elasticsearch never stalls the probes;
            # the lock keeps the (single-threaded) sink to one asset at a time, in order.
            async with self.sink_turn:
                await asyncio.to_thread(
                    _stream, self.sink, observations, outcome.findings, outcome.events
                )
        # Distinct keys, as the store keeps them (one row per key and scan): a check failing
        # on both addresses of one port is one failed finding, not two.
        failed = {f.key for f in outcome.findings if f.evaluation is Evaluation.FAILED}
        self.failed += len(failed - self.shared_failed)
        self.shared_failed |= failed & self.shared.keys()
        if self.progress is not None:
            self.progress(plan, observations)


def _stream(
    sink: ElasticSink, observations: list[Observation], findings: list[Finding], events: list[Event]
) -> None:
    sink.add_observations(observations)
    sink.add_findings(findings)
    sink.add_events(events)


async def audit_trail(store: SqliteStore, sink: ElasticSink | None, events: list[Event]) -> None:
    """Audit events to the store and, off the event loop, to the sink."""
    store.add_events(events)
    if sink is not None:
        await asyncio.to_thread(sink.add_events, events)


async def run_scan(
    playbook: Playbook,
    store: SqliteStore,
    *,
    playbook_name: str,
    progress: Progress | None = None,
    drill_id: str | None = None,
    scan_id: str | None = None,
    sink: ElasticSink | None = None,
    plans: Iterable[AssetPlan] | None = None,
    allow_public: bool = False,
    egress: EgressGuard | None = None,
) -> ScanRecord:
    """Run a playbook against its scope and store everything; returns the scan record.

    With a ``sink``, each asset's observations, findings and events, and the audit events
    (scan started/finished, scope refused), are also streamed to Elasticsearch right after
    they are stored, from a worker thread; the caller flushes and closes the sink.
    ``plans`` replaces the playbook's own plan (an import of existing results uses it).
    ``allow_public`` is the person's ``--allow-public-scope``: an authorised scope reaching
    into public address space is refused without it. ``egress`` pins where segments' traffic
    leaves (default: the playbook's own ``egress`` declarations).
    """
    scan_id = scan_id or uuid.uuid4().hex[:16]
    egress = egress if egress is not None else EgressGuard.for_playbook(playbook)
    refuse_out_of_scope(playbook, store, scan_id, drill_id, sink, allow_public=allow_public,
                        egress=egress if plans is None else None)
    record = ScanRecord(id=scan_id, playbook=playbook_name, started=now(),
                        host=socket.gethostname(), pid=os.getpid())
    store.save_scan(record)
    ctx = scan_context(playbook, scan_id, drill_id)
    await audit_trail(
        store,
        sink,
        [
            audit_event(
                "scan-started",
                Text(zh="扫描开始", en="scan started"),
                ctx,
                after={"playbook": playbook_name},
            )
        ],
    )
    runtime_refusals: list[tuple[str, str]] = []
    gate = Gate(
        policy_for(playbook),
        playbook.rate,
        audit=lambda address, reason: runtime_refusals.append((address, reason)),
        egress=egress,
    )
    run = ScanRecorder.start(playbook, store, record, progress, sink)
    engine = Engine(
        Network(gate, playbook.rate.probe_timeout_s),
        probe_timeout=playbook.rate.probe_timeout_s,
        windows=playbook.windows,
    )
    live = None
    try:
        if plans is None:  # discovery first (when the playbook asks): only live hosts are probed
            live = await sweep(playbook, gate)
        if plans is None:
            # The probe kinds' modules (pysnmp, nmap's) load in a worker thread: an import
            # must not stall the event loop that already streams to a sink.
            kinds = await asyncio.to_thread(probes_for, playbook)
            work: Iterable[AssetPlan] = asset_plans(playbook, scan_id, drill_id, live, kinds)
        else:
            work = plans
        await engine.run(work, run.on_asset)
    except BaseException:
        record.status, record.finished = "interrupted", now()
        if store.damaged is None:  # a damaged store is written no more
            # A store that just failed (a full disk) may fail again: the first error is told.
            with contextlib.suppress(StoreError):
                store.save_scan(record)
        raise
    finally:
        if egress is not None:
            egress.close()
    await audit_trail(
        store,
        sink,
        [
            audit_event(
                "scope-refused",
                Text(zh="超出授权范围，已拒绝", en="refused: out of scope"),
                ctx,
                Severity.HIGH,
                {"target": address, "reason": reason},
            )
            for address, reason in runtime_refusals
        ],
    )
    record.status, record.finished = "completed", now()
    record.attempts, record.findings = dict(run.attempts), run.failed
    store.save_scan(record)
    await audit_trail(
        store,
        sink,
        [
            audit_event(
                "scan-finished",
                Text(zh="扫描完成", en="scan finished"),
                ctx,
                after={
                    "attempts": dict(run.attempts),
                    "failed": run.failed,
                    "connections": gate.connections,
                    **({"discovery": live.summary()} if live is not None else {}),
                },
            )
        ],
    )
    return record
