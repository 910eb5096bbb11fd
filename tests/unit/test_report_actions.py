"""What to fix first (issue 18 items 2 and 5): one action per root cause per endpoint, ranked
by severity, exposure and due date; endpoint grades; the due-date timeline; severities and
statuses in the reader's language; an English report with no Chinese left.

The store is a real SQLite store filled with findings through the real lifecycle, as a scan
of two endpoints would leave it: portal.test:443 (internet-facing, international TLS only)
and legacy.test:443 (extranet, SSL 3.0 and a SHA-1 certificate)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from sentinel.catalog import checks as catalog
from sentinel.model import (
    Asset,
    AttemptStatus,
    Context,
    Endpoint,
    Evaluation,
    Finding,
    Observation,
    ScanRecord,
    Text,
)
from sentinel.playbook import Agency
from sentinel.report.actions import actions_file
from sentinel.report.html import agency_document, find_scan
from sentinel.report.view import AgencyView, agency_view
from sentinel.scan.lifecycle import apply
from sentinel.store.sqlite import SqliteStore

WHEN = datetime(2026, 11, 2, 2, 0, tzinfo=UTC)
AGENCY = Agency(id="prov-data", name=Text(zh="省大数据局", en="Provincial Data Bureau"))
PORTAL = Asset(id="portal.test", name="portal.test", addresses=("198.18.10.10",))
LEGACY = Asset(id="legacy.test", name="legacy.test", addresses=("198.18.11.20",))
FAILED = {
    # (asset, zone): checks failed on port 443
    ("portal", "internet-facing"): ("GM-TLCP-ABSENT", "MP-N1-AUTH", "MP-N3-CONF",
                                    "TLS-CIPHER-CBC"),
    ("legacy", "extranet"): ("TLS-PROTO-SSL", "TLS-CERT-HASH", "MP-GEN-ALG", "TLS-CIPHER-CBC"),
}
CJK = re.compile(r"[\u2e80-\u9fff\uff00-\uffef\u3000-\u303f]")


def _tls_facts(versions: list[str]) -> dict[str, object]:
    return {"versions": versions,
            "accepted": [{"protocol": versions[0], "code": "0xC02F",
                          "name": "ECDHE-RSA-AES128-GCM-SHA256"}],
            "certificates": [], "posture": {"key_exchange": ["classical"],
                                            "authentication": ["classical"]}}


@pytest.fixture(scope="module")
def view(tmp_path_factory: pytest.TempPathFactory) -> AgencyView:
    store = SqliteStore(tmp_path_factory.mktemp("actions") / "s.db")
    store.save_scan(ScanRecord(id="scan-1", playbook="playbooks/lab.yml", started=WHEN))
    for (name, zone), check_ids in FAILED.items():
        asset = PORTAL if name == "portal" else LEGACY
        ctx = Context(scan_id="scan-1", agency_id=AGENCY.id, agency_name=AGENCY.name.zh,
                      segment_id=f"seg-{name}", zone=zone)
        endpoint = Endpoint(address=asset.addresses[0], port=443)
        versions = ["TLSv1.2"] if name == "portal" else ["SSLv3", "TLSv1.2"]
        store.add_observations([
            Observation(probe="tcp", context=ctx, asset=asset, endpoint=endpoint,
                        status=AttemptStatus.COMPLETED, started=WHEN,
                        facts={"port": 443, "state": "open", "banner": ""}),
            Observation(probe="tls", context=ctx, asset=asset, endpoint=endpoint,
                        status=AttemptStatus.COMPLETED, started=WHEN,
                        facts=_tls_facts(versions))])
        findings = []
        for check_id in check_ids:
            spec = catalog.check(check_id)
            findings.append(Finding(check_id=check_id, title=spec.title,
                                    evaluation=Evaluation.FAILED, severity=spec.severity,
                                    context=ctx, asset=asset, endpoint=endpoint, probe="tls",
                                    references=spec.references, evidence={"port": 443},
                                    observed_at=WHEN))
        outcome = apply({}, findings, {(asset.id, "tls")}, ctx, WHEN)
        store.add_findings(outcome.findings)
        store.save_states(outcome.states)
    store.save_scan(ScanRecord(id="scan-1", playbook="playbooks/lab.yml", started=WHEN,
                               finished=WHEN + timedelta(minutes=5), status="completed"))
    return agency_view(store, AGENCY.id, find_scan(store, None), AGENCY)


def test_the_data_file_names_only_real_checks_once() -> None:
    spec = actions_file()
    known = set(catalog.checks())
    assert spec.check_ids() <= known, sorted(spec.check_ids() - known)
    causes = [c for cause in spec.root_causes.values() for c in cause.checks]
    assert len(causes) == len(set(causes))
    assert spec.cause_of("MP-N1-AUTH") == spec.cause_of("GM-TLCP-ABSENT") == "tlcp"


def test_one_action_per_root_cause_per_endpoint_ranked(view: AgencyView) -> None:
    rows = [(a["asset"], a["port"], a["severity"], a["zone"], sorted(a["checks"]))
            for a in view.actions]
    assert rows == [
        # high, internet-facing first
        ("portal.test", 443, "high", "internet-facing",
         ["GM-TLCP-ABSENT", "MP-N1-AUTH", "MP-N3-CONF"]),
        # high, extranet: MP-GEN-ALG is cited with the certificate hash it restates
        ("legacy.test", 443, "high", "extranet", ["MP-GEN-ALG", "TLS-CERT-HASH"]),
        ("legacy.test", 443, "high", "extranet", ["TLS-PROTO-SSL"]),
        ("portal.test", 443, "low", "internet-facing", ["TLS-CIPHER-CBC"]),
        ("legacy.test", 443, "low", "extranet", ["TLS-CIPHER-CBC"]),
    ]
    assert [a["rank"] for a in view.actions] == [1, 2, 3, 4, 5]
    assert view.actions[0]["title"]["en"].startswith("Deploy a national-crypto channel")
    failed = sum(len(g["items"]) for g in view.groups)
    assert failed == 8 and sum(a["findings"] for a in view.actions) == failed


def test_grades_and_timeline(view: AgencyView) -> None:
    grades = {(g["asset"], g["port"]): (g["tls"], g["national"]) for g in view.grades}
    # legacy: SSL 3.0 and a SHA-1 certificate cap TLS at C; a high-risk algorithm caps the
    # national grade at D. portal: clean TLS, but no national-crypto channel at all (F).
    assert grades == {("legacy.test", 443): ("C", "D"), ("portal.test", 443): ("A", "F")}
    high, low = (view.actions[0]["due"], view.actions[-1]["due"])
    assert high < low
    assert view.timeline == [{"date": high, "actions": 3, "overdue": False},
                             {"date": low, "actions": 2, "overdue": False}]


def _text(html: str) -> str:
    return re.sub(r"<[^>]+>", " ", html)


def test_zh_report_speaks_chinese_and_puts_actions_first(view: AgencyView) -> None:
    html = str(agency_document(view, "html", "zh"))
    assert html.index('id="actions"') < html.index('id="scores"') < html.index('id="findings"')
    findings = html[html.index('id="findings"'):html.index('id="appendix"')]
    # Every finding row carries its severity and its status, in Chinese.
    rows = re.findall(r"<tr>\n<td>.*?</tr>", findings, re.S)
    assert len(rows) == 8
    assert all(row.count("<td>未通过 / 未整改</td>") == 1 for row in rows)
    row_severities = sorted(re.findall(r'<td><span class="sev \w+">(\w+)</span></td>',
                                       findings))
    words = {"critical": "严重", "high": "高危", "medium": "中危", "low": "低危", "info": "提示"}
    assert row_severities == sorted(words[catalog.check(c).severity.value]
                                    for checks in FAILED.values() for c in checks)
    assert ">failed" not in findings and ">open" not in findings and ">high<" not in findings
    text = _text(html)
    assert "扫描配置" in text and "剧本" not in text
    assert "暴露面控制得分" in text
    assert "部署国密安全通道" in text and "封顶" in text and "整改期限时间线" in text


def test_en_report_has_no_chinese_left(view: AgencyView, tmp_path: Path) -> None:
    html = str(agency_document(view, "html", "en"))
    # References cite Chinese documents by their titles (GB/T numbers, 密码应用高风险判定指引):
    # citations stay as published; everything else is English.
    html = re.sub(r'<p class="refs">.*?</p>', "", html)
    text = _text(html)
    assert "commercial cryptography assessment (mipin)" in text
    left = sorted(set(CJK.findall(html)))
    assert not left, [line for line in text.splitlines() if CJK.search(line)][:10]
    assert "not tested" in text and "High" in text and "failed / open" in text
    assert "What to fix first" in text and "Due-date timeline" in text


def test_the_docs_state_the_data_file_s_tables() -> None:
    docs = (Path(__file__).parents[2] / "docs" / "reports.md").read_text(encoding="utf-8")
    spec = actions_file()
    stated = re.findall(r"^\| ([A-Z0-9-]+) \| ([A-F]) \|$", docs, re.M)
    assert stated == [*spec.grades.tls.items(), *spec.grades.national.items()]
    causes = re.findall(r"^\| `([a-z-]+)` \| .* \| (.*) \|$", docs, re.M)
    assert causes == [(k, ", ".join(c.checks)) for k, c in spec.root_causes.items()]
