"""Per-agency HTML reports from the store, rendered with a sandboxed, autoescaping jinja2.

Every string that a scanned server controls (banners, certificate fields, page titles) reaches
the template as data and is escaped by the environment; templates never mark it safe.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jinja2 import BaseLoader, StrictUndefined, TemplateNotFound
from jinja2.sandbox import SandboxedEnvironment

from sentinel import __version__, catalog
from sentinel.errors import UsageError
from sentinel.model import Severity, now
from sentinel.playbook import Playbook
from sentinel.resources import data_file
from sentinel.store.sqlite import SqliteStore


class _DataLoader(BaseLoader):
    """Templates from the ``reports`` data folder (shipped, or the user's overlay)."""

    def get_source(self, environment: Any, template: str) -> tuple[str, str, Any]:
        source = data_file("reports", template)
        if not source.is_file():
            raise TemplateNotFound(template)
        return source.read_text(encoding="utf-8"), str(source), lambda: True


def environment() -> SandboxedEnvironment:
    return SandboxedEnvironment(
        loader=_DataLoader(),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


@dataclass
class CheckGroup:
    check_id: str
    title: dict[str, str]
    why: dict[str, str]
    fix: dict[str, str]
    severity: str
    ruleset: str
    references: tuple[str, ...]
    items: list[dict[str, Any]] = field(default_factory=list)


def _groups(findings: list[dict[str, Any]]) -> list[CheckGroup]:
    groups: dict[str, CheckGroup] = {}
    for doc in findings:
        check_id = doc["rule"]["id"]
        if check_id not in groups:
            spec = catalog.check(check_id)
            groups[check_id] = CheckGroup(
                check_id,
                spec.title.model_dump(),
                spec.why.model_dump(),
                spec.fix.model_dump(),
                doc["sentinel"]["severity"],
                spec.ruleset,
                spec.references,
            )
        groups[check_id].items.append(doc)
    return sorted(groups.values(), key=lambda g: (Severity(g.severity).rank, g.check_id))


def agency_view(
    store: SqliteStore, agency_id: str, scan_id: str, agency_names: dict[str, str]
) -> dict[str, Any]:
    """What one agency's report shows: failed findings of the scan, grouped by check."""
    findings = store.findings(scan_id=scan_id, agency_id=agency_id)
    counts: dict[str, int] = defaultdict(int)
    for doc in findings:
        if doc["result"]["evaluation"] == "failed":
            counts[doc["sentinel"]["severity"]] += 1
    name = agency_names.get(agency_id) or next(
        (d["organization"].get("name") for d in findings if d.get("organization")), agency_id
    )
    return {
        "agency_id": agency_id,
        "agency_name": name,
        "groups": _groups(findings),
        "counts": counts,
        "severities": [s.value for s in Severity],
        "total": len(findings),
    }


def render_agency(
    store: SqliteStore,
    agency_id: str,
    out_dir: Path,
    *,
    playbook: Playbook | None = None,
    scan_id: str | None = None,
    lang: str = "zh",
) -> Path:
    """Write ``<agency>.html`` for one agency; returns its path."""
    scan = _scan(store, scan_id)
    names = {a.id: a.name.zh for a in playbook.agencies} if playbook else {}
    view = agency_view(store, agency_id, scan.id, names)
    html = (
        environment()
        .get_template("agency.html.j2")
        .render(view=view, scan=scan, lang=lang, version=__version__, generated=now().isoformat())
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / f"{agency_id}.html"
    temporary = target.with_suffix(".html.part")
    temporary.write_text(html, encoding="utf-8")
    temporary.replace(target)  # never a half-written report
    return target


def agencies_in(store: SqliteStore, scan_id: str | None = None) -> list[str]:
    """Every agency that has findings in the scan."""
    scan = _scan(store, scan_id)
    return sorted(
        {
            d["organization"]["id"]
            for d in store.findings(scan_id=scan.id, evaluations=("failed", "error", "passed"))
        }
    )


def _scan(store: SqliteStore, scan_id: str | None) -> Any:
    scans = store.scans()
    if scan_id is not None:
        match = [s for s in scans if s.id == scan_id]
        if not match:
            raise UsageError(f"no scan {scan_id!r} in {store.path}")
        return match[0]
    latest = store.latest_scan()
    if latest is None:
        raise UsageError(f"no completed scan in {store.path}: run 'sentinel scan' first")
    return latest
