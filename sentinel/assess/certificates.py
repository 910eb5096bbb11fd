"""Certificates: what every peer (testssl.sh, sslyze, nmap ssl-cert) reports about the chains
a TLS or TLCP server sends, judged at scan time on every endpoint where one was seen.

- TLS-CERT-EXPIRED / TLS-CERT-NOT-YET-VALID: a certificate of the path (leaf, sent
  intermediates, TLCP encryption certificate) is past ``not_after`` or before
  ``not_before`` at the observation's time (the clock is the scan's, never the assessor's).
- TLS-CERT-NAME: the leaf names neither the server name sent (SNI) nor the scanned name
  (SAN dNSName/iPAddress; the subject CN only when the certificate has no SAN; RFC 6125
  §6.4.3 wildcards: ``*`` as the whole left-most label, matching exactly one label). Not
  judged for an asset scanned by address only.
- TLS-CERT-CHAIN: the path from the leaf ends neither in a self-signed certificate nor in a
  root of the trust store (the issuer was not sent). TLS-CERT-ORDER: the server sent the
  path out of order (each certificate must be followed by its issuer).
- TLS-CERT-TRUST: the complete path ends in a root outside the trust store
  (``probes/trust.yml``: system bundles plus national SM2 roots; a self-signed leaf too).
- TLS-CERT-CHAIN-SIG: a signature on the path uses MD5/MD4/MD2 (high) or SHA-1, or is made
  by an RSA key under 2048 bits (medium); the self-signed root's own signature is no link.
- GM-CERT-PAIR-KEY / GM-CERT-PAIR-USAGE: TLCP pair defects GM-CERT-PAIR does not judge:
  one key in the signing and the encryption certificate; usages that mix the two roles.

The chain facts (``chain_analysis``) come from :func:`sentinel.probes.certs.chain_facts`
over the DER the server sent; when a probe's facts lack them they are computed here from
that DER (pure: the trust store is data).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sentinel.assess.base import AssetView, Verdict, assessor, verdict_finding
from sentinel.catalog.trust import TrustStore, trust_store
from sentinel.model import AttemptStatus, Evaluation, Finding, Observation
from sentinel.probes.certs import chain_facts, tlcp_pair_defects
from sentinel.severity import Severity

BROKEN_HASHES = frozenset({"md2", "md4", "md5"})


@dataclass(frozen=True)
class Chain:
    """One chain a server sent, with where it was seen and its path facts."""

    protocol: str
    certs: list[dict[str, Any]]
    analysis: dict[str, Any]

    @property
    def leaf(self) -> dict[str, Any]:
        return self.certs[0] if self.certs else {}

    def path_certs(self) -> list[dict[str, Any]]:
        """The sent certificates a client relies on: the path, and the TLCP enc certificate."""
        indices = list(self.analysis.get("path") or [0])
        enc = self.analysis.get("enc")
        if enc is not None:
            indices.append(enc["index"])
        return [self.certs[i] for i in indices if i < len(self.certs)]


@dataclass(frozen=True)
class Seen:
    """What the checks judge: the chains of one endpoint, the names and the scan's clock."""

    chains: list[Chain]
    names: list[str]
    now: datetime
    trust: TrustStore


def chains_of(facts: dict[str, Any], trust: TrustStore) -> list[Chain]:
    """Every distinct chain seen on one endpoint (TLS 1.2 and 1.3 often send the same)."""
    found: list[tuple[str, list[dict[str, Any]], dict[str, Any]]] = [
        (c["protocol"], c.get("chain") or [], c) for c in facts.get("certificates") or []]
    tls13 = facts.get("tls13_certificate") or {}
    for offer in ("standard", "sm"):
        entry = tls13.get(offer)
        if entry and entry.get("chain"):
            found.append((f"TLSv1.3/{offer}", entry["chain"], entry))
    chains: list[Chain] = []
    seen: set[tuple[bool, tuple[str, ...]]] = set()
    for protocol, certs, entry in found:
        tlcp = protocol == "TLCPv1.1"
        key = (tlcp, tuple(str(c.get("sha256")) for c in certs))
        # Judged from the DER the server sent: facts without it (hand-made, or an observation
        # stored before DER was kept) give nothing to judge.
        if not certs or key in seen or "der_b64" not in certs[0]:
            continue
        seen.add(key)
        analysis = entry.get("chain_analysis") or chain_facts(certs, trust, tlcp=tlcp)
        chains.append(Chain(protocol, certs, analysis))
    return chains


