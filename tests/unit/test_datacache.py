"""The pickled copies of validated data files: a probe run reads them without pydantic or
YAML, yet an edited file, a broken file or a damaged pickle never yields stale data."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from sentinel.catalog.cache import cache_path, cached
from sentinel.catalog.tls_schema import load_registry
from sentinel.errors import CatalogError
from sentinel.playbook import RateLimits
from sentinel.scope import ProbeLimits

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _own_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("SENTINEL_NO_CACHE", raising=False)


def test_a_damaged_pickle_is_rebuilt_not_trusted(tmp_path: Path) -> None:
    schema = [Path(__file__)]
    assert cached("demo", "text", schema, tuple, lambda: ("one",)) == ("one",)
    path = cache_path("demo", "text", schema)
    assert path is not None and path.exists()
    path.write_bytes(b"\x80\x05 not a pickle")
    assert cached("demo", "text", schema, tuple, lambda: ("two",)) == ("two",)
    # A pickle of another type under the same key is not returned either.
    path.write_bytes(__import__("pickle").dumps({"a": 1}))
    assert cached("demo", "text", schema, tuple, lambda: ("three",)) == ("three",)


def test_an_edited_file_has_another_key() -> None:
    schema = [Path(__file__)]
    assert cache_path("demo", "v1", schema) != cache_path("demo", "v2", schema)


def test_the_registry_schema_still_names_file_and_line() -> None:
    text = (REPO / "probes" / "tls.yml").read_text(encoding="utf-8")
    first = text.index("  - {code: 0x0001,")
    duplicate = text[:first] + text[first:].replace("{code: 0x0002,", "{code: 0x0001,", 1)
    with pytest.raises(CatalogError) as caught:
        load_registry(REPO / "probes" / "tls.yml", duplicate)
    message = str(caught.value)
    assert "duplicate code" in message and "tls.yml" in message
    assert ":9" in message  # the third suite's line, where 0x0001 appears again


def test_probe_limits_default_to_a_playbooks_limits() -> None:
    playbook = RateLimits()
    probe = ProbeLimits()
    for name in ("packets_per_second", "connections_per_host", "concurrent_hosts",
                 "host_delay_ms"):
        assert getattr(probe, name) == getattr(playbook, name), name


def test_a_probe_run_imports_neither_pydantic_nor_yaml(tmp_path: Path) -> None:
    """What `sentinel probe tls` loads once the caches are warm (they are, after one run)."""
    code = ("import sys, sentinel.cli.main, sentinel.cli.probe, sentinel.probes.tls\n"
            "from sentinel.catalog.tls import tls_registry\n"
            "from sentinel.catalog.scope_lists import probe_scope, global_deny\n"
            "tls_registry(); probe_scope(); global_deny()\n"
            "print(sorted(m for m in ('pydantic', 'yaml', 'sentinel.model', 'sentinel.playbook')"
            " if m in sys.modules))\n")
    env = {"XDG_CACHE_HOME": str(tmp_path / "cache"), "PATH": "/usr/bin:/bin"}
    first = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           env=env, check=True)
    assert "pydantic" in first.stdout  # the first run validates and fills the cache
    warm = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=env, check=True)
    assert warm.stdout.strip() == "[]"
