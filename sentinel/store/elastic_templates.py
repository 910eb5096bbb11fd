"""Elasticsearch index templates, write indices and the ILM policy for Sentinel documents.

The mappings are data (``sentinel/store/templates/*.json``); this module only installs them.
Every kind of document gets a composable index template over ``<prefix>-<kind>-*`` and a
first write index ``<prefix>-<kind>-000001`` behind the write alias ``<prefix>-<kind>``,
so a later rollover (by ILM, where the cluster has it) needs no change in the writers.

The current state of the findings (:data:`CURRENT`: one document per finding key, upserted)
has the alias ``<prefix>-findings-current`` over the index ``<prefix>-current-findings-000001``
(the findings mapping, no ILM: it never rolls over nor ages out). Its index name does not
match ``<prefix>-findings-*``, but that pattern matches the alias itself: searches of the
history use :func:`history_indices`, which leaves the current state out.
:func:`setup` is idempotent: running it twice changes nothing.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from importlib.resources import files
from typing import Any, Literal

from elasticsearch import ApiError, Elasticsearch
from elasticsearch import TransportError as EsTransportError

from sentinel.errors import SinkError
from sentinel.store.elastic_migrate import lower_fields, merge_properties, migrate

Kind = Literal["findings", "findings-current", "assets", "events", "alerts", "agents"]
KINDS: tuple[Kind, ...] = ("findings", "findings-current", "assets", "events", "alerts", "agents")
CURRENT: Kind = "findings-current"
ILM_UNAVAILABLE = "ILM unavailable on this cluster"
_TEMPLATE_PRIORITY = 200  # above Elastic's built-in templates (100), so ours wins


def _duplicate_free(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise ValueError(f"duplicate key {key!r}")
        seen[key] = value
    return seen


def load_template(name: str) -> dict[str, Any]:
    """One shipped template file (``common``, a kind, or ``ilm-policy``) as a dict."""
    text = files("sentinel.store").joinpath("templates", f"{name}.json").read_text("utf-8")
    data: dict[str, Any] = json.loads(text, object_pairs_hook=_duplicate_free)
    return data


def alias_name(prefix: str, kind: str) -> str:
    """The write alias a sink writes ``kind`` documents to."""
    return f"{prefix}-{kind}"


def template_file(kind: str) -> str:
    """The mapping file of a kind: the current state has the findings' mapping."""
    return "findings" if kind == CURRENT else kind


def index_pattern(prefix: str, kind: str) -> str:
    """The concrete indices of a kind (what its index template covers)."""
    return f"{prefix}-current-findings-*" if kind == CURRENT else f"{prefix}-{kind}-*"


def history_indices(prefix: str, kind: str) -> str:
    """Every index of a kind's history, as one index expression: ``<prefix>-<kind>-*``
    without the current-state index (whose alias that wildcard also matches)."""
    return f"{prefix}-{kind}-*,-{index_pattern(prefix, CURRENT)}"


@dataclass
class SetupReport:
    """What :func:`setup` did, one line per object, for the command line to print."""

    lines: list[str] = field(default_factory=list)
    ilm: bool = False

    def add(self, line: str) -> None:
        self.lines.append(line)


def put_lifecycle(client: Elasticsearch, prefix: str = "sentinel") -> str:
    """Install the ILM policy if the cluster has ILM; otherwise say so (setup goes on)."""
    policy = load_template("ilm-policy")["policy"]
    try:
        client.ilm.put_lifecycle(name=f"{prefix}-policy", policy=policy)
    except ApiError as exc:
        # A node without x-pack-ilm answers 400 "no handler found for uri"; a cluster whose
        # licence or settings disable ILM answers 4xx too. Neither is a setup failure.
        if exc.meta.status in (400, 404, 405, 410, 501) or "no handler" in str(exc):
            return ILM_UNAVAILABLE
        raise
    return f"ILM policy {prefix}-policy installed"


