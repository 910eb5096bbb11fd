"""The document model: stable keys, one asset across families, ECS shape, committed schemas."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from sentinel.model import (
    Asset,
    Context,
    Endpoint,
    Evaluation,
    Finding,
    FindingStatus,
    Text,
    finding_to_ecs,
)
from sentinel.severity import Severity
from sentinel.store.schema import schemas

CTX = Context(scan_id="s1", agency_id="a1", agency_name="甲", segment_id="seg")
WHEN = datetime(2026, 11, 26, tzinfo=UTC)


def finding(address: str, scan: str = "s1", asset_id: str | None = None) -> Finding:
    asset = Asset(id=asset_id or address, addresses=(address,))
    return Finding(
        check_id="DB-CES-CREDPLAIN",
        title=Text(zh="明文", en="cleartext"),
        evaluation=Evaluation.FAILED,
        severity=Severity.HIGH,
        context=CTX.model_copy(update={"scan_id": scan}),
        asset=asset,
        endpoint=Endpoint(address=address, port=23),
        protocol="tcp",
        probe="tcp",
        observed_at=WHEN,
    )


def test_key_is_stable_across_scans() -> None:
    assert finding("198.18.1.5", "scan-a").key == finding("198.18.1.5", "scan-b").key


def test_key_is_the_same_on_ipv4_and_ipv6_of_one_known_host() -> None:
    v4 = finding("198.18.1.5", asset_id="www.dsj.test")
    v6 = finding("2001:db8:1::5", asset_id="www.dsj.test")
    assert v4.key == v6.key


def test_key_differs_by_check_port_and_asset() -> None:
    base = finding("198.18.1.5")
    other_port = base.model_copy(update={"endpoint": Endpoint(address="198.18.1.5", port=21)})
    other_check = base.model_copy(update={"check_id": "EXP-SVC-NOTALLOWED"})
    assert len({base.key, other_port.key, other_check.key, finding("198.18.1.6").key}) == 4


def test_ecs_rendering_of_a_finding() -> None:
    doc = finding_to_ecs(
        finding("2001:db8:1::5").model_copy(update={"status": FindingStatus.REOPENED})
    )
    assert doc["event"]["kind"] == "state"
    assert doc["result"]["evaluation"] == "failed"
    assert doc["rule"]["id"] == "DB-CES-CREDPLAIN"
    assert doc["organization"] == {"id": "a1", "name": "甲"}
    assert doc["destination"] == {"ip": "2001:db8:1::5", "address": "2001:db8:1::5", "port": 23}
    assert doc["network"]["type"] == "ipv6"
    assert doc["sentinel"]["finding"]["status"] == "reopened"
    assert doc["sentinel"]["scan"]["id"] == "s1"
    assert doc["@timestamp"] == "2026-11-26T00:00:00Z"
    assert doc["event"]["risk_score"] == Severity.HIGH.risk_score


def test_committed_schemas_match_the_model() -> None:
    folder = Path(__file__).parents[2] / "docs" / "schema"
    for name, text in schemas().items():
        committed = (folder / name).read_text(encoding="utf-8")
        assert committed == text, f"docs/schema/{name} is stale: sentinel schema docs/schema"
