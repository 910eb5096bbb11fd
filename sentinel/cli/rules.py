"""``sentinel rules list|test|convert|export-kibana`` and ``sentinel detect``. Thin.

``detect`` runs the rules over one scan (default: the latest completed) or a time range,
in-process over the SQLite store, or as Elasticsearch queries with ``--es-url``; alerts
are stored (SQLite, and Elasticsearch when it ran there) and printed.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from sentinel.cli.output import fail, say
from sentinel.errors import SentinelError, UsageError
from sentinel.model import Alert, alert_to_ecs
from sentinel.store.sqlite import SqliteStore, default_path

app = typer.Typer(no_args_is_help=True, help="Sigma rules over findings and events.")


@app.command("list")
def list_command() -> None:
    """One line per rule: id, level, what it reads, title."""
    from sentinel.detect.sigma import load_rules

    try:
        ruleset = load_rules()
    except SentinelError as exc:
        fail(exc)
    for rule in ruleset.rules:
        print(f"{rule.id}  {rule.level.value:<8}  {rule.category:<11}  {rule.title}")
    for corr in ruleset.correlations:
        print(f"{corr.id}  {corr.level.value:<8}  {corr.kind:<11}  {corr.title}")
    say(f"{len(ruleset.rules)} rules, {len(ruleset.correlations)} correlations")


@app.command("test")
def test_command() -> None:
    """Run every rule against its own examples (rules/tests/); exit 1 on any failure."""
    from sentinel.detect.ruletests import run_rule_tests
    from sentinel.detect.sigma import load_rules

    try:
        results, problems = run_rule_tests(load_rules())
    except SentinelError as exc:
        fail(exc)
    for result in results:
        mark = "ok  " if result.ok else "FAIL"
        print(
            f"{mark} {result.title} [{result.case}]: {result.raised} alert(s), "
            f"wanted {result.wanted}"
        )
    for problem in problems:
        print(f"FAIL {problem}")
    failed = sum(not r.ok for r in results) + len(problems)
    say(f"{len(results) - sum(not r.ok for r in results)} passed, {failed} failed")
    if failed:
        raise typer.Exit(1)


@app.command("convert")
def convert_command(
    target: Annotated[str, typer.Option("-t", "--target", help="Query language.")] = "lucene",
) -> None:
    """Print each rule's query (correlations run in Sentinel and are listed, not converted)."""
    from sentinel.detect.elastic import convert_lucene, opened_only
    from sentinel.detect.sigma import load_rules

    if target != "lucene":
        fail(UsageError(f"unknown target {target!r}: only 'lucene' is supported"))
    try:
        ruleset = load_rules()
        queries = convert_lucene(ruleset)
    except SentinelError as exc:
        fail(exc)
    for rule in ruleset.rules:
        query = queries[rule.id]
        if rule.category == "finding":  # alert on the scan where a finding opens or reopens
            query = opened_only(query)
        print(f"# {rule.id} {rule.title}\n{query}\n")
    for corr in ruleset.correlations:
        group = ", ".join(corr.group_by)
        print(
            f"# {corr.id} {corr.title}\n# correlation {corr.kind} {corr.operator} "
            f"{corr.count} by [{group}] within {corr.timespan_s}s over {', '.join(corr.rules)}\n"
        )


@app.command("export-kibana")
def export_kibana_command(
    output: Annotated[Path, typer.Option("-o", "--output", help="ndjson file to write.")],
    prefix: Annotated[str, typer.Option("--prefix", help="Index name prefix.")] = "sentinel",
) -> None:
    """Kibana detection rules (ndjson) pointed at the sentinel indices."""
    from sentinel.detect.kibana import kibana_ndjson
    from sentinel.detect.sigma import load_rules
    from sentinel.report.html import write_atomic

    try:
        text = kibana_ndjson(load_rules(), prefix)
        write_atomic(output, text)  # an unusable -o: one error naming it, nothing half-written
    except SentinelError as exc:
        fail(exc)
    say(f"{text.count(chr(10))} Kibana rules written to {output}")


