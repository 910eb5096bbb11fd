"""Crypto: TLS baseline (TLS-*), 国密 protocol and certificate (GM-*) and 密评 (MP-*) checks.

Judges the facts of the ``tls`` probe (``docs/probe-tls.md``) for every endpoint that speaks
TLS or TLCP. Every check is evaluated on every such endpoint — a check that does not apply
passes with ``applicable: false`` — so a fixed problem is resolved by a passing result, not by
silence. Severities come from the catalog (``playbooks/remediation/crypto.yml``) except where
DOMAIN.md scales them by the segment's 密评 level (``segment.levels.mipin``).

A channel counts as national crypto only when SM2 authenticates it: a TLCP suite of class
national with an SM2 certificate pair, or an RFC 8998 suite whose certificate holds an SM2
key. SM4 under an RSA certificate is not 商用密码 (DOMAIN §1.3). That definition, the GM suite
sets and the certificate thresholds are read from ``probes/tls.yml``
(:func:`sentinel.catalog.tls.national_crypto`, the registry's ``national_tlcp``,
``sha1_tlcp``, ``sm1_tlcp``, ``rfc8998`` and ``certificates``), shared with the probe's
posture and the change events.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import Any

from sentinel.assess.base import AssetView, Verdict, assessor, verdict_finding
from sentinel.catalog.tls import CipherSuite, NationalCrypto, national_crypto, tls_registry
from sentinel.model import AttemptStatus, Evaluation, Finding, Observation
from sentinel.severity import Severity

OLD_PROTOCOLS = ("SSLv2", "SSLv3", "TLSv1.0")


def _pass(**evidence: Any) -> Verdict:
    return Verdict(False, evidence)


def _na() -> Verdict:
    return Verdict(False, {"applicable": False})


class Facts:
    """Read-only helpers over one ``tls`` observation's facts."""

    def __init__(self, facts: dict[str, Any], mipin: int) -> None:
        self.raw = facts
        self.mipin = mipin
        self.versions: list[str] = facts.get("versions", [])
        self.accepted: list[dict[str, Any]] = facts.get("accepted", [])

    def suites(self, protocols: tuple[str, ...] | None = None) -> list[tuple[str, int, str]]:
        return [(a["protocol"], int(a["code"], 16), a["name"]) for a in self.accepted
                if protocols is None or a["protocol"] in protocols]

    def spec(self, code: int) -> CipherSuite | None:
        return tls_registry().suites.get(code)

    def tls_suites(self) -> list[tuple[str, int, str]]:
        """Standard TLS/SSL suites (TLCP suites are judged by the GM checks)."""
        return [s for s in self.suites() if s[0] != "TLCPv1.1"]

    def tlcp_codes(self) -> list[int]:
        return [code for _p, code, _n in self.suites(("TLCPv1.1",))]

    def incomplete(self, tlcp: bool) -> list[dict[str, Any]]:
        """Suites the server selected and then abandoned (TLCP ones, or all the others)."""
        return [i for i in self.raw.get("incomplete", [])
                if (i["protocol"] == "TLCPv1.1") == tlcp]

    def sm_key_exchange(self, code: int) -> bool:
        """Whether a suite's key exchange is national: the ``kx`` of a TLCP suite of class
        national in probes/tls.yml. An RSA TLCP suite (RSA_SM4_*) is not national crypto
        whatever its record protection."""
        spec = self.spec(code)
        return spec is not None and spec.kx in tls_registry().national_key_exchanges

    @functools.cached_property
    def national(self) -> NationalCrypto:
        """The shared definition of national crypto on these facts."""
        return national_crypto(self.raw)

    def chains(self) -> list[tuple[str, list[dict[str, Any]]]]:
        """(protocol, chain) for every chain seen, TLS 1.3 ones included."""
        out = [(c["protocol"], c["chain"]) for c in self.raw.get("certificates", [])]
        tls13 = self.raw.get("tls13_certificate") or {}
        for offer in ("standard", "sm"):
            found = tls13.get(offer)
            if found and found.get("chain"):
                out.append((f"TLSv1.3/{offer}", found["chain"]))
        return out

    def tlcp_chain(self) -> dict[str, Any] | None:
        return next((c for c in self.raw.get("certificates", [])
                     if c["protocol"] == "TLCPv1.1"), None)

    def rfc8998(self) -> dict[str, Any] | None:
        return (self.raw.get("tls13_certificate") or {}).get("sm")

    def rfc8998_sm2(self) -> bool:
        """An RFC 8998 suite whose certificate holds an SM2 key (signature not failing)."""
        return self.national.rfc8998 == "proven"

    def tlcp_sm2(self) -> bool:
        """TLCP with a national suite, a valid SM2 certificate pair and a verifying SKE."""
        return self.national.tlcp == "proven"


