"""A built wheel, installed outside the source tree, gives a working ``sentinel`` command that
finds its data folders with importlib.resources, and a user overlay replaces shipped files."""

from __future__ import annotations

import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).parents[2]


def test_wheel_installs_a_working_command_with_its_data(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "build",
            "--wheel",
            "--no-isolation",
            "--outdir",
            str(dist),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    wheel = next(dist.glob("sentinel_scanner-*.whl"))
    env_dir = tmp_path / "venv"
    # System site-packages provide the dependencies offline; the package itself comes only
    # from the wheel (no editable path, no source tree on sys.path).
    venv.EnvBuilder(system_site_packages=True, with_pip=False).create(env_dir)
    python = env_dir / "bin" / "python"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(python),
            "install",
            "--no-deps",
            "--no-index",
            "--force-reinstall",
            str(wheel),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    clean_env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH",)}
    clean_env["SENTINEL_STORE"] = str(tmp_path / "s.db")

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            args,
            cwd=elsewhere,
            env=clean_env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    version = run(str(env_dir / "bin" / "sentinel"), "--version")
    assert version.returncode == 0 and version.stdout.strip() == "sentinel 0.1.0"
    where = run(
        str(python),
        "-c",
        "import sentinel, sentinel.catalog.resources as r;"
        "print(sentinel.__file__); print(r.shipped_root('probes'));"
        "print(r.data_file('reports', 'agency.html.j2').is_file())",
    )
    module_file, probes_root, template_found = where.stdout.split()
    assert str(env_dir) in module_file and str(ROOT) not in module_file
    assert probes_root.startswith(str(env_dir)) and probes_root.endswith("sentinel/_data/probes")
    assert template_found == "True"
    for kind in (
        "probes/services.yml",
        "playbooks/examples/minimal.yml",
        "playbooks/remediation/exposure.yml",
        "reports/agency.html.j2",
        "rules/README.md",
    ):
        assert (Path(probes_root).parent / kind).is_file(), kind

    book = Path(probes_root).parent / "playbooks" / "examples" / "minimal.yml"
    dry = run(str(env_dir / "bin" / "sentinel"), "scan", "--playbook", str(book), "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "198.18.1.1\t198.18.1.1" in dry.stdout and "nothing was sent" in dry.stderr

    overlay = tmp_path / "overlay" / "probes"
    overlay.mkdir(parents=True)
    (overlay / "scope.yml").write_text("global_deny: [198.18.1.0/25]\n")
    clean_env["SENTINEL_DATA_DIR"] = str(overlay.parent)
    refused = run(str(env_dir / "bin" / "sentinel"), "scan", "--playbook", str(book), "--dry-run")
    assert refused.returncode == 2 and "global deny list (198.18.1.0/25)" in refused.stderr
