"""Kibana detection rules (Security → Rules → Import) for Sentinel's Sigma rules.

Built here rather than with the backend's ``siem_rule_ndjson`` format, which loads MITRE
ATT&CK data (a download) for every rule. Single rules become ``query`` rules (Lucene, the
pySigma conversion); correlations become ``threshold`` rules over the OR of their rules'
queries. Kibana's threshold looks at fixed look-back windows, not Sentinel's sliding
windows: the exported correlation is an approximation for the SOC's console, while
``sentinel detect`` stays the reference.
"""

from __future__ import annotations

import json
from typing import Any

from sentinel.detect.elastic import INDEX_KIND, convert_lucene, opened_only
from sentinel.detect.sigma import Correlation, Rule, RuleSet
from sentinel.severity import Severity
from sentinel.store.elastic_templates import history_indices

_KIBANA_SEVERITY = {
    Severity.CRITICAL: "critical",
    Severity.HIGH: "high",
    Severity.MEDIUM: "medium",
    Severity.LOW: "low",
    Severity.INFO: "low",
}


def _common(rule_id: str, title: str, level: Severity, sigma: Any, index: str) -> dict[str, Any]:
    return {
        "rule_id": rule_id,
        "name": title,
        "description": (sigma.description or title).strip(),
        "severity": _KIBANA_SEVERITY[level],
        "risk_score": int(level.risk_score) or 1,
        "references": list(sigma.references or []),
        "false_positives": list(sigma.falsepositives or []),
        "author": ["Sentinel"],
        "license": "Apache-2.0",
        "tags": ["Sentinel", "Sigma"],
        "index": index.split(","),  # Kibana takes exclusions ("-pattern") as entries
        "language": "lucene",
        "enabled": True,
        "interval": "5m",
        "from": "now-6m",
        "max_signals": 100,
        "version": 1,
        "threat": [],
    }


def _query_rule(rule: Rule, query: str, prefix: str) -> dict[str, Any]:
    index = history_indices(prefix, INDEX_KIND[rule.category])
    out = {
        **_common(rule.id, rule.title, rule.level, rule.sigma, index),
        "type": "query",
        "query": query,
    }
    if rule.category == "finding":
        out["query"] = opened_only(query)
        # The alert's severity is the finding's own (the check's), as in sentinel detect.
        out["severity_mapping"] = [
            {"field": "sentinel.severity", "operator": "equals", "value": sev.value,
             "severity": _KIBANA_SEVERITY[sev]} for sev in Severity]
        out["risk_score_mapping"] = [
            {"field": "event.risk_score", "operator": "equals", "value": ""}]
    return out


def _threshold_rule(
    corr: Correlation, ruleset: RuleSet, queries: dict[str, str], prefix: str
) -> dict[str, Any]:
    members = [ruleset.by_id(r) for r in corr.rules]
    kinds = [INDEX_KIND[m.category] for m in members if isinstance(m, Rule)]
    query = " OR ".join(
        f"({opened_only(queries[m.id]) if m.category == 'finding' else queries[m.id]})"
        for m in members if isinstance(m, Rule) and m.id in queries)
    threshold: dict[str, Any] = {"field": list(corr.group_by), "value": 1}
    if corr.kind == "value_count" and corr.field:
        threshold["cardinality"] = [{"field": corr.field, "value": corr.count}]
    else:
        threshold["value"] = corr.count
    index = history_indices(prefix, kinds[0] if kinds else "events")
    out = _common(corr.id, corr.title, corr.level, corr.sigma, index)
    out["query"] = query
    out["type"], out["threshold"] = "threshold", threshold
    out["from"] = f"now-{corr.timespan_s}s"  # every 5 minutes, look back one timespan
    return out


def kibana_rules(ruleset: RuleSet, prefix: str = "sentinel") -> list[dict[str, Any]]:
    """Every rule as a Kibana detection rule (correlations as threshold rules)."""
    queries = convert_lucene(ruleset)
    out = [_query_rule(r, queries[r.id], prefix) for r in ruleset.rules if r.generate]
    out += [_threshold_rule(c, ruleset, queries, prefix) for c in ruleset.correlations]
    return out


def kibana_ndjson(ruleset: RuleSet, prefix: str = "sentinel") -> str:
    """The import file: one rule per line."""
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in kibana_rules(ruleset, prefix))
