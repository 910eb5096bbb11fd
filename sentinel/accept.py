"""Risk acceptance: a person's file of findings accepted for a while (issue 18 item 8).

The file (``--accept FILE`` on ``sentinel findings``, ``report`` and ``export``; docs/accept.md)::

    accepted:
      - key: c3bdb9139914b682edaff82eac41b6ee   # one finding (sentinel.finding.key), or
        reason: 供应商设备，2027 年更换
        approver: 张三 (信息中心)
        expires: 2027-03-31
      - check: TLS-PROTO-10                    # one check on one asset
        asset: legacy.test
        reason: legacy client until migration
        approver: Li Si
        expires: 2026-12-31

An acceptance holds through its expiry date (inclusive, UTC) and no longer: from the day after,
the finding is open and counted again. An accepted finding stays in every listing, marked
``sentinel.acceptance`` (``state`` active or expired), and is left out of failed totals and
scores while active. A bad file is an input error with its file, line and field (exit 2).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from sentinel.errors import InputError
from sentinel.model import doc_field
from sentinel.yamlio import load_yaml, validate

AcceptanceState = Literal["active", "expired"]


class AcceptanceError(InputError):
    """A risk-acceptance file that cannot be used (file, line, field)."""


class _FieldError(ValueError):
    """A model-level error that names its field (``validate`` locates it)."""

    def __init__(self, message: str, path: tuple[str, ...]) -> None:
        super().__init__(message)
        self.path = path


class Acceptance(BaseModel):
    """One accepted risk: a finding key, or a check on an asset."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    key: str | None = Field(default=None, min_length=1, max_length=128)
    check: str | None = Field(default=None, min_length=1, max_length=64)
    asset: str | None = Field(default=None, min_length=1, max_length=255)
    reason: str = Field(min_length=1, max_length=2000)
    approver: str = Field(min_length=1, max_length=200)
    expires: date

    @model_validator(mode="after")
    def _one_target(self) -> Acceptance:
        if self.key is not None and (self.check is not None or self.asset is not None):
            raise _FieldError("give either key, or check and asset, not both", ("key",))
        if self.key is None:
            if self.check is None:
                raise _FieldError("missing required field 'key' (or 'check' and 'asset')",
                                  ("check",))
            if self.asset is None:
                raise _FieldError("missing required field 'asset' (a check is accepted on "
                                  "one asset)", ("asset",))
        return self

    def matches(self, doc: dict[str, Any]) -> bool:
        """Whether this acceptance names the finding document ``doc``."""
        if self.key is not None:
            return bool(doc_field(doc, "sentinel", "finding", "key") == self.key)
        return bool(doc_field(doc, "rule", "id") == self.check
                    and doc_field(doc, "host", "id") == self.asset)

    def state(self, today: date) -> AcceptanceState:
        return "active" if today <= self.expires else "expired"


class AcceptanceFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    accepted: list[Acceptance] = Field(max_length=100_000)




def today_utc() -> date:
    return datetime.now(UTC).date()


@dataclass(frozen=True)
class Acceptances:
    """The entries of one file, applied to finding documents as of one day."""

    entries: tuple[Acceptance, ...]
    source: str = ""
    today: date | None = None

    def find(self, doc: dict[str, Any]) -> Acceptance | None:
        """The acceptance naming ``doc``: an active one before an expired one, a key before a
        check (the first in the file among equals)."""
        found = [a for a in self.entries if a.matches(doc)]
        on = self.today or today_utc()
        found.sort(key=lambda a: (a.state(on) != "active", a.key is None))
        return found[0] if found else None

    def mark(self, docs: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
        """The documents, each failed one an acceptance names carrying ``sentinel.acceptance``
        (copies: the store's documents are not changed)."""
        on = self.today or today_utc()
        out = []
        for doc in docs:
            failed = doc_field(doc, "result", "evaluation") == "failed"
            acceptance = self.find(doc) if failed else None
            if acceptance is None:
                out.append(doc)
                continue
            marked = dict(doc)
            marked["sentinel"] = {**doc.get("sentinel", {}), "acceptance": {
                "state": acceptance.state(on),
                "reason": acceptance.reason,
                "approver": acceptance.approver,
                "expires": acceptance.expires.isoformat(),
                "by": "key" if acceptance.key is not None else "check+asset",
                "file": self.source,
            }}
            out.append(marked)
        return out


def is_accepted(doc: dict[str, Any]) -> bool:
    """Whether a (marked) finding document is accepted now: not counted as failed."""
    return bool(doc_field(doc, "sentinel", "acceptance", "state") == "active")


def counted(docs: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The documents that count: every one but the actively accepted."""
    return [d for d in docs if not is_accepted(d)]


def load_acceptances(path: Path, *, today: date | None = None) -> Acceptances:
    """The risk-acceptance file at ``path``; an AcceptanceError (exit 2) locates any fault."""
    doc = load_yaml(path, AcceptanceError)
    if not isinstance(doc.data, dict):
        raise AcceptanceError("a risk-acceptance file is a mapping with one list, 'accepted'",
                              doc.locate(()))
    parsed = validate(doc, AcceptanceFile, AcceptanceError)
    return Acceptances(tuple(parsed.accepted), str(path), today)


NO_ACCEPTANCES = Acceptances(())
