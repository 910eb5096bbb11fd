"""sentinel export: JSON lines, CSV, XLSX, SARIF 2.1.0 and a CycloneDX 1.6 CBOM from a store
this test builds (a TLS and a TLCP endpoint with SM2 certificates, hostile agency names).

The SARIF log is validated against the SARIF 2.1.0 schema (tests/data/sarif/, its source in
SOURCE.md there); the CBOM with
cyclonedx-python-lib's own strict JSON validator.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator
from openpyxl import load_workbook
from typer.testing import CliRunner

from sentinel.catalog import checks as catalog
from sentinel.cli.main import app
from sentinel.export import export, export_document
from sentinel.model import (
    Asset,
    AttemptStatus,
    Context,
    Endpoint,
    Evaluation,
    Finding,
    Observation,
    ScanRecord,
)
from sentinel.scan.lifecycle import apply
from sentinel.store.sqlite import SqliteStore

WHEN = datetime(2026, 10, 1, 2, 0, tzinfo=UTC)
SARIF_SCHEMA = Path(__file__).parents[1] / "data" / "sarif" / "sarif-schema-2.1.0-rtm.5.json"
SARIF_SCHEMA_SHA256 = "2d99159ae54a3eea97f81781cff48780548657c35949f4b7f25e99a2ba4de4f8"
# Cells a spreadsheet would run as formulas, with a terminal escape and a bidi override.
FORMULA = "=HYPERLINK(\"http://198.18.0.1/x\",\"click\")\x1b[31m\u202e"
SM2_CURVE, SM3, SM2_WITH_SM3 = "1.2.156.10197.1.301", "1.2.156.10197.1.401", "1.2.156.10197.1.501"
SM4_CBC, SM4_GCM = "1.2.156.10197.1.104.2", "1.2.156.10197.1.104.8"


def _cert(subject: str, digest: str, key: dict[str, Any], sig_oid: str, sig_name: str,
          ) -> dict[str, Any]:
    return {"subject": subject, "issuer": "CN=Lab SM2 CA", "sha256": digest, "key": key,
            "signature_algorithm": {"oid": sig_oid, "name": sig_name, "class": "national"},
            "not_before": "2026-01-01T00:00:00Z", "not_after": "2027-01-01T00:00:00Z"}


SM2_KEY = {"type": "sm2", "size": 256, "curve": "sm2p256v1", "curve_oid": SM2_CURVE}
TLCP_FACTS = {
    "versions": ["TLCPv1.1", "TLSv1.3"],
    "accepted": [{"protocol": "TLCPv1.1", "code": "0xE013", "name": "ECC_SM4_CBC_SM3"},
                 {"protocol": "TLSv1.3", "code": "0x00C6", "name": "TLS_SM4_GCM_SM3"}],
    "certificates": [{"protocol": "TLCPv1.1", "chain": [
        _cert("CN=sign.gm.test", "aa" * 32, SM2_KEY, SM2_WITH_SM3, "sm2-with-sm3"),
        _cert("CN=enc.gm.test", "bb" * 32, SM2_KEY, SM2_WITH_SM3, "sm2-with-sm3")]}],
}
RSA_FACTS = {
    "versions": ["TLSv1.0", "TLSv1.2"],
    "accepted": [{"protocol": "TLSv1.2", "code": "0xC02F",
                  "name": "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"}],
    "certificates": [{"protocol": "TLSv1.2", "chain": [
        _cert(f"CN=www.test,O={FORMULA}", "cc" * 32, {"type": "rsa", "size": 2048},
              "1.2.840.113549.1.1.11", "sha256WithRSAEncryption")]}],
}


def build(db: SqliteStore) -> None:
    """One scan, two agencies: gov-a (hostile name) with an RSA TLS site, gov-b with TLCP."""
    db.save_scan(ScanRecord(id="scan-x", playbook="test", started=WHEN))
    for agency, name, host, address, facts, checks in (
        ("gov-a", FORMULA, "www.test", "198.18.0.10", RSA_FACTS,
         ("TLS-PROTO-10", "GM-TLCP-ABSENT")),
        ("gov-b", "+单位乙 -2 @SUM(A1)", "gm.test", "2001:db8:2::10", TLCP_FACTS,
         ("TLS-CERT-LIFE",)),
    ):
        ctx = Context(scan_id="scan-x", agency_id=agency, agency_name=name, segment_id="seg")
        asset = Asset(id=host, name=host, addresses=(address,))
        endpoint = Endpoint(address=address, port=443)
        db.add_observations([Observation(probe="tls", context=ctx, asset=asset,
                                         endpoint=endpoint, status=AttemptStatus.COMPLETED,
                                         facts=facts, started=WHEN)])
        found = []
        for check_id in checks:
            spec = catalog.check(check_id)
            found.append(Finding(check_id=check_id, title=spec.title,
                                 evaluation=Evaluation.FAILED, severity=spec.severity,
                                 context=ctx, asset=asset, endpoint=endpoint, probe="tls",
                                 references=spec.references,
                                 evidence={"banner": "-1+1\x00"}, observed_at=WHEN))
        outcome = apply({}, found, {(host, "tls")}, ctx, WHEN)
        db.add_findings(outcome.findings)
        db.save_states(outcome.states)
    db.save_scan(ScanRecord(id="scan-x", playbook="test", started=WHEN,
                            finished=WHEN + timedelta(minutes=1), status="completed"))


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> SqliteStore:
    db = SqliteStore(tmp_path_factory.mktemp("export") / "s.db")
    build(db)
    return db


def test_jsonl_is_one_finding_document_a_line(store: SqliteStore) -> None:
    lines = export_document(store, "jsonl").decode("utf-8").splitlines()
    docs = [json.loads(line) for line in lines]
    assert sorted(d["rule"]["id"] for d in docs) == ["GM-TLCP-ABSENT", "TLS-CERT-LIFE",
                                                      "TLS-PROTO-10"]
    only_b = export_document(store, "jsonl", agency="gov-b").decode("utf-8").splitlines()
    assert [json.loads(line)["organization"]["id"] for line in only_b] == ["gov-b"]


def test_csv_neutralises_formulas_and_escapes_hostile_bytes(store: SqliteStore) -> None:
    text = export_document(store, "csv").decode("utf-8")
    assert "\x1b" not in text and "\u202e" not in text and "\x00" not in text
    rows = list(csv.DictReader(io.StringIO(text)))
    assert len(rows) == 3  # one row per finding
    names = {r["agency_id"]: r["agency_name"] for r in rows}
    assert names["gov-a"] == "'" + FORMULA.replace("\x1b", "\\x1b").replace("\u202e", "\\u202e")
    assert names["gov-b"] == "'+单位乙 -2 @SUM(A1)"
    for r in rows:
        for value in r.values():
            assert not value.startswith(("=", "+", "-", "@", "\t", "\r"))
    proto = next(r for r in rows if r["check_id"] == "TLS-PROTO-10")
    assert (proto["severity"], proto["evaluation"], proto["status"]) == ("high", "failed", "open")
    assert proto["address"] == "198.18.0.10" and proto["port"] == "443"


def test_xlsx_has_one_row_per_finding_and_no_formulas(store: SqliteStore) -> None:
    book = load_workbook(io.BytesIO(export_document(store, "xlsx")))
    sheet = book["findings"]
    rows = list(sheet.iter_rows(values_only=True))
    header, body = rows[0], rows[1:]
    assert len(body) == 3 and "check_id" in header
    cells = [c for r in body for c in r if isinstance(c, str)]
    assert all(not c.startswith(("=", "+", "-", "@")) for c in cells)
    assert all(cell.data_type != "f" for row in sheet.iter_rows() for cell in row)
    agency_name = header.index("agency_name")
    assert {r[agency_name] for r in body} >= {"'+单位乙 -2 @SUM(A1)"}


def _sarif_validator() -> jsonschema.protocols.Validator:
    raw = SARIF_SCHEMA.read_bytes()
    assert hashlib.sha256(raw).hexdigest() == SARIF_SCHEMA_SHA256  # the file as published
    schema = json.loads(raw)
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def test_sarif_validates_against_the_schema(store: SqliteStore) -> None:
    log = json.loads(export_document(store, "sarif"))
    _sarif_validator().validate(log)
    assert log["version"] == "2.1.0"
    run = log["runs"][0]
    rules = [r["id"] for r in run["tool"]["driver"]["rules"]]
    assert rules == ["GM-TLCP-ABSENT", "TLS-CERT-LIFE", "TLS-PROTO-10"]
    by_rule = {r["ruleId"]: r for r in run["results"]}
    proto = by_rule["TLS-PROTO-10"]
    assert proto["level"] == "error" and rules[proto["ruleIndex"]] == "TLS-PROTO-10"
    assert proto["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == \
        "tcp://198.18.0.10:443"
    assert by_rule["TLS-CERT-LIFE"]["locations"][0]["physicalLocation"]["artifactLocation"][
        "uri"] == "tcp://[2001:db8:2::10]:443"
    assert "\x1b" not in json.dumps(log, ensure_ascii=False)


def test_sarif_schema_refuses_a_broken_log() -> None:
    """The schema is not a formality: a result without a message is refused."""
    broken = {"version": "2.1.0", "runs": [{"tool": {"driver": {"name": "x"}},
                                            "results": [{"ruleId": "R", "level": "fatal"}]}]}
    errors = " | ".join(e.message for e in _sarif_validator().iter_errors(broken))
    assert "'message' is a required property" in errors and "'fatal' is not one of" in errors


def test_cbom_is_valid_cyclonedx_16_with_national_algorithms(store: SqliteStore) -> None:
    text = export_document(store, "cbom").decode("utf-8")
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(text) is None
    bom = json.loads(text)
    assert bom["specVersion"] == "1.6"
    parts = {c["bom-ref"]: c for c in bom["components"]}
    oids = {c["cryptoProperties"].get("oid") for c in parts.values()
            if c["cryptoProperties"]["assetType"] == "algorithm"}
    # SM2 (curve, and SM2 with SM3 signatures), SM3, SM4 in CBC and GCM, by OID
    assert {SM2_CURVE, SM3, SM2_WITH_SM3, SM4_CBC, SM4_GCM} <= oids
    assert {"1.2.840.113549.1.1.11", "1.2.840.113549.1.1.1"} <= oids  # RSA side too
    tlcp = parts["protocol:2001:db8:2::10:443:TLCPv1.1"]["cryptoProperties"][
        "protocolProperties"]
    assert tlcp["version"] == "1.1"
    suite = tlcp["cipherSuites"][0]
    assert suite["name"] == "ECC_SM4_CBC_SM3" and suite["identifiers"] == ["0xE013"]
    assert set(suite["algorithms"]) == {f"algorithm:{SM4_CBC}", f"algorithm:{SM3}"}
    assert tlcp["cryptoRefArray"] == [f"certificate:{'aa' * 32}", f"certificate:{'bb' * 32}"]
    sign = parts[f"certificate:{'aa' * 32}"]["cryptoProperties"]["certificateProperties"]
    assert sign["signatureAlgorithmRef"] == f"algorithm:{SM2_WITH_SM3}"
    key = parts[sign["subjectPublicKeyRef"]]["cryptoProperties"][
        "relatedCryptoMaterialProperties"]
    assert key == {"type": "public-key", "algorithmRef": f"algorithm:{SM2_CURVE}", "size": 256}
    tls10 = parts["protocol:198.18.0.10:443:TLSv1.0"]["cryptoProperties"]["protocolProperties"]
    assert (tls10["type"], tls10["version"]) == ("tls", "1.0")
    rsa = parts[f"certificate:{'cc' * 32}"]
    assert "\\x1b" in rsa["name"] and "\x1b" not in text
    only_b = json.loads(export_document(store, "cbom", agency="gov-b"))
    assert not any(c["bom-ref"].startswith("protocol:198.18.") for c in only_b["components"])


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "xlsx", "sarif", "cbom"])
def test_cli_writes_each_format(store: SqliteStore, tmp_path: Path, fmt: str) -> None:
    out = tmp_path / f"x.{fmt}"
    status, stdout, stderr = run("export", "--format", fmt, "-o", str(out), "--store",
                                 str(store.path))
    assert status == 0, stderr
    assert stdout.strip() == str(out) and out.stat().st_size > 0
    if fmt == "xlsx":  # a workbook's zip entries carry the time it was written: compare cells
        def cells(data: bytes) -> list[tuple[Any, ...]]:
            return list(load_workbook(io.BytesIO(data))["findings"].iter_rows(values_only=True))

        assert cells(out.read_bytes()) == cells(export_document(store, fmt))
    else:
        assert out.read_bytes() == export_document(store, fmt)
    assert not list(tmp_path.glob("*.part"))


@pytest.mark.parametrize(("args", "says"), [
    (["--format", "pdf"], "--format 'pdf'"),
    (["--format", "csv", "--agency", "nosuch"], "--agency 'nosuch': not an agency"),
    (["--format", "csv", "--scan", "nosuch"], "--scan 'nosuch': no such scan"),
])
def test_cli_bad_input_is_exit_2_and_writes_nothing(store: SqliteStore, tmp_path: Path,
                                                    args: list[str], says: str) -> None:
    out = tmp_path / "x.out"
    status, stdout, stderr = run("export", *args, "-o", str(out), "--store", str(store.path))
    assert status == 2 and says in stderr and stdout == ""
    assert not out.exists() and not list(tmp_path.iterdir())


def test_an_unwritable_place_leaves_no_file(store: SqliteStore, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    status, _, stderr = run("export", "--format", "csv", "-o", str(blocker / "x.csv"),
                            "--store", str(store.path))
    assert status == 2 and "is a file, not a folder" in stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]


def test_export_replaces_a_previous_file_whole(store: SqliteStore, tmp_path: Path) -> None:
    out = tmp_path / "x.jsonl"
    out.write_text("old\n" * 100_000)
    export(store, "jsonl", out)
    assert out.read_bytes() == export_document(store, "jsonl")


def test_cbom_survives_facts_of_any_shape(tmp_path: Path) -> None:
    """Facts a hostile server shaped (or a damaged store) never crash the CBOM: wrong types,
    huge lists and codes are skipped or capped, and what is written still validates."""
    db = SqliteStore(tmp_path / "s.db")
    db.save_scan(ScanRecord(id="scan-h", playbook="test", started=WHEN))
    ctx = Context(scan_id="scan-h", agency_id="gov-h", segment_id="seg")
    asset = Asset(id="h.test", name="h.test", addresses=("198.18.0.99",))
    odd: list[Any] = [
        {"versions": "TLSv1.2", "accepted": {"x": 1}, "certificates": 7},
        {"versions": ["TLSv1.2", 3, None], "accepted": [
            {"protocol": "TLSv1.2", "code": "0x1FFFFFFFF", "name": "\x1b[2J"},
            {"protocol": "TLSv1.2", "code": None}, "junk"],
         "certificates": [{"protocol": "TLSv1.2", "chain": [
             {"sha256": "dd" * 32, "key": "rsa", "signature_algorithm": ["x"],
              "subject": {"CN": "x"}, "not_after": "not a date"},
             {"sha256": "ee" * 32, "key": {"type": ["ec"], "size": True, "curve_oid": 5},
              "signature_algorithm": {"oid": "1.2\x1b[31m", "name": "\u202eevil"}},
             "junk"] * 400}] * 100},
    ]
    db.add_observations([Observation(
        probe="tls", context=ctx, asset=asset, endpoint=Endpoint(address="198.18.0.99",
                                                                  port=443 + n),
        status=AttemptStatus.COMPLETED, facts=facts, started=WHEN)
        for n, facts in enumerate(odd)])
    db.save_scan(ScanRecord(id="scan-h", playbook="test", started=WHEN,
                            finished=WHEN + timedelta(minutes=1), status="completed"))
    text = export_document(db, "cbom").decode("utf-8")
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(text) is None
    refs = {c["bom-ref"] for c in json.loads(text)["components"]}
    assert "protocol:198.18.0.99:444:TLSv1.2" in refs
    assert {f"certificate:{'dd' * 32}", f"certificate:{'ee' * 32}"} <= refs
    assert "\x1b" not in text and "\u202e" not in text
    assert "algorithm:name:\\u202eevil" in refs  # a bad OID: named (escaped), not trusted


def test_a_huge_cell_is_cut_to_what_a_spreadsheet_holds() -> None:
    from sentinel.export.tables import MAX_CELL, cell

    long = cell("=" + "A" * 100_000)
    assert long.startswith("'=") and len(long) == MAX_CELL + 1 and long.endswith("…")
    assert cell(443) == 443 and cell(None) == "" and cell(["-x"]) == '["-x"]'
