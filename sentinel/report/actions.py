"""What to fix first: the agency report's action list, endpoint grades and due-date timeline.

One action per root cause per endpoint: the failed findings of one endpoint (asset and
port) whose checks share a root cause become one action citing them all; a summary check
that restates a specific one on the same endpoint (MP-GEN-ALG and TLS-CERT-HASH) is cited
in that action. Actions are ranked by severity, then exposure (internet-facing zone first),
then due date. The knowledge (root causes, what restates what, zone order, grade caps) is
data: ``reports/actions.yml``.
"""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, model_validator

from sentinel.catalog.resources import data_file
from sentinel.errors import CatalogError
from sentinel.model import Text
from sentinel.report.inventory import AssetInventory
from sentinel.severity import Severity
from sentinel.yamlio import load_yaml, validate

Grade = Literal["A", "B", "C", "D", "E", "F"]
GRADES: tuple[str, ...] = ("A", "B", "C", "D", "E", "F")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RootCause(_Strict):
    title: Text
    fix: Text
    checks: tuple[str, ...]


class Grades(_Strict):
    tls: dict[str, Grade]
    national: dict[str, Grade]


class ActionsFile(_Strict):
    root_causes: dict[str, RootCause]
    restates: dict[str, tuple[str, ...]] = {}
    zones: tuple[str, ...]
    grades: Grades

    @model_validator(mode="after")
    def _one_cause_per_check(self) -> ActionsFile:
        seen: dict[str, str] = {}
        for cause_id, cause in self.root_causes.items():
            for check_id in cause.checks:
                if check_id in seen:
                    raise ValueError(f"check {check_id} is in root causes {seen[check_id]} "
                                     f"and {cause_id}")
                seen[check_id] = cause_id
        return self

    def cause_of(self, check_id: str) -> str | None:
        return next((c for c, cause in self.root_causes.items() if check_id in cause.checks),
                    None)

    def zone_rank(self, zone: str) -> int:
        return self.zones.index(zone) if zone in self.zones else len(self.zones)

    def check_ids(self) -> set[str]:
        """Every check id the file names (for the catalog's cross-check)."""
        named = {c for cause in self.root_causes.values() for c in cause.checks}
        named |= set(self.restates) | {c for cs in self.restates.values() for c in cs}
        return named | set(self.grades.tls) | set(self.grades.national)


@functools.cache
def actions_file() -> ActionsFile:
    """``reports/actions.yml``, validated (cached)."""
    doc = load_yaml(data_file("reports", "actions.yml"), CatalogError)
    return validate(doc, ActionsFile, CatalogError)


def _endpoint_key(item: dict[str, Any]) -> tuple[str, int | None]:
    return str(item["asset"]), item.get("port")


def actions(groups: Sequence[dict[str, Any]], knowledge: ActionsFile | None = None
            ) -> list[dict[str, Any]]:
    """The ranked action list from the report's finding groups: failed items above info
    severity (an info finding states a fact, such as a score, and asks for no action)."""
    spec = knowledge or actions_file()
    failed: dict[tuple[str, int | None], dict[str, list[tuple[dict[str, Any], dict[str, Any]]]]]
    failed = {}
    for group in groups:
        for item in group["items"]:
            if item["evaluation"] == "failed" and item["severity"] != Severity.INFO:
                per_check = failed.setdefault(_endpoint_key(item), {})
                per_check.setdefault(group["check_id"], []).append((group, item))
    out: list[dict[str, Any]] = []
    words: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {}  # a cause's, dumped once
    for (asset, port), per_check in failed.items():
        buckets: dict[str, list[str]] = {}
        for check_id in sorted(per_check):
            target = check_id
            restated = [c for c in spec.restates.get(check_id, ()) if c in per_check]
            if restated:
                target = restated[0]
            cause = spec.cause_of(target)
            buckets.setdefault(cause or f"check:{target}", []).append(check_id)
        for cause_key, check_ids in buckets.items():
            pairs = [p for c in check_ids for p in per_check[c]]
            out.append(_action(spec, cause_key, check_ids, pairs, endpoint=(asset, port),
                               words=words))
    out.sort(key=lambda a: (Severity(a["severity"]).rank, spec.zone_rank(a["zone"]),
                            a["due"] or "9999", a["asset"], a["port"] or 0, a["cause"]))
    for rank, action in enumerate(out, start=1):
        action["rank"] = rank
    return out


