"""Site probe: everything the V6-* site checks judge, observed for one agency site.

DNS (A, AAAA, name servers over IPv6) through the playbook's resolvers; the homepage fetched
N times over IPv4 and over IPv6 (forced, by address); a bounded crawl over IPv4 to list the
2nd- and 3rd-level internal links, each then fetched over IPv6. Returns plain facts; the
judgement (thresholds, score) is in :mod:`sentinel.assess.ipv6`.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import Any, ClassVar
from urllib.parse import urlsplit

from sentinel.errors import ProbeError
from sentinel.playbook import Site, WebProbeConfig
from sentinel.probes.base import Network, Target
from sentinel.probes.dns import site_dns
from sentinel.probes.web import CrawlBudget, crawl_levels, fetch, parse_page


def _median(values: list[float]) -> float | None:
    return round(statistics.median(values), 2) if values else None


async def _homepage(network: Network, address: str, url: str, config: WebProbeConfig
                    ) -> dict[str, Any]:
    """N probes of the homepage over one address: success rate, timings, title and size."""
    statuses: list[int | str] = []
    connect, first_byte = [], []
    title, size = "", 0
    for _ in range(config.home_probes):
        try:
            response = await fetch(network, address, url, timeout=config.timeout_s,
                                   limit=min(config.max_bytes, 1_000_000))
        except ProbeError as exc:
            statuses.append(exc.reason.value)
            continue
        statuses.append(response.status)
        connect.append(response.connect_ms)
        first_byte.append(response.first_byte_ms)
        if response.status < 400 and not title:
            title, size = parse_page(response.body, url).title, len(response.body)
    successes = sum(1 for s in statuses if isinstance(s, int) and s < 400)
    return {"address": address, "attempts": len(statuses), "successes": successes,
            "success_rate": successes / len(statuses) if statuses else 0.0,
            "statuses": statuses, "title": title, "size": size,
            "connect_ms": _median(connect), "first_byte_ms": _median(first_byte)}


async def _links_over_v6(network: Network, resolvers: tuple[str, ...], urls: list[str],
                         config: WebProbeConfig, aaaa_cache: dict[str, list[str]]
                         ) -> dict[str, Any]:
    """Fetch each link over IPv6 (its host's AAAA from the resolver): the ratio that works."""
    failed: list[dict[str, str]] = []
    for url in urls:
        host = urlsplit(url).hostname or ""
        if host not in aaaa_cache:
            facts = await site_dns(network.gate, resolvers, host, config.timeout_s)
            aaaa_cache[host] = list(facts["aaaa"])
        addresses = aaaa_cache[host]
        if not addresses:
            failed.append({"url": url, "reason": "no AAAA"})
            continue
        try:
            response = await fetch(network, addresses[0], url, timeout=config.timeout_s,
                                   limit=65_536)
        except ProbeError as exc:
            failed.append({"url": url, "reason": exc.reason.value})
            continue
        if response.status >= 400:
            failed.append({"url": url, "reason": f"HTTP {response.status}"})
    total = len(urls)
    return {"total": total, "ok": total - len(failed),
            "ratio": (total - len(failed)) / total if total else None, "failed": failed}


async def observe_site(network: Network, resolvers: tuple[str, ...], site: Site,
                       config: WebProbeConfig) -> dict[str, Any]:
    """All facts about one site; web facts only when the site has a URL."""
    dns_facts = await site_dns(network.gate, resolvers, site.hostname, config.timeout_s)
    facts: dict[str, Any] = {"hostname": site.hostname, "url": site.url, "dns": dns_facts}
    if site.url is None:
        return facts
    home: dict[str, Any] = {}
    for family, key in (("ipv4", "a"), ("ipv6", "aaaa")):
        addresses = dns_facts[key]
        home[family] = (await _homepage(network, addresses[0], site.url, config)
                        if addresses else None)
    facts["home"] = home
    if dns_facts["a"] or dns_facts["aaaa"]:
        # The link structure is read once, over IPv4 when it exists (the baseline).
        base = dns_facts["a"][0] if dns_facts["a"] else dns_facts["aaaa"][0]
        budget = CrawlBudget(config.max_pages, config.max_bytes, config.max_seconds)
        levels = await crawl_levels(network, base, site.url, site.hostname,
                                    depth=config.crawl_depth, budget=budget,
                                    timeout=config.timeout_s,
                                    internal_domains=site.internal_domains)
        cache: dict[str, list[str]] = {site.hostname: list(dns_facts["aaaa"])}
        facts["links"] = {str(level): await _links_over_v6(network, resolvers, urls, config,
                                                           cache)
                          for level, urls in levels.items()}
        facts["crawl"] = {"pages": budget.pages, "bytes": budget.bytes,
                          "capped": budget.exhausted()}
    return facts


@dataclass(frozen=True)
class SiteProbe:
    """The ``site`` probe kind: one job per playbook site (the target carries no port)."""

    site: Site
    resolvers: tuple[str, ...]
    config: WebProbeConfig
    kind: ClassVar[str] = "site"
    transport: ClassVar[str] = "none"

    @property
    def budget_s(self) -> float:
        # Homepage probes on two families, the crawl, then one fetch per link over IPv6.
        return self.config.max_seconds * 2 + self.config.timeout_s * self.config.home_probes * 2

    async def run(self, target: Target, network: Network) -> dict[str, Any]:
        del target  # the site's addresses come from DNS, each one through the gate
        return await observe_site(network, self.resolvers, self.site, self.config)