def _by_level(mipin: int, table: dict[int, Severity]) -> Severity:
    return table.get(mipin, table[3])


STRONG_L3 = {1: Severity.LOW, 2: Severity.MEDIUM, 3: Severity.HIGH, 4: Severity.HIGH}
MEDIUM_L3 = {1: Severity.INFO, 2: Severity.LOW, 3: Severity.MEDIUM, 4: Severity.MEDIUM}


def _leaf(chain: list[dict[str, Any]]) -> dict[str, Any]:
    return chain[0] if chain else {}


def _weak_signature(cert: dict[str, Any]) -> bool:
    name = str(cert.get("signature_algorithm", {}).get("name", "")).lower()
    return "md5" in name or "sha1" in name or "md2" in name


# ---- TLS baseline ------------------------------------------------------------------------

def proto_ssl(f: Facts) -> Verdict:
    found = [v for v in f.versions if v in ("SSLv2", "SSLv3")]
    return Verdict(bool(found), {"versions": f.versions})


def proto_10(f: Facts) -> Verdict:
    return Verdict("TLSv1.0" in f.versions, {"versions": f.versions})


def proto_11(f: Facts) -> Verdict:
    return Verdict("TLSv1.1" in f.versions, {"versions": f.versions})


def proto_12_13(f: Facts) -> Verdict:
    if not f.tls_suites() and "TLSv1.3" not in f.versions:
        return _na()  # TLCP-only: no standard TLS side to judge
    if "TLSv1.3" in f.versions:
        return _pass(versions=f.versions)
    severity = Severity.LOW if "TLSv1.2" in f.versions else Severity.MEDIUM
    return Verdict(True, {"versions": f.versions}, severity)


def _suite_names(f: Facts, keep: Callable[[CipherSuite], bool]) -> list[str]:
    names = {name for _p, code, name in f.tls_suites()
             if (spec := f.spec(code)) is not None and keep(spec)}
    return sorted(names)


def cipher_broken(f: Facts) -> Verdict:
    found = _suite_names(f, lambda s: s.category == "broken")
    sslv2 = sorted({n for p, _c, n in f.tls_suites() if p == "SSLv2"})
    return Verdict(bool(found or sslv2), {"suites": found + sslv2})


def cipher_nopfs(f: Facts) -> Verdict:
    return Verdict(bool(found := _suite_names(f, lambda s: not s.pfs)), {"suites": found})


def cipher_cbc(f: Facts) -> Verdict:
    return Verdict(bool(found := _suite_names(f, lambda s: s.mode == "CBC")), {"suites": found})


def tls_suite_incomplete(f: Facts) -> Verdict:
    """TLS-SUITE-INCOMPLETE: a standard TLS suite selected in the ServerHello, then an
    alert or a close (the TLCP ones are GM-SUITE-INCOMPLETE)."""
    found = f.incomplete(False)
    return Verdict(bool(found), {"incomplete": found})


