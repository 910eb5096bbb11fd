"""What assessors receive and how they build findings: pure functions, no network, no disk."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sentinel.catalog import checks as catalog
from sentinel.model import Asset, Context, Endpoint, Evaluation, Finding, Observation
from sentinel.playbook import Segment
from sentinel.severity import Severity


@dataclass(frozen=True)
class AssetView:
    """Everything one scan saw of one asset, with the policy of its segment."""

    asset: Asset
    context: Context
    segment: Segment
    observations: Sequence[Observation]

    def of(self, probe: str) -> list[Observation]:
        return [o for o in self.observations if o.probe == probe]


class UndeclaredCheck(AssertionError):
    """An assessor emitted a check id it does not declare: a programming error."""


@dataclass(frozen=True)
class Assessor:
    """A pure function from one asset's observations to findings, with the check ids it can
    emit declared beside it: the registry that tests hold against ``playbooks/remediation/``
    (an id without its texts, texts that nothing emits)."""

    name: str
    checks: frozenset[str]
    judge: Callable[[AssetView], list[Finding]]

    def __call__(self, view: AssetView) -> list[Finding]:
        findings = self.judge(view)
        undeclared = {f.check_id for f in findings} - self.checks
        if undeclared:
            raise UndeclaredCheck(f"{self.name} emitted undeclared {sorted(undeclared)}")
        return findings


def assessor(*check_ids: str) -> Callable[[Callable[[AssetView], list[Finding]]], Assessor]:
    """Declare a function as an assessor that emits exactly these check ids (or fewer)."""

    def register(judge: Callable[[AssetView], list[Finding]]) -> Assessor:
        return Assessor(judge.__name__, frozenset(check_ids), judge)

    return register


def make_finding(
    view: AssetView,
    check_id: str,
    evaluation: Evaluation,
    *,
    endpoint: Endpoint | None,
    probe: str,
    protocol: str | None = None,
    evidence: dict[str, Any] | None = None,
    severity: Severity | None = None,
    observed: Observation | None = None,
) -> Finding:
    """A finding whose words, references and default severity come from the check catalog."""
    spec = catalog.check(check_id)
    when = observed.started if observed else view.observations[0].started
    return Finding(
        check_id=check_id,
        title=spec.title,
        evaluation=evaluation,
        severity=severity or spec.severity,
        context=view.context,
        asset=view.asset,
        endpoint=endpoint,
        protocol=protocol,
        probe=probe,
        ruleset=spec.ruleset,
        references=spec.references,
        evidence=evidence or {},
        observed_at=when,
    )


@dataclass(frozen=True)
class Verdict:
    """One check's outcome: failed or not, severity override, what it was judged on."""

    failed: bool
    evidence: dict[str, Any]
    severity: Severity | None = None
    evaluation: Evaluation | None = None  # ERROR when the facts cannot decide


def verdict_finding(view: AssetView, check_id: str, verdict: Verdict, obs: Observation, *,
                    probe: str, protocol: str | None = None) -> Finding:
    """The finding of one check's verdict on one observed endpoint (its severity override
    only when it failed)."""
    evaluation = verdict.evaluation or (Evaluation.FAILED if verdict.failed
                                        else Evaluation.PASSED)
    return make_finding(view, check_id, evaluation, endpoint=obs.endpoint, probe=probe,
                        protocol=protocol, evidence=verdict.evidence,
                        severity=verdict.severity if verdict.failed else None, observed=obs)
