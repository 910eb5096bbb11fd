"""`sentinel lab up | down | status | exec`: a Typer sub-app the main CLI mounts as `lab`.

Thin: parse, call the package, print. Machine output (``status --json``) on stdout,
diagnostics on stderr; a LabError exits with status 1.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from sentinel.cli.output import fail
from sentinel.errors import LabError
from sentinel.lab import (
    LabStatus,
    exec_argv,
    lab_agents_down,
    lab_agents_up,
    lab_down,
    lab_status,
    lab_up,
    load_manifest,
)

app = typer.Typer(help="The simulated extranet: build, remove, inspect (needs root).",
                  no_args_is_help=True)


def _summary(status: LabStatus) -> str:
    state = "up" if status.up else ("partial" if status.namespaces else "down")
    alive = sum(p.alive for p in status.processes)
    line = (f"lab {state}: {len(status.namespaces)} namespaces, {status.hosts} hosts, "
            f"{status.services} services, {alive}/{len(status.processes)} processes alive")
    if status.agents is not None:
        line += f"; agents {sum(status.agents.values())}/{len(status.agents)} alive"
    if status.missing_namespaces:
        line += f"; missing: {', '.join(status.missing_namespaces)}"
    dead = [p.name for p in status.processes if not p.alive]
    if dead:
        line += f"; dead: {', '.join(dead)}"
    return line


@app.command()
def up(manifest: Annotated[Path | None, typer.Option(help="A manifest instead of the shipped one")]
       = None,
       agents: Annotated[bool, typer.Option(
           "--agents", help="Also the broker and one agent inside each segment "
           "(`lab status --json` prints the broker URL)")] = False) -> None:
    """Build the lab (does nothing when it is already up from the same manifest)."""
    try:
        given = load_manifest(manifest) if manifest else None
        status = lab_agents_up(given) if agents else lab_up(given)
    except LabError as exc:
        fail(exc)
        return
    typer.echo(_summary(status), err=True)


@app.command()
def down(agents: Annotated[bool, typer.Option(
        "--agents", help="Remove only the agents (and a broker `up --agents` started)")]
         = False) -> None:
    """Remove every namespace, link, process and file of the lab."""
    try:
        if agents:
            typer.echo(_summary(lab_agents_down()), err=True)
            return
        lab_down()
    except LabError as exc:
        fail(exc)
    typer.echo("lab down", err=True)


@app.command()
def status(as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False) -> None:
    """Tell what is running; exit status 0 only when the lab is fully up."""
    try:
        current = lab_status()
    except LabError as exc:
        fail(exc)
        return
    if as_json:
        typer.echo(current.model_dump_json(indent=2))
    else:
        typer.echo(_summary(current))
    if not current.up:
        raise typer.Exit(3)


@app.command(name="exec", context_settings={"allow_extra_args": True,
                                            "ignore_unknown_options": True})
def exec_(ctx: typer.Context,
          host: Annotated[str, typer.Argument(help="Host id from the manifest, or 'core'")]
          ) -> None:
    """Run a command inside a lab host's namespace: `lab exec HOST -- CMD ARGS...`."""
    command = list(ctx.args) or [os.environ.get("SHELL", "/bin/sh")]
    try:
        argv = exec_argv(host, command)
    except LabError as exc:
        fail(exc)
        return
    sys.stdout.flush()
    os.execvp(argv[0], argv)  # noqa: S606 - replacing this process is the point


if __name__ == "__main__":
    app()
