"""The cryptography a scan observed as a CycloneDX 1.6 CBOM, built and validated with
cyclonedx-python-lib.

Components of type ``cryptographic-asset``: one protocol per endpoint and version (TLS, TLCP)
with its accepted cipher suites; one algorithm per OID (or per name when the catalog knows no
OID); one certificate per SHA-256, with its signature algorithm and its public key (related
crypto material) by reference. OIDs and algorithm kinds come from the catalog
(``probes/tls.yml`` ``oids:``), SM2/SM3/SM4 included; nothing here lists an algorithm.
"""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Any

from cyclonedx.model import Property
from cyclonedx.model.bom import Bom, BomMetaData
from cyclonedx.model.bom_ref import BomRef
from cyclonedx.model.component import Component, ComponentType
from cyclonedx.model.crypto import (
    AlgorithmProperties,
    CertificateProperties,
    CryptoAssetType,
    CryptoPrimitive,
    CryptoProperties,
    ProtocolProperties,
    ProtocolPropertiesCipherSuite,
    ProtocolPropertiesType,
    RelatedCryptoMaterialProperties,
    RelatedCryptoMaterialType,
)
from cyclonedx.model.dependency import Dependency
from cyclonedx.output.json import JsonV1Dot6
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator

from sentinel import __version__
from sentinel.catalog.tls import ObjectId, TlsRegistry, tls_registry
from sentinel.errors import ReportError
from sentinel.model import ScanRecord, doc_field
from sentinel.report.safe import visible

# The catalog's OID kinds as CycloneDX primitives (the schema's enum).
_PRIMITIVE = {"signature": CryptoPrimitive.SIGNATURE, "public-key": CryptoPrimitive.PKE,
              "hash": CryptoPrimitive.HASH, "mac": CryptoPrimitive.MAC,
              "cipher": CryptoPrimitive.BLOCK_CIPHER, "curve": CryptoPrimitive.OTHER}
_NAMESPACE = uuid.UUID("6f1c1a53-3c2e-4f6e-9b7e-5e9a1c0d2b10")  # serial numbers per scan
_OID = re.compile(r"[0-2](\.[0-9]{1,20}){1,40}")
MAX_TEXT = 1024  # a hostile certificate field is cut here


def _text(value: Any) -> str:
    return visible(str(value))[:MAX_TEXT]




def _datetime(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def _code(value: Any) -> int | None:
    try:
        code = int(str(value)[:8], 16)
    except ValueError:
        return None
    return code if 0 <= code <= 0xFFFF else None


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any, cap: int = 1024) -> list[Any]:
    """A list from the store, capped (facts a hostile server shaped stay bounded)."""
    return value[:cap] if isinstance(value, list) else []


