"""Issue 18 items 1, 3 and 4 in the reports: no wrong answers (a dimension nothing observed is
未测 / not tested, never 100; the IPv6 score is the V6 indicator set), readable evidence (no
Python reprs, no internal fields, the SSH appendix from what the ssh probe stores, no empty
tables for closed ports, binary banners escaped) and one row per name server for V6-NS.

The store is filled through the real assessors (IPv6, exposure) and the real lifecycle; the
SSH facts are built by the ssh probe's own fact functions from a parsed KEXINIT."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from sentinel.assess.base import AssetView
from sentinel.assess.exposure import assess_exposure
from sentinel.assess.ipv6 import assess_ipv6, shared_findings
from sentinel.catalog.ssh import ssh_registry
from sentinel.model import (
    Asset,
    AttemptStatus,
    Context,
    Endpoint,
    Observation,
    ScanRecord,
)
from sentinel.playbook import Segment
from sentinel.probes.ssh import algorithm_facts, banner_facts
from sentinel.report.evidence import public, readable
from sentinel.report.html import agency_document, find_scan
from sentinel.report.inventory import banner_text
from sentinel.report.view import agency_view
from sentinel.scan.lifecycle import apply
from sentinel.store.sqlite import SqliteStore
from sentinel.wire import ssh as wire

WHEN = datetime(2026, 11, 2, 3, 0, tzinfo=UTC)
SCAN = "readable-1"
# As the tcp probe stores it: bytes that are not UTF-8 (telnet IAC DO TTYPE ...) as \\xNN text,
# the rest decoded, control bytes (NUL, ESC, CR LF) included.
TELNET_BANNER = b"\xff\xfd\x18\xff\xfb\x01\x00\x1b[2J\r\nlogin: ".decode(
    "utf-8", "backslashreplace")


def _home(rate: float) -> dict[str, Any]:
    return {"address": "x", "attempts": 5, "successes": int(rate * 5), "success_rate": rate,
            "title": "t", "size": 100, "connect_ms": 0.5, "first_byte_ms": 1.0}


def _site(hostname: str, *, aaaa: bool, url: bool = True) -> dict[str, Any]:
    """A site probe's facts: zone test. with ns0.test on IPv6 and ns1.test without AAAA."""
    return {
        "hostname": hostname, "url": f"http://{hostname}/" if url else None,
        "dns": {"a": ["198.18.13.10"], "aaaa": ["2001:db8:13::10"] if aaaa else [],
                "dns_ms": {"ipv4": 1.0, "ipv6": 1.0}, "zone": "test.",
                "name_servers": [{"name": "ns0.test", "aaaa": ["2001:db8:30::53"],
                                  "answers_v6": {"2001:db8:30::53": True}, "v6_ok": True},
                                 {"name": "ns1.test", "aaaa": [], "answers_v6": {},
                                  "v6_ok": False}]},
        "home": {"ipv4": _home(1.0), "ipv6": _home(1.0) if aaaa else None},
        "links": {"2": {"total": 4, "ok": 4, "ratio": 1.0, "failed": []},
                  "3": {"total": 3, "ok": 3, "ratio": 1.0, "failed": []}},
    }


def _ssh_facts() -> dict[str, Any]:
    """What the ssh probe stores for an OpenSSH server, built by the probe's own functions."""
    kexinit = wire.KexInit(
        cookie=bytes(16), kex_algorithms=("curve25519-sha256", "kex-strict-s-v00@openssh.com"),
        server_host_key_algorithms=("ssh-ed25519", "rsa-sha2-512"),
        encryption_algorithms_client_to_server=("aes256-gcm@openssh.com", "aes128-ctr"),
        encryption_algorithms_server_to_client=("aes256-gcm@openssh.com", "aes128-ctr"),
        mac_algorithms_client_to_server=("hmac-sha2-256-etm@openssh.com",),
        mac_algorithms_server_to_client=("hmac-sha2-256-etm@openssh.com",),
        compression_algorithms_client_to_server=("none",),
        compression_algorithms_server_to_client=("none",))
    banner = wire.parse_identification(b"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n")
    return {"port_state": "open", "banner": banner_facts(banner), "ssh1": False, "ssh2": True,
            **algorithm_facts(kexinit, ssh_registry()),
            "host_keys": [{"algorithm": "ssh-ed25519", "type": "ed25519", "bits": 256,
                           "fingerprint_sha256": "SHA256:fixedfingerprintAAAA", "kex": "x"}],
            "host_key_errors": [], "host_keys_not_fetched": ["rsa-sha2-512"]}


