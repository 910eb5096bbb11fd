"""The data catalogs: every check an assessor emits is defined; overlays replace shipped files."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from sentinel import catalog
from sentinel.catalog import checks, scope_lists, services
from sentinel.catalog.resources import OVERLAY_ENV
from sentinel.errors import CatalogError

ROOT = Path(__file__).parents[2]


def emitted_check_ids() -> set[str]:
    ids: set[str] = set()
    for path in (ROOT / "sentinel" / "assess").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            # Table-driven ids (assess/crypto.py CHECKS) are checked by their own tests.
            if (isinstance(node, ast.Call) and getattr(node.func, "id", "") == "make_finding"
                    and isinstance(node.args[1], ast.Constant)):
                ids.add(ast.literal_eval(node.args[1]))
    return ids


def test_every_emitted_check_has_words_in_both_languages() -> None:
    emitted = emitted_check_ids()
    assert emitted, "no assessor found"
    for check_id in emitted:
        spec = checks.check(check_id)
        assert spec.title.zh and spec.title.en and spec.fix.zh and spec.fix.en


def test_services_catalog_maps_the_high_risk_ports() -> None:
    by_port = services.service_by_port()
    assert by_port[(23, "tcp")].id == "telnet" and by_port[(23, "tcp")].high_risk
    assert by_port[(6379, "tcp")].high_risk and by_port[(3389, "tcp")].management


def test_overlay_replaces_a_shipped_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "probes").mkdir()
    (tmp_path / "probes" / "scope.yml").write_text("global_deny: [198.18.77.0/24]\n")
    monkeypatch.setenv(OVERLAY_ENV, str(tmp_path))
    catalog.clear_caches()
    try:
        assert scope_lists.global_deny() == ("198.18.77.0/24",)
    finally:
        catalog.clear_caches()


def test_a_broken_overlay_is_located(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "playbooks" / "remediation"
    folder.mkdir(parents=True)
    (folder / "extra.yml").write_text(
        "checks:\n  X-ONE:\n    title: {zh: a, en: b}\n    title: {zh: c, en: d}\n"
    )
    monkeypatch.setenv(OVERLAY_ENV, str(tmp_path))
    catalog.clear_caches()
    try:
        with pytest.raises(CatalogError, match="duplicate key 'title'") as caught:
            checks.checks()
        assert caught.value.location is not None and caught.value.location.line == 4
    finally:
        catalog.clear_caches()
