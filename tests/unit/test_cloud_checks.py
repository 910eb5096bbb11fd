"""Every CLOUD- check, failing and passing, on the fixture tenants (bodies shaped as the
Neutron and Nova API references document them) and on small groups built for one rule."""

from __future__ import annotations

import dataclasses
import json
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sentinel.assess.base import AssetView
from sentinel.assess.cloud import assess_cloud
from sentinel.cloud.model import Inventory, Rule, SecurityGroup
from sentinel.cloud.openstack import load_dir
from sentinel.cloud.resources import CloudResource, resources, tenants_of
from sentinel.model import Asset, AttemptStatus, Context, Endpoint, Evaluation, Finding, Observation
from sentinel.playbook import Segment, load_playbook

DATA = Path(__file__).parents[1] / "data" / "cloud"
WHEN = datetime(2026, 11, 26, tzinfo=UTC)


def _judge(resource: CloudResource) -> list[Finding]:
    context = Context(scan_id="s", agency_id="rsj", segment_id="cloud-rsj", zone="cloud-tenant",
                      tenant=resource.facts["tenant"])
    asset = Asset(id=resource.asset_id, name=resource.name)
    obs = Observation(probe="cloud", context=context, asset=asset,
                      endpoint=Endpoint(address=resource.address, transport="none"),
                      status=AttemptStatus.COMPLETED, facts=resource.facts, started=WHEN)
    segment = Segment(id="cloud-rsj", agency="rsj", cidrs=("198.18.40.0/23",),
                      zone="cloud-tenant")
    return assess_cloud(AssetView(asset, context, segment, [obs]))


def _fixture_verdicts() -> dict[tuple[str, str], Finding]:
    book = load_playbook(DATA / "playbook.yml")
    found = resources(load_dir(DATA / "openstack"), tenants_of(book, "openstack"))
    out: dict[tuple[str, str], Finding] = {}
    for resource in found:
        label = resource.name if resource.name != "default" else f"default@{resource.project[:3]}"
        for finding in _judge(resource):
            out[(finding.check_id, label)] = finding
    return out


VERDICTS = _fixture_verdicts()


def _is(check: str, name: str, evaluation: Evaluation) -> Finding:
    finding = VERDICTS[(check, name)]
    assert finding.evaluation is evaluation, (check, name, finding.evidence)
    return finding


def test_management_port_open_to_the_world() -> None:
    failed = _is("CLOUD-SG-RISKYWORLD", "rsj-web", Evaluation.FAILED)
    assert failed.evidence["rules"] == [
        {"rule": "tcp/22 from 0.0.0.0/0 (IPv4)", "services": ["ssh (22/tcp)"]}]
    _is("CLOUD-SG-RISKYWORLD", "rsj-old", Evaluation.PASSED)  # 8080 to its own range only


def test_risky_port_open_to_another_tenants_range() -> None:
    failed = _is("CLOUD-SG-CROSSTENANT", "rsj-web", Evaluation.FAILED)
    (entry,) = failed.evidence["rules"]
    assert entry["tenant"] == "wjw-cloud" and entry["cidr"] == "198.18.50.0/24"
    assert entry["services"] == ["mysql (3306/tcp)"]
    _is("CLOUD-SG-CROSSTENANT", "rsj-db", Evaluation.PASSED)


def test_any_protocol_ingress() -> None:
    failed = _is("CLOUD-SG-ANYINGRESS", "wjw-open", Evaluation.FAILED)
    assert failed.evidence["rules"] == ["any from 0.0.0.0/0 (IPv4)", "any from ::/0 (IPv6)"]
    # OpenStack's default group: everything, but only from members of the same group
    _is("CLOUD-SG-ANYINGRESS", "default@6f1", Evaluation.PASSED)
    # an any-port rule is judged once, as ANYINGRESS, not again per risky service
    _is("CLOUD-SG-RISKYWORLD", "wjw-open", Evaluation.PASSED)


def test_ipv6_wide_open_where_ipv4_is_narrow() -> None:
    failed = _is("CLOUD-SG-V6WIDER", "rsj-db", Evaluation.FAILED)
    assert failed.evidence["rules"] == [
        "tcp/5432 from ::/0 (IPv6) while IPv4 allows only tcp/5432 from 198.18.40.0/24 (IPv4)"]
    _is("CLOUD-SG-V6WIDER", "rsj-web", Evaluation.PASSED)  # 443 open to both families


