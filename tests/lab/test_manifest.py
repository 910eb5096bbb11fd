"""The manifest model refuses what the lab must never build: unknown fields, addresses
outside the lab ranges or their segment, and claims that contradict the addresses."""

from __future__ import annotations

import pytest
import yaml

from sentinel.errors import LabError
from sentinel.lab import exec_argv
from sentinel.lab.manifest import manifest_text, parse_manifest
from tests.lab.clients import run


def _variant(change: str, old: str, new: str) -> str:
    text = manifest_text()
    assert old in text, change
    return text.replace(old, new, 1)


@pytest.mark.parametrize(("change", "old", "new", "message"), [
    ("unknown field", "    aaaa: true\n", "    aaaa: true\n    colour: red\n", "unknown field"),
    ("outside the lab", "v4: 198.18.10.0/24", "v4: 192.0.2.0/24", "outside"),
    ("not in segment", "v4: 198.18.10.10", "v4: 198.18.11.10", "is not in"),
    ("AAAA without IPv6", "    v6: null                   # a name server without IPv6\n"
     "    aaaa: false", "    v6: null\n    aaaa: true", "no IPv6 address"),
    ("IPv6-only claim", "    ipv6_only: true\n", "    ipv6_only: false\n", "ipv6_only"),
])
def test_bad_manifests_are_refused(change: str, old: str, new: str, message: str) -> None:
    with pytest.raises(LabError, match=message):
        parse_manifest(_variant(change, old, new))


def test_duplicate_keys_are_refused() -> None:
    with pytest.raises(LabError, match="duplicate key"):
        parse_manifest("version: 1\nversion: 1\n")


def test_shipped_manifest_tells_the_whole_story() -> None:
    manifest = parse_manifest(manifest_text())
    assert len(manifest.agencies) >= 3 and len(manifest.segments) >= 5
    assert {s.zone.value for s in manifest.segments} >= {"extranet", "cloud-tenant",
                                                          "internet-facing", "management"}
    assert any(s.v6 is None and not s.ra for s in manifest.segments)
    assert any(h.ipv6_only for h in manifest.hosts)
    assert any(h.v6_extra_ports for h in manifest.hosts)
    assert {h.aaaa for h in manifest.hosts if h.v4 and h.v6} == {True, False}
    assert yaml.safe_load(manifest_text())["version"] == 1


def test_exec_runs_inside_a_host(lab: object) -> None:
    done = run(exec_argv("ws", ["ip", "-4", "-o", "addr", "show", "dev", "eth0"]))
    assert "198.18.11.100/24" in done.stdout
