#!/usr/bin/env python3
"""Smoke-check the local node with the official Python client (elasticsearch>=8,<9).

    python3 tools/es/verify.py [--url http://127.0.0.1:9200] [--persist-check]

Prints one line per API (OK / FAIL + error) and exits 1 if a *required* API fails.
--persist-check only checks that the docs written by an earlier run are still there
(used to verify data survives stop.sh + start.sh).
"""
import argparse
import contextlib
import sys
import time

from elasticsearch import Elasticsearch, helpers

INDEX = "sentinel-verify-findings"
TEMPLATE = "sentinel-verify-template"

results = []  # (name, ok, required, detail)


def check(name, required=True):
    def deco(fn):
        try:
            detail = fn()
            results.append((name, True, required, detail or ""))
        except Exception as e:  # noqa: BLE001 - we want every failure reported
            msg = str(e).replace("\n", " ")
            results.append((name, False, required, f"{type(e).__name__}: {msg[:300]}"))
        return fn
    return deco


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", default="http://127.0.0.1:9200")
    ap.add_argument("--persist-check", action="store_true")
    ap.add_argument("--datastreams", action="store_true",
                    help="also try data streams; WARNING: on this node a data stream cannot be "
                         "deleted again (no data-streams module) short of wiping the data dir")
    args = ap.parse_args()
    es = Elasticsearch(args.url, request_timeout=30)

    if args.persist_check:
        n = es.count(index=INDEX)["count"]
        print(f"persisted docs in {INDEX}: {n}")
        return 0 if n == 5 else 1

    @check("ping (HEAD /)", required=False)
    def _():
        assert es.ping(), "ping() returned False"

    @check("info (GET /)", required=False)
    def _():
        return es.info()["version"]["number"]

    @check("cluster.health")
    def _():
        return es.cluster.health()["status"]

    if es.indices.exists(index=INDEX):
        es.indices.delete(index=INDEX)

    @check("indices.put_index_template (composable; ip, keyword+lowercase normalizer, long, date)")
    def _():
        es.indices.put_index_template(
            name=TEMPLATE,
            index_patterns=["sentinel-verify-*"],
            priority=500,
            template={
                "settings": {
                    "number_of_shards": 1,
                    "number_of_replicas": 0,
                    "analysis": {
                        "normalizer": {
                            "lc": {"type": "custom", "filter": ["lowercase"]},
                        }
                    },
                },
                "mappings": {
                    "properties": {
                        "host_ip": {"type": "ip"},
                        "rule": {
                            "type": "keyword",
                            "fields": {"lc": {"type": "keyword", "normalizer": "lc"}},
                        },
                        "severity_score": {"type": "long"},
                        "@timestamp": {"type": "date"},
                        "message": {"type": "text"},
                    }
                },
            },
        )

    @check("built-in 'lowercase' normalizer (no custom filter)", required=False)
    def _():
        es.indices.put_index_template(
            name=TEMPLATE + "-builtin",
            index_patterns=["sentinel-verifyb-*"],
            template={"settings": {"number_of_replicas": 0},
                      "mappings": {"properties": {"k": {"type": "keyword", "normalizer": "lowercase"}}}},
        )
        es.index(index="sentinel-verifyb-1", document={"k": "AbC"}, refresh=True)
        n = es.count(index="sentinel-verifyb-1", query={"term": {"k": "abc"}})["count"]
        es.indices.delete(index="sentinel-verifyb-1")
        es.indices.delete_index_template(name=TEMPLATE + "-builtin")
        assert n == 1, n

    docs = [
        {"host_ip": "198.18.77.%d" % i, "rule": r, "severity_score": s,
         "@timestamp": "2026-01-0%dT12:00:00Z" % (i + 1), "message": m}
        for i, (r, s, m) in enumerate([
            ("SQL-Injection", 9, "possible sql injection in login form"),
            ("XSS", 7, "reflected xss in search parameter"),
            ("sql-injection", 8, "blind sql injection via cookie"),
            ("Weak-TLS", 4, "tls 1.0 enabled on port 443"),
            ("XSS", 6, "stored xss in comment field"),
        ])
    ]

    @check("helpers.bulk (5 docs)")
    def _():
        ok, errors = helpers.bulk(es, ({"_index": INDEX, "_id": str(i), "_source": d}
                                       for i, d in enumerate(docs)), refresh="wait_for")
        assert ok == 5 and not errors, (ok, errors)
        return f"{ok} indexed"

    @check("mapping from template applied")
    def _():
        props = es.indices.get_mapping(index=INDEX)[INDEX]["mappings"]["properties"]
        assert props["host_ip"]["type"] == "ip", props["host_ip"]
        assert props["rule"]["fields"]["lc"]["normalizer"] == "lc"
        assert props["severity_score"]["type"] == "long"

    def q(name, query, expect, required=True):
        @check(name, required)
        def _():
            n = es.count(index=INDEX, query=query)["count"]
            assert n == expect, f"count {n} != {expect}"
            return f"count={n}"

    q("_count match_all", {"match_all": {}}, 5)
    q("query_string", {"query_string": {"query": "message:sql AND severity_score:>=8"}}, 2)
    q("match", {"match": {"message": "xss"}}, 2)
    q("term on normalized keyword subfield", {"term": {"rule.lc": "SQL-INJECTION"}}, 2)
    q("terms", {"terms": {"rule": ["XSS", "Weak-TLS"]}}, 3)
    q("range long", {"range": {"severity_score": {"gte": 7}}}, 3)
    q("range date", {"range": {"@timestamp": {"gte": "2026-01-03", "lt": "2026-01-05"}}}, 2)
    q("term on ip (CIDR)", {"term": {"host_ip": "198.18.77.0/30"}}, 4)
    q("exists", {"exists": {"field": "host_ip"}}, 5)
    q("wildcard", {"wildcard": {"rule": {"value": "*SS"}}}, 2)
    q("wildcard case_insensitive", {"wildcard": {"rule": {"value": "sql*", "case_insensitive": True}}}, 2)
    q("prefix", {"prefix": {"rule.lc": "weak"}}, 1)

    @check("search + terms agg")
    def _():
        r = es.search(index=INDEX, size=0, aggs={"rules": {"terms": {"field": "rule.lc"}}})
        b = {x["key"]: x["doc_count"] for x in r["aggregations"]["rules"]["buckets"]}
        assert b == {"sql-injection": 2, "xss": 2, "weak-tls": 1}, b
        return str(b)

    @check("date_histogram agg")
    def _():
        r = es.search(index=INDEX, size=0, aggs={"d": {"date_histogram": {
            "field": "@timestamp", "calendar_interval": "day"}}})
        return f"{len(r['aggregations']['d']['buckets'])} buckets"

    @check("stats/max/cardinality aggs")
    def _():
        r = es.search(index=INDEX, size=0, aggs={
            "s": {"stats": {"field": "severity_score"}},
            "c": {"cardinality": {"field": "rule.lc"}}})
        assert r["aggregations"]["s"]["max"] == 9 and r["aggregations"]["c"]["value"] == 3
        return "ok"

    @check("update_by_query / delete_by_query (reindex module)", required=False)
    def _():
        es.update_by_query(index=INDEX, query={"term": {"rule": "nope"}}, refresh=True)

    @check("painless script (lang-painless module)", required=False)
    def _():
        es.search(index=INDEX, size=0, aggs={"x": {"sum": {"script": {"source": "doc['severity_score'].value"}}}})

    @check("ILM put_lifecycle (x-pack-ilm)", required=False)
    def _():
        es.ilm.put_lifecycle(name="sentinel-verify-ilm", policy={"phases": {"hot": {"actions": {}}}})

    if not args.datastreams:
        return report()

    @check("data stream: template + index into it", required=False)
    def _():
        es.indices.put_index_template(name=TEMPLATE + "-ds", index_patterns=["sentinel-verifyds-*"],
                                      data_stream={}, priority=500,
                                      template={"settings": {"number_of_replicas": 0}})
        es.index(index="sentinel-verifyds-x", document={"@timestamp": "2026-01-01T00:00:00Z", "a": 1},
                 refresh=True)
        n = es.count(index="sentinel-verifyds-x")["count"]
        assert n == 1, n

    @check("data stream API (GET _data_stream)", required=False)
    def _():
        return str([d["name"] for d in es.indices.get_data_stream(name="sentinel-verifyds-*")["data_streams"]])

    # cleanup of the data-stream experiment only; INDEX stays for --persist-check
    for fn in (lambda: es.indices.delete_data_stream(name="sentinel-verifyds-x"),
               lambda: es.indices.delete(index=".ds-sentinel-verifyds-*", expand_wildcards="all"),
               lambda: es.indices.delete_index_template(name=TEMPLATE + "-ds"),
               lambda: es.ilm.delete_lifecycle(name="sentinel-verify-ilm")):
        with contextlib.suppress(Exception):  # best-effort cleanup of what may not exist
            fn()

    return report()


def report():
    width = max(len(r[0]) for r in results)
    failed_required = False
    for name, ok, required, detail in results:
        tag = "OK  " if ok else ("FAIL" if required else "n/a ")
        print(f"{tag} {name.ljust(width)}  {detail}")
        failed_required |= (not ok and required)
    return 1 if failed_required else 0


if __name__ == "__main__":
    t = time.time()
    rc = main()
    print(f"done in {time.time() - t:.1f}s, rc={rc}")
    sys.exit(rc)