def key_rsa(f: Facts) -> Verdict:
    sizes = sorted({_leaf(c).get("key", {}).get("size") or 0 for _p, c in f.chains()
                    if _leaf(c).get("key", {}).get("type") == "rsa"})
    if not sizes:
        return _na()
    limits = tls_registry().certificates
    if sizes[0] < limits.rsa_min_bits:
        return Verdict(True, {"rsa_bits": sizes}, Severity.HIGH)
    if sizes[0] < limits.rsa_recommended_bits:  # BSI TR-02102-2 (2024): a warning
        return Verdict(True, {"rsa_bits": sizes}, Severity.INFO)
    return _pass(rsa_bits=sizes)


def cert_hash(f: Facts) -> Verdict:
    weak = sorted({f"{c.get('subject')}: {c['signature_algorithm']['name']}"
                   for _p, chain in f.chains() for c in chain
                   if not c.get("self_signed") and _weak_signature(c)})
    weak += sorted({f"{_leaf(ch).get('subject')}: {_leaf(ch)['signature_algorithm']['name']}"
                    for _p, ch in f.chains() if _leaf(ch).get("self_signed")
                    and _weak_signature(_leaf(ch))})
    return Verdict(bool(weak), {"weak_signatures": weak})


def cert_life(f: Facts) -> Verdict:
    lifetimes = sorted({_leaf(c).get("lifetime_days") or 0 for _p, c in f.chains()})
    if not lifetimes:
        return _na()
    limit = tls_registry().certificates.max_lifetime_days
    return Verdict(lifetimes[-1] > limit, {"lifetime_days": lifetimes, "limit_days": limit})


def dhe(f: Facts) -> Verdict:
    """TLS-DHE: DH group < 2048 bits fails (Medium); DHE offered at all is Info."""
    suites = _suite_names(f, lambda s: s.kx in ("DHE", "DHE_EXPORT"))
    ffdhe = sorted({g["name"] for g in f.raw.get("groups", []) if g["name"].startswith("ffdhe")})
    params = f.raw.get("dhe")
    evidence = {"dhe_suites": suites, "ffdhe_groups": ffdhe,
                "prime_bits": params.get("prime_bits") if params else None}
    if params and params.get("prime_bits", 0) < 2048:
        return Verdict(True, evidence, Severity.MEDIUM)
    if suites or ffdhe:  # dropped from Mozilla 6.0 intermediate: worth knowing, not a flaw
        return Verdict(True, evidence, Severity.INFO)
    return _pass(**evidence)


def _weak_curve(code: int) -> bool:
    """An EC group below 256 bits: by the registry's strength, else by the size in its name
    (secp192r1, sect163k1, ...: the legacy curves carry no strength in probes/tls.yml)."""
    registry = tls_registry()
    spec = registry.groups.get(code)
    if spec is None or spec.kind not in ("ec", "ecx"):
        return False
    if spec.security_bits is not None:
        return spec.security_bits < registry.certificates.ec_min_security_bits
    size = re.match(r"(?:secp|sect|brainpoolP|GC)(\d+)", spec.name)
    return size is not None and int(size.group(1)) < registry.certificates.ec_min_bits


def key_ec(f: Facts) -> Verdict:
    """TLS-KEY-EC: ECDHE groups and EC certificate keys below 256 bits."""
    weak_groups = sorted({g["name"] for g in f.raw.get("groups", [])
                          if _weak_curve(int(g["code"], 16))})
    keys = [_leaf(c).get("key", {}) for _p, c in f.chains()]
    ec_bits = sorted({k.get("size") or 0 for k in keys if k.get("type") == "ec"})
    ec_groups = [g for g in f.raw.get("groups", []) if g.get("class") != "pqc"]
    if not ec_bits and not ec_groups:
        return _na()
    weak_keys = [b for b in ec_bits if b < tls_registry().certificates.ec_min_bits]
    evidence = {"weak_groups": weak_groups, "ec_key_bits": ec_bits}
    return Verdict(bool(weak_groups or weak_keys), evidence)


# ---- 国密 (GM-*) ---------------------------------------------------------------------------

