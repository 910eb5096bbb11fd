"""The tenant section of an agency's report: its government-cloud tenants as the CLOUD- findings
show them (issue 16 item 5).

One block per tenant the agency owns with failed ``CLOUD-`` findings in the scan: its security
groups and what fails on each, its exposure (what the groups open to everyone or to other
tenants), and, when such findings exist, drift (a port the groups deny that a probe reached,
``CLOUD-DRIFT``) and an isolation matrix (``CLOUD-ISOLATION`` findings: which tenant reached
this one, from the evidence's ``from_tenant``). Reads the stored finding documents only.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

from sentinel.severity import Severity

EXPOSURE = ("CLOUD-SG-RISKYWORLD", "CLOUD-SG-CROSSTENANT", "CLOUD-SG-ANYINGRESS",
            "CLOUD-SG-V6WIDER", "CLOUD-EIP-RISKY")
NO_TENANT = "-"  # the block of findings whose project no playbook tenant maps


def _rank(severity: str) -> int:
    try:
        return Severity(severity).rank
    except ValueError:
        return len(Severity)


def _rules(evidence: dict[str, Any]) -> list[str]:
    """The rule labels a finding's evidence names (a group's rules, or what an EIP exposes)."""
    listed = evidence.get("rules") or evidence.get("exposed") or []
    out: list[str] = []
    for entry in listed if isinstance(listed, list) else []:
        if isinstance(entry, dict) and isinstance(entry.get("rule"), str):
            out.append(entry["rule"])
    return out[:20]


def tenant_sections(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The agency's tenant blocks, by tenant id; empty when it has no failed CLOUD- finding."""
    by_tenant: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for doc in docs:
        check = str(doc.get("rule", {}).get("id", ""))
        if check.startswith("CLOUD-") and doc.get("result", {}).get("evaluation") == "failed":
            by_tenant[doc.get("sentinel", {}).get("tenant") or NO_TENANT].append(doc)
    sections = []
    for tenant in sorted(by_tenant):
        found = by_tenant[tenant]
        groups: dict[str, dict[str, Any]] = {}
        exposure, drift = [], []
        reached: Counter[str] = Counter()
        for doc in sorted(found, key=lambda d: (d["rule"]["id"], d.get("host", {}).get("name")
                                                 or "")):
            check = doc["rule"]["id"]
            sentinel = doc.get("sentinel", {})
            evidence = sentinel.get("evidence") or {}
            name = doc.get("host", {}).get("name") or doc.get("host", {}).get("id") or ""
            severity = str(sentinel.get("severity", ""))
            item = {"check_id": check, "asset": name, "severity": severity,
                    "title": sentinel.get("title"), "rules": _rules(evidence)}
            if "group" in evidence:
                group = groups.setdefault(name, {"group": name, "checks": [],
                                                 "severity": severity})
                group["checks"].append(check)
                if _rank(severity) < _rank(group["severity"]):  # rank 0 is the most severe
                    group["severity"] = severity
            if check in EXPOSURE:
                exposure.append(item)
            if check.startswith("CLOUD-DRIFT"):
                drift.append(item)
            if check.startswith("CLOUD-ISOLATION"):
                reached[str(evidence.get("from_tenant") or NO_TENANT)] += 1
        sections.append({
            "tenant": tenant, "findings": len(found),
            "groups": sorted(groups.values(), key=lambda g: (_rank(g["severity"]), g["group"])),
            "exposure": sorted(exposure, key=lambda i: (_rank(i["severity"]), i["asset"])),
            "drift": drift,
            "isolation": [{"from": source, "to": tenant, "findings": count}
                          for source, count in sorted(reached.items())]})
    return sections
