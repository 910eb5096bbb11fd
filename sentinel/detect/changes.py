"""Change events between two successive scans of one asset (pure).

Both scans are read as asset documents (``observation_to_ecs``, what ``store.assets`` keeps):
each is reduced to a :class:`Snapshot` (open services, TLS facts per endpoint, which address
families answered), and the two snapshots are compared. Only what both scans really looked
at is compared: a probe that failed, or a host that answered nothing at all this time, says
nothing about what changed, so it raises no event (like the lifecycle, which resolves
nothing on a host that was down). Finding opened / resolved / reopened events come from
:mod:`sentinel.scan.lifecycle`, not from here.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sentinel.catalog.tls import national_crypto, tls_registry
from sentinel.model import Asset, Context, Endpoint, Event, Text
from sentinel.severity import Severity

Port = tuple[str, int]  # (address, port)


@dataclass
class TlsView:
    """The TLS facts of one endpoint that changes are tracked on."""

    protocols: set[str] = field(default_factory=set)
    suites: dict[tuple[str, str], str] = field(default_factory=dict)  # (proto, code) -> name
    pqc_groups: set[str] = field(default_factory=set)
    leaves: dict[str, str | None] = field(default_factory=dict)  # sha256 -> not_after
    # National crypto by the one shared definition (sentinel.catalog.tls.national_crypto):
    # a national TLCP or RFC 8998 suite that no recorded certificate or signature refutes.
    # An SM2 certificate swapped for an RSA one makes it False.
    national: bool = False
    refuted: tuple[str, ...] = ()  # what the certificates or signatures said against it


@dataclass
class Snapshot:
    """One scan's view of one asset."""

    seen_at: datetime | None = None
    services: dict[Port, str | None] = field(default_factory=dict)  # open port -> service
    probed_closed: set[Port] = field(default_factory=set)  # completed and not open
    tls: dict[Port, TlsView] = field(default_factory=dict)
    families_probed: set[str] = field(default_factory=set)
    families_open: set[str] = field(default_factory=set)

    @property
    def alive(self) -> bool:
        return bool(self.families_open)


def _when(doc: dict[str, Any]) -> datetime | None:
    stamp = doc.get("@timestamp")
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")) if stamp else None


def _tls_view(facts: dict[str, Any]) -> TlsView:
    view = TlsView()
    view.protocols = set(facts.get("versions") or [])
    for entry in facts.get("accepted") or []:
        view.suites[(entry["protocol"], entry["code"])] = entry.get("name") or entry["code"]
    national = national_crypto(facts)
    view.national, view.refuted = national.offered, national.against
    view.pqc_groups = {
        g["name"] for g in facts.get("groups") or [] if g.get("class") == "pqc-hybrid"
    }
    chains = [c.get("chain") or [] for c in facts.get("certificates") or []]
    found = facts.get("tls13_certificate") or {}
    chains += [r.get("chain") or [] for r in (found.get("standard"), found.get("sm")) if r]
    for chain in chains:
        if chain and chain[0].get("sha256"):
            view.leaves[chain[0]["sha256"]] = chain[0].get("not_after")
    return view


def _discovered(snap: Snapshot, doc: dict[str, Any]) -> None:
    """A discovery sweep looked at one address: that family was probed, whatever it found.

    With discovery on, an address found down gets no port probes at all, so without this an
    IPv6 address that stopped answering would look "not probed" rather than "lost".
    """
    facts = doc.get("sentinel", {}).get("facts", {}).get("discovery", {})
    family = facts.get("family") or (doc.get("network") or {}).get("type", "ipv4")
    snap.families_probed.add(family)


def snapshot(docs: Iterable[dict[str, Any]]) -> Snapshot:
    """Reduce one scan's asset documents of one asset to what changes are tracked on."""
    snap = Snapshot()
    for doc in docs:
        attempt = doc.get("sentinel", {}).get("attempt", {})
        dest = doc.get("destination") or {}
        if attempt.get("status") == "completed" and attempt.get("probe") == "discovery":
            _discovered(snap, doc)
            continue
        if attempt.get("status") != "completed" or "port" not in dest:
            continue
        when = _when(doc)
        if when is not None and (snap.seen_at is None or when > snap.seen_at):
            snap.seen_at = when
        family = (doc.get("network") or {}).get("type", "ipv4")
        where: Port = (dest["ip"], int(dest["port"]))
        probe = attempt.get("probe", "")
        facts = doc.get("sentinel", {}).get("facts", {}).get(probe, {})
        is_open = facts.get("state", facts.get("port_state")) == "open"
        snap.families_probed.add(family)
        if is_open:
            snap.families_open.add(family)
            if probe == "tcp" or where not in snap.services:
                snap.services[where] = facts.get("service") or snap.services.get(where)
            snap.probed_closed.discard(where)
        elif where not in snap.services:
            snap.probed_closed.add(where)
        if probe == "tls" and is_open:
            snap.tls[where] = _tls_view(facts)
    return snap


