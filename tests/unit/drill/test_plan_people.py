"""Manual injects in a drill plan: their shape, the scope gate at load, located errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from sentinel.cli.main import app
from sentinel.drill.plan import inject_agency, load_drill
from sentinel.errors import PlaybookError

PLAN = """\
id: people
name: {zh: 人工演练, en: people drill}
playbook: lab.yml
agencies: [city-gov, cloud-t1]
window: {start: "2026-09-01T09:00:00+08:00", end: "2026-09-01T18:00:00+08:00"}
injects:
  - id: rt-telnet
    performed_by: people
    target: 198.18.13.10
    window: {start: "2026-09-01T10:00:00+08:00", end: "2026-09-01T12:00:00+08:00"}
    expect: {check: DB-CES-HIGHRISKPORT, asset: www.city.test, port: 23}
"""


LAB_BOOK = Path(__file__).resolve().parents[3] / "playbooks" / "lab.yml"
DENIED = "198.19.254.1"  # inside the lab's range, in the deny list of the playbook written here


def write(tmp_path: Path, text: str) -> Path:
    """The plan beside a copy of the lab playbook whose scope denies 198.19.254.0/24, so a
    refusal is shown with no address outside the lab's own range."""
    book = LAB_BOOK.read_text(encoding="utf-8")
    assert "  deny: []\n" in book
    denying = book.replace("  deny: []\n", "  deny:\n  - 198.19.254.0/24\n")
    (tmp_path / "lab.yml").write_text(denying, encoding="utf-8")
    path = tmp_path / "d.yml"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_manual_inject_loads_with_its_agency_from_the_target(tmp_path: Path) -> None:
    drill, playbook = load_drill(write(tmp_path, PLAN))
    (inject,) = drill.injects
    assert inject.manual and inject.kind is None
    assert inject.expect[0].label == "DB-CES-HIGHRISKPORT @ www.city.test:23"
    assert inject_agency(playbook, inject) == "city-gov"


@pytest.mark.parametrize(("bad", "where", "said"), [
    # denied by the playbook's scope: the scope gate refuses
    (PLAN.replace("target: 198.18.13.10", f"target: {DENIED}"), "d.yml:9",
     "refused by the scope gate"),
    (PLAN.replace("target: 198.18.13.10", "target: www.city.test"), "d.yml:9",
     "not an IP address"),
    # in scope, but no segment of an agency of this drill holds it
    (PLAN.replace("target: 198.18.13.10", "target: 198.18.200.1"), "d.yml:9",
     "no segment"),
    (PLAN.replace("[city-gov, cloud-t1]", "[cloud-t1]"), "d.yml:9", "not in the drill"),
    (PLAN.replace('end: "2026-09-01T12:00', 'end: "2026-09-02T12:00'), "d.yml:10",
     "not inside the drill window"),
    (PLAN.replace("    window: {start", "    host: web\n    window: {start"), "d.yml:7",
     "'kind' and 'host' are for lab injects"),
    (PLAN.replace("    window: {start: \"2026-09-01T10", "    wndow: {start: \"2026-09-01T10"),
     "d.yml:10", "unknown field 'wndow'"),
])
def test_bad_manual_injects_are_refused_with_their_location(tmp_path: Path, bad: str,
                                                            where: str, said: str) -> None:
    with pytest.raises(PlaybookError) as caught:
        load_drill(write(tmp_path, bad))
    assert where in str(caught.value) and said in str(caught.value)


def test_the_command_refuses_an_out_of_scope_target_with_exit_2(tmp_path: Path) -> None:
    plan = write(tmp_path, PLAN.replace("target: 198.18.13.10", f"target: {DENIED}"))
    done = CliRunner().invoke(app, ["drill", "status", str(plan), "--store",
                                    str(tmp_path / "s.db")])
    assert done.exit_code == 2
    assert "d.yml:9" in done.output and "scope gate" in done.output


def test_a_lab_inject_still_needs_kind_and_host(tmp_path: Path) -> None:
    text = PLAN.replace("    performed_by: people\n    target: 198.18.13.10\n", "").replace(
        '    window: {start: "2026-09-01T10:00:00+08:00", end: "2026-09-01T12:00:00+08:00"}\n',
        "")
    with pytest.raises(PlaybookError, match="needs 'kind' and 'host'"):
        load_drill(write(tmp_path, text))