def _segment(agency: str) -> Segment:
    return Segment(id=f"{agency}-seg", agency=agency, zone="internet-facing",
                   cidrs=("198.18.13.0/24", "2001:db8:13::/64"),
                   allowed_services=("http", "https", "ssh"))


SHARED: dict[int, dict[str, Any]] = {}


def _record(store: SqliteStore, agency: str, asset: Asset,
            observed: list[tuple[str, str, int | None, dict[str, Any]]]) -> None:
    ctx = Context(scan_id=SCAN, agency_id=agency, agency_name=agency,
                  segment_id=f"{agency}-seg")
    observations = [Observation(probe=probe, context=ctx, asset=asset,
                                endpoint=Endpoint(address=address, port=port),
                                status=AttemptStatus.COMPLETED, facts=facts, started=WHEN)
                    for probe, address, port, facts in observed]
    store.add_observations(observations)
    view = AssetView(asset, ctx, _segment(agency), observations)
    # as a scan records them (sentinel.scan.run): a name server's V6-NS merged across websites
    judged = shared_findings(SHARED.setdefault(id(store), {}),
                             assess_ipv6(view) + assess_exposure(view))
    outcome = apply({}, judged, {(asset.id, o.probe) for o in observations}, ctx, WHEN)
    store.add_findings(outcome.findings)
    store.save_states(outcome.states)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> SqliteStore:
    db = SqliteStore(tmp_path_factory.mktemp("readable") / "r.db")
    db.save_scan(ScanRecord(id=SCAN, playbook="readable", started=WHEN))
    # "web": a ready website, a website without AAAA (both: ns1.test has no AAAA), a host
    # with telnet (binary banner), SSH open with algorithms, and SSH closed on 2222.
    for name, aaaa in (("a.test", True), ("b.test", False), ("c.test", False)):
        _record(db, "web", Asset(id=f"site:{name}", name=name),
                [("site", "198.18.13.10", None, _site(name, aaaa=aaaa))])
    host = Asset(id="host.test", name="host.test", addresses=("198.18.13.22",))
    _record(db, "web", host, [
        ("tcp", "198.18.13.22", 23, {"state": "open", "banner": TELNET_BANNER}),
        ("tcp", "198.18.13.22", 22, {"state": "open", "banner": "SSH-2.0-OpenSSH_9.2p1\r\n"}),
        ("ssh", "198.18.13.22", 22, _ssh_facts()),
        ("ssh", "198.18.13.22", 2222, {"port_state": "closed"}),
    ])
    # "quiet": only a name without a website (a switch): nothing measured.
    _record(db, "quiet", Asset(id="site:sw1.test", name="sw1.test"),
            [("site", "198.18.13.30", None, _site("sw1.test", aaaa=False, url=False))])
    db.save_scan(ScanRecord(id=SCAN, playbook="readable", started=WHEN,
                            finished=WHEN + timedelta(minutes=1), status="completed"))
    return db


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_nothing_observed_is_not_tested_never_100(store: SqliteStore) -> None:
    view = agency_view(store, "quiet", find_scan(store, None))
    assert view.scores.as_dict()["overall"] is None
    assert (view.scores.ipv6, view.scores.crypto, view.scores.exposure) == (None, None, None)
    zh, en = agency_document(view, "html", "zh"), agency_document(view, "html", "en")
    assert isinstance(zh, str) and isinstance(en, str)
    scores_zh = _text(zh[zh.index('id="scores"'):zh.index('id="changes"')])
    scores_en = _text(en[en.index('id="scores"'):en.index('id="changes"')])
    assert "100.0" not in scores_zh and scores_zh.count("未测") >= 4
    assert "100.0" not in scores_en and scores_en.count("not tested") >= 4
    assert "本次扫描未发现问题" not in zh and "未观测到可评分的服务" in zh
    assert "No findings in this scan" not in en


