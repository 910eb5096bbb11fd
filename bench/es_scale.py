"""Sentinel's Elasticsearch sink at 1,000,000 documents against a raw ``helpers.bulk`` of the
same documents (issue 20 item 4: the sink keeps >= 0.8x raw bulk at a million).

Usage (under the lab lock: the local node is shared with the tests)::

    flock /tmp/sentinel-lab.lock python bench/es_scale.py [--docs 1000000] [--url URL]

The documents are the scan's own (``finding_to_ecs`` of a real Finding, one template per
check), each made distinct (asset, address, agency, key, time) as it is handed over, so a
million of them are never held at once; both sides get the same documents with the same
``_id`` in the same order, 500 per bulk request (both defaults), each into a fresh index
built from Sentinel's templates. One run per side (raw first, then the sink), the node's
refresh and a count check after each; the indices are deleted afterwards. Also printed: the
generator's own rate (what both sides pay to be handed the documents), the cores and the load
average beside each figure.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from elasticsearch import Elasticsearch, helpers

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sentinel.model import (  # noqa: E402
    Asset,
    Context,
    Endpoint,
    Evaluation,
    Finding,
    Text,
    finding_key,
    finding_to_ecs,
)
from sentinel.severity import Severity  # noqa: E402
from sentinel.store.elastic import ElasticSink  # noqa: E402
from sentinel.store.elastic_templates import setup, teardown  # noqa: E402
from sentinel.store.sqlite import document_id  # noqa: E402

CHECKS = (
    ("TLS-PROTO-10", Severity.MEDIUM, "tls", 443),
    ("GM-TLCP-ABSENT", Severity.HIGH, "tls", 443),
    ("V6-AAAA", Severity.MEDIUM, "dns", 443),
    ("EXP-SVC-NOTALLOWED", Severity.HIGH, "tcp", 3389),
    ("DB-CES-HIGHRISKPORT", Severity.CRITICAL, "tcp", 3389),
)
AGENCIES = ("dsj", "gat", "wjw", "jyt", "czt", "zjt", "jtt", "slt")
START = datetime(2026, 3, 1, tzinfo=UTC)


def _templates() -> list[dict[str, Any]]:
    out = []
    for check, severity, probe, port in CHECKS:
        finding = Finding(
            check_id=check, title=Text(zh=f"检查 {check} 未通过", en=f"check {check} failed"),
            evaluation=Evaluation.FAILED, severity=severity,
            context=Context(scan_id="bench", agency_id="dsj", agency_name="机构 dsj",
                            segment_id="seg-0"),
            asset=Asset(id="host-0", name="host-0.example.gov.cn", addresses=("2001:db8::",)),
            endpoint=Endpoint(address="2001:db8::", port=port), protocol="tcp", probe=probe,
            references=("GB/T 39786-2021",),
            evidence={"port": port, "versions": ["TLSv1.0", "TLSv1.2"], "service": "https"},
            observed_at=START)
        out.append(finding_to_ecs(finding))
    return out


def documents(count: int) -> Iterator[tuple[str, dict[str, Any]]]:
    """(``_id``, document) for n in range(count): the templates with the parts that differ
    between findings replaced (new dicts for those; the rest shared, never mutated)."""
    templates = _templates()
    for n in range(count):
        i = n % len(CHECKS)
        check, _, _, port = CHECKS[i]
        base = templates[i]
        agency = AGENCIES[n % len(AGENCIES)]
        asset = f"host-{n}"
        address = f"2001:db8:{n // 65536:x}::{n % 65536:x}"
        key = finding_key(check, asset, port, "tcp")
        doc = dict(base)
        doc["@timestamp"] = (START + timedelta(seconds=n)).isoformat().replace("+00:00", "Z")
        doc["host"] = {**base["host"], "id": asset, "name": f"{asset}.example.gov.cn",
                       "ip": [address]}
        doc["destination"] = {**base["destination"], "ip": address, "address": address}
        doc["organization"] = {"id": agency, "name": f"机构 {agency}"}
        doc["result"] = {"evaluation": "failed" if n % 3 else "passed"}
        doc["sentinel"] = {**base["sentinel"], "segment": f"seg-{n % 40}",
                           "finding": {**base["sentinel"]["finding"], "key": key}}
        yield document_id(key, "bench"), doc


def run_raw(client: Elasticsearch, prefix: str, count: int) -> float:
    index = f"{prefix}-findings"
    began = time.perf_counter()
    ok, errors = helpers.bulk(client, ({"_index": index, "_id": i, "_source": d}
                                       for i, d in documents(count)), chunk_size=500)
    elapsed = time.perf_counter() - began
    assert ok == count, errors
    return elapsed


def run_sink(client: Elasticsearch, prefix: str, count: int) -> float:
    with tempfile.TemporaryDirectory() as spool:
        began = time.perf_counter()
        with ElasticSink(client, Path(spool), prefix=prefix) as sink:
            for doc_id, doc in documents(count):
                sink.write("findings", doc_id, doc)
        elapsed = time.perf_counter() - began
    assert sink.stats.sent == count, sink.stats
    assert not sink.stats.spooled
    return elapsed


def load() -> str:
    return f"load {os.getloadavg()[0]:.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=1_000_000)
    parser.add_argument("--url", default="http://127.0.0.1:9200")
    args = parser.parse_args()
    client = Elasticsearch(args.url, request_timeout=120)
    print(f"{os.cpu_count()} cores, {load()}", flush=True)
    began = time.perf_counter()
    for _ in documents(min(args.docs, 100_000)):
        pass
    gen = min(args.docs, 100_000) / (time.perf_counter() - began)
    print(f"generator alone: {gen:.0f} docs/s ({load()})", flush=True)
    rates = {}
    for side in ("raw", "sink"):
        prefix = f"sentinel-bench-{uuid.uuid4().hex[:8]}"
        setup(client, prefix)
        try:
            seconds = (run_raw if side == "raw" else run_sink)(client, prefix, args.docs)
            client.indices.refresh(index=f"{prefix}-findings")
            counted = client.count(index=f"{prefix}-findings")["count"]
            assert counted == args.docs, counted
        finally:
            teardown(client, prefix)
        rates[side] = args.docs / seconds
        print(f"{side:4}: {args.docs} docs in {seconds:.1f}s, {rates[side]:.0f} docs/s "
              f"({load()})", flush=True)
    print(f"ratio sink/raw {rates['sink'] / rates['raw']:.2f} (goal >= 0.8)", flush=True)


if __name__ == "__main__":
    main()
