"""The coordinator: one scan through agents, recorded exactly like an in-process scan.

It plans with the scan's own planner (:func:`~sentinel.scan.plan.asset_plans`), cuts the plan
into work units (segment × shard of ``shard_size`` assets × probe kind), signs them and
publishes each on its segment's queue. A segment whose queue has no consumer has no live
agent: that is reported at once and its units are not waited on. Then it follows the scan's
results queue, its dead-letter queue and the heartbeats until every unit has ended or the
deadline has passed.

Every result is checked (signature, version, the unit it answers, one attempt per job) and
turned back into observations whose identity (context, asset, endpoint) comes from the
coordinator's own plan. An asset is assessed, its lifecycle updated and its documents stored
(SQLite, then the Elasticsearch sink) as soon as every unit holding one of its jobs has
ended, by the same code an in-process scan uses, so finding keys and documents are the same.
A job whose unit did not finish ends as an ``error`` attempt with reason ``unfinished``, and
the scan is recorded ``partial`` with the unit, its segment, probe kind and why.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import socket
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from amqp.exceptions import ResourceLocked

from sentinel.agent.broker import (
    connect,
    connection,
    dead_exchange,
    heartbeats,
    make_app,
    redacted,
    scan_dead,
    scan_results,
    segment_units,
    units_exchange,
    why,
)
from sentinel.agent.protocol import (
    DELIVERY_LIMIT,
    SCAN_ID,
    SWEEP,
    TASK,
    JobSpec,
    Share,
    UnitResult,
    WorkUnit,
    read_heartbeat,
    read_result,
    seal,
    to_body,
    unit_routing_key,
)
from sentinel.errors import BrokerError, ErrorReason, UnitRefused, UsageError
from sentinel.model import (
    AgentHeartbeat,
    Asset,
    AttemptStatus,
    Context,
    Event,
    Observation,
    ScanRecord,
    Text,
    UnfinishedUnit,
    heartbeat_to_ecs,
    now,
)
from sentinel.playbook import DiscoveryProbeConfig, Playbook, RateLimits
from sentinel.scan.engine import AssetPlan, Job
from sentinel.scan.liveness import Liveness, sweep_targets
from sentinel.scan.local_discovery import local_plans
from sentinel.scan.plan import asset_plans, probes_for, segment_of
from sentinel.scan.run import (
    Progress,
    ScanRecorder,
    audit_event,
    audit_trail,
    refuse_out_of_scope,
    scan_context,
)
from sentinel.severity import Severity
from sentinel.store.elastic import ElasticSink
from sentinel.store.sqlite import SqliteStore, document_id

log = logging.getLogger("sentinel.coordinator")
Notify = Callable[[str], None]
LIVENESS_CHECK_S = 5.0  # how often the segments' consumers are counted while following
# An agent is silent once its expected heartbeat is more than one interval late: nothing
# heard for two intervals (``agent-silent``, rules/event/agent-silent.yml).
SILENT_INTERVALS = 2.0
GIVEN = "discovery"  # the sweep's verdict for an address, handed to the plan (SweepResult)
SWEEP_SHARD = 4096  # addresses per sweep unit
CONFIRM_WINDOW = 512  # units published and not yet confirmed, at most
CONFIRM_TIMEOUT_S = 30.0


def silent_agents(beats: Iterable[AgentHeartbeat], segments: set[str], moment: datetime
                  ) -> list[AgentHeartbeat]:
    """The running agents of ``segments`` whose newest heartbeat is older than
    ``SILENT_INTERVALS`` of their own intervals at ``moment`` (a cleanly stopped agent says
    so in its last heartbeat and is not silent)."""
    return [b for b in beats
            if b.state == "running" and set(b.segments) & segments
            and (moment - b.seen).total_seconds() > SILENT_INTERVALS * b.interval_s]


def silence_event(beat: AgentHeartbeat, ctx: Context, segments: set[str], moment: datetime
                  ) -> Event:
    """The ``agent-silent`` audit event of one silent agent, in the first of its segments
    the scan covers."""
    mine = sorted(set(beat.segments) & segments)
    return audit_event(
        "agent-silent", Text(zh="代理心跳中断", en="agent silent"),
        ctx.model_copy(update={"segment_id": mine[0] if mine else "*"}), Severity.HIGH,
        {"agent": beat.agent_id, "segments": list(beat.segments), "seen": beat.seen.isoformat(),
         "interval_s": beat.interval_s,
         "silent_s": round((moment - beat.seen).total_seconds(), 1)})


@dataclass
class Cut:
    """One work unit and, for each of its jobs, where it sits in the plan."""

    unit: WorkUnit
    refs: tuple[tuple[int, int], ...]  # (plan index, job index), in the unit's job order


def unit_budget(rate: RateLimits, jobs: Sequence[Job]) -> float:
    """An upper bound of the time an agent needs for these jobs under the playbook's caps:
    the longest job, times the waves of jobs per address and of assets per host cap."""
    longest = max(max(rate.probe_timeout_s, j.probe.budget_s) for j in jobs)
    per_address = Counter(j.target.endpoint.address for j in jobs)
    assets = {j.target.asset.id for j in jobs}
    waves = math.ceil(max(per_address.values()) / rate.connections_per_host)
    asset_waves = math.ceil(len(assets) / rate.concurrent_hosts)
    return round(longest * waves * asset_waves + 10.0, 3)


def cut_units(plans: Sequence[AssetPlan], scan_id: str, drill_id: str | None, rate: RateLimits,
              *, shard_size: int, budget_s: float | None = None) -> list[Cut]:
    """Segment × shard of ``shard_size`` assets × probe kind, in plan order."""
    by_segment: dict[str, list[int]] = defaultdict(list)
    for index, plan in enumerate(plans):
        if plan.jobs:
            by_segment[plan.jobs[0].target.segment.id].append(index)
    cuts: list[Cut] = []
    for segment, indices in by_segment.items():
        for shard, chunk in enumerate(_chunks(indices, shard_size)):
            kinds: dict[str, list[tuple[int, int]]] = {}
            for p in chunk:
                for j, job in enumerate(plans[p].jobs):
                    if job.probe.kind != GIVEN:  # the sweep's verdict: already known
                        kinds.setdefault(job.probe.kind, []).append((p, j))
            for kind, refs in kinds.items():
                jobs = [plans[p].jobs[j] for p, j in refs]
                unit = WorkUnit(
                    id=f"{scan_id}-u{len(cuts)}", scan=scan_id, drill=drill_id,
                    segment=segment, probe=kind, shard=shard,
                    budget_s=budget_s or unit_budget(rate, jobs),
                    jobs=tuple(
                        JobSpec(asset=j.target.asset, address=j.target.endpoint.address,
                                port=j.target.endpoint.port, server_name=j.target.server_name)
                        for j in jobs
                    ),
                )
                cuts.append(Cut(unit, tuple(refs)))
    return cuts


def share_budget(plans: Sequence[AssetPlan], cuts: Sequence[Cut], consumers: dict[str, int],
                 rate: RateLimits, *, budget_s: float | None = None
                 ) -> tuple[list[Cut], list[str]]:
    """Each unit with its share of the playbook's rate budget (and, unless ``budget_s`` is
    given, a time budget under that share), and what to tell people about the division.

    Every live agent of the scan may run a unit at the same moment, so the scan-wide limits
    (``packets_per_second``, ``concurrent_hosts``) are divided by the number of live agents of
    all the scan's segments (an agent serving two segments counts twice: a smaller share,
    never a larger total). A host is reached only by the agents of its segment, and only by
    those running a unit that holds it: ``connections_per_host`` is divided by the smaller
    of the segment's live agents and the number of units holding the unit's busiest
    address. An integer limit smaller than the agents sharing it gives each agent 1: the
    limit then cannot hold, and the returned notes say so."""
    live = {s: n for s, n in consumers.items() if n > 0}
    agents = sum(live.values())
    if agents == 0:
        return list(cuts), []
    notes: list[str] = []
    holders: dict[tuple[str, str], int] = Counter(
        (c.unit.segment, address) for c in cuts for address in {j.address for j in c.unit.jobs})
    pps = rate.packets_per_second / agents
    hosts = max(1, rate.concurrent_hosts // agents)
    if rate.concurrent_hosts < agents:
        notes.append(f"concurrent_hosts {rate.concurrent_hosts} is less than the {agents} live "
                     "agents sharing it: each gets 1")
    out: list[Cut] = []
    for cut in cuts:
        unit = cut.unit
        if unit.segment not in live:
            out.append(cut)
            continue
        busiest = max((holders[(unit.segment, j.address)] for j in unit.jobs), default=1)
        sharing = min(live[unit.segment], busiest)
        per_host = max(1, rate.connections_per_host // sharing)
        if rate.connections_per_host < sharing:
            note = (f"segment {unit.segment}: connections_per_host {rate.connections_per_host}"
                    f" is less than the {sharing} agents that may reach one host at once: "
                    "each gets 1")
            if note not in notes:
                notes.append(note)
        share = Share(packets_per_second=pps, connections_per_host=per_host,
                      concurrent_hosts=hosts, agents=agents)
        shared = rate.model_copy(update={"packets_per_second": pps,
                                         "connections_per_host": per_host,
                                         "concurrent_hosts": hosts})
        jobs = [plans[p].jobs[j] for p, j in cut.refs]
        # The caps' waves under the share, and at least one token per job at its rate.
        seconds = budget_s or round(unit_budget(shared, jobs) + len(jobs) / pps, 3)
        out.append(Cut(unit.model_copy(update={"share": share, "budget_s": seconds}), cut.refs))
    return out, notes


@dataclass
class _Follow:
    """What the coordinator knows while it follows a scan."""

    plans: list[AssetPlan]
    pending: dict[str, Cut]
    units_left: dict[int, int]  # plan index -> units holding one of its jobs, not yet ended
    observed: dict[int, dict[int, Observation]] = field(default_factory=lambda: defaultdict(dict))
    unfinished: list[UnfinishedUnit] = field(default_factory=list)
    missing: dict[tuple[int, int], UnfinishedUnit] = field(default_factory=dict)
    assessed: set[int] = field(default_factory=set)
    connections: int = 0
    refusals: list[tuple[str, str]] = field(default_factory=list)
    agents: set[str] = field(default_factory=set)
    reported_empty: set[str] = field(default_factory=set)
    silent: set[tuple[str, str]] = field(default_factory=set)  # (agent, last seen) said
    cuts: dict[str, Cut] = field(default_factory=dict)  # every unit of the scan, by id
    held: dict[str, tuple[Any, set[int]]] = field(default_factory=dict)  # unacknowledged
    held_by_plan: dict[int, set[str]] = field(default_factory=lambda: defaultdict(set))

    @classmethod
    def of(cls, plans: list[AssetPlan], cuts: Sequence[Cut], stored: set[int]) -> _Follow:
        """The follow of ``cuts``; a unit whose assets are all ``stored`` has ended (a
        resumed scan: its result was acknowledged once they were)."""
        pending = {c.unit.id: c for c in cuts if not {p for p, _ in c.refs} <= stored}
        units_left: dict[int, int] = defaultdict(int)
        for cut in pending.values():
            for p in {p for p, _ in cut.refs}:
                units_left[p] += 1
        return cls(plans, pending, units_left, assessed=set(stored),
                   cuts={c.unit.id: c for c in cuts})

    def hold(self, cut: Cut, message: Any) -> bool:
        """Keep ``message`` unacknowledged until every asset of ``cut`` is stored; False
        when there is nothing to wait for (or a copy is already held)."""
        waiting = {p for p, _ in cut.refs} - self.assessed
        if not waiting or cut.unit.id in self.held:
            return False
        self.held[cut.unit.id] = (message, waiting)
        for p in waiting:
            self.held_by_plan[p].add(cut.unit.id)
        return True

    def release(self, p: int) -> None:
        """Asset ``p`` is stored: acknowledge the results that waited only for it."""
        for unit in self.held_by_plan.pop(p, set()):
            message, waiting = self.held[unit]
            waiting.discard(p)
            if not waiting:
                del self.held[unit]
                _ack(message)


class Coordinator:
    """One scan of ``playbook`` through the agents on the broker at ``url``."""

    def __init__(
        self,
        playbook: Playbook,
        store: SqliteStore,
        *,
        playbook_name: str,
        url: str,
        key: bytes,
        sink: ElasticSink | None = None,
        deadline_s: float | None = None,
        shard_size: int = 32,
        unit_timeout_s: float | None = None,
        drill_id: str | None = None,
        scan_id: str | None = None,
        progress: Progress | None = None,
        notify: Notify | None = None,
        allow_public: bool = False,
        resume: str | None = None,
    ) -> None:
        if shard_size < 1:
            raise UsageError(f"--shard-size {shard_size}: at least 1 asset per unit")
        if deadline_s is not None and deadline_s <= 0:
            raise UsageError(f"--deadline {deadline_s:g}: a positive number of seconds")
        if unit_timeout_s is not None and unit_timeout_s <= 0:
            raise UsageError(f"--unit-timeout {unit_timeout_s:g}: a positive number of seconds")
        self.resume = resume is not None
        self.scan_id = resume or scan_id or uuid.uuid4().hex[:16]
        if not SCAN_ID.match(self.scan_id):
            raise UsageError(f"scan id {self.scan_id!r}: letters, digits, '-' and '_' only")
        self.playbook = playbook
        self.store = store
        self.playbook_name = playbook_name
        self.url = url
        self.key = key
        self.sink = sink
        self.deadline_s = deadline_s
        self.shard_size = shard_size
        self.unit_timeout_s = unit_timeout_s
        self.drill_id = drill_id
        self.progress = progress
        self.allow_public = allow_public
        self.ignored_beats = 0
        self.swept: Liveness | None = None
        self.notify = notify or (lambda text: log.warning("%s", text))

    async def run(self) -> ScanRecord:
        """Plan, publish, follow, record; returns the scan record (completed or partial).
        With ``resume``, follow a scan an earlier coordinator started (see :meth:`_resumed`)."""
        playbook, store, scan_id = self.playbook, self.store, self.scan_id
        previous = self._resumed() if self.resume else None
        # Scope and public space as an in-process scan; not the egress, which is each
        # agent's to check from where it stands.
        refuse_out_of_scope(playbook, store, scan_id, self.drill_id, self.sink,
                            allow_public=self.allow_public)
        kinds = await asyncio.to_thread(probes_for, playbook)
        link = _Link(self.url, scan_id, {s.id for s in playbook.segments})
        await link.open()
        try:
            # The scan's results are consumed by one coordinator at a time (an exclusive
            # consumer): a second one following the same scan is refused here.
            await link.consume()
        except UsageError:
            await link.close()
            raise
        except Exception as exc:
            await link.close()
            raise BrokerError(f"broker {redacted(self.url)}: {why(exc)}") from None
        ctx = scan_context(playbook, scan_id, self.drill_id)
        try:
            # Discovery first, as in-process: the agents sweep their segments (and look at
            # their links); a resumed scan takes the sweep its scan-started event kept.
            live: Liveness | None = self.swept
            extra: list[AssetPlan] = []
            if previous is None:
                swept = await self._sweep_phase(link, ctx)
                if swept is not None:
                    live, extra = swept
            # The plan and its cut are deterministic: a resumed scan finds the same unit ids.
            plans = list(asset_plans(playbook, scan_id, self.drill_id, live, kinds))
            cuts = cut_units(plans, scan_id, self.drill_id, playbook.rate,
                             shard_size=self.shard_size, budget_s=self.unit_timeout_s)
            # What only the agents on the links saw comes last: no unit refers to it.
            known = {plan.asset_id for plan in plans}
            plans += [plan for plan in extra if plan.asset_id not in known]
            consumers = await link.call(_consumers, {c.unit.segment for c in cuts})
            if previous is None:
                cuts, run, follow, deadline_s = await self._begin(plans, cuts, consumers, ctx,
                                                                  live)
            else:
                cuts, run, follow, deadline_s = await self._resume(plans, cuts, consumers, ctx,
                                                                   previous)
            await self._given(run, follow)
        except BaseException:
            await link.close()
            raise
        record = run.record
        try:
            await self._publish_and_follow(link, run, follow, cuts, consumers,
                                           deadline_s=deadline_s, resumed=previous is not None)
        except BaseException:
            # The scan's queues stay: ``sentinel scan --resume`` can follow it again.
            record.status, record.finished = "interrupted", now()
            store.save_scan(record)
            await link.close()
            raise
        await link.close(cleanup=True)
        return await self._finish(run, follow, ctx)

    async def _begin(self, plans: list[AssetPlan], cuts: list[Cut], consumers: dict[str, int],
                     ctx: Context, live: Liveness | None
                     ) -> tuple[list[Cut], ScanRecorder, _Follow, float]:
        """A new scan: its shares, its record and its scan-started event."""
        playbook, store, scan_id = self.playbook, self.store, self.scan_id
        # One budget across agents: the playbook's limits divided among the live agents.
        cuts, notes = share_budget(plans, cuts, consumers, playbook.rate,
                                   budget_s=self.unit_timeout_s)
        for note in notes:
            self.notify(f"rate budget: {note}")
        deadline_s = self.deadline_s or _default_deadline(cuts)
        record = ScanRecord(id=scan_id, playbook=self.playbook_name, started=now(),
                            units=len(cuts))
        store.save_scan(record)
        await audit_trail(store, self.sink, [audit_event(
            "scan-started", Text(zh="扫描开始", en="scan started"), ctx,
            after={"playbook": self.playbook_name, "units": len(cuts),
                   "deadline_s": deadline_s, "broker": redacted(self.url),
                   "shard_size": self.shard_size, "unit_timeout_s": self.unit_timeout_s,
                   "deadline_at": (record.started + timedelta(seconds=deadline_s)
                                   ).isoformat(),
                   "agents": dict(sorted(consumers.items())),
                   "share": next((c.unit.share.model_dump() for c in cuts
                                  if c.unit.share is not None), None),
                   # The sweep the plan was narrowed by: a resumed coordinator plans alike.
                   **({} if live is None else {"sweep": _kept(live)})})])
        run = ScanRecorder.start(playbook, store, record, self.progress, self.sink)
        return cuts, run, _Follow.of(plans, cuts, set()), deadline_s

    async def _resume(self, plans: list[AssetPlan], cuts: list[Cut], consumers: dict[str, int],
                      ctx: Context, previous: tuple[ScanRecord, datetime, bool]
                      ) -> tuple[list[Cut], ScanRecorder, _Follow, float]:
        """A scan an earlier coordinator started: the assets it stored have ended, the units
        it closed unanswered stay closed, the rest is followed again (and published again
        if it was killed before every unit was out). Returns the units to publish."""
        playbook, store, scan_id = self.playbook, self.store, self.scan_id
        record, deadline_at, published = previous
        if record.units != len(cuts):
            raise UsageError(f"scan {scan_id}: the playbook now cuts into {len(cuts)} "
                             f"units, the scan published {record.units}; it cannot be "
                             "resumed with this playbook")
        if not published:  # killed while publishing: every unit goes out (again)
            cuts, _ = share_budget(plans, cuts, consumers, playbook.rate,
                                   budget_s=self.unit_timeout_s)
        # Results already waiting are taken even when the deadline has passed.
        deadline_s = max((deadline_at - now()).total_seconds(), 2.0)
        run = ScanRecorder.start(playbook, store, record, self.progress, self.sink)
        run.attempts.update(store.attempt_counts(scan_id))
        run.failed = store.failed_count(scan_id)
        stored = store.stored_assets(scan_id)
        follow = _Follow.of(plans, cuts, {p for p, plan in enumerate(plans)
                                          if plan.asset_id in stored})
        earlier, record.unfinished = list(record.unfinished), []
        for outcome in earlier:  # units an earlier coordinator closed unanswered
            cut = follow.pending.get(outcome.unit)
            if cut is None:
                follow.unfinished.append(outcome)
            else:
                await self._close(run, follow, cut, outcome)
        store.save_scan(record)
        await audit_trail(store, self.sink, [audit_event(
            "scan-resumed", Text(zh="扫描继续", en="scan resumed"), ctx,
            after={"playbook": self.playbook_name, "units": len(cuts),
                   "pending": len(follow.pending), "assets_stored": len(stored),
                   "republished": not published, "broker": redacted(self.url)})])
        self.notify(f"resuming scan {scan_id}: {len(follow.pending)} of {len(cuts)} work "
                    f"units to follow, {len(stored)} assets already stored")
        return ([] if published else cuts), run, follow, deadline_s

    def _resumed(self) -> tuple[ScanRecord, datetime, bool]:
        """The scan to resume, when its deadline falls, and whether its units were all
        published; or :class:`UsageError` when it cannot be resumed."""
        record = self.store.scan(self.scan_id)
        if record is None:
            raise UsageError(f"--resume {self.scan_id}: no such scan in this store")
        if record.status not in ("running", "interrupted") or not record.units:
            raise UsageError(f"--resume {self.scan_id}: a {record.status} scan"
                             f"{'' if record.units else ' run without agents'}; only a "
                             "running or interrupted scan through agents is resumed")
        if record.playbook != self.playbook_name:
            raise UsageError(f"--resume {self.scan_id}: a scan of playbook {record.playbook}, "
                             f"not {self.playbook_name}")
        events = self.store.events(self.scan_id)
        actions = {e.get("event", {}).get("action") for e in events}
        started = next((e for e in events if e.get("event", {}).get("action") == "scan-started"),
                       None)
        after = (started or {}).get("sentinel", {}).get("after") or {}
        if "deadline_at" not in after or "shard_size" not in after:
            raise UsageError(f"--resume {self.scan_id}: its scan-started event does not say "
                             "how it was cut (a scan started by an older Sentinel)")
        self.shard_size = int(after["shard_size"])
        self.unit_timeout_s = after.get("unit_timeout_s")
        config = self.playbook.probes.discovery
        if config is not None and "sweep" in after:
            self.swept = _restored(after["sweep"], config)
        elif config is not None:
            raise UsageError(f"--resume {self.scan_id}: its scan-started event keeps no sweep "
                             "(the playbook's discovery changed since)")
        record.status, record.finished = "running", None
        return (record, datetime.fromisoformat(after["deadline_at"]),
                "units-published" in actions)

    async def _given(self, run: ScanRecorder, follow: _Follow) -> None:
        """The sweep's verdicts are observations already; a plan holding nothing else (a
        host that is down, what a link showed) is assessed at once."""
        for p, plan in enumerate(follow.plans):
            if p in follow.assessed:
                continue
            for j, job in enumerate(plan.jobs):
                if job.probe.kind == GIVEN:
                    follow.observed[p][j] = _given(job)
            if follow.units_left.get(p, 0) == 0:
                await self._assess(run, follow, p)

    async def _sweep_phase(self, link: _Link, ctx: Context
                           ) -> tuple[Liveness, list[AssetPlan]] | None:
        """Discovery through the agents: one sweep unit per segment shard of the addresses
        an in-process sweep would ask; the addresses of a segment without a live agent, or
        of a unit that did not end, are not swept (``not-swept``: probed as without
        discovery, never recorded as down). Returns the sweep and the plans of what the
        agents on the links found; None when discovery is off or outside the windows."""
        playbook, config = self.playbook, self.playbook.probes.discovery
        if config is None:
            return None
        if playbook.windows and not any(w.contains(now()) for w in playbook.windows):
            return None
        by_segment: dict[str, list[str]] = defaultdict(list)
        for address in sweep_targets(playbook):
            home = segment_of(playbook, address)
            if home is not None:
                by_segment[home.id].append(address)
        consumers = await link.call(_consumers, set(by_segment))
        agents = sum(n for n in consumers.values() if n > 0)
        live = _PartLiveness(tuple(config.methods))
        cuts: list[Cut] = []
        for segment, addresses in by_segment.items():
            if not consumers.get(segment):
                live.unswept.update(addresses)
                continue
            for shard, chunk in enumerate(_chunks(addresses, SWEEP_SHARD)):
                cuts.append(Cut(self._sweep_unit(segment, shard, list(chunk), config, agents),
                                ()))
        pending = {c.unit.id: c for c in cuts}
        if cuts:
            budget = self.deadline_s or sum(c.unit.budget_s for c in cuts) + 30.0
            expires = now() + timedelta(seconds=budget)
            try:
                await asyncio.to_thread(self._send, cuts, expires)
            except Exception as exc:
                raise BrokerError(f"broker {redacted(self.url)}: {why(exc)}") from None
            extra = await self._follow_sweep(link, pending, live, budget)
        else:
            extra = []
        for cut in pending.values():  # unanswered: not swept
            live.unswept.update(j.address for j in cut.unit.jobs)
        await audit_trail(self.store, self.sink, [audit_event(
            "sweep-finished", Text(zh="存活探测完成", en="discovery sweep finished"), ctx,
            after={**live.summary(), "units": len(cuts), "unanswered": sorted(pending),
                   "not_swept": len(live.unswept), "link_assets": len(extra)})])
        return live, extra

    def _sweep_unit(self, segment: str, shard: int, addresses: list[str],
                    config: DiscoveryProbeConfig, agents: int) -> WorkUnit:
        rate = self.playbook.rate
        pps = rate.packets_per_second / max(1, agents)
        size = max(1, min(config.batch, int(pps)))
        batches = math.ceil(len(addresses) / size)
        packets = len(addresses) * (1 + len(config.syn_ports)) + 2 * 256
        seconds = batches * 2 * config.timeout_s + packets / pps + 3 * config.timeout_s + 10.0
        share = Share(packets_per_second=pps, connections_per_host=rate.connections_per_host,
                      concurrent_hosts=max(1, rate.concurrent_hosts // max(1, agents)),
                      agents=max(1, agents))
        return WorkUnit(
            id=f"{self.scan_id}-s{segment}-{shard}", scan=self.scan_id, drill=self.drill_id,
            segment=segment, probe=SWEEP, shard=shard,
            budget_s=self.unit_timeout_s or round(seconds, 3), share=share,
            jobs=tuple(JobSpec(asset=Asset(id=a, addresses=(a,)), address=a)
                       for a in addresses))

    async def _follow_sweep(self, link: _Link, pending: dict[str, Cut], live: _PartLiveness,
                            budget: float) -> list[AssetPlan]:
        """Take the sweep units' results until each has ended or ``budget`` has passed."""
        extra: list[AssetPlan] = []
        segments = {s.id: s for s in self.playbook.segments}
        give_up_at = time.monotonic() + budget
        while pending and time.monotonic() < give_up_at:
            for kind, body, message in await link.drain(min(0.5, give_up_at - time.monotonic())):
                if kind == "beat":
                    with contextlib.suppress(UnitRefused):
                        await record_heartbeats(self.store, self.sink,
                                                [read_heartbeat(body, self.key)])
                elif kind == "dead":
                    unit = str((message.headers or {}).get("id"))
                    if pending.pop(unit, None) is not None:
                        self.notify(f"sweep unit {unit}: dead-lettered; its addresses are "
                                    "not swept")
                else:
                    try:
                        result = read_result(body, self.key)
                    except UnitRefused as exc:
                        self.notify(f"a result was ignored: {exc.reason}")
                        _ack(message)
                        continue
                    cut = pending.pop(result.unit, None)
                    if cut is not None and len(result.results) == len(cut.unit.jobs):
                        for job, answer in zip(cut.unit.jobs, result.results, strict=True):
                            if answer.facts.get("state") == "up":
                                live.up[job.address] = list(answer.facts.get("methods", []))
                        live.swept += len(cut.unit.jobs)
                        if result.link and "error" not in result.link:
                            segment = segments[cut.unit.segment]
                            extra += local_plans(self.playbook, segment, result.link,
                                                 self.scan_id)
                    elif cut is not None:
                        pending[cut.unit.id] = cut  # malformed: keep waiting for a copy
                _ack(message)
        return extra

    async def _publish_and_follow(self, link: _Link, run: ScanRecorder, follow: _Follow,
                                  cuts: list[Cut], consumers: dict[str, int], *,
                                  deadline_s: float, resumed: bool = False) -> None:
        """Publish ``cuts`` (none: already published) and follow until every unit has ended
        or ``deadline_s`` has passed. A resumed scan's segments without an agent are reported
        but waited on: their results may already be in the queue."""
        ctx = scan_context(self.playbook, self.scan_id, self.drill_id)
        empty = sorted(s for s, n in consumers.items() if n == 0)
        for segment in empty:
            await self._no_agent(run, ctx, follow, segment, at_start=not resumed)
        if cuts:
            await self._publish([c for c in cuts if c.unit.id in follow.pending], ctx,
                                now() + timedelta(seconds=deadline_s))
        started = time.monotonic()
        give_up_at = started + deadline_s
        next_check = started + LIVENESS_CHECK_S
        while follow.pending:
            left = give_up_at - time.monotonic()
            if left <= 0:
                break
            try:
                for kind, body, message in await link.drain(min(0.5, left)):
                    if await self._handle(run, follow, kind, body, message):
                        _ack(message)
                if time.monotonic() >= next_check and follow.pending:
                    next_check = time.monotonic() + LIVENESS_CHECK_S
                    waiting = {c.unit.segment for c in follow.pending.values()}
                    counts = await link.call(_consumers, waiting)
                    for segment in sorted(s for s, n in counts.items() if n == 0):
                        await self._no_agent(run, ctx, follow, segment, at_start=False)
                    await self._silences(ctx, follow, set(consumers))
            except link.lost as exc:
                # The broker went away (a restart, the network): what was not acknowledged
                # comes again once reconnected, and a unit answered twice counts once.
                self.notify(f"broker connection lost ({why(exc)}): reconnecting")
                follow.held.clear()  # their channel is gone: they come again
                follow.held_by_plan.clear()
                if not await link.reopen(give_up_at):
                    break
                self.notify("broker connection back: following the scan again")
        # Once more at the end: the heartbeats drained while following are the freshest.
        await self._silences(ctx, follow, set(consumers))
        for cut in list(follow.pending.values()):
            await self._close(run, follow, cut, UnfinishedUnit(
                unit=cut.unit.id, segment=cut.unit.segment, probe=cut.unit.probe,
                reason="deadline", detail=f"not finished {deadline_s:g} s after publication"))

    async def _publish(self, live: list[Cut], ctx: Context, expires: datetime) -> None:
        """Publish the units, then say so (a resumed scan publishes again only without it)."""
        if live:
            try:
                await asyncio.to_thread(self._send, live, expires)
            except Exception as exc:
                raise BrokerError(f"broker {redacted(self.url)}: {why(exc)}") from None
        await audit_trail(self.store, self.sink, [audit_event(
            "units-published", Text(zh="任务已发布", en="work units published"), ctx,
            after={"units": len(live)})])

    def _send(self, cuts: list[Cut], expires: Any) -> None:
        """Publish the units as Celery task messages, every one confirmed by the broker,
        with the confirms pipelined: up to ``CONFIRM_WINDOW`` messages in flight on the
        channel (py-amqp's own confirmed publish waits a round trip per message, 376 units/s
        here; bench/README.md). A unit the broker refuses (nack) or leaves unconfirmed fails
        the publication: the scan is not started half-published without saying so."""
        app = make_app(self.url)
        conn = connection(self.url, confirm=False)
        try:
            conn.ensure_connection(max_retries=2, interval_start=0.5, interval_step=0.5)
            channel = conn.channel()
            window = _Confirms(channel)
            producer = app.amqp.Producer(channel, auto_declare=False)
            exchange = units_exchange().name
            for cut in cuts:
                unit = cut.unit
                # Celery's own task message (protocol 2, as send_task builds it), published
                # with kombu: send_task's routing and signals cost a third here, and the
                # queues are declared once, by _declare. Celery's repr of the arguments is
                # the unit id (the repr of a signed unit cost a fifth).
                message = app.amqp.as_task_v2(
                    unit.id, TASK, args=[seal(to_body(unit), self.key)], expires=expires,
                    argsrepr=f"[{unit.id}]", kwargsrepr="{}")
                producer.publish(message.body, exchange=exchange,
                                 routing_key=unit_routing_key(unit.segment, unit.scan),
                                 headers=message.headers, serializer="json",
                                 delivery_mode=2, retry=False, **message.properties)
                window.sent()
                if window.in_flight >= CONFIRM_WINDOW:
                    window.wait(conn, CONFIRM_WINDOW // 2)
            window.wait(conn, 0)
        finally:
            conn.release()
            app.close()

    async def _no_agent(self, run: ScanRecorder, ctx: Any, follow: _Follow, segment: str, *,
                        at_start: bool) -> None:
        """Report a segment without a live agent (once); at the start its units are not
        published and end at once as ``no-agent``."""
        if segment not in follow.reported_empty:
            follow.reported_empty.add(segment)
            units = sum(c.unit.segment == segment for c in follow.pending.values())
            self.notify(f"segment {segment}: no live agent consumes its queue "
                        f"({units} work units {'not published' if at_start else 'waiting'})")
            await audit_trail(self.store, self.sink, [audit_event(
                "agent-missing", Text(zh="网段无在线代理", en="no live agent for the segment"),
                ctx.model_copy(update={"segment_id": segment}), Severity.HIGH,
                {"segment": segment, "units": units, "at_start": at_start})])
        if at_start:
            for cut in [c for c in follow.pending.values() if c.unit.segment == segment]:
                await self._close(run, follow, cut, UnfinishedUnit(
                    unit=cut.unit.id, segment=segment, probe=cut.unit.probe, reason="no-agent",
                    detail="no agent consumed the segment's queue when the scan started"))

    async def _silences(self, ctx: Context, follow: _Follow, segments: set[str]) -> None:
        """An ``agent-silent`` audit event (once per agent and last heartbeat) for each agent
        of the scan's segments that has fallen silent, from the heartbeats in the store."""
        moment = now()
        events = []
        for beat in silent_agents(self.store.agents(), segments, moment):
            said = (beat.agent_id, beat.seen.isoformat())
            if said in follow.silent:
                continue
            follow.silent.add(said)
            self.notify(f"agent {beat.agent_id} ({', '.join(beat.segments)}) silent: last "
                        f"heartbeat {(moment - beat.seen).total_seconds():.0f} s ago, every "
                        f"{beat.interval_s:g} s expected")
            events.append(silence_event(beat, ctx, segments, moment))
        if events:
            await audit_trail(self.store, self.sink, events)

    async def _handle(self, run: ScanRecorder, follow: _Follow, kind: str, body: Any,
                      message: Any) -> bool:
        """Take one message; True when it can be acknowledged now. A result is acknowledged
        only once every asset of its unit is stored (until then its observations exist only
        in this process), so a coordinator killed meanwhile finds it in the queue again."""
        if kind == "beat":
            await self._heartbeat(run, body)
        elif kind == "dead":
            await self._dead(run, follow, message)  # the record keeps it from here
        else:
            return await self._result(run, follow, body, message)
        return True

    async def _dead(self, run: ScanRecorder, follow: _Follow, message: Any) -> None:
        headers = message.headers or {}
        cut = follow.pending.get(str(headers.get("id")))
        if cut is None:
            return
        deaths = headers.get("x-death") or [{}]
        cause = str(deaths[0].get("reason", "unknown"))
        if cause == "rejected":
            outcome = UnfinishedUnit(
                unit=cut.unit.id, segment=cut.unit.segment, probe=cut.unit.probe,
                reason="refused", detail="an agent refused it (its log and heartbeat "
                "say why: signature, protocol version, segment, scope); nothing was sent")
        else:
            outcome = UnfinishedUnit(
                unit=cut.unit.id, segment=cut.unit.segment, probe=cut.unit.probe,
                reason="dead-letter",
                detail=f"dead-lettered ({cause}) after {DELIVERY_LIMIT + 1} deliveries")
        self.notify(f"work unit {cut.unit.id} ({cut.unit.segment}, {cut.unit.probe}): "
                    f"{outcome.reason}")
        await self._close(run, follow, cut, outcome)

    async def _result(self, run: ScanRecorder, follow: _Follow, body: Any, message: Any
                      ) -> bool:
        try:
            result = read_result(body, self.key)
        except UnitRefused as exc:
            self.notify(f"a result was ignored: {exc.reason}")
            return True
        cut = follow.cuts.get(result.unit)
        if cut is None or result.scan != self.scan_id:
            return True
        if result.unit not in follow.pending:
            # A second delivery of a unit already answered counts once; but after a
            # reconnection it is the copy to acknowledge once its assets are stored.
            return not follow.hold(cut, message)
        if len(result.results) != len(cut.unit.jobs):
            self.notify(f"work unit {cut.unit.id}: agent {result.agent} returned "
                        f"{len(result.results)} results for {len(cut.unit.jobs)} jobs; "
                        "ignored")
            return True
        self._observe(follow, cut, result)
        held = follow.hold(cut, message)
        await self._close(run, follow, cut, None)
        return not held

    def _observe(self, follow: _Follow, cut: Cut, result: UnitResult) -> None:
        for (p, j), answer in zip(cut.refs, result.results, strict=True):
            job = follow.plans[p].jobs[j]
            follow.observed[p][j] = Observation(
                probe=job.probe.kind, context=job.target.context, asset=job.target.asset,
                endpoint=job.target.endpoint, status=answer.status, reason=answer.reason,
                detail=answer.detail, facts=answer.facts, started=answer.started,
                duration_ms=answer.duration_ms, traceback=answer.traceback)
        follow.connections += result.connections
        follow.refusals.extend(result.refusals)
        follow.agents.add(result.agent)

    async def _close(self, run: ScanRecorder, follow: _Follow, cut: Cut,
                     outcome: UnfinishedUnit | None) -> None:
        """A unit has ended (answered, or ``outcome`` says why not); assess every asset whose
        units have all ended."""
        follow.pending.pop(cut.unit.id, None)
        if outcome is not None:
            follow.unfinished.append(outcome)
            for ref in cut.refs:
                follow.missing[ref] = outcome
            # Kept in the (running) record at once: a resumed coordinator knows it.
            run.record.unfinished = sorted(follow.unfinished, key=lambda u: u.unit)
            self.store.save_scan(run.record)
        for p in sorted({p for p, _ in cut.refs}):
            follow.units_left[p] -= 1
            if follow.units_left[p] == 0:
                await self._assess(run, follow, p)

    async def _assess(self, run: ScanRecorder, follow: _Follow, p: int) -> None:
        if p in follow.assessed:
            return
        follow.assessed.add(p)
        plan = follow.plans[p]
        observations = [follow.observed[p].get(j) or _unfinished(job, follow.missing[(p, j)])
                        for j, job in enumerate(plan.jobs)]
        await run.on_asset(plan, observations)
        follow.observed.pop(p, None)
        follow.release(p)

    async def _heartbeat(self, run: ScanRecorder, body: Any) -> None:
        try:
            beat = read_heartbeat(body, self.key)
        except UnitRefused as exc:  # another deployment's agent, or a forgery: said once
            log.info("heartbeat ignored: %s", exc.reason)
            self.ignored_beats += 1
            return
        await record_heartbeats(self.store, self.sink, [beat], run.sink_turn)

    async def _finish(self, run: ScanRecorder, follow: _Follow, ctx: Any) -> ScanRecord:
        record, store = run.record, self.store
        if self.ignored_beats:
            self.notify(f"{self.ignored_beats} heartbeat(s) ignored: bad signature (another "
                        "key) or malformed")
        await audit_trail(store, self.sink, [
            audit_event("scope-refused",
                        Text(zh="超出授权范围，已拒绝", en="refused: out of scope"),
                        ctx, Severity.HIGH, {"target": address, "reason": reason})
            for address, reason in follow.refusals
        ])
        record.status = "partial" if follow.unfinished else "completed"
        record.finished = now()
        record.attempts, record.findings = dict(run.attempts), run.failed
        record.unfinished = sorted(follow.unfinished, key=lambda u: u.unit)
        store.save_scan(record)
        await audit_trail(store, self.sink, [audit_event(
            "scan-finished", Text(zh="扫描完成", en="scan finished"), ctx,
            after={"attempts": dict(run.attempts), "failed": run.failed,
                   "connections": follow.connections, "status": record.status,
                   "units": record.units, "agents": sorted(follow.agents),
                   "unfinished": [u.unit for u in record.unfinished]})])
        return record


async def record_heartbeats(store: SqliteStore, sink: ElasticSink | None,
                            beats: list[AgentHeartbeat], turn: asyncio.Lock | None = None
                            ) -> None:
    """Heartbeats into the store (the newest per agent) and, with a sink, ``sentinel-agents``
    (one document per heartbeat)."""
    store.save_heartbeats(beats)
    if sink is None:
        return

    def write() -> None:
        for beat in beats:
            sink.write("agents", document_id(beat.agent_id, beat.seen.isoformat()),
                       heartbeat_to_ecs(beat))

    async with turn or asyncio.Lock():
        await asyncio.to_thread(write)


def drain_heartbeats(url: str, key: bytes, *, limit: int = 100_000
                     ) -> tuple[list[AgentHeartbeat], int]:
    """Take the heartbeats waiting on the broker (``sentinel agents``): the valid ones and
    the number of messages ignored (bad signature, malformed)."""
    beats: list[AgentHeartbeat] = []
    ignored = 0
    try:
        with connect(url) as conn:
            queue = heartbeats()(conn.default_channel)
            queue.declare()
            for _ in range(limit):
                message = queue.get(no_ack=False, accept=["json"])
                if message is None:
                    break
                try:
                    beats.append(read_heartbeat(message.decode(), key))
                except (UnitRefused, ValueError):
                    ignored += 1
                message.ack()
    except BrokerError:
        raise
    except Exception as exc:
        raise BrokerError(f"broker {redacted(url)}: {why(exc)}") from None
    return beats, ignored


class _Link:
    """The coordinator's connection: declarations, the scan's consumers, and a reconnection
    (until the deadline) when the broker goes away. Every call runs in a worker thread, one
    at a time."""

    RETRY_S = 1.0

    def __init__(self, url: str, scan_id: str, segments: set[str]) -> None:
        self.url = url
        self.scan_id = scan_id
        self.segments = segments
        self.conn: Any = None
        self.inbox: list[tuple[str, Any, Any]] = []
        self.stop: Callable[[], None] | None = None
        self.lost: tuple[type[BaseException], ...] = (OSError,)

    async def open(self) -> None:
        self.conn = await asyncio.to_thread(connect, self.url)
        self.lost = (*self.conn.connection_errors, *self.conn.channel_errors, OSError)
        try:
            await self.call(_declare, self.scan_id, self.segments)
        except Exception as exc:
            await self.close()
            raise BrokerError(f"broker {redacted(self.url)}: {why(exc)}") from None

    async def call(self, operation: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.to_thread(operation, self.conn, *args)

    async def consume(self) -> None:
        self.stop = await asyncio.to_thread(_consume, self.conn, self.scan_id, self.inbox)

    async def drain(self, timeout: float) -> list[tuple[str, Any, Any]]:
        await asyncio.to_thread(_drain, self.conn, timeout)
        batch, self.inbox[:] = list(self.inbox), []
        return batch

    async def reopen(self, give_up_at: float) -> bool:
        """Reconnect, declare and consume again; False if the deadline passed first."""
        self.inbox.clear()  # their acknowledgements died with the channel: they come again
        await self.close()
        # Followed too: the broker may not have dropped the lost connection's lock yet.
        retry: tuple[type[BaseException], ...] = (BrokerError, Followed, *self.lost)
        while time.monotonic() < give_up_at:
            try:
                await self.open()
                await self.consume()
                return True
            except retry as exc:
                log.info("broker still away: %s", why(exc))
                await asyncio.sleep(min(self.RETRY_S, max(0.0, give_up_at - time.monotonic())))
        return False

    async def close(self, *, cleanup: bool = False) -> None:
        if self.conn is None:
            return
        if self.stop is not None:
            with contextlib.suppress(Exception):
                await asyncio.to_thread(self.stop)
            self.stop = None
        if cleanup:
            with contextlib.suppress(Exception):
                await self.call(_cleanup, self.scan_id)
        with contextlib.suppress(Exception):
            self.conn.release()
        self.conn = None


# -- broker operations (run in a worker thread; one at a time on the connection) -----------


class Followed(UsageError):
    """Another coordinator follows this scan."""


def follow_lock(scan_id: str) -> str:
    return f"sentinel.follow.{scan_id}"


def _declare(conn: Any, scan_id: str, segments: set[str]) -> None:
    channel = conn.default_channel
    units_exchange()(channel).declare()
    dead_exchange()(channel).declare()
    for queue in (scan_results(scan_id), scan_dead(scan_id), heartbeats(),
                  *(segment_units(s) for s in sorted(segments))):
        queue(channel).declare()


def _consumers(conn: Any, segments: set[str]) -> dict[str, int]:
    """Consumers of each segment's queue, as the broker counts them."""
    channel = conn.default_channel
    out: dict[str, int] = {}
    for segment in sorted(segments):
        declared = channel.queue_declare(queue=segment_units(segment).name, passive=True)
        out[segment] = int(declared.consumer_count)
    return out


def _consume(conn: Any, scan_id: str, inbox: list[tuple[str, Any, Any]]) -> Callable[[], None]:
    def collect(kind: str) -> Callable[[Any, Any], None]:
        return lambda body, message: inbox.append((kind, body, message))

    def drop(message: Any, exc: Exception) -> None:
        log.warning("undecodable message dropped: %s", type(exc).__name__)
        message.reject()

    # One coordinator follows a scan at a time: it holds the scan's exclusive queue
    # (RabbitMQ refuses it to any other connection, and drops it when this one closes, a
    # SIGKILL included). It carries no message.
    channel = conn.default_channel
    try:
        channel.queue_declare(queue=follow_lock(scan_id), exclusive=True, auto_delete=True)
    except ResourceLocked:
        raise Followed(f"scan {scan_id} is followed by another coordinator (it holds "
                       f"{follow_lock(scan_id)})") from None
    # The results before any prefetch limit is set on the channel: held results (waiting
    # for the other units of their assets) must never stop the flow.

    def on_result(raw: Any) -> None:
        message = channel.message_to_python(raw)
        try:
            body = message.decode()
        except Exception as exc:
            drop(message, exc)
            return
        inbox.append(("result", body, message))

    tag = channel.basic_consume(queue=scan_results(scan_id).name, callback=on_result)
    consumers = []
    for kind, queue in (("dead", scan_dead(scan_id)), ("beat", heartbeats())):
        consumer = conn.Consumer([queue], callbacks=[collect(kind)], accept=["json"],
                                 on_decode_error=drop, prefetch_count=64)
        consumer.consume()
        consumers.append(consumer)

    def stop() -> None:
        channel.basic_cancel(tag)
        for consumer in consumers:
            consumer.cancel()

    return stop


def _drain(conn: Any, timeout: float) -> None:
    with contextlib.suppress(socket.timeout, TimeoutError):
        conn.drain_events(timeout=timeout)


def _cleanup(conn: Any, scan_id: str) -> None:
    channel = conn.default_channel
    for queue in (scan_results(scan_id), scan_dead(scan_id)):
        channel.queue_delete(queue.name)


def _ack(message: Any) -> None:
    """Acknowledge; a message of a channel that is gone comes again and counts once."""
    with contextlib.suppress(Exception):
        message.ack()


def _default_deadline(cuts: Sequence[Cut]) -> float:
    """Every unit of the busiest segment one after another on one agent, plus a minute."""
    per_segment: dict[str, float] = defaultdict(float)
    for cut in cuts:
        per_segment[cut.unit.segment] += cut.unit.budget_s
    return max(per_segment.values(), default=0.0) + 60.0


def _unfinished(job: Job, outcome: UnfinishedUnit) -> Observation:
    target = job.target
    return Observation(
        probe=job.probe.kind, context=target.context, asset=target.asset,
        endpoint=target.endpoint, status=AttemptStatus.ERROR, reason=ErrorReason.UNFINISHED,
        detail=f"work unit {outcome.unit} {outcome.reason}: {outcome.detail}", started=now())


def _chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _given(job: Job) -> Observation:
    """The ``discovery`` attempt of an address: the sweep's verdict, recorded as the engine
    records a :class:`~sentinel.scan.liveness.SweepResult` job."""
    target = job.target
    return Observation(
        probe=job.probe.kind, context=target.context, asset=target.asset,
        endpoint=target.endpoint, status=AttemptStatus.COMPLETED,
        facts=dict(getattr(job.probe, "result", {})), started=now(), duration_ms=0.0)


class _PartLiveness(Liveness):
    """A sweep through agents: an address nobody could sweep is ``not-swept`` (probed as
    without discovery), not ``down``."""

    def __init__(self, methods: tuple[str, ...]) -> None:
        super().__init__(methods)
        self.unswept: set[str] = set()

    def is_up(self, address: str) -> bool:
        return address in self.unswept or super().is_up(address)

    def facts(self, address: str) -> dict[str, Any]:
        if address in self.unswept:
            return {"state": "not-swept", "family": "ipv6" if ":" in address else "ipv4",
                    "methods": [], "swept_with": list(self.methods)}
        return super().facts(address)


def _kept(live: Liveness) -> dict[str, Any]:
    return {"up": dict(sorted(live.up.items())), "swept": live.swept,
            "unswept": sorted(getattr(live, "unswept", set()))}


def _restored(kept: dict[str, Any], config: DiscoveryProbeConfig) -> Liveness:
    live = _PartLiveness(tuple(config.methods))
    live.up = {str(a): list(m) for a, m in dict(kept.get("up") or {}).items()}
    live.swept = int(kept.get("swept") or 0)
    live.unswept = {str(a) for a in kept.get("unswept") or []}
    return live


class _Confirms:
    """Publisher confirms of one channel, counted as they come (RabbitMQ's delivery tags
    are the channel's publish count; ``multiple`` confirms every tag up to it)."""

    def __init__(self, channel: Any) -> None:
        self.published = 0
        self.confirmed = 0
        self.nacked = 0
        channel.confirm_select()
        channel.events["basic_ack"].add(self._ack)
        channel.events["basic_nack"].add(self._nack)

    @property
    def in_flight(self) -> int:
        return self.published - self.confirmed

    def sent(self) -> None:
        self.published += 1

    def _ack(self, tag: int, multiple: bool) -> None:
        self.confirmed = max(self.confirmed, tag) if multiple else self.confirmed + 1

    def _nack(self, tag: int, multiple: bool) -> None:
        self.nacked += 1
        self._ack(tag, multiple)

    def wait(self, conn: Any, left: int) -> None:
        """Take confirms until at most ``left`` are in flight."""
        give_up_at = time.monotonic() + CONFIRM_TIMEOUT_S
        while self.in_flight > left:
            remaining = give_up_at - time.monotonic()
            if remaining <= 0:
                raise BrokerError(f"{self.in_flight} work units not confirmed by the broker "
                                  f"within {CONFIRM_TIMEOUT_S:g} s")
            with contextlib.suppress(socket.timeout, TimeoutError):
                conn.drain_events(timeout=min(1.0, remaining))
        if self.nacked:
            raise BrokerError(f"the broker refused {self.nacked} work unit(s) (nack)")
