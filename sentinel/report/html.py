"""Per-agency reports from the store: HTML, PDF and JSON from one view, with a sandboxed,
autoescaping jinja2.

Every string that a scanned server controls (banners, certificate fields, page titles)
reaches the template as data: the environment escapes markup and ``finalize`` shows control
and bidi characters as visible escapes; templates never mark scan data safe. Charts are
markup built by :mod:`sentinel.report.charts`, which escapes its own labels.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import os
import re
from collections import defaultdict
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, Literal

from jinja2 import BaseLoader, StrictUndefined, TemplateNotFound
from jinja2.sandbox import SandboxedEnvironment
from markupsafe import Markup

from sentinel import __version__
from sentinel.accept import Acceptances
from sentinel.catalog.resources import data_file
from sentinel.errors import CatalogError, ReportError, UsageError
from sentinel.model import ScanRecord, now
from sentinel.playbook import MARKING_MAX, Agency, Playbook
from sentinel.report import charts
from sentinel.report.evidence import readable
from sentinel.report.pdf import html_to_pdf
from sentinel.report.safe import dumps, visible
from sentinel.report.view import AgencyView, agency_view
from sentinel.store.sqlite import SqliteStore
from sentinel.yamlio import load_yaml

Format = Literal["html", "pdf", "json"]
FORMATS: tuple[Format, ...] = ("html", "pdf", "json")


class _DataLoader(BaseLoader):
    """Templates from the ``reports`` data folder (shipped, or the user's overlay)."""

    def get_source(self, environment: Any, template: str) -> tuple[str, str, Any]:
        source = data_file("reports", template)
        if not source.is_file():
            raise TemplateNotFound(template)
        return source.read_text(encoding="utf-8"), str(source), lambda: True


def _finalize(value: Any) -> Any:
    # Markup (charts) is already safe; any other string may come from a server.
    if isinstance(value, str) and not isinstance(value, Markup):
        return visible(value)
    return value


@functools.cache
def environment() -> SandboxedEnvironment:
    """The one template environment: sandboxed, autoescaping, strict about undefined names
    (cached: templates compile once per process)."""
    env = SandboxedEnvironment(
        loader=_DataLoader(),
        autoescape=True,
        undefined=StrictUndefined,
        finalize=_finalize,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["readable"] = _readable
    env.filters["terms"] = _terms
    return env


def _terms(value: str, lang: str) -> str:
    """In an English report, the Chinese terms that English texts quote (``term_*`` in
    ``reports/labels.yml``) in English; other languages unchanged."""
    if lang != "en":
        return value
    terms = sorted(((w["zh"], w["en"]) for k, w in labels().items() if k.startswith("term_")),
                   key=lambda t: -len(t[0]))
    for chinese, english in terms:
        value = value.replace(chinese, english)
    return value


def _readable(value: Any, lang: str) -> str:
    """Evidence as text in the report's language (``|readable(lang)`` in templates); the
    result is still escaped and made visible like any other value."""
    words = labels()
    return readable(value, yes=words["word_yes"][lang], no=words["word_no"][lang])


@functools.cache
def labels() -> dict[str, dict[str, str]]:
    """The words templates print around the data (``reports/labels.yml``)."""
    doc = load_yaml(data_file("reports", "labels.yml"), CatalogError)
    if not isinstance(doc.data, dict):
        raise CatalogError("expected a mapping of {zh, en} texts", doc.locate(()))
    return doc.data


def css_string(text: str) -> Markup:
    """``text`` as a quoted CSS string for a page's margin boxes: control characters made
    visible as everywhere else, then every character but ASCII letters and digits written as
    a CSS escape, so nothing in it can end the string, the rule or the ``<style>`` element."""
    body = "".join(c if c.isascii() and c.isalnum() else f"\\{ord(c):06x}"
                   for c in visible(text))
    return Markup(f'"{body}"')  # noqa: S704 - only [A-Za-z0-9\\] and hex digits inside


def marking_for(marking: str | None, playbook: Playbook | None) -> str | None:
    """The classification marking printed on every page: ``--marking`` if given, else the
    playbook's ``report.marking``, else none. A blank or too long marking is refused."""
    chosen = marking if marking is not None else (playbook.report.marking if playbook else None)
    if chosen is None:
        return None
    if not chosen.strip() or len(chosen) > MARKING_MAX:
        raise UsageError(f"--marking {chosen[:60]!r}: expected 1 to {MARKING_MAX} characters")
    return chosen.strip()


def _context(lang: str, values: dict[str, Any]) -> dict[str, Any]:
    marking = values.pop("marking", None)
    return {"L": labels(), "lang": lang, "version": __version__,
            "generated": now().strftime("%Y-%m-%d %H:%M UTC"), "marking": marking,
            "marking_css": css_string(marking) if marking else None, **values}


def render_template(name: str, lang: str, **values: Any) -> str:
    """Render one report template with the shared values (labels, version, time; the
    classification ``marking``, none unless given)."""
    return environment().get_template(name).render(_context(lang, values))


# Pieces of at most this many template events are joined before they are written.
STREAM_EVENTS = 512


def stream_template(name: str, lang: str, **values: Any) -> Iterator[str]:
    """:func:`render_template` as pieces, in order, so that a large report is written as it
    is rendered instead of being held whole (the same text, joined)."""
    stream = environment().get_template(name).stream(_context(lang, values))
    stream.enable_buffering(STREAM_EVENTS)
    return iter(stream)


def agency_charts(view: AgencyView, lang: str) -> dict[str, Markup]:
    """The agency report's charts: the three scores, the 密评 layers, severities."""
    words = labels()
    scores = view.scores
    return {
        "scores": charts.hbar([(words["ipv6"][lang], scores.ipv6),
                               (words["crypto"][lang], scores.crypto),
                               (words["exposure"][lang], scores.exposure)],
                              title=words["scores"][lang], missing=words["not_measured"][lang]),
        "layers": charts.hbar([(layer.name.pick(lang), layer.score) for layer in scores.layers],
                              title=words["layers"][lang], missing=words["not_measured"][lang]),
        "severity": charts.severity_strip(
            view.counts, title=words["severity"][lang],
            names={s: words[f"sev_{s}"][lang] for s in view.counts}),
    }


def write_atomic(target: Path, data: str | bytes | Iterable[str]) -> Path:
    """Write a file so that a reader never sees it half-written (``<name>.part``, then a
    rename). ``data`` may be pieces of text, written as they come (a streamed report). A place
    that cannot be written is the person's to change (UsageError, exit 2); a full disk is a
    fault (ReportError, exit 1); either way, and whatever else fails while the pieces are
    made, no ``.part`` stays behind and an earlier file of that name is left as it was."""
    temporary = target.with_name(target.name + ".part")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with temporary.open("wb") as handle:
            if isinstance(data, (str, bytes)):
                handle.write(data.encode("utf-8") if isinstance(data, str) else data)
            else:
                for piece in data:
                    handle.write(piece.encode("utf-8"))
        temporary.replace(target)
    except BaseException as exc:
        with contextlib.suppress(OSError):  # its folder could not be made: nothing to remove
            temporary.unlink(missing_ok=True)
        if not isinstance(exc, OSError):
            raise
        blocker = next((p for p in reversed(target.parents)
                        if os.path.exists(p) and not os.path.isdir(p)), None)
        why = f"{blocker} is a file, not a folder" if blocker else (exc.strerror or str(exc))
        if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EFBIG):
            raise ReportError(f"cannot write {target}: {why}") from exc
        raise UsageError(f"cannot write {target}: {why}") from exc
    return target


def agency_output(view: AgencyView, fmt: Format, lang: str,
                  marking: str | None = None) -> str | bytes | Iterator[str]:
    """One agency's report in one format (``marking``: the classification marking), for
    writing: HTML comes as pieces, rendered as the file is written (the page of a
    100,000-finding report is never held whole); PDF prints the whole page."""
    if fmt == "json":
        return dumps(view.as_dict()) + "\n"
    pieces = stream_template("agency.html.j2", lang, view=view,
                             charts=agency_charts(view, lang), marking=marking)
    return pieces if fmt == "html" else html_to_pdf("".join(pieces))


def agency_document(view: AgencyView, fmt: Format, lang: str,
                    marking: str | None = None) -> str | bytes:
    """:func:`agency_output` whole."""
    out = agency_output(view, fmt, lang, marking)
    return out if isinstance(out, (str, bytes)) else "".join(out)


def render_agency(
    store: SqliteStore,
    agency_id: str,
    out_dir: Path,
    *,
    playbook: Playbook | None = None,
    scan_id: str | None = None,
    lang: str = "zh",
    fmt: Format = "html",
    acceptances: Acceptances | None = None,
    marking: str | None = None,
) -> Path:
    """Write ``<agency>.<fmt>`` for one agency; returns its path. An agency the scan did not
    see is an error (a report of nothing would read as "no problems found"). ``marking``
    (else the playbook's ``report.marking``) is printed on every page."""
    marking = marking_for(marking, playbook)
    scan = find_scan(store, scan_id)
    known = store.agencies(scan.id)
    if agency_id not in known:
        shown = ", ".join(known[:20]) + (" ..." if len(known) > 20 else "")
        raise UsageError(f"--agency {agency_id!r}: not an agency of scan {scan.id} "
                         f"(known: {shown or 'none'})")
    agency = _agency(playbook, agency_id)
    view = agency_view(store, agency_id, scan, agency, acceptances=acceptances)
    return write_atomic(report_path(out_dir, agency_id, fmt),
                        agency_output(view, fmt, lang, marking))


# Report files are named after agency ids; an id that is not a plain name (a store written by
# someone else may hold anything) must not choose where a file is written.
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def report_path(out_dir: Path, agency_id: str, fmt: str) -> Path:
    """``out_dir/<agency>.<fmt>``, refusing an id that could leave ``out_dir``."""
    if not _SAFE_NAME.fullmatch(agency_id) or ".." in agency_id:
        raise UsageError(f"agency id {agency_id!r} cannot name a report file")
    return out_dir / f"{agency_id}.{fmt}"


def _agency(playbook: Playbook | None, agency_id: str) -> Agency | None:
    if playbook is None:
        return None
    return next((a for a in playbook.agencies if a.id == agency_id), None)


def agencies_in(store: SqliteStore, scan_id: str | None = None) -> list[str]:
    """Every agency that has findings or observations in the scan."""
    return store.agencies(find_scan(store, scan_id).id)


def find_scan(store: SqliteStore, scan_id: str | None) -> ScanRecord:
    """The scan with this id, or the latest completed scan; a usage error if none."""
    if scan_id is not None:
        found = store.scan(scan_id)
        if found is None:
            raise UsageError(f"--scan {scan_id!r}: no such scan in {store.path} "
                             "(sentinel scans lists them)")
        return found
    latest = store.latest_scan()
    if latest is None:
        raise UsageError(f"no completed scan in {store.path}: run 'sentinel scan' first")
    return latest


def render_all(
    store: SqliteStore,
    out_dir: Path,
    *,
    playbook: Playbook | None = None,
    scan_id: str | None = None,
    lang: str = "zh",
    fmt: Format = "html",
    acceptances: Acceptances | None = None,
    marking: str | None = None,
) -> list[Path]:
    """Every agency's report, then the coordinator report: ``index.html`` (and
    ``coordinator.pdf`` for PDF, ``coordinator.json`` for JSON). ``marking`` as in
    :func:`render_agency`."""
    from sentinel.report import coordinator

    marking = marking_for(marking, playbook)
    scan = find_scan(store, scan_id)
    observations: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for doc in store.assets(scan.id):  # one read for all agencies
        observations[doc["organization"]["id"]].append(doc)
    views = [agency_view(store, agency_id, scan, _agency(playbook, agency_id),
                         observations=observations[agency_id], acceptances=acceptances)
             for agency_id in agencies_in(store, scan.id)]
    written = [write_atomic(report_path(out_dir, v.agency["id"], fmt),
                            agency_output(v, fmt, lang, marking))
               for v in views]
    rows = coordinator.leaderboard(views, coordinator.progress(store))
    history = coordinator.trend(store)
    if fmt == "json":
        written.append(write_atomic(out_dir / "coordinator.json",
                                    dumps(coordinator.as_dict(rows, history)) + "\n"))
        return written
    html = render_template("coordinator.html.j2", lang, scan=scan, rows=rows, link_format=fmt,
                           marking=marking,
                           charts=coordinator.coordinator_charts(rows, history, labels(), lang))
    written.append(write_atomic(out_dir / "index.html", html))
    if fmt == "pdf":
        written.append(write_atomic(out_dir / "coordinator.pdf", html_to_pdf(html)))
    return written
