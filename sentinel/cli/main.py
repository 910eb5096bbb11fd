"""The ``sentinel`` command: parse, call, print. Only this module prints or exits.

Exit status: 0 success; 1 a runtime fault (store, lab, probe machinery); 2 bad input from a
person (playbook, flag, target) or a scope refusal — with nothing written but the audit record.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import os
import sys
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from typer._click.core import Command, Context  # Typer's own (vendored) click types
from typer.core import TyperGroup

from sentinel import __version__
from sentinel.cli.output import console, fail, say
from sentinel.errors import ScopeRefused, SentinelError, UsageError
from sentinel.severity import Severity


class SortChoice(StrEnum):
    """``sentinel findings --sort``: the JSON field the rows are ordered by."""

    SEVERITY = "severity"
    HOST = "host"
    CHECK = "check"
    AGENCY = "agency"
    ENDPOINT = "endpoint"


if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

    from sentinel.accept import Acceptances
    from sentinel.playbook import Playbook
    from sentinel.scan.engine import AssetPlan
    from sentinel.store.sqlite import SqliteStore

# Sub-commands that live beside their capability: name -> (module, attribute). They are
# imported only when run (or listed by --help), so `sentinel probe tls` does not pay for the
# Elasticsearch client, pysnmp or pySigma.
LAZY_COMMANDS: dict[str, tuple[str, str]] = {
    "probe": ("sentinel.cli.probe", "app"),
    "import": ("sentinel.cli.nmap_import", "app"),
    "rules": ("sentinel.cli.rules", "app"),
    "detect": ("sentinel.cli.rules", "detect_command"),
    "es": ("sentinel.cli.es", "app"),
    "drill": ("sentinel.cli.drill", "app"),
    "lab": ("sentinel.cli.lab", "app"),
    "discover": ("sentinel.cli.discover", "app"),
    "agent": ("sentinel.cli.agent", "app"),
    "agents": ("sentinel.cli.agent", "agents_command"),
    "cloud": ("sentinel.cli.cloud", "app"),
    "export": ("sentinel.cli.export", "export_command"),
}


class LazyGroup(TyperGroup):
    """The top-level group: the core commands, then the lazily imported sub-commands."""

    def list_commands(self, ctx: Context) -> list[str]:
        return [*super().list_commands(ctx), *LAZY_COMMANDS]

    def get_command(self, ctx: Context, cmd_name: str) -> Command | None:
        found = super().get_command(ctx, cmd_name)
        if found is not None or cmd_name not in LAZY_COMMANDS:
            return _reflowed(found) if found is not None else None
        module, attribute = LAZY_COMMANDS[cmd_name]
        target = getattr(importlib.import_module(module), attribute)
        command: Command
        callback = target.registered_callback if isinstance(target, typer.Typer) else None
        if (isinstance(target, typer.Typer) and callback is not None and callback.callback
                and not target.registered_commands and not target.registered_groups):
            # A sub-app that is only its callback (discover) is a plain command: its usage
            # line has no COMMAND [ARGS].
            holder = typer.Typer(add_completion=False)
            holder.command(cmd_name, help=target.info.help or callback.help)(callback.callback)
            command = typer.main.get_command(holder)
        elif isinstance(target, typer.Typer):  # a sub-app stays a group even with one command
            command = typer.main.get_group(target)
        else:  # a function: no --install-completion on a sub-command
            holder = typer.Typer(add_completion=False)
            holder.command(cmd_name)(target)
            command = typer.main.get_command(holder)
        command.name = cmd_name
        return _reflowed(command)


def _reflowed(command: Command) -> Command:
    """``command`` (and its sub-commands) with each help paragraph on one line: Typer keeps a
    docstring's line breaks after the first paragraph, which cut sentences mid-way in a
    terminal of another width. A paragraph starting with ``\\b`` keeps its lines."""
    import inspect

    if command.help:
        paragraphs = inspect.cleandoc(command.help).split("\n\n")
        command.help = "\n\n".join(
            p if p.startswith("\b") else " ".join(line.strip() for line in p.splitlines())
            for p in paragraphs)
    for sub in getattr(command, "commands", {}).values():
        _reflowed(sub)
    return command


app = typer.Typer(
    cls=LazyGroup,
    add_completion=False,
    no_args_is_help=True,
    help="Sentinel: security posture and national crypto-compliance scanner.",
)


StoreOption = Annotated[
    Path | None,
    typer.Option(
        "--store",
        # No word longer than a narrow terminal's help column (rich would cut it with "…").
        help="SQLite store (default: $SENTINEL_STORE, else sentinel/sentinel.db under "
        "~/.local/share).",
    ),
]


AcceptOption = Annotated[
    Path | None,
    typer.Option("--accept", help="Risk-acceptance file: accepted findings are shown as "
                 "accepted and not counted as failed (docs/accept.md)."),
]


def _acceptances(path: Path | None) -> Acceptances:
    from sentinel.accept import NO_ACCEPTANCES, load_acceptances

    return load_acceptances(path) if path is not None else NO_ACCEPTANCES


def _store(path: Path | None, *, create: bool = True) -> SqliteStore:
    from sentinel.store.sqlite import SqliteStore, default_path

    return SqliteStore(path or default_path(), create=create)


def load_playbook(path: Path) -> Playbook:
    """The playbook at ``path`` (imported here: commands that take none do not pay for it)."""
    from sentinel.playbook import load_playbook as load

    return load(path)


def _version(value: bool) -> None:
    if value:
        print(f"sentinel {__version__}")
        raise typer.Exit(0)


@app.callback()
def main_options(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """Sentinel scans authorised segments and judges IPv6 readiness, crypto and exposure."""


def _dry_run(playbook: Playbook, allow_public: bool) -> None:
    from sentinel.cli.plan_view import dry_run_lines, summarise
    from sentinel.scan.plan import asset_plans, probes_for, refusals
    from sentinel.scan.run import policy_for

    refused = refusals(playbook, policy_for(playbook), allow_public=allow_public)
    if refused:  # the refusal only: no list of targets a real run would never probe
        more = f" (and {len(refused) - 1} more)" if len(refused) > 1 else ""
        first = refused[0]
        raise ScopeRefused(f"{first.what} {first.target}", f"{first.reason}{more}")
    planned = probes_for(playbook)
    kinds = ", ".join(f"{p.kind}({len(ports)} ports)" for p, ports in planned)

    def listed() -> Iterator[AssetPlan]:
        for plan in asset_plans(playbook, "dry-run", probes=planned):
            addresses = sorted({j.target.endpoint.address for j in plan.jobs})
            print(f"{plan.asset_id}\t{','.join(addresses)}\t{len(plan.jobs)} probes")
            yield plan

    summary = summarise(playbook, listed())
    for line in dry_run_lines(playbook, summary):
        say(f"# {line}")
    print(f"# {summary.probes} probes planned ({kinds}); nothing was sent", file=sys.stderr)


@app.command()
def scan(
    playbook: Annotated[Path, typer.Option("--playbook", "-p", help="Playbook YAML file.")],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="List targets and probes; send nothing.")
    ] = False,
    store: StoreOption = None,
    es_url: Annotated[
        str | None, typer.Option("--es-url", help="Also stream documents to Elasticsearch.")
    ] = None,
    broker: Annotated[str | None, typer.Option(
        "--broker", help="Scan through agents on this broker (default: $SENTINEL_BROKER; "
        "docs/agents.md).")] = None,
    deadline: Annotated[float | None, typer.Option(
        "--deadline", help="With a broker: seconds before unfinished units make the scan "
        "partial.")] = None,
    unit_timeout: Annotated[float | None, typer.Option(
        "--unit-timeout", help="With a broker: seconds an agent may spend on one unit.")] = None,
    shard_size: Annotated[int, typer.Option(
        "--shard-size", help="With a broker: assets per work unit.", min=1)] = 32,
    resume: Annotated[str | None, typer.Option(
        "--resume", help="With a broker: follow this scan again (its coordinator was killed); "
        "a running scan of the same playbook is resumed without it.")] = None,
    allow_public: Annotated[
        bool, typer.Option("--allow-public-scope",
                           help="Let the playbook's authorised scope reach public space.")
    ] = False,
) -> None:
    """Run a playbook: probe, assess, and store findings (SQLite by default)."""
    import signal
    from contextlib import nullcontext

    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    from sentinel.cli.es import open_sink
    from sentinel.cli.plan_view import planned_assets
    from sentinel.model import ScanRecord
    from sentinel.scan.run import run_scan

    try:
        book = load_playbook(playbook)
        if dry_run:
            _dry_run(book, allow_public)
            return
        if broker or os.environ.get("SENTINEL_BROKER"):  # the coordinator of agents
            from sentinel.cli.agent import scan_through_agents

            scan_through_agents(playbook, broker or os.environ["SENTINEL_BROKER"], store=store,
                                es_url=es_url, deadline=deadline, shard_size=shard_size,
                                unit_timeout=unit_timeout, allow_public=allow_public,
                                resume=resume)
            return
        if resume:
            raise UsageError("--resume follows a scan through agents: give --broker")
        with (
            _store(store) as db,
            open_sink(es_url) if es_url else nullcontext() as sink,
            Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("assets"),
                TimeElapsedColumn(),
                TextColumn("ETA"),
                TimeRemainingColumn(),
                console=console(),
                transient=True,
                disable=not console().is_terminal,  # a pipe gets the summary line only
            ) as bar,
        ):
            # The plan's size before any sweep: with discovery, the live hosts may be fewer.
            swept = " (at most; discovery first)" if book.probes.discovery else ""
            task = bar.add_task(f"scanning {book.name}{swept}",
                                total=planned_assets(book) if console().is_terminal else None)
            terminated: list[signal.Signals] = []

            async def until_terminated() -> ScanRecord:
                # SIGTERM ends the scan as Ctrl-C does: the running task is cancelled, and
                # run_scan marks the scan interrupted before the command leaves.
                loop, current = asyncio.get_running_loop(), asyncio.current_task()
                assert current is not None

                def stop() -> None:
                    terminated.append(signal.SIGTERM)
                    current.cancel()

                loop.add_signal_handler(signal.SIGTERM, stop)
                try:
                    return await run_scan(
                        book,
                        db,
                        playbook_name=str(playbook),
                        progress=lambda *_: bar.advance(task),
                        sink=sink,
                        allow_public=allow_public,
                    )
                finally:
                    loop.remove_signal_handler(signal.SIGTERM)

            try:
                record = asyncio.run(until_terminated())
            except asyncio.CancelledError:
                if not terminated:
                    raise
                record = None
        if record is None:
            say("scan stopped by SIGTERM: its record is marked interrupted")
            raise typer.Exit(128 + signal.SIGTERM)
        say(
            f"scan {record.id} {record.status}: {sum(record.attempts.values())} attempts "
            f"({', '.join(f'{k} {v}' for k, v in sorted(record.attempts.items()))}), "
            f"{record.findings} failed findings (one per check and endpoint, as stored)"
        )
        print(record.id)
    except SentinelError as exc:
        fail(exc)


@app.command()
def findings(
    as_json: Annotated[
        bool, typer.Option("--json", help="A JSON array of finding documents.")
    ] = False,
    as_jsonl: Annotated[
        bool, typer.Option("--jsonl", help="JSON Lines: one finding document a line.")
    ] = False,
    scan_id: Annotated[
        str | None, typer.Option("--scan", help="Scan id (default: latest).")
    ] = None,
    agency: Annotated[str | None, typer.Option("--agency", help="Only this agency.")] = None,
    check: Annotated[str | None, typer.Option("--check", help="Only this check id.")] = None,
    host: Annotated[str | None, typer.Option(
        "--host", help="Only this host: its name, id or one of its addresses.")] = None,
    segment: Annotated[str | None, typer.Option("--segment", help="Only this segment.")] = None,
    severity: Annotated[
        Severity | None,
        typer.Option("--severity", case_sensitive=False, help="At least this severe."),
    ] = None,
    include_passed: Annotated[
        bool, typer.Option("--all-results", help="Include passed checks.")
    ] = False,
    sort: Annotated[SortChoice | None, typer.Option(
        "--sort", case_sensitive=False,
        help="Order by this field (default: severity, then check and host).")] = None,
    fail_on: Annotated[Severity | None, typer.Option(
        "--fail-on", case_sensitive=False,
        help="Exit 1 when a failed finding at or above this severity is listed.")] = None,
    accept: AcceptOption = None,
    store: StoreOption = None,
) -> None:
    """List findings of a scan (default: the latest completed scan) as a table.

    Exit status: 0 listed (and, with --fail-on, nothing failed at or above it); 1 a failed
    finding at or above the --fail-on severity is listed, or a store fault; 2 bad input
    (an unknown scan, agency, check or segment, or --json with --jsonl).
    """
    from sentinel.cli import table
    from sentinel.report.html import find_scan

    try:
        if as_json and as_jsonl:
            raise UsageError("give at most one of --json and --jsonl")
        acceptances = _acceptances(accept)
        with _store(store, create=False) as db:
            record = find_scan(db, scan_id)
            scan_id = record.id
            _known_filters(db, scan_id, agency, check)
            evaluations = ("failed", "error", "passed") if include_passed else ("failed", "error")
            if segment is not None and not db.has_segment(scan_id, segment):
                raise UsageError(f"--segment {segment!r}: not a segment of scan {scan_id}")
            # Read from the cursor and written as they come (issue 20: flat memory at a
            # million findings); only --sort holds the matching documents.
            docs: Iterable[dict[str, Any]] = (
                d for d in db.iter_findings(scan_id=scan_id, agency_id=agency,
                                            check_id=check, segment_id=segment,
                                            min_severity=severity, evaluations=evaluations)
                if table.matches(d, host_filter=host, segment=segment))
            if accept is not None:
                docs = (acceptances.mark([d])[0] for d in docs)
            if sort is not None:
                docs = table.ordered(docs, sort.value)
            failing = 0

            def counted(docs: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
                nonlocal failing
                for doc in docs:
                    failing += fail_on is not None and bool(table.fails_at([doc], fail_on))
                    yield doc

            out = sys.stdout
            if as_json:
                for piece in table.json_array(counted(docs)):
                    out.write(piece)
                out.write("\n")
            elif as_jsonl:
                for line in table.json_lines(counted(docs)):
                    out.write(line + "\n")
            else:
                started = record.started.strftime("%Y-%m-%d %H:%M:%S")
                for line in table.table(counted(docs), f"scan {record.id} {record.status} "
                                        f"{started} UTC ({record.playbook})"):
                    out.write(line + "\n")
    except SentinelError as exc:
        fail(exc)
    if fail_on is not None and failing:
        say(f"--fail-on {fail_on.value}: {failing} failed finding"
            f"{'s' if failing != 1 else ''} at or above it")
        raise typer.Exit(1)


def _known_filters(db: SqliteStore, scan_id: str, agency: str | None, check: str | None) -> None:
    """An unknown agency or check id is a mistake to say, not an empty answer."""
    if agency is not None:
        known = db.agencies(scan_id)
        if agency not in known:
            raise UsageError(f"--agency {agency!r}: not an agency of scan {scan_id} "
                             f"(known: {', '.join(known[:20]) or 'none'})")
    if check is not None:
        from sentinel.catalog.checks import checks

        if check not in checks():
            raise UsageError(f"--check {check!r}: no such check (see playbooks/remediation/)")


@app.command()
def scans(
    as_json: Annotated[bool, typer.Option("--json", help="A JSON array of scan records.")] = False,
    accept: AcceptOption = None,
    store: StoreOption = None,
) -> None:
    """List the scans in the store, oldest first: id, status, times, attempts, failed checks.

    With --accept, a scan's failed count leaves out its actively accepted findings and an
    ``accepted`` column (``accepted`` in --json) counts them, as findings, report and export do.
    """
    from sentinel.accept import counted

    accepted: dict[str, int] = {}
    try:
        acceptances = _acceptances(accept) if accept is not None else None
        with _store(store, create=False) as db:
            records = db.scans()
            if acceptances is not None:
                for r in records:
                    failed = db.findings(scan_id=r.id, evaluations=("failed",))
                    kept = len(counted(acceptances.mark(failed)))
                    accepted[r.id] = len(failed) - kept
                    r.findings = kept
    except SentinelError as exc:
        fail(exc)
    if as_json:
        rows = [r.model_dump(mode="json") for r in records]
        if acceptances is not None:
            for row in rows:
                row["accepted"] = accepted[row["id"]]
        json.dump(rows, sys.stdout, ensure_ascii=False, indent=1)
        print()
        return
    extra = f" {'accepted':>8}" if acceptances is not None else ""
    print(f"{'scan':<17} {'status':<11} {'started':<20} {'finished':<20} {'attempts':>8} "
          f"{'failed':>6}{extra}  playbook")
    for r in records:
        started = r.started.strftime("%Y-%m-%d %H:%M:%S")
        finished = r.finished.strftime("%Y-%m-%d %H:%M:%S") if r.finished else "-"
        more = f" {accepted[r.id]:>8}" if acceptances is not None else ""
        print(f"{r.id:<17} {r.status:<11} {started:<20} {finished:<20} "
              f"{sum(r.attempts.values()):>8} {r.findings:>6}{more}  {r.playbook}")


@app.command()
def report(
    agency: Annotated[str | None, typer.Option("--agency", help="One agency id.")] = None,
    all_agencies: Annotated[bool, typer.Option("--all", help="Every agency in the scan.")] = False,
    fmt: Annotated[str, typer.Option("--format", help="html, pdf or json.")] = "html",
    out: Annotated[Path, typer.Option("--out", help="Output folder.")] = Path("out/reports"),
    lang: Annotated[str, typer.Option("--lang", help="zh or en leads.")] = "zh",
    scan_id: Annotated[
        str | None, typer.Option("--scan", help="Scan id (default: latest).")
    ] = None,
    playbook: Annotated[
        Path | None, typer.Option("--playbook", help="Playbook for names and contacts.")
    ] = None,
    accept: AcceptOption = None,
    store: StoreOption = None,
    marking: Annotated[str | None, typer.Option(
        "--marking", help="Classification marking on every page, e.g. 内部 (default: the "
        "playbook's report.marking, else none).")] = None,
) -> None:
    """Render remediation reports (and with --all the coordinator report) from the store."""
    from sentinel.report.html import FORMATS, render_agency, render_all

    try:
        if fmt not in FORMATS or lang not in ("zh", "en"):
            raise UsageError(f"--format {fmt!r} --lang {lang!r}: expected html|pdf|json, zh|en")
        if bool(agency) == all_agencies:
            raise UsageError("give exactly one of --agency ID or --all")
        book = load_playbook(playbook) if playbook else None
        kind = next(f for f in FORMATS if f == fmt)
        acceptances = _acceptances(accept) if accept is not None else None
        with _store(store, create=False) as db:
            written = (
                render_all(db, out, playbook=book, scan_id=scan_id, lang=lang, fmt=kind,
                           acceptances=acceptances, marking=marking)
                if all_agencies
                else [render_agency(db, agency or "", out, playbook=book, scan_id=scan_id,
                                    lang=lang, fmt=kind, acceptances=acceptances,
                                    marking=marking)]
            )
        for path in written:
            print(path)
    except SentinelError as exc:
        fail(exc)


@app.command()
def schema(
    folder: Annotated[Path, typer.Argument(help="Where to write the schemas.")] = Path(
        "docs/schema"),
) -> None:
    """Write the JSON schemas of Sentinel's documents, scan record and playbook."""
    from sentinel.store.schema import write

    try:
        written = write(folder)
    except OSError as exc:
        fail(UsageError(f"{folder}: {exc.strerror or exc}"))
    for path in written:
        print(path)


# Commands that hold no files, stores, threads or sockets once they return: they may leave
# without the interpreter's teardown of every imported module (~20-30 ms of a ~0.2 s
# `sentinel probe tls`), after their output is flushed.
FAST_EXIT = frozenset({"probe"})


def _any_terminal() -> None:
    """Findings and reports are Chinese; a terminal that is not UTF-8 (LANG=C, an ASCII
    pipe) gets what it cannot show as escapes instead of a crash."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None and (stream.encoding or "").lower().replace("-", "") != "utf8":
            reconfigure(errors="backslashreplace")


def main() -> None:
    """Console-script entry point."""
    _any_terminal()
    try:
        app()
    except SystemExit as exc:
        if sys.argv[1:2] and sys.argv[1] in FAST_EXIT:
            status = exc.code if isinstance(exc.code, int) else 0 if exc.code is None else 1
            try:
                sys.stdout.flush()
                sys.stderr.flush()
            except OSError:  # a closed pipe: what was printed did not all arrive
                status = status or 1
            os._exit(status)
        raise


if __name__ == "__main__":
    main()
