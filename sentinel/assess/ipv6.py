"""IPv6 readiness: per-site V6-* checks and score, per-host dual-stack, per-segment RA.

The site checks (V6-AAAA, V6-NS, V6-HOME ... V6-SCORE) are website indicators: they are
judged only for a site that serves a website (the playbook gives its ``url``). A published
name without a website (a switch, a name server, a telnet host) is judged by V6-DUALSTACK on
its host asset, not by website indicators it cannot have.

Pure functions over observations. Thresholds and score weights come from ``probes/ipv6.yml``
(:func:`sentinel.catalog.ipv6.ipv6_policy`); a threshold whose status is not ``verified`` is named
in the finding's evidence (``threshold_status``) so no report presents it as a national rule.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sentinel.assess.base import AssetView, assessor, make_finding
from sentinel.catalog.ipv6 import Ipv6Policy, ipv6_policy
from sentinel.model import Asset, AttemptStatus, Evaluation, Finding, Observation
from sentinel.severity import Severity

PASS, FAIL = Evaluation.PASSED, Evaluation.FAILED
_Add = Callable[..., None]


def _verdict(failed: bool) -> Evaluation:
    return FAIL if failed else PASS


@dataclass(frozen=True)
class Score:
    """A site's 0-100 readiness score; ``partial`` when some components could not apply."""

    value: float
    components: dict[str, float | None]
    partial: bool


def ns_component(dns: dict[str, Any]) -> float | None:
    """Share of the zone's name servers that have AAAA and answer over IPv6."""
    servers = [s for s in dns.get("name_servers") or [] if measured(s)]
    if not servers:
        return None
    return sum(1 for s in servers if s.get("v6_ok")) / len(servers)


def measured(server: Any) -> bool:
    """Whether the vantage could judge a name server over IPv6: not when every AAAA of it
    went unasked because this host has no IPv6 path (``unmeasured_v6``)."""
    return isinstance(server, dict) and not (server.get("unmeasured_v6")
                                             and not server.get("answers_v6"))


def consistent(home: dict[str, Any], tolerance: float) -> bool | None:
    """Same status family, same title and similar size over both families (None: no v4)."""
    v4, v6 = home.get("ipv4"), home.get("ipv6")
    if not v4 or not v4.get("successes"):
        return None
    if not v6 or not v6.get("successes"):
        return False
    if v4.get("title") != v6.get("title"):
        return False
    size4, size6 = v4.get("size", 0), v6.get("size", 0)
    return bool(abs(size6 - size4) <= tolerance * max(size4, 1))


def degradation(facts: dict[str, Any], floor_ms: float) -> dict[str, float]:
    """(v6 - v4) / v4 for DNS, TCP connect and first byte, v4 floored to ignore jitter."""
    pairs: dict[str, tuple[Any, Any]] = {}
    dns_ms = facts.get("dns", {}).get("dns_ms", {})
    pairs["dns"] = (dns_ms.get("ipv4"), dns_ms.get("ipv6"))
    home = facts.get("home") or {}
    v4, v6 = home.get("ipv4") or {}, home.get("ipv6") or {}
    for metric in ("connect_ms", "first_byte_ms"):
        pairs[metric.removesuffix("_ms")] = (v4.get(metric), v6.get(metric))
    return {name: round((b - a) / max(a, floor_ms), 4)
            for name, (a, b) in pairs.items() if a is not None and b is not None}


def _link_ratio(facts: dict[str, Any], level: int) -> float | None:
    entry = (facts.get("links") or {}).get(str(level)) or {}
    ratio = entry.get("ratio")
    return None if ratio is None else float(ratio)


def score_site(facts: dict[str, Any], policy: Ipv6Policy) -> Score:
    """Weighted mean of the components that apply, scaled to 0-100."""
    dns = facts.get("dns", {})
    has_url = facts.get("url") is not None
    home = facts.get("home") or {}
    v6_home = home.get("ipv6")
    perf = degradation(facts, policy.perf_floor_ms)
    limit = policy.thresholds["perf_degradation"].value
    components: dict[str, float | None] = {
        "aaaa": 1.0 if dns.get("aaaa") else 0.0,
        "ns": ns_component(dns),
        "home": (float(v6_home["success_rate"]) if v6_home else 0.0) if has_url else None,
        "consist": None,
        "link2": _link_ratio(facts, 2) if has_url else None,
        "link3": _link_ratio(facts, 3) if has_url else None,
        "perf": (1.0 if max(perf.values()) <= limit else 0.0) if has_url and perf else None,
    }
    if has_url:
        same = consistent(home, policy.thresholds["consistency_size_ratio"].value)
        components["consist"] = None if same is None else float(same)
    weights = policy.weights
    used = {k: v for k, v in components.items() if v is not None and weights.get(k, 0) > 0}
    total = sum(weights[k] for k in used)
    value = 100 * sum(weights[k] * v for k, v in used.items()) / total if total else 0.0
    return Score(round(value, 1), components, partial=len(used) < len(weights))


