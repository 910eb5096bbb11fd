"""The asset and crypto inventory of one agency in one scan, from stored observations.

Open ports (with the service and what the server volunteered), TLS/TLCP versions, suites,
certificates and key-exchange posture, and SSH algorithms when an SSH probe recorded them.
Every string here came from a server: it stays data and is escaped by whoever shows it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

SSH_LISTS = ("kex", "kex_algorithms", "host_keys", "server_host_key_algorithms", "ciphers",
             "encryption_algorithms", "macs", "mac_algorithms")


@dataclass
class AssetInventory:
    """What one scan saw of one asset."""

    asset_id: str
    name: str
    addresses: set[str] = field(default_factory=set)
    ports: list[dict[str, Any]] = field(default_factory=list)
    tls: list[dict[str, Any]] = field(default_factory=list)
    ssh: list[dict[str, Any]] = field(default_factory=list)

    @property
    def v6_open(self) -> set[int]:
        return {p["port"] for p in self.ports if ":" in p["address"]}

    @property
    def v4_open(self) -> set[int]:
        return {p["port"] for p in self.ports if ":" not in p["address"]}


def _certificate(cert: dict[str, Any]) -> dict[str, Any]:
    key = cert.get("key") or {}
    signature = cert.get("signature_algorithm") or {}
    return {
        "subject": cert.get("subject", cert.get("error", "")),
        "issuer": cert.get("issuer", ""),
        "key": f"{key.get('type', '?')} {key.get('size', '')}".strip(),
        "signature": signature.get("name") or signature.get("oid", ""),
        "not_after": cert.get("not_after", ""),
        "sha256": cert.get("sha256", ""),
    }


def _tls_entry(endpoint: str, facts: dict[str, Any]) -> dict[str, Any]:
    leaves = [_certificate(c["chain"][0]) for c in facts.get("certificates", []) if c["chain"]]
    tls13 = facts.get("tls13_certificate") or {}
    leaves += [_certificate(r["chain"][0]) for r in (tls13.get("standard"), tls13.get("sm"))
               if r and r.get("chain")]
    posture = facts.get("posture") or {}
    return {
        "endpoint": endpoint,
        "versions": list(facts.get("versions", [])),
        "suites": [f"{a['protocol']} {a['name']}" for a in facts.get("accepted", [])],
        "certificates": leaves,
        "key_exchange": list(posture.get("key_exchange", [])),
        "authentication": list(posture.get("authentication", [])),
    }


def _endpoint(doc: dict[str, Any]) -> tuple[str, int | None, str]:
    dest = doc.get("destination", {})
    address, port = str(dest.get("ip", "")), dest.get("port")
    host = f"[{address}]" if ":" in address else address
    return address, port, f"{host}:{port}" if port is not None else host


def _add(item: AssetInventory, doc: dict[str, Any]) -> None:
    attempt = doc["sentinel"].get("attempt", {})
    probe = attempt.get("probe", "")
    facts = doc["sentinel"].get("facts", {}).get(probe) or {}
    address, port, endpoint = _endpoint(doc)
    if attempt.get("status") != "completed":
        return
    if probe == "tcp" and facts.get("state") == "open":
        item.addresses.add(address)
        item.ports.append({"address": address, "port": port, "endpoint": endpoint,
                           "service": facts.get("service") or "",
                           "banner": (facts.get("banner") or "")[:200]})
    elif probe == "tls" and facts.get("versions"):
        item.tls.append(_tls_entry(endpoint, facts))
    elif probe == "ssh":
        lists = {k: list(v) for k, v in facts.items() if k in SSH_LISTS and isinstance(v, list)}
        item.ssh.append({"endpoint": endpoint, "banner": facts.get("banner", ""), **lists})


def inventory(observations: Iterable[dict[str, Any]]) -> list[AssetInventory]:
    """One entry per asset seen, sorted by asset id; ports sorted by port then address."""
    assets: dict[str, AssetInventory] = {}
    for doc in observations:
        host = doc.get("host", {})
        asset_id = str(host.get("id", ""))
        item = assets.setdefault(asset_id, AssetInventory(asset_id, host.get("name") or asset_id))
        _add(item, doc)
    for item in assets.values():
        item.ports.sort(key=lambda p: (p["port"], p["address"]))
    return sorted(assets.values(), key=lambda a: a.asset_id)
