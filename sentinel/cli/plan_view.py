"""What a scan will do, told before it runs: the planned total (the progress bar's size), each
agency's segments with their assets and probes (``--dry-run``), and an estimated duration
at the playbook's rate.

The estimate follows the engine's own caps (:mod:`sentinel.scan.engine`): at most
``concurrent_hosts`` assets at once, at most ``connections_per_host`` jobs per address at
once, each job bounded by ``max(probe_timeout_s, the kind's budget_s)``, and every
connection paid for by a token of ``packets_per_second``. The lower bound is the rate alone
(one connection a probe; TLS enumerations make dozens); the upper bound is every probe
waiting its whole time limit.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from sentinel.playbook import Playbook
from sentinel.scan.engine import AssetPlan


@dataclass
class SegmentPlan:
    """One segment's share of the plan."""

    agency: str
    segment: str
    zone: str
    assets: int = 0
    addresses: set[str] = field(default_factory=set)
    probes: int = 0


@dataclass(frozen=True)
class Estimate:
    """Seconds a scan is expected to take: at least ``low``, at most ``high``."""

    low: float
    high: float


@dataclass
class PlanSummary:
    """The plan, counted per segment, with its estimate."""

    timeout_s: float
    segments: dict[tuple[str, str], SegmentPlan] = field(default_factory=dict)
    probes: int = 0
    assets: int = 0
    # Per asset: the most seconds one address's jobs may take, one after another.
    limits: list[float] = field(default_factory=list)

    def add(self, plan: AssetPlan) -> None:
        if not plan.jobs:
            return
        target = plan.jobs[0].target
        key = (target.context.agency_id, target.segment.id)
        part = self.segments.setdefault(
            key, SegmentPlan(key[0], key[1], target.context.zone))
        part.assets += 1
        part.probes += len(plan.jobs)
        self.assets += 1
        self.probes += len(plan.jobs)
        per_address: dict[str, float] = defaultdict(float)
        for job in plan.jobs:
            if job.target.endpoint.transport != "none":
                part.addresses.add(job.target.endpoint.address)
            # The engine's limit of one job (engine.Engine.attempt).
            per_address[job.target.endpoint.address] += max(self.timeout_s, job.probe.budget_s)
        self.limits.append(max(per_address.values()))

    def estimate(self, book: Playbook) -> Estimate:
        """At least the rate's time for one connection a probe (and the per-host spacing);
        at most every probe's whole time limit, per address ``connections_per_host`` at a
        time, ``concurrent_hosts`` assets at a time."""
        rate = book.rate
        low = self.probes / rate.packets_per_second
        worst = [total / rate.connections_per_host for total in self.limits]
        high = max(sum(worst) / rate.concurrent_hosts, max(worst, default=0.0), low)
        return Estimate(low, high)


def summarise(book: Playbook, plans: Iterable[AssetPlan]) -> PlanSummary:
    """Count the plans (each is kept only while counted)."""
    summary = PlanSummary(book.rate.probe_timeout_s)
    for plan in plans:
        summary.add(plan)
    return summary


def duration(seconds: float) -> str:
    """``0.4 s``, ``42 s``, ``3 min 20 s``, ``2 h 05 min``."""
    if seconds < 10:
        return f"{seconds:.1f} s"
    whole = math.ceil(seconds)
    if whole < 60:
        return f"{whole} s"
    if whole < 3600:
        return f"{whole // 60} min {whole % 60:02d} s"
    return f"{whole // 3600} h {whole % 3600 // 60:02d} min"


def dry_run_lines(book: Playbook, summary: PlanSummary) -> Iterator[str]:
    """The ``--dry-run`` summary for people: agencies, their segments, the estimate."""
    names = {a.id: a.name.zh for a in book.agencies}
    by_agency: dict[str, list[SegmentPlan]] = defaultdict(list)
    for part in summary.segments.values():
        by_agency[part.agency].append(part)
    for agency in book.agencies:
        parts = by_agency.get(agency.id, [])
        yield f"agency {agency.id} ({names[agency.id]}): {len(parts)} segment" + (
            "s" if len(parts) != 1 else "")
        for part in parts:
            yield (f"  segment {part.segment} ({part.zone}): {part.assets} assets, "
                   f"{len(part.addresses)} addresses, {part.probes} probes")
    rate = book.rate
    guess = summary.estimate(book)
    yield (f"estimated duration at the playbook's rate ({rate.packets_per_second:g} "
           f"connections/s, {rate.concurrent_hosts} hosts x {rate.connections_per_host} "
           f"connections): at least {duration(guess.low)}, at most {duration(guess.high)} "
           f"if every probe runs to its time limit")


def planned_assets(book: Playbook) -> int:
    """How many assets the scan will report progress for (before any discovery sweep: with
    ``probes.discovery`` the sweep may narrow it)."""
    from sentinel.scan.plan import asset_plans, probes_for

    kinds = bool(probes_for(book))
    # One plan per asset, counted without building its jobs: every address has a job when
    # any probe kind runs, a site always has one; a plan without jobs reports no progress
    # (run.ScanRecorder.on_asset).
    return sum(1 for plan in asset_plans(book, "count", probes=[]) if kinds or plan.jobs)
