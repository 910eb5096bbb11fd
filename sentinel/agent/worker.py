"""The agent: a Celery worker inside a segment that runs the work units of its segments.

For every unit it receives, the agent

1. checks the signature (HMAC-SHA256 with the deployment's key) and the protocol version;
2. checks the unit against its **own** playbook: the segment is one it serves, the probe kind
   is one its playbook runs (on the ports it plans), and every address lies inside its
   playbook's scope (:func:`sentinel.scan.run.policy_for`: the global deny list wins);
3. runs the jobs with the scan engine, through its own gate (scope again at every
   connection, its playbook's rate limits), within the unit's time budget;
4. publishes the result on the scan's results queue (publisher confirm), and only then lets
   Celery acknowledge the unit.

A refused unit (1, 2) is rejected without requeue: RabbitMQ dead-letters it at once and
nothing of it was sent. A unit that fails (3, 4: the budget ran out, an internal error, the
broker went away) is rejected with requeue: another agent of the segment (or this one) gets
it, and after ``DELIVERY_LIMIT`` returns it is dead-lettered. An agent killed mid-unit never
acknowledges it, so RabbitMQ gives it to another agent.

A heartbeat thread publishes the agent's id, version, segments, vantage addresses and unit
counters every ``interval`` seconds, after every unit, and once more when the agent stops.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from celery import bootsteps
from celery.exceptions import Reject
from celery.worker.consumer import Consumer
from kombu import Connection

from sentinel import __version__
from sentinel.agent.broker import connection, heartbeat_exchange, heartbeats, make_app
from sentinel.agent.protocol import (
    PROTOCOL,
    SWEEP,
    TASK,
    HeartbeatBody,
    JobResult,
    Share,
    UnitResult,
    WorkUnit,
    read_unit,
    results_queue,
    seal,
    to_body,
)
from sentinel.errors import ScopeRefused, UnitRefused, UsageError
from sentinel.model import AgentHeartbeat, AttemptStatus, Context, Endpoint, Observation, now
from sentinel.playbook import Playbook, RateLimits, Segment
from sentinel.probes.base import Network, Planned, Probe, Target
from sentinel.probes.routes import EgressGuard
from sentinel.probes.site import SiteProbe
from sentinel.scan.engine import AssetPlan, Engine, Job
from sentinel.scan.plan import probes_for, refusals
from sentinel.scan.run import policy_for
from sentinel.scope import Gate, TokenBucket

log = logging.getLogger("sentinel.agent")


@dataclass
class Counters:
    """Units done, failed and refused by this agent (shared by the task and heartbeat
    threads)."""

    done: int = 0
    failed: int = 0
    refused: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, what: str) -> None:
        with self.lock:
            setattr(self, what, getattr(self, what) + 1)


def vantage_addresses(playbook: Playbook, segments: tuple[str, ...]) -> tuple[str, ...]:
    """This host's source address toward each of its segments' networks (a UDP socket is
    connected, which sends nothing, and asked its local address)."""
    found: list[str] = []
    for segment in playbook.segments:
        if segment.id not in segments:
            continue
        for network in segment.networks:
            probe_ip = next(iter(network.hosts()), network.network_address)
            family = socket.AF_INET6 if network.version == 6 else socket.AF_INET
            with contextlib.suppress(OSError), socket.socket(family, socket.SOCK_DGRAM) as sock:
                sock.connect((str(probe_ip), 9))
                local = str(sock.getsockname()[0])
                if local not in found:
                    found.append(local)
    return tuple(found)


def limits_for(own: RateLimits, share: Share | None) -> RateLimits:
    """The limits a unit runs under: the lower of this agent's playbook and the unit's share
    of the scan's budget (a coordinator cannot raise what the agent's playbook allows)."""
    if share is None:
        return own
    return own.model_copy(update={
        "packets_per_second": min(own.packets_per_second, share.packets_per_second),
        "connections_per_host": min(own.connections_per_host, share.connections_per_host),
        "concurrent_hosts": min(own.concurrent_hosts, share.concurrent_hosts),
    })


@dataclass
class CarriedBucket:
    """The token bucket's level carried from one unit to the next (each unit runs in its own
    event loop, with its own gate): a new unit starts with the tokens the previous one left,
    not with a fresh second of burst, so the agent's rate holds across units."""

    rate: float | None = None
    tokens: float = 0.0
    stamp: float = 0.0

    def resume(self, bucket: TokenBucket) -> None:
        if self.rate == bucket.rate:
            bucket._tokens, bucket._stamp = self.tokens, self.stamp

    def keep(self, bucket: TokenBucket) -> None:
        self.rate, self.tokens, self.stamp = bucket.rate, bucket._tokens, bucket._stamp


