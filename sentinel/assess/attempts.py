"""A probe that could not complete is itself recorded: SEN-PROBE-ERROR, evaluation error."""

from __future__ import annotations

from sentinel.assess.base import AssetView, assessor, make_finding
from sentinel.model import AttemptStatus, Evaluation, Finding


@assessor("SEN-PROBE-ERROR")
def assess_attempts(view: AssetView) -> list[Finding]:
    """One error finding per failed attempt, carrying the reason."""
    return [
        make_finding(
            view,
            "SEN-PROBE-ERROR",
            Evaluation.ERROR,
            endpoint=o.endpoint,
            probe=o.probe,
            protocol=f"{o.probe}",
            evidence={"reason": o.reason.value if o.reason else None, "detail": o.detail},
            observed=o,
        )
        for o in view.observations
        if o.status is AttemptStatus.ERROR
    ]
