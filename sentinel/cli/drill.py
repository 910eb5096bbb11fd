"""`sentinel drill run FILE`: a joint drill on the lab (root). Thin: parse, call, print.

Exit status: 0 the drill ran and every inject was reverted; 1 a runtime fault (lab, store,
or an inject that could not be reverted); 2 a bad drill file or a run outside its window.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer

from sentinel.cli.output import fail
from sentinel.errors import LabError, SentinelError

app = typer.Typer(help="Joint drills on the lab: injects, detection, scorecards.",
                  no_args_is_help=True)


@app.command("run")
def run(
    file: Annotated[Path, typer.Argument(help="Drill file (playbooks/drills/*.yml).")],
    out: Annotated[Path, typer.Option("--out", help="Scorecards folder.")] = Path("out/drills"),
    lang: Annotated[str, typer.Option("--lang", help="zh or en leads.")] = "zh",
    store: Annotated[Path | None, typer.Option("--store", help="SQLite store.")] = None,
) -> None:
    """Apply the injects, scan, measure time-to-detect, revert, verify, write scorecards."""
    from sentinel.drill.plan import load_drill, outside_window
    from sentinel.drill.run import run_drill
    from sentinel.drill.score import write_scorecards
    from sentinel.lab import load_manifest
    from sentinel.lab.state import LabPaths
    from sentinel.model import now
    from sentinel.store.sqlite import SqliteStore, default_path

    try:
        drill, playbook = load_drill(file)
        refused = outside_window(drill, now(), file)
        if refused is not None:
            raise refused
        with SqliteStore(store or default_path()) as db:
            outcome = asyncio.run(run_drill(drill, playbook, db, manifest=load_manifest(),
                                            paths=LabPaths.from_env(), name=str(file)))
        for path in write_scorecards(outcome, out, lang):
            typer.echo(path)
        for result in outcome.results:
            typer.echo(f"{result.inject.id}: detected={result.detected} "
                       f"ttd_s={result.ttd_s} verified={result.verified}", err=True)
        if outcome.revert_errors:
            raise LabError("; ".join(outcome.revert_errors))
    except SentinelError as exc:
        fail(exc)
