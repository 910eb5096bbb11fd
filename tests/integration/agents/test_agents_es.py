"""A scan through an agent with an Elasticsearch sink: the coordinator streams the same
documents it stores, and the agents' heartbeats into ``<prefix>-agents``."""

from __future__ import annotations

import sqlite3
import subprocess
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from elasticsearch import Elasticsearch
from kombu import Connection

from sentinel.agent.broker import heartbeats
from sentinel.store.elastic_templates import setup, teardown
from tests.integration.agents.conftest import ROOT, Env, wait_for
from tests.integration.agents.test_agents import playbook

URL = "http://127.0.0.1:9200"
pytestmark = pytest.mark.es


@pytest.fixture
def prefix() -> Iterator[str]:
    if not Elasticsearch(URL, request_timeout=5).ping():
        done = subprocess.run(["bash", str(ROOT / "tools/es/start.sh")], capture_output=True,
                              text=True, timeout=300, check=False)
        assert done.returncode == 0, done.stderr[-2000:]
    name = f"sentinel-test-{uuid.uuid4().hex[:10]}"
    client = Elasticsearch(URL, request_timeout=30)
    setup(client, name)
    yield name
    teardown(client, name)


def test_scan_through_agent_streams_findings_and_heartbeats(env: Env, tag: str, servers: Any,
                                                            prefix: str) -> None:
    seg = f"{tag}-e"
    servers("127.0.11.1", 23, b"login: ")
    book = playbook(env, "es", {seg: ["127.0.11.1"]}, ports=[23])
    with Connection(env.broker["SENTINEL_BROKER"]) as conn:
        queue = heartbeats()(conn.default_channel)
        queue.declare()
        queue.purge()
        env.agent(book, seg, f"{tag}-es")
        # The agent's first heartbeat waits on the broker before the scan starts.
        wait_for(lambda: queue.queue_declare(passive=True).message_count > 0, 30,
                 "the agent's first heartbeat")
    store = env.tmp / "es.db"
    done = env.sentinel("scan", "--playbook", str(book), "--store", str(store), "--es-url", URL,
                        SENTINEL_ES_PREFIX=prefix, SENTINEL_SPOOL=str(env.tmp / "spool"))
    scan_id = done.stdout.strip()

    client = Elasticsearch(URL, request_timeout=30)
    client.indices.refresh(index=f"{prefix}-*")
    hits = client.search(index=f"{prefix}-findings", size=100,
                         query={"term": {"sentinel.scan.id": scan_id}})["hits"]["hits"]
    stored = {r[0] for r in sqlite3.connect(store).execute(
        "SELECT doc_id FROM findings WHERE scan_id = ?", (scan_id,))}
    assert stored and {h["_id"] for h in hits} == stored
    beats = client.search(index=f"{prefix}-agents", size=100,
                          query={"term": {"agent.id": f"{tag}-es"}})["hits"]["hits"]
    assert beats, "no heartbeat in sentinel-agents"
    source = beats[0]["_source"]
    assert source["event"]["kind"] == "state" and source["sentinel"]["segment"] == [seg]
    assert source["sentinel"]["agent"]["state"] == "running"