def _threshold(policy: Ipv6Policy, name: str) -> dict[str, Any]:
    spec = policy.thresholds[name]
    return {"threshold": spec.value, "threshold_status": spec.status}


def _site_findings(view: AssetView, obs: Observation, policy: Ipv6Policy) -> list[Finding]:
    facts = obs.facts
    dns = facts.get("dns", {})
    out: list[Finding] = []

    def add(check: str, evaluation: Evaluation, evidence: dict[str, Any],
            severity: Severity | None = None) -> None:
        out.append(make_finding(view, check, evaluation, endpoint=None, probe="site",
                                protocol="http" if check not in ("V6-AAAA", "V6-NS") else "dns",
                                evidence={"hostname": facts.get("hostname"), **evidence},
                                severity=severity, observed=obs))

    add("V6-AAAA", _verdict(not dns.get("aaaa")), {"aaaa": dns.get("aaaa"), "a": dns.get("a")})
    servers = [s for s in dns.get("name_servers") or [] if isinstance(s, dict) and s.get("name")]
    if not servers:  # no name server found: the website's own problem
        add("V6-NS", FAIL, {"zone": dns.get("zone"), "name_servers": [], "not_v6": []})
    ns_findings = [name_server_finding(view, obs, server) for server in servers
                   if measured(server)]
    out.extend(ns_findings)
    if facts.get("url") is not None:
        _web_findings(obs, policy, add)
    score = score_site(facts, policy)
    target = policy.thresholds["score_target"]
    add("V6-SCORE", _verdict(score.value < target.value),
        {"score": score.value, "components": score.components, "partial": score.partial,
         "name_server_findings": [f.key for f in ns_findings],
         "weights": dict(policy.weights), "formula_status": "unverified",
         "target": target.value, "target_status": target.status})
    return out


def _web_findings(obs: Observation, policy: Ipv6Policy, add: _Add) -> None:
    """V6-HOME, V6-CONSIST, V6-LINK2/3 and V6-PERF for a site with a URL."""
    facts = obs.facts
    home = facts.get("home") or {}
    v6 = home.get("ipv6")
    rate = float(v6["success_rate"]) if v6 else 0.0
    need = policy.thresholds["home_success_rate"].value
    add("V6-HOME", _verdict(rate < need),
        {"success_rate": rate, "probes": v6, **_threshold(policy, "home_success_rate")})
    same = consistent(home, policy.thresholds["consistency_size_ratio"].value)
    if same is not None:
        add("V6-CONSIST", _verdict(not same),
            {"ipv4": home.get("ipv4"), "ipv6": v6,
             **_threshold(policy, "consistency_size_ratio")})
    for level, check in ((2, "V6-LINK2"), (3, "V6-LINK3")):
        ratio = _link_ratio(facts, level)
        if ratio is None:
            continue
        name = f"link{level}_ratio"
        add(check, _verdict(ratio < policy.thresholds[name].value),
            {"ratio": ratio, **(facts["links"][str(level)]), **_threshold(policy, name)})
    perf = degradation(facts, policy.perf_floor_ms)
    if perf:
        worst = max(perf.values())
        limit = policy.thresholds["perf_degradation"].value
        add("V6-PERF", _verdict(worst > limit),
            {"degradation": perf, "worst": worst, **_threshold(policy, "perf_degradation")},
            Severity.LOW if worst > limit else None)


def _dual_stack(view: AssetView) -> list[Finding]:
    """V6-DUALSTACK: an asset serving in a segment with an IPv6 prefix but no IPv6 address.

    The families come from the service probes and, when the scan swept first, from the
    discovery attempts that found an address alive (an IPv6 address that does not answer
    does not count, even when the inventory lists it)."""
    seen = [o for o in view.observations if o.probe in ("tcp", "nmap")
            and o.status is AttemptStatus.COMPLETED]
    if not seen or not any(n.version == 6 for n in view.segment.networks):
        return []
    alive = [o for o in view.of("discovery")
             if o.status is AttemptStatus.COMPLETED and o.facts.get("state") == "up"]
    families = {o.endpoint.family for o in [*seen, *alive]}
    v4_open = any(_open(o) for o in seen if o.endpoint.family == "ipv4")
    if not v4_open and "ipv6" not in families:
        return []
    return [make_finding(view, "V6-DUALSTACK", _verdict("ipv6" not in families), endpoint=None,
                         probe=seen[0].probe,
                         evidence={"families": sorted(families),
                                   "addresses": sorted({o.endpoint.address for o in seen}),
                                   "alive": sorted(o.endpoint.address for o in alive)},
                         observed=seen[0])]


