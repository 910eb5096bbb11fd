"""Issue #14 item 8: paths come from validated names, and the data folder is what it says.

``sentinel report --agency ../../x --out DIR`` wrote outside DIR and exited 0; an unknown
agency wrote an empty report. ``SENTINEL_DATA_DIR`` pointing at a missing folder was silently
ignored (an organisation's deny list overlay could vanish); overlay errors named the shipped
path (``rules/finding/x.yml``) instead of the overlay's own file; two rules with the same id
were both loaded. Each must now be an error: exit 2, one message naming the value or file,
nothing written.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.hostile.runner import (
    REPO,
    assert_clean_error,
    assert_no_crash,
    clean_env,
    closed_port,
    loopback_playbook,
    nmap_host,
    nmap_xml,
    populated_store,
    run,
)

pytestmark = pytest.mark.hostile


# -- report output names -------------------------------------------------------------------


def _written(root: Path) -> list[Path]:
    """Files the report command wrote: anything under ``root`` but the store it read and
    the run's home (data cache)."""
    kept = (root / "populated", root / "home")
    return sorted(p for p in root.rglob("*")
                  if p.is_file() and not any(p.is_relative_to(k) for k in kept))


@pytest.mark.parametrize("agency", ["../../escaped", "../escaped", "a1/../../escaped",
                                    "ABSOLUTE", "nosuch", "a1/", ".", ""])
def test_report_agency_must_be_a_known_id(tmp_path: Path, agency: str) -> None:
    store = populated_store(tmp_path / "populated")
    out = tmp_path / "deep" / "er" / "out"
    if agency == "ABSOLUTE":
        agency = str(tmp_path / "absolute")
    result = run("report", "--agency", agency, "--format", "json", "--out", out,
                 "--store", store, home=tmp_path / "home")
    assert _written(tmp_path) == [], result.describe()
    assert_clean_error(result, 2, agency or "--agency")


def test_report_known_agency_control(tmp_path: Path) -> None:
    store = populated_store(tmp_path / "populated")
    out = tmp_path / "out"
    result = run("report", "--agency", "a1", "--format", "json", "--out", out,
                 "--store", store, home=tmp_path / "home")
    assert_no_crash(result)
    assert result.status == 0, result.describe()
    assert _written(tmp_path) == [out / "a1.json"], result.describe()


# -- SENTINEL_DATA_DIR -----------------------------------------------------------------------


def _commands(tmp_path: Path, port: int) -> dict[str, list[object]]:
    book = tmp_path / "book.yml"
    book.write_text(loopback_playbook(), encoding="utf-8")
    return {
        "scan-dry-run": ["scan", "--playbook", book, "--dry-run"],
        "rules-list": ["rules", "list"],
        "probe-tls": ["probe", "tls", f"127.0.0.1:{port}", "--timeout", "1"],
    }


@pytest.mark.parametrize("command", ["scan-dry-run", "rules-list", "probe-tls"])
@pytest.mark.parametrize("where", ["/nonexistent", "missing", "a-file"])
def test_data_dir_that_is_not_a_folder(tmp_path: Path, where: str, command: str) -> None:
    if where == "missing":
        data_dir = tmp_path / "missing"
    elif where == "a-file":
        data_dir = tmp_path / "a-file"
        data_dir.write_text("not a folder\n", encoding="utf-8")
    else:
        data_dir = Path(where)
    assert not data_dir.is_dir()
    with closed_port() as port:
        args = _commands(tmp_path, port)[command]
        env = clean_env(tmp_path / "home", SENTINEL_DATA_DIR=str(data_dir))
        result = run(*args, env=env)
    assert_clean_error(result, 2, [str(data_dir)])


# -- overlay errors name the overlay's file ----------------------------------------------------

BAD_OVERLAY: dict[str, tuple[str, str]] = {
    # name: (file in the overlay, its text)
    "rule-bad-id": ("rules/finding/bad.yml",
                    "title: bad\nid: not-a-uuid\nlogsource: {product: sentinel, category: "
                    "finding}\ndetection: {sel: {rule.id: x}, condition: sel}\nlevel: high\n"),
    "rule-bad-yaml": ("rules/finding/bad.yml", "title: [unclosed\n"),
    "rule-tests-not-mapping": ("rules/tests/bad.yaml", "- just\n- a list\n"),
    "pipeline-bad": ("rules/pipelines/sentinel.yaml", "name: x\nunknown_key: 1\n"),
    "remediation-bad": ("playbooks/remediation/bad.yml", "checks: {NOT-VALID: {title: x}}\n"),
    "scope-bad": ("probes/scope.yml", "global_deny: [not-a-cidr]\n"),
    "labels-bad": ("reports/labels.yml", "- not\n- a mapping\n"),
}