def test_ipv4_rules_without_an_ipv6_counterpart() -> None:
    failed = _is("CLOUD-SG-V6MISSING", "rsj-web", Evaluation.FAILED)
    assert failed.evidence["ipv4_only"] == [
        "tcp/22 from 0.0.0.0/0 (IPv4)", "tcp/3306 from 198.18.50.0/24 (IPv4)",
        "tcp/80 from 0.0.0.0/0 (IPv4)"]
    _is("CLOUD-SG-V6MISSING", "rsj-db", Evaluation.PASSED)  # icmp has its ipv6-icmp rule
    _is("CLOUD-SG-V6MISSING", "default@6f1", Evaluation.PASSED)


def test_unused_group() -> None:
    _is("CLOUD-SG-UNUSED", "rsj-old", Evaluation.FAILED)
    _is("CLOUD-SG-UNUSED", "rsj-web", Evaluation.PASSED)
    assert VERDICTS[("CLOUD-SG-UNUSED", "rsj-old")].severity.value == "info"


def test_tenant_network_without_ipv6_subnet() -> None:
    failed = _is("CLOUD-NET-NOV6", "rsj-db", Evaluation.FAILED)
    assert failed.evidence["subnets"] == ["198.18.41.0/24"]
    _is("CLOUD-NET-NOV6", "rsj-app", Evaluation.PASSED)
    assert ("CLOUD-NET-NOV6", "public") not in VERDICTS  # the provider's external network


def test_elastic_ip_on_an_instance_exposing_a_risky_service() -> None:
    ssh = _is("CLOUD-EIP-RISKY", "198.18.200.10", Evaluation.FAILED)
    assert ssh.evidence["instance"]["name"] == "rsj-web1"
    assert ssh.evidence["exposed"] == [{"group": "rsj-web", "rule": "tcp/22 from 0.0.0.0/0 (IPv4)",
                                        "services": ["ssh (22/tcp)"]}]
    everything = _is("CLOUD-EIP-RISKY", "198.18.200.20", Evaluation.FAILED)
    assert everything.evidence["exposed"][0]["services"] == ["every port"]
    _is("CLOUD-EIP-RISKY", "198.18.200.40", Evaluation.PASSED)  # 5432 only from its range
    assert ("CLOUD-EIP-RISKY", "198.18.200.30") not in VERDICTS  # bound to nothing


def test_orphan_elastic_ip() -> None:
    _is("CLOUD-EIP-ORPHAN", "198.18.200.30", Evaluation.FAILED)
    _is("CLOUD-EIP-ORPHAN", "198.18.200.10", Evaluation.PASSED)


def test_resource_of_an_unmapped_project() -> None:
    failed = _is("CLOUD-TENANT-UNMAPPED", "x-1", Evaluation.FAILED)
    assert failed.evidence["project"] == "8b3c4d5e6f7a48b9c0d1e2f3a4b5c6d7"
    _is("CLOUD-TENANT-UNMAPPED", "rsj-web1", Evaluation.PASSED)


def _group(*rules: Rule, ranges: tuple[str, ...] = ("198.18.40.0/24",)) -> CloudResource:
    inventory = Inventory(provider="openstack", source="t",
                          groups=[SecurityGroup("g1", "g", "p1", rules)],
                          known={"security_groups", "subnets", "ports"})
    (resource,) = resources(inventory, {})
    facts: dict[str, Any] = {**resource.facts, "own_ranges": list(ranges)}
    return dataclasses.replace(resource, facts=facts)


def _rule(**fields: Any) -> Rule:
    base: dict[str, Any] = {"id": "r", "direction": "ingress", "family": 4, "protocol": "tcp",
                            "port_min": None, "port_max": None, "remote_prefix": "0.0.0.0/0",
                            "remote_group": None}
    return Rule(**{**base, **fields})


def _verdicts(resource: CloudResource) -> dict[str, Evaluation]:
    return {f.check_id: f.evaluation for f in _judge(resource)}


def test_a_port_range_opens_every_risky_service_inside_it() -> None:
    findings = {f.check_id: f for f in _judge(_group(_rule(port_min=20, port_max=25)))}
    assert findings["CLOUD-SG-RISKYWORLD"].evidence["rules"][0]["services"] == [
        "ftp (21/tcp)", "ssh (22/tcp)", "telnet (23/tcp)"]


