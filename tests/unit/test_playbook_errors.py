"""A broken playbook is told whole: every field error, then every dangling reference, each
with its file, line and field, in one run that exits 2 (not one error a run)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from sentinel.cli.main import app
from sentinel.playbook import PlaybookErrors, load_playbook

FIELDS = """\
name: broken
agencies:
  - {id: a1, name: {zh: 一号, en: One}}
scope: {authorised: ["198.18.0.0/15"]}
segments:
  - id: s1
    agency: a1
    cidrs: ["198.18.1.1/24"]
    zone: extranet
    colour: blue
  - id: s2
    agency: a1
    cidrs: ["198.18.2.0/24"]
    zone: nowhere
rate: {packets_per_second: -1}
"""

REFERENCES = """\
name: dangling
agencies:
  - {id: a1, name: {zh: 一号, en: One}}
scope: {authorised: ["198.18.0.0/15"]}
segments:
  - {id: s1, agency: a9, cidrs: ["198.18.1.0/24"], zone: extranet}
  - {id: s1, agency: a1, cidrs: ["198.18.2.0/24"], zone: extranet, hosts: [198.18.3.1]}
sites:
  - {agency: a7, hostname: www.a7.test}
"""


@pytest.mark.parametrize(("text", "expected"), [
    (FIELDS, [
        ("8", "segments.0.cidrs", "has host bits set"),
        ("10", "segments.0.colour", "unknown field 'colour'"),
        ("14", "segments.1.zone", "(got 'nowhere')"),
        ("15", "rate.packets_per_second", "greater than 0"),
    ]),
    (REFERENCES, [
        ("6", "segments.0.agency", "unknown agency 'a9'"),
        ("7", "segments.1.id", "duplicate id 's1'"),
        ("7", "segments.1.hosts", "host 198.18.3.1 is not inside the segment's CIDRs"),
        ("9", "sites.0.agency", "unknown agency 'a7'"),
    ]),
], ids=["fields", "references"])
def test_every_error_at_once(tmp_path: Path, text: str,
                             expected: list[tuple[str, str, str]]) -> None:
    book = tmp_path / "book.yml"
    book.write_text(text, encoding="utf-8")
    result = CliRunner().invoke(app, ["scan", "--playbook", str(book), "--dry-run"])
    assert result.exit_code == 2 and result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == len(expected), result.stderr
    for said, (line, field, words) in zip(lines, expected, strict=True):
        assert said.removeprefix("error: ").startswith(f"{book}:{line}:"), said
        assert f": {field}: " in said and words in said, said
    assert f"({len(expected)} errors)" in lines[0]

    with pytest.raises(PlaybookErrors) as caught:  # the same, for code that loads playbooks
        load_playbook(book)
    assert [(str(loc.line), loc.field) for loc, _ in caught.value.problems] == [
        (line, field) for line, field, _ in expected]
