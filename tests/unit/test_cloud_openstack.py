"""OpenStack bodies (Neutron v2.0, Nova v2.1, shaped as their API references document them)
into the tenant inventory; malformed bodies are one located error, exit 2."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from sentinel.cli.main import app
from sentinel.cloud.openstack import load_dir
from sentinel.cloud.resources import resources, tenants_of, unmapped_projects
from sentinel.errors import InputError
from sentinel.playbook import load_playbook

DATA = Path(__file__).parents[1] / "data" / "cloud"
BODIES = DATA / "openstack"
RSJ = "6f1c2d3e4a5b4c6d8e9f0a1b2c3d4e5f"


def test_every_collection_is_read_as_the_apis_shape_it() -> None:
    inventory = load_dir(BODIES)
    assert (len(inventory.groups), len(inventory.networks), len(inventory.subnets),
            len(inventory.ports), len(inventory.servers), len(inventory.floating_ips)) == (
        7, 5, 7, 5, 4, 4)
    db = next(g for g in inventory.groups if g.name == "rsj-db")
    icmp6 = next(r for r in db.rules if r.id == "r-db-icmp6")
    assert (icmp6.protocol, icmp6.family, icmp6.port_min) == ("icmpv6", 6, None)
    anyv6 = next(r for g in inventory.groups for r in g.rules if r.id == "w-any6")
    assert anyv6.protocol is None and anyv6.to_everyone and anyv6.any_port
    web = next(s for s in inventory.servers if s.name == "rsj-web1")
    assert web.project == RSJ  # Nova's tenant_id
    assert web.addresses == ("198.18.40.10", "2001:db8:40::10", "198.18.200.10")
    v6 = {s.cidr for s in inventory.subnets if s.family == 6}
    assert v6 == {"2001:db8:40::/64", "2001:db8:50::/64"}
    orphan = next(f for f in inventory.floating_ips if f.address == "198.18.200.30")
    assert orphan.port is None and orphan.fixed_address is None
    assert next(n for n in inventory.networks if n.name == "public").external


def test_resources_carry_their_tenant_and_unmapped_projects_are_kept() -> None:
    book = load_playbook(DATA / "playbook.yml")
    inventory = load_dir(BODIES)
    mapping = tenants_of(book, "openstack")
    found = resources(inventory, mapping)
    kinds = sorted({r.kind for r in found})
    assert kinds == ["floating-ip", "instance", "network", "security-group"]
    assert len(found) == 7 + 5 + 4 + 4
    x_instance = next(r for r in found if r.name == "x-1")
    assert x_instance.tenant is None and x_instance.facts["tenant"] is None
    assert unmapped_projects(inventory, mapping) == [
        "8b3c4d5e6f7a48b9c0d1e2f3a4b5c6d7", "9c4d5e6f7a8b49c0d1e2f3a4b5c6d7e8"]
    web = next(r for r in found if r.name == "rsj-web")
    assert web.tenant is not None and web.tenant.agency == "rsj"
    assert web.facts["ports_using"] == 1
    assert web.facts["other_tenant_ranges"] == [  # only the ranges its rules name
        {"project": "7a2b3c4d5e6f47a8b9c0d1e2f3a4b5c6", "tenant": "wjw-cloud",
         "cidr": "198.18.50.0/24"}]


def test_missing_optional_files_are_fine(tmp_path: Path) -> None:
    shutil.copy(BODIES / "security-groups.json", tmp_path)
    inventory = load_dir(tmp_path)
    assert len(inventory.groups) == 7 and inventory.ports == [] and inventory.servers == []


def _broken(tmp_path: Path, name: str, change: Any) -> Path:
    folder = tmp_path / "dump"
    shutil.copytree(BODIES, folder)
    body = json.loads((folder / name).read_text(encoding="utf-8"))
    change(body)
    (folder / name).write_text(json.dumps(body), encoding="utf-8")
    return folder


def _set(path: list[Any], value: Any) -> Any:
    def change(body: Any) -> None:
        node = body
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value
    return change


@pytest.mark.parametrize(("name", "change", "field"), [
    ("security-groups.json", _set(["security_groups", 1, "security_group_rules", 2,
                                   "port_range_min"], "22"),
     "security_groups[1].security_group_rules[2].port_range_min"),
    ("security-groups.json", _set(["security_groups", 1, "security_group_rules", 0,
                                   "remote_ip_prefix"], "::/0"),
     "security_groups[1].security_group_rules[0].remote_ip_prefix"),
    ("ports.json", _set(["ports", 0, "fixed_ips", 1, "ip_address"], "2001:db8:40::zz"),
     "ports[0].fixed_ips[1].ip_address"),
    ("subnets.json", _set(["subnets", 2, "cidr"], "198.18.41.0/33"), "subnets[2].cidr"),
    ("servers.json", _set(["servers", 0, "addresses", "rsj-app", 0], "198.18.40.10"),
     "servers[0].addresses.rsj-app[0]"),
    ("floatingips.json", _set(["floatingips", 0, "project_id"], 5),
     "floatingips[0].project_id"),
    ("networks.json", _set(["networks"], {"id": "x"}), "networks"),
])
def test_a_malformed_body_is_one_located_error_exit_2(
        tmp_path: Path, name: str, change: Any, field: str) -> None:
    folder = _broken(tmp_path, name, change)
    with pytest.raises(InputError) as caught:
        load_dir(folder)
    assert caught.value.location is not None
    assert caught.value.location.field == field
    assert caught.value.location.file.endswith(name)
    store = tmp_path / "s.db"
    result = CliRunner().invoke(app, ["cloud", "import", "--provider", "openstack", str(folder),
                                      "--playbook", str(DATA / "playbook.yml"),
                                      "--store", str(store)])
    assert result.exit_code == 2, result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and name in errors[0] and field in errors[0], result.stderr
    assert "Traceback" not in result.stderr
    assert not store.exists()  # bad input writes nothing


@pytest.mark.parametrize("raw", [b"{\"ports\": [", b"[" * 100_000 + b"]" * 100_000,
                                 b"\xff\xfe{}", b"{\"ports\": {}}"])
def test_hostile_bytes_are_bad_input(tmp_path: Path, raw: bytes) -> None:
    (tmp_path / "ports.json").write_bytes(raw)
    with pytest.raises(InputError) as caught:
        load_dir(tmp_path)
    assert caught.value.location is not None
    assert caught.value.location.file.endswith("ports.json")


def test_a_folder_without_any_body_is_bad_input(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"none of security-groups\.json"):
        load_dir(tmp_path)


def test_a_tenant_must_name_a_known_agency(tmp_path: Path) -> None:
    text = (DATA / "playbook.yml").read_text(encoding="utf-8").replace(
        "{id: wjw-cloud, agency: wjw", "{id: wjw-cloud, agency: nobody")
    (tmp_path / "p.yml").write_text(text, encoding="utf-8")
    with pytest.raises(InputError, match="unknown agency 'nobody'") as caught:
        load_playbook(tmp_path / "p.yml")
    assert caught.value.location is not None and caught.value.location.line is not None


def test_a_body_of_too_many_values_is_refused_before_it_is_parsed(tmp_path: Path) -> None:
    (tmp_path / "ports.json").write_bytes(b'{"ports": [' + b"{}," * 1_000_001 + b"{}]}")
    with pytest.raises(InputError, match="more than 1000000 values"):
        load_dir(tmp_path)
