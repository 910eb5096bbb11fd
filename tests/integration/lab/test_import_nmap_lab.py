"""Teams that already scanned hand Sentinel nmap XML: it is judged like a live scan.

Real nmap output from the lab is imported with the lab playbook: the telnet host's cleartext
service is found without Sentinel sending anything itself, importing the same file twice is
one scan, hosts outside the playbook are left out and counted, and a broken file is refused
with its name.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.lab, pytest.mark.usefixtures("lab")]
ROOT = Path(__file__).parents[3]


def sentinel(*args: str, store: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "sentinel.cli", *args], capture_output=True,
                          text=True, timeout=120, check=False, cwd=ROOT,
                          env={**os.environ, "SENTINEL_STORE": str(store)})


@pytest.fixture(scope="module")
def nmap_xml(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("nmap") / "lab-psb.xml"
    subprocess.run(["nmap", "-n", "-Pn", "-sT", "-sV", "--version-intensity", "0",
                    "-p", "22,23,80", "-oX", str(out), "198.18.12.23", "198.18.12.10"],
                   check=True, capture_output=True, timeout=180)
    return out


def test_import_judges_the_file_like_a_scan(tmp_path: Path, nmap_xml: Path) -> None:
    store = tmp_path / "s.db"
    first = sentinel("import", "nmap", str(nmap_xml), "--playbook", "playbooks/lab.yml",
                     store=store)
    assert first.returncode == 0, first.stderr
    assert "imported 2 addresses" in first.stderr
    docs = json.loads(sentinel("findings", "--json", store=store).stdout)
    failed = {(d["rule"]["id"], d["destination"]["ip"]) for d in docs
              if d["result"]["evaluation"] == "failed"}
    assert ("DB-CES-CREDPLAIN", "198.18.12.23") in failed
    assert all(d["sentinel"]["probe"] == "nmap" for d in docs)

    again = sentinel("import", "nmap", str(nmap_xml), "--playbook", "playbooks/lab.yml",
                     store=store)
    assert again.stdout.strip() == first.stdout.strip()  # the same file is the same scan
    assert len(json.loads(sentinel("findings", "--json", store=store).stdout)) == len(docs)


def test_hosts_outside_the_playbook_are_left_out(tmp_path: Path, nmap_xml: Path) -> None:
    text = nmap_xml.read_text().replace("198.18.12.10", "198.19.200.1")
    other = tmp_path / "other.xml"
    other.write_text(text)
    result = sentinel("import", "nmap", str(other), "--playbook", "playbooks/lab.yml",
                      store=tmp_path / "s.db")
    assert result.returncode == 0, result.stderr
    assert "imported 1 addresses" in result.stderr
    assert "left out 1 addresses outside the playbook's segments: 198.19.200.1" in result.stderr


def test_a_broken_file_is_refused_by_name(tmp_path: Path) -> None:
    broken = tmp_path / "broken.xml"
    broken.write_text("<nmaprun><host><address addr=")
    store = tmp_path / "s.db"
    result = sentinel("import", "nmap", str(broken), "--playbook", "playbooks/lab.yml",
                      store=store)
    assert result.returncode == 2
    assert str(broken) in result.stderr
    assert not store.exists()  # bad input writes nothing
