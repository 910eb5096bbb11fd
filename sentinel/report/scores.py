"""An agency's three scores: IPv6 readiness, national-crypto compliance per 密评 layer,
exposure. Pure functions over finding documents and the inventory; the numbers they use
(layer weights, object caps, penalties) are data in ``playbooks/scoring.yml``.

A score that nothing observed is ``None`` (未测 / not tested), never 100: IPv6 is the mean
of the agency's V6-SCORE indicator scores (its websites), exposure needs a completed port
probe (tcp or nmap), and the overall figure is the mean of the measured ones only.

The crypto score is the D/A part of the 密评 quantitative rule per layer: an object
(endpoint) scores 1 with no failed check, else the lowest cap of its failed checks; a
layer's score is the mean of its objects. K (key management) cannot be seen remotely, so it
is reported as 未测 and no 密评 total is ever claimed from these numbers.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sentinel.catalog import services as catalog
from sentinel.catalog.scoring import ScoringFile
from sentinel.model import Text
from sentinel.report.inventory import AssetInventory
from sentinel.severity import Severity

PORT_PROBES = frozenset({"tcp", "nmap"})


@dataclass(frozen=True)
class LayerScore:
    """One 密评 layer: its weight, objects judged, and the D/A score (None: 未测)."""

    layer_id: str
    name: Text
    weight: float
    objects: int
    score: float | None


@dataclass(frozen=True)
class Scores:
    ipv6: float | None
    crypto: float | None
    exposure: float | None
    layers: tuple[LayerScore, ...]

    @property
    def overall(self) -> float | None:
        """The leaderboard number: the mean of the scores that could be measured (None:
        nothing was)."""
        parts = [s for s in (self.ipv6, self.crypto, self.exposure) if s is not None]
        return sum(parts) / len(parts) if parts else None

    def as_dict(self) -> dict[str, Any]:
        return {
            "overall": None if self.overall is None else round(self.overall, 1),
            "ipv6": None if self.ipv6 is None else round(self.ipv6, 1),
            "crypto_da": None if self.crypto is None else round(self.crypto, 1),
            "crypto_k": "未测",
            "exposure": None if self.exposure is None else round(self.exposure, 1),
            "layers": [{"id": s.layer_id, "name": s.name.model_dump(), "weight": s.weight,
                        "objects": s.objects,
                        "score": None if s.score is None else round(s.score, 1)}
                       for s in self.layers],
        }


def scored(doc: dict[str, Any], policy: ScoringFile) -> bool:
    """Whether ``score`` reads this finding at all (V6-SCORE's evidence, a failed finding
    that caps an object or costs exposure): a report keeps only these for its scores."""
    check = doc["rule"]["id"]
    return check == "V6-SCORE" or (doc["result"]["evaluation"] == "failed" and (
        check in policy.mipin.object_caps or check in policy.exposure.checks))


def ipv6_score(findings: Sequence[dict[str, Any]]) -> float | None:
    """The V6 indicator set: the mean of the agency's V6-SCORE scores (one per website, as
    the finding's evidence gives it); None when no website was judged."""
    values = [float(d["sentinel"]["evidence"]["score"]) for d in findings
              if d["rule"]["id"] == "V6-SCORE"
              and d["result"]["evaluation"] in ("passed", "failed")
              and isinstance(d["sentinel"].get("evidence", {}).get("score"), int | float)]
    return sum(values) / len(values) if values else None


def ipv6_readiness(assets: Sequence[AssetInventory]) -> float | None:
    """Mean over assets with any open port: 0 without IPv6, else the v4 services' share
    also served on IPv6 (IPv6-only assets count as ready)."""
    per_asset: list[float] = []
    for asset in assets:
        v4, v6 = asset.v4_open, asset.v6_open
        if not v4 and not v6:
            continue
        per_asset.append(1.0 if not v4 else len(v4 & v6) / len(v4))
    return 100 * sum(per_asset) / len(per_asset) if per_asset else None


def _service_cap(service: catalog.Service, policy: ScoringFile) -> float:
    """The most a service can score by what it is: cleartext 0, international-only 0.5."""
    mipin = policy.mipin
    if service.cleartext_credentials or service.category in mipin.plaintext_categories:
        return mipin.cleartext_score
    return mipin.service_caps.get(service.id, 1.0)


def _object_scores(findings: Sequence[dict[str, Any]], policy: ScoringFile
                   ) -> dict[tuple[str, int], float]:
    caps = policy.mipin.object_caps
    scores: dict[tuple[str, int], float] = {}
    for doc in findings:
        if doc["result"]["evaluation"] != "failed":
            continue
        cap = caps.get(doc["rule"]["id"])
        port = doc.get("destination", {}).get("port")
        if cap is not None and port is not None:
            key = (doc["host"]["id"], int(port))
            scores[key] = min(scores.get(key, 1.0), cap)
    return scores


def crypto_layers(findings: Sequence[dict[str, Any]], assets: Sequence[AssetInventory],
                  policy: ScoringFile) -> tuple[LayerScore, ...]:
    """Per layer: objects are the open endpoints whose service category the layer lists."""
    capped = _object_scores(findings, policy)
    per_layer: dict[str, list[float]] = defaultdict(list)
    for asset in assets:
        for port in sorted({p["port"] for p in asset.ports}):
            service = catalog.service_by_port().get((port, "tcp"))
            if service is None:
                continue
            score = min(capped.get((asset.asset_id, port), 1.0),
                        _service_cap(service, policy))
            for layer_id, layer in policy.mipin.layers.items():
                if service.category in layer.services:
                    per_layer[layer_id].append(score)
    return tuple(
        LayerScore(layer_id, layer.name, layer.weight, len(per_layer[layer_id]),
                   100 * sum(per_layer[layer_id]) / len(per_layer[layer_id])
                   if per_layer[layer_id] else None)
        for layer_id, layer in policy.mipin.layers.items())


def exposure(findings: Sequence[dict[str, Any]], policy: ScoringFile,
             assets: Sequence[AssetInventory] | None = None) -> float | None:
    """100 minus the penalty of each failed exposure finding, floored at 0; None (未测)
    when ``assets`` are given and none had a port probe (tcp, nmap) complete."""
    if assets is not None and not any(a.probes & PORT_PROBES for a in assets):
        return None
    penalty = sum(policy.exposure.penalty.get(Severity(d["sentinel"]["severity"]), 0.0)
                  for d in findings
                  if d["result"]["evaluation"] == "failed"
                  and d["rule"]["id"] in policy.exposure.checks)
    return max(0.0, 100.0 - penalty)


def score(findings: Sequence[dict[str, Any]], assets: Sequence[AssetInventory],
          policy: ScoringFile) -> Scores:
    """All three scores; the crypto figure is the layer-weighted D/A mean of measured layers."""
    layers = crypto_layers(findings, assets, policy)
    measured = [s for s in layers if s.score is not None and s.weight > 0]
    weight = sum(s.weight for s in measured)
    crypto = (sum(s.weight * (s.score or 0.0) for s in measured) / weight) if weight else None
    return Scores(ipv6_score(findings), crypto, exposure(findings, policy, assets), layers)