@dataclass(frozen=True)
class _Maker:
    """Builds the events of one asset in one scan."""

    context: Context
    asset: Asset
    when: datetime

    def __call__(
        self,
        action: str,
        words: Text,
        where: Port | None,
        severity: Severity,
        *,
        before: dict[str, Any] | None = None,
        after: dict[str, Any] | None = None,
    ) -> Event:
        endpoint = Endpoint(address=where[0], port=where[1]) if where else None
        return Event(
            action=action,
            category="change",
            message=words,
            context=self.context,
            asset=self.asset,
            endpoint=endpoint,
            severity=severity,
            before=before,
            after=after,
            created=self.when,
        )


def _service_events(old: Snapshot, new: Snapshot, make: _Maker) -> list[Event]:
    events = []
    for where in sorted(set(new.services) - set(old.services)):
        if where in old.probed_closed:  # looked at last time, and it was not open
            svc = new.services[where]
            words = Text(
                zh=f"新开放服务 {svc or where[1]}", en=f"service opened: {svc or where[1]}"
            )
            events.append(
                make(
                    "service-opened",
                    words,
                    where,
                    Severity.MEDIUM,
                    after={"port": where[1], "service": svc},
                )
            )
    for where in sorted(set(old.services) & new.probed_closed):
        svc = old.services[where]
        words = Text(zh=f"服务已关闭 {svc or where[1]}", en=f"service closed: {svc or where[1]}")
        events.append(
            make(
                "service-closed",
                words,
                where,
                Severity.INFO,
                before={"port": where[1], "service": svc},
            )
        )
    return events


def _tls_set_events(where: Port, old: TlsView, new: TlsView, make: _Maker) -> list[Event]:
    events = []
    for proto in sorted(new.protocols - old.protocols):
        events.append(
            make(
                "protocol-added",
                Text(zh=f"新增协议 {proto}", en=f"protocol added: {proto}"),
                where,
                Severity.LOW,
                after={"protocol": proto},
            )
        )
    for proto in sorted(old.protocols - new.protocols):
        events.append(
            make(
                "protocol-removed",
                Text(zh=f"移除协议 {proto}", en=f"protocol removed: {proto}"),
                where,
                Severity.INFO,
                before={"protocol": proto},
            )
        )
    for key in sorted(set(new.suites) - set(old.suites)):
        name = new.suites[key]
        events.append(
            make(
                "suite-added",
                Text(zh=f"新增密码套件 {name}", en=f"suite added: {name}"),
                where,
                Severity.LOW,
                after={"protocol": key[0], "code": key[1], "suite": name},
            )
        )
    for key in sorted(set(old.suites) - set(new.suites)):
        name = old.suites[key]
        events.append(
            make(
                "suite-removed",
                Text(zh=f"移除密码套件 {name}", en=f"suite removed: {name}"),
                where,
                Severity.INFO,
                before={"protocol": key[0], "code": key[1], "suite": name},
            )
        )
    return events


