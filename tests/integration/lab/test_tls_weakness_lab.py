"""The tls_weakness probe against the lab's nginx TLS servers (Debian nginx on OpenSSL 3): none
of the four weaknesses is there, and each is judged (a ServerHello to every hello, the fallback
answered with inappropriate_fallback). The servers that have them are started on loopback by
tests/integration/test_tls_weakness_local.py."""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
from typing import Any

import pytest

from sentinel.assess.base import AssetView
from sentinel.assess.tls_weakness import assess_tls_weakness
from sentinel.lab import LabStatus
from sentinel.lab.manifest import Family, Host, Service
from sentinel.model import Asset, AttemptStatus, Context, Endpoint, Evaluation, Observation
from sentinel.playbook import RateLimits, Segment
from sentinel.probes.base import Network, Target
from sentinel.probes.tls_weakness import TlsWeaknessProbe
from sentinel.scope import Gate, ScopePolicy
from tests.lab.clients import MANIFEST

pytestmark = pytest.mark.lab

CHECKS = {"TLS-RENEG-INSECURE", "TLS-COMPRESSION", "TLS-HEARTBEAT", "TLS-FALLBACK-SCSV"}


def _nginx() -> list[tuple[Host, Service, Family]]:
    return [(h, s, f) for h in MANIFEST.hosts for s in h.services
            if s.kind == "nginx" and s.properties.tls_versions for f in s.families]


def _scan(address: str, port: int, name: str) -> tuple[dict[str, Any], dict[str, Evaluation]]:
    policy = ScopePolicy(authorised=(ipaddress.ip_network("198.18.0.0/15"),
                                     ipaddress.ip_network("2001:db8::/32")))
    network = Network(Gate(policy, RateLimits(connections_per_host=4)), 5.0)
    context = Context(scan_id="lab", agency_id="a", segment_id="seg")
    segment = Segment(id="seg", agency="a", cidrs=("198.18.0.0/15",), zone="extranet")
    target = Target(Endpoint(address=address, port=port, transport="tcp"),
                    Asset(id=name, name=name), context, segment, name)
    started = datetime.datetime.now(datetime.UTC)
    facts = asyncio.run(TlsWeaknessProbe(timeout=5.0).run(target, network))
    observation = Observation(probe="tls_weakness", context=context, asset=target.asset,
                              endpoint=target.endpoint, status=AttemptStatus.COMPLETED,
                              facts=facts, started=started)
    findings = assess_tls_weakness(AssetView(target.asset, context, segment, [observation]))
    return facts, {f.check_id: f.evaluation for f in findings}


@pytest.mark.parametrize(("host", "service", "family"), _nginx(),
                         ids=lambda v: getattr(v, "id", str(v)))
def test_nginx_hosts_have_none_of_the_weaknesses(lab: LabStatus, host: Host, service: Service,
                                                 family: Family) -> None:
    address = str(host.v4 if family is Family.IPV4 else host.v6)
    facts, verdicts = _scan(address, service.port, host.hostname)
    assert set(verdicts) == CHECKS, facts
    assert set(verdicts.values()) == {Evaluation.PASSED}, facts
    assert facts["fallback"]["alert"]["description"] == 86  # inappropriate_fallback
