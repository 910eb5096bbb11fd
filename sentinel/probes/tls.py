"""TLS/TLCP probe: what one port speaks, what it accepts and with which certificates.

One job runs :func:`~sentinel.probes.tls_enum.enumerate_tls` (versions, suites, order,
groups, personality, cleartext chains, the TLCP ServerKeyExchange), then reads the TLS 1.3
certificate, which is encrypted, with :func:`~sentinel.wire.tls13_client.read_tls13_certificates`
(once with the standard suites, once with only the RFC 8998 SM suites when the server takes
them), and verifies the TLCP SKE SM2 signature. Every connection goes through the
:class:`~sentinel.probes.base.Network` gate. The facts are JSON-able; the shape is documented
in ``docs/probe-tls.md``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from sentinel.catalog.tls import TlsRegistry, national_crypto, tls_registry
from sentinel.crypto import tlcp
from sentinel.crypto.keyshare import NamedGroup
from sentinel.errors import DecodeError, ErrorReason, ProbeError
from sentinel.probes.base import Connector, Network, Planned, Target
from sentinel.probes.certs import MAX_CHAIN, certificate_facts, tlcp_pair_check
from sentinel.probes.tls13_client import read_tls13_certificates
from sentinel.probes.tls_enum import enumerate_tls
from sentinel.probes.tls_results import TlcpKeyExchange, TlsEnumeration
from sentinel.wire.tls13_keys import SUITES as TLS13_READABLE

if TYPE_CHECKING:
    from sentinel.playbook import Playbook

# The RFC 8998 suites and curveSM2 are the class-national entries of probes/tls.yml
# (registry.rfc8998, registry.sm2_groups); sm2sig_sm3 is the scheme RFC 8998 names.
SM2SIG_SM3 = 0x0708
# Groups our key-share code can generate; a server's HelloRetryRequest picks among them.
OFFERABLE_GROUPS = tuple(int(g) for g in NamedGroup if g != NamedGroup.CURVE_SM2)
STANDARD_SCHEMES = (0x0403, 0x0503, 0x0603, 0x0804, 0x0805, 0x0806, 0x0807, 0x0808,
                    0x0809, 0x080A, 0x080B, 0x0401, 0x0501, 0x0601)


def hex_code(code: int, protocol: str = "") -> str:
    """Suite or group code as ``0xC02F`` (SSLv2 cipher kinds are 24-bit)."""
    return f"0x{code:06X}" if protocol == "SSLv2" else f"0x{code:04X}"


@dataclass(frozen=True)
class TlsProbe:
    """Probe kind ``tls``: full TLS/TLCP enumeration of one port."""

    kind: ClassVar[str] = "tls"
    transport: ClassVar[str] = "tcp"
    timeout: float = 5.0
    budget_s: float = 90.0  # the engine's per-job limit for this kind (many handshakes)
    sni: bool = True

    async def run(self, target: Target, network: Network) -> dict[str, Any]:
        port = target.endpoint.port
        if port is None:
            raise ProbeError(ErrorReason.INTERNAL, "tls probe needs a port")
        state = await _port_state(network, target.endpoint.address, port)
        if state != "open":
            # Planned on every host's TLS ports: a closed port is a fact, not a failure.
            return {"port_state": state}
        connect = network.connector(target.endpoint.address, port)
        server_name = target.server_name if self.sni else None
        facts = await probe_tls(connect, timeout=self.timeout, server_name=server_name)
        # The name sent (None: no SNI), which the certificate name check is judged against.
        return {"port_state": "open", "server_name": server_name, **facts}


async def _port_state(network: Network, address: str, port: int) -> str:
    """open / closed / filtered from one plain TCP connect (as the tcp probe reports it)."""
    try:
        async with network.tcp(address, port):
            return "open"
    except ProbeError as exc:
        if exc.reason is ErrorReason.REFUSED:
            return "closed"
        if exc.reason is ErrorReason.TIMEOUT:
            return "filtered"
        raise


async def probe_tls(connect: Connector, *, timeout: float = 5.0,
                    server_name: str | None = None,
                    registry: TlsRegistry | None = None) -> dict[str, Any]:
    """Everything Sentinel learns about one TLS-looking port, as JSON-able facts."""
    registry = registry or tls_registry()
    enum = await enumerate_tls(connect, timeout=timeout, server_name=server_name,
                               registry=registry)
    facts = enumeration_facts(enum, registry)
    facts["tls13_certificate"] = await _tls13_certificates(
        connect, enum, timeout=timeout, server_name=server_name, registry=registry)
    facts["tlcp_key_exchange"] = key_exchange_facts(enum.tlcp_key_exchange)
    facts["posture"] = posture(facts, registry)
    facts["national"] = national_facts(facts, registry)
    return facts


def enumeration_facts(enum: TlsEnumeration, registry: TlsRegistry) -> dict[str, Any]:
    """The enumeration as plain values (codes as hex strings, DER as base64)."""
    chains = []
    for chain in enum.certificates:
        # A hostile server may send thousands of certificates: the first MAX_CHAIN are read
        # (what any client would try to build a path from), the count is kept.
        parsed = [certificate_facts(der, registry) for der in chain.chain[:MAX_CHAIN]]
        entry: dict[str, Any] = {
            "sent": len(chain.chain),
            "protocol": chain.protocol,
            "suite": hex_code(chain.suite),
            "suite_name": registry.suite_name(chain.suite),
            "chain": parsed,
        }
        if chain.protocol == "TLCPv1.1":
            entry["tlcp_pair"] = tlcp_pair_check(parsed)
        chains.append(entry)
    return {
        "versions": list(enum.versions),
        "accepted": [{"protocol": a.protocol, "code": hex_code(a.code, a.protocol),
                      "name": a.name} for a in enum.accepted],
        "server_preference": [
            {"protocol": o.protocol,
             "server_order": None if o.server_order is None
             else [hex_code(c) for c in o.server_order]}
            for o in enum.server_preference],
        "groups": [{"protocol": g.protocol, "code": hex_code(g.code), "name": g.name,
                    "class": _group_class(g.code, registry)} for g in enum.groups],
        "personality": enum.personality.value,
        "certificates": chains,
        "tlcp_needs_bare_hello": enum.tlcp_needs_bare_hello,
        "gotlcp_fingerprint": enum.gotlcp_fingerprint,
        "alerts": list(enum.alerts_seen),
        "rejected_abruptly": [{"protocol": r.protocol, "code": hex_code(r.code), "name": r.name}
                              for r in enum.rejected_abruptly],
        "incomplete": [{"protocol": i.protocol, "code": hex_code(i.code), "name": i.name,
                        "reason": i.reason} for i in enum.incomplete],
        "dhe": None if enum.dhe is None else {
            "protocol": enum.dhe.protocol, "suite": hex_code(enum.dhe.suite),
            "suite_name": registry.suite_name(enum.dhe.suite),
            "prime_bits": enum.dhe.prime_bits, "generator": enum.dhe.generator},
        "connections_used": enum.connections_used,
        "errors": list(enum.errors),
    }


def _group_class(code: int, registry: TlsRegistry) -> str:
    group = registry.groups.get(code)
    return group.category if group else "unknown"


def key_exchange_facts(ske: TlcpKeyExchange | None) -> dict[str, Any] | None:
    """The TLCP ServerKeyExchange and whether its SM2 signature verifies with cert [0]."""
    if ske is None:
        return None
    out: dict[str, Any] = {
        "suite": hex_code(ske.suite),
        "named_curve": None if ske.named_curve is None else hex_code(ske.named_curve),
        "certificate_requested": ske.certificate_requested,
        "signature_valid": None,
        "error": None,
    }
    if not ske.certificates:
        out["error"] = "no certificate to verify with"
        return out
    try:
        out["signature_valid"] = tlcp.verify_server_key_exchange(
            ske.certificates[0], ske.signed_data, ske.signature)
    except (DecodeError, ValueError) as exc:
        out["error"] = str(exc)
    return out


async def _tls13_certificates(connect: Connector, enum: TlsEnumeration, *, timeout: float,
                              server_name: str | None,
                              registry: TlsRegistry) -> dict[str, Any] | None:
    """Read the encrypted TLS 1.3 chain: standard suites and RFC 8998 suites apart."""
    if "TLSv1.3" not in enum.versions:
        return None
    codes = [a.code for a in enum.accepted if a.protocol == "TLSv1.3"]
    standard = [c for c in codes if c in TLS13_READABLE and c not in registry.rfc8998]
    national = [c for c in codes if c in registry.rfc8998]
    accepted_groups = [g.code for g in enum.groups if g.protocol == "TLSv1.3"]
    groups = [g for g in accepted_groups if g in OFFERABLE_GROUPS] or list(OFFERABLE_GROUPS)
    out: dict[str, Any] = {"standard": None, "sm": None}
    if standard:
        out["standard"] = await _read_tls13(connect, standard, groups, STANDARD_SCHEMES,
                                            timeout=timeout, server_name=server_name,
                                            registry=registry)
    if national:
        out["sm"] = await _read_tls13(connect, national, list(registry.sm2_groups), (SM2SIG_SM3,),
                                      timeout=timeout, server_name=server_name,
                                      registry=registry)
    return out


async def _read_tls13(connect: Connector, suites: Sequence[int], groups: Sequence[int],
                      schemes: Sequence[int], *, timeout: float, server_name: str | None,
                      registry: TlsRegistry) -> dict[str, Any]:
    """One TLS 1.3 handshake up to the server Finished; failure is a fact, not an error."""
    try:
        result = await read_tls13_certificates(
            connect, server_name=server_name, suites=suites, groups=groups,
            signature_schemes=schemes, timeout=timeout * 2)
    except (ProbeError, DecodeError, ValueError) as exc:
        # ScopeRefused is not a ProbeError: a refusal still ends the whole attempt.
        return {"error": str(exc)}
    scheme = registry.signature_schemes.get(result.signature_scheme)
    return {
        "suite": hex_code(result.cipher_suite),
        "suite_name": registry.suite_name(result.cipher_suite),
        "group": hex_code(result.group),
        "group_name": registry.group_name(result.group),
        "signature_scheme": hex_code(result.signature_scheme),
        "signature_scheme_name": scheme.name if scheme else None,
        "signature_valid": result.signature_valid,
        "finished_valid": result.finished_valid,
        "hello_retry": result.hello_retry,
        "chain": [certificate_facts(der, registry) for der in result.certificates[:MAX_CHAIN]],
        "sent": len(result.certificates),
    }


def _tls13_chains(facts: dict[str, Any]) -> list[dict[str, Any]]:
    found = facts.get("tls13_certificate") or {}
    return [r for r in (found.get("standard"), found.get("sm")) if r and "chain" in r]


def posture(facts: dict[str, Any], registry: TlsRegistry) -> dict[str, Any]:
    """Key exchange and authentication, reported apart: classical / pqc-hybrid / sm2 / sm9."""
    exchange: set[str] = set()
    for group in facts["groups"]:
        exchange.add({"national": "sm2", "pqc-hybrid": "pqc-hybrid", "pqc": "pqc"}.get(
            group["class"], "classical"))
    for entry in facts["accepted"]:
        suite = registry.suites.get(int(entry["code"], 16))
        if suite is not None and suite.kx in registry.national_key_exchanges:
            exchange.add(suite.auth.lower())  # SM2 or SM9, as the TLCP suite's auth says
        elif suite is not None and suite.kx not in ("any",) and entry["protocol"] != "TLSv1.3":
            exchange.add("classical")
    auth: set[str] = set()
    leaves = [c["chain"][0] for c in facts["certificates"] if c["chain"]]
    leaves += [r["chain"][0] for r in _tls13_chains(facts) if r["chain"]]
    for leaf in leaves:
        auth.add("sm2" if registry.is_sm2_key(leaf.get("key")) else "classical")
    return {"key_exchange": sorted(exchange), "authentication": sorted(auth)}


def national_facts(facts: dict[str, Any], registry: TlsRegistry) -> dict[str, Any]:
    """National crypto by the one shared definition (:func:`sentinel.catalog.tls.national_crypto`):
    ``offered`` (a national suite nothing recorded refutes), ``proven`` (SM2 certificates and
    signatures verify), each path (``none`` / ``proven`` / ``unproven`` / ``refuted``) and
    what refuted it."""
    found = national_crypto(facts, registry)
    return {"offered": found.offered, "proven": found.proven, "tlcp": found.tlcp,
            "rfc8998": found.rfc8998, "against": list(found.against)}


def planned(playbook: Playbook) -> Planned | None:
    """The ``tls`` kind as the playbook configures it (None: not selected)."""
    tls = playbook.probes.tls
    if tls is None:
        return None
    probe = TlsProbe(timeout=tls.timeout_s, budget_s=tls.budget_s, sni=tls.sni)
    return Planned(probe, tuple(sorted(set(tls.ports))))
