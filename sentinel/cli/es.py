"""``sentinel es ...``: Elasticsearch setup. Thin: parse, call the store, print.

Connection settings come from ``--es-url`` plus the environment or ``SENTINEL_ES_CONFIG``
(:mod:`sentinel.store.elastic_config`); no secret is ever accepted on the command line.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from sentinel.cli.output import fail, say
from sentinel.errors import SentinelError
from sentinel.store.elastic import ElasticSink
from sentinel.store.elastic_config import load_config, make_client, redact_url
from sentinel.store.elastic_templates import setup as es_setup
from sentinel.store.kibana_export import saved_objects, to_ndjson
from sentinel.store.sqlite import default_path

app = typer.Typer(
    no_args_is_help=True, help="Elasticsearch: templates, write indices, ILM, Kibana objects."
)

EsUrlOption = Annotated[
    str | None,
    typer.Option("--es-url", help="Elasticsearch URL (default: $SENTINEL_ES_URL or 127.0.0.1)."),
]


@app.command("setup")
def setup_command(
    es_url: EsUrlOption = None,
    prefix: Annotated[str, typer.Option("--prefix", help="Index name prefix.")] = "sentinel",
) -> None:
    """Install index templates, write indices and (where the cluster has ILM) the policy."""
    try:
        config = load_config(es_url)
        report = es_setup(make_client(config), prefix)
    except SentinelError as exc:
        fail(exc)
    for line in report.lines:
        print(line)
    say(f"Elasticsearch at {redact_url(config.url)} is ready for Sentinel documents")


@app.command("export-kibana")
def export_kibana_command(
    output: Annotated[
        Path, typer.Option("-o", "--output", help="Where to write the saved objects (ndjson).")
    ],
    prefix: Annotated[str, typer.Option("--prefix", help="Index name prefix.")] = "sentinel",
) -> None:
    """Write Kibana 8 data views and dashboards (Stack Management > Saved objects > Import)."""
    from sentinel.report.html import write_atomic

    try:
        objects = saved_objects(prefix)
        write_atomic(output, to_ndjson(objects))  # nothing half-written; a full disk is exit 1
    except SentinelError as exc:
        fail(exc)
    kinds = [o["type"] for o in objects]
    say(
        f"{output}: {kinds.count('index-pattern')} data views, "
        f"{kinds.count('dashboard')} dashboards for indices {prefix}-*"
    )


def open_sink(es_url: str, spool_dir: Path | None = None) -> ElasticSink:
    """The sink ``scan --es-url`` streams to; its spool lives beside the SQLite store.

    ``SENTINEL_SPOOL`` moves the spool; ``SENTINEL_ES_PREFIX`` the index names (tests).
    """
    config = load_config(es_url)
    spool = spool_dir or Path(os.environ.get("SENTINEL_SPOOL") or default_path().parent / "spool")
    prefix = os.environ.get("SENTINEL_ES_PREFIX") or "sentinel"
    return ElasticSink(make_client(config), spool, prefix=prefix, setup_on_connect=True)