def _when(text: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        return None


def _dated(seen: Seen, field: str, past: bool) -> Verdict:
    found = []
    for chain in seen.chains:
        for cert in chain.path_certs():
            moment = _when(cert.get(field))
            if moment is not None and (moment < seen.now if past else moment > seen.now):
                found.append({"protocol": chain.protocol, "subject": cert.get("subject"),
                              field: cert.get(field)})
    return Verdict(bool(found), {"certificates": found, "judged_at": seen.now.isoformat()})


def expired(seen: Seen) -> Verdict:
    return _dated(seen, "not_after", past=True)


def not_yet_valid(seen: Seen) -> Verdict:
    return _dated(seen, "not_before", past=False)


def dns_matches(pattern: str, host: str) -> bool:
    """RFC 6125 §6.4: exact (case-insensitive, trailing dot ignored), or ``*`` as the whole
    left-most label standing for exactly one label, under at least two more labels."""
    pattern, host = pattern.rstrip(".").lower(), host.rstrip(".").lower()
    if not pattern or not host:
        return False
    if pattern == host:
        return True
    if not pattern.startswith("*."):
        return False
    rest = pattern[2:]
    if "*" in rest or "." not in rest:
        return False
    first, _, tail = host.partition(".")
    return bool(first) and tail == rest


def name_matches(name: str, san: Sequence[str], common_names: Sequence[str]) -> bool:
    """Whether a certificate with these SAN entries (``DNS:``/``IP:``) and CNs names ``name``
    (a host name or an address)."""
    try:
        address = ipaddress.ip_address(name.strip("[]"))
    except ValueError:
        address = None
    if address is not None and san:
        ips = [x[3:] for x in san if x.startswith("IP:")]
        return any(_same_address(address, ip) for ip in ips)
    if san:
        return any(dns_matches(x[4:], name) for x in san if x.startswith("DNS:"))
    if address is not None:
        return any(_same_address(address, cn) for cn in common_names)
    return any(dns_matches(cn, name) for cn in common_names)


def _same_address(address: ipaddress.IPv4Address | ipaddress.IPv6Address, text: str) -> bool:
    try:
        return ipaddress.ip_address(text) == address
    except ValueError:
        return False


def hostname(seen: Seen) -> Verdict:
    if not seen.names:
        return Verdict(False, {"applicable": False, "reason": "scanned by address only"})
    mismatched = []
    for chain in seen.chains:
        leaf = chain.leaf
        if leaf.get("error"):
            continue
        wrong = [n for n in seen.names
                 if not name_matches(n, leaf.get("san") or [], leaf.get("common_names") or [])]
        if wrong:
            mismatched.append({"protocol": chain.protocol, "names": wrong,
                               "certificate_names": leaf.get("san") or leaf.get("common_names")})
    return Verdict(bool(mismatched), {"names": seen.names, "mismatched": mismatched})


def chain_incomplete(seen: Seen) -> Verdict:
    broken = [{"protocol": c.protocol, "missing_issuer": c.analysis.get("missing_issuer"),
               "path": c.analysis.get("path"), "truncated": c.analysis.get("truncated"),
               "error": c.analysis.get("error")}
              for c in seen.chains if not c.analysis.get("complete")]
    return Verdict(bool(broken), {"incomplete": broken})


def chain_order(seen: Seen) -> Verdict:
    wrong = [{"protocol": c.protocol, "path": c.analysis.get("path"),
              "unused": c.analysis.get("unused")}
             for c in seen.chains if c.analysis.get("complete") is not None
             and not c.analysis.get("in_order", True)]
    return Verdict(bool(wrong), {"out_of_order": wrong})


def untrusted(seen: Seen) -> Verdict:
    complete = [c for c in seen.chains if c.analysis.get("complete")]
    if not complete:
        return Verdict(False, {"applicable": False, "reason": "no complete chain"})
    if not seen.trust.roots:
        return Verdict(True, {"error": "the trust store is empty (probes/trust.yml)"},
                       evaluation=Evaluation.ERROR)
    wrong = [{"protocol": c.protocol, "anchor": c.analysis.get("anchor")}
             for c in complete if not c.analysis.get("trusted")]
    return Verdict(bool(wrong), {"untrusted": wrong, "trust_roots": len(seen.trust.roots)})


def chain_signatures(seen: Seen) -> Verdict:
    weak = [{"protocol": c.protocol, "subject": link["subject"], "weak": link["weak"]}
            for c in seen.chains for link in c.analysis.get("links") or [] if link["weak"]]
    if not weak:
        return Verdict(False, {"weak": []})
    broken = any(link.get("signature_hash") in BROKEN_HASHES
                 for c in seen.chains for link in c.analysis.get("links") or [])
    return Verdict(True, {"weak": weak}, Severity.HIGH if broken else None)


def _tlcp_defects(seen: Seen) -> list[tuple[str, dict[str, Any]]]:
    return [(c.protocol, d) for c in seen.chains if c.protocol == "TLCPv1.1"
            if (d := tlcp_pair_defects(c.certs)).get("applicable")]


def pair_same_key(seen: Seen) -> Verdict:
    found = _tlcp_defects(seen)
    if not found:
        return Verdict(False, {"applicable": False})
    return Verdict(any(d["same_key"] for _p, d in found), {"same_key": found[0][1]["same_key"]})


def pair_usage(seen: Seen) -> Verdict:
    found = _tlcp_defects(seen)
    if not found:
        return Verdict(False, {"applicable": False})
    defects = found[0][1]
    evidence = {k: defects[k] for k in ("sign_extra_usages", "enc_extra_usages")}
    return Verdict(bool(evidence["sign_extra_usages"] or evidence["enc_extra_usages"]), evidence)


CHECKS: tuple[tuple[str, Callable[[Seen], Verdict]], ...] = (
    ("TLS-CERT-EXPIRED", expired), ("TLS-CERT-NOT-YET-VALID", not_yet_valid),
    ("TLS-CERT-NAME", hostname), ("TLS-CERT-CHAIN", chain_incomplete),
    ("TLS-CERT-ORDER", chain_order), ("TLS-CERT-TRUST", untrusted),
    ("TLS-CERT-CHAIN-SIG", chain_signatures),
    ("GM-CERT-PAIR-KEY", pair_same_key), ("GM-CERT-PAIR-USAGE", pair_usage),
)


def names_of(obs: Observation) -> list[str]:
    """The server name sent (the facts' ``server_name`` when the probe records it, else the
    asset's name, which the tls probe sends by default) and the scanned name."""
    sent = obs.facts.get("server_name", obs.asset.name)
    return list(dict.fromkeys(n for n in (sent, obs.asset.name) if n))


def judge(facts: dict[str, Any], names: list[str], now: datetime,
          trust: TrustStore) -> list[tuple[str, Verdict]]:
    """Every certificate check on one endpoint's tls facts (empty: no chain was seen)."""
    chains = chains_of(facts, trust)
    if not chains:
        return []
    seen = Seen(chains, names, now, trust)
    return [(check_id, rule(seen)) for check_id, rule in CHECKS]


@assessor(
    "GM-CERT-PAIR-KEY",
    "GM-CERT-PAIR-USAGE",
    "TLS-CERT-CHAIN",
    "TLS-CERT-CHAIN-SIG",
    "TLS-CERT-EXPIRED",
    "TLS-CERT-NAME",
    "TLS-CERT-NOT-YET-VALID",
    "TLS-CERT-ORDER",
    "TLS-CERT-TRUST",
)
def assess_certificates(view: AssetView) -> list[Finding]:
    """The certificate checks for every endpoint where the tls probe saw a chain."""
    findings: list[Finding] = []
    for obs in view.of("tls"):
        if obs.status is not AttemptStatus.COMPLETED or obs.facts.get("port_state") != "open":
            continue
        for check_id, verdict in judge(obs.facts, names_of(obs), obs.started, trust_store()):
            findings.append(verdict_finding(view, check_id, verdict, obs, probe="tls",
                                            protocol="tls"))
    return findings
