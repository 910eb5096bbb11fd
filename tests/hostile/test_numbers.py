"""Issue #14 item 3: every number from a person is finite and in range, or refused.

``--rate nan`` switched the rate limit off and ``--timeout nan`` crashed. Every numeric CLI
option (``grep -rn typer.Option sentinel/``: ``probe tls --timeout/--rate/--connections``,
``probe ssh --timeout``, ``probe snmp --timeout``, ``discover --timeout``) and every playbook
number (all ``number``/``integer`` fields of docs/schema/playbook.schema.json, the schema
generated from the playbook model) is tried with NaN, infinities, negatives and zero: exit
2, one message naming the option (or the file, line and field), no traceback, and nothing
sent — the refusal comes before the first packet. Runs are inside an empty network
namespace under strace.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.hostile.conftest import (
    DEFAULT_ROUTE_SETUP,
    REPO,
    Sandbox,
    assert_refused,
    playbook,
    segment,
)

pytestmark = pytest.mark.hostile

NOT_FINITE = ["nan", "NaN", "inf", "-inf", "+Infinity", "1e999"]

# (command, the option, its values that must be refused)
CLI_CASES: list[tuple[str, str, list[str]]] = [
    ("tls", "--timeout", [*NOT_FINITE, "-1", "0", "-0.0"]),
    ("tls", "--rate", [*NOT_FINITE, "-1", "0"]),
    ("tls", "--connections", ["nan", "inf", "-1", "0", "65", "1e3"]),
    ("ssh", "--timeout", [*NOT_FINITE, "-1", "0"]),
    ("snmp", "--timeout", [*NOT_FINITE, "-1", "0"]),
    ("discover", "--timeout", [*NOT_FINITE, "-1", "0", "-0.0"]),
]


def _cli_params() -> Iterator[Any]:
    for command, option, values in CLI_CASES:
        for value in values:
            yield pytest.param(command, option, value, id=f"{command}{option}={value}")


def _discover_book(sandbox: Sandbox) -> Path:
    return sandbox.write("book.yml", playbook(
        authorised=["198.18.0.0/15", "2001:db8::/32"],
        segments=[segment(["198.18.66.0/29", "2001:db8:66::/64"], id="here")]))


@pytest.mark.parametrize("command,option,value", list(_cli_params()))
def test_cli_number_refused(sandbox: Sandbox, command: str, option: str, value: str) -> None:
    """The option's value is refused before anything is sent (the target is a lab address:
    were the value accepted, the probe would try it and the tripwire would stop the run)."""
    if command == "discover":
        args: list[str | Path] = [
            "discover", "--playbook", _discover_book(sandbox), "--segment", "here",
            "--iface", "v0", "--store", sandbox.store, f"{option}={value}"]
    else:
        target = "198.18.10.10" if command == "snmp" else "198.18.10.10:443"
        args = ["probe", command, target, f"{option}={value}"]
    run = sandbox.run(*args, setup=DEFAULT_ROUTE_SETUP)
    assert_refused(run, option)


# -- playbook numbers ------------------------------------------------------------------------

SCHEMA = REPO / "docs" / "schema" / "playbook.schema.json"
# The fields the issue names, which the schema walk must find (so it can never come up empty).
MUST_COVER = {"rate.packets_per_second", "rate.connections_per_host", "rate.concurrent_hosts",
              "rate.host_delay_ms", "rate.probe_timeout_s", "probes.tls.timeout_s",
              "probes.ssh.timeout_s", "probes.snmp.timeout_s", "probes.web.timeout_s",
              "probes.discovery.timeout_s", "probes.nmap.budget_s"}


def _numeric_fields() -> list[tuple[tuple[str | int, ...], str]]:
    """(path, "number"|"integer") of every numeric field a playbook can hold."""
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    defs = schema.get("$defs", {})
    found: dict[tuple[str | int, ...], str] = {}

    def walk(node: dict[str, Any], path: tuple[str | int, ...], seen: tuple[str, ...]) -> None:
        if "$ref" in node:
            name = node["$ref"].rsplit("/", 1)[-1]
            if name not in seen:
                walk(defs[name], path, (*seen, name))
            return
        for key in ("anyOf", "oneOf", "allOf"):
            for sub in node.get(key, []):
                walk(sub, path, seen)
        kind = node.get("type")
        if kind in ("number", "integer"):
            found.setdefault(path, kind)
        for name, sub in node.get("properties", {}).items():
            walk(sub, (*path, name), seen)
        if isinstance(node.get("items"), dict):
            walk(node["items"], (*path, 0), seen)
        for index, sub in enumerate(node.get("prefixItems", [])):
            walk(sub, (*path, index), seen)

    walk(schema, (), ())
    return sorted(found.items(), key=lambda item: [str(p) for p in item[0]])


FIELDS = _numeric_fields()


def test_the_schema_walk_covers_the_numbers_the_issue_names() -> None:
    dotted = {".".join(map(str, path)) for path, _ in FIELDS}
    assert dotted >= MUST_COVER, f"not found in {SCHEMA}: {sorted(MUST_COVER - dotted)}"


PLACEHOLDER = "@@number@@"


def _book_with(path: tuple[str | int, ...], value: str) -> tuple[str, int]:
    """A valid lab playbook with ``value`` (raw YAML) at ``path``; returns (text, line)."""
    doc: dict[str, Any] = {
        "name": "numbers",
        "agencies": [{"id": "a1", "name": {"zh": "测试局", "en": "Test Bureau"}}],
        "scope": {"authorised": ["198.18.0.0/15"], "deny": []},
        "segments": [{"id": "s1", "agency": "a1", "cidrs": ["198.18.10.0/24"],
                      "zone": "extranet", "hosts": ["198.18.10.10"]}],
        "probes": {"tcp": {"ports": [443]}},
    }
    node: Any = doc
    for step, following in zip(path, [*path[1:], None], strict=True):
        if following is None:
            if isinstance(step, int):
                node[step] = PLACEHOLDER
            else:
                node[step] = PLACEHOLDER
            break
        if isinstance(step, int):
            node = node[step]
            continue
        if step not in node or not isinstance(node[step], dict | list):
            node[step] = [None] if isinstance(following, int) else {}
        node = node[step]
    text = yaml.safe_dump(doc, allow_unicode=True, sort_keys=False, default_flow_style=False)
    lines = text.splitlines()
    line = next(i for i, t in enumerate(lines, 1) if PLACEHOLDER in t)
    return text.replace(PLACEHOLDER, value), line


def _values(path: tuple[str | int, ...], kind: str) -> list[str]:
    """NaN, infinity and a negative for every field; the other spellings (a string "nan",
    -infinity, an overflowing literal) for the rate limits, where NaN turned the limit off."""
    del kind
    values = [".nan", ".inf", "-1"]
    if path[0] == "rate":
        values += ["nan", "-.inf", "1.0e+400", "NaN"]
    return values


@pytest.mark.parametrize("path,kind", FIELDS, ids=[".".join(map(str, p)) for p, _ in FIELDS])
def test_playbook_number_refused(sandbox: Sandbox, path: tuple[str | int, ...],
                                 kind: str) -> None:
    """Each bad value of the field in its own playbook and its own run (the runs of one field
    go side by side: each is its own namespace, home and store)."""
    dotted = ".".join(map(str, path))

    def attempt(index: int, value: str) -> str | None:
        own = Sandbox(sandbox.home / f"v{index}", sandbox.cache)
        text, line = _book_with(path, value)
        book = own.write("book.yml", text)
        run = own.run("scan", "--playbook", book, "--store", own.store)
        try:
            assert_refused(run, f"book.yml:{line}", dotted)
            assert not own.store.exists(), "the store was written for an invalid playbook"
        except AssertionError as exc:
            return f"{dotted}: {value}\n{exc}"
        return None

    values = _values(path, kind)
    with ThreadPoolExecutor(max_workers=len(values)) as pool:
        failures = [f for f in pool.map(attempt, range(len(values)), values) if f]
    assert not failures, "\n\n".join(failures)
