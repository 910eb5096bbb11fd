"""Sentinel's Sigma rules fired by real lab scenarios, through the real CLI.

Four scans of the whole lab (``playbooks/lab.yml``) into a fresh store, with the lab's own
injects between them (:mod:`sentinel.lab.injects`, the ones drills use):

1. the lab as built;
2. telnet opened on legacy.test and ws.test (segment ``data``, extranet), an RDP port on
   portal.test (segment ``dmz``, same agency), TLCP replaced by plain TLS on
   tlcp.cloud.test, IPv6 removed from www.city.test and ftp.city.test;
3. telnet closed again on legacy.test (its finding resolves);
4. telnet opened again on legacy.test (its finding reopens).

A fifth run narrows the lab playbook's authorised scope to the management segment: the scan
is refused before any packet, and the refusals raise the scope rules.

``sentinel detect --scan`` over each scan must raise the rules listed for it, with the host
and port of the scenario. Rules no lab scenario can fire are listed in ``rules/README.md``
with the reason; ``test_every_rule_is_fired_here_or_explained`` holds the two lists together.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
import yaml

from sentinel.detect.sigma import load_rules
from sentinel.lab import LabStatus, load_manifest
from sentinel.lab.injects import InjectKind, apply, revert
from sentinel.lab.state import LabPaths
from sentinel.store.sqlite import SqliteStore

pytestmark = pytest.mark.lab
REPO = Path(__file__).resolve().parents[3]

# (inject, lab host id, port)
OPENED: list[tuple[InjectKind, str, int | None]] = [
    ("open-service", "legacy", 23),
    ("open-service", "ws", 23),
    ("open-service", "portal", 3389),
    ("disable-national-crypto", "tlcp", None),
    ("drop-ipv6", "web", None),
    ("drop-ipv6", "ftp", None),
]

# rule file stem -> the scan (1-4) of the scenario that fires it, and a host it names
FIRED: dict[str, tuple[int, str]] = {
    # findings of the lab as built
    "broken-cipher": (1, "legacy.test"),
    "certificate-problem": (1, "tlcp.cloud.test"),
    "cipher-family-regex": (1, "legacy.test"),
    "cleartext-credentials": (1, "ftp.city.test"),
    "database-port-exposed": (1, "db.city.test"),
    "high-risk-port": (1, "telnet.test"),
    "management-port-exposed": (1, "oldssh.test"),
    "mipin-level3-confidentiality": (1, "portal.test"),
    "telnet-exposed": (1, "telnet.test"),
    "tlcp-absent": (1, "portal.test"),
    "tls-legacy-version": (1, "legacy.test"),
    "weak-certificate-hash": (1, "legacy.test"),
    # changes made by the injects
    "service-opened": (2, "ws.test"),
    "management-port-opened": (2, "portal.test"),
    "telnet-opened": (2, "legacy.test"),
    "telnet-spreading": (2, "ws.test"),
    "management-ports-across-segments": (2, "portal.test"),
    "national-crypto-lost": (2, "tlcp.cloud.test"),
    "sm-suite-removed": (2, "tlcp.cloud.test"),
    "certificate-changed": (2, "tlcp.cloud.test"),
    "ipv6-lost": (2, "www.city.test"),
    "segment-ipv6-regression": (2, "ftp.city.test"),
    # a remediated finding back
    "finding-reopened": (4, "legacy.test"),
    "severe-finding-reopened": (4, "legacy.test"),
    "telnet-reappeared": (4, "legacy.test"),
}


def _sentinel(args: list[str], store: Path) -> str:
    env = {**os.environ, "SENTINEL_STORE": str(store)}
    done = subprocess.run([sys.executable, "-m", "sentinel.cli", *args], env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def _scan(store: Path) -> str:
    _sentinel(["scan", "--playbook", str(REPO / "playbooks" / "lab.yml")], store)
    with SqliteStore(store, create=False) as opened:
        latest = opened.latest_scan()
        assert latest is not None and latest.status == "completed"
        return latest.id


def _alerts(store: Path, scan_id: str) -> list[dict[str, Any]]:
    out = _sentinel(["detect", "--scan", scan_id, "--json"], store)
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def _stems() -> dict[str, str]:
    ruleset = load_rules()
    out = {PurePosixPath(r.source).stem: r.id for r in ruleset.rules}
    out.update({PurePosixPath(c.source).stem: c.id for c in ruleset.correlations})
    return out


def _hosts(alert: dict[str, Any]) -> set[str]:
    return set(alert.get("host", {}).get("id", []))


@pytest.fixture
def injected(lab: LabStatus) -> Iterator[tuple[Any, LabPaths]]:
    """The lab's manifest and paths; every inject of this test reverted afterwards."""
    manifest, paths = load_manifest(), LabPaths.from_env()
    try:
        yield manifest, paths
    finally:
        for kind, host, port in OPENED:
            revert(kind, manifest, paths, host, port)


