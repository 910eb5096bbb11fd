"""A synthetic store for report benchmarks and tests: N agencies, a few assets each, open
ports on both families, TLS facts, failed findings through the real lifecycle, and several
scans so the change section and the trend have something to show.

Deterministic for a given seed; addresses only from 198.18.0.0/15 and 2001:db8::/32.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from sentinel.catalog import checks as catalog
from sentinel.model import (
    Asset,
    AttemptStatus,
    Context,
    Endpoint,
    Evaluation,
    Finding,
    KeyState,
    Observation,
    ScanRecord,
)
from sentinel.scan.lifecycle import apply
from sentinel.store.sqlite import SqliteStore

CHECKS = ("DB-CES-HIGHRISKPORT", "DB-CES-CREDPLAIN", "EXP-SVC-NOTALLOWED", "TLS-PROTO-10",
          "MP-N1-AUTH", "GM-TLCP-ABSENT", "TLS-CIPHER-CBC", "TLS-CERT-LIFE")
PORTS = (22, 23, 80, 443, 3306)
START = datetime(2026, 9, 1, 2, 0, tzinfo=UTC)


def _tls_facts(host: str, hostile: str) -> dict[str, object]:
    leaf = {"subject": f"CN={host},O={hostile}", "issuer": "CN=Lab CA",
            "key": {"type": "rsa", "size": 2048},
            "signature_algorithm": {"name": "sha256WithRSAEncryption"},
            "not_after": "2027-09-01T00:00:00Z", "sha256": "00" * 32}
    return {"versions": ["TLSv1.2", "TLSv1.3"],
            "accepted": [{"protocol": "TLSv1.2", "code": "0xC02F",
                          "name": "ECDHE-RSA-AES128-GCM-SHA256"}],
            "certificates": [{"protocol": "TLSv1.2", "chain": [leaf]}],
            "posture": {"key_exchange": ["classical"], "authentication": ["classical"]}}


def _observations(ctx: Context, asset: Asset, when: datetime, v6: bool,
                  hostile: str) -> list[Observation]:
    out = []
    for address in asset.addresses if v6 else asset.addresses[:1]:
        for port in PORTS:
            facts = {"port": port, "state": "open", "banner": f"{hostile} {port}"}
            out.append(Observation(probe="tcp", context=ctx, asset=asset,
                                   endpoint=Endpoint(address=address, port=port),
                                   status=AttemptStatus.COMPLETED, facts=facts, started=when))
        out.append(Observation(probe="tls", context=ctx, asset=asset,
                               endpoint=Endpoint(address=address, port=443),
                               status=AttemptStatus.COMPLETED,
                               facts=_tls_facts(asset.id, hostile), started=when))
    return out


def _findings(ctx: Context, asset: Asset, when: datetime, rng: random.Random) -> list[Finding]:
    out = []
    for check_id in rng.sample(CHECKS, rng.randint(1, len(CHECKS))):
        spec = catalog.check(check_id)
        port = rng.choice(PORTS)
        out.append(Finding(check_id=check_id, title=spec.title, evaluation=Evaluation.FAILED,
                           severity=spec.severity, context=ctx, asset=asset,
                           endpoint=Endpoint(address=asset.addresses[0], port=port),
                           probe="tcp", references=spec.references,
                           evidence={"banner": "<b>x</b>\x1b[31m", "port": port},
                           observed_at=when))
    return out


def _scan(store: SqliteStore, scan_id: str, when: datetime, *, agencies: int, assets: int,
          rng: random.Random, hostile: str) -> None:
    store.save_scan(ScanRecord(id=scan_id, playbook="synthetic", started=when))
    previous: dict[str, KeyState] = store.states()
    for a in range(agencies):
        agency = f"agency-{a:03d}"
        for h in range(assets):
            ctx = Context(scan_id=scan_id, agency_id=agency, agency_name=f"单位{a:03d} Agency",
                          segment_id=f"seg-{a:03d}")
            asset = Asset(id=f"host-{a:03d}-{h}.test", name=f"host-{a:03d}-{h}.test",
                          addresses=(f"198.18.{a % 250}.{10 + h}", f"2001:db8:{a:x}::{10 + h:x}"))
            observations = _observations(ctx, asset, when, rng.random() < 0.6, hostile)
            store.add_observations(observations)
            coverage = {(asset.id, "tcp")}
            mine = {k: s for k, s in previous.items() if s.asset_id == asset.id}
            outcome = apply(mine, _findings(ctx, asset, when, rng), coverage, ctx, when)
            store.add_findings(outcome.findings)
            store.save_states(outcome.states)
            store.add_events(outcome.events)
    store.save_scan(ScanRecord(id=scan_id, playbook="synthetic", started=when,
                               finished=when + timedelta(minutes=5), status="completed"))


def build(store: SqliteStore, *, agencies: int = 100, assets: int = 3, scans: int = 3,
          seed: int = 7, hostile: str = "<script>alert(1)</script>登录\x1b[0m\u202e") -> list[str]:
    """Fill ``store`` with ``scans`` scans of ``agencies`` agencies; returns the scan ids."""
    rng = random.Random(seed)
    ids = []
    for number in range(scans):
        scan_id = f"synthetic-{number}"
        _scan(store, scan_id, START + timedelta(days=7 * number), agencies=agencies,
              assets=assets, rng=rng, hostile=hostile)
        ids.append(scan_id)
    return ids
