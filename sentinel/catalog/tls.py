"""The TLS/TLCP crypto registry (``probes/tls.yml``): suites, groups, signature schemes, OIDs.

Knowledge is data: this module only indexes it. It also holds the one definition of
"national crypto" (:func:`national_crypto`) that the probe's posture, the assessors and the
change events share: which suites, groups and curves are national is read from the classes
of the file, never listed in code. The file is validated strictly by
:mod:`sentinel.catalog.tls_schema` (file and line on every error) once, then kept as the
plain frozen records below, pickled under the user's cache directory
(:mod:`sentinel.catalog.cache`); a probe run loads the pickle and never imports pydantic or YAML.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal, NamedTuple

from sentinel.catalog.cache import cached
from sentinel.catalog.resources import data_file, read_text
from sentinel.catalog.tls_records import (
    Certificates,
    CipherSuite,
    Family,
    Group,
    MinVersion,
    ObjectId,
    Signaling,
    SignatureScheme,
    SuiteClass,
    TlsRegistryData,
)

__all__ = [
    "Certificates",
    "CipherSuite",
    "Family",
    "Group",
    "MinVersion",
    "NationalCrypto",
    "NationalPath",
    "ObjectId",
    "Signaling",
    "SignatureScheme",
    "SuiteClass",
    "TlsRegistry",
    "TlsRegistryData",
    "national_crypto",
    "tls_registry",
]

_TLS1_2, _TLS1_3, _TLCP1_1 = 0x0303, 0x0304, 0x0101

class TlsRegistry:
    """Read-only indexes over a validated registry file."""

    def __init__(self, data: TlsRegistryData) -> None:
        self.data = data
        self.suites = MappingProxyType({s.code: s for s in data.suites})
        self.groups = MappingProxyType({g.code: g for g in data.groups})
        self.signature_schemes = MappingProxyType({s.code: s for s in data.signature_schemes})
        self.oids = MappingProxyType({o.oid: o for o in data.oids})
        self._candidates: dict[int, tuple[int, ...]] = {}

    def suite_name(self, code: int) -> str:
        """IANA (or national-standard) name of a suite; unknown codes as hex."""
        suite = self.suites.get(code)
        return suite.name if suite else f"UNKNOWN_0x{code:04X}"

    def group_name(self, code: int) -> str:
        """Name of a group; unknown codes as hex."""
        group = self.groups.get(code)
        return group.name if group else f"UNKNOWN_0x{code:04X}"

    def suites_of(self, *families: Family) -> tuple[CipherSuite, ...]:
        """Suites of the given families, in code order."""
        return tuple(s for s in self.data.suites if s.family in families)

    def candidate_suites(self, version: int) -> tuple[int, ...]:
        """Codes of every suite that can be negotiated under a protocol version (cached)."""
        found = self._candidates.get(version)
        if found is None:
            if version == _TLCP1_1:
                found = tuple(s.code for s in self.suites_of("tlcp"))
            elif version == _TLS1_3:
                found = tuple(s.code for s in self.suites_of("tls13"))
            else:
                allowed = ("ssl3", "tls1.2") if version >= _TLS1_2 else ("ssl3",)
                found = tuple(s.code for s in self.suites_of("tls") if s.min_version in allowed)
            self._candidates[version] = found
        return found

    @functools.cached_property
    def _tls13_groups(self) -> tuple[int, ...]:
        return tuple(g.code for g in self.data.groups if g.category != "legacy")

    @functools.cached_property
    def _ec_groups(self) -> tuple[int, ...]:
        return tuple(g.code for g in self.data.groups if g.kind in ("ec", "ecx"))

    def tls13_groups(self) -> tuple[int, ...]:
        """Every non-legacy group: what a TLS 1.3 server may pick from."""
        return self._tls13_groups

    def ec_groups(self) -> tuple[int, ...]:
        """Every elliptic-curve group: what a TLS 1.0-1.2 ECDHE server may pick from."""
        return self._ec_groups

    # ---- national crypto, from the classes of the file ------------------------------------

    def _codes(self, family: Family, keep: Any) -> frozenset[int]:
        return frozenset(s.code for s in self.data.suites if s.family == family and keep(s))

    @functools.cached_property
    def national_tlcp(self) -> frozenset[int]:
        """TLCP suites of class national (SM2/SM9 key exchange, SM4, SM3): GM-SUITE-APPROVED."""
        return self._codes("tlcp", lambda s: s.category == "national")

    @functools.cached_property
    def sha1_tlcp(self) -> frozenset[int]:
        """TLCP suites with a SHA-1 MAC (GM/T 0024-2014 only)."""
        return self._codes("tlcp", lambda s: s.mac == "SHA")

    @functools.cached_property
    def sm1_tlcp(self) -> frozenset[int]:
        """TLCP suites with SM1 (dropped by GB/T 38636), the SHA-1 ones apart."""
        return self._codes("tlcp", lambda s: s.cipher == "SM1") - self.sha1_tlcp

    @functools.cached_property
    def rfc8998(self) -> frozenset[int]:
        """TLS 1.3 suites of class national (RFC 8998 TLS_SM4_*_SM3)."""
        return self._codes("tls13", lambda s: s.category == "national")

    @functools.cached_property
    def national_key_exchanges(self) -> frozenset[str]:
        """The ``kx`` of the national TLCP suites (ECC_SM2, ECDHE_SM2, IBC_SM9, IBSDH_SM9)."""
        return frozenset(self.suites[c].kx for c in self.national_tlcp)

    @functools.cached_property
    def sm2_groups(self) -> tuple[int, ...]:
        """EC groups of class national (curveSM2, 41), in code order."""
        return tuple(g.code for g in self.data.groups if g.category == "national"
                     and g.kind == "ec")

    @functools.cached_property
    def sm2_curve_names(self) -> frozenset[str]:
        """Names of the national curves: the curve OIDs of class national (sm2p256v1) and
        the national EC groups (curveSM2)."""
        names = {o.name for o in self.data.oids if o.kind == "curve" and o.category == "national"}
        names |= {self.groups[c].name for c in self.sm2_groups}
        return frozenset(names)

    @functools.cached_property
    def national_signature_oids(self) -> frozenset[str]:
        """Verified signature OIDs of class national (SM3withSM2, SM9): GM-CERT-SIGALG."""
        return frozenset(o.oid for o in self.data.oids if o.kind == "signature"
                         and o.category == "national" and o.status == "verified")

    @functools.cached_property
    def legacy_sm2_curves(self) -> Mapping[int, str]:
        """Code points older SM stacks send for the SM2 curve, with who sends them."""
        return MappingProxyType({c.code: c.name for c in self.data.national.legacy_sm2_curves})

    @property
    def certificates(self) -> Certificates:
        """Certificate and key thresholds (``certificates:``)."""
        return self.data.certificates

    def is_sm2_key(self, key: Mapping[str, Any] | None) -> bool:
        """Whether a certificate key (``certificate_facts``' ``key``) is on a national curve."""
        if not key:
            return False
        return key.get("type") == "sm2" or key.get("curve") in self.sm2_curve_names


NationalPath = Literal["none", "proven", "unproven", "refuted"]


class NationalCrypto(NamedTuple):
    """Whether one endpoint's ``tls`` facts show national crypto (商用密码), per path.

    A path is ``none`` (no suite of class national accepted on it), ``proven`` (TLCP: a
    national suite, a valid SM2 certificate pair and a ServerKeyExchange whose SM2 signature
    verifies; RFC 8998: a national TLS 1.3 suite whose certificate holds an SM2 key and whose
    signature does not fail), ``refuted`` (the recorded certificate or signature says
    otherwise: an RSA certificate, a broken pair, a failing signature) or ``unproven`` (the
    suites are there, the certificate facts are not).
    """

    tlcp: NationalPath
    rfc8998: NationalPath
    tlcp_suites: tuple[str, ...]  # accepted TLCP suites of class national, as 0xE013
    rfc8998_suites: tuple[str, ...]  # accepted TLS 1.3 suites of class national
    against: tuple[str, ...]  # what refuted a path

    @property
    def proven(self) -> bool:
        """SM2 authenticates the channel: what the GM and 密评 checks require."""
        return "proven" in (self.tlcp, self.rfc8998)

    @property
    def offered(self) -> bool:
        """National suites accepted and nothing recorded against them (proven or not yet):
        what the posture and the national-crypto change events track."""
        return bool({"proven", "unproven"} & {self.tlcp, self.rfc8998})


def _accepted(facts: Mapping[str, Any], protocols: tuple[str, ...],
              codes: frozenset[int]) -> tuple[str, ...]:
    found = set()
    for entry in facts.get("accepted") or []:
        try:
            code = int(entry["code"], 16)
        except (KeyError, TypeError, ValueError):
            continue
        if entry.get("protocol") in protocols and code in codes:
            found.add(f"0x{code:04X}")
    return tuple(sorted(found))


def _tlcp_path(facts: Mapping[str, Any], registry: TlsRegistry,
               against: list[str]) -> NationalPath:
    chain = next((c for c in facts.get("certificates") or []
                  if c.get("protocol") == "TLCPv1.1"), None)
    ske = facts.get("tlcp_key_exchange") or {}
    leaf = ((chain or {}).get("chain") or [{}])[0]
    if chain is not None:
        if not (chain.get("tlcp_pair") or {}).get("ok"):
            against.append("TLCP certificate pair not valid")
        if not registry.is_sm2_key(leaf.get("key")):
            against.append(f"TLCP certificate key {(leaf.get('key') or {}).get('type')}")
    if ske.get("signature_valid") is False:
        against.append("TLCP ServerKeyExchange signature does not verify")
    if against:
        return "refuted"
    return "proven" if chain is not None and ske.get("signature_valid") is True else "unproven"


def _rfc8998_path(facts: Mapping[str, Any], registry: TlsRegistry,
                  against: list[str]) -> NationalPath:
    found = (facts.get("tls13_certificate") or {}).get("sm") or {}
    chain = found.get("chain") or []
    if not chain:
        return "unproven"  # not read, or the read failed: the suites stand unproven
    key = chain[0].get("key")
    if not registry.is_sm2_key(key):
        against.append(f"RFC 8998 certificate key {(key or {}).get('type')}")
    if found.get("signature_valid") is False:
        against.append("RFC 8998 CertificateVerify does not verify")
    return "refuted" if against else "proven"


def national_crypto(facts: Mapping[str, Any],
                    registry: TlsRegistry | None = None) -> NationalCrypto:
    """The one definition of national crypto on one endpoint's ``tls`` facts.

    SM4 under an RSA certificate is not 商用密码 (DOMAIN §1.3): a suite of class national
    makes a path possible, the SM2 certificate and signatures make it proven.
    """
    registry = registry or tls_registry()
    tlcp_suites = _accepted(facts, ("TLCPv1.1",), registry.national_tlcp)
    rfc_suites = _accepted(facts, ("TLSv1.3",), registry.rfc8998)
    tlcp_against: list[str] = []
    rfc_against: list[str] = []
    tlcp: NationalPath = _tlcp_path(facts, registry, tlcp_against) if tlcp_suites else "none"
    rfc: NationalPath = _rfc8998_path(facts, registry, rfc_against) if rfc_suites else "none"
    against = (tlcp_against if tlcp_suites else []) + (rfc_against if rfc_suites else [])
    return NationalCrypto(tlcp, rfc, tlcp_suites, rfc_suites, tuple(against))


@functools.cache
def tls_registry() -> TlsRegistry:
    """The shipped (or overlaid) ``probes/tls.yml``, loaded once per process.

    Validating the YAML costs ~80 ms plus ~0.1 s of importing pydantic and the YAML loader,
    most of a one-endpoint CLI run; the validated records are therefore kept pickled
    (:mod:`sentinel.catalog.cache`, keyed by the YAML and the two registry modules).
    """
    source = data_file("probes", "tls.yml")
    text = read_text(source)

    def validated() -> TlsRegistryData:
        from sentinel.catalog.tls_schema import load_registry  # only on a cache miss

        return load_registry(source, text)

    here = Path(__file__)
    schema = (here, here.with_name("tls_records.py"), here.with_name("tls_schema.py"))
    return TlsRegistry(cached("tls-registry", text, schema, TlsRegistryData, validated))