def _posture_events(where: Port, old: TlsView, new: TlsView, make: _Maker) -> list[Event]:
    events = []
    if old.national and not new.national:
        events.append(
            make(
                "national-crypto-lost",
                Text(zh="不再支持国密（TLCP/RFC 8998）", en="national crypto support lost"),
                where,
                Severity.HIGH,
                before={"national": True},
                after={"national": False, **({"refuted": list(new.refuted)} if new.refuted
                                             else {})},
            )
        )
    elif new.national and not old.national:
        events.append(
            make(
                "national-crypto-gained",
                Text(zh="新增国密支持（TLCP/RFC 8998）", en="national crypto support gained"),
                where,
                Severity.INFO,
                before={"national": False},
                after={"national": True},
            )
        )
    if old.pqc_groups and not new.pqc_groups:
        events.append(
            make(
                "pqc-hybrid-lost",
                Text(zh="不再支持后量子混合密钥交换", en="post-quantum hybrid key exchange lost"),
                where,
                Severity.MEDIUM,
                before={"groups": sorted(old.pqc_groups)},
            )
        )
    elif new.pqc_groups and not old.pqc_groups:
        events.append(
            make(
                "pqc-hybrid-gained",
                Text(zh="新增后量子混合密钥交换", en="post-quantum hybrid key exchange gained"),
                where,
                Severity.INFO,
                after={"groups": sorted(new.pqc_groups)},
            )
        )
    return events


def _expiring(not_after: str | None, at: datetime | None, days: int) -> bool:
    if not_after is None or at is None:
        return False
    expiry = datetime.fromisoformat(not_after.replace("Z", "+00:00"))
    return expiry - at <= timedelta(days=days)


def _certificate_events(
    where: Port,
    old: TlsView,
    new: TlsView,
    make: _Maker,
    *,
    times: tuple[datetime | None, datetime],
    days: int,
) -> list[Event]:
    events = []
    if old.leaves and new.leaves and set(old.leaves) != set(new.leaves):
        events.append(
            make(
                "certificate-changed",
                Text(zh="证书已更换", en="certificate changed"),
                where,
                Severity.LOW,
                before={"sha256": sorted(old.leaves)},
                after={"sha256": sorted(new.leaves)},
            )
        )
    for digest, not_after in sorted(new.leaves.items()):
        was = digest in old.leaves and _expiring(not_after, times[0], days)
        if _expiring(not_after, times[1], days) and not was:
            events.append(
                make(
                    "certificate-expiring",
                    Text(
                        zh=f"证书将在 {days} 天内到期", en=f"certificate expires within {days} days"
                    ),
                    where,
                    Severity.MEDIUM,
                    after={"sha256": digest, "not_after": not_after},
                )
            )
    return events


def _family_events(old: Snapshot, new: Snapshot, make: _Maker) -> list[Event]:
    events = []
    if (
        "ipv6" in old.families_open
        and "ipv6" in new.families_probed
        and "ipv6" not in new.families_open
    ):
        events.append(
            make(
                "ipv6-lost",
                Text(zh="IPv6 地址不再响应", en="no longer answering on IPv6"),
                None,
                Severity.MEDIUM,
                before={"ipv6": True},
                after={"ipv6": False},
            )
        )
    elif (
        "ipv6" in new.families_open
        and "ipv6" in old.families_probed
        and "ipv6" not in old.families_open
    ):
        events.append(
            make(
                "ipv6-gained",
                Text(zh="IPv6 地址开始响应", en="now answering on IPv6"),
                None,
                Severity.INFO,
                before={"ipv6": False},
                after={"ipv6": True},
            )
        )
    return events


def asset_changes(
    previous: Sequence[dict[str, Any]],
    current: Sequence[dict[str, Any]],
    context: Context,
    asset: Asset,
    when: datetime,
    *,
    expiry_days: int | None = None,
) -> list[Event]:
    """The change events of one asset between its previous and current scan documents.

    ``expiry_days`` defaults to ``certificates.expiry_warning_days`` of probes/tls.yml.
    """
    if expiry_days is None:
        expiry_days = tls_registry().certificates.expiry_warning_days
    old, new = snapshot(previous), snapshot(current)
    if not new.alive or not previous:
        return []  # a first sight, or a host that answered nothing: no change is known
    make = _Maker(context, asset, when)
    events = _service_events(old, new, make) + _family_events(old, new, make)
    for where in sorted(new.tls):
        now_tls = new.tls[where]
        if where in old.tls:
            before = old.tls[where]
            events += _tls_set_events(where, before, now_tls, make)
            events += _posture_events(where, before, now_tls, make)
            events += _certificate_events(
                where, before, now_tls, make, times=(old.seen_at, when), days=expiry_days
            )
        else:
            events += _certificate_events(
                where, TlsView(), now_tls, make, times=(None, when), days=expiry_days
            )
    for where in sorted(set(old.tls) & new.probed_closed):
        events += _posture_events(where, old.tls[where], TlsView(), make)
    return events
