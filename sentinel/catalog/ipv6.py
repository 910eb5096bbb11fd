"""IPv6 readiness thresholds and score weights of the V6-* checks (``probes/ipv6.yml``)."""

from __future__ import annotations

import functools
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from sentinel.catalog.resources import data_file
from sentinel.errors import CatalogError
from sentinel.yamlio import load_yaml, validate


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class Threshold(_Strict):
    value: float
    status: Literal["verified", "third-party", "unverified"]
    note: str = ""


THRESHOLD_NAMES = frozenset({"home_success_rate", "link2_ratio", "link3_ratio",
                             "perf_degradation", "consistency_size_ratio", "score_target"})
WEIGHT_NAMES = frozenset({"aaaa", "ns", "home", "consist", "link2", "link3", "perf"})


class Ipv6Policy(_Strict):
    """Thresholds and score weights of the V6-* checks (``probes/ipv6.yml``)."""

    thresholds: dict[str, Threshold]
    weights: dict[str, Annotated[float, Field(ge=0)]]
    perf_floor_ms: Annotated[float, Field(ge=0)] = 5.0

    @field_validator("thresholds")
    @classmethod
    def _threshold_names(cls, value: dict[str, Threshold]) -> dict[str, Threshold]:
        if set(value) != THRESHOLD_NAMES:
            raise ValueError(f"thresholds must be exactly: {', '.join(sorted(THRESHOLD_NAMES))}")
        return value

    @field_validator("weights")
    @classmethod
    def _weight_names(cls, value: dict[str, float]) -> dict[str, float]:
        if not set(value) <= WEIGHT_NAMES or not any(value.values()):
            raise ValueError(f"weights: some of {', '.join(sorted(WEIGHT_NAMES))}, not all 0")
        return value


@functools.cache
def ipv6_policy() -> Ipv6Policy:
    """The IPv6 readiness thresholds and weights from ``probes/ipv6.yml``."""
    doc = load_yaml(data_file("probes", "ipv6.yml"), CatalogError)
    return validate(doc, Ipv6Policy, CatalogError)
