"""Findings as SARIF 2.1.0 (OASIS): one run of the Sentinel driver, one rule per check, one
result per finding; a finding's location is its endpoint (``tcp://address:port``) and its
asset, its key the partial fingerprint; an accepted finding carries an accepted external
suppression with the acceptance's reason and approver.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

from sentinel import __version__
from sentinel.catalog.checks import checks
from sentinel.model import ScanRecord, doc_field
from sentinel.report.safe import visible

SCHEMA_URI = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
# Sentinel's severities as SARIF levels (the schema's enum); security-severity is GitHub's
# 0-10 scale, from the stored risk score.
_LEVEL = {"critical": "error", "high": "error", "medium": "warning", "low": "note",
          "info": "note"}




def _text(value: Any) -> str:
    return visible(str(value)) if value is not None else ""


def _rule(check_id: str) -> dict[str, Any]:
    spec = checks().get(check_id)
    if spec is None:  # a store written by an older catalog: the id alone
        return {"id": check_id}
    return {
        "id": check_id,
        "name": check_id,
        "shortDescription": {"text": spec.title.en},
        "fullDescription": {"text": spec.title.zh},
        "defaultConfiguration": {"level": _LEVEL.get(str(spec.severity), "warning")},
        "properties": {"tags": ["security", *spec.references],
                       "security-severity": f"{spec.severity.risk_score / 10:.1f}"},
    }


def _uri(doc: dict[str, Any]) -> str:
    address, port = doc_field(doc, "destination", "ip"), doc_field(doc, "destination", "port")
    if not isinstance(address, str) or not address:
        return "urn:sentinel:asset:" + "".join(
            c if c.isalnum() or c in "-._" else f"%{ord(c):02X}" for c in
            str(doc_field(doc, "host", "id") or "unknown")[:255])
    address = quote(address[:64], safe=":.")  # an IP as stored; anything else escaped
    host = f"[{address}]" if ":" in address else address
    transport = doc_field(doc, "network", "transport") or "tcp"
    suffix = f":{port}" if isinstance(port, int) and not isinstance(port, bool) else ""
    return f"{transport if transport in ('tcp', 'udp') else 'tcp'}://{host}{suffix}"


def _result(doc: dict[str, Any], index: dict[str, int]) -> dict[str, Any]:
    check_id = str(doc_field(doc, "rule", "id"))
    severity = str(doc_field(doc, "sentinel", "severity") or "medium")
    failed = doc_field(doc, "result", "evaluation") == "failed"
    asset = _text(doc_field(doc, "host", "id"))
    title = doc_field(doc, "sentinel", "title") or {}
    result: dict[str, Any] = {
        "ruleId": check_id,
        "ruleIndex": index[check_id],
        # an errored check is not a failure: SARIF's "open" (could not decide), level none
        "kind": "fail" if failed else "open",
        "level": _LEVEL.get(severity, "warning") if failed else "none",
        "message": {"text": f"{_text(title.get('zh'))} / {_text(title.get('en'))}: {asset}"},
        "locations": [{
            "physicalLocation": {"artifactLocation": {"uri": _uri(doc)}},
            "logicalLocations": [{"name": asset, "kind": "resource",
                                  "fullyQualifiedName":
                                      f"{_text(doc_field(doc, 'organization', 'id'))}/{asset}"}],
        }],
        "properties": {"severity": severity,
                       "agency": _text(doc_field(doc, "organization", "id")),
                       "status": _text(doc_field(doc, "sentinel", "finding", "status"))},
    }
    key = doc_field(doc, "sentinel", "finding", "key")
    if isinstance(key, str) and key:
        result["partialFingerprints"] = {"sentinelFindingKey/v1": key}
    acceptance = doc_field(doc, "sentinel", "acceptance")
    if isinstance(acceptance, dict) and acceptance.get("state") == "active":
        result["suppressions"] = [{
            "kind": "external", "status": "accepted",
            "justification": f"{_text(acceptance.get('reason'))} (approved by "
                             f"{_text(acceptance.get('approver'))}, until "
                             f"{_text(acceptance.get('expires'))})",
        }]
    return result


def sarif_log(docs: list[dict[str, Any]], scan: ScanRecord) -> dict[str, Any]:
    """The SARIF log of one scan's finding documents (marked by any acceptances)."""
    rule_ids = sorted({str(doc_field(d, "rule", "id")) for d in docs})
    index = {rule_id: n for n, rule_id in enumerate(rule_ids)}
    return {
        "$schema": SCHEMA_URI,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {"name": "Sentinel", "version": __version__,
                                "rules": [_rule(r) for r in rule_ids]}},
            "automationDetails": {"id": f"sentinel/{visible(scan.id)}"},
            "results": [_result(d, index) for d in docs],
        }],
    }


def sarif_json(docs: list[dict[str, Any]], scan: ScanRecord) -> str:
    return json.dumps(sarif_log(docs, scan), ensure_ascii=False, indent=1) + "\n"