class _Builder:
    def __init__(self, registry: TlsRegistry) -> None:
        self.registry = registry
        self.by_name = {o.name.lower(): o for o in registry.data.oids}
        self.components: dict[str, Component] = {}

    def _add(self, ref: str, make: Any) -> BomRef:
        if ref not in self.components:
            self.components[ref] = make(ref)
        return self.components[ref].bom_ref

    def algorithm(self, *, oid: str | None = None, name: str | None = None) -> BomRef | None:
        """The algorithm component of an OID, or of a name the catalog may know."""
        known: ObjectId | None = None
        if oid is not None and not _OID.fullmatch(oid):
            oid = None  # not a dotted OID: named only
        if oid:
            known = self.registry.oids.get(oid)
        elif name:
            known = self.by_name.get(name.lower())
        if known is not None:
            oid = known.oid
        label = known.name if known else (name or oid)
        if not label:
            return None
        ref = f"algorithm:{oid}" if oid else f"algorithm:name:{_text(label)}"

        def make(ref: str) -> Component:
            properties = [Property(name="sentinel:class", value=known.category)] if known else []
            return Component(
                name=_text(label), type=ComponentType.CRYPTOGRAPHIC_ASSET, bom_ref=ref,
                properties=properties,
                crypto_properties=CryptoProperties(
                    asset_type=CryptoAssetType.ALGORITHM, oid=oid,
                    algorithm_properties=AlgorithmProperties(
                        primitive=_PRIMITIVE.get(known.kind, CryptoPrimitive.UNKNOWN)
                        if known else CryptoPrimitive.UNKNOWN)))

        return self._add(ref, make)

    def suite(self, code: int | None, name: str) -> ProtocolPropertiesCipherSuite:
        spec = self.registry.suites.get(code) if code is not None else None
        refs: list[BomRef] = []
        if spec is not None:
            parts = [f"{spec.cipher}-{spec.mode}" if spec.mode else spec.cipher, spec.mac]
            for part in parts:
                ref = self.algorithm(name=part) if part and part.lower() != "any" else None
                if ref is not None:
                    refs.append(ref)
        identifiers = [f"0x{code:04X}"] if code is not None else []
        return ProtocolPropertiesCipherSuite(name=_text(spec.name if spec else name),
                                             algorithms=refs, identifiers=identifiers)

    def key(self, cert_ref: str, key: dict[str, Any]) -> BomRef | None:
        kind = key.get("type")
        algorithm = None
        if key.get("curve_oid"):
            algorithm = self.algorithm(oid=str(key["curve_oid"]))
        elif kind == "rsa":
            algorithm = self.algorithm(name="rsaEncryption")
        elif kind == "ec" and key.get("curve"):
            algorithm = self.algorithm(name=str(key["curve"]))
        elif isinstance(kind, str) and kind:
            algorithm = self.algorithm(name=kind)
        size = key.get("size")
        if not isinstance(size, int) or isinstance(size, bool) or not 0 < size < 1 << 20:
            size = None

        def make(ref: str) -> Component:
            return Component(
                name=f"{_text(kind or 'unknown')} public key", bom_ref=ref,
                type=ComponentType.CRYPTOGRAPHIC_ASSET,
                crypto_properties=CryptoProperties(
                    asset_type=CryptoAssetType.RELATED_CRYPTO_MATERIAL,
                    related_crypto_material_properties=RelatedCryptoMaterialProperties(
                        type=RelatedCryptoMaterialType.PUBLIC_KEY, algorithm_ref=algorithm,
                        size=size)))

        return self._add(f"key:{cert_ref}", make)

    def certificate(self, cert: dict[str, Any]) -> BomRef | None:
        digest = cert.get("sha256")
        if not isinstance(digest, str) or not digest or cert.get("error"):
            return None
        ref = f"certificate:{_text(digest)[:64]}"
        if ref in self.components:
            return self.components[ref].bom_ref
        signature = _dict(cert.get("signature_algorithm"))
        oid, name = signature.get("oid"), signature.get("name")
        sig_ref = self.algorithm(oid=oid if isinstance(oid, str) else None,
                                 name=name if isinstance(name, str) else None)
        key_ref = self.key(ref, _dict(cert.get("key")))

        def make(ref: str) -> Component:
            return Component(
                name=_text(cert.get("subject") or digest), bom_ref=ref,
                type=ComponentType.CRYPTOGRAPHIC_ASSET,
                crypto_properties=CryptoProperties(
                    asset_type=CryptoAssetType.CERTIFICATE,
                    certificate_properties=CertificateProperties(
                        subject_name=_text(cert.get("subject") or ""),
                        issuer_name=_text(cert.get("issuer") or ""),
                        not_valid_before=_datetime(cert.get("not_before")),
                        not_valid_after=_datetime(cert.get("not_after")),
                        signature_algorithm_ref=sig_ref, subject_public_key_ref=key_ref,
                        certificate_format="X.509")))

        return self._add(ref, make)

    def endpoint(self, observation: dict[str, Any]) -> None:
        facts = doc_field(observation, "sentinel", "facts", "tls")
        if not isinstance(facts, dict):
            return
        address = _text(doc_field(observation, "destination", "ip") or "")
        port = doc_field(observation, "destination", "port")
        asset = _text(doc_field(observation, "host", "id") or "")
        certs: dict[str, list[BomRef]] = {}
        for chain in _list(facts.get("certificates"), 64):
            if not isinstance(chain, dict):
                continue
            for cert in _list(chain.get("chain"), 16):
                cert_ref = self.certificate(cert) if isinstance(cert, dict) else None
                if cert_ref is not None:
                    certs.setdefault(str(chain.get("protocol")), []).append(cert_ref)
        accepted = [a for a in _list(facts.get("accepted")) if isinstance(a, dict)]
        for version in _list(facts.get("versions"), 16):
            if not isinstance(version, str):
                continue
            suites = [self.suite(_code(a.get("code")), str(a.get("name")))
                      for a in accepted if a.get("protocol") == version]
            kind, number = (ProtocolPropertiesType.TLS, version.removeprefix("TLSv")) \
                if version.startswith("TLS") else (ProtocolPropertiesType.OTHER,
                                                   version.removeprefix("TLCPv")
                                                   .removeprefix("SSLv"))
            ref = f"protocol:{address}:{port}:{_text(version)}"

            def make(ref: str, version: str = version, kind: ProtocolPropertiesType = kind,
                     number: str = number, suites: list[ProtocolPropertiesCipherSuite] = suites,
                     ) -> Component:
                return Component(
                    name=_text(version), bom_ref=ref, type=ComponentType.CRYPTOGRAPHIC_ASSET,
                    properties=[Property(name="sentinel:asset", value=asset),
                                Property(name="sentinel:endpoint", value=f"{address}:{port}"),
                                Property(name="sentinel:agency", value=_text(
                                    doc_field(observation, "organization", "id") or ""))],
                    crypto_properties=CryptoProperties(
                        asset_type=CryptoAssetType.PROTOCOL,
                        protocol_properties=ProtocolProperties(
                            type=kind, version=_text(number), cipher_suites=suites,
                            crypto_refs=certs.get(version, []))))

            self._add(ref, make)


def cbom(observations: list[dict[str, Any]], scan: ScanRecord) -> Bom:
    """The CBOM of the ``tls`` observations among ``observations`` (asset documents)."""
    builder = _Builder(tls_registry())
    for observation in observations:
        builder.endpoint(observation)
    root = Component(name=f"sentinel scan {_text(scan.id)}", type=ComponentType.APPLICATION,
                     version=__version__, bom_ref=f"scan:{_text(scan.id)}")
    metadata = BomMetaData(timestamp=scan.started, component=root)
    components = [builder.components[k] for k in sorted(builder.components)]
    bom = Bom(components=components, serial_number=uuid.uuid5(_NAMESPACE, scan.id),
              metadata=metadata)
    # The scan depends on every asset it saw (Bom.register_dependency is quadratic: built here).
    bom.dependencies.add(Dependency(ref=root.bom_ref,
                                    dependencies=[Dependency(ref=c.bom_ref) for c in components]))
    return bom


def cbom_json(observations: list[dict[str, Any]], scan: ScanRecord) -> str:
    """The CBOM as CycloneDX 1.6 JSON, validated against the library's own schema."""
    text = JsonV1Dot6(cbom(observations, scan)).output_as_string(indent=1)
    problem = JsonStrictValidator(SchemaVersion.V1_6).validate_str(text)
    if problem is not None:
        raise ReportError(f"the CBOM does not validate as CycloneDX 1.6: {problem}")
    return text + "\n"
