"""``sentinel scan --es-url`` streams what it stores: the same finding ids as SQLite."""

from __future__ import annotations

import os
import socket
import sqlite3
import subprocess
import sys
from pathlib import Path

from elasticsearch import Elasticsearch

PLAYBOOK = """\
name: loopback-es
agencies: [{{id: dsj, name: {{zh: 省数据局, en: Data Bureau}}}}]
scope: {{authorised: ["127.0.0.0/8"]}}
segments:
  - {{id: lo, agency: dsj, cidrs: ["127.0.0.0/8"], hosts: ["127.0.0.1"], zone: extranet}}
assets:
  - {{id: loopback-host, name: localhost, addresses: ["127.0.0.1"]}}
rate: {{packets_per_second: 500, probe_timeout_s: 3}}
probes: {{tcp: {{ports: [{open_port}, {closed_port}], banner_wait_s: 0.2}}}}
"""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_scan_streams_the_documents_it_stores(
    client: Elasticsearch, prefix: str, tmp_path: Path
) -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(8)
        book = tmp_path / "book.yml"
        book.write_text(
            PLAYBOOK.format(open_port=server.getsockname()[1], closed_port=_free_port()),
            encoding="utf-8",
        )
        store = tmp_path / "store.db"
        env = {
            **os.environ,
            "SENTINEL_STORE": str(store),
            "SENTINEL_SPOOL": str(tmp_path / "spool"),
            "SENTINEL_ES_PREFIX": prefix,
        }
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "sentinel.cli",
                "scan",
                "--playbook",
                str(book),
                "--es-url",
                "http://127.0.0.1:9200",
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    assert done.returncode == 0, done.stderr
    with sqlite3.connect(store) as db:
        finding_ids = {row[0] for row in db.execute("SELECT doc_id FROM findings")}
        observations = db.execute("SELECT count(*) FROM observations").fetchone()[0]
    client.indices.refresh(index=f"{prefix}-*")
    hits = client.search(index=f"{prefix}-findings", size=1000, source=False)["hits"]["hits"]
    assert finding_ids, "the scan judged something"
    assert {hit["_id"] for hit in hits} == finding_ids
    assert client.count(index=f"{prefix}-assets")["count"] == observations == 2
    assert not list((tmp_path / "spool").iterdir())
