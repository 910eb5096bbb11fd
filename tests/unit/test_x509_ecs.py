"""ECS ``tls.server.x509.*`` and ``tls.server.hash.sha256`` from the certificate probe's facts
(sentinel/store/elastic.py certificate_ecs): the committed certificates of
tests/integration/es/data, a hostile one bounded (no control character, at most 1,024
characters a name), nothing from an unparseable certificate."""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any

from sentinel.probes.certs import certificate_facts
from sentinel.store.elastic import certificate_ecs

DATA = Path(__file__).parents[1] / "integration" / "es" / "data"
LEAF_SHA256 = "FF0A3DDFBAA57D908D2C2AA788824C0DD9ABB1EE3D5018DD38C176A003AFB5F4"


def facts(*names: str) -> dict[str, Any]:
    chains = [{"protocol": "TLSv1.2", "chain": [certificate_facts(ssl.PEM_cert_to_DER_cert(
        (DATA / f"{name}.pem").read_text("ascii")))]} for name in names]
    return {"certificates": chains}


def test_leaf_fields() -> None:
    x509 = certificate_ecs(facts("x509-leaf"))["tls"]["server"]
    assert x509["hash"] == {"sha256": [LEAF_SHA256]}
    assert x509["x509"] == {
        "subject": {"common_name": ["x509.es.test"], "distinguished_name": ["CN=x509.es.test"]},
        "issuer": {"common_name": ["Sentinel ES Test CA"],
                   "distinguished_name": ["CN=Sentinel ES Test CA,O=Sentinel Test"]},
        "not_before": ["2026-01-01T00:00:00+00:00"],
        "not_after": ["2036-01-01T00:00:00+00:00"],
        "serial_number": ["5E4710"],
    }


def test_tls13_chain_and_one_value_per_certificate() -> None:
    both = facts("x509-leaf", "x509-leaf")  # TLS 1.2 and 1.3 often send the same leaf
    both["tls13_certificate"] = {"standard": facts("x509-leaf")["certificates"][0]}
    server = certificate_ecs(both)["tls"]["server"]
    assert server["hash"]["sha256"] == [LEAF_SHA256]
    assert server["x509"]["serial_number"] == ["5E4710"]


def test_hostile_names_are_bounded() -> None:
    x509 = certificate_ecs(facts("hostile-leaf"))["tls"]["server"]["x509"]
    (cn,) = x509["subject"]["common_name"]
    assert cn == "evil\ufffd\ufffd[31m\ufffdname"  # NUL, ESC and newline shown, not kept
    (dn,) = x509["subject"]["distinguished_name"]
    assert len(dn) == 1024 and dn.startswith("CN=evil\\00\ufffd[31m\ufffdname,O=OOO")
    assert not any(ord(c) < 32 or ord(c) == 127 for c in dn)


def test_nothing_from_an_unparseable_or_odd_certificate() -> None:
    broken = certificate_facts(b"\x30\x03\x02\x01\x00")
    assert "error" in broken
    assert certificate_ecs({"certificates": [{"chain": [broken]}]}) == {}
    assert certificate_ecs({}) == {}
    assert certificate_ecs({"certificates": [{"chain": "x"}, "y", {"chain": [None]}],
                            "tls13_certificate": []}) == {}
    odd = facts("x509-leaf")
    odd["certificates"][0]["chain"][0] |= {"not_after": "9" * 100, "common_names": [7],
                                          "issuer_common_names": [None], "serial": ["x"]}
    x509 = certificate_ecs(odd)["tls"]["server"]["x509"]
    assert x509["not_after"] == [] and x509["subject"]["common_name"] == []
    assert x509["issuer"]["common_name"] == [] and x509["serial_number"] == []


def test_issuer_names_come_from_the_probe_and_older_records_still_have_them() -> None:
    leaf = facts("x509-leaf")["certificates"][0]["chain"][0]
    assert leaf["issuer_common_names"] == ["Sentinel ES Test CA"]
    # The sink uses the probe's names; it does not parse the certificate again.
    told = facts("x509-leaf")
    told["certificates"][0]["chain"][0] |= {"issuer_common_names": ["told by the probe"],
                                           "der_b64": "!!"}
    issuer = certificate_ecs(told)["tls"]["server"]["x509"]["issuer"]
    assert issuer["common_name"] == ["told by the probe"]
    # A store written before the probe gave them: read from the DER, or nothing if unusable.
    older = facts("x509-leaf")
    del older["certificates"][0]["chain"][0]["issuer_common_names"]
    issuer = certificate_ecs(older)["tls"]["server"]["x509"]["issuer"]
    assert issuer["common_name"] == ["Sentinel ES Test CA"]
    older["certificates"][0]["chain"][0]["der_b64"] = "!!"
    assert certificate_ecs(older)["tls"]["server"]["x509"]["issuer"]["common_name"] == []
