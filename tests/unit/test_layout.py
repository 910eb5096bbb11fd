"""The package layout is the map (ARCHITECTURE.md): these tests keep it true.

- at most 13 modules at ``sentinel/``'s root, and no import cycle between any two modules
  (function-level imports included; the layer contracts themselves run in ``make lint``);
- one exit-status mapping, used by every command;
- the assessors declare the check ids they emit, and those are exactly the ids that have
  texts in ``playbooks/remediation/``;
- the probe kinds the planner runs are declared once (``probes/kinds.yml``);
- an attempt that ends in an internal error keeps its traceback in the store, never in a
  report.
"""

from __future__ import annotations

import ast
import asyncio
import json
import re
import sys
from pathlib import Path
from typing import Any, ClassVar

import grimp
import pytest

from sentinel.assess import ASSESSORS
from sentinel.assess.base import AssetView, UndeclaredCheck, assessor, make_finding
from sentinel.catalog.checks import checks
from sentinel.catalog.probe_kinds import probe_kinds
from sentinel.errors import (
    CatalogError,
    InputError,
    LabError,
    PlaybookError,
    ProbeError,
    ScopeRefused,
    SentinelError,
    StoreError,
    UsageError,
)
from sentinel.model import Asset, AttemptStatus, Context, Endpoint, Evaluation, Observation
from sentinel.playbook import Playbook
from sentinel.probes.base import Network, Target
from sentinel.report.html import render_agency
from sentinel.scan.engine import AssetPlan, Job
from sentinel.scan.plan import probes_for
from sentinel.scan.run import run_scan
from sentinel.store.sqlite import SqliteStore

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "sentinel"
CHECK_ID = re.compile(r"^[A-Z0-9]+(-[A-Z0-9]+)+$")


def test_few_modules_at_the_root() -> None:
    root_modules = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert len(root_modules) <= 13, root_modules


def _cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for start in sorted(graph.modules):
        if start in index:
            continue
        work = [(start, iter(sorted(graph.find_modules_directly_imported_by(start))))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append(
                        (child, iter(sorted(graph.find_modules_directly_imported_by(child)))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_no_import_cycles_function_level_imports_included() -> None:
    sys.path.insert(0, str(ROOT))
    try:
        graph = grimp.build_graph("sentinel", cache_dir=None)
    finally:
        sys.path.remove(str(ROOT))
    assert Path(graph.find_children("sentinel").pop().replace(".", "/")).parts[0] == "sentinel"
    assert _cycles(graph) == []


def test_the_cycle_finder_finds_a_cycle() -> None:
    class Graph:
        modules: ClassVar[set[str]] = {"a", "b", "c"}
        edges: ClassVar[dict[str, set[str]]] = {"a": {"b"}, "b": {"a"}, "c": {"a"}}

        def find_modules_directly_imported_by(self, module: str) -> set[str]:
            return self.edges[module]

    assert _cycles(Graph()) == [["a", "b"]]  # type: ignore[arg-type]  # a duck-typed graph


# ---- one exit-status mapping ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (InputError("x"), 2),
        (PlaybookError("x"), 2),
        (CatalogError("x"), 2),
        (UsageError("x"), 2),
        (ScopeRefused("198.18.0.1", "denied"), 2),
        (ProbeError(__import__("sentinel.errors").errors.ErrorReason.TIMEOUT, "x"), 1),
        (StoreError("x"), 1),
        (LabError("x"), 1),
        (SentinelError("x"), 1),
    ],
)
def test_the_error_type_decides_the_exit_status(error: SentinelError, status: int) -> None:
    from sentinel.cli.output import exit_status

    assert exit_status(error) == status


def test_no_command_chooses_an_exit_status_for_an_error_itself() -> None:
    """Only sentinel/cli/output.py turns an error into an exit status; the commands call it."""
    for path in sorted((PACKAGE / "cli").glob("*.py")):
        if path.name == "output.py":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and ast.unparse(node.func) in ("typer.Exit", "sys.exit"):
                argument = ast.unparse(node.args[0]) if node.args else ""
                assert "isinstance" not in argument, f"{path.name}: {ast.unparse(node)}"
            if isinstance(node, ast.ExceptHandler) and node.type is not None:
                body = ast.unparse(ast.Module(body=node.body, type_ignores=[]))
                assert "print(f'[bold red]error" not in body, path.name


def test_outside_sentinel_cli_nothing_prints_or_exits() -> None:
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE).as_posix()
        text = path.read_text(encoding="utf-8")
        # The lab's helper programs run as processes of their own inside lab namespaces.
        standalone = relative.startswith("lab/") and 'if __name__ == "__main__":' in text
        if relative.startswith("cli/") or standalone:
            continue
        tree = ast.parse(text)
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                called = ast.unparse(node.func)
                assert called not in ("print", "sys.exit", "exit", "typer.Exit"), (
                    f"{relative}:{node.lineno}: {called}")


# ---- registries -----------------------------------------------------------------------------


def test_assessors_declare_exactly_the_checks_that_have_texts() -> None:
    declared = set().union(*(a.checks for a in ASSESSORS))
    texts = set(checks())
    assert sorted(declared - texts) == [], "emitted ids without texts"
    assert sorted(texts - declared) == [], "texts that no assessor emits"


def test_each_assessor_module_names_only_the_checks_its_assessor_declares() -> None:
    by_module = {a.judge.__module__: a for a in ASSESSORS}
    for module, registered in by_module.items():
        source = (ROOT / (module.replace(".", "/") + ".py")).read_text(encoding="utf-8")
        literals = {
            node.value for node in ast.walk(ast.parse(source))
            if isinstance(node, ast.Constant) and isinstance(node.value, str)
            and CHECK_ID.match(node.value) and node.value in checks()
        }
        assert literals <= registered.checks, (module, sorted(literals - registered.checks))


