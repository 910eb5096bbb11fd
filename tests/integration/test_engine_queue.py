"""A probe's timeout covers its own work, not its wait for a connection slot.

Forty jobs against one address, four connections per host, each connection answered after
0.2 s by a real loopback server: two seconds of work in all, with a one-second probe timeout.
Every job must complete; none may time out while queueing behind the others.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from sentinel.model import Asset, AttemptStatus, Context, Endpoint, Observation
from sentinel.playbook import RateLimits, Segment
from sentinel.probes.base import Network
from sentinel.probes.tcp import TcpProbe
from sentinel.scan.engine import AssetPlan, Engine, Job
from sentinel.scope import Gate, policy_from


async def slow_banner(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await asyncio.sleep(0.2)
    writer.write(b"220 ready\r\n")
    await writer.drain()
    writer.close()


async def run_jobs(count: int) -> list[Observation]:
    server = await asyncio.start_server(slow_banner, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    limits = RateLimits(connections_per_host=4, packets_per_second=10_000, probe_timeout_s=1.0)
    engine = Engine(Network(Gate(policy_from(["127.0.0.1/32"]), limits), 1.0), probe_timeout=1.0)
    segment = Segment(id="lo", agency="a1", cidrs=("127.0.0.1/32",), zone="extranet")
    context = Context(scan_id="q", agency_id="a1", segment_id="lo")
    asset = Asset(id="127.0.0.1", addresses=("127.0.0.1",))
    probe = TcpProbe(banner=True, banner_wait_s=0.5)
    from sentinel.probes.base import Target

    jobs = tuple(Job(probe, Target(Endpoint(address="127.0.0.1", port=port), asset, context,
                                   segment)) for _ in range(count))
    seen: list[Observation] = []

    async def done(_plan: AssetPlan, observations: list[Observation]) -> None:
        seen.extend(observations)

    started = datetime.now(UTC)
    async with server:
        await engine.run([AssetPlan(asset.id, jobs)], done)
    assert (datetime.now(UTC) - started).total_seconds() >= 1.9  # the work really queued
    return seen


def test_queued_jobs_do_not_spend_their_timeout_waiting() -> None:
    observations = asyncio.run(run_jobs(40))
    assert len(observations) == 40
    assert [o.status for o in observations] == [AttemptStatus.COMPLETED] * 40
    assert all(o.facts["banner"] == "220 ready\r\n" for o in observations)
