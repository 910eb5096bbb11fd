"""Tencent Cloud bodies (VPC and CVM API 2017-03-12, ``{"Response": {...}}``) into the tenant
inventory: the mapping (VPC → network, ENI → port, EIP → floating IP, projects derived), the
ordered ACCEPT/DROP policies, and malformed bodies as one located error, exit 2."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from sentinel.cli.main import app
from sentinel.cloud.tencent import load_dir, parse, rules_of
from sentinel.errors import InputError

DATA = Path(__file__).parents[1] / "data" / "cloud"
BODIES = DATA / "tencent"


def _policy(index: int, action: str, protocol: str = "TCP", port: str = "ALL", *,
            cidr: str = "", v6: str = "", group: str = "") -> dict[str, Any]:
    return {"PolicyIndex": index, "Protocol": protocol, "Port": port,
            "ServiceTemplate": {"ServiceId": "", "ServiceGroupId": ""}, "CidrBlock": cidr,
            "Ipv6CidrBlock": v6, "SecurityGroupId": group,
            "AddressTemplate": {"AddressId": "", "AddressGroupId": ""}, "Action": action,
            "PolicyDescription": "", "ModifyTime": "2026-11-20 08:00:00"}


def _policies(*ingress: dict[str, Any]) -> dict[str, Any]:
    return {"Response": {"SecurityGroupPolicySet": {
        "Version": "1", "Ingress": list(ingress), "Egress": []}, "RequestId": "r-1"}}


def test_every_collection_is_mapped_into_the_inventory() -> None:
    inventory = load_dir(BODIES)
    assert (len(inventory.groups), len(inventory.networks), len(inventory.subnets),
            len(inventory.ports), len(inventory.servers), len(inventory.floating_ips)) == (
        5, 3, 5, 4, 4, 3)
    assert inventory.provider == "tencentcloud"
    web = next(s for s in inventory.servers if s.id == "ins-rsjweb01")
    assert web.project == "1001"  # Placement.ProjectId, an integer in the body
    assert web.addresses == ("198.18.44.10", "2001:db8:44::10", "198.18.201.10")
    # a subnet's IPv4 and IPv6 blocks are two subnets of its VPC, in the VPC's project
    assert {(s.id, s.cidr, s.project) for s in inventory.subnets
            if s.network == "vpc-rsj00001"} == {
        ("subnet-rsjweb1", "198.18.44.0/25", "1001"),
        ("subnet-rsjweb1/ipv6", "2001:db8:44::/64", "1001"),
        ("subnet-rsjdb01", "198.18.44.128/25", "1001")}
    eni = next(p for p in inventory.ports if p.id == "eni-wjw00001")
    assert (eni.project, eni.device, eni.groups) == ("1002", "ins-wjw00001", ("sg-wjwopen1",))
    # an EIP bound by InstanceId alone is on the instance's primary ENI
    wjw = next(f for f in inventory.floating_ips if f.id == "eip-wjw00001")
    assert (wjw.port, wjw.project) == ("eni-wjw00001", "1002")
    orphan = next(f for f in inventory.floating_ips if f.id == "eip-orphan01")
    assert (orphan.port, orphan.project) == (None, "0")


def test_an_accept_after_a_drop_that_covers_it_lets_nothing_in() -> None:
    rules = rules_of(_policies(
        _policy(0, "DROP", port="3306", cidr="0.0.0.0/0"),
        _policy(1, "ACCEPT", port="3306", cidr="0.0.0.0/0"),  # shadowed
        _policy(2, "ACCEPT", port="3306-3307", cidr="0.0.0.0/0"),  # 3307 still passes
        _policy(3, "ACCEPT", port="3306", v6="::/0"),  # another family
        _policy(4, "ACCEPT", "UDP", "53,123", cidr="198.18.44.0/24"),
        _policy(5, "ACCEPT", "ALL", "ALL", group="sg-rsjweb01"),
        _policy(6, "ACCEPT", "ICMPv6", "ALL", v6="::/0")), "sg-a")
    assert [r.label() for r in rules] == [
        "tcp/3306-3307 from 0.0.0.0/0 (IPv4)", "tcp/3306 from ::/0 (IPv6)",
        "udp/53 from 198.18.44.0/24 (IPv4)", "udp/123 from 198.18.44.0/24 (IPv4)",
        "any from group sg-rsjweb01 (IPv4)", "any from group sg-rsjweb01 (IPv6)",
        "icmpv6 from ::/0 (IPv6)"]
    assert rules[0].id == "sg-a/ingress/2/v4"


@pytest.mark.parametrize(("policy", "field", "says"), [
    (_policy(0, "ACCEPT", port="22", cidr="198.18.44.300/24"),
     "SecurityGroupPolicySet.Ingress[0].CidrBlock", "not a CIDR"),
    (_policy(0, "ACCEPT", port="22", cidr="2001:db8::/32"),
     "SecurityGroupPolicySet.Ingress[0].CidrBlock", "an IPv6 range"),
    (_policy(0, "ACCEPT", port="70000", cidr="0.0.0.0/0"),
     "SecurityGroupPolicySet.Ingress[0].Port", "not a port range"),
    (_policy(0, "ACCEPT", port="22-", cidr="0.0.0.0/0"),
     "SecurityGroupPolicySet.Ingress[0].Port", "not a port or range"),
    (_policy(0, "ALLOW", port="22", cidr="0.0.0.0/0"),
     "SecurityGroupPolicySet.Ingress[0].Action", "ACCEPT or DROP"),
    (_policy(0, "ACCEPT", port="22"), "SecurityGroupPolicySet.Ingress[0]", "no CidrBlock"),
])
def test_a_malformed_policy_is_located(policy: dict[str, Any], field: str, says: str) -> None:
    bodies = {"security-groups.json": {"Response": {"SecurityGroupSet": [
        {"SecurityGroupId": "sg-a", "SecurityGroupName": "a", "ProjectId": "0"}],
        "TotalCount": 1, "RequestId": "r"}},
        "security-group-policies/sg-a.json": _policies(policy)}
    with pytest.raises(InputError) as raised:
        parse(bodies, source="here")
    assert raised.value.location is not None
    assert raised.value.location.field == f"Response.{field}"
    assert str(raised.value.location).startswith("here/security-group-policies/sg-a.json")
    assert says in str(raised.value)


def test_an_error_body_and_a_hostile_group_id_are_located() -> None:
    error = {"Response": {"Error": {"Code": "AuthFailure.SecretIdNotFound",
                                    "Message": "The SecretId is not found."},
                          "RequestId": "r"}}
    with pytest.raises(InputError, match=r"AuthFailure\.SecretIdNotFound"):
        parse({"vpcs.json": error}, source="here")
    hostile = {"Response": {"SecurityGroupSet": [{"SecurityGroupId": "../../etc/passwd",
                                                  "ProjectId": "0"}], "RequestId": "r"}}
    with pytest.raises(InputError) as raised:
        parse({"security-groups.json": hostile}, source="here")
    assert raised.value.location is not None
    assert raised.value.location.field == "SecurityGroupSet[0].SecurityGroupId"


def test_the_inner_object_as_tccli_prints_it_is_read_too(tmp_path: Path) -> None:
    folder = tmp_path / "tccli"
    body = json.loads((BODIES / "vpcs.json").read_text(encoding="utf-8"))["Response"]
    folder.mkdir()
    (folder / "vpcs.json").write_text(json.dumps(body), encoding="utf-8")
    assert [n.id for n in load_dir(folder).networks] == [
        "vpc-rsj00001", "vpc-wjw00001", "vpc-x0000001"]


def test_import_of_a_malformed_folder_exits_2_and_writes_nothing(tmp_path: Path) -> None:
    folder = tmp_path / "bodies"
    shutil.copytree(BODIES, folder)
    body = json.loads((folder / "addresses.json").read_text(encoding="utf-8"))
    body["Response"]["AddressSet"][2]["AddressIp"] = "not-an-ip"
    (folder / "addresses.json").write_text(json.dumps(body), encoding="utf-8")
    store = tmp_path / "s.db"
    done = CliRunner().invoke(app, ["cloud", "import", "--provider", "tencent", str(folder),
                                    "--playbook", str(DATA / "tencent-playbook.yml"),
                                    "--store", str(store)])
    assert done.exit_code == 2, done.output
    assert "addresses.json" in done.output and "AddressSet[2].AddressIp" in done.output
    assert not store.exists()


@pytest.mark.parametrize(("name", "body"), [
    ("vpcs.json", []),
    ("vpcs.json", {"Response": []}),
    ("vpcs.json", {"Response": {"VpcSet": "vpc-1"}}),
    ("vpcs.json", {"Response": {"VpcSet": [None]}}),
    ("vpcs.json", {"Response": {"VpcSet": [{"VpcId": 7}]}}),
    ("vpcs.json", {"Response": {"Error": "x"}}),
    ("subnets.json", {"Response": {"SubnetSet": [{"SubnetId": "s", "VpcId": "v"}]}}),
    ("subnets.json", {"Response": {"SubnetSet": [
        {"SubnetId": "s", "VpcId": "v", "CidrBlock": ["198.18.0.0/24"]}]}}),
    ("instances.json", {"Response": {"InstanceSet": [
        {"InstanceId": "i", "Placement": {"ProjectId": [1]}}]}}),
    ("instances.json", {"Response": {"InstanceSet": [
        {"InstanceId": "i", "PrivateIpAddresses": "198.18.0.1"}]}}),
    ("network-interfaces.json", {"Response": {"NetworkInterfaceSet": [
        {"NetworkInterfaceId": "e", "VpcId": "v", "GroupSet": [{"id": "sg"}]}]}}),
    ("network-interfaces.json", {"Response": {"NetworkInterfaceSet": [
        {"NetworkInterfaceId": "e", "VpcId": "v", "Attachment": {"InstanceId": 5}}]}}),
    ("addresses.json", {"Response": {"AddressSet": [{"AddressId": "a", "AddressIp": None}]}}),
    ("security-groups.json", {"Response": {"SecurityGroupSet": [
        {"SecurityGroupId": "sg-a", "ProjectId": {"id": 1}}]}}),
])
def test_every_wrong_shape_is_an_input_error(name: str, body: Any) -> None:
    with pytest.raises(InputError) as raised:
        parse({name: body}, source="here")
    assert raised.value.location is not None
    assert str(raised.value.location).startswith(f"here/{name}")


def test_a_policy_body_of_the_wrong_shape_is_an_input_error() -> None:
    group = {"Response": {"SecurityGroupSet": [{"SecurityGroupId": "sg-a"}]}}
    wrong: list[dict[str, Any]] = [
        {"Response": {"SecurityGroupPolicySet": None}},
        {"Response": {"SecurityGroupPolicySet": {"Ingress": {}}}},
        {"Response": {"SecurityGroupPolicySet": {"Ingress": [
            {"Action": "ACCEPT", "Protocol": 6, "CidrBlock": "0.0.0.0/0"}]}}},
        {"Response": {"SecurityGroupPolicySet": {"Ingress": [
            {"Action": "ACCEPT", "Port": ",".join(["1"] * 65), "CidrBlock": "0.0.0.0/0",
             "Protocol": "TCP"}]}}}]
    for policies in wrong:
        with pytest.raises(InputError):
            parse({"security-groups.json": group,
                   "security-group-policies/sg-a.json": policies}, source="here")
