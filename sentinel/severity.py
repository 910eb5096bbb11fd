"""Severity of a failed check: its own small module, so a command's options can name it
without importing the document model."""

from __future__ import annotations

from enum import StrEnum


class Severity(StrEnum):
    """How bad a failed check is; ``rank`` orders them, ``risk_score`` feeds ECS."""

    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"
    INFO = "info"

    @property
    def rank(self) -> int:
        return _SEVERITY_RANK[self]

    @property
    def risk_score(self) -> float:
        return _RISK_SCORE[self]


_SEVERITY_RANK = {
    Severity.CRITICAL: 0,
    Severity.HIGH: 1,
    Severity.MEDIUM: 2,
    Severity.LOW: 3,
    Severity.INFO: 4,
}
_RISK_SCORE = {
    Severity.CRITICAL: 99.0,
    Severity.HIGH: 73.0,
    Severity.MEDIUM: 47.0,
    Severity.LOW: 21.0,
    Severity.INFO: 0.0,
}