def tlcp_absent(f: Facts) -> Verdict:
    national = f.tlcp_sm2() or f.rfc8998_sm2()
    evidence = {"personality": f.raw.get("personality"), "mipin": f.mipin,
                "tlcp_sm2": f.tlcp_sm2(), "rfc8998_sm2": f.rfc8998_sm2(),
                "national": {"tlcp": f.national.tlcp, "rfc8998": f.national.rfc8998,
                             "against": list(f.national.against)}}
    return Verdict(not national, evidence, _by_level(f.mipin, MEDIUM_L3))


def suite_approved(f: Facts) -> Verdict:
    codes = f.tlcp_codes()
    if not codes:
        return _na()
    order = next((o["server_order"] for o in f.raw.get("server_preference", [])
                  if o["protocol"] == "TLCPv1.1" and o["server_order"]), None)
    selected = int(order[0], 16) if order else codes[0]
    evidence = {"selected": f"0x{selected:04X}", "accepted": [f"0x{c:04X}" for c in codes]}
    return Verdict(selected not in tls_registry().national_tlcp, evidence)


def suite_legacy(f: Facts) -> Verdict:
    codes = set(f.tlcp_codes())
    registry = tls_registry()
    if sha1 := codes & registry.sha1_tlcp:
        return Verdict(True, {"sha1_suites": sorted(f"0x{c:04X}" for c in sha1)}, Severity.HIGH)
    if sm1 := codes & registry.sm1_tlcp:
        return Verdict(True, {"sm1_suites": sorted(f"0x{c:04X}" for c in sm1)}, Severity.INFO)
    return _pass(applicable=bool(codes))


def suite_incomplete(f: Facts) -> Verdict:
    """GM-SUITE-INCOMPLETE: a TLCP suite selected in the ServerHello, then an alert or a
    close. Medium when it is not an SM2/SM9 key exchange (RSA_SM4_*: the TLCP configuration
    enables non-national crypto), Low when only national suites fail that way."""
    found = [{**i, "key_exchange": spec.kx if (spec := f.spec(int(i["code"], 16))) else None,
              "national": f.sm_key_exchange(int(i["code"], 16))} for i in f.incomplete(True)]
    if not found:
        return _pass(applicable="TLCPv1.1" in f.versions, incomplete=[])
    foreign = sorted(i["code"] for i in found if not i["national"])
    return Verdict(True, {"incomplete": found, "not_national": foreign},
                   Severity.MEDIUM if foreign else Severity.LOW)


def cert_pair(f: Facts) -> Verdict:
    chain = f.tlcp_chain()
    if chain is None:
        return _na()
    pair = chain.get("tlcp_pair", {})
    if not pair.get("ok"):
        return Verdict(True, {"problems": pair.get("problems"), "order": pair.get("order")})
    if pair.get("order") != "sign-enc":  # Kona tolerates sign, CA, enc: a warning only
        return Verdict(True, {"order": pair.get("order")}, Severity.LOW)
    return _pass(order="sign-enc", warnings=pair.get("warnings", []))


def cert_sigalg(f: Facts) -> Verdict:
    national = [(p, c) for p, c in f.chains() if p in ("TLCPv1.1", "TLSv1.3/sm")]
    if not national:
        return _na()
    # The leaf always counts; a self-signed root's own signature is never checked by clients.
    certs = [x for _p, c in national for i, x in enumerate(c)
             if "signature_algorithm" in x and (i == 0 or not x.get("self_signed"))]
    if not certs:
        return _na()
    algorithms = sorted({str(x["signature_algorithm"]["name"]) for x in certs})
    if any(_weak_signature(x) for x in certs):
        return Verdict(True, {"algorithms": algorithms}, Severity.HIGH)
    sm_oids = tls_registry().national_signature_oids  # SM3withSM2 (and SM9), from data
    non_sm = [x for x in certs if x["signature_algorithm"]["oid"] not in sm_oids]
    return Verdict(bool(non_sm), {"algorithms": algorithms}, Severity.MEDIUM)


