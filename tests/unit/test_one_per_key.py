"""One finding per key: a dual-stack host judged on both addresses keeps its worst verdict.

The key is the check on the asset's port, whatever the family (DESIGN.md), and the store keeps
one row per key and scan. Before, the last written of the two won: a check failing over IPv4
and passing over IPv6 was stored as passed while its lifecycle said open.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from sentinel.assess import one_per_key
from sentinel.model import Asset, Context, Endpoint, Evaluation, Finding, Text
from sentinel.severity import Severity
from sentinel.store.sqlite import SqliteStore

CTX = Context(scan_id="s1", agency_id="a1", agency_name="甲", segment_id="seg")
WHEN = datetime(2026, 11, 26, tzinfo=UTC)
HOST = Asset(id="www.dsj.test", addresses=("198.18.1.5", "2001:db8:1::5"))


def judged(address: str, evaluation: Evaluation) -> Finding:
    return Finding(check_id="TLS-PROTO-10", title=Text(zh="TLS 1.0", en="TLS 1.0"),
                   evaluation=evaluation, severity=Severity.HIGH, context=CTX, asset=HOST,
                   endpoint=Endpoint(address=address, port=443), protocol="tls", probe="tls",
                   evidence={"accepted": evaluation is Evaluation.FAILED}, observed_at=WHEN)


def test_failed_over_ipv4_and_passed_over_ipv6_is_stored_failed(tmp_path: Path) -> None:
    for order in ((Evaluation.FAILED, Evaluation.PASSED), (Evaluation.PASSED, Evaluation.FAILED)):
        pair = [judged("198.18.1.5", order[0]), judged("2001:db8:1::5", order[1])]
        kept = one_per_key(pair)
        assert len(kept) == 1 and kept[0].evaluation is Evaluation.FAILED
        other = "2001:db8:1::5" if order[0] is Evaluation.FAILED else "198.18.1.5"
        assert kept[0].evidence["other_addresses"] == [{"address": other,
                                                        "evaluation": "passed"}]
        with SqliteStore(tmp_path / f"{order[0].value}.db") as store:
            store.add_findings(kept)
            rows = store.findings(scan_id="s1", evaluations=("failed", "error", "passed"))
            assert [r["result"]["evaluation"] for r in rows] == ["failed"]


def test_different_keys_and_one_address_are_left_as_they_are() -> None:
    a = judged("198.18.1.5", Evaluation.PASSED)
    b = a.model_copy(update={"check_id": "TLS-PROTO-11"})
    assert one_per_key([a, b]) == [a, b]
    assert one_per_key([a, a]) == [a]