@pytest.mark.parametrize("name", sorted(BAD_OVERLAY))
def test_overlay_error_names_the_overlay_file(tmp_path: Path, name: str) -> None:
    relative, text = BAD_OVERLAY[name]
    overlay = tmp_path / "overlay"
    bad = overlay / relative
    bad.parent.mkdir(parents=True)
    bad.write_text(text, encoding="utf-8")
    book = tmp_path / "book.yml"
    book.write_text(loopback_playbook(), encoding="utf-8")
    top = relative.split("/", 1)[0]
    if relative.startswith("rules/tests"):
        args: list[object] = ["rules", "test"]
    elif relative.startswith("rules/pipelines"):
        args = ["rules", "convert"]
    elif top == "rules":
        args = ["rules", "list"]
    elif relative.startswith("playbooks/remediation"):
        xml = tmp_path / "scan.xml"
        xml.write_text(nmap_xml(nmap_host("127.0.0.1")), encoding="utf-8")
        args = ["import", "nmap", xml, "--playbook", book, "--store", tmp_path / "s.db"]
    elif top == "reports":
        args = ["report", "--all", "--store", populated_store(tmp_path / "populated"),
                "--out", tmp_path / "out"]
    else:
        args = ["scan", "--playbook", book, "--dry-run"]
    result = run(*args, env=clean_env(tmp_path / "home", SENTINEL_DATA_DIR=str(overlay)))
    assert_clean_error(result, 2, str(bad))


# -- duplicate rule ids ------------------------------------------------------------------------


def _duplicate_overlay(tmp_path: Path) -> tuple[Path, Path]:
    """An overlay holding a copy of a shipped rule under another file name (same id)."""
    overlay = tmp_path / "overlay"
    (overlay / "rules" / "finding").mkdir(parents=True)
    (overlay / "rules" / "tests").mkdir(parents=True)
    copy = overlay / "rules" / "finding" / "telnet-exposed-copy.yml"
    shutil.copy(REPO / "rules" / "finding" / "telnet-exposed.yml", copy)
    shutil.copy(REPO / "rules" / "tests" / "telnet-exposed.yaml",
                overlay / "rules" / "tests" / "telnet-exposed-copy.yaml")
    return overlay, copy


@pytest.mark.parametrize("command", ["rules-list", "rules-test", "rules-convert", "detect"])
def test_duplicate_rule_ids_are_refused(tmp_path: Path, command: str) -> None:
    overlay, copy = _duplicate_overlay(tmp_path)
    args: list[object] = (["detect", "--store", populated_store(tmp_path / "populated")]
                          if command == "detect" else ["rules", command.removeprefix("rules-")])
    result = run(*args, env=clean_env(tmp_path / "home", SENTINEL_DATA_DIR=str(overlay)))
    assert_clean_error(result, 2, [copy.name, "telnet-exposed.yml"])


def test_duplicate_check_ids_are_refused(tmp_path: Path) -> None:
    """A remediation overlay that defines a shipped check again under another file name:
    refused (that already happens) naming both files."""
    overlay = tmp_path / "overlay"
    folder = overlay / "playbooks" / "remediation"
    folder.mkdir(parents=True)
    shipped = sorted((REPO / "playbooks" / "remediation").glob("*.yml"))[0]
    copy = folder / f"copy-of-{shipped.name}"
    shutil.copy(shipped, copy)
    book = tmp_path / "book.yml"
    book.write_text(loopback_playbook(), encoding="utf-8")
    xml = tmp_path / "scan.xml"
    xml.write_text(nmap_xml(nmap_host("127.0.0.1")), encoding="utf-8")
    result = run("import", "nmap", xml, "--playbook", book, "--store", tmp_path / "s.db",
                 env=clean_env(tmp_path / "home", SENTINEL_DATA_DIR=str(overlay)))
    assert_clean_error(result, 2, [str(copy), f"/{shipped.name}"])