def _view() -> AssetView:
    observation = Observation(
        probe="tcp", context=Context(scan_id="s", agency_id="a1", segment_id="s1"),
        asset=Asset(id="198.18.1.1"), endpoint=Endpoint(address="198.18.1.1", port=23),
        status=AttemptStatus.COMPLETED, started=__import__("sentinel.model").model.now())
    from sentinel.playbook import Segment

    segment = Segment(id="s1", agency="a1", cidrs=("198.18.1.0/24",), zone="extranet")
    return AssetView(observation.asset, observation.context, segment, [observation])


def test_an_assessor_that_emits_an_undeclared_check_is_stopped() -> None:
    @assessor("SSH-V1")
    def sloppy(view: AssetView) -> list[Any]:
        return [make_finding(view, "TLS-PROTO-10", Evaluation.FAILED, endpoint=None,
                             probe="tls")]

    with pytest.raises(UndeclaredCheck, match="TLS-PROTO-10"):
        sloppy(_view())


def test_probe_kinds_are_declared_once_and_planned_from_their_modules() -> None:
    kinds = [k.kind for k in probe_kinds()]
    assert kinds == ["tcp", "tls", "ssh", "snmp", "nmap", "tls_weakness"]
    playbook = Playbook.model_validate({
        "name": "all kinds",
        "agencies": [{"id": "a1", "name": {"zh": "甲", "en": "A"}}],
        "scope": {"authorised": ["198.18.0.0/15"]},
        "segments": [{"id": "s1", "agency": "a1", "cidrs": ["198.18.1.0/30"],
                      "zone": "extranet"}],
        "probes": {"tcp": {"ports": [22, 443]}, "tls": {"ports": [443]}, "ssh": {"ports": [22]},
                   "snmp": {}, "nmap": {}, "tls_weakness": {"ports": [443]}},
    })
    planned = probes_for(playbook)
    assert [p.probe.kind for p in planned] == kinds
    transports = {p.probe.kind: p.probe.transport for p in planned}
    assert transports == {"tcp": "tcp", "tls": "tcp", "ssh": "tcp", "snmp": "udp", "nmap": "tcp",
                          "tls_weakness": "tcp"}
    assert all(p.probe.budget_s >= 0 for p in planned)


# ---- internal errors: traceback in the store, not in a report -----------------------------


class Broken:
    """A probe kind with a bug in it."""

    kind: ClassVar[str] = "tcp"
    transport: ClassVar[str] = "tcp"
    budget_s: ClassVar[float] = 0.0

    async def run(self, target: Target, network: Network) -> dict[str, Any]:
        del network
        return {"ratio": 1 / len(target.asset.name or "")}


def test_an_internal_error_keeps_its_traceback_in_the_store_only(tmp_path: Path) -> None:
    playbook = Playbook.model_validate({
        "name": "loopback",
        "agencies": [{"id": "a1", "name": {"zh": "甲", "en": "A"}}],
        "scope": {"authorised": ["127.0.0.1/32"]},
        "segments": [{"id": "lo", "agency": "a1", "cidrs": ["127.0.0.1/32"],
                      "hosts": ["127.0.0.1"], "zone": "extranet"}],
    })
    segment = playbook.segments[0]
    asset = Asset(id="127.0.0.1", addresses=("127.0.0.1",))
    context = Context(scan_id="bug", agency_id="a1", segment_id="lo")
    plan = AssetPlan(asset.id, (Job(Broken(), Target(Endpoint(address="127.0.0.1", port=9),
                                                     asset, context, segment)),))
    with SqliteStore(tmp_path / "s.db") as store:
        record = asyncio.run(run_scan(playbook, store, playbook_name="p", scan_id="bug",
                                      plans=[plan]))
        attempt = store.assets(record.id)[0]["sentinel"]["attempt"]
        assert attempt["reason"] == "internal"
        assert "ZeroDivisionError" in attempt["traceback"]
        assert "in run" in attempt["traceback"]  # the frame of the fault
        html = render_agency(store, "a1", tmp_path / "out").read_text(encoding="utf-8")
        report = render_agency(store, "a1", tmp_path / "out", fmt="json").read_text(
            encoding="utf-8")
    assert "ZeroDivisionError" in html  # the reason is reported ...
    for text in (html, report):
        assert "Traceback" not in text and "in run" not in text  # ... the traceback is not
    assert json.loads(report)


def test_the_same_error_reads_the_same_from_every_command(tmp_path: Path) -> None:
    """A missing input file is bad input everywhere: exit 2, one ``error:`` line naming it."""
    from typer.testing import CliRunner

    from sentinel.cli.main import app

    missing = tmp_path / "no-such[1].yml"  # brackets: printed as given, never as markup
    xml = tmp_path / "scan.xml"
    xml.write_text("<nmaprun/>")
    commands = [
        ["scan", "--playbook", str(missing)],
        ["scan", "--playbook", str(missing), "--dry-run"],
        ["discover", "--playbook", str(missing), "--segment", "s1"],
        ["import", "nmap", str(xml), "--playbook", str(missing)],
        ["drill", "run", str(missing)],
        ["report", "--all", "--playbook", str(missing), "--store", str(tmp_path / "s.db")],
    ]
    for args in commands:
        result = CliRunner().invoke(app, args)
        errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
        assert result.exit_code == 2, (args, result.stderr)
        assert len(errors) == 1 and str(missing.name) in errors[0], (args, result.stderr)
        assert "Traceback" not in result.stderr