def test_a_udp_rule_does_not_open_a_tcp_service() -> None:
    assert _verdicts(_group(_rule(protocol="udp", port_min=22, port_max=22)))[
        "CLOUD-SG-RISKYWORLD"] is Evaluation.PASSED
    assert _verdicts(_group(_rule(protocol="udp", port_min=161, port_max=161)))[
        "CLOUD-SG-RISKYWORLD"] is Evaluation.FAILED  # SNMP


def test_every_port_from_inside_the_tenant_is_not_any_ingress() -> None:
    inside = _group(_rule(protocol=None, remote_prefix="198.18.40.128/25"))
    assert _verdicts(inside)["CLOUD-SG-ANYINGRESS"] is Evaluation.PASSED
    outside = _group(_rule(protocol="tcp", remote_prefix="198.18.0.0/16"))  # tcp, all ports
    assert _verdicts(outside)["CLOUD-SG-ANYINGRESS"] is Evaluation.FAILED


def test_egress_rules_open_nothing() -> None:
    verdicts = _verdicts(_group(_rule(direction="egress", protocol=None)))
    assert verdicts["CLOUD-SG-ANYINGRESS"] is Evaluation.PASSED
    assert verdicts["CLOUD-SG-RISKYWORLD"] is Evaluation.PASSED
    assert verdicts["CLOUD-SG-V6MISSING"] is Evaluation.PASSED


def _partial(tmp_path: Path, *names: str) -> dict[tuple[str, str], Evaluation]:
    tmp_path.mkdir()
    for name in names:
        shutil.copy(DATA / "openstack" / name, tmp_path)
    out: dict[tuple[str, str], Evaluation] = {}
    for resource in resources(load_dir(tmp_path), {}):
        for finding in _judge(resource):
            out[(finding.check_id, resource.name)] = finding.evaluation
    return out


def test_a_missing_collection_is_unknown_not_empty(tmp_path: Path) -> None:
    only_groups = _partial(tmp_path / "a", "security-groups.json")
    assert not any(check == "CLOUD-SG-UNUSED" for check, _ in only_groups)  # ports unknown
    # own ranges unknown: an every-port rule from a range is not judged, one from everyone is
    assert only_groups[("CLOUD-SG-ANYINGRESS", "wjw-open")] is Evaluation.FAILED
    no_subnets = _partial(tmp_path / "b", "networks.json", "ports.json")
    assert not any(check == "CLOUD-NET-NOV6" for check, _ in no_subnets)


def test_an_elastic_ip_on_a_port_without_port_security_exposes_everything(
        tmp_path: Path) -> None:
    folder = tmp_path / "dump"
    shutil.copytree(DATA / "openstack", folder)
    body = json.loads((folder / "ports.json").read_text(encoding="utf-8"))
    db_port = next(p for p in body["ports"] if p["fixed_ips"][0]["ip_address"] == "198.18.41.20")
    db_port["port_security_enabled"], db_port["security_groups"] = False, []
    (folder / "ports.json").write_text(json.dumps(body), encoding="utf-8")
    (fip,) = [r for r in resources(load_dir(folder), {}) if r.name == "198.18.200.40"]
    (risky,) = [f for f in _judge(fip) if f.check_id == "CLOUD-EIP-RISKY"]
    assert risky.evaluation is Evaluation.FAILED
    assert risky.evidence["exposed"] == [{"group": None, "rule": "port security disabled",
                                          "services": ["every port"]}]


def test_the_providers_external_range_is_no_tenants_range() -> None:
    book = load_playbook(DATA / "playbook.yml")
    inventory = load_dir(DATA / "openstack")
    web = next(g for g in inventory.groups if g.name == "rsj-web")
    rules = (*web.rules, _rule(id="from-fips", port_min=22, port_max=22,
                               remote_prefix="198.18.200.0/24"),
             _rule(id="from-x", port_min=6379, port_max=6379, remote_prefix="198.18.60.0/25"))
    inventory.groups[inventory.groups.index(web)] = dataclasses.replace(web, rules=rules)
    (group,) = [r for r in resources(inventory, tenants_of(book, "openstack"))
                if r.name == "rsj-web"]
    (cross,) = [f for f in _judge(group) if f.check_id == "CLOUD-SG-CROSSTENANT"]
    assert [(e["cidr"], e["tenant"]) for e in cross.evidence["rules"]] == [
        ("198.18.50.0/24", "wjw-cloud"), ("198.18.60.0/24", None)]  # not 198.18.200.0/24
