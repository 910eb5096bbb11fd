"""Finding lifecycle across scans: open → resolved → reopened, keyed by the finding key.

Pure functions: given what the store remembers about each key and what this scan found,
decide each failed finding's status, which keys this scan resolves, and the change events
that say so. A key is resolved only when this scan looked again (the same probe completed on
the same asset) and did not fail it: a host that was down resolves nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime

from sentinel.model import (
    Context,
    Evaluation,
    Event,
    Finding,
    FindingStatus,
    KeyState,
    Text,
)
from sentinel.severity import Severity


@dataclass(frozen=True)
class LifecycleOutcome:
    findings: list[Finding]
    states: list[KeyState]
    events: list[Event]


def _event(
    action: str, message: Text, state: KeyState, when: datetime, severity: Severity
) -> Event:
    return Event(
        action=action,
        category="change",
        message=message,
        context=state.context,
        asset=state.asset,
        endpoint=state.endpoint,
        finding_key=state.key,
        severity=severity,
        created=when,
        after={"check_id": state.check_id, "status": state.status.value},
    )


def apply(
    previous: dict[str, KeyState],
    current: Iterable[Finding],
    coverage: set[tuple[str, str]],
    ctx: Context,
    when: datetime,
) -> LifecycleOutcome:
    """Set each failed finding's status and derive state changes and events for one scan.

    ``coverage`` holds (asset id, probe) pairs whose probe completed in this scan.
    """
    findings: list[Finding] = []
    states: list[KeyState] = []
    events: list[Event] = []
    failed_keys: set[str] = set()
    for finding in current:
        if finding.evaluation is not Evaluation.FAILED:
            findings.append(finding)
            continue
        key = finding.key
        failed_keys.add(key)
        prior = previous.get(key)
        if prior is None:
            status, first, reopened = FindingStatus.OPEN, when, 0
            action, words = "finding-opened", Text(zh="新发现问题", en="finding opened")
        elif prior.status is FindingStatus.RESOLVED:
            status, first, reopened = FindingStatus.REOPENED, prior.first_seen, prior.reopened + 1
            action, words = "finding-reopened", Text(zh="已整改问题再次出现", en="finding reopened")
        else:
            status, first, reopened = prior.status, prior.first_seen, prior.reopened
            action = ""
        change = {"finding-opened": "opened", "finding-reopened": "reopened"}.get(action)
        findings.append(finding.model_copy(update={"status": status, "change": change}))
        state = KeyState(
            key,
            finding.check_id,
            finding.asset.id,
            finding.probe,
            status,
            finding.severity,
            first,
            when,
            finding.context,
            finding.asset,
            finding.endpoint,
            reopened,
        )
        states.append(state)
        if action:
            events.append(_event(action, words, state, when, finding.severity))
    for key, prior in previous.items():
        if key in failed_keys or prior.status is FindingStatus.RESOLVED:
            continue
        if (prior.asset_id, prior.probe) in coverage:
            state = replace(
                prior,
                status=FindingStatus.RESOLVED,
                context=prior.context.model_copy(update={"scan_id": ctx.scan_id}),
            )
            states.append(state)
            events.append(
                _event(
                    "finding-resolved",
                    Text(zh="问题已整改", en="finding resolved"),
                    state,
                    when,
                    Severity.INFO,
                )
            )
    return LifecycleOutcome(findings, states, events)
