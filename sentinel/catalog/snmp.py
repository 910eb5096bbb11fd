"""SNMP knowledge (``probes/snmp.yml``): the default communities checked and the OIDs read."""

from __future__ import annotations

import functools
import re
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from sentinel.catalog.resources import data_file
from sentinel.errors import CatalogError
from sentinel.yamlio import load_yaml, validate

MAX_COMMUNITIES = 8  # a check of well-known defaults, never a guessing run
_OID = re.compile(r"^[0-2](\.(0|[1-9][0-9]*)){1,127}$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class Community(_Strict):
    name: Annotated[str, Field(min_length=1, max_length=64)]
    default: bool = True
    notes: str | None = None


class Oids(_Strict):
    sysDescr: str
    sysObjectID: str
    sysUpTime: str
    sysName: str
    ipForwarding: str
    ipv6IpForwarding: str
    ipAddressIfIndex: str

    @field_validator("*")
    @classmethod
    def _numeric(cls, value: str) -> str:
        if not _OID.match(value):
            raise ValueError(f"{value!r} is not a numeric OID")
        return value


class Walk(_Strict):
    max_rows: Annotated[int, Field(ge=1, le=10_000)] = 512
    max_repetitions: Annotated[int, Field(ge=1, le=100)] = 25


class SnmpCatalog(_Strict):
    version: Literal[1]
    communities: Annotated[tuple[Community, ...], Field(max_length=MAX_COMMUNITIES)]
    oids: Oids
    walk: Walk = Walk()

    @field_validator("communities")
    @classmethod
    def _unique(cls, values: tuple[Community, ...]) -> tuple[Community, ...]:
        names = [c.name for c in values]
        if len(set(names)) != len(names):
            raise ValueError("a community is listed twice")
        return values

    def is_default(self, community: str) -> bool:
        """Whether ``community`` is one of the listed vendor defaults."""
        return any(c.name == community and c.default for c in self.communities)


@functools.cache
def snmp_catalog() -> SnmpCatalog:
    """The shipped (or overlaid) ``probes/snmp.yml``, validated."""
    doc = load_yaml(data_file("probes", "snmp.yml"), CatalogError)
    return validate(doc, SnmpCatalog, CatalogError)