def ske_verify(f: Facts) -> Verdict:
    ske = f.raw.get("tlcp_key_exchange")
    if not ske:
        return _na()
    if ske.get("signature_valid") is None:
        return Verdict(True, {"error": ske.get("error")}, evaluation=Evaluation.ERROR)
    return Verdict(not ske["signature_valid"], {"suite": ske.get("suite"),
                                                "signature_valid": ske["signature_valid"]})


def tls13_sm(f: Facts) -> Verdict:
    found = f.rfc8998()
    if found is None:
        return _na()
    if "error" in found:
        return Verdict(True, {"error": found["error"]}, Severity.LOW)
    key = _leaf(found.get("chain", [])).get("key", {}).get("type")
    evidence = {"suite": found.get("suite_name"), "group": found.get("group_name"),
                "signature_scheme": found.get("signature_scheme_name"), "certificate_key": key,
                "signature_valid": found.get("signature_valid")}
    # An SM4 suite authenticated by an RSA/ECDSA certificate is not national crypto.
    return Verdict(not f.rfc8998_sm2(), evidence, Severity.LOW)


def ecdhe_curve(f: Facts) -> Verdict:
    """GM-ECDHE-CURVE: the named_curve of a TLCP ECDHE ServerKeyExchange should be 41."""
    ske = f.raw.get("tlcp_key_exchange") or {}
    curve = ske.get("named_curve")
    if curve is None:
        return _na()
    code = int(curve, 16)
    registry = tls_registry()
    evidence = {"named_curve": curve, "legacy": registry.legacy_sm2_curves.get(code)}
    return Verdict(code not in registry.sm2_groups, evidence, Severity.INFO)


def client_auth(f: Facts) -> Verdict:
    """GM-CLIENTAUTH: does the TLCP server ask for a client certificate? (MP-N5 at L4)"""
    ske = f.raw.get("tlcp_key_exchange")
    if not ske:
        return _na()
    requested = bool(ske.get("certificate_requested"))
    # Below L4 secure access authentication is a "may": the fact is evidence, not a failure.
    return Verdict(not requested and f.mipin >= 4,
                   {"certificate_requested": requested, "mipin": f.mipin}, Severity.MEDIUM)


# ---- 密评 (MP-*) ---------------------------------------------------------------------------

def gen_alg(f: Facts) -> Verdict:
    broken = _suite_names(f, lambda s: s.category == "broken")
    broken += sorted(f"0x{c:04X}" for c in set(f.tlcp_codes()) & tls_registry().sha1_tlcp)
    weak_sigs = sorted({str(x["signature_algorithm"]["name"]) for _p, c in f.chains()
                        for x in c if not x.get("error") and _weak_signature(x)})
    floor = tls_registry().certificates.rsa_min_bits
    small_rsa = sorted({x["key"]["size"] for _p, c in f.chains() for x in c[:1]
                        if x.get("key", {}).get("type") == "rsa" and x["key"]["size"] < floor})
    evidence = {"broken_suites": broken, "weak_signatures": weak_sigs,
                "rsa_below_minimum": small_rsa, "rsa_min_bits": floor}
    return Verdict(bool(broken or weak_sigs or small_rsa), evidence)


def gen_tech(f: Facts) -> Verdict:
    old = [v for v in f.versions if v in OLD_PROTOCOLS]
    return Verdict(bool(old), {"versions": f.versions, "high_risk_versions": old})


def n1_auth(f: Facts) -> Verdict:
    evidence = {"mipin": f.mipin, "tlcp_sm2": f.tlcp_sm2(), "rfc8998_sm2": f.rfc8998_sm2(),
                "authentication": f.raw.get("posture", {}).get("authentication")}
    return Verdict(not (f.tlcp_sm2() or f.rfc8998_sm2()), evidence,
                   _by_level(f.mipin, STRONG_L3))


