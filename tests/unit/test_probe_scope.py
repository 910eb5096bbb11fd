"""`sentinel probe` sends only inside the configured probe scope: a pasted public address is
refused before any packet, unless the person explicitly names a scope that contains it."""

from __future__ import annotations

import ipaddress

import pytest
from typer.testing import CliRunner

from sentinel.cli.main import app
from sentinel.cli.probe import covering, targets_gate


@pytest.mark.parametrize("target", ["192.0.2.1:443", "[2001:db9::1]:443", "203.0.113.9:22"])
def test_addresses_outside_the_probe_scope_are_refused(target: str) -> None:
    result = CliRunner().invoke(app, ["probe", "tls", target, "--json"])
    assert result.exit_code == 2
    assert "outside the authorised scope of probes" in result.output


def test_lab_and_loopback_are_in_the_default_probe_scope() -> None:
    for address in ("127.0.0.1", "::1", "198.18.10.10", "2001:db8:10::10"):
        assert targets_gate([address]).policy.verdict(address) is None
    # An explicit --scope authorises exactly what it names, and only the target itself.
    gate = targets_gate(["192.0.2.7"], ("192.0.2.0/24",))
    assert gate.policy.verdict("192.0.2.7") is None
    assert gate.policy.verdict("192.0.2.8") is not None


def test_global_deny_wins_over_the_probe_scope(monkeypatch: pytest.MonkeyPatch) -> None:
    from sentinel import catalog

    monkeypatch.setenv("SENTINEL_GLOBAL_DENY", "198.18.10.0/24")
    catalog.clear_caches()
    try:
        result = CliRunner().invoke(app, ["probe", "tls", "198.18.10.10:443"])
    finally:
        catalog.clear_caches()
    assert result.exit_code == 2
    assert "global deny list (198.18.10.0/24)" in result.output


# Runs that cross a /24 boundary, single addresses, a whole /30, and IPv6 next to it.
V4 = ["198.18.0.254", "198.18.0.255", "198.18.1.0", "198.18.1.1", "198.18.1.2",
      "198.18.5.7", "198.18.9.0", "198.18.9.1", "198.18.9.2", "198.18.9.3", "127.0.0.1"]
V6 = ["2001:db8::", "2001:db8::1", "2001:db8::2", "2001:db8::3", "2001:db8::4",
      "2001:db8:ff::ffff", "2001:db8:100::", "::1"]


@pytest.mark.parametrize(("addresses", "version"), [(V4, 4), (V6, 6), ([], 4)])
def test_covering_is_what_collapse_addresses_gives(addresses: list[str], version: int) -> None:
    """The fewest networks holding exactly the targets, as the standard library's collapse
    of one host network per target gives them (built from integers instead of objects)."""
    hosts = [ipaddress.ip_network(a) for a in addresses]
    expected = list(ipaddress.collapse_addresses(hosts))  # type: ignore[type-var]
    got = covering({int(ipaddress.ip_address(a)) for a in addresses}, version)
    assert got == expected
    assert sum(n.num_addresses for n in got) == len(set(addresses))


def test_the_gate_of_many_targets_authorises_exactly_them() -> None:
    given = [f"198.18.{i // 256}.{i % 256}" for i in range(0, 2000, 3)] + V6
    gate = targets_gate(given)
    for address in given:
        assert gate.policy.verdict(address) is None, address
    for address in ["198.18.0.1", "198.18.7.207", "2001:db8::5", "2001:db8:ff::fffe"]:
        assert gate.policy.verdict(address) is not None, address