def _put_templates(client: Elasticsearch, prefix: str, ilm: bool, report: SetupReport) -> None:
    common = load_template("common")
    settings = dict(common["settings"])
    client.cluster.put_component_template(
        name=f"{prefix}-common",
        template={"settings": settings, "mappings": common["mappings"]},
        meta={"managed_by": "sentinel", "description": common["description"]},
    )
    report.add(f"component template {prefix}-common")
    for kind in KINDS:
        part = load_template(template_file(kind))
        client.cluster.put_component_template(
            name=f"{prefix}-{kind}",
            # Each component is validated on its own, so it carries the normaliser it uses.
            template={
                "settings": {"analysis": common["settings"]["analysis"]},
                "mappings": part["mappings"],
            },
            meta={"managed_by": "sentinel", "description": part["description"]},
        )
        template: dict[str, Any] = {}
        if ilm and kind != CURRENT:  # the current state is upserted in place: no rollover
            template["settings"] = {
                "index.lifecycle.name": f"{prefix}-policy",
                "index.lifecycle.rollover_alias": alias_name(prefix, kind),
            }
        client.indices.put_index_template(
            name=f"{prefix}-{kind}",
            index_patterns=[index_pattern(prefix, kind)],
            composed_of=[f"{prefix}-common", f"{prefix}-{kind}"],
            template=template or None,
            priority=_TEMPLATE_PRIORITY,
            meta={"managed_by": "sentinel"},
        )
        report.add(f"index template {prefix}-{kind} ({index_pattern(prefix, kind)})")


def _ensure_write_index(client: Elasticsearch, prefix: str, kind: str, report: SetupReport) -> None:
    alias = alias_name(prefix, kind)
    if client.indices.exists_alias(name=alias):
        report.add(f"write alias {alias} exists")
        return
    first = index_pattern(prefix, kind).replace("*", "000001")
    try:
        client.indices.create(index=first, aliases={alias: {"is_write_index": True}})
    except ApiError as exc:
        if exc.meta.status != 400 or "resource_already_exists" not in str(exc):
            raise
        client.indices.put_alias(index=first, name=alias, is_write_index=True)
    report.add(f"write index {first} as {alias}")


def install(client: Elasticsearch, prefix: str = "sentinel") -> SetupReport:
    """:func:`setup` without error translation (the sink tells outages from refusals)."""
    report = SetupReport()
    ilm_line = put_lifecycle(client, prefix)
    report.ilm = ilm_line != ILM_UNAVAILABLE
    report.add(ilm_line)
    _put_templates(client, prefix, report.ilm, report)
    for kind in KINDS:
        _ensure_write_index(client, prefix, kind, report)
    _migrate_mappings(client, prefix, report)
    return report


def _migrate_mappings(client: Elasticsearch, prefix: str, report: SetupReport) -> None:
    """Indices made by an older Sentinel get the fields and ``.lower`` subfields added since."""
    common = load_template("common")["mappings"]["properties"]
    for kind in KINDS:
        shipped = merge_properties(common, load_template(template_file(kind))["mappings"]
                                   ["properties"])
        for line in migrate(client, index_pattern(prefix, kind), lower_fields(shipped),
                            shipped):
            report.add(line)


def setup(client: Elasticsearch, prefix: str = "sentinel") -> SetupReport:
    """Install the ILM policy (where possible), the templates and the write indices."""
    try:
        return install(client, prefix)
    except (ApiError, EsTransportError) as exc:
        raise SinkError(f"Elasticsearch setup failed: {describe_error(exc)}") from None


def teardown(client: Elasticsearch, prefix: str) -> None:
    """Remove every index and template with this prefix (tests use throwaway prefixes)."""
    client.indices.delete(index=f"{prefix}-*", ignore_unavailable=True, allow_no_indices=True)
    for kind in KINDS:
        client.options(ignore_status=404).indices.delete_index_template(name=f"{prefix}-{kind}")
        client.options(ignore_status=404).cluster.delete_component_template(name=f"{prefix}-{kind}")
    client.options(ignore_status=404).cluster.delete_component_template(name=f"{prefix}-common")


def describe_error(exc: Exception) -> str:
    """A short, secret-free description of a client error: its class and HTTP status.

    The client's own message can carry request details; only the status, the error type and
    the reason Elasticsearch gave are kept.
    """
    if isinstance(exc, ApiError):
        info = exc.info if isinstance(exc.info, dict) else {}
        error = info.get("error") if isinstance(info.get("error"), dict) else {}
        kind = error.get("type", "") if isinstance(error, dict) else ""
        reason = error.get("reason", "") if isinstance(error, dict) else ""
        return f"HTTP {exc.meta.status} {redact(str(kind))}: {redact(str(reason))}".strip(": ")
    return type(exc).__name__


# A server may echo the request (its Authorization header) in an error reason.
_CREDENTIAL = re.compile(r"(?i)(authorization|api[-_ ]?key|apikey|basic|bearer|password|"
                         r"token)([\s\"':=]+)([^\s\"',;}]+)")


def redact(text: str, limit: int = 300) -> str:
    """An error text from Elasticsearch, short and with anything credential-like masked."""
    return _CREDENTIAL.sub(lambda m: f"{m.group(1)}{m.group(2)}[redacted]", text)[:limit]
