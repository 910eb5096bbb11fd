"""Drill files: strict schema with located errors; detection and verification rules."""

from __future__ import annotations

from pathlib import Path

import pytest

from sentinel.catalog.resources import data_file
from sentinel.drill.plan import Expect, load_drill
from sentinel.drill.run import matches
from sentinel.errors import PlaybookError

GOOD = """\
id: t
name: {zh: 演练, en: drill}
playbook: lab.yml
agencies: [city-gov]
window: {start: "2026-01-01T00:00:00+08:00", end: "2026-01-02T00:00:00+08:00"}
injects:
  - id: telnet
    kind: open-service
    host: web
    port: 23
    expect: [{check: DB-CES-HIGHRISKPORT, asset: www.city.test, port: 23}]
"""


def load(tmp_path: Path, text: str) -> object:
    path = tmp_path / "d.yml"
    path.write_text(text, encoding="utf-8")
    return load_drill(path)


def test_the_shipped_drill_loads() -> None:
    drill, playbook = load_drill(Path(str(data_file("playbooks", "drills/lab-joint.yml"))))
    assert {i.kind for i in drill.injects} == {"open-service", "disable-national-crypto",
                                               "drop-ipv6"}
    assert playbook.name == "lab"


@pytest.mark.parametrize(("bad", "where"), [
    (GOOD.replace("host: web", "host: nowhere"), "d.yml:9"),
    (GOOD.replace("[city-gov]", "[city-gov, mars]"), "d.yml:4"),
    (GOOD.replace("kind: open-service", "kind: reboot"), "d.yml:8"),
    (GOOD.replace("check: DB-CES-HIGHRISKPORT,", "check: X, event: y,"), "d.yml:11"),
    (GOOD.replace('end: "2026-01-02', 'end: "2025-01-02'), "d.yml:5"),
    (GOOD + "extra: 1\n", "d.yml:12"),
])
def test_bad_drill_files_are_located(tmp_path: Path, bad: str, where: str) -> None:
    with pytest.raises(PlaybookError) as caught:
        load(tmp_path, bad)
    assert where in str(caught.value)


def test_expectations_match_findings_and_events() -> None:
    finding = {"host": {"id": "www.city.test"}, "destination": {"port": 23},
               "rule": {"id": "DB-CES-HIGHRISKPORT"}, "result": {"evaluation": "failed"}}
    event = {"host": {"id": "portal.test", "name": "portal.test"},
             "event": {"action": "ipv6-lost"}}
    check = Expect(check="DB-CES-HIGHRISKPORT", asset="www.city.test", port=23)
    assert matches(check, finding)
    assert not matches(check.model_copy(update={"port": 22}), finding)
    assert not matches(check, {**finding, "result": {"evaluation": "passed"}})
    assert matches(Expect(event="ipv6-lost", asset="portal.test"), event)
    assert not matches(Expect(event="ipv6-gained", asset="portal.test"), event)
