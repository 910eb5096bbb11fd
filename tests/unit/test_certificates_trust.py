"""The trust store of the certificate checks: probes/trust.yml, overlaid like every data file."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from sentinel.catalog import trust
from sentinel.catalog.resources import OVERLAY_ENV
from sentinel.errors import CatalogError

DATA = Path(__file__).resolve().parents[1] / "data" / "certificates"


def der(name: str) -> bytes:
    return x509.load_pem_x509_certificate((DATA / f"{name}.pem").read_bytes()).public_bytes(
        Encoding.DER)


@pytest.fixture
def overlay(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv(OVERLAY_ENV, str(tmp_path))
    monkeypatch.setenv("SENTINEL_NO_CACHE", "1")
    (tmp_path / "probes" / "trust").mkdir(parents=True)
    trust.clear_cache()
    yield tmp_path / "probes"
    trust.clear_cache()


def test_the_shipped_file_names_the_system_bundles() -> None:
    trust.clear_cache()
    store = trust.trust_store()
    assert "/etc/ssl/certs/ca-certificates.crt" in store.sources + store.missing
    assert len(store.roots) == len(store.fingerprints)


def test_an_overlay_adds_national_roots_from_a_folder_and_a_file(overlay: Path) -> None:
    (overlay / "trust.yml").write_text(
        "system_bundles: [/nonexistent/sentinel-bundle.pem]\nroots: [trust/, extra.pem]\n")
    shutil.copy(DATA / "sm2-ca.pem", overlay / "trust" / "sm2-root.pem")
    (overlay / "trust" / "notes.txt").write_text("not a root")
    shutil.copy(DATA / "weak-root.pem", overlay / "extra.pem")
    store = trust.trust_store()
    assert store.holds(der("sm2-ca")) and store.holds(der("weak-root"))
    assert len(store.roots) == 2 and store.missing == ("/nonexistent/sentinel-bundle.pem",)
    subject = x509.load_der_x509_certificate(der("sm2-ca")).subject.public_bytes()
    assert store.issuers(subject) == (der("sm2-ca"),)


@pytest.mark.parametrize(("name", "text", "problem"), [
    ("gone.pem", None, "is not a readable file"),
    ("empty.pem", "no certificate here\n", "holds no PEM certificate"),
])
def test_a_root_named_in_data_that_cannot_be_used_is_an_error(
        overlay: Path, name: str, text: str | None, problem: str) -> None:
    (overlay / "trust.yml").write_text(f"system_bundles: []\nroots: [{name}]\n")
    if text is not None:
        (overlay / name).write_text(text)
    with pytest.raises(CatalogError, match=problem):
        trust.trust_store()


def test_unknown_fields_and_relative_bundles_are_refused(overlay: Path) -> None:
    (overlay / "trust.yml").write_text("system_bundles: [certs.pem]\n")
    with pytest.raises(CatalogError):
        trust.trust_store()
    (overlay / "trust.yml").write_text("roots: []\nextra: 1\n")
    with pytest.raises(CatalogError):
        trust.trust_store()


def test_broken_pem_blocks_are_counted_not_fatal() -> None:
    text = (DATA / "sm2-ca.pem").read_text()
    found, bad = trust.pem_certificates(
        text + "-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----\n")
    assert (found, bad) == ([der("sm2-ca")], 1)
    store = trust.TrustStore.of([der("sm2-ca"), b"\x30\x00"])
    assert (len(store.roots), store.skipped) == (1, 1)
