"""The drill leaderboard (实时榜单) in a real Elasticsearch node, and an alert acknowledged in
Elasticsearch (Kibana's ``kibana.alert.workflow_status``) counting as the agency's
acknowledgement. Times are fixed (no wall clock in what is asserted)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from elasticsearch import Elasticsearch
from typer.testing import CliRunner

from sentinel.cli.main import app
from sentinel.drill.people import alert_acks, verify
from sentinel.drill.plan import load_drill
from sentinel.model import Alert
from sentinel.severity import Severity
from sentinel.store.drill_leaderboard import es_acks, leaderboard_index, remove_leaderboard
from sentinel.store.elastic import ElasticSink
from sentinel.store.sqlite import SqliteStore
from tests.integration.es.conftest import URL
from tests.unit.drill.test_people_score import PLAN, T0, _scan


@pytest.fixture
def board(client: Elasticsearch, prefix: str) -> Iterator[str]:
    yield prefix
    remove_leaderboard(client, prefix)


def _setup(tmp_path: Path, client: Elasticsearch, prefix: str) -> tuple[Path, Path]:
    plan = tmp_path / "d.yml"
    plan.write_text(PLAN, encoding="utf-8")
    db = tmp_path / "s.db"
    with SqliteStore(db) as store:
        _scan(store, "s1", T0 + timedelta(minutes=20),
              {"www.city.test": T0 + timedelta(minutes=21)})
        _scan(store, "s2", T0 + timedelta(minutes=70), {})
    alert = Alert(rule_id="sentinel-high-risk-port", rule_title="高危端口开放",
                  level=Severity.HIGH, matched_ids=("d1",), agency_id="city-gov",
                  created=T0 + timedelta(minutes=22), hosts=("www.city.test",),
                  checks=("DB-CES-HIGHRISKPORT",))
    other = alert.model_copy(update={"rule_id": "other", "hosts": ("tlcp.cloud.test",),
                                     "agency_id": "cloud-t1"})
    with ElasticSink(client, tmp_path / "spool", prefix=prefix) as sink:
        sink.add_alerts([alert, other])
    client.indices.refresh(index=f"{prefix}-alerts")
    return plan, db


def _acknowledge(client: Elasticsearch, prefix: str, rule_id: str, status: str) -> None:
    """What Kibana does when an analyst sets an alert's status: a partial update of the
    alert document (one by one here: this node has no update-by-query module)."""
    hits = client.search(index=f"{prefix}-alerts", query={"term": {"rule.id": rule_id}},
                         size=10)["hits"]["hits"]
    assert hits
    for hit in hits:
        client.update(index=hit["_index"], id=hit["_id"], refresh=True, doc={"kibana": {"alert": {
            "workflow_status": status,
            "workflow_status_updated_at": (T0 + timedelta(minutes=30)).isoformat(),
            "workflow_user": "analyst-city"}}})


def test_an_alert_status_in_es_is_an_acknowledgement(tmp_path: Path, client: Elasticsearch,
                                                     board: str) -> None:
    plan, db = _setup(tmp_path, client, board)
    drill, playbook = load_drill(plan)
    assert es_acks(client, T0, board) == []  # open alerts acknowledge nothing
    _acknowledge(client, board, "sentinel-high-risk-port", "acknowledged")
    _acknowledge(client, board, "other", "open")
    found = es_acks(client, T0, board)
    assert [(a["hosts"], a["by"]) for a in found] == [(["www.city.test"], "analyst-city")]
    with SqliteStore(db) as store:
        results = {r.inject.id: r for r in verify(drill, playbook, store,
                                                  alert_acks(drill, playbook, found))}
    city = results["rt-telnet"]
    assert city.tta_s == 1800.0 and city.ack_source == "elasticsearch"
    assert city.ttd_s == 1260.0 and city.ttr_s == 72 * 60.0
    assert results["rt-late"].tta_s is None  # its alert was never acknowledged


def test_status_writes_one_leaderboard_document_per_agency_per_update(
        tmp_path: Path, client: Elasticsearch, board: str) -> None:
    plan, db = _setup(tmp_path, client, board)
    _acknowledge(client, board, "sentinel-high-risk-port", "closed")
    args = ["drill", "status", str(plan), "--store", str(db), "--out", str(tmp_path / "out"),
            "--es", "--es-url", URL, "--prefix", board]
    for _ in range(2):  # two updates
        done = CliRunner().invoke(app, args)
        assert done.exit_code == 0, done.output
    client.indices.refresh(index=leaderboard_index(board))
    hits = client.search(index=leaderboard_index(board), size=100,
                         sort=[{"update": "asc"}, {"rank": "asc"}])["hits"]["hits"]
    docs = [h["_source"] for h in hits]
    assert len(docs) == 2 * 3 and len({d["update"] for d in docs}) == 2
    latest = {d["organization"]["id"]: d for d in docs if d["update"] == docs[-1]["update"]}
    city = latest["city-gov"]
    assert city["rank"] == 1 and city["organization"]["name"]
    assert isinstance(city["score"], float) and city["overdue"] == 0
    assert (city["ttd_s"], city["tta_s"], city["ttr_s"]) == (1260.0, 1800.0, 4320.0)
    assert city["injects"] == {"total": 1, "verified": 1, "acknowledged": 1, "remediated": 1}
    # Missing times are left out, never written as 0.
    assert "ttd_s" not in latest["cloud-t1"] and "tta_s" not in latest["prov-data"]
    assert latest["cloud-t1"]["rank"] > 1
    # Kibana can aggregate: the mapping is the shipped one (strict), the numbers are numbers.
    mapping = client.indices.get_mapping(index=leaderboard_index(board))
    (only,) = mapping.values()
    assert only["mappings"]["dynamic"] == "strict"
    assert only["mappings"]["properties"]["ttr_s"]["type"] == "float"
