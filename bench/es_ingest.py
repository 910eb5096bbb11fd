"""Sentinel's Elasticsearch sink against a raw ``helpers.bulk`` of the same documents.

Usage: ``python bench/es_ingest.py [--docs 100000] [--runs 3] [--url http://127.0.0.1:9200]``
(the node: ``tools/es/start.sh``). Both sides index the same finding documents (rendered by
``finding_to_ecs`` once, before any timing) with the same ``_id`` into a fresh index built
from Sentinel's templates (``<prefix>-findings-000001`` behind its alias), 500 documents per
bulk request (both defaults). After one unmeasured warm-up of each side, runs alternate
(raw, sink, raw, sink...) so a warming node or a background merge does not favour one side;
the median docs/s of each and the ratio sink/raw (goal >= 0.8) are printed. Each run's index
is deleted afterwards.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from elasticsearch import Elasticsearch, helpers

from sentinel.model import Asset, Context, Endpoint, Evaluation, Finding, Text, finding_to_ecs
from sentinel.severity import Severity
from sentinel.store.elastic import ElasticSink
from sentinel.store.elastic_templates import setup, teardown
from sentinel.store.sqlite import document_id

CHECKS = (
    ("TLS-PROTO-10", Severity.MEDIUM, "tls"),
    ("GM-TLCP-ABSENT", Severity.HIGH, "tls"),
    ("V6-AAAA", Severity.MEDIUM, "dns"),
    ("EXP-SVC-NOTALLOWED", Severity.HIGH, "tcp"),
    ("DB-CES-HIGHRISKPORT", Severity.CRITICAL, "tcp"),
)
AGENCIES = ("dsj", "gat", "wjw", "jyt", "czt", "zjt", "jtt", "slt")


def make_documents(count: int) -> list[tuple[str, dict[str, Any]]]:
    """``count`` realistic finding documents with their ``_id``, as the scan renders them."""
    start = datetime(2026, 3, 1, tzinfo=UTC)
    docs = []
    for n in range(count):
        check, severity, probe = CHECKS[n % len(CHECKS)]
        agency = AGENCIES[n % len(AGENCIES)]
        address = f"2001:db8:{n // 65536:x}::{n % 65536:x}"
        finding = Finding(
            check_id=check,
            title=Text(zh=f"检查 {check} 未通过", en=f"check {check} failed"),
            evaluation=Evaluation.FAILED if n % 3 else Evaluation.PASSED,
            severity=severity,
            context=Context(
                scan_id="bench",
                agency_id=agency,
                agency_name=f"机构 {agency}",
                segment_id=f"seg-{n % 40}",
            ),
            asset=Asset(id=f"host-{n}", name=f"host-{n}.example.gov.cn", addresses=(address,)),
            endpoint=Endpoint(address=address, port=443 if probe == "tls" else 3389),
            protocol="tcp",
            probe=probe,
            references=("GB/T 39786-2021",),
            evidence={"port": 443, "versions": ["TLSv1.0", "TLSv1.2"], "service": "https"},
            observed_at=start + timedelta(seconds=n),
        )
        docs.append((document_id(finding.key, "bench"), finding_to_ecs(finding)))
    return docs


def run_raw(client: Elasticsearch, prefix: str, docs: list[tuple[str, dict[str, Any]]]) -> float:
    """Seconds for ``helpers.bulk`` of every document (500 per request, its default)."""
    index = f"{prefix}-findings"
    began = time.perf_counter()
    ok, errors = helpers.bulk(
        client, ({"_index": index, "_id": i, "_source": d} for i, d in docs), chunk_size=500
    )
    elapsed = time.perf_counter() - began
    assert ok == len(docs), errors
    return elapsed


def run_sink(client: Elasticsearch, prefix: str, docs: list[tuple[str, dict[str, Any]]]) -> float:
    """Seconds for Sentinel's sink to write and flush every document."""
    with tempfile.TemporaryDirectory() as spool:
        began = time.perf_counter()
        with ElasticSink(client, Path(spool), prefix=prefix) as sink:
            for doc_id, doc in docs:
                sink.write("findings", doc_id, doc)
        elapsed = time.perf_counter() - began
    assert sink.stats.sent == len(docs)
    assert not sink.stats.spooled
    return elapsed


def measure(client: Elasticsearch, side: str, docs: list[tuple[str, dict[str, Any]]]) -> float:
    """One run on a fresh prefix; returns docs/s after checking the count."""
    prefix = f"sentinel-bench-{uuid.uuid4().hex[:8]}"
    setup(client, prefix)
    try:
        seconds = (run_raw if side == "raw" else run_sink)(client, prefix, docs)
        client.indices.refresh(index=f"{prefix}-findings")
        assert client.count(index=f"{prefix}-findings")["count"] == len(docs)
    finally:
        teardown(client, prefix)
    return len(docs) / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--url", default="http://127.0.0.1:9200")
    args = parser.parse_args()
    client = Elasticsearch(args.url, request_timeout=120)
    began = time.perf_counter()
    docs = make_documents(args.docs)
    size = sum(len(str(d)) for _, d in docs[:1000]) / 1000
    print(
        f"{args.docs} finding documents (~{size:.0f} chars each) built in "
        f"{time.perf_counter() - began:.1f}s"
    )
    # One unmeasured warm-up of each side (JIT, caches, the first index creation).
    for side in ("raw", "sink"):
        measure(client, side, docs[: min(len(docs), 20_000)])
    rates: dict[str, list[float]] = {"raw": [], "sink": []}
    for run in range(args.runs):
        for side in ("raw", "sink"):
            rate = measure(client, side, docs)
            rates[side].append(rate)
            print(f"run {run + 1} {side:4}: {rate:9.0f} docs/s")
    raw, sink = (statistics.median(rates[s]) for s in ("raw", "sink"))
    print(
        f"median: raw helpers.bulk {raw:.0f} docs/s, Sentinel sink {sink:.0f} docs/s, "
        f"ratio {sink / raw:.2f} (goal >= 0.8)"
    )


if __name__ == "__main__":
    main()
