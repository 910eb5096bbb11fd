"""Local Sigma engine throughput: the whole shipped rule set over synthetic documents.

    python bench/sigma_local.py [--docs 100000] [--repeat 3] [--quiet 0.92]

Documents are ECS findings and change events shaped like Sentinel's (rendered by the model),
with check ids, actions, agencies, segments, IPv4/IPv6 addresses and times drawn from a
seeded generator, so some rules and correlations fire. Two sets: the issue's (every document
drawn at random: more than half of them alert) and a realistic mix where a ``--quiet``
share of documents is what most of a scan is (passed checks, closed services, resolved
findings on IPv4). Prints docs/s for the engine as shipped (rules indexed by a value they
require) and, as the peer in the same run, for the same rules each tested on every document
of its category (no index).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import time
from datetime import UTC, datetime, timedelta

from sentinel.detect.local import Item, LocalEngine
from sentinel.detect.match import View
from sentinel.detect.sigma import RuleSet, load_rules
from sentinel.model import (
    Asset,
    Context,
    Endpoint,
    Evaluation,
    Event,
    Finding,
    Text,
    event_to_ecs,
    finding_to_ecs,
)
from sentinel.severity import Severity

CHECKS = [
    "DB-CES-CREDPLAIN",
    "DB-CES-HIGHRISKPORT",
    "EXP-SVC-NOTALLOWED",
    "GM-TLCP-ABSENT",
    "GM-SUITE-LEGACY",
    "TLS-CIPHER-CBC",
    "TLS-CIPHER-NOPFS",
    "TLS-PROTO-10",
    "TLS-PROTO-12-13",
    "TLS-CERT-LIFE",
    "MP-N3-CONF",
    "V6-AAAA-MISSING",
    "SEN-PROBE-ERROR",
]
ACTIONS = [
    "service-opened",
    "service-closed",
    "suite-added",
    "suite-removed",
    "protocol-added",
    "national-crypto-lost",
    "pqc-hybrid-lost",
    "ipv6-lost",
    "certificate-changed",
    "certificate-expiring",
    "finding-opened",
    "finding-resolved",
    "finding-reopened",
]
PORTS = [22, 23, 80, 161, 443, 3306, 3389, 6379, 8443]
T0 = datetime(2026, 11, 1, tzinfo=UTC)


QUIET_ACTIONS = ["service-closed", "finding-resolved", "finding-opened", "suite-added"]


def synthetic(count: int, seed: int = 8, quiet: float = 0.0) -> list[Item]:
    """``count`` documents; a ``quiet`` share of them passed checks and routine changes."""
    rnd = random.Random(seed)
    items: list[Item] = []
    for n in range(count):
        calm = quiet > 0 and rnd.random() < quiet  # no draw otherwise: same issue set
        ctx = Context(
            scan_id=f"s{n // 5000}",
            agency_id=f"agency-{rnd.randrange(40)}",
            segment_id=f"seg-{rnd.randrange(120)}",
            zone=rnd.choice(["extranet", "extranet", "cloud"]),
        )
        host = rnd.randrange(5000)
        address = (
            f"198.18.{host // 250}.{host % 250}"
            if calm or rnd.random() < 0.7
            else f"2001:db8:{host:x}::{rnd.randrange(1, 999):x}"
        )
        endpoint = Endpoint(address=address, port=rnd.choice(PORTS))
        asset = Asset(id=f"h{host}", addresses=(address,))
        when = T0 + timedelta(seconds=n * 20)
        severity = Severity.INFO if calm else rnd.choice(list(Severity))
        if n % 3:
            finding = Finding(
                check_id=rnd.choice(CHECKS),
                title=Text(zh="检查", en="check"),
                evaluation=Evaluation.PASSED if calm else rnd.choice(list(Evaluation)),
                severity=severity,
                context=ctx,
                asset=asset,
                endpoint=endpoint,
                probe="tls",
                observed_at=when,
            )
            items.append(("finding", f"f{n}", finding_to_ecs(finding)))
        else:
            event = Event(
                action=rnd.choice(QUIET_ACTIONS if calm else ACTIONS),
                category="change",
                message=Text(zh="变化", en=f"change TLSv1.{rnd.randrange(4)}"),
                context=ctx,
                asset=asset,
                endpoint=endpoint,
                severity=severity,
                created=when,
            )
            items.append(("event", f"e{n}", event_to_ecs(event)))
    return items


class Unindexed(LocalEngine):
    """The peer: every rule of the document's category is tested on every document."""

    def matching(self, category, doc):  # type: ignore[no-untyped-def]
        view = View(doc)
        return [r for r in self.ruleset.rules if r.category == category and r.predicate(view)]


def measure(engine: LocalEngine, items: list[Item], repeat: int) -> tuple[float, float, int]:
    """docs/s by the wall clock and by this process's CPU time (the machine may be shared)."""
    walls, cpus, alerts = [], [], 0
    for _ in range(repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        alerts = len(engine.run(items))
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return len(items) / statistics.median(walls), len(items) / statistics.median(cpus), alerts


def compare(ruleset: RuleSet, items: list[Item], repeat: int, label: str) -> None:
    """One line for the engine, one for the peer, over the same documents."""
    wall, cpu, alerts = measure(LocalEngine(ruleset), items, repeat)
    plain_wall, plain_cpu, plain_alerts = measure(Unindexed(ruleset), items, repeat)
    assert alerts == plain_alerts, "the index changed the result"
    print(f"{label}: {alerts} alerts ({alerts / len(items):.0%} of documents)")
    print(f"  local engine (indexed):  {wall:>9,.0f} docs/s wall  {cpu:>9,.0f} docs/s CPU")
    print(
        f"  every rule on every doc: {plain_wall:>9,.0f} docs/s wall  {plain_cpu:>9,.0f} docs/s CPU"
        f"  ratio {cpu / plain_cpu:.1f}x (CPU)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--docs", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--quiet", type=float, default=0.92, help="share of routine documents")
    args = parser.parse_args()
    ruleset = load_rules()
    print(
        f"{len(ruleset.rules)} rules + {len(ruleset.correlations)} correlations, "
        f"{args.docs} documents per set (median of {args.repeat}), load average "
        + " ".join(f"{n:.2f}" for n in os.getloadavg())
    )
    compare(ruleset, synthetic(args.docs), args.repeat, "issue's synthetic set")
    compare(ruleset, synthetic(args.docs, quiet=args.quiet), args.repeat, "realistic mix")


if __name__ == "__main__":
    main()
