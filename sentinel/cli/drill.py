"""`sentinel drill run FILE`: a joint drill on the lab (root). Thin: parse, call, print.
`sentinel drill ack`: an agency's acknowledgement of an inject, in the store.
`sentinel drill status FILE`: manual injects verified by the store's scans, times per agency,
and (``--es``) acknowledgements from alert statuses and the live leaderboard in Elasticsearch.

Exit status: 0 the drill ran and every inject was reverted; 1 a runtime fault (lab, store,
or an inject that could not be reverted); 2 a bad drill file or a run outside its window.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer

from sentinel.cli.output import fail
from sentinel.errors import LabError, SentinelError, UsageError

app = typer.Typer(help="Joint drills on the lab: injects, detection, scorecards.",
                  no_args_is_help=True)


@app.command("run")
def run(
    file: Annotated[Path, typer.Argument(help="Drill file (playbooks/drills/*.yml).")],
    out: Annotated[Path, typer.Option("--out", help="Scorecards folder.")] = Path("out/drills"),
    lang: Annotated[str, typer.Option("--lang", help="zh or en leads.")] = "zh",
    store: Annotated[Path | None, typer.Option("--store", help="SQLite store.")] = None,
    marking: Annotated[str | None, typer.Option(
        "--marking", help="Classification marking on the scorecards, e.g. 内部 (default: the "
        "playbook's report.marking, else none).")] = None,
) -> None:
    """Apply the injects, scan, measure time-to-detect, revert, verify, write scorecards."""
    from sentinel.drill.plan import load_drill, outside_window
    from sentinel.drill.run import run_drill
    from sentinel.drill.score import write_scorecards
    from sentinel.lab import load_manifest
    from sentinel.lab.state import LabPaths
    from sentinel.model import now
    from sentinel.report.html import marking_for
    from sentinel.store.sqlite import SqliteStore, default_path

    try:
        drill, playbook = load_drill(file)
        shown = marking_for(marking, playbook)
        refused = outside_window(drill, now(), file)
        if refused is not None:
            raise refused
        with SqliteStore(store or default_path()) as db:
            outcome = asyncio.run(run_drill(drill, playbook, db, manifest=load_manifest(),
                                            paths=LabPaths.from_env(), name=str(file)))
        for path in write_scorecards(outcome, out, lang, shown):
            typer.echo(path)
        for result in outcome.results:
            typer.echo(f"{result.inject.id}: detected={result.detected} "
                       f"ttd_s={result.ttd_s} verified={result.verified}", err=True)
        if outcome.revert_errors:
            raise LabError("; ".join(outcome.revert_errors))
    except SentinelError as exc:
        fail(exc)


def _moment(text: str | None) -> datetime:
    from sentinel.model import now

    if text is None:
        return now()
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise UsageError(f"--at {text!r}: not an ISO 8601 time") from None
    if moment.tzinfo is None:
        raise UsageError(f"--at {text!r}: give the time zone (e.g. +08:00)")
    return moment


@app.command("ack")
def ack(
    drill: Annotated[str, typer.Option("--drill", help="Drill id.")],
    agency: Annotated[str, typer.Option("--agency", help="The acknowledging agency's id.")],
    inject: Annotated[str, typer.Option("--inject", help="Inject id.")],
    by: Annotated[str, typer.Option("--by", help="Who acknowledged.")] = "",
    at: Annotated[str | None, typer.Option("--at", help="When (ISO 8601 with zone; "
                                                         "default now).")] = None,
    plan: Annotated[Path | None, typer.Option("--plan", help="The drill file: check the ids "
                                                             "against it.")] = None,
    store: Annotated[Path | None, typer.Option("--store", help="SQLite store.")] = None,
) -> None:
    """Record an agency's acknowledgement of an inject (the earliest one counts)."""
    from sentinel.drill.plan import inject_agency, load_drill
    from sentinel.store.sqlite import SqliteStore, default_path

    try:
        moment = _moment(at)
        if plan is not None:
            loaded, playbook = load_drill(plan)
            if loaded.id != drill:
                raise UsageError(f"--drill {drill}: {plan} is drill {loaded.id}")
            known = {i.id: i for i in loaded.injects}
            if inject not in known:
                raise UsageError(f"--inject {inject}: drill {drill} has "
                                 f"{', '.join(sorted(known))}")
            owner = (inject_agency(playbook, known[inject]) if known[inject].manual
                     else None)
            if agency not in loaded.agencies:
                raise UsageError(f"--agency {agency}: not an agency of drill {drill}")
            if owner not in (None, agency):
                raise UsageError(f"--agency {agency}: inject {inject} is {owner}'s")
        with SqliteStore(store or default_path()) as db:
            db.add_ack(drill, agency, inject, at=moment, by=by or agency)
    except SentinelError as exc:
        fail(exc)
    typer.echo(f"{drill} {agency} {inject} acknowledged {moment.isoformat(timespec='seconds')}")


