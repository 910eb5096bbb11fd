"""Issue #14 item 1, the other doors: ``sentinel discover``, ``--es-url``, a playbook's DNS
resolvers, and authorised scopes that cover public address space.

* ``discover`` judges the playbook (and its segment) BEFORE its first frame: no ARP, no
  ff02::1 echo, no Router Solicitation to ff02::2 for a playbook it will refuse.
* ``--es-url`` (and ``SENTINEL_ES_URL``, the ``url`` of ``SENTINEL_ES_CONFIG``): the host
  must be an IP literal in canonical form that is loopback, or be listed as a sink (the
  ``sinks`` list of probes/scope.yml, or ``SENTINEL_SINK_ALLOW``); anything else, a host name
  included, is refused before any DNS query or connection, with a message that says how to
  allow it. The global deny list still wins.
* ``resolvers:`` of a playbook are judged like targets (normalised, deny lists, authorised
  scope) before the scan starts: a resolver outside scope refuses the scan (exit 2, nothing
  sent, no scan started), not a run that quietly records refusals.
* A playbook whose authorised scope is ``/0`` or covers globally routable space (also in a
  mapped, 6to4 or NAT64 spelling) is refused unless ``--allow-public-scope`` is given; the
  flag never overrides a deny list.

Every run is inside an empty network namespace under strace; nothing may be attempted.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.hostile.conftest import (
    DEFAULT_ROUTE_SETUP,
    Run,
    Sandbox,
    assert_no_crash,
    assert_refused,
    playbook,
    segment,
    store_events,
)

pytestmark = pytest.mark.hostile


def _inet(run: Run) -> list[str]:
    """Every IP connect/send, loopback included (a refused scan makes none at all)."""
    return [str(a) for a in run.attempts if a.family in ("inet", "inet6", "packet")]


# -- sentinel discover -----------------------------------------------------------------------


def _discover(sandbox: Sandbox, book: Path, seg: str) -> Run:
    return sandbox.run("discover", "--playbook", book, "--segment", seg, "--iface", "v0",
                       "--timeout", "1", "--store", sandbox.store, setup=DEFAULT_ROUTE_SETUP)


def test_discover_out_of_scope_segment_sends_nothing(sandbox: Sandbox) -> None:
    """An out-of-scope segment: refused before the first frame (today a Router Solicitation
    to ff02::2 goes out first), with the refusal audited."""
    book = sandbox.write("book.yml", playbook(
        authorised=["198.18.0.0/16"],
        segments=[segment(["198.19.5.0/29", "2001:db8:99::/64"], id="far")]))
    run = _discover(sandbox, book, "far")
    assert_refused(run, "scope")
    actions = [action for action, _ in store_events(sandbox.store)]
    assert "scope-refused" in actions, f"no scope-refused audit event: {actions}"


def test_discover_refuses_a_playbook_reaching_outside_before_sending(sandbox: Sandbox) -> None:
    """The segment we sit in is fine but another segment of the playbook is outside scope:
    the scan that stores the result will refuse the playbook, so discovery must refuse it
    first (today it ARPs the segment and solicits routers, then refuses)."""
    book = sandbox.write("book.yml", playbook(
        authorised=["198.18.0.0/16", "2001:db8:66::/64"],
        segments=[segment(["198.18.66.0/29", "2001:db8:66::/64"], id="here"),
                  segment(["198.19.5.0/29"], id="far")]))
    run = _discover(sandbox, book, "here")
    assert_refused(run, "scope")


def test_discover_segment_in_mapped_form_of_denied_network(sandbox: Sandbox) -> None:
    """A segment written as the mapped form of a denied IPv4 network: refused, no frame."""
    book = sandbox.write("book.yml", playbook(
        authorised=["198.18.0.0/15", "::ffff:198.18.0.0/111"], deny=["198.18.66.0/24"],
        segments=[segment(["::ffff:198.18.66.0/125"], id="here")]))
    run = _discover(sandbox, book, "here")
    assert_refused(run, "deny")


# -- --es-url --------------------------------------------------------------------------------

ES_REFUSED = [
    ("public", "http://8.8.8.8:9200"),
    ("mapped-public", "http://[::ffff:8.8.8.8]:9200"),
    ("lab-not-allowed", "https://198.18.77.9:9200"),
    ("v6-not-allowed", "https://[2001:db8:77::9]:9200"),
    ("host-name", "http://es.example.org:9200"),  # no DNS query may leave either
    ("octal", "http://010.8.8.8:9200"),  # inet_aton reads it as 8.8.8.8
    ("integer", "http://134744072:9200"),  # 8.8.8.8 as one number
    ("hex", "http://0x8.0x8.0x8.0x8:9200"),
    ("short", "http://8.8.2056:9200"),  # 8.8.8.8 in the a.b.c form
]
ES_IDS = [e[0] for e in ES_REFUSED]


def _loopback_book(sandbox: Sandbox) -> Path:
    return sandbox.write("loopback.yml", playbook(
        authorised=["127.0.0.0/8"], segments=[segment(["127.0.0.0/30"], ["127.0.0.1"])]))


@pytest.mark.parametrize("label,url", ES_REFUSED, ids=ES_IDS)
def test_scan_es_url_outside_allow_list_refused(sandbox: Sandbox, label: str, url: str) -> None:
    """``scan --es-url`` to a host that is not loopback and not allow-listed: refused before
    the scan starts (no probe, no DNS query, no connection to the URL)."""
    run = sandbox.run("scan", "--playbook", _loopback_book(sandbox), "--es-url", url,
                      "--store", sandbox.store, lo_up=True)
    assert_refused(run, "allow")
    assert not _inet(run), f"the scan started: {_inet(run)}\n{run.describe()}"


@pytest.mark.parametrize("label,url", ES_REFUSED, ids=ES_IDS)
def test_es_setup_url_outside_allow_list_refused(sandbox: Sandbox, label: str, url: str) -> None:
    run = sandbox.run("es", "setup", "--es-url", url, lo_up=True)
    assert_refused(run, "allow")


@pytest.mark.parametrize("source", ["SENTINEL_ES_URL", "SENTINEL_ES_CONFIG"])
def test_es_url_from_environment_or_config_is_judged_too(sandbox: Sandbox, source: str) -> None:
    url = "http://8.8.8.8:9200"
    if source == "SENTINEL_ES_URL":
        env = sandbox.env(SENTINEL_ES_URL=url)
    else:
        config = sandbox.write("es.yml", f"url: {url}\n")
        os.chmod(config, 0o600)
        env = sandbox.env(SENTINEL_ES_CONFIG=str(config))
    run = sandbox.run("es", "setup", env=env, lo_up=True)
    assert_refused(run, "allow")


@pytest.mark.parametrize("label,url", [ES_REFUSED[0], ES_REFUSED[4]], ids=["public", "name"])
def test_detect_es_url_outside_allow_list_refused(sandbox: Sandbox, label: str, url: str) -> None:
    """``detect --es-url`` (over a store that holds a loopback scan) is judged the same way."""
    made = sandbox.run("scan", "--playbook", _loopback_book(sandbox), "--store", sandbox.store,
                       lo_up=True)
    assert made.status == 0, f"could not make the store for detect\n{made.describe()}"
    run = sandbox.run("detect", "--es-url", url, "--store", sandbox.store, lo_up=True)
    assert_refused(run, "allow")


@pytest.mark.parametrize("url", ["http://127.0.0.1:9200", "http://[::1]:9200"])
def test_es_url_loopback_is_allowed(sandbox: Sandbox, url: str) -> None:
    """Loopback needs no allow list: the scan runs and spools (nothing listens: exit 0)."""
    run = sandbox.run("scan", "--playbook", _loopback_book(sandbox), "--es-url", url,
                      "--store", sandbox.store, lo_up=True)
    assert_no_crash(run)
    assert run.status == 0, run.describe()
    assert not run.outbound, run.describe()
    assert any(a.port == 9200 for a in run.attempts), run.describe()


def test_es_url_inside_the_allow_list_is_allowed(sandbox: Sandbox) -> None:
    """SENTINEL_SINK_ALLOW lets a non-loopback Elasticsearch through (here the attempt ends
    in the empty namespace; the tripwire stops the run at it)."""
    run = sandbox.run("es", "setup", "--es-url", "https://198.18.77.9:9200",
                      env=sandbox.env(SENTINEL_SINK_ALLOW="198.18.77.0/24"), lo_up=True)
    assert_no_crash(run)
    assert "allow" not in run.stderr.lower(), run.describe()
    assert any(a.address == "198.18.77.9" and a.port == 9200 for a in run.attempts), (
        f"the allow-listed Elasticsearch was not even tried\n{run.describe()}")


def test_es_allow_list_does_not_override_the_global_deny(sandbox: Sandbox) -> None:
    run = sandbox.run("es", "setup", "--es-url", "https://[::ffff:198.18.77.9]:9200",
                      env=sandbox.env(SENTINEL_SINK_ALLOW="198.18.77.0/24",
                                      SENTINEL_GLOBAL_DENY="198.18.77.9/32"), lo_up=True)
    assert_refused(run, "deny")


# -- DNS resolvers of a playbook -------------------------------------------------------------

SITE = {"agency": "a1", "hostname": "www.example.gov.cn"}


def _scan(sandbox: Sandbox, book: Path, **env: str) -> Run:
    return sandbox.run("scan", "--playbook", book, "--store", sandbox.store,
                       env=sandbox.env(**env))


def test_resolver_outside_scope_refused_before_scan(sandbox: Sandbox) -> None:
    """A public resolver in a lab playbook: refused before the scan starts (today the scan
    runs and probes the segment)."""
    book = sandbox.write("book.yml", playbook(
        authorised=["198.18.0.0/15"], segments=[segment(["198.18.10.0/24"], ["198.18.10.10"])],
        resolvers=["8.8.8.8"], sites=[SITE]))
    run = _scan(sandbox, book)
    assert_refused(run, "resolver")
    actions = [action for action, _ in store_events(sandbox.store)]
    assert "scan-started" not in actions, f"the scan started: {actions}"


def test_resolver_outside_scope_refused_even_when_only_sites_are_scanned(
        sandbox: Sandbox) -> None:
    """Only a site check (no tcp probe): today the gate refuses each query at run time and
    the scan ends with exit 0; the issue asks for a refusal before the scan starts."""
    book = sandbox.write("book.yml", playbook(
        authorised=["198.18.0.0/15"], segments=[segment(["198.18.10.0/24"], ["198.18.10.10"])],
        resolvers=["8.8.8.8"], sites=[SITE], probes={"tcp": None}))
    run = _scan(sandbox, book)
    assert_refused(run, "resolver")


def test_resolver_in_global_deny_refused(sandbox: Sandbox) -> None:
    book = sandbox.write("book.yml", playbook(
        authorised=["198.18.0.0/15"], segments=[segment(["198.18.10.0/24"], ["198.18.10.10"])],
        resolvers=["198.19.200.53"], sites=[SITE]))
    run = _scan(sandbox, book, SENTINEL_GLOBAL_DENY="198.19.200.0/24")
    assert_refused(run, "resolver")


def test_resolver_in_mapped_form_of_denied_address_refused(sandbox: Sandbox) -> None:
    """The resolver written as ::ffff:198.18.66.53 is 198.18.66.53: inside the authorised
    198.18.0.0/15, and inside the deny list."""
    book = sandbox.write("book.yml", playbook(
        authorised=["198.18.0.0/15"], deny=["198.18.66.0/24"],
        segments=[segment(["198.18.10.0/24"], ["198.18.10.10"])],
        resolvers=["::ffff:198.18.66.53"], sites=[SITE]))
    run = _scan(sandbox, book)
    assert_refused(run, "resolver")


def test_resolver_inside_scope_is_used(sandbox: Sandbox) -> None:
    """An authorised resolver is asked (the query ends in the empty namespace)."""
    book = sandbox.write("book.yml", playbook(
        authorised=["198.18.0.0/15"], segments=[segment(["198.18.10.0/24"], ["198.18.10.10"])],
        resolvers=["198.18.10.53"], sites=[SITE], probes={"tcp": None}))
    run = _scan(sandbox, book)
    assert_no_crash(run)
    assert any(a.address == "198.18.10.53" and a.port == 53 for a in run.attempts), (
        run.describe())


# -- authorised scopes covering public space -------------------------------------------------

# (authorised, segment CIDR inside it, a host in that segment)
PUBLIC_SCOPES = [
    (["0.0.0.0/0"], "198.18.10.0/24", "198.18.10.10"),
    (["::/0"], "2001:db8:10::/64", "2001:db8:10::10"),
    (["8.0.0.0/8"], "8.8.8.0/24", "8.8.8.8"),
    (["2000::/3"], "2001:4860:4860::/64", "2001:4860:4860::8888"),
    (["198.18.0.0/15", "100.0.0.0/8"], "198.18.10.0/24", "198.18.10.10"),
    (["::ffff:0:0/96"], "::ffff:198.18.10.0/120", "::ffff:198.18.10.10"),
    (["198.18.0.0/15", "64:ff9b::/96"], "64:ff9b::198.18.10.0/120", "64:ff9b::198.18.10.10"),
    (["198.18.0.0/15", "2002::/16"], "2002:c612:a0a::/48", "2002:c612:a0a::1"),
]
PUBLIC_IDS = ["v4-any", "v6-any", "v4-public-/8", "v6-global-unicast", "partly-public",
              "mapped-any", "nat64-prefix", "6to4-prefix"]


@pytest.mark.parametrize("authorised,cidr,host", PUBLIC_SCOPES, ids=PUBLIC_IDS)
def test_public_scope_needs_the_flag(sandbox: Sandbox, authorised: list[str], cidr: str,
                                     host: str) -> None:
    book = sandbox.write("book.yml", playbook(authorised=authorised,
                                              segments=[segment([cidr], [host])]))
    run = _scan(sandbox, book)
    assert_refused(run, "--allow-public-scope")


@pytest.mark.parametrize("authorised,cidr,host", [
    (["10.0.0.0/8"], "10.1.2.0/24", "10.1.2.3"),
    (["fd00::/8"], "fd00:1::/64", "fd00:1::3"),
    (["100.64.0.0/10"], "100.64.1.0/24", "100.64.1.1"),
    (["198.18.0.0/15", "2001:db8::/32"], "198.18.10.0/24", "198.18.10.10"),
], ids=["rfc1918", "ula", "shared-cgnat", "lab"])
def test_private_scope_needs_no_flag(sandbox: Sandbox, authorised: list[str], cidr: str,
                                     host: str) -> None:
    """Private, shared and documentation space is not public: no flag needed. Shown with
    --dry-run, which plans the target and sends nothing (no address outside the lab ranges is
    ever sent to, not even inside the empty namespace)."""
    book = sandbox.write("book.yml", playbook(authorised=authorised,
                                              segments=[segment([cidr], [host])]))
    run = sandbox.run("scan", "--playbook", book, "--store", sandbox.store, "--dry-run")
    assert_no_crash(run)
    assert run.status == 0 and "allow-public-scope" not in run.stderr, run.describe()
    assert host in run.stdout and not run.attempts, run.describe()


def test_public_scope_with_the_flag_is_scanned(sandbox: Sandbox) -> None:
    book = sandbox.write("book.yml", playbook(
        authorised=["0.0.0.0/0"], segments=[segment(["198.18.10.0/24"], ["198.18.10.10"])]))
    run = sandbox.run("scan", "--playbook", book, "--store", sandbox.store,
                      "--allow-public-scope")
    assert_no_crash(run)
    assert "no such option" not in run.stderr.lower(), run.describe()
    assert [a.address for a in run.outbound] == ["198.18.10.10"] * len(run.outbound), (
        run.describe())
    assert run.outbound, f"the flagged scan did not run\n{run.describe()}"


def test_public_scope_flag_does_not_override_the_deny_lists(sandbox: Sandbox) -> None:
    book = sandbox.write("book.yml", playbook(
        authorised=["0.0.0.0/0", "::/0"],
        segments=[segment(["::ffff:8.8.8.0/120"], ["::ffff:8.8.8.8"])]))
    run = sandbox.run("scan", "--playbook", book, "--store", sandbox.store,
                      "--allow-public-scope", env=sandbox.env(SENTINEL_GLOBAL_DENY="8.8.8.8/32"))
    assert_refused(run, "deny")
