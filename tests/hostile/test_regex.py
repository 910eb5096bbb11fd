"""Issue #14 item 7: detection cannot be hung by the network.

An overlay Sigma rule ``|re: '(a+)+$'`` and a 40-byte banner from a server hung ``sentinel
detect`` and ``sentinel rules test`` (Python's backtracking engine takes ~2^40 steps). A
pathological pattern must be refused when the rules load (exit 2, naming the rule file) or
evaluated in linear time (a google-re2 style engine, or a per-match budget): either way the
command ends in seconds. Wildcards (``*a*a*...``) compile to regular expressions too and
are tried the same way.

The banner reaches the store the way a server's words do: an nmap report whose service
product is the banner, imported (nothing is sent), then ``detect`` runs the rules over it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.hostile.runner import (
    FAST_S,
    Result,
    assert_budget,
    assert_clean_error,
    assert_no_crash,
    clean_env,
    populated_store,
    run,
)

pytestmark = pytest.mark.hostile

RULE_ID = "5b1c9a7e-2f4d-4c1a-9f0e-3d2b1a0c9e8f"
TIMEOUT_S = 20.0
BANNER = "a" * 39 + "!"  # 40 bytes: no match, after every way of splitting the a's is tried


# (id, detection item, a value it matches, the hostile value it does not match)
PATHOLOGICAL: list[tuple[str, str, str, str]] = [
    ("nested-plus", "sentinel.evidence.product|re: '(a+)+$'", "aaaa", BANNER),
    ("alternation-star", "sentinel.evidence.product|re: '(a|a)*$'", "aaaa", BANNER),
    ("nested-star", "sentinel.evidence.product|re: '(a*)*b'", "aaab", "a" * 40),
    ("wildcards", "sentinel.evidence.product: '" + "*a" * 16 + "*b'", "a" * 16 + "b",
     "a" * 40),
]


def _overlay(tmp_path: Path, detection: str, matching: str, not_matching: str) -> Path:
    """A data overlay with one finding rule and its test cases (one match, one not)."""
    overlay = tmp_path / "overlay"
    (overlay / "rules" / "finding").mkdir(parents=True)
    (overlay / "rules" / "tests").mkdir(parents=True)
    (overlay / "rules" / "finding" / "hostile-regex.yml").write_text(
        f"title: Pathological pattern\nid: {RULE_ID}\nstatus: experimental\n"
        "description: a pattern whose backtracking explodes\nauthor: hostile suite\n"
        "date: '2026-12-04'\nlogsource: {product: sentinel, category: finding}\n"
        f"detection:\n  selection:\n    {detection}\n  condition: selection\nlevel: high\n",
        encoding="utf-8")

    def case(name: str, alerts: int, value: str) -> str:
        return (f"- name: {name}\n  alerts: {alerts}\n  documents:\n"
                "  - '@timestamp': '2026-11-20T08:00:00Z'\n"
                "    event: {kind: state, dataset: sentinel.finding}\n"
                "    result: {evaluation: failed}\n    organization: {id: a1}\n"
                "    rule: {id: DB-CES-CREDPLAIN}\n"
                "    sentinel: {segment: lo, zone: extranet, severity: high, "
                f"evidence: {{product: '{value}'}}}}\n")

    (overlay / "rules" / "tests" / "hostile-regex.yaml").write_text(
        f"rule: {RULE_ID}\ncases:\n" + case("matches", 1, matching)
        + case("does not match", 0, not_matching), encoding="utf-8")
    return overlay


def _refused_or_fast(result: Result, expected_status: int) -> None:
    """Refused at load (exit 2 naming the rule file), or evaluated within the budget."""
    assert_no_crash(result)
    if result.status == 2:
        assert_clean_error(result, 2, "hostile-regex.yml", max_seconds=FAST_S)
        return
    assert result.status == expected_status, result.describe()
    assert_budget(result, max_seconds=FAST_S)


@pytest.mark.parametrize("name,detection,matching,not_matching", PATHOLOGICAL,
                         ids=[p[0] for p in PATHOLOGICAL])
def test_rules_test_with_pathological_pattern(tmp_path: Path, name: str, detection: str,
                                              matching: str, not_matching: str) -> None:
    overlay = _overlay(tmp_path, detection, matching, not_matching)
    result = run("rules", "test", env=clean_env(tmp_path / "home",
                                                 SENTINEL_DATA_DIR=str(overlay)),
                 timeout=TIMEOUT_S)
    # Evaluated (not refused): every case, the hostile rule's included, passes.
    _refused_or_fast(result, 0)


@pytest.mark.parametrize("name,detection,matching,not_matching", PATHOLOGICAL,
                         ids=[p[0] for p in PATHOLOGICAL])
def test_detect_over_a_hostile_banner(tmp_path: Path, name: str, detection: str,
                                      matching: str, not_matching: str) -> None:
    overlay = _overlay(tmp_path, detection, matching, not_matching)
    store = populated_store(tmp_path / "populated", products=[not_matching, matching])
    result = run("detect", "--store", store, env=clean_env(tmp_path / "home",
                                                            SENTINEL_DATA_DIR=str(overlay)),
                 timeout=TIMEOUT_S)
    _refused_or_fast(result, 0)
    if result.status == 0:
        assert "Pathological pattern" in result.stdout, result.describe()  # the match alerts


def test_benign_pattern_control(tmp_path: Path) -> None:
    """The same overlay with a harmless pattern passes: the tests above fail for the
    pattern, not for the overlay."""
    overlay = _overlay(tmp_path, "sentinel.evidence.product|re: 'a+'", "aaaa", BANNER)
    result = run("rules", "test", env=clean_env(tmp_path / "home",
                                                 SENTINEL_DATA_DIR=str(overlay)),
                 timeout=TIMEOUT_S)
    assert_no_crash(result)
    assert result.status == 0, result.describe()
    assert "Pathological pattern [does not match]" in result.stdout, result.describe()
