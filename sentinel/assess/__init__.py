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
from sentinel.model import Finding

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


def assess(view: AssetView) -> list[Finding]:
    """Every assessor's findings for one asset."""
    return [finding for assessor in ASSESSORS for finding in assessor(view)]


__all__ = ["ASSESSORS", "AssetView", "assess"]