def n3_conf(f: Facts) -> Verdict:
    sm4 = sorted({n for _p, c, n in f.suites() if (s := f.spec(c)) and s.cipher == "SM4"})
    national = f.tlcp_sm2() or f.rfc8998_sm2()
    evidence = {"mipin": f.mipin, "sm4_suites": sm4, "sm2_authenticated": national}
    return Verdict(not national, evidence, _by_level(f.mipin, MEDIUM_L3))


CHECKS: tuple[tuple[str, Callable[[Facts], Verdict]], ...] = (
    ("TLS-PROTO-SSL", proto_ssl), ("TLS-PROTO-10", proto_10), ("TLS-PROTO-11", proto_11),
    ("TLS-PROTO-12-13", proto_12_13), ("TLS-CIPHER-BROKEN", cipher_broken),
    ("TLS-CIPHER-NOPFS", cipher_nopfs), ("TLS-CIPHER-CBC", cipher_cbc),
    ("TLS-KEY-RSA", key_rsa), ("TLS-CERT-HASH", cert_hash), ("TLS-CERT-LIFE", cert_life),
    ("TLS-DHE", dhe), ("TLS-KEY-EC", key_ec), ("TLS-SUITE-INCOMPLETE", tls_suite_incomplete),
    ("GM-TLCP-ABSENT", tlcp_absent), ("GM-SUITE-APPROVED", suite_approved),
    ("GM-SUITE-LEGACY", suite_legacy), ("GM-SUITE-INCOMPLETE", suite_incomplete),
    ("GM-CERT-PAIR", cert_pair),
    ("GM-CERT-SIGALG", cert_sigalg), ("GM-SKE-VERIFY", ske_verify), ("GM-TLS13-SM", tls13_sm),
    ("GM-ECDHE-CURVE", ecdhe_curve), ("GM-CLIENTAUTH", client_auth),
    ("MP-GEN-ALG", gen_alg), ("MP-GEN-TECH", gen_tech), ("MP-N1-AUTH", n1_auth),
    ("MP-N3-CONF", n3_conf),
)


def _speaks_tls(obs: Observation) -> bool:
    """TLS or TLCP answered: a version completed, or a suite was at least selected."""
    return (obs.status is AttemptStatus.COMPLETED and obs.facts.get("port_state") == "open"
            and bool(obs.facts.get("versions") or obs.facts.get("incomplete")))


@assessor(
    "GM-CERT-PAIR",
    "GM-CERT-SIGALG",
    "GM-CLIENTAUTH",
    "GM-ECDHE-CURVE",
    "GM-SKE-VERIFY",
    "GM-SUITE-APPROVED",
    "GM-SUITE-INCOMPLETE",
    "GM-SUITE-LEGACY",
    "GM-TLCP-ABSENT",
    "GM-TLS13-SM",
    "MP-GEN-ALG",
    "MP-GEN-TECH",
    "MP-N1-AUTH",
    "MP-N3-CONF",
    "TLS-CERT-HASH",
    "TLS-CERT-LIFE",
    "TLS-CIPHER-BROKEN",
    "TLS-CIPHER-CBC",
    "TLS-CIPHER-NOPFS",
    "TLS-DHE",
    "TLS-KEY-EC",
    "TLS-KEY-RSA",
    "TLS-PROTO-10",
    "TLS-PROTO-11",
    "TLS-PROTO-12-13",
    "TLS-PROTO-SSL",
    "TLS-SUITE-INCOMPLETE",
)
def assess_crypto(view: AssetView) -> list[Finding]:
    """Every TLS-, GM- and MP- check for every endpoint where TLS or TLCP answered."""
    findings: list[Finding] = []
    for obs in view.of("tls"):
        if not _speaks_tls(obs):
            continue
        facts = Facts(obs.facts, view.segment.levels.mipin)
        for check_id, rule in CHECKS:
            findings.append(verdict_finding(view, check_id, rule(facts), obs, probe="tls",
                                            protocol="tls"))
    return findings