@app.command("status")
def status(
    file: Annotated[Path, typer.Argument(help="Drill file with manual injects.")],
    out: Annotated[Path, typer.Option("--out", help="Scorecards folder.")] = Path("out/drills"),
    lang: Annotated[str, typer.Option("--lang", help="zh or en.")] = "zh",
    store: Annotated[Path | None, typer.Option("--store", help="SQLite store.")] = None,
    es: Annotated[bool, typer.Option("--es", help="Read alert statuses from Elasticsearch "
                                                  "and write the leaderboard there.")] = False,
    es_url: Annotated[str | None, typer.Option("--es-url", help="Elasticsearch URL "
                                               "(default: $SENTINEL_ES_URL).")] = None,
    prefix: Annotated[str, typer.Option("--prefix", help="Index name prefix.")] = "sentinel",
) -> None:
    """Verify the manual injects from the store's scans; times to detect, acknowledge and
    remediate per agency (未完成 when not yet); ``people.json``; with --es the leaderboard."""
    from sentinel.drill.people import alert_acks, verify
    from sentinel.drill.plan import load_drill
    from sentinel.drill.score import TIMES, manual_scores, ranked, shown
    from sentinel.model import now
    from sentinel.report.coordinator import latest_overall, overdue_states, progress
    from sentinel.report.html import labels, write_atomic
    from sentinel.report.safe import dumps
    from sentinel.store.sqlite import SqliteStore, default_path

    try:
        drill, playbook = load_drill(file)
        moment = now()
        with SqliteStore(store or default_path(), create=False) as db:
            client = None
            acks = []
            if es:
                from sentinel.store.drill_leaderboard import es_acks
                from sentinel.store.elastic_config import load_config, make_client

                client = make_client(load_config(es_url))
                acks = alert_acks(drill, playbook, es_acks(client, drill.window.start, prefix))
            rows = ranked(manual_scores(drill, verify(drill, playbook, db, acks)))
            done, late = progress(db), overdue_states(db, moment)
            overall = latest_overall(db)
        for row in rows:
            entry = done.get(row["agency"], {"total": 0, "resolved": 0, "open": 0})
            row.update(name=playbook.agency(row["agency"]).name.zh, overdue=late.get(
                row["agency"], 0), resolved=entry["resolved"], open=entry["open"],
                score=overall.get(row["agency"]))
        path = write_atomic(out / drill.id / "people.json", dumps({"leaderboard": rows}) + "\n")
        typer.echo(path)
        if client is not None:
            from sentinel.store.drill_leaderboard import install_leaderboard, write_leaderboard

            install_leaderboard(client, prefix)
            count = write_leaderboard(client, rows, moment, prefix)
            typer.echo(f"{count} leaderboard documents to {prefix}-drill-leaderboard", err=True)
        missing = labels()["drill_not_done"][lang]
        for row in rows:
            times = " ".join(f"{key[:3]}={shown(row[key], missing)}" for key in TIMES)
            typer.echo(f"{row['rank']}. {row['agency']} injects={row['injects']} {times} "
                       f"overdue={row['overdue']}", err=True)
    except SentinelError as exc:
        fail(exc)
