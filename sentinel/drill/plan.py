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

A **manual inject** is one that people perform (a red-team action on an authorised target,
within its own window); Sentinel does not apply it, it verifies it by scans
(:mod:`sentinel.drill.people`)::

      - id: rt-telnet
        performed_by: people
        target: 198.18.13.10          # an address inside the playbook's scope (scope gate)
        agency: city-gov              # optional: else the agency of the target's segment
        window: {start: 2026-09-01T10:00:00+08:00, end: 2026-09-01T12:00:00+08:00}
        expect: {check: DB-CES-HIGHRISKPORT, asset: www.city.test, port: 23}

A target outside the playbook's scope (or on the global deny list) is refused when the plan
loads, with its location; so is a window outside the drill's window.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, Field, field_validator, model_validator

from sentinel.catalog.resources import data_file
from sentinel.errors import PlaybookError, SourceLocation
from sentinel.lab.injects import InjectKind
from sentinel.model import Text
from sentinel.playbook import Playbook, Strict, load_playbook
from sentinel.scope import ScopePolicy
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


class Inject(Strict):
    """A lab inject (``performed_by: lab``: Sentinel applies ``kind`` on the lab ``host``) or a
    manual one (``performed_by: people``: people act on ``target`` within ``window``)."""

    id: Id
    performed_by: Literal["lab", "people"] = "lab"
    kind: InjectKind | None = None
    host: str | None = None
    target: str | None = None
    agency: str | None = None
    window: DrillWindow | None = None
    port: Annotated[int, Field(ge=1, le=65535)] | None = None
    banner: str = "login: "
    expect: Annotated[tuple[Expect, ...], Field(min_length=1)]

    @field_validator("expect", mode="before")
    @classmethod
    def _one_or_more(cls, value: Any) -> Any:
        return [value] if isinstance(value, dict) else value

    @model_validator(mode="after")
    def _shape(self) -> Inject:
        if self.performed_by == "lab":
            if self.kind is None or self.host is None:
                raise ValueError("a lab inject needs 'kind' and 'host'")
            if self.target is not None or self.window is not None:
                raise ValueError("'target' and 'window' are for performed_by: people")
        else:
            if self.target is None or self.window is None:
                raise ValueError("a manual inject (performed_by: people) needs 'target' and "
                                 "'window'")
            if self.kind is not None or self.host is not None:
                raise ValueError("'kind' and 'host' are for lab injects (Sentinel applies "
                                 "them); people perform a manual inject")
        return self

    @property
    def manual(self) -> bool:
        return self.performed_by == "people"


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
        if inject.manual:
            _check_manual(drill, playbook, inject, doc.locate, index)
        elif inject.host not in hosts:
            raise PlaybookError(f"unknown lab host {inject.host!r}",
                                doc.locate(("injects", index, "host")))
        if inject.id in seen:
            raise PlaybookError(f"duplicate inject id {inject.id!r}",
                                doc.locate(("injects", index, "id")))
        seen.add(inject.id)
    return drill, playbook


def scope_policy(playbook: Playbook) -> ScopePolicy:
    """The scope gate's policy for a playbook: its scope, its deny list, the global deny."""
    import ipaddress

    from sentinel.catalog.scope_lists import global_deny

    return ScopePolicy(playbook.scope.authorised_networks, playbook.scope.deny_networks,
                       tuple(ipaddress.ip_network(c) for c in global_deny()))


def target_agency(playbook: Playbook, target: str) -> str | None:
    """The agency whose segment holds the target address (None: no segment holds it)."""
    import ipaddress

    address = ipaddress.ip_address(target)
    for segment in playbook.segments:
        for cidr in segment.cidrs:
            network = ipaddress.ip_network(cidr)
            if network.version == address.version and address in network:
                return segment.agency
    return None


def _check_manual(drill: Drill, playbook: Playbook, inject: Inject,
                  locate: Any, index: int) -> None:
    """A manual inject's target is in scope and owned; its window inside the drill's."""
    assert inject.target is not None  # by Inject._shape
    assert inject.window is not None
    refused = scope_policy(playbook).verdict(inject.target)
    if refused is not None:
        raise PlaybookError(f"inject {inject.id}: target {inject.target} refused by the scope "
                            f"gate ({refused})", locate(("injects", index, "target")))
    agency = inject.agency or target_agency(playbook, inject.target)
    if agency is None:
        raise PlaybookError(f"inject {inject.id}: no segment of playbook {playbook.name} holds "
                            f"{inject.target}; name its 'agency'",
                            locate(("injects", index, "target")))
    if agency not in drill.agencies:
        raise PlaybookError(f"inject {inject.id}: agency {agency!r} is not in the drill's "
                            f"agencies", locate(("injects", index,
                                                 "agency" if inject.agency else "target")))
    if inject.window.start < drill.window.start or inject.window.end > drill.window.end:
        raise PlaybookError(f"inject {inject.id}: its window is not inside the drill window",
                            locate(("injects", index, "window")))


def inject_agency(playbook: Playbook, inject: Inject) -> str:
    """The agency a manual inject is scored for (checked at load)."""
    assert inject.target is not None
    return inject.agency or target_agency(playbook, inject.target) or ""


def outside_window(drill: Drill, moment: datetime, path: Path) -> PlaybookError | None:
    """The error to raise when a drill is run outside its window, else None."""
    if drill.window.contains(moment):
        return None
    return PlaybookError(f"now ({moment.isoformat(timespec='seconds')}) is outside the drill "
                         f"window {drill.window.start} – {drill.window.end}",
                         SourceLocation(str(path), field="window"))
