"""Issue #14 item 1: one canonical address form before any scope verdict.

An IPv4 host has several IPv6 spellings. Which are the same host, deliberately:

* IPv4-mapped ``::ffff:a.b.c.d`` (also spelt ``::ffff:AABB:CCDD`` or in full): the kernel
  sends it as IPv4 to a.b.c.d — it IS a.b.c.d. Normalised to the IPv4 address.
* IPv4-compatible ``::a.b.c.d`` (deprecated by RFC 4291, its destination undefined): refused
  as input whatever the lists say (``::`` and ``::1`` are the unspecified and loopback
  addresses, not compatible ones). The tests accept any refusal for it, not only the deny.
* 6to4 ``2002:AABB:CCDD::/48`` and NAT64 ``64:ff9b::a.b.c.d`` (RFC 6052): a relay or
  translator delivers to the embedded a.b.c.d, but the packet leaves as IPv6 to the prefix.
  Both are judged: refused if EITHER the IPv6 address or the embedded IPv4 is denied, and
  authorised only if BOTH are authorised (a NAT64 prefix in scope must not authorise the
  whole IPv4 internet).

Every address below embeds 198.18.66.7 (lab range: 198.18.66.0/24 is the denied network
in these tests) or 8.8.8.8; every run is inside an empty network namespace under strace, and
each test asserts that nothing at all was attempted.
"""

from __future__ import annotations

import pytest

from tests.hostile.conftest import (
    Sandbox,
    assert_no_crash,
    assert_refused,
    playbook,
    scope_overlay,
    segment,
    store_events,
)

pytestmark = pytest.mark.hostile

DENIED_V4 = "198.18.66.0/24"
# (form, the target address, a --scope CIDR that authorises exactly that form's /24)
FORMS = [
    ("mapped", "::ffff:198.18.66.7", "::ffff:198.18.66.0/120"),
    ("mapped-hex", "::ffff:c612:4207", "::ffff:c612:4200/120"),
    ("mapped-full", "0:0:0:0:0:ffff:c612:4207", "::ffff:198.18.66.0/120"),
    ("compatible", "::198.18.66.7", "::198.18.66.0/120"),
    ("6to4", "2002:c612:4207::1", "2002:c612:4200::/40"),
    ("nat64", "64:ff9b::198.18.66.7", "64:ff9b::198.18.66.0/120"),
]
FORM_IDS = [f[0] for f in FORMS]


def _deny_env(sandbox: Sandbox, where: str, cidr: str) -> dict[str, str]:
    """The environment that puts ``cidr`` in the global deny list, the way ``where`` says."""
    if where == "env":
        return sandbox.env(SENTINEL_GLOBAL_DENY=cidr)
    overlay = scope_overlay(sandbox.home / "overlay", [cidr])
    return sandbox.env(SENTINEL_DATA_DIR=str(overlay))


def _why(form: str) -> tuple[str, ...]:
    """What the refusal must name: the deny list, except for an IPv4-compatible address,
    which is refused as such."""
    return () if form == "compatible" else ("deny",)


def _probe_args(kind: str, address: str) -> list[str]:
    if kind == "snmp":
        return ["probe", "snmp", address]
    return ["probe", kind, f"[{address}]:{443 if kind == 'tls' else 22}"]


@pytest.mark.parametrize("where", ["env", "scope.yml"])
@pytest.mark.parametrize("form,address,scope", FORMS, ids=FORM_IDS)
@pytest.mark.parametrize("kind", ["tls", "ssh", "snmp"])
def test_probe_refuses_v6_form_of_denied_v4(sandbox: Sandbox, kind: str, form: str,
                                            address: str, scope: str, where: str) -> None:
    """``probe tls|ssh|snmp`` with an IPv6 spelling of a denied IPv4 host (the person even
    authorised that spelling with --scope): refused, nothing attempted."""
    run = sandbox.run(*_probe_args(kind, address), "--scope", scope,
                      env=_deny_env(sandbox, where, DENIED_V4))
    assert_refused(run, *_why(form))


@pytest.mark.parametrize("form,address,scope", FORMS[:4], ids=FORM_IDS[:4])
@pytest.mark.parametrize("kind", ["tls", "ssh", "snmp"])
def test_probe_judges_mapped_form_inside_v4_probe_scope(sandbox: Sandbox, kind: str,
                                                        form: str, address: str,
                                                        scope: str) -> None:
    """Without --scope, the mapped/compatible spelling of a lab address is inside the probe
    scope (198.18.0.0/15) once normalised, and then the global deny must refuse it: the
    refusal names the deny list, not "outside the scope"."""
    del scope
    run = sandbox.run(*_probe_args(kind, address), env=sandbox.env(SENTINEL_GLOBAL_DENY=DENIED_V4))
    assert_refused(run, *_why(form))


@pytest.mark.parametrize("kind", ["tls", "ssh", "snmp"])
def test_probe_refuses_v4_target_denied_in_mapped_form(sandbox: Sandbox, kind: str) -> None:
    """The reverse spelling: the deny entry written as ::ffff:198.18.66.0/120 covers the plain
    IPv4 target 198.18.66.7 (which is inside the default probe scope)."""
    run = sandbox.run(*_probe_args(kind, "198.18.66.7"),
                      env=sandbox.env(SENTINEL_GLOBAL_DENY="::ffff:198.18.66.0/120"))
    assert_refused(run, "deny")


