"""Every check's words for people, from ``playbooks/remediation/*.yml``: stable id, title, why
and how to fix in Chinese and English, references, default severity. Loaded once, validated
strictly (unknown fields and duplicate ids are errors naming file and line), never mutated.
"""

from __future__ import annotations

import functools
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from sentinel.catalog.resources import data_files
from sentinel.errors import CatalogError, SourceLocation
from sentinel.model import Text
from sentinel.severity import Severity
from sentinel.yamlio import load_yaml, validate


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class Check(_Strict):
    """One check: stable id, words for people in both languages, references, severity."""

    title: Text
    why: Text
    fix: Text
    severity: Severity
    ruleset: str
    references: tuple[str, ...] = ()
    status: Literal["verified", "third-party", "unverified"] = "third-party"


class CheckFile(_Strict):
    checks: dict[Annotated[str, Field(pattern=r"^[A-Z0-9]+(-[A-Z0-9]+)+$")], Check]


@functools.cache
def checks() -> dict[str, Check]:
    """Every check, by id, from all files under ``playbooks/remediation/``."""
    merged: dict[str, Check] = {}
    defined: dict[str, SourceLocation] = {}  # where each id was first defined
    for _, source in data_files("playbooks", "remediation"):
        doc = load_yaml(source, CatalogError)
        parsed = validate(doc, CheckFile, CatalogError)
        for check_id, check in parsed.checks.items():
            where = doc.locate(("checks", check_id), check_id)
            if check_id in merged:
                first = defined[check_id]
                raise CatalogError(
                    f"check {check_id} is defined twice: here and at {first.file}:{first.line}",
                    where)
            merged[check_id] = check
            defined[check_id] = where
    return merged


def check(check_id: str) -> Check:
    """One check by id; an assessor asking for an unknown id is a programming error."""
    found = checks().get(check_id)
    if found is None:
        raise CatalogError(f"no check {check_id!r} in playbooks/remediation/")
    return found


def clear_cache() -> None:
    """Forget the loaded checks (after the overlay folder changed)."""
    checks.cache_clear()