class Agent:
    """One agent process: its playbook, its segments, its key and its counters."""

    def __init__(self, playbook: Playbook, segments: tuple[str, ...], key: bytes, url: str,
                 *, agent_id: str, interval_s: float = 10.0, allow_public: bool = False) -> None:
        known = {s.id for s in playbook.segments}
        missing = [s for s in segments if s not in known]
        if not segments or missing:
            raise UsageError(f"--segment {', '.join(missing) or '(none)'}: not a segment of "
                             f"playbook {playbook.name!r} (known: {', '.join(sorted(known))})")
        # The same refusal as a scan's, before the agent takes any unit: a playbook that
        # reaches outside its own scope (or into public space without the person's flag).
        refused = refusals(playbook, policy_for(playbook), allow_public=allow_public)
        if refused:
            more = f" (and {len(refused) - 1} more)" if len(refused) > 1 else ""
            raise ScopeRefused(f"{refused[0].what} {refused[0].target}",
                               f"{refused[0].reason}{more}")
        self.playbook = playbook
        self.segments = tuple(dict.fromkeys(segments))
        self.key = key
        self.url = url
        self.agent_id = agent_id
        self.interval_s = interval_s
        self.policy = policy_for(playbook)
        self.counters = Counters()
        self.started = now()
        self.hostname = socket.gethostname()
        self.vantage = vantage_addresses(playbook, self.segments)
        # Where this host's traffic toward each segment must leave (the segment's egress in
        # this agent's playbook), asked of this host's kernel at every connection.
        self.egress = EgressGuard.for_playbook(playbook)
        self.bucket = CarriedBucket()

    # -- one unit ------------------------------------------------------------------------

    def check(self, envelope: object) -> tuple[WorkUnit, Segment, tuple[Probe, ...]]:
        """The unit, its segment and the probe of each job, or :class:`UnitRefused`."""
        unit = read_unit(envelope, self.key)
        if unit.segment not in self.segments:
            raise UnitRefused(f"segment {unit.segment!r} is not served by this agent "
                              f"({', '.join(self.segments)})")
        segment = next(s for s in self.playbook.segments if s.id == unit.segment)
        for job in unit.jobs:
            reason = self.policy.verdict(job.address)
            if reason is not None and not (unit.probe == SiteProbe.kind
                                           and job.address == self._site_anchor()):
                raise UnitRefused(f"{job.address}: {reason} of this agent's playbook")
        return unit, segment, self._probes(unit)

    def _site_anchor(self) -> str:
        return self.playbook.resolvers[0] if self.playbook.resolvers else "::"

    def _probes(self, unit: WorkUnit) -> tuple[Probe, ...]:
        """The probe of each job, as this agent's playbook configures its kind."""
        if unit.probe == SWEEP:  # the discovery phase: its methods are this playbook's
            if self.playbook.probes.discovery is None:
                raise UnitRefused("a sweep unit, but this agent's playbook runs no discovery")
            if any(job.port is not None for job in unit.jobs):
                raise UnitRefused("a sweep unit names ports; it sweeps addresses only")
            return ()
        if unit.probe == SiteProbe.kind:  # one probe per site, each from this playbook
            sites = {s.hostname: s for s in self.playbook.sites}
            probes: list[Probe] = []
            for job in unit.jobs:
                site = sites.get(job.asset.name or "")
                if site is None or job.asset.id != f"site:{site.hostname}":
                    raise UnitRefused(f"site {job.asset.name!r}: not a site of this agent's "
                                      "playbook")
                probes.append(SiteProbe(site, self.playbook.resolvers, self.playbook.probes.web))
            return tuple(probes)
        planned: dict[str, Planned] = {p.probe.kind: p for p in probes_for(self.playbook)}
        chosen = planned.get(unit.probe)
        if chosen is None:
            raise UnitRefused(f"probe kind {unit.probe!r} is not run by this agent's playbook")
        for job in unit.jobs:
            allowed = job.port in chosen.ports if chosen.ports else job.port is None
            if not allowed:
                raise UnitRefused(f"{unit.probe} on port {job.port}: not planned by this "
                                  "agent's playbook")
        return (chosen.probe,) * len(unit.jobs)

    def execute(self, unit: WorkUnit, segment: Segment,
                probes: tuple[Probe, ...]) -> UnitResult:
        """Run every job of the unit within its budget; one result per job, in order."""
        if unit.probe == SWEEP:
            return asyncio.run(self._sweep(unit, segment))
        return asyncio.run(self._execute(unit, segment, probes))

    def _gate(self, unit: WorkUnit, refused: list[tuple[str, str]]) -> tuple[Gate, RateLimits]:
        rate = limits_for(self.playbook.rate, unit.share)
        gate = Gate(self.policy, rate, audit=lambda a, r: refused.append((a, r)),
                    egress=self.egress)
        self.bucket.resume(gate.bucket)
        return gate, rate

    async def _sweep(self, unit: WorkUnit, segment: Segment) -> UnitResult:
        """Which of the unit's addresses answer, as an in-process sweep asks them; then,
        with an interface of its own on the segment's link (the segment's egress interface
        in this agent's playbook) and the right to capture, local-link discovery."""
        from sentinel.scan.liveness import Liveness, sweep_batch  # scapy only when sweeping

        config = self.playbook.probes.discovery
        assert config is not None  # checked with the unit
        refused: list[tuple[str, str]] = []
        gate, _rate = self._gate(unit, refused)
        live = Liveness(tuple(config.methods))
        started = now()
        link: dict[str, Any] | None = None
        try:
            async with asyncio.timeout(unit.budget_s):
                size = max(1, min(config.batch, int(gate.limits.packets_per_second)))
                addresses = [job.address for job in unit.jobs]
                for first in range(0, len(addresses), size):
                    batch = addresses[first:first + size]
                    live.swept += len(batch)
                    await sweep_batch(gate, batch, config, live)
                link = await self._link(gate, segment, config.timeout_s)
        finally:
            self.bucket.keep(gate.bucket)
        return UnitResult(
            unit=unit.id, scan=unit.scan, agent=self.agent_id,
            results=tuple(JobResult(status=AttemptStatus.COMPLETED,
                                    facts=live.facts(job.address), started=started)
                          for job in unit.jobs),
            connections=gate.connections, refusals=tuple(refused), link=link)

    async def _link(self, gate: Gate, segment: Segment, timeout: float
                    ) -> dict[str, Any] | None:
        iface = segment.egress.interface if segment.egress is not None else None
        if iface is None or os.geteuid() != 0:
            return None  # not on the link (a central vantage), or no raw sockets
        from sentinel.probes.discovery import discover_segment

        try:
            result = await discover_segment(gate, segment, iface, timeout)
        except ScopeRefused as exc:
            return {"segment": segment.id, "iface": iface, "error": exc.reason}
        result["packets"] = gate.bucket.spent
        return result

    async def _execute(self, unit: WorkUnit, segment: Segment,
                       probes: tuple[Probe, ...]) -> UnitResult:
        refused: list[tuple[str, str]] = []
        gate, rate = self._gate(unit, refused)
        engine = Engine(Network(gate, rate.probe_timeout_s), probe_timeout=rate.probe_timeout_s,
                        windows=self.playbook.windows)
        agency = self.playbook.agency(segment.agency)
        context = Context(scan_id=unit.scan, agency_id=agency.id, agency_name=agency.name.zh,
                          segment_id=segment.id, zone=segment.zone, tenant=segment.tenant,
                          drill_id=unit.drill, mipin_level=segment.levels.mipin)
        # The unit's jobs grouped by asset (the engine's unit of concurrency), each job
        # remembering its place in the unit.
        grouped: dict[str, list[tuple[int, Job]]] = {}
        for index, (spec, probe) in enumerate(zip(unit.jobs, probes, strict=True)):
            endpoint = Endpoint(address=spec.address, port=spec.port,
                                transport=probe.transport)
            target = Target(endpoint, spec.asset, context, segment, spec.server_name)
            grouped.setdefault(spec.asset.id, []).append((index, Job(probe, target)))
        places: dict[int, list[int]] = {}
        plans: list[AssetPlan] = []
        for asset_id, jobs in grouped.items():
            plan = AssetPlan(asset_id, tuple(j for _, j in jobs))
            places[id(plan)] = [i for i, _ in jobs]
            plans.append(plan)
        results: dict[int, Observation] = {}

        async def done(plan: AssetPlan, observations: list[Observation]) -> None:
            for index, observation in zip(places[id(plan)], observations, strict=True):
                results[index] = observation

        try:
            async with asyncio.timeout(unit.budget_s):
                await engine.run(plans, done)
        finally:
            self.bucket.keep(gate.bucket)
        return UnitResult(
            unit=unit.id, scan=unit.scan, agent=self.agent_id,
            results=tuple(
                JobResult(status=o.status, reason=o.reason, detail=o.detail, facts=o.facts,
                          started=o.started, duration_ms=o.duration_ms, traceback=o.traceback)
                for o in (results[i] for i in range(len(unit.jobs)))
            ),
            connections=gate.connections,
            refusals=tuple(refused),
        )

    # -- heartbeats ------------------------------------------------------------------------

    def heartbeat(self, state: str = "running") -> AgentHeartbeat:
        with self.counters.lock:
            done, failed, refused = (self.counters.done, self.counters.failed,
                                     self.counters.refused)
        return AgentHeartbeat(
            agent_id=self.agent_id, hostname=self.hostname, version=__version__,
            protocol=PROTOCOL, segments=self.segments, vantage=self.vantage,
            started=self.started, seen=now(), interval_s=self.interval_s,
            units_done=done, units_failed=failed, units_refused=refused,
            state="stopped" if state == "stopped" else "running",
        )

    # -- the worker ------------------------------------------------------------------------

    def run(self) -> None:
        """Consume the segments' queues until SIGTERM/SIGINT (warm: the unit in hand ends)."""
        app = make_app(self.url, self.segments)
        beats = HeartbeatThread(self.url, self.key, self.heartbeat, self.interval_s)
        agent = self

        @app.task(name=TASK, bind=True, acks_late=True, reject_on_worker_lost=True,
                  ignore_result=True)  # type: ignore[untyped-decorator]
        def run_unit(task: Any, envelope: object) -> None:
            agent.run_unit(task.app, envelope, str(task.request.id))
            beats.wake()

        app.steps["worker"].add(_Wakeup)
        worker = app.Worker(
            queues=[f"sentinel.seg.{s}" for s in self.segments],
            pool="threads", concurrency=1, hostname=f"{self.agent_id}@{self.hostname}",
            consumer_cls=_Consumer,
            without_gossip=True, without_mingle=True, without_heartbeat=True,
            quiet=True, loglevel="INFO", optimization="fair",
        )
        beats.start()
        try:
            worker.start()
        finally:
            beats.stop()
            if self.egress is not None:
                self.egress.close()

    def run_unit(self, app: Any, envelope: object, message_id: str) -> None:
        """The task body: check, run, publish the result; refuse or fail by rejecting."""
        try:
            unit, segment, probes = self.check(envelope)
        except UnitRefused as exc:
            self.counters.add("refused")
            log.warning("unit %s refused, nothing sent: %s", message_id, exc.reason)
            raise Reject(exc.reason, requeue=False) from None
        try:
            result = self.execute(unit, segment, probes)
            with app.producer_or_acquire() as producer:
                producer.publish(seal(to_body(result), self.key), exchange="",
                                 routing_key=results_queue(unit.scan), serializer="json",
                                 delivery_mode=2, retry=True,
                                 retry_policy={"max_retries": 3, "interval_start": 0.5})
        except Exception as exc:
            self.counters.add("failed")
            reason = (f"its budget of {unit.budget_s:g} s ran out"
                      if isinstance(exc, TimeoutError) else f"{type(exc).__name__}: {exc}")
            log.warning("unit %s failed, returned to the queue: %s", unit.id, reason)
            raise Reject(reason, requeue=True) from None
        self.counters.add("done")
        log.info("unit %s done: %d jobs, %d connections", unit.id, len(unit.jobs),
                 result.connections)