def test_rules_fire_on_real_lab_scenarios(
    injected: tuple[Any, LabPaths], tmp_path: Path
) -> None:
    manifest, paths = injected
    store = tmp_path / "sentinel.db"
    scans = [_scan(store)]
    for kind, host, port in OPENED:
        apply(kind, manifest, paths, host, port)
    scans.append(_scan(store))
    revert("open-service", manifest, paths, "legacy", 23)
    scans.append(_scan(store))
    apply("open-service", manifest, paths, "legacy", 23)
    scans.append(_scan(store))
    alerts = [_alerts(store, scan_id) for scan_id in scans]

    stems = _stems()
    missing = []
    for stem, (scan_no, host) in sorted(FIRED.items()):
        raised = [a for a in alerts[scan_no - 1] if a["rule"]["id"] == stems[stem]]
        if not any(host in _hosts(a) for a in raised):
            missing.append((stem, scan_no, host, [sorted(_hosts(a)) for a in raised]))
    assert missing == []

    # levels are the findings' own: TLS 1.0 on legacy.test is high, as in reports
    legacy = [a for a in alerts[0] if a["rule"]["id"] == stems["tls-legacy-version"]
              and a["sentinel"]["alert"]["check"] == ["TLS-PROTO-10"]]
    assert legacy and {a["sentinel"]["severity"] for a in legacy} == {"high"}
    # the reserved documentation range is not global: no alert on the lab's 2001:db8::/32
    assert not [a for scan in alerts for a in scan
                if a["rule"]["id"] == stems["severe-on-global-ipv6"]]
    # the lab's segment `cloud` names no tenant, yet none of its findings is a cloud (CLOUD-)
    # finding: the rule for cloud findings without a tenant stays quiet (it raised on all)
    assert not [a for scan in alerts for a in scan
                if a["rule"]["id"] == stems["cloud-finding-without-tenant"]]
    # a finding that stays open alerts once: telnet on ws.test opened in scan 2, not again
    telnet = stems["telnet-exposed"]
    assert [a for a in alerts[1] if a["rule"]["id"] == telnet and "ws.test" in _hosts(a)]
    for later in alerts[2:]:
        assert not [a for a in later if a["rule"]["id"] == telnet and "ws.test" in _hosts(a)]
    # the lab as built raises nothing new when scanned again with nothing changed
    assert not [a for a in alerts[2] if a["rule"]["id"] == stems["tls-legacy-version"]]
    # an alert names its endpoint: the reopened telnet on legacy.test, port 23
    back = next(a for a in alerts[3] if a["rule"]["id"] == stems["finding-reopened"])
    assert back["destination"]["port"] == [23] and back["sentinel"]["segment"] == ["data"]
    assert back["organization"]["id"] == "prov-data"


REFUSED = ("scope-refused", "scope-refusal-burst")


def test_refusing_lab_segments_raises_the_scope_rules(tmp_path: Path) -> None:
    """The lab playbook with its scope narrowed to the management segment: refused whole
    (exit 2, nothing sent, no scan recorded), one scope-refused event per refused target."""
    spec: dict[str, Any] = yaml.safe_load((REPO / "playbooks" / "lab.yml").read_text("utf-8"))
    spec["scope"] = {"authorised": ["198.18.30.0/24", "2001:db8:30::/64"], "deny": []}
    spec.pop("sites", None)
    playbook, store = tmp_path / "narrow.yml", tmp_path / "sentinel.db"
    playbook.write_text(yaml.safe_dump(spec, allow_unicode=True), "utf-8")
    env = {**os.environ, "SENTINEL_STORE": str(store)}
    done = subprocess.run([sys.executable, "-m", "sentinel.cli", "scan", "--playbook",
                           str(playbook)], env=env, cwd=REPO, capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 2 and "outside the authorised scope" in done.stderr
    with SqliteStore(store, create=False) as opened:
        assert opened.latest_scan() is None
        assert not list(opened.documents("findings"))
    alerts = [json.loads(line) for line in _sentinel(
        ["detect", "--since", "2000-01-01T00:00:00Z", "--json"], store).splitlines()
        if line.startswith("{")]
    stems = _stems()
    refused = [a for a in alerts if a["rule"]["id"] == stems["scope-refused"]]
    burst = [a for a in alerts if a["rule"]["id"] == stems["scope-refusal-burst"]]
    assert len(refused) >= 5 and len(burst) >= 1
    assert burst[0]["organization"]["id"] == "prov-data"


def test_every_rule_is_fired_here_or_explained() -> None:
    """Each rule is in FIRED above or named, with its reason, in rules/README.md."""
    readme = (REPO / "rules" / "README.md").read_text("utf-8")
    section = readme.split("## Rules the lab cannot fire", 1)[1].split("\n## ", 1)[0]
    heads = [line.split(":", 1)[0] for line in section.splitlines() if line.startswith("- ")]
    explained = {stem for head in heads for stem in re.findall(r"`([a-z0-9-]+)`", head)}
    stems = set(_stems())
    fired = set(FIRED) | set(REFUSED)
    assert stems == fired | explained, (stems - fired - explained, explained - stems)
    assert not fired & explained
