"""``run_scan`` with a sink: audit events are streamed too, and a sink stuck on an unanswering
Elasticsearch never stalls the event loop (the probes go on while it retries).
"""

from __future__ import annotations

import asyncio
import socket
import time
from pathlib import Path

from elasticsearch import Elasticsearch

from sentinel.playbook import load_playbook
from sentinel.scan.run import run_scan
from sentinel.store.elastic import ElasticSink
from sentinel.store.sqlite import SqliteStore

PLAYBOOK = """\
name: loopback-sink
agencies: [{{id: dsj, name: {{zh: 省数据局, en: Data Bureau}}}}]
scope: {{authorised: ["127.0.0.0/8"]}}
segments:
  - {{id: lo, agency: dsj, cidrs: ["127.0.0.0/8"], hosts: [{hosts}], zone: extranet}}
assets:
{assets}
rate: {{packets_per_second: 500, probe_timeout_s: 3}}
probes: {{tcp: {{ports: [{port}], banner_wait_s: 0.1}}}}
"""


def _playbook(tmp_path: Path, port: int, count: int) -> Path:
    hosts = [f"127.0.0.{n + 1}" for n in range(count)]
    assets = "\n".join(
        f'  - {{id: host-{n}, addresses: ["{address}"]}}' for n, address in enumerate(hosts)
    )
    book = tmp_path / "book.yml"
    text = PLAYBOOK.format(hosts=", ".join(f'"{h}"' for h in hosts), assets=assets, port=port)
    book.write_text(text, encoding="utf-8")
    return book


async def _scan_with_ticker(book: Path, store: SqliteStore, sink: ElasticSink) -> float:
    """Run the scan while a ticker measures the longest gap the event loop left it."""
    largest_gap = 0.0
    done = asyncio.Event()

    async def ticker() -> None:
        nonlocal largest_gap
        last = time.monotonic()
        while not done.is_set():
            await asyncio.sleep(0.02)
            largest_gap = max(largest_gap, time.monotonic() - last)
            last = time.monotonic()

    task = asyncio.create_task(ticker())
    try:
        await run_scan(load_playbook(book), store, playbook_name="loopback-sink", sink=sink)
    finally:
        done.set()
        await task
    return largest_gap


def test_a_stuck_sink_does_not_block_the_event_loop(tmp_path: Path) -> None:
    with socket.socket() as blackhole, socket.socket() as server:
        blackhole.bind(("127.0.0.1", 0))
        blackhole.listen(64)  # accepts connections (kernel backlog), never answers
        server.bind(("127.0.0.1", 0))
        server.listen(64)
        url = f"http://127.0.0.1:{blackhole.getsockname()[1]}"
        sink = ElasticSink(
            Elasticsearch(url, request_timeout=0.5),
            tmp_path / "spool",
            prefix="sentinel-test-stuck",
            batch_docs=1,  # every document is a bulk request that times out
            max_attempts=2,
            backoff_s=0.05,
            reconnect_s=0.0,
        )
        book = _playbook(tmp_path, server.getsockname()[1], 4)
        store = SqliteStore(tmp_path / "store.db")
        began = time.monotonic()
        gap = asyncio.run(_scan_with_ticker(book, store, sink))
        elapsed = time.monotonic() - began
    spooled = "".join(p.read_text("utf-8") for p in sorted((tmp_path / "spool").iterdir()))
    assert elapsed > 2.0, "the sink really was stuck (every request timed out)"
    assert gap < 0.3, f"the event loop was blocked for {gap:.2f}s"
    for action in ("scan-started", "scan-finished"):
        assert f'"action":"{action}"' in spooled, f"{action} was not streamed"


def test_audit_events_reach_elasticsearch_with_the_stores_ids(
    client: Elasticsearch, prefix: str, tmp_path: Path
) -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(8)
        book = _playbook(tmp_path, server.getsockname()[1], 2)
        store = SqliteStore(tmp_path / "store.db")
        with ElasticSink(client, tmp_path / "spool", prefix=prefix) as sink:
            record = asyncio.run(
                run_scan(load_playbook(book), store, playbook_name="loopback-sink", sink=sink)
            )
    client.indices.refresh(index=f"{prefix}-events")
    hits = client.search(index=f"{prefix}-events", size=100)["hits"]["hits"]
    actions = sorted(h["_source"]["event"]["action"] for h in hits)
    stored = sorted(e["event"]["action"] for e in store.events(record.id))
    assert actions == stored
    assert {"scan-started", "scan-finished"} <= set(actions)
    assert all(h["_source"]["sentinel"]["scan"]["id"] == record.id for h in hits)