class _Consumer(Consumer):  # type: ignore[misc]
    """Celery's consumer without native delayed delivery. Celery sets it up as soon as it
    sees a quorum queue: 28 more quorum queues and their exchanges on the broker, for
    countdowns and ETAs that units never use."""

    class Blueprint(Consumer.Blueprint):  # type: ignore[misc]
        default_steps: ClassVar[list[str]] = [
            step for step in Consumer.Blueprint.default_steps
            if not step.endswith(":DelayedDelivery")]


class _Wakeup(bootsteps.StartStopStep):  # type: ignore[misc]
    """A timer every half second in the worker's event loop. A signal does not interrupt the
    loop's poll (it is retried for the time left), so without it a warm shutdown (SIGTERM)
    waits for the next timer, seconds away."""

    requires = ("celery.worker.components:Hub",)

    def start(self, worker: Any) -> None:
        if worker.hub is not None:
            worker.hub.call_repeatedly(0.5, _nothing)


def _nothing() -> None:
    return None


class HeartbeatThread(threading.Thread):
    """Publishes a heartbeat every ``interval`` seconds, on :meth:`wake`, and on stop."""

    def __init__(self, url: str, key: bytes, beat: Callable[[str], AgentHeartbeat],
                 interval: float) -> None:
        super().__init__(name="sentinel-heartbeat", daemon=True)
        self.url = url
        self.key = key
        self.beat = beat
        self.interval = interval
        self._wake = threading.Event()
        self._stopping = False
        self._conn: Connection | None = None

    def wake(self) -> None:
        self._wake.set()

    def run(self) -> None:
        while not self._stopping:
            self.publish(self.beat("running"))
            self._wake.wait(self.interval)
            self._wake.clear()

    def stop(self) -> None:
        self._stopping = True
        self._wake.set()
        self.join(timeout=self.interval + 5)
        self.publish(self.beat("stopped"))
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.release()

    def publish(self, beat: AgentHeartbeat) -> None:
        body = seal(to_body(HeartbeatBody(beat=beat)), self.key)
        try:
            if self._conn is None:
                self._conn = connection(self.url)
            producer = self._conn.Producer(serializer="json")
            producer.publish(body, exchange=heartbeat_exchange(), routing_key="",
                             declare=[heartbeats()], delivery_mode=2, retry=True,
                             retry_policy={"max_retries": 2, "interval_start": 0.5})
        except Exception as exc:  # the broker is away: the next beat tries again
            log.warning("heartbeat not sent: %s", type(exc).__name__)
            if self._conn is not None:
                with contextlib.suppress(Exception):
                    self._conn.release()
            self._conn = None

