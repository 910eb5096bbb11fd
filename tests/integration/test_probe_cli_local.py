"""`sentinel probe tls` as a person types it, against real OpenSSL servers on 127.0.0.1:
several targets in one run, a target that cannot be probed, a target outside the probe scope."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sentinel.cli.main import app
from tests.integration.test_cert_findings_local import _cert, _key, _pem, tls_server
from tests.integration.test_tls_enum_local import LOOPBACK, _s_server
from tests.support.loopback import free_port, running


@pytest.fixture
def two_servers(tmp_path: Path) -> Iterator[tuple[int, int]]:
    """TLS 1.2 only with two suites, and TLS 1.3 only with one suite."""
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first, port_a, _ = _s_server(tmp_path / "a", "-cipher",
                                 "ECDHE-RSA-AES128-GCM-SHA256:AES256-SHA",
                                 "-no_tls1_3", "-no_tls1", "-no_tls1_1")
    second, port_b, _ = _s_server(tmp_path / "b", "-ciphersuites", "TLS_AES_256_GCM_SHA384",
                                  "-tls1_3")
    with running(first, port_a), running(second, port_b):
        yield port_a, port_b


def _pairs(document: dict[str, object]) -> set[tuple[str, str]]:
    accepted = document["accepted"]
    assert isinstance(accepted, list)
    return {(a["protocol"], a["code"]) for a in accepted}


def test_several_targets_one_json_document_per_line(two_servers: tuple[int, int]) -> None:
    port_a, port_b = two_servers
    result = CliRunner().invoke(app, ["probe", "tls", f"{LOOPBACK}:{port_a}",
                                      f"{LOOPBACK}:{port_b}", "--json"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 2  # one document per target, in the order given
    first, second = (json.loads(line) for line in lines)
    assert first["target"]["port"] == port_a and second["target"]["port"] == port_b
    assert _pairs(first) == {("TLSv1.2", "0xC02F"), ("TLSv1.2", "0x0035")}
    assert _pairs(second) == {("TLSv1.3", "0x1302")}
    assert first["connections_used"] < 30 and second["connections_used"] < 30


def test_a_target_that_cannot_be_probed_does_not_lose_the_others(
        two_servers: tuple[int, int]) -> None:
    port_a, _ = two_servers
    closed = free_port()  # nothing listens there: connection refused
    result = CliRunner().invoke(app, ["probe", "tls", f"{LOOPBACK}:{closed}",
                                      f"{LOOPBACK}:{port_a}", "--json"])
    assert result.exit_code == 1
    refused, probed = (json.loads(line) for line in result.stdout.strip().splitlines())
    assert refused["error"]["reason"] == "refused" and "accepted" not in refused
    assert _pairs(probed) == {("TLSv1.2", "0xC02F"), ("TLSv1.2", "0x0035")}


def test_one_target_outside_the_probe_scope_refuses_the_whole_run(
        two_servers: tuple[int, int]) -> None:
    port_a, _ = two_servers
    result = CliRunner().invoke(app, ["probe", "tls", f"{LOOPBACK}:{port_a}", "192.0.2.1:443",
                                      "--json"])
    assert result.exit_code == 2
    assert "outside the authorised scope of probes" in result.output
    assert '"accepted"' not in result.output  # nothing was probed, not even the allowed one



def test_targets_from_a_file_stream_in_the_order_given(tmp_path: Path) -> None:
    """More targets than the window of targets in flight (4 per host slot, 32 slots) against
    three real TLS servers (one thread per connection): every target gets its document, in
    the order of the file, with a refused one early on."""
    key = _key(7101)
    cert = _cert("stream.test", key, ("stream.test", key), ca=True)
    servers = [tls_server(tmp_path, f"s{n}", _pem(cert), key) for n in range(3)]
    try:
        closed = free_port()
        ports = [closed, *([s.port for s in servers] * 50)]
        listing = tmp_path / "targets.txt"
        listing.write_text("# endpoints\n\n" + "".join(f"{LOOPBACK}:{p}\n" for p in ports),
                           encoding="ascii")
        result = CliRunner().invoke(app, ["probe", "tls", "--targets-from", str(listing),
                                          "--json", "--rate", "5000"])
    finally:
        for server in servers:
            server.close()
    assert result.exit_code == 1  # the closed port
    documents = [json.loads(line) for line in result.stdout.strip().splitlines()]
    assert [d["target"]["port"] for d in documents] == ports
    assert documents[0]["error"]["reason"] == "refused"
    first = _pairs(documents[1])
    assert ("TLSv1.3", "0x1302") in first
    assert all(_pairs(d) == first for d in documents[1:])


def test_a_bad_line_in_the_targets_file_is_named_and_nothing_is_sent(tmp_path: Path) -> None:
    listing = tmp_path / "targets.txt"
    listing.write_text(f"{LOOPBACK}:443\n{LOOPBACK}:99999\n", encoding="ascii")
    result = CliRunner().invoke(app, ["probe", "tls", "--targets-from", str(listing)])
    assert result.exit_code == 2
    assert f"{listing}:2" in result.output and "Traceback" not in result.output
    assert result.stdout.strip() == ""
