"""Playbook loading: the minimal shape loads; every error names file, line and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from sentinel.errors import PlaybookError
from sentinel.playbook import load_playbook

MINIMAL = """\
name: example
agencies: [{id: a1, name: {zh: 省政务服务数据管理局, en: Provincial Data Bureau}}]
scope: {authorised: ["198.18.0.0/15", "2001:db8::/32"], deny: []}
segments: [{id: s1, agency: a1, cidrs: ["198.18.1.0/24"], zone: extranet}]
"""

SEGMENT = """\
name: example
agencies:
  - id: a1
    name: {zh: 甲, en: A}
scope: {authorised: ["198.18.0.0/15", "2001:db8::/32"]}
segments:
  - id: s1
    agency: a1
    cidrs: ["198.18.1.0/24"]
    zone: extranet
"""


def load(text: str, name: str = "book.yml") -> object:
    return load_playbook(Path(name), text=text)


def test_minimal_playbook_loads_with_safe_defaults() -> None:
    book = load_playbook(Path("x.yml"), text=MINIMAL)
    assert book.agencies[0].name.zh == "省政务服务数据管理局"
    assert book.segments[0].zone == "extranet"
    assert book.rate.packets_per_second > 0 and book.probes.tcp is not None


def test_shipped_minimal_example_is_the_documented_shape() -> None:
    book = load_playbook(Path(__file__).parents[2] / "playbooks/examples/minimal.yml")
    assert book.name == "example"


@pytest.mark.parametrize(
    ("edit", "line", "field", "words"),
    [
        (("    zone: extranet", "    zone: intranet"), 10, "segments.0.zone", "'extranet'"),
        (
            ("    zone: extranet", "    zone: extranet\n    colour: red"),
            11,
            "segments.0.colour",
            "unknown field 'colour'",
        ),
        (
            ("    zone: extranet", "    zone: extranet\n    zone: management"),
            11,
            "zone",
            "duplicate key 'zone'",
        ),
        (("    agency: a1", "    agency: a9"), 8, "segments.0.agency", "unknown agency 'a9'"),
        (
            ('    cidrs: ["198.18.1.0/24"]', '    cidrs: ["198.18.1.1/24"]'),
            9,
            "segments.0.cidrs",
            "has host bits set",
        ),
        (("    agency: a1", "    agency: [a1"), 8, None, "not valid YAML"),
    ],
)
def test_errors_name_file_line_and_field(
    edit: tuple[str, str], line: int, field: str | None, words: str
) -> None:
    with pytest.raises(PlaybookError) as caught:
        load(SEGMENT.replace(*edit), "agency.yml")
    location = caught.value.location
    assert location is not None and location.file == "agency.yml"
    assert words in caught.value.message
    if field is not None:
        assert location.line == line and location.field == field
    else:
        assert location.line is not None and location.line >= line - 1


def test_missing_required_field_is_named() -> None:
    with pytest.raises(PlaybookError, match="missing required field 'scope'"):
        load(
            MINIMAL.replace(
                'scope: {authorised: ["198.18.0.0/15", "2001:db8::/32"], deny: []}\n', ""
            )
        )


def test_host_outside_its_segment_is_refused() -> None:
    text = SEGMENT.replace("    zone: extranet", "    zone: extranet\n    hosts: [198.18.2.1]")
    with pytest.raises(PlaybookError, match="not inside the segment") as caught:
        load(text)
    assert caught.value.location is not None and caught.value.location.line == 11


def test_huge_ipv4_sweep_without_hosts_is_refused() -> None:
    with pytest.raises(PlaybookError, match="too many to sweep"):
        load(SEGMENT.replace("198.18.1.0/24", "198.18.0.0/16"))
