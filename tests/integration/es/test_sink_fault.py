"""The sink under faults: Elasticsearch stopped mid-stream, a full spool, secrets.

The fault test streams 50,000 documents, stops the node part-way (``tools/es/stop.sh`` from
a thread, while writes go on), restarts it, and checks that Elasticsearch ends with exactly
the documents produced, each once, the latest version of each, and an empty spool.
"""

from __future__ import annotations

import logging
import threading
import time
import traceback
from pathlib import Path
from typing import Any

import pytest
from elasticsearch import Elasticsearch

from sentinel.errors import SentinelError, SinkError, SpoolFullError
from sentinel.store.elastic import ElasticSink
from sentinel.store.elastic_config import load_config, make_client
from sentinel.store.elastic_templates import setup
from sentinel.store.sqlite import document_id

from .conftest import es_script

TOTAL = 50_000
STOP_AT = 12_000  # the node is stopped here, from a thread, while writing goes on
START_AT = 30_000  # by here it is surely down; it is restarted from a thread
DEAD_URL = "http://127.0.0.1:1"  # nothing listens on port 1 on loopback


def _doc(n: int, version: int = 1) -> tuple[str, dict[str, Any]]:
    key = f"key-{n:06d}"
    doc = {
        "@timestamp": "2026-01-01T00:00:00Z",
        "event": {"kind": "state", "dataset": "sentinel.finding"},
        "rule": {"id": "CRY-TLCP-ABSENT"},
        "organization": {"id": f"agency-{n % 37}"},
        "destination": {"ip": f"2001:db8::{n % 65536:x}", "port": 443},
        "sentinel": {"finding": {"key": key}, "scan": {"id": "fault"}, "version": version},
        "message": "x" * 200,
    }
    return document_id(key, "fault"), doc


def _distinct_keys(client: Elasticsearch, index: str) -> int:
    """Exact distinct count of finding keys, paging a composite aggregation."""
    after: dict[str, Any] | None = None
    total = 0
    while True:
        source = {
            "keys": {
                "composite": {
                    "size": 10_000,
                    "sources": [{"k": {"terms": {"field": "sentinel.finding.key"}}}],
                }
            }
        }
        if after:
            source["keys"]["composite"]["after"] = after
        body = client.search(index=index, size=0, aggs=source)["aggregations"]["keys"]
        total += len(body["buckets"])
        after = body.get("after_key")
        if not body["buckets"] or after is None:
            return total


def test_stop_and_restart_mid_stream_loses_and_duplicates_nothing(
    client: Elasticsearch, prefix: str, tmp_path: Path
) -> None:
    spool_dir = tmp_path / "spool"
    sink = ElasticSink(
        Elasticsearch("http://127.0.0.1:9200", request_timeout=10),
        spool_dir,
        prefix=prefix,
        reconnect_s=1.0,
    )
    stopper = threading.Thread(target=es_script, args=("stop",))
    starter = threading.Thread(target=es_script, args=("start",))
    largest_spool = 0
    began = time.monotonic()
    for n in range(TOTAL):
        if n == STOP_AT:
            stopper.start()
        if n == START_AT:
            stopper.join()
            largest_spool = max(largest_spool, sink.spool.size())
            starter.start()
        doc_id, doc = _doc(n)
        sink.write("findings", doc_id, doc)
        if n % 2000 == 0:
            largest_spool = max(largest_spool, sink.spool.size())
    # A newer version of a document spooled while the node was down: the replay must not
    # let the old copy win (order), nor add a second copy (fixed _id).
    doc_id, doc = _doc(START_AT + 1, version=2)
    sink.write("findings", doc_id, doc)
    starter.join()
    sink.close()
    elapsed = time.monotonic() - began

    index = f"{prefix}-findings"
    client = Elasticsearch("http://127.0.0.1:9200", request_timeout=60)
    client.indices.refresh(index=index)
    print(
        f"\nfault test: {TOTAL} docs in {elapsed:.1f}s; spooled {sink.stats.spooled}, "
        f"replayed {sink.stats.replayed}, retries {sink.stats.retries}, "
        f"largest spool {largest_spool} bytes"
    )
    assert sink.stats.spooled > 0 and sink.stats.replayed >= sink.stats.spooled
    assert client.count(index=index)["count"] == TOTAL
    assert _distinct_keys(client, index) == TOTAL
    latest = client.get(index=index, id=doc_id)["_source"]
    assert latest["sentinel"]["version"] == 2
    assert not list(spool_dir.iterdir()), "the spool is removed once replayed"


def test_full_spool_is_a_clear_error(tmp_path: Path) -> None:
    spool_dir = tmp_path / "spool"
    sink = ElasticSink(
        Elasticsearch(DEAD_URL, request_timeout=2),
        spool_dir,
        prefix="sentinel-test-dead",
        batch_docs=50,
        spool_max_bytes=64 * 1024,
        backoff_s=0.01,
    )

    def fill() -> None:
        for n in range(10_000):
            sink.write("findings", *_doc(n))

    with pytest.raises(SpoolFullError) as caught:
        fill()
    assert str(spool_dir) in str(caught.value) and "full" in str(caught.value)
    assert 0 < sink.spool.size() <= 64 * 1024
    assert isinstance(caught.value, SentinelError)


def test_secrets_never_reach_logs_errors_or_documents(
    client: Elasticsearch,
    prefix: str,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    secret_key, secret_password = "sk-Tr0ub4dor-APIKEY-4417", "pw-Corr3ct-H0rse-9921"
    env = {"SENTINEL_ES_API_KEY": secret_key}
    caplog.set_level(logging.DEBUG)  # every logger, the client's and urllib3's included
    texts: list[str] = []

    # A live node (security off here, so the key is sent and ignored), documents spooled
    # and replayed through a dead URL first.
    live = make_client(load_config("http://127.0.0.1:9200", env))
    texts.append(repr(load_config("http://127.0.0.1:9200", env)))
    with ElasticSink(live, tmp_path / "live", prefix=prefix) as sink:
        sink.add_findings([])
        sink.write("findings", "secret-test", {"rule": {"id": "SECRET-TEST"}})
    dead = make_client(
        load_config(
            DEAD_URL, {"SENTINEL_ES_USER": "elastic", "SENTINEL_ES_PASSWORD": secret_password}
        )
    )
    for attempt in (lambda: setup(dead, prefix), lambda: setup(live, "Bad*Prefix")):
        with pytest.raises(SinkError) as caught:
            attempt()
        texts.append("".join(traceback.format_exception(caught.value)))
    with pytest.raises(SentinelError) as refused:
        load_config(f"http://elastic:{secret_password}@127.0.0.1:9200", {})
    texts.append("".join(traceback.format_exception(refused.value)))
    spool = ElasticSink(dead, tmp_path / "dead", prefix=prefix, backoff_s=0.01)
    spool.write("findings", "secret-test-2", {"rule": {"id": "SECRET-TEST"}})
    spool.flush()
    texts += [p.read_text() for p in (tmp_path / "dead").iterdir()]

    client.indices.refresh(index=f"{prefix}-findings")
    stored = client.search(index=f"{prefix}-findings", query={"match_all": {}})
    texts.append(str(stored.body))
    texts += [r.getMessage() for r in caplog.records] + [caplog.text]
    assert any("Elasticsearch setup failed" in t for t in texts)  # the errors were seen
    assert len(caplog.records) > 0  # and the logs were captured
    for text in texts:
        assert secret_key not in text and secret_password not in text
