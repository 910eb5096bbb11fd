"""The drill coordinator's live leaderboard (实时榜单) in Elasticsearch, and acknowledgements
read from alert documents.

The leaderboard is an index, ``<prefix>-drill-leaderboard`` (template of the same name over
``<prefix>-drill-leaderboard*``, mapping ``templates/drill-leaderboard.json``), that gets one
document per agency per update: Kibana shows the latest update, or its history. Missing
times (not yet detected, acknowledged, remediated) are left out of a document, never 0.

An alert acknowledged in Kibana carries ``kibana.alert.workflow_status`` (``acknowledged`` or
``closed``), with ``kibana.alert.workflow_status_updated_at`` and ``kibana.alert.workflow_user``
where Kibana set them; :func:`es_acks` reads them from Sentinel's alert documents
(``<prefix>-alerts-*``, from ``_source``: the alerts mapping leaves the ``kibana`` object
unindexed, so the filter is applied here).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from elasticsearch import ApiError, Elasticsearch, TransportError, helpers

from sentinel.errors import SinkError
from sentinel.store.elastic_templates import describe_error, load_template

ACK_STATUSES = ("acknowledged", "closed")
_PRIORITY = 200  # as the other Sentinel templates: above Elastic's built-in ones


def leaderboard_index(prefix: str = "sentinel") -> str:
    return f"{prefix}-drill-leaderboard"


def install_leaderboard(client: Elasticsearch, prefix: str = "sentinel") -> str:
    """Install the leaderboard's index template (idempotent); a line for the command line."""
    part = load_template("drill-leaderboard")
    name = leaderboard_index(prefix)
    try:
        client.indices.put_index_template(
            name=name, index_patterns=[f"{name}*"], template={"mappings": part["mappings"]},
            priority=_PRIORITY, meta={"managed_by": "sentinel",
                                      "description": part["description"]})
    except (ApiError, TransportError) as exc:
        raise SinkError(f"Elasticsearch refused the leaderboard template: "
                        f"{describe_error(exc)}") from None
    return f"index template {name} ({name}*)"


def remove_leaderboard(client: Elasticsearch, prefix: str) -> None:
    """Remove the leaderboard index and template (tests use throwaway prefixes)."""
    name = leaderboard_index(prefix)
    client.indices.delete(index=f"{name}*", ignore_unavailable=True, allow_no_indices=True)
    client.options(ignore_status=404).indices.delete_index_template(name=name)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def write_leaderboard(client: Elasticsearch, rows: Iterable[dict[str, Any]], at: datetime,
                      prefix: str = "sentinel", *, refresh: bool = False) -> int:
    """Index one document per agency row for the update at ``at``; the number written.

    A row is the drill leaderboard's: ``drill``, ``agency``, ``name``, ``rank``, ``score``,
    ``progress``, ``resolved``, ``open``, ``overdue``, ``injects`` and the times ``ttd_s``,
    ``tta_s``, ``ttr_s`` (``None`` when missing: the field is left out).
    """
    update = _iso(at)
    actions: list[dict[str, Any]] = []
    for row in rows:
        doc: dict[str, Any] = {
            "@timestamp": update, "update": update, "drill": {"id": row["drill"]},
            "organization": {"id": row["agency"], "name": row["name"]},
            "rank": row["rank"], "injects": row["injects"],
        }
        for key in ("score", "progress", "resolved", "open", "overdue",
                    "ttd_s", "tta_s", "ttr_s"):
            if row.get(key) is not None:
                doc[key] = row[key]
        actions.append({"_op_type": "index", "_index": leaderboard_index(prefix),
                        "_id": f"{row['drill']}:{row['agency']}:{update}", "_source": doc})
    try:
        written, errors = helpers.bulk(client, actions, raise_on_error=False,
                                       refresh="wait_for" if refresh else False)
    except (ApiError, TransportError) as exc:
        raise SinkError(f"Elasticsearch refused the leaderboard: {describe_error(exc)}") from None
    if errors:
        refused = len(errors) if isinstance(errors, list) else errors
        raise SinkError(f"Elasticsearch refused {refused} leaderboard documents")
    return int(written)


def _moment(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


def _obj(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _strings(value: object) -> list[str]:
    items = value if isinstance(value, list) else [value]
    return [str(v) for v in items if isinstance(v, str | int)][:1000]


def es_acks(client: Elasticsearch, since: datetime, prefix: str = "sentinel"
            ) -> list[dict[str, Any]]:
    """Alerts acknowledged or closed in Elasticsearch, raised at or after ``since``: each
    as ``{checks, hosts, at, by}`` (``at``: when the status was set, else the alert's time)."""
    body = {"query": {"range": {"@timestamp": {"gte": _iso(since)}}}}
    found: list[dict[str, Any]] = []
    try:
        for hit in helpers.scan(client, index=f"{prefix}-alerts-*", query=body, size=500):
            source = _obj(hit.get("_source"))
            alert = _obj(_obj(source.get("kibana")).get("alert"))
            if alert.get("workflow_status") not in ACK_STATUSES:
                continue
            at = _moment(alert.get("workflow_status_updated_at")) or _moment(
                source.get("@timestamp"))
            if at is None:
                continue
            inner = _obj(_obj(source.get("sentinel")).get("alert"))
            host = _obj(source.get("host"))
            found.append({"checks": _strings(inner.get("check", [])),
                          "hosts": _strings(host.get("id", [])), "at": at,
                          "by": str(alert.get("workflow_user") or "kibana")[:200]})
    except (ApiError, TransportError) as exc:
        raise SinkError(f"Elasticsearch refused the alerts search: {describe_error(exc)}"
                        ) from None
    return found
