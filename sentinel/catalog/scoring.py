"""The numbers reports run on, as data: severity SLA (``playbooks/sla.yml``) and scoring
(``playbooks/scoring.yml``: 密评 layer weights, object caps, exposure penalties, IPv6 target).

Loaded once per process, validated strictly (unknown fields and duplicate keys are errors
naming the file and line), never mutated.
"""

from __future__ import annotations

import functools
from datetime import datetime, timedelta
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from sentinel.catalog.resources import data_file
from sentinel.errors import CatalogError
from sentinel.model import Text
from sentinel.severity import Severity
from sentinel.yamlio import load_yaml, validate


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class SlaFile(_Strict):
    """Days from first seen to due, per severity (``None``: no deadline)."""

    sla_days: dict[Severity, Annotated[int, Field(ge=0, le=3650)] | None]

    def due(self, severity: Severity, first_seen: datetime) -> datetime | None:
        days = self.sla_days.get(severity)
        return None if days is None else first_seen + timedelta(days=days)


class Layer(_Strict):
    name: Text
    weight: Annotated[float, Field(ge=0, le=100)]
    services: tuple[str, ...] = ()


class Mipin(_Strict):
    layers: dict[str, Layer]
    object_caps: dict[str, Annotated[float, Field(ge=0, le=1)]] = {}
    cleartext_score: Annotated[float, Field(ge=0, le=1)] = 0.0
    plaintext_categories: tuple[str, ...] = ()
    service_caps: dict[str, Annotated[float, Field(ge=0, le=1)]] = {}


class Exposure(_Strict):
    checks: tuple[str, ...]
    penalty: dict[Severity, Annotated[float, Field(ge=0, le=100)]]


class Ipv6(_Strict):
    target: Annotated[float, Field(ge=0, le=100)] = 90


class ScoringFile(_Strict):
    mipin: Mipin
    exposure: Exposure
    ipv6: Ipv6 = Ipv6()


@functools.cache
def sla() -> SlaFile:
    """The severity SLA from ``playbooks/sla.yml``."""
    return validate(load_yaml(data_file("playbooks", "sla.yml"), CatalogError), SlaFile,
                    CatalogError)


@functools.cache
def scoring() -> ScoringFile:
    """The scoring data from ``playbooks/scoring.yml``."""
    return validate(load_yaml(data_file("playbooks", "scoring.yml"), CatalogError),
                    ScoringFile, CatalogError)
