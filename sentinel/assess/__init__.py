"""Assessors: pure functions from what a scan saw of one asset to findings."""

from __future__ import annotations

from sentinel.assess.attempts import assess_attempts
from sentinel.assess.base import Assessor, AssetView
from sentinel.assess.certificates import assess_certificates
from sentinel.assess.cloud import assess_cloud
from sentinel.assess.crypto import assess_crypto
from sentinel.assess.exposure import assess_exposure
from sentinel.assess.ipv6 import assess_ipv6
from sentinel.assess.snmp import assess_snmp
from sentinel.assess.ssh import assess_ssh
from sentinel.assess.tls_weakness import assess_tls_weakness
from sentinel.model import Evaluation, Finding

ASSESSORS: tuple[Assessor, ...] = (
    assess_attempts,
    assess_exposure,
    assess_crypto,
    assess_certificates,
    assess_ipv6,
    assess_ssh,
    assess_snmp,
    assess_tls_weakness,
    assess_cloud,
)


_WORST = {Evaluation.FAILED: 2, Evaluation.ERROR: 1, Evaluation.PASSED: 0}


def _worse(a: Finding, b: Finding) -> bool:
    return (_WORST[a.evaluation], a.severity.rank) > (_WORST[b.evaluation], b.severity.rank)


def one_per_key(findings: list[Finding]) -> list[Finding]:
    """One finding per key, the worst of those sharing it, in first-seen order.

    A key names a check on an asset's port, whatever the address family (DESIGN.md): a
    dual-stack host judged on its IPv4 and its IPv6 address gives two findings with one key.
    The store and Elasticsearch keep one document per key and scan, so the last written used
    to win: a check failing over IPv4 and passing over IPv6 was stored as passed while its
    lifecycle said open. The worst verdict is kept, and its evidence names the other
    addresses' verdicts (``other_addresses``)."""
    kept: dict[str, Finding] = {}
    others: dict[str, list[Finding]] = {}
    for finding in findings:
        key = finding.key
        current = kept.get(key)
        if current is None:
            kept[key] = finding
            continue
        worst, other = (finding, current) if _worse(finding, current) else (current, finding)
        kept[key] = worst
        others.setdefault(key, []).append(other)
    out = []
    for key, worst in kept.items():
        mine = worst.endpoint.address if worst.endpoint is not None else None
        also = [{"address": o.endpoint.address, "evaluation": o.evaluation.value}
                for o in others.get(key, ()) if o.endpoint is not None
                and o.endpoint.address != mine]
        out.append(worst.model_copy(update={"evidence": {**worst.evidence,
                                                         "other_addresses": also}})
                   if also else worst)
    return out


def assess(view: AssetView) -> list[Finding]:
    """Every assessor's findings for one asset, one per finding key (:func:`one_per_key`)."""
    return one_per_key([finding for assessor in ASSESSORS for finding in assessor(view)])


__all__ = ["ASSESSORS", "AssetView", "assess"]
