"""`sentinel probe` sends only inside the configured probe scope: a pasted public address is
refused before any packet, unless the person explicitly names a scope that contains it."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from sentinel.cli.main import app
from sentinel.cli.probe import targets_gate


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
