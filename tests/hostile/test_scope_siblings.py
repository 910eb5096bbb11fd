"""Siblings of issue #14 item 1: other ways around the scope gate.

Text that is not one canonical IP literal (integers, octal or hex octets, the a.b.c form,
whitespace, host names) must be refused as input — never resolved or reinterpreted the way
``inet_aton``/``getaddrinfo`` would (``010.8.8.8`` is 8.8.8.8 to them). Zone ids do not hide
an address from the deny list; Teredo embeds IPv4 hosts like 6to4 does; the deny and scope
lists from the environment fail closed. Many of these hold today; they are kept here so they
keep holding. Every run is inside an empty network namespace under strace.
"""

from __future__ import annotations

import pytest

from tests.hostile.conftest import (
    Sandbox,
    assert_refused,
    playbook,
    segment,
)

pytestmark = pytest.mark.hostile

# Each of these is (or can be read as) 8.8.8.8 or a name; --scope 8.8.8.0/24 authorises the
# canonical 8.8.8.8, so the only thing between the command and a connect() is the parse.
NON_CANONICAL_TARGETS = [
    "134744072:443",          # 8.8.8.8 as one integer
    "010.8.8.8:443",          # octal first octet: inet_aton reads 8.8.8.8
    "0x8.0x8.0x8.0x8:443",    # hex octets
    "8.8.2056:443",           # a.b.c form
    "8.2099208:443",          # a.b form
    " 8.8.8.8:443",           # leading whitespace
    "8.8.8.8 :443",           # whitespace before the port
    "8.8.8.8:443 ",           # trailing whitespace
    "8.8.8.8\n:443",          # a newline
    "8.8.8.8.:443",           # trailing dot (a name to the resolver)
    "dns.google:443",         # a name: no DNS query may leave
    "localhost:443",          # a name, even a local one
    "[8.8.8.8]:443x",         # garbage port
    "8.8.8.8:0",              # port 0
    "8.8.8.8:65536",          # port out of range
]


@pytest.mark.parametrize("target", NON_CANONICAL_TARGETS, ids=repr)
@pytest.mark.parametrize("kind", ["tls", "ssh"])
def test_probe_refuses_non_canonical_targets(sandbox: Sandbox, kind: str, target: str) -> None:
    run = sandbox.run("probe", kind, target, "--scope", "8.8.8.0/24")
    assert_refused(run)


@pytest.mark.parametrize("target", ["134744072", "010.8.8.8", "8.8.2056", "dns.google",
                                    " 8.8.8.8"], ids=repr)
def test_probe_snmp_refuses_non_canonical_targets(sandbox: Sandbox, target: str) -> None:
    run = sandbox.run("probe", "snmp", target, "--scope", "8.8.8.0/24")
    assert_refused(run)


@pytest.mark.parametrize("scope", ["010.8.8.0/24", "134744072/32", "8.8.8.0/24 ", "dns.google"],
                         ids=repr)
def test_probe_scope_flag_must_be_a_canonical_cidr(sandbox: Sandbox, scope: str) -> None:
    """A --scope that is not a canonical CIDR is bad input (exit 2), never read loosely."""
    run = sandbox.run("probe", "tls", "8.8.8.8:443", "--scope", scope)
    assert_refused(run, "--scope")


# -- zone ids --------------------------------------------------------------------------------


def test_zone_id_does_not_hide_a_mapped_denied_address(sandbox: Sandbox) -> None:
    """``::ffff:198.18.66.7%lo``: the zone id is not part of the host; the mapped address is
    198.18.66.7, which is denied."""
    run = sandbox.run("probe", "tls", "[::ffff:198.18.66.7%lo]:443",
                      "--scope", "::ffff:198.18.66.0/120",
                      env=sandbox.env(SENTINEL_GLOBAL_DENY="198.18.66.0/24"))
    assert_refused(run, "deny")


@pytest.mark.parametrize("target", ["[2001:db8:66::7%lo]:443", "[2001:db8:66::7%1]:443",
                                    "[2001:db8:66::7%25lo]:443"], ids=repr)
def test_zone_id_does_not_hide_a_denied_v6_address(sandbox: Sandbox, target: str) -> None:
    run = sandbox.run("probe", "tls", target,
                      env=sandbox.env(SENTINEL_GLOBAL_DENY="2001:db8:66::/64"))
    assert_refused(run)


def test_zone_id_in_a_playbook_host_is_judged_without_it(sandbox: Sandbox) -> None:
    book = sandbox.write("book.yml", playbook(
        authorised=["198.18.0.0/15", "::ffff:198.18.0.0/111"], deny=["198.18.66.0/24"],
        segments=[segment(["::ffff:198.18.66.0/120"], ["::ffff:198.18.66.7%lo"])]))
    run = sandbox.run("scan", "--playbook", book, "--store", sandbox.store)
    assert_refused(run)


# -- Teredo: like 6to4, an IPv6 address that delivers to embedded IPv4 hosts ----------------