@pytest.mark.parametrize("kind", ["tls", "ssh", "snmp"])
def test_probe_refuses_mapped_public_resolver(sandbox: Sandbox, kind: str) -> None:
    """The issue's own example: ::ffff:8.8.8.8 with 8.8.8.8 in SENTINEL_GLOBAL_DENY, the
    mapped address explicitly authorised: refused, no connect() or datagram to it."""
    run = sandbox.run(*_probe_args(kind, "::ffff:8.8.8.8"), "--scope", "::ffff:8.8.8.8/128",
                      env=sandbox.env(SENTINEL_GLOBAL_DENY="8.8.8.8/32"))
    assert_refused(run)


@pytest.mark.parametrize("address,scope", [
    ("::ffff:0.0.0.0", "::ffff:0.0.0.0/104"),          # 0.0.0.0/8: "this network"
    ("::ffff:255.255.255.255", "::ffff:255.255.255.255/128"),  # limited broadcast
    ("::ffff:240.0.0.1", "::ffff:240.0.0.0/100"),      # reserved
], ids=["this-network", "broadcast", "reserved"])
@pytest.mark.parametrize("kind", ["tls", "snmp"])
def test_probe_shipped_global_deny_covers_mapped_forms(sandbox: Sandbox, kind: str,
                                                       address: str, scope: str) -> None:
    """The shipped probes/scope.yml denies 0.0.0.0/8, 255.255.255.255 and 240.0.0.0/4; their
    mapped forms (a broadcast SNMP datagram, a connect to "this host") are denied too."""
    run = sandbox.run(*_probe_args(kind, address), "--scope", scope)
    assert_refused(run, "deny")


def test_probe_refuses_the_whole_run_when_one_target_is_a_denied_mapped_form(
        sandbox: Sandbox) -> None:
    """Several targets, one of them a mapped spelling of a denied host: the whole run is
    refused before the first connection, also to the allowed target."""
    run = sandbox.run("probe", "tls", "198.18.10.10:443", "[::ffff:198.18.66.7]:443",
                      "--scope", "::ffff:198.18.66.0/120",
                      env=sandbox.env(SENTINEL_GLOBAL_DENY=DENIED_V4))
    assert_refused(run, "deny")


# 6to4 and NAT64 are judged on both addresses: the embedded IPv4 must be authorised as well.
@pytest.mark.parametrize("address,scope", [
    ("64:ff9b::8.8.8.8", "64:ff9b::/96"),
    ("2002:808:808::1", "2002::/16"),
], ids=["nat64", "6to4"])
@pytest.mark.parametrize("kind", ["tls", "ssh", "snmp"])
def test_probe_translated_prefix_does_not_authorise_the_embedded_v4(
        sandbox: Sandbox, kind: str, address: str, scope: str) -> None:
    """Authorising the NAT64 or 6to4 prefix does not authorise every IPv4 host behind it:
    64:ff9b::8.8.8.8 reaches 8.8.8.8, which is outside the probe scope."""
    run = sandbox.run(*_probe_args(kind, address), "--scope", scope)
    assert_refused(run, "scope")


@pytest.mark.parametrize("address", ["2002:c612:4207::1", "64:ff9b::198.18.66.7"],
                         ids=["6to4", "nat64"])
def test_probe_translated_form_denied_by_its_v6_entry(sandbox: Sandbox, address: str) -> None:
    """The IPv6 address itself in the deny list (already judged today; kept judged)."""
    run = sandbox.run("probe", "tls", f"[{address}]:443", "--scope", f"{address}/128",
                      env=sandbox.env(SENTINEL_GLOBAL_DENY=f"{address}/128"))
    assert_refused(run, "deny")


# -- playbook scans ------------------------------------------------------------------------

# (form, authorised for the form, segment CIDR in that form, host in that form)
SCAN_FORMS = [
    ("mapped", "::ffff:198.18.0.0/111", "::ffff:198.18.66.0/120", "::ffff:198.18.66.7"),
    ("compatible", "::198.18.0.0/111", "::198.18.66.0/120", "::198.18.66.7"),
    ("6to4", "2002:c612::/31", "2002:c612:4207::/48", "2002:c612:4207::1"),
    ("nat64", "64:ff9b::198.18.0.0/111", "64:ff9b::198.18.66.0/120", "64:ff9b::198.18.66.7"),
]


