"""The engine: runs planned probes with bounded concurrency, a timeout on every probe, and
turns every planned probe into exactly one recorded attempt.

Work arrives as an iterator of :class:`AssetPlan` (all jobs for one asset, on all its
addresses) and is pulled lazily, so memory stays flat on long target lists. At most
``concurrent_hosts`` assets are in flight; within an asset, the gate caps connections per
address. A probe that raises, hangs or is refused ends as an ``error`` attempt with a reason;
a probe outside the scan windows ends as ``skipped``. One broken probe never stops a scan.
"""

from __future__ import annotations

import asyncio
import time
import traceback
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

from sentinel.errors import ErrorReason, ProbeError, ScopeRefused
from sentinel.model import AttemptStatus, Observation, now
from sentinel.playbook import Window
from sentinel.probes.base import Network, Probe, Target

# The tail of an internal error's traceback kept with its attempt (the frames nearest the fault).
MAX_TRACEBACK = 8000

_CAUSE = "\nThe above exception was the direct cause of the following exception:\n\n"
_CONTEXT = "\nDuring handling of the above exception, another exception occurred:\n\n"


def _chain(exc: BaseException) -> list[tuple[BaseException, str]]:
    """``exc`` and the exceptions that led to it, oldest first, each with the line Python
    prints after it (direct cause or context; nothing after ``exc`` itself)."""
    chain: list[tuple[BaseException, str]] = []
    seen: set[int] = set()
    current: BaseException | None = exc
    joint = ""
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        chain.append((current, joint))
        if current.__cause__ is not None:
            current, joint = current.__cause__, _CAUSE
        elif not current.__suppress_context__:
            current, joint = current.__context__, _CONTEXT
        else:
            current = None
    return chain[::-1]


def _name(exc: BaseException) -> str:
    kind = type(exc)
    return kind.__qualname__ if kind.__module__ == "builtins" else (
        f"{kind.__module__}.{kind.__qualname__}")


def scrubbed_traceback(exc: BaseException) -> str:
    """An internal error's traceback as Python prints it, without any exception's message.

    The frames (file, line, function, source line) and the exception types say where the
    fault is; a message can carry the values the code was handling (a library that quotes
    its input would put a passphrase in it: pysnmp's WrongValueError does), and this text is
    kept in the store. No local variable is captured either.
    """
    parts: list[str] = []
    for current, joint in _chain(exc):
        frames = traceback.extract_tb(current.__traceback__)
        if frames:
            parts.append("Traceback (most recent call last):\n")
            parts.extend(frames.format())
        parts.append(f"{_name(current)}: (message not kept)\n" if str(current) else
                     f"{_name(current)}\n")
        parts.append(joint)
    return "".join(parts)


def internal_detail(exc: BaseException) -> str:
    """What an attempt that ended in an internal error reports (reports show it): the
    exception type, never its message (see :func:`scrubbed_traceback`)."""
    return f"{type(exc).__name__} (internal error; its traceback is kept in the store)"


@dataclass(frozen=True)
class Job:
    probe: Probe
    target: Target


@dataclass(frozen=True)
class AssetPlan:
    """Every job for one asset; the asset is assessed once all of them have ended."""

    asset_id: str
    jobs: tuple[Job, ...]


AssetDone = Callable[[AssetPlan, list[Observation]], Awaitable[None]]


class Engine:
    """Runs asset plans under the gate's caps; calls ``on_asset`` as each asset finishes."""

    def __init__(
        self,
        network: Network,
        *,
        probe_timeout: float,
        windows: tuple[Window, ...] = (),
        clock: Callable[[], datetime] = now,
    ) -> None:
        self.network = network
        self.probe_timeout = probe_timeout
        self.windows = windows
        self.clock = clock

    def _in_window(self) -> bool:
        return not self.windows or any(w.contains(self.clock()) for w in self.windows)

    async def attempt(self, job: Job) -> Observation:
        """Run one job to exactly one attempt record."""
        target = job.target
        started = self.clock()
        tick = time.perf_counter()

        def record(
            status: AttemptStatus,
            facts: dict[str, object] | None = None,
            reason: ErrorReason | None = None,
            detail: str | None = None,
            trace: str | None = None,
        ) -> Observation:
            return Observation(
                probe=job.probe.kind,
                context=target.context,
                asset=target.asset,
                endpoint=target.endpoint,
                status=status,
                reason=reason,
                detail=detail,
                facts=dict(facts or {}),
                started=started,
                duration_ms=round((time.perf_counter() - tick) * 1000, 3),
                traceback=trace,
            )

        if not self._in_window():
            return record(
                AttemptStatus.SKIPPED,
                reason=ErrorReason.WINDOW,
                detail="outside the playbook's scan windows",
            )
        # A kind that needs many connections per job (tls) may declare a larger budget.
        limit = max(self.probe_timeout, job.probe.budget_s)
        try:
            facts = await asyncio.wait_for(job.probe.run(target, self.network), limit)
        except TimeoutError:
            return record(
                AttemptStatus.ERROR,
                reason=ErrorReason.TIMEOUT,
                detail=f"no result within {limit:g} s",
            )
        except ScopeRefused as exc:
            return record(AttemptStatus.ERROR, reason=ErrorReason.SCOPE, detail=exc.reason)
        except ProbeError as exc:
            return record(AttemptStatus.ERROR, reason=exc.reason, detail=exc.detail)
        except Exception as exc:
            return record(
                AttemptStatus.ERROR,
                reason=ErrorReason.INTERNAL,
                detail=internal_detail(exc),
                trace=scrubbed_traceback(exc)[-MAX_TRACEBACK:],
            )
        return record(AttemptStatus.COMPLETED, facts)

    async def _run_asset(self, plan: AssetPlan, on_asset: AssetDone) -> None:
        # At most connections_per_host jobs run per address at once. Bounding them here, before
        # a job's timeout starts, keeps the timeout for the probe's own work: started all at
        # once, a host's ~100 jobs would queue for the gate's slots inside their timeouts and
        # time out while waiting on a busy machine. The gate keeps the same cap as the hard
        # limit for anything else that uses it.
        per_address: dict[str, asyncio.Semaphore] = {}

        async def bounded(job: Job) -> Observation:
            address = job.target.endpoint.address
            slots = per_address.setdefault(
                address, asyncio.Semaphore(self.network.gate.limits.connections_per_host))
            async with slots:
                return await self.attempt(job)

        async with self.network.gate.host_slots:
            observations = list(await asyncio.gather(*(bounded(j) for j in plan.jobs)))
        await on_asset(plan, observations)

    async def run(self, plans: Iterable[AssetPlan], on_asset: AssetDone) -> None:
        """Run every plan; at most ``concurrent_hosts`` assets are pulled at once."""
        limit = self.network.gate.limits.concurrent_hosts
        running: set[asyncio.Task[None]] = set()
        try:
            for plan in plans:
                if len(running) >= limit:
                    done, _ = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
                    for finished in done:
                        running.discard(finished)
                        finished.result()
                running.add(asyncio.create_task(self._run_asset(plan, on_asset)))
            if running:
                await asyncio.gather(*running)
        except BaseException:
            # One asset failed (its store write, say) or the scan was stopped: the others end
            # here too, before they write anything more, and their errors are collected.
            for task in running:
                task.cancel()
            await asyncio.gather(*running, return_exceptions=True)
            raise