def test_teredo_address_with_a_denied_embedded_client_is_refused(sandbox: Sandbox) -> None:
    """2001:0:c612:4201:0:ffff:39ed:bdf8 is Teredo, server 198.18.66.1, client 198.18.66.7
    (both denied here): judged on the embedded IPv4 addresses as well."""
    run = sandbox.run("probe", "tls", "[2001:0:c612:4201:0:ffff:39ed:bdf8]:443",
                      "--scope", "2001::/32",
                      env=sandbox.env(SENTINEL_GLOBAL_DENY="198.18.66.0/24"))
    assert_refused(run, "deny")


# -- the environment's lists fail closed -------------------------------------------------------


@pytest.mark.parametrize("variable", ["SENTINEL_GLOBAL_DENY", "SENTINEL_PROBE_SCOPE"])
@pytest.mark.parametrize("value", ["198.18.66.0/24;198.18.67.0/24", "198.18.66.7/24",
                                   "010.0.0.0/8", "everything", "198.18.66.0/33"], ids=repr)
def test_probe_invalid_environment_list_fails_closed(sandbox: Sandbox, variable: str,
                                                     value: str) -> None:
    """An unreadable deny (or scope) list is an error naming the variable (exit 2), never a
    list silently ignored."""
    run = sandbox.run("probe", "tls", "198.18.10.10:443", env=sandbox.env(**{variable: value}))
    assert_refused(run, variable)


def test_scan_invalid_global_deny_fails_closed(sandbox: Sandbox) -> None:
    book = sandbox.write("book.yml", playbook(
        authorised=["198.18.0.0/15"], segments=[segment(["198.18.10.0/24"], ["198.18.10.10"])]))
    run = sandbox.run("scan", "--playbook", book, "--store", sandbox.store,
                      env=sandbox.env(SENTINEL_GLOBAL_DENY="198.18.10.0/24;x"))
    assert_refused(run, "SENTINEL_GLOBAL_DENY")


@pytest.mark.parametrize("value", [" 198.18.66.0/24 , ", "198.18.66.7", "198.18.66.7/32,",
                                   "2001:db8::/32, 198.18.66.0/24"], ids=repr)
def test_probe_global_deny_spellings_that_must_work(sandbox: Sandbox, value: str) -> None:
    run = sandbox.run("probe", "tls", "198.18.66.7:443",
                      env=sandbox.env(SENTINEL_GLOBAL_DENY=value))
    assert_refused(run, "deny")


# -- playbook addresses and CIDRs ---------------------------------------------------------------

BAD_PLAYBOOK_ADDRESSES = [
    ("host-name", {"segments": [segment(["198.18.10.0/24"], ["www.example.org"])]},
     "segments"),
    ("host-integer", {"segments": [segment(["198.18.10.0/24"], ["3323071242"])]}, "segments"),
    ("host-octal", {"segments": [segment(["198.18.10.0/24"], ["198.018.10.10"])]}, "segments"),
    ("cidr-octal", {"segments": [segment(["198.018.10.0/24"])]}, "segments"),
    ("cidr-host-bits", {"segments": [segment(["198.18.10.7/24"])]}, "segments"),
    ("cidr-space", {"segments": [segment(["198.18.10.0/24 "])]}, "segments"),
    ("resolver-name", {"segments": [segment(["198.18.10.0/24"], ["198.18.10.10"])],
                           "resolvers": ["dns.google"]}, "resolvers"),
    ("asset-integer", {"segments": [segment(["198.18.10.0/24"], ["198.18.10.10"])],
                           "assets": [{"id": "x", "addresses": [3323071242]}]}, "assets"),
]


@pytest.mark.parametrize("label,parts,field", BAD_PLAYBOOK_ADDRESSES,
                         ids=[b[0] for b in BAD_PLAYBOOK_ADDRESSES])
def test_playbook_non_canonical_addresses_are_refused(sandbox: Sandbox, label: str,
                                                      parts: dict[str, object],
                                                      field: str) -> None:
    book = sandbox.write("book.yml", playbook(authorised=["198.18.0.0/15"], **parts))  # type: ignore[arg-type]
    run = sandbox.run("scan", "--playbook", book, "--store", sandbox.store)
    assert_refused(run, "book.yml", field)


def test_segment_larger_than_the_authorised_scope_is_refused(sandbox: Sandbox) -> None:
    book = sandbox.write("book.yml", playbook(
        authorised=["198.18.10.0/25"], segments=[segment(["198.18.10.0/24"], ["198.18.10.10"])]))
    run = sandbox.run("scan", "--playbook", book, "--store", sandbox.store)
    assert_refused(run, "scope")


def test_deny_everything_refuses_everything(sandbox: Sandbox) -> None:
    book = sandbox.write("book.yml", playbook(
        authorised=["198.18.0.0/15", "2001:db8::/32"], deny=["0.0.0.0/0", "::/0"],
        segments=[segment(["198.18.10.0/24", "2001:db8:10::/64"], ["198.18.10.10"])]))
    run = sandbox.run("scan", "--playbook", book, "--store", sandbox.store)
    assert_refused(run, "deny")