@pytest.mark.parametrize("where", ["playbook", "env", "scope.yml"])
@pytest.mark.parametrize("form,authorised,cidr,host", SCAN_FORMS, ids=[f[0] for f in SCAN_FORMS])
def test_scan_refuses_segment_in_v6_form_of_denied_v4(sandbox: Sandbox, form: str,
                                                     authorised: str, cidr: str, host: str,
                                                     where: str) -> None:
    """A playbook whose segment is the IPv6 spelling of a denied IPv4 network: the scan is
    refused before anything is sent, with a scope-refused audit event in the store. (Given
    --allow-public-scope: the 6to4 and NAT64 prefixes are global unicast, and the deny list
    is what is tested here; the flag never overrides a deny list.)"""
    deny = [DENIED_V4] if where == "playbook" else []
    book = sandbox.write("book.yml", playbook(
        authorised=["198.18.0.0/15", authorised], deny=deny, segments=[segment([cidr], [host])]))
    env = sandbox.env() if where == "playbook" else _deny_env(
        sandbox, "env" if where == "env" else "scope.yml", DENIED_V4)
    run = sandbox.run("scan", "--playbook", book, "--store", sandbox.store,
                      "--allow-public-scope", env=env)
    assert_refused(run, *_why(form))
    actions = [action for action, _ in store_events(sandbox.store)]
    assert "scope-refused" in actions, f"no scope-refused audit event: {actions}"


@pytest.mark.parametrize("where", ["playbook", "env"])
def test_scan_refuses_inventory_asset_in_mapped_form(sandbox: Sandbox, where: str) -> None:
    """An inventory asset listing the mapped form of a denied host (its segment is fine)."""
    deny = [DENIED_V4] if where == "playbook" else []
    book = sandbox.write("book.yml", playbook(
        authorised=["198.18.0.0/15", "::ffff:198.18.0.0/111"], deny=deny,
        segments=[segment(["198.18.10.0/24"], ["198.18.10.10"])],
        assets=[{"id": "db1", "addresses": ["198.18.10.10", "::ffff:198.18.66.7"]}]))
    env = sandbox.env(SENTINEL_GLOBAL_DENY=DENIED_V4) if where == "env" else sandbox.env()
    run = sandbox.run("scan", "--playbook", book, "--store", sandbox.store,
                      "--allow-public-scope", env=env)
    assert_refused(run, "deny")


def test_scan_refuses_v4_segment_denied_in_mapped_form(sandbox: Sandbox) -> None:
    """The reverse spelling in a playbook: deny ::ffff:198.18.66.0/120, segment
    198.18.66.0/24."""
    book = sandbox.write("book.yml", playbook(
        authorised=["198.18.0.0/15"], deny=["::ffff:198.18.66.0/120"],
        segments=[segment(["198.18.66.0/24"], ["198.18.66.7"])]))
    run = sandbox.run("scan", "--playbook", book, "--store", sandbox.store)
    assert_refused(run, "deny")


def test_scan_dry_run_reports_the_mapped_refusal(sandbox: Sandbox) -> None:
    """--dry-run lists what a scan would refuse: the mapped segment is refused there too."""
    book = sandbox.write("book.yml", playbook(
        authorised=["198.18.0.0/15"], deny=[DENIED_V4],
        segments=[segment(["::ffff:198.18.66.0/120"], ["::ffff:198.18.66.7"])]))
    run = sandbox.run("scan", "--playbook", book, "--dry-run")
    assert_no_crash(run)
    assert run.status == 2 and "deny" in run.stderr.lower(), run.describe()
    assert not run.outbound, run.describe()


# -- what must stay allowed ------------------------------------------------------------------


def test_probe_v6_loopback_is_not_an_ipv4_compatible_address(sandbox: Sandbox) -> None:
    """::1 is loopback, not the IPv4-compatible form of 0.0.0.1 (which the global deny list
    covers): it is still probed (the connection is refused by the empty namespace: exit 1)."""
    run = sandbox.run("probe", "ssh", "[::1]:9", lo_up=True)
    assert_no_crash(run)
    assert run.status == 1, run.describe()
    assert any(a.address == "::1" for a in run.attempts), run.describe()


def test_probe_mapped_loopback_is_loopback(sandbox: Sandbox) -> None:
    """::ffff:127.0.0.1 is 127.0.0.1, inside the default probe scope: it is probed, not
    refused as "outside the scope" (exit 1: nothing listens in the namespace)."""
    run = sandbox.run("probe", "ssh", "[::ffff:127.0.0.1]:9", lo_up=True)
    assert_no_crash(run)
    assert run.status == 1, f"expected the probe to run and fail (exit 1)\n{run.describe()}"
    assert not run.outbound, run.describe()


def test_scan_mapped_spelling_of_a_private_scope_is_not_public(sandbox: Sandbox) -> None:
    """Authorised entries are read in the canonical form too: ::ffff:198.18.0.0/111 is
    198.18.0.0/15, which is not public space, so no --allow-public-scope is needed (the scan
    is let through; its first connection ends in the empty namespace)."""
    book = sandbox.write("book.yml", playbook(
        authorised=["::ffff:198.18.0.0/111"],
        segments=[segment(["::ffff:198.18.10.0/120"], ["::ffff:198.18.10.10"])]))
    run = sandbox.run("scan", "--playbook", book, "--store", sandbox.store)
    assert_no_crash(run)
    assert "public" not in run.stderr.lower(), run.describe()
    assert any(a.address in ("198.18.10.10", "::ffff:198.18.10.10") for a in run.attempts), (
        run.describe())