NS_ASSET_PREFIX = "ns:"


def name_server_finding(view: AssetView, obs: Observation, server: dict[str, Any]) -> Finding:
    """V6-NS for one name server of a website's zone, stored once per name server and agency:
    its asset is the name server as that agency depends on it (``ns:<name>@<agency>``), its
    evidence names the zone and the agency's websites it serves (:func:`shared_findings` adds
    the agency's other websites of one scan to it). A name server that serves two agencies'
    websites is in both agencies' reports, each naming its own websites, so neither report
    points at a finding that only the other one holds."""
    name = str(server["name"])[:253]
    dns = obs.facts.get("dns", {})
    aaaa = [a for a in server.get("aaaa") or [] if isinstance(a, str)][:16]
    ok = bool(server.get("v6_ok"))
    zone = dns.get("zone")
    finding = make_finding(
        view, "V6-NS", _verdict(not ok), endpoint=None, probe="site", protocol="dns",
        evidence={"name_server": name, "aaaa": aaaa, "answers_v6": server.get("answers_v6"),
                  "v6_ok": ok, "not_v6": [] if ok else [name],
                  "zones": [zone] if zone else [],
                  "websites": [obs.facts.get("hostname")] if obs.facts.get("hostname") else []},
        observed=obs)
    asset = Asset(id=f"{NS_ASSET_PREFIX}{name}@{view.context.agency_id}", name=name,
                  addresses=tuple(aaaa))
    return finding.model_copy(update={"asset": asset})


_MAX_SERVED = 1000  # websites (and zones) one name server's finding names


def shared_findings(seen: dict[str, Finding], findings: list[Finding]) -> list[Finding]:
    """The findings of one scanned asset, each finding on a name server (judged from every
    website it serves) merged with the same key's earlier finding in this scan (``seen``,
    updated): websites and zones united, the worse verdict kept. So the store holds one
    V6-NS per name server and agency naming all its websites of that agency, whichever
    website was scanned last."""
    out = []
    for finding in findings:
        kept = finding
        earlier = seen.get(finding.key)
        if earlier is not None:
            worse = earlier if _rank(earlier) > _rank(finding) else finding
            evidence = dict(worse.evidence)
            for name in ("websites", "zones"):
                united = {*earlier.evidence.get(name, []), *finding.evidence.get(name, [])}
                evidence[name] = sorted(united)[:_MAX_SERVED]
            kept = worse.model_copy(update={"evidence": evidence})
        if finding.asset.id.startswith(NS_ASSET_PREFIX):
            seen[finding.key] = kept
        out.append(kept)
    return out


def _rank(finding: Finding) -> int:
    return {Evaluation.FAILED: 2, Evaluation.ERROR: 1}.get(finding.evaluation, 0)


def _open(obs: Observation) -> bool:
    if obs.probe == "nmap":
        return any(p.get("state") == "open" for p in obs.facts.get("ports", []))
    return obs.facts.get("state") == "open"


def assess_ra(view: AssetView) -> list[Finding]:
    """V6-RA from a discovery observation made inside a segment (an agent's vantage)."""
    out = []
    for obs in view.of("discovery"):
        if obs.status is not AttemptStatus.COMPLETED or "router_advertisements" not in obs.facts:
            continue
        adverts = obs.facts["router_advertisements"]
        prefixes = sorted({p["prefix"] for a in adverts for p in a.get("prefixes", [])})
        out.append(make_finding(view, "V6-RA", _verdict(not prefixes), endpoint=None,
                                probe="discovery",
                                evidence={"segment": view.segment.id, "adverts": adverts,
                                          "prefixes": prefixes}, observed=obs))
    return out


@assessor(
    "V6-AAAA",
    "V6-CONSIST",
    "V6-DUALSTACK",
    "V6-HOME",
    "V6-LINK2",
    "V6-LINK3",
    "V6-NS",
    "V6-PERF",
    "V6-RA",
    "V6-SCORE",
)
def assess_ipv6(view: AssetView) -> list[Finding]:
    """Every V6-* finding this asset's observations support (website indicators only for a
    site with a URL)."""
    policy = ipv6_policy()
    findings: list[Finding] = []
    for obs in view.of("site"):
        if obs.status is AttemptStatus.COMPLETED and obs.facts.get("url") is not None:
            findings.extend(_site_findings(view, obs, policy))
    findings.extend(_dual_stack(view))
    findings.extend(assess_ra(view))
    return findings
