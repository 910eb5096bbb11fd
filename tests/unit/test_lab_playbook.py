"""The committed lab playbook is the one the lab manifest generates, and it covers the lab."""

from __future__ import annotations

from pathlib import Path

from sentinel.lab.manifest import load_manifest
from sentinel.lab.playbook import render
from sentinel.playbook import load_playbook

ROOT = Path(__file__).parents[2]


def test_committed_lab_playbook_matches_the_manifest() -> None:
    committed = (ROOT / "playbooks" / "lab.yml").read_text(encoding="utf-8")
    assert committed == render(), "stale: python -m sentinel.lab.playbook > playbooks/lab.yml"


def test_lab_playbook_scans_every_lab_address_as_one_asset_per_host() -> None:
    book = load_playbook(ROOT / "playbooks" / "lab.yml")
    manifest = load_manifest()
    listed = {h for s in book.segments for h in s.hosts}
    for host in manifest.hosts:
        for address in (host.v4, host.v6):
            if address is not None:
                assert str(address) in listed
        asset = next(a for a in book.assets if a.id == host.hostname)
        assert {str(a) for a in (host.v4, host.v6) if a is not None} == set(asset.addresses)
    assert book.scope.authorised == ("198.18.0.0/15", "2001:db8::/32")
