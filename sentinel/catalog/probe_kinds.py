"""The probe kinds the planner runs (``probes/kinds.yml``), in order, each with its module."""

from __future__ import annotations

import functools
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator

from sentinel.catalog.resources import data_file
from sentinel.errors import CatalogError
from sentinel.yamlio import load_yaml, validate


class ProbeKind(BaseModel):
    """One planned probe kind: its name and its module under ``sentinel/probes/``."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)
    kind: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")]
    module: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")]


class ProbeKindFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)
    kinds: tuple[ProbeKind, ...]

    @field_validator("kinds")
    @classmethod
    def _unique(cls, kinds: tuple[ProbeKind, ...]) -> tuple[ProbeKind, ...]:
        names = [k.kind for k in kinds]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"duplicate probe kinds: {', '.join(dupes)}")
        return kinds


@functools.cache
def probe_kinds() -> tuple[ProbeKind, ...]:
    """The planned probe kinds, in the order the planner runs them."""
    doc = load_yaml(data_file("probes", "kinds.yml"), CatalogError)
    return validate(doc, ProbeKindFile, CatalogError).kinds