def _action(spec: ActionsFile, cause_key: str, check_ids: list[str],
            pairs: list[tuple[dict[str, Any], dict[str, Any]]], *,
            endpoint: tuple[str, int | None],
            words: dict[str, tuple[dict[str, Any], dict[str, Any]]] | None = None
            ) -> dict[str, Any]:
    asset, port = endpoint
    severity = min((Severity(i["severity"]) for _, i in pairs), key=lambda s: s.rank)
    dues = sorted(i["due"] for _, i in pairs if i["due"])
    zones = sorted({str(i.get("zone") or "") for _, i in pairs}, key=spec.zone_rank)
    if cause_key.startswith("check:"):
        group = pairs[0][0]
        title, fix = group["title"], group["fix"]
    else:
        known = (words or {}).get(cause_key)
        if known is None:
            cause = spec.root_causes[cause_key]
            known = (cause.title.model_dump(), cause.fix.model_dump())
            if words is not None:
                words[cause_key] = known
        title, fix = known
    return {
        "cause": cause_key,
        "title": title,
        "fix": fix,
        "checks": check_ids,
        "asset": asset,
        "port": port,
        "addresses": sorted({str(i["address"]) for _, i in pairs if i["address"]}),
        "severity": severity.value,
        "zone": zones[0] if zones else "",
        "due": dues[0] if dues else "",
        "overdue": any(i["overdue"] for _, i in pairs),
        "findings": len(pairs),
    }


def timeline(action_list: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Due dates in order, each with the number of actions due then and whether it has
    passed; actions with no due date are left out."""
    per_day: Counter[str] = Counter()
    overdue: dict[str, bool] = {}
    for action in action_list:
        if action["due"]:
            per_day[action["due"]] += 1
            overdue[action["due"]] = overdue.get(action["due"], False) or action["overdue"]
    return [{"date": day, "actions": per_day[day], "overdue": overdue[day]}
            for day in sorted(per_day)]


def _cap(failed: Iterable[str], caps: dict[str, Grade]) -> str:
    worst = max((GRADES.index(caps[c]) for c in failed if c in caps), default=0)
    return GRADES[worst]


def endpoint_grades(groups: Sequence[dict[str, Any]], assets: Sequence[AssetInventory],
                    knowledge: ActionsFile | None = None) -> list[dict[str, Any]]:
    """A TLS grade (A-F, SSL Labs style caps) and a national-crypto grade per endpoint whose
    TLS or TLCP was observed, with the checks that capped each."""
    spec = knowledge or actions_file()
    failed: dict[tuple[str, int | None], set[str]] = {}
    for group in groups:
        for item in group["items"]:
            if item["evaluation"] == "failed":
                failed.setdefault(_endpoint_key(item), set()).add(group["check_id"])
    rows = []
    for asset in assets:
        ports = sorted({int(t["port"]) for t in asset.tls if t.get("port") is not None})
        for port in ports:
            checks = failed.get((asset.name, port), set())
            rows.append({
                "asset": asset.name, "port": port,
                "tls": _cap(checks, spec.grades.tls),
                "national": _cap(checks, spec.grades.national),
                "tls_capped_by": sorted(c for c in checks if c in spec.grades.tls),
                "national_capped_by": sorted(c for c in checks if c in spec.grades.national),
            })
    return sorted(rows, key=lambda r: (-GRADES.index(r["tls"]) - GRADES.index(r["national"]),
                                       r["asset"], r["port"]))
