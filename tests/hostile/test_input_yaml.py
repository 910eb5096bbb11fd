"""Issue #14 item 4: every YAML file Sentinel reads is bounded.

A 519-byte alias bomb grew memory ~100 MB/s in a playbook and in a credentials file; 100k
nested brackets segfaulted; 1k-20k levels and a self-referencing alias gave RecursionError
tracebacks; /dev/zero as a playbook hit MemoryError and a FIFO blocked forever. Each hostile
text here is tried in every kind of YAML file the command line reads: playbooks (four
commands), drill files, the SNMPv3 credentials file (named by the playbook and by
``SENTINEL_CREDENTIALS``), the Elasticsearch config file, and the data overlays of
``SENTINEL_DATA_DIR`` (scope, probe kinds, TLS registry, services, IPv6 policy, remediation
texts, report labels, scoring, SLA, Sigma rules, rule tests, the Sigma pipeline). Each must
be refused with exit 2 and one message naming the file, within seconds and a few hundred
MiB, without a traceback. Special files (devices, FIFOs, a 3 GiB sparse file) are refused
as not regular or too big.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.hostile.runner import (
    GIB,
    HOSTILE_TIMEOUT_S,
    HOSTILE_YAML,
    REPO,
    Result,
    assert_hostile_refused,
    clean_env,
    closed_port,
    loopback_playbook,
    make_fifo,
    make_sparse,
    nmap_host,
    nmap_xml,
    populated_store,
    run,
)

pytestmark = pytest.mark.hostile

# The texts that stress a loader differently: expansion, depth (C and Python), cycles.
CORE = ["alias-bomb", "brackets-100k", "sequence-nest-5k", "self-alias"]


def _write(path: Path, text: str, mode: int = 0o600) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    path.chmod(mode)
    return path


# -- playbooks -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(HOSTILE_YAML))
def test_playbook_yaml(tmp_path: Path, name: str) -> None:
    book = _write(tmp_path / f"{name}.yml", HOSTILE_YAML[name])
    result = run("scan", "--playbook", book, "--dry-run", home=tmp_path / "home",
                 timeout=HOSTILE_TIMEOUT_S)
    assert_hostile_refused(result, str(book))


@pytest.mark.parametrize("command", ["import-nmap", "report", "discover", "drill"])
def test_alias_bomb_in_every_command_that_reads_a_playbook(tmp_path: Path, command: str) -> None:
    bomb = _write(tmp_path / "bomb.yml", HOSTILE_YAML["alias-bomb"])
    xml = _write(tmp_path / "scan.xml", nmap_xml(nmap_host("127.0.0.1")))
    store = tmp_path / "store.db"
    args = {
        "import-nmap": ["import", "nmap", xml, "--playbook", bomb, "--store", store],
        "report": ["report", "--all", "--playbook", bomb, "--store", store,
                   "--out", tmp_path / "out"],
        "discover": ["discover", "--playbook", bomb, "--segment", "lo"],
        "drill": ["drill", "run", bomb, "--store", store, "--out", tmp_path / "out"],
    }[command]
    # discover and drill would touch interfaces and the lab after the file: keep them in an
    # empty network namespace whatever happens.
    wrap = ["unshare", "-n"] if command in ("discover", "drill") else []
    result = run(*args, home=tmp_path / "home", timeout=HOSTILE_TIMEOUT_S, wrap=wrap)
    assert_hostile_refused(result, str(bomb))


def _special(tmp_path: Path, kind: str) -> Path:
    if kind == "fifo":
        return make_fifo(tmp_path / "fifo.yml")
    if kind == "sparse-3GiB":
        return make_sparse(tmp_path / "huge.yml", 3 * GIB)
    if kind == "symlink-to-dev-zero":
        link = tmp_path / "zero.yml"
        link.symlink_to("/dev/zero")
        return link
    return Path(kind)


SPECIAL = ["/dev/zero", "/dev/urandom", "fifo", "sparse-3GiB", "symlink-to-dev-zero"]


@pytest.mark.parametrize("kind", SPECIAL)
def test_playbook_special_file(tmp_path: Path, kind: str) -> None:
    path = _special(tmp_path, kind)
    result = run("scan", "--playbook", path, "--dry-run", home=tmp_path / "home",
                 timeout=HOSTILE_TIMEOUT_S)
    assert_hostile_refused(result, str(path))


# -- the SNMPv3 credentials file --------------------------------------------------------------


def _snmp_playbook(tmp_path: Path, credentials: Path | None) -> Path:
    named = f", credentials_file: '{credentials}'" if credentials else ""
    return _write(tmp_path / "snmp.yml", loopback_playbook(
        probes=f"{{tcp: null, snmp: {{port: 16161, timeout_s: 0.5{named}}}}}"))


@pytest.mark.parametrize("name", CORE)
def test_credentials_file_yaml(tmp_path: Path, name: str) -> None:
    credentials = _write(tmp_path / "credentials.yml", HOSTILE_YAML[name])
    book = _snmp_playbook(tmp_path, credentials)
    result = run("scan", "--playbook", book, "--dry-run", home=tmp_path / "home",
                 timeout=HOSTILE_TIMEOUT_S)
    assert_hostile_refused(result, str(credentials))


def test_credentials_file_from_environment_alias_bomb(tmp_path: Path) -> None:
    credentials = _write(tmp_path / "credentials.yml", HOSTILE_YAML["alias-bomb"])
    book = _snmp_playbook(tmp_path, None)
    env = clean_env(tmp_path / "home", SENTINEL_CREDENTIALS=str(credentials))
    result = run("scan", "--playbook", book, "--dry-run", env=env, timeout=HOSTILE_TIMEOUT_S)
    assert_hostile_refused(result, str(credentials))


# -- the Elasticsearch config file -----------------------------------------------------------


def _es_setup(tmp_path: Path, config: Path) -> Result:
    with closed_port() as port:  # whatever happens, nothing answers there
        env = clean_env(tmp_path / "home", SENTINEL_ES_CONFIG=str(config))
        return run("es", "setup", "--es-url", f"http://127.0.0.1:{port}", env=env,
                   timeout=HOSTILE_TIMEOUT_S)


@pytest.mark.parametrize("name", CORE)
def test_es_config_yaml(tmp_path: Path, name: str) -> None:
    config = _write(tmp_path / "es.yml", HOSTILE_YAML[name])
    result = _es_setup(tmp_path, config)
    assert_hostile_refused(result, str(config))


@pytest.mark.parametrize("kind", ["/dev/zero", "fifo", "sparse-3GiB"])
def test_es_config_special_file(tmp_path: Path, kind: str) -> None:
    path = _special(tmp_path, kind)
    result = _es_setup(tmp_path, path)
    assert_hostile_refused(result, str(path))


# -- data overlays (SENTINEL_DATA_DIR) ---------------------------------------------------------

# (file in the overlay, the command that reads it)
OVERLAY_READERS: list[tuple[str, str]] = [
    ("probes/scope.yml", "scan-dry-run"),
    ("probes/kinds.yml", "scan-dry-run"),
    ("probes/tls.yml", "probe-tls"),
    ("probes/services.yml", "import-nmap"),
    ("probes/ipv6.yml", "import-nmap"),
    ("playbooks/remediation/hostile.yml", "import-nmap"),
    ("reports/labels.yml", "report"),
    ("playbooks/scoring.yml", "report"),
    ("playbooks/sla.yml", "report"),
    ("rules/finding/hostile.yml", "rules-list"),
    ("rules/tests/hostile.yaml", "rules-test"),
    ("rules/pipelines/sentinel.yaml", "rules-convert"),
]


def _overlay_command(tmp_path: Path, command: str) -> list[object]:
    book = _write(tmp_path / "book.yml", loopback_playbook())
    if command == "scan-dry-run":
        return ["scan", "--playbook", book, "--dry-run"]
    if command == "probe-tls":
        return ["probe", "tls", "127.0.0.1:9", "--timeout", "1"]
    if command == "import-nmap":
        xml = _write(tmp_path / "scan.xml", nmap_xml(nmap_host("127.0.0.1")))
        return ["import", "nmap", xml, "--playbook", book, "--store", tmp_path / "store.db"]
    if command == "report":
        store = populated_store(tmp_path / "populated")
        return ["report", "--all", "--store", store, "--out", tmp_path / "out"]
    return ["rules", command.removeprefix("rules-")]


@pytest.mark.parametrize("name", ["alias-bomb", "sequence-nest-5k", "self-alias"])
@pytest.mark.parametrize("relative,command", OVERLAY_READERS)
def test_overlay_yaml(tmp_path: Path, relative: str, command: str, name: str) -> None:
    args = _overlay_command(tmp_path, command)
    overlay = tmp_path / "overlay"
    hostile = _write(overlay / relative, HOSTILE_YAML[name], 0o644)
    env = clean_env(tmp_path / "home", SENTINEL_DATA_DIR=str(overlay))
    result = run(*args, env=env, timeout=HOSTILE_TIMEOUT_S)
    assert_hostile_refused(result, str(hostile))


@pytest.mark.parametrize("kind", ["fifo", "symlink-to-dev-zero"])
def test_overlay_special_file_is_refused_not_skipped(tmp_path: Path, kind: str) -> None:
    # An overlay scope.yml that is not a regular file must not be read (it would block or
    # never end), nor silently replaced by the shipped one (the organisation's deny list
    # would vanish): refused, naming it.
    overlay = tmp_path / "overlay"
    (overlay / "probes").mkdir(parents=True)
    special = _special(overlay / "probes", kind)
    scope = overlay / "probes" / "scope.yml"
    os.replace(special, scope)
    book = _write(tmp_path / "book.yml", loopback_playbook())
    env = clean_env(tmp_path / "home", SENTINEL_DATA_DIR=str(overlay))
    result = run("scan", "--playbook", book, "--dry-run", env=env, timeout=HOSTILE_TIMEOUT_S)
    assert_hostile_refused(result, str(scope))


def test_shipped_data_still_loads(tmp_path: Path) -> None:
    """The bounds must not refuse Sentinel's own data: every shipped rule passes its tests
    and the largest shipped YAML files load (the lab playbook plans without error)."""
    result = run("rules", "test", home=tmp_path / "home", timeout=60)
    assert result.status == 0, result.describe()
    result = run("scan", "--playbook", REPO / "playbooks" / "lab.yml", "--dry-run",
                 home=tmp_path / "home", timeout=60)
    assert result.status == 0, result.describe()