def test_ipv6_score_is_the_mean_of_the_websites_v6_score(store: SqliteStore) -> None:
    view = agency_view(store, "web", find_scan(store, None))
    # a.test: everything but half the name servers: 100 - 10/2 = 95. b.test and c.test
    # without AAAA: aaaa 0, ns 5, home 0, consist 0, link2 15, link3 10, perf 10 = 40.
    assert view.scores.ipv6 == pytest.approx((95 + 40 + 40) / 3, abs=0.05)
    assert view.scores.exposure is not None  # the tcp probe ran on host.test


def test_evidence_has_no_reprs_and_no_internal_fields(store: SqliteStore) -> None:
    view = agency_view(store, "web", find_scan(store, None))
    html = agency_document(view, "html", "zh")
    assert isinstance(html, str)
    findings = html[html.index('id="findings"'):html.index('id="appendix"')]
    shown = _text(findings)
    assert "V6-SCORE" in shown and "V6-HOME" in shown
    for repr_mark in ("{'", "['", "True", "False", "None", "_status"):
        assert repr_mark not in shown, repr_mark
    assert "partial: 否" in shown  # a boolean in words
    assert "aaaa=20" in shown  # the score weights, as key=value
    assert "（非已核实的规定值）" in shown or "(非已核实的规定值)" in shown  # unverified threshold
    as_json = json.loads(str(agency_document(view, "json", "en")))
    evidence = [i["evidence"] for g in as_json["findings"] for i in g["items"]]
    assert not any(k.endswith("_status") for e in evidence for k in e)


def test_v6_ns_is_one_row_per_name_server_without_ipv6(store: SqliteStore) -> None:
    view = agency_view(store, "web", find_scan(store, None))
    (group,) = [g for g in view.groups if g["check_id"] == "V6-NS"]
    assert [i["asset"] for i in group["items"]] == ["ns1.test"]
    assert group["items"][0]["evidence"]["websites"] == ["a.test", "b.test", "c.test"]
    assert view.counts[group["severity"]] >= 1
    # three websites judged, one V6-SCORE each; the switch of "quiet" had none
    scores = store.findings(scan_id=SCAN, check_id="V6-SCORE", evaluations=("passed", "failed"))
    assert sorted(d["host"]["name"] for d in scores) == ["a.test", "b.test", "c.test"]


def test_ssh_appendix_shows_what_the_probe_stores(store: SqliteStore, tmp_path: Path) -> None:
    view = agency_view(store, "web", find_scan(store, None))
    html = agency_document(view, "html", "en")
    assert isinstance(html, str)
    appendix = _text(html[html.index('id="appendix"'):])
    for words in ("Banner SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3",
                  "Key exchange curve25519-sha256",
                  "Host key algorithms ssh-ed25519, rsa-sha2-512",
                  "Host keys ssh-ed25519 256 SHA256:fixedfingerprintAAAA",
                  "Ciphers aes256-gcm@openssh.com, aes128-ctr",
                  "MACs hmac-sha2-256-etm@openssh.com"):
        assert words in appendix, words
    assert "2222" not in appendix  # the closed SSH port: no (empty) table
    assert appendix.count("SSH algorithms") == 1
    assert "sw1.test" not in agency_document(agency_view(store, "quiet",
                                                         find_scan(store, None)), "html", "en")


def test_binary_banner_is_escaped_and_readable(store: SqliteStore) -> None:
    view = agency_view(store, "web", find_scan(store, None))
    html = agency_document(view, "html", "zh")
    assert isinstance(html, str)
    assert "\\xff\\xfd\\x18\\xff\\xfb\\x01\\x00\\x1b[2J\\r\\nlogin: " in html
    assert not re.search("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]", html)
    assert banner_text("SSH-2.0-x\r\n") == "SSH-2.0-x"
    assert banner_text("<b>" * 100) == "<b>" * 66 + "<b" + "…"


def test_readable_and_public_units() -> None:
    assert readable([{"name": "ns1.test", "v6_ok": False}], yes="是", no="否") == \
        "(name=ns1.test, v6_ok=否)"
    assert readable({"dns": 0.123456, "tcp": None}) == "dns=0.1235, tcp=—"
    assert readable([["a", "b"], "c"]) == "[a, b], c"
    shown, unverified = public({"threshold": 0.95, "threshold_status": "unverified",
                                "target": 90, "target_status": "verified",
                                "formula_status": "unverified", "empty": []})
    assert shown == {"target": 90, "threshold": 0.95} and unverified == ["threshold"]