def _moment(value: str | None, flag: str) -> datetime | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        fail(UsageError(f"{flag}: expected an ISO 8601 time such as 2026-11-20T08:00:00Z"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _listed(values: tuple[object, ...], most: int = 5) -> str:
    """``a,b,c`` (at most ``most`` values, then ``+N``), ``-`` when there are none."""
    shown = ",".join(str(v) for v in values[:most]) or "-"
    return f"{shown},+{len(values) - most}" if len(values) > most else shown


def _where(alert: Alert) -> str:
    """The hosts an alert is about, with the endpoint when it is one document's."""
    if len(alert.documents) == 1:
        doc = alert.documents[0]
        address, port = doc.get("address"), doc.get("port")
        if address is not None:
            host = f"[{address}]" if ":" in str(address) else str(address)
            endpoint = f"{host}:{port}" if port is not None else host
            return f"host={doc.get('host', '-')} {endpoint}"
    return f"hosts={_listed(alert.hosts)}"


def _print(alerts: list[Alert], as_json: bool) -> None:
    for alert in sorted(alerts, key=lambda a: (a.level.rank, a.created, a.rule_id)):
        if as_json:
            print(json.dumps(alert_to_ecs(alert), ensure_ascii=False))
        else:
            parts = [f"[{alert.agency_id or '-'}]", _where(alert),
                     f"segment={_listed(alert.segments)}",
                     *([f"check={_listed(alert.checks)}"] if alert.checks else []),
                     *(f"{k}={v}" for k, v in alert.group.items()),
                     f"{len(alert.matched_ids)} doc(s)"]
            print(f"{alert.level.value:<8} {alert.rule_title}  {' '.join(parts)}")


def detect_command(
    *,
    scan: Annotated[str | None, typer.Option("--scan", help="Scan id (default: latest).")] = None,
    since: Annotated[str | None, typer.Option("--since", help="From this time (ISO 8601).")] = None,
    until: Annotated[str | None, typer.Option("--until", help="Before this time.")] = None,
    es_url: Annotated[str | None, typer.Option("--es-url", help="Run on Elasticsearch.")] = None,
    store_path: Annotated[Path | None, typer.Option("--store", help="SQLite store.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="ECS alert documents.")] = False,
) -> None:
    """Run the rules over a scan or a time range; store the alerts and print them."""
    from sentinel.detect.sigma import load_rules

    start, end = _moment(since, "--since"), _moment(until, "--until")
    try:
        ruleset = load_rules()
        with SqliteStore(store_path or default_path(), create=False) as store:
            if scan is None and start is None and end is None:
                latest = store.latest_scan()
                if latest is None:
                    raise UsageError("no completed scan in the store: pass --scan or --since")
                scan = latest.id
            alerts = _run(ruleset, store, es_url=es_url, scan=scan, start=start, end=end)
            store.add_alerts(alerts)
    except SentinelError as exc:
        fail(exc)
    _print(alerts, as_json)
    say(f"{len(alerts)} alert(s)")


def _run(
    ruleset: object,
    store: SqliteStore,
    *,
    es_url: str | None,
    scan: str | None,
    start: datetime | None,
    end: datetime | None,
) -> list[Alert]:
    from sentinel.detect.local import LocalEngine, store_items
    from sentinel.detect.sigma import RuleSet

    assert isinstance(ruleset, RuleSet)
    if es_url is None:
        items = store_items(store, scan_id=scan, since=start, until=end)
        return LocalEngine(ruleset).run(items)
    from sentinel.cli.es import open_sink
    from sentinel.detect.elastic import ElasticEngine
    from sentinel.store.elastic_config import load_config, make_client

    prefix = os.environ.get("SENTINEL_ES_PREFIX") or "sentinel"
    client = make_client(load_config(es_url))
    alerts = ElasticEngine(client, ruleset, prefix).run(scan_id=scan, since=start, until=end)
    with open_sink(es_url) as sink:
        sink.add_alerts(alerts)
    return alerts


def mount(root: typer.Typer) -> None:
    """Add ``rules`` and ``detect`` to the main command."""
    root.add_typer(app, name="rules")
    root.command("detect")(detect_command)
