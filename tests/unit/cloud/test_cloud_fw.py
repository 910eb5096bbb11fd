"""The lab's nftables rulesets, generated from the committed OpenStack bodies (lab/cloud/)."""

from __future__ import annotations

import ipaddress
import re
import shutil
from pathlib import Path

from sentinel.lab.cloud_fw import LAB_CLOUD, TABLE, digest, load_lab_cloud, ruleset

LAB = load_lab_cloud()


def _accepts(host: str) -> list[str]:
    text = ruleset(LAB, host)
    assert text is not None
    return [line.strip() for line in text.splitlines() if "comment \"sg " in line
            or "drift" in line]


def test_every_lab_instance_gets_a_default_drop_table() -> None:
    names = sorted(s.name for s in LAB.inventory.servers)
    assert names == ["gmdual", "gmssl", "pqc", "sm13", "t2cache", "t2ssh", "t2web", "tlcp",
                     "tongsuo"]
    for name in names:
        text = ruleset(LAB, name)
        assert text is not None
        assert f"table inet {TABLE} {{" in text
        assert "policy drop;" in text
        assert "ct state established,related accept" in text
        # discovery (echo) and IPv6 (neighbour discovery, router advertisements) keep working
        assert "nd-neighbor-solicit" in text and "nd-router-advert" in text
        assert "icmp type { echo-request" in text


def test_a_lab_host_that_is_no_instance_gets_no_ruleset() -> None:
    assert ruleset(LAB, "portal") is None
    assert ruleset(LAB, "bastion") is None


def test_remote_group_is_its_members_addresses_per_family() -> None:
    # t2-cache allows redis from group t2-web, whose only member is t2web
    rules = [r for r in _accepts("t2cache") if "6379" in r and "sg t2-cache" in r]
    assert rules == [
        next(r for r in rules if r.startswith("ip saddr 198.18.21.10 tcp dport 6379 accept")),
        next(r for r in rules if r.startswith("ip6 saddr 2001:db8:21::10 tcp dport 6379 accept")),
    ]


def test_prefix_rules_keep_their_family() -> None:
    rules = _accepts("t2ssh")
    assert any(r.startswith("ip saddr 198.18.30.0/24 tcp dport 22 accept") for r in rules)
    assert any(r.startswith("ip6 saddr 2001:db8:30::/64 tcp dport 22 accept") for r in rules)
    for rule in rules:
        for addr in re.findall(r"ip6? saddr \{?\s*([0-9a-f:./]+)", rule):
            v6 = rule.startswith("ip6")
            assert ipaddress.ip_network(addr).version == (6 if v6 else 4), rule


def test_world_rules_name_the_family_not_a_range() -> None:
    rules = _accepts("tongsuo")
    assert [r.split(" accept")[0] for r in rules] == [
        "meta nfproto ipv4 meta l4proto icmp", "meta nfproto ipv6 meta l4proto ipv6-icmp",
        "meta nfproto ipv4 tcp dport 443", "meta nfproto ipv6 tcp dport 443",
        "meta nfproto ipv4 tcp dport 8443", "meta nfproto ipv6 tcp dport 8443"]


def test_exactly_one_declared_drift_in_the_whole_lab() -> None:
    drifts = [(name, line) for name in (s.name for s in LAB.inventory.servers)
              for line in _accepts(name) if "drift" in line]
    assert drifts == [("t2cache", 'ip saddr 198.18.0.0/15 tcp dport 6379 accept comment '
                                  '"drift: no group allows this"')]


def test_the_tenants_map_the_two_lab_projects() -> None:
    assert {t["id"]: t["project"] for t in LAB.tenants} == {
        "cloud-t1": "c10ad000000000000000000000000001",
        "cloud-t2": "c10ad000000000000000000000000002"}
    assert LAB.inventory.projects() == {t["project"] for t in LAB.tenants}


def test_the_cloud_data_digest_follows_every_byte_and_name(tmp_path: Path) -> None:
    """`lab up` keeps a running lab only while the cloud data it was built from is unchanged:
    the digest moves with a file's bytes and with its name, and with nothing else."""
    copy = tmp_path / "cloud"
    shutil.copytree(LAB_CLOUD, copy)
    first = digest(copy)
    assert digest(copy) == first == digest(LAB_CLOUD)
    groups = copy / "openstack" / "security-groups.json"
    groups.write_bytes(groups.read_bytes().replace(b"6379", b"6380", 1))
    assert digest(copy) != first
    groups.write_bytes(groups.read_bytes().replace(b"6380", b"6379", 1))
    assert digest(copy) == first
    groups.rename(copy / "openstack" / "security-groups.old.json")
    assert digest(copy) != first
