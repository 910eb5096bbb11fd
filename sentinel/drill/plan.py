"""Joint drills: a drill file names the agencies, a window and the injects; a run applies
the injects in the lab, scans, measures time-to-detect, reverts, rescans to verify the
remediation, and writes a scorecard per agency.

Drill file (``playbooks/drills/*.yml``), validated strictly; errors name file, line, field::

    id: q3-joint
    name: {zh: 第三季度联合演练, en: Q3 joint drill}
    playbook: lab.yml                 # under playbooks/ (or a path)
    agencies: [city-gov, cloud-t1]
    window: {start: 2026-09-01T09:00:00+08:00, end: 2026-09-01T18:00:00+08:00}
    injects:
      - id: telnet-web
        kind: open-service            # open-service | disable-national-crypto | drop-ipv6
        host: web                     # a lab host id (sentinel/lab/manifest.yml)
        port: 23
        expect: [{check: DB-CES-HIGHRISKPORT, asset: www.city.test, port: 23}]

An expectation names a failed check (``check``) or a change event (``event``, e.g.
``national-crypto-lost``) on an asset; the inject is detected when it appears in the drill
scan, or when a Sigma alert of the local engine matched that document.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated

from pydantic import AwareDatetime, Field, model_validator

from sentinel.catalog.resources import data_file
from sentinel.errors import PlaybookError, SourceLocation
from sentinel.lab.injects import InjectKind
from sentinel.model import Text
from sentinel.playbook import Playbook, Strict, load_playbook
from sentinel.yamlio import load_yaml, validate

Id = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$")]


class Expect(Strict):
    """What a detected inject looks like: a failed check or a change event on an asset."""

    check: str | None = None
    event: str | None = None
    asset: str
    port: Annotated[int, Field(ge=1, le=65535)] | None = None

    @model_validator(mode="after")
    def _one(self) -> Expect:
        if (self.check is None) == (self.event is None):
            raise ValueError("give exactly one of 'check' or 'event'")
        return self

    @property
    def label(self) -> str:
        where = f"{self.asset}:{self.port}" if self.port else self.asset
        return f"{self.check or self.event} @ {where}"


class Inject(Strict):
    id: Id
    kind: InjectKind
    host: str
    port: Annotated[int, Field(ge=1, le=65535)] | None = None
    banner: str = "login: "
    expect: Annotated[tuple[Expect, ...], Field(min_length=1)]


class DrillWindow(Strict):
    start: AwareDatetime
    end: AwareDatetime

    @model_validator(mode="after")
    def _order(self) -> DrillWindow:
        if self.end <= self.start:
            raise ValueError("window end must be after its start")
        return self

    def contains(self, moment: datetime) -> bool:
        return self.start <= moment < self.end


class Drill(Strict):
    id: Id
    name: Text
    playbook: str = "lab.yml"
    agencies: Annotated[tuple[str, ...], Field(min_length=1)]
    window: DrillWindow
    injects: Annotated[tuple[Inject, ...], Field(min_length=1)]


def _playbook(drill: Drill, base: Path) -> Playbook:
    given = base / drill.playbook
    return load_playbook(given if given.is_file() else data_file("playbooks", drill.playbook))


def load_drill(path: Path, text: str | None = None) -> tuple[Drill, Playbook]:
    """Load a drill file and its scan playbook; cross-references are checked with locations
    (agencies against the playbook, hosts against the lab manifest, unique inject ids)."""
    from sentinel.lab import load_manifest

    doc = load_yaml(path, PlaybookError, text=text)
    drill = validate(doc, Drill, PlaybookError)
    playbook = _playbook(drill, path.parent)
    known = {a.id for a in playbook.agencies}
    for index, agency in enumerate(drill.agencies):
        if agency not in known:
            raise PlaybookError(f"unknown agency {agency!r} (playbook {playbook.name} has "
                                f"{', '.join(sorted(known))})", doc.locate(("agencies", index)))
    hosts = {h.id for h in load_manifest().hosts}
    seen: set[str] = set()
    for index, inject in enumerate(drill.injects):
        if inject.host not in hosts:
            raise PlaybookError(f"unknown lab host {inject.host!r}",
                                doc.locate(("injects", index, "host")))
        if inject.id in seen:
            raise PlaybookError(f"duplicate inject id {inject.id!r}",
                                doc.locate(("injects", index, "id")))
        seen.add(inject.id)
    return drill, playbook


def outside_window(drill: Drill, moment: datetime, path: Path) -> PlaybookError | None:
    """The error to raise when a drill is run outside its window, else None."""
    if drill.window.contains(moment):
        return None
    return PlaybookError(f"now ({moment.isoformat(timespec='seconds')}) is outside the drill "
                         f"window {drill.window.start} – {drill.window.end}",
                         SourceLocation(str(path), field="window"))
