"""The asset and crypto inventory of one agency in one scan, from stored observations.

Open ports (with the service and what the server volunteered), TLS/TLCP versions, suites,
certificates and key-exchange posture, and SSH algorithms when an SSH probe recorded them.
Every string here came from a server: it stays data and is escaped by whoever shows it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

# What the ssh probe stores (sentinel/probes/ssh.py): ``banner`` {raw, software, ...}, the
# KEXINIT lists ``kex``, ``host_key``, ``cipher``, ``mac`` as [{name, class}], and the fetched
# ``host_keys`` [{algorithm, type, bits, fingerprint_sha256}]. The report shows these rows.
SSH_ROWS = ("banner", "kex", "host_key", "host_keys", "cipher", "mac")
BANNER_SHOWN = 200  # characters of a banner shown, after escaping


@dataclass
class AssetInventory:
    """What one scan saw of one asset."""

    asset_id: str
    name: str
    addresses: set[str] = field(default_factory=set)
    ports: list[dict[str, Any]] = field(default_factory=list)
    tls: list[dict[str, Any]] = field(default_factory=list)
    ssh: list[dict[str, Any]] = field(default_factory=list)
    probes: set[str] = field(default_factory=set)  # probe kinds that completed on it

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


def _tls_entry(endpoint: str, port: int | None, facts: dict[str, Any]) -> dict[str, Any]:
    leaves = [_certificate(c["chain"][0]) for c in facts.get("certificates", []) if c["chain"]]
    tls13 = facts.get("tls13_certificate") or {}
    leaves += [_certificate(r["chain"][0]) for r in (tls13.get("standard"), tls13.get("sm"))
               if r and r.get("chain")]
    posture = facts.get("posture") or {}
    return {
        "endpoint": endpoint,
        "port": port,
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


_LINE_BREAKS = str.maketrans({"\r": "\\r", "\n": "\\n", "\t": "\\t"})


def banner_text(value: Any) -> str:
    """A banner as one readable line: trailing line ends dropped, inner CR/LF/TAB shown as
    ``\\r`` ``\\n`` ``\\t`` (other control bytes are escaped by the renderer, bytes that were
    not UTF-8 arrive as ``\\xNN`` from the probe), cut at ``BANNER_SHOWN`` characters."""
    if not isinstance(value, str):
        return ""
    text = value.rstrip("\r\n").translate(_LINE_BREAKS)
    return text if len(text) <= BANNER_SHOWN else text[:BANNER_SHOWN] + "…"


def _names(value: Any) -> list[str]:
    """Algorithm names from the probe's [{name, class}] lists (plain strings accepted)."""
    if not isinstance(value, list):
        return []
    return [str(v.get("name", "")) if isinstance(v, dict) else str(v) for v in value]


def _host_key(key: Any) -> str:
    if not isinstance(key, dict):
        return str(key)
    size = f"{key.get('curve') or ''} {key.get('bits') or ''}".strip()
    return " ".join(str(p) for p in (key.get("algorithm"), size, key.get("fingerprint_sha256"))
                    if p)


def _ssh_entry(endpoint: str, facts: dict[str, Any]) -> dict[str, Any] | None:
    """Banner, key exchange, host key algorithms and keys, ciphers, MACs; None when the port
    was closed or the server said nothing (no empty table)."""
    banner = facts.get("banner")
    raw = banner.get("raw") if isinstance(banner, dict) else banner
    entry = {"endpoint": endpoint, "banner": banner_text(raw),
             "kex": _names(facts.get("kex")), "host_key": _names(facts.get("host_key")),
             "host_keys": [_host_key(k) for k in facts.get("host_keys") or []],
             "cipher": _names(facts.get("cipher")), "mac": _names(facts.get("mac"))}
    return entry if any(entry[row] for row in SSH_ROWS) else None


def _add(item: AssetInventory, doc: dict[str, Any]) -> None:
    attempt = doc["sentinel"].get("attempt", {})
    probe = attempt.get("probe", "")
    facts = doc["sentinel"].get("facts", {}).get(probe) or {}
    address, port, endpoint = _endpoint(doc)
    if attempt.get("status") != "completed":
        return
    item.probes.add(probe)
    if probe == "tcp" and facts.get("state") == "open":
        item.addresses.add(address)
        item.ports.append({"address": address, "port": port, "endpoint": endpoint,
                           "service": facts.get("service") or "",
                           "banner": banner_text(facts.get("banner"))})
    elif probe == "tls" and facts.get("versions"):
        item.tls.append(_tls_entry(endpoint, port, facts))
    elif probe == "ssh" and facts.get("port_state") != "closed":
        entry = _ssh_entry(endpoint, facts)
        if entry is not None:
            item.ssh.append(entry)


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
