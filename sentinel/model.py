"""Sentinel's one document model: observations, findings, events, alerts, scans.

Probes produce :class:`Observation` (what was seen, or why nothing could be); assessors turn
observations into :class:`Finding` (a judgement on one check and one resource); comparing
scans produces :class:`Event`; rules produce :class:`Alert`. Every document renders to Elastic
Common Schema 8.x here and nowhere else (:func:`to_ecs`).
"""

from __future__ import annotations

import hashlib
import ipaddress
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from sentinel import __version__
from sentinel.errors import ErrorReason
from sentinel.severity import Severity

ECS_VERSION = "8.11.0"


class Evaluation(StrEnum):
    """The verdict of one check on one resource (ECS ``result.evaluation``)."""

    PASSED = "passed"
    FAILED = "failed"
    ERROR = "error"


class AttemptStatus(StrEnum):
    """How a planned probe ended: every planned probe ends in exactly one of these."""

    COMPLETED = "completed"
    ERROR = "error"
    SKIPPED = "skipped"


class FindingStatus(StrEnum):
    """Lifecycle of a problem across scans, tracked by its finding key."""

    OPEN = "open"
    RESOLVED = "resolved"
    REOPENED = "reopened"


class Text(BaseModel):
    """Words for people, Chinese first, English second."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    zh: str
    en: str

    def pick(self, lang: str) -> str:
        return self.en if lang == "en" else self.zh


class Asset(BaseModel):
    """The identity of a scanned thing. ``id`` is stable across scans and address families:
    an inventory id or hostname when one is known, else the address itself."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    id: str
    name: str | None = None
    addresses: tuple[str, ...] = ()


class Endpoint(BaseModel):
    """One address and port as probed (``port`` is None for host-level probes)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    address: str
    port: int | None = None
    transport: Literal["tcp", "udp", "icmp", "none"] = "tcp"

    @property
    def family(self) -> Literal["ipv4", "ipv6"]:
        return "ipv6" if ipaddress.ip_address(self.address).version == 6 else "ipv4"

    def __str__(self) -> str:
        host = f"[{self.address}]" if ":" in self.address else self.address
        return f"{host}:{self.port}" if self.port is not None else host


class Context(BaseModel):
    """Who owns what was scanned, and in which scan and drill."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    scan_id: str
    agency_id: str
    agency_name: str = ""
    segment_id: str
    zone: str = "extranet"
    tenant: str | None = None
    drill_id: str | None = None
    # The segment's 密评 (GB/T 39786) level, when the scan knew it: rules read it as
    # ``sentinel.levels.mipin`` (a finding judged for a level-3 system, not a level-2 one).
    mipin_level: int | None = None


class Observation(BaseModel):
    """What one probe saw at one endpoint, or the recorded reason it saw nothing."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    probe: str
    context: Context
    asset: Asset
    endpoint: Endpoint
    status: AttemptStatus
    reason: ErrorReason | None = None
    detail: str | None = None
    facts: dict[str, Any] = Field(default_factory=dict)
    started: datetime
    duration_ms: float = 0.0
    # The indexed crypto summary of a TLS attempt (``sentinel.crypto``), set by the scan from
    # :func:`sentinel.assess.posture.crypto_posture`: a judgement, so not made here.
    crypto: dict[str, list[str]] | None = None
    # An attempt that ended in an internal error (a bug, not the network) keeps its traceback
    # for the people who fix Sentinel: in the store, never in a report.
    traceback: str | None = None


def finding_key(check_id: str, asset_id: str, port: int | None, protocol: str | None) -> str:
    """Stable fingerprint of (check, resource): the same problem keeps its key across scans."""
    material = "|".join((check_id, asset_id, "" if port is None else str(port), protocol or ""))
    return hashlib.sha256(material.encode()).hexdigest()[:32]


class Finding(BaseModel):
    """A judgement of one check on one resource in one scan."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    check_id: str
    title: Text
    evaluation: Evaluation
    severity: Severity
    context: Context
    asset: Asset
    endpoint: Endpoint | None = None
    protocol: str | None = None
    probe: str
    ruleset: str = "sentinel"
    references: tuple[str, ...] = ()
    evidence: dict[str, Any] = Field(default_factory=dict)
    observed_at: datetime
    status: FindingStatus | None = None  # lifecycle of a failed finding, set by the store
    # Set by the lifecycle on the scan where the key opened or reopened (None while it stays
    # open): finding rules alert on that scan only (``sentinel.finding.change``).
    change: Literal["opened", "reopened"] | None = None

    @property
    def key(self) -> str:
        port = self.endpoint.port if self.endpoint else None
        return finding_key(self.check_id, self.asset.id, port, self.protocol)


class Event(BaseModel):
    """A change between scans, or an audit record (scan started, scope refused)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    action: str
    category: Literal["change", "audit"]
    message: Text
    context: Context
    asset: Asset | None = None
    endpoint: Endpoint | None = None
    severity: Severity = Severity.INFO
    finding_key: str | None = None
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None
    created: datetime


class Alert(BaseModel):
    """A Sigma rule matched: names the rule and the documents it matched."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    rule_id: str
    rule_title: str
    level: Severity
    matched_ids: tuple[str, ...]
    group: dict[str, str] = Field(default_factory=dict)
    agency_id: str | None = None
    created: datetime
    # The context of the triggering documents (sorted, distinct): who is affected, where.
    hosts: tuple[str, ...] = ()
    addresses: tuple[str, ...] = ()
    ports: tuple[int, ...] = ()
    segments: tuple[str, ...] = ()
    checks: tuple[str, ...] = ()  # check ids (findings' rule.id, lifecycle events' check)
    # One short summary per triggering document (id, time, check or action, host, address,
    # port, segment, severity), in the order matched.
    documents: tuple[dict[str, Any], ...] = ()


class UnfinishedUnit(BaseModel):
    """A work unit of a scan through agents that ended without results, and why:
    ``no-agent`` (its segment had no live agent), ``deadline`` (still queued or running when
    the scan's deadline passed), ``dead-letter`` (failed on every delivery up to the limit),
    ``refused`` (an agent refused it: signature, version, scope)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    unit: str
    segment: str
    probe: str
    reason: Literal["no-agent", "deadline", "dead-letter", "refused"]
    detail: str = ""


class ScanRecord(BaseModel):
    """One run of a playbook: what was planned, what happened. A scan through agents that
    ended with units unfinished is ``partial`` and names them in ``unfinished``. A scan
    stopped by Ctrl-C, SIGTERM or an error is ``interrupted``; one whose process died without
    a word (SIGKILL, a crash) is marked ``abandoned`` by the next run that opens the store."""

    model_config = ConfigDict(extra="forbid")
    id: str
    playbook: str
    started: datetime
    finished: datetime | None = None
    status: Literal["running", "completed", "partial", "failed", "interrupted",
                    "abandoned"] = "running"
    host: str | None = None  # the host and process running an in-process scan: a scan left
    pid: int | None = None  # ``running`` by a process that is gone is ``abandoned``
    attempts: dict[str, int] = Field(default_factory=dict)
    findings: int = 0
    units: int = 0  # work units published (a scan through agents); 0 in-process
    unfinished: list[UnfinishedUnit] = Field(default_factory=list)


class AgentHeartbeat(BaseModel):
    """An agent's liveness and progress, sent every ``interval_s`` (and when it stops)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    agent_id: str
    hostname: str
    version: str
    protocol: int
    segments: tuple[str, ...]
    vantage: tuple[str, ...] = ()  # the agent's own addresses toward its segments
    started: datetime
    seen: datetime  # when this heartbeat was sent
    interval_s: float
    units_done: int = 0
    units_failed: int = 0
    units_refused: int = 0
    state: Literal["running", "stopped"] = "running"

    def live(self, moment: datetime, misses: float = 3.0) -> bool:
        """Running, and heard from within ``misses`` heartbeat intervals of ``moment``."""
        return (self.state == "running"
                and (moment - self.seen).total_seconds() <= misses * self.interval_s)


def now() -> datetime:
    """The current time, timezone-aware (all Sentinel timestamps are UTC)."""
    return datetime.now(UTC)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _observer() -> dict[str, Any]:
    return {"type": "scanner", "vendor": "Sentinel", "product": "sentinel", "version": __version__}


def _context_fields(ctx: Context) -> dict[str, Any]:
    sentinel: dict[str, Any] = {
        "segment": ctx.segment_id,
        "zone": ctx.zone,
        "scan": {"id": ctx.scan_id},
    }
    if ctx.tenant:
        sentinel["tenant"] = ctx.tenant
    if ctx.drill_id:
        sentinel["drill"] = {"id": ctx.drill_id}
    if ctx.mipin_level is not None:
        sentinel["levels"] = {"mipin": ctx.mipin_level}
    return {
        "organization": {"id": ctx.agency_id, "name": ctx.agency_name or ctx.agency_id},
        "sentinel": sentinel,
    }


def _asset_fields(asset: Asset | None, endpoint: Endpoint | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if asset is not None:
        host: dict[str, Any] = {"id": asset.id, "ip": list(asset.addresses)}
        if asset.name:
            host["name"] = asset.name
        out["host"] = host
    if endpoint is not None:
        dest: dict[str, Any] = {"ip": endpoint.address, "address": endpoint.address}
        if endpoint.port is not None:
            dest["port"] = endpoint.port
        out["destination"] = dest
        out["network"] = {"type": endpoint.family, "transport": endpoint.transport}
    return out


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    for name, value in extra.items():
        if isinstance(value, dict) and isinstance(base.get(name), dict):
            _merge(base[name], value)
        else:
            base[name] = value
    return base


def doc_field(doc: dict[str, Any], *path: str) -> Any:
    """The value at ``path`` in a stored document (``doc_field(d, "destination", "ip")``),
    None where any step is missing or not an object."""
    value: Any = doc
    for part in path:
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def finding_to_ecs(finding: Finding) -> dict[str, Any]:
    """One finding as an ECS ``state`` document for ``sentinel-findings``."""
    doc: dict[str, Any] = {
        "@timestamp": _iso(finding.observed_at),
        "ecs": {"version": ECS_VERSION},
        "event": {
            "kind": "state",
            "category": ["configuration"],
            "type": ["info"],
            "dataset": "sentinel.finding",
            "module": "sentinel",
            "risk_score": finding.severity.risk_score
            if finding.evaluation is Evaluation.FAILED
            else 0.0,
        },
        "message": finding.title.zh + " / " + finding.title.en,
        "rule": {
            "id": finding.check_id,
            "name": finding.title.en,
            "reference": list(finding.references),
            "ruleset": finding.ruleset,
        },
        "result": {"evaluation": finding.evaluation.value},
        "observer": _observer(),
    }
    _merge(doc, _context_fields(finding.context))
    _merge(doc, _asset_fields(finding.asset, finding.endpoint))
    _merge(
        doc,
        {
            "sentinel": {
                "severity": finding.severity.value,
                "probe": finding.probe,
                "finding": {
                    "key": finding.key,
                    **({"status": finding.status.value} if finding.status else {}),
                    **({"change": finding.change} if finding.change else {}),
                },
                "title": {"zh": finding.title.zh, "en": finding.title.en},
                "evidence": finding.evidence,
            }
        },
    )
    service = finding.evidence.get("service")
    if isinstance(service, str) and service:  # exposure checks name the service they judged
        doc["service"] = {"name": service}
    # ECS: network.protocol is the application protocol, network.transport the transport.
    network = doc.setdefault("network", {})
    if finding.protocol in _TRANSPORTS:
        network["transport"] = finding.protocol
        if isinstance(service, str) and service:
            network["protocol"] = service.lower()[:_MAX_TERM]
    elif finding.protocol:
        network["protocol"] = finding.protocol
    if not network:
        del doc["network"]
    _merge(doc, evidence_fields(finding))
    return doc


_TRANSPORTS = frozenset({"tcp", "udp", "sctp"})
_MAX_TERM = 256  # characters of one indexed evidence value
_MAX_TERMS = 64  # values of one indexed evidence field
# The evidence analysts filter on, indexed (``sentinel.indexed.*``; ``sentinel.evidence``
# itself is kept, not indexed): indexed field -> the evidence keys that hold its values.
_INDEXED_TERMS: dict[str, tuple[str, ...]] = {
    "cipher": ("suites", "broken_suites", "dhe_suites", "sm4_suites", "sha1_suites", "suite"),
    "tls_version": ("versions", "high_risk_versions", "version", "best_version"),
    "signature_algorithm": ("weak_signatures", "algorithms"),
    "group": ("group", "weak_groups", "ffdhe_groups", "named_curve"),
}
_KEY_SIZES = {"rsa_bits": "RSA", "rsa_below_minimum": "RSA", "ec_key_bits": "EC"}
_SSH_KINDS = ("kex", "cipher", "mac", "host_key")
_TLS_VERSION = {"TLS": "tls", "TLCP": "tlcp", "SSL": "ssl"}


def _strings(value: Any) -> list[str]:
    items = value if isinstance(value, list) else [value]
    return [item[:_MAX_TERM] for item in items[:_MAX_TERMS] if isinstance(item, str) and item]


def _ints(value: Any) -> list[int]:
    items = value if isinstance(value, list) else [value]
    return [item for item in items[:_MAX_TERMS]
            if isinstance(item, int) and not isinstance(item, bool) and 0 < item < 1 << 20]


def _add(out: dict[str, list[Any]], name: str, values: list[Any]) -> None:
    for value in values:
        if value not in out.setdefault(name, []) and len(out[name]) < _MAX_TERMS:
            out[name].append(value)


def _tls_version(name: str) -> tuple[str, str] | None:
    """``TLSv1.2`` -> (``tls``, ``1.2``), ``SSLv3`` -> (``ssl``, ``3.0``), as ECS writes them."""
    for prefix, protocol in _TLS_VERSION.items():
        if name.startswith(prefix + "v"):
            number = name[len(prefix) + 1:].split("/", maxsplit=1)[0]
            if not number.replace(".", "", 1).isdigit() or not number[0].isdigit():
                return None
            return protocol, number if "." in number else f"{number}.0"
    return None


def evidence_fields(finding: Finding) -> dict[str, Any]:
    """The indexed fields a finding's evidence fills: ``sentinel.indexed`` (cipher, TLS version,
    key size, signature algorithm, group, SNMP community names, SSH algorithms, score) and, for
    a TLS finding, ECS ``tls.*``. Bounded: at most 64 values of 256 characters per field."""
    ev = finding.evidence
    found: dict[str, list[Any]] = {}
    for name, keys in _INDEXED_TERMS.items():
        for key in keys:
            values = _strings(ev.get(key))
            if name == "signature_algorithm":  # "subject: algorithm" names the certificate
                values = [v.rsplit(": ", 1)[-1] for v in values]
            _add(found, name, values)
    key_algorithms: list[str] = []
    for key, algorithm in _KEY_SIZES.items():
        sizes = _ints(ev.get(key))
        _add(found, "key_size", sizes)
        key_algorithms += [algorithm] if sizes else []
    for community in _dicts(ev.get("communities")):  # the name only, never what it answered
        _add(found, "snmp_community", _strings(community.get("community")))
    if finding.probe == "ssh":
        _ssh_fields(ev, found)
    indexed: dict[str, Any] = {k: v for k, v in found.items() if v}
    for name in _SSH_KINDS:
        if f"ssh_{name}" in indexed:
            indexed.setdefault("ssh", {})[name] = indexed.pop(f"ssh_{name}")
    score = ev.get("score")
    if isinstance(score, int | float) and not isinstance(score, bool):
        indexed["score"] = float(score)
    out: dict[str, Any] = {"sentinel": {"indexed": indexed}} if indexed else {}
    if finding.protocol == "tls" or finding.probe in ("tls", "tls_weakness"):
        out |= _ecs_tls(found, key_algorithms)
    return out


def _dicts(value: Any) -> list[dict[str, Any]]:
    return [item for item in value[:_MAX_TERMS] if isinstance(item, dict)] \
        if isinstance(value, list) else []


def _ssh_fields(ev: dict[str, Any], found: dict[str, list[Any]]) -> None:
    """SSH algorithms a finding names, per kind (``broken``/``weak``/``national``: kind ->
    names; ``kex``: names), and its host keys' algorithms and sizes."""
    for group in ("broken", "weak", "unknown", "national"):
        by_kind = ev.get(group)
        if isinstance(by_kind, dict):
            for kind in _SSH_KINDS:
                _add(found, f"ssh_{kind}", _strings(by_kind.get(kind)))
    _add(found, "ssh_kex", _strings(ev.get("kex")))
    for key in _dicts(ev.get("host_keys")):
        _add(found, "ssh_host_key", _strings(key.get("algorithm")))
        _add(found, "key_size", _ints(key.get("bits")))


def _ecs_tls(found: dict[str, list[Any]], key_algorithms: list[str]) -> dict[str, Any]:
    tls: dict[str, Any] = {}
    versions = [v for v in map(_tls_version, found.get("tls_version", [])) if v]
    if versions:
        tls["version"] = sorted({number for _p, number in versions})
        tls["version_protocol"] = sorted({protocol for protocol, _n in versions})
    if found.get("cipher"):
        tls["cipher"] = found["cipher"]
    x509: dict[str, Any] = {}
    if found.get("signature_algorithm"):
        x509["signature_algorithm"] = found["signature_algorithm"]
    if found.get("key_size"):
        x509["public_key_size"] = found["key_size"]
        x509["public_key_algorithm"] = sorted(set(key_algorithms))
    if x509:
        tls["server"] = {"x509": x509}
    return {"tls": tls} if tls else {}


def event_to_ecs(event: Event) -> dict[str, Any]:
    """One change or audit event as an ECS ``event`` document for ``sentinel-events``."""
    doc: dict[str, Any] = {
        "@timestamp": _iso(event.created),
        "ecs": {"version": ECS_VERSION},
        "event": {
            "kind": "event",
            "action": event.action,
            "category": ["configuration"] if event.category == "change" else ["process"],
            "type": ["change"] if event.category == "change" else ["info"],
            "dataset": f"sentinel.{event.category}",
            "module": "sentinel",
            "risk_score": event.severity.risk_score,
        },
        "message": event.message.zh + " / " + event.message.en,
        "observer": _observer(),
    }
    _merge(doc, _context_fields(event.context))
    _merge(doc, _asset_fields(event.asset, event.endpoint))
    change: dict[str, Any] = {"severity": event.severity.value}
    if event.finding_key:
        change["finding"] = {"key": event.finding_key}
    if event.before is not None:
        change["before"] = event.before
    if event.after is not None:
        change["after"] = event.after
    _merge(doc, {"sentinel": change})
    return doc


def alert_to_ecs(alert: Alert) -> dict[str, Any]:
    """One rule match as an ECS ``alert`` document for ``sentinel-alerts``."""
    doc: dict[str, Any] = {
        "@timestamp": _iso(alert.created),
        "ecs": {"version": ECS_VERSION},
        "event": {
            "kind": "alert",
            "dataset": "sentinel.alert",
            "module": "sentinel",
            "risk_score": alert.level.risk_score,
        },
        "rule": {"id": alert.rule_id, "name": alert.rule_title},
        "message": alert.rule_title,
        "observer": _observer(),
        "sentinel": {
            "severity": alert.level.value,
            "alert": {"matched": list(alert.matched_ids), "group": alert.group,
                      "check": list(alert.checks), "documents": list(alert.documents)},
        },
    }
    if alert.agency_id:
        doc["organization"] = {"id": alert.agency_id}
    if alert.hosts:
        doc["host"] = {"id": list(alert.hosts)}
    if alert.addresses or alert.ports:
        doc["destination"] = {
            **({"ip": list(alert.addresses)} if alert.addresses else {}),
            **({"port": list(alert.ports)} if alert.ports else {}),
        }
    if alert.segments:
        doc["sentinel"]["segment"] = list(alert.segments)
    return doc


def observation_to_ecs(observation: Observation) -> dict[str, Any]:
    """One probe attempt as an asset ``state`` document for ``sentinel-assets``."""
    doc: dict[str, Any] = {
        "@timestamp": _iso(observation.started),
        "ecs": {"version": ECS_VERSION},
        "event": {
            "kind": "state",
            "dataset": "sentinel.asset",
            "module": "sentinel",
            "outcome": "success" if observation.status is AttemptStatus.COMPLETED else "failure",
            "duration": int(observation.duration_ms * 1_000_000),
        },
        "observer": _observer(),
    }
    _merge(doc, _context_fields(observation.context))
    _merge(doc, _asset_fields(observation.asset, observation.endpoint))
    attempt: dict[str, Any] = {"probe": observation.probe, "status": observation.status.value}
    if observation.reason:
        attempt["reason"] = observation.reason.value
    if observation.detail:
        attempt["detail"] = observation.detail
    if observation.traceback:
        attempt["traceback"] = observation.traceback
    _merge(doc, {"sentinel": {"attempt": attempt, "facts": {observation.probe: observation.facts}}})
    if observation.crypto is not None:
        doc["sentinel"]["crypto"] = observation.crypto
    return doc


def heartbeat_to_ecs(beat: AgentHeartbeat) -> dict[str, Any]:
    """One heartbeat as an ECS ``state`` document for ``sentinel-agents``."""
    return {
        "@timestamp": _iso(beat.seen),
        "ecs": {"version": ECS_VERSION},
        "event": {"kind": "state", "dataset": "sentinel.agent", "module": "sentinel"},
        "message": f"agent {beat.agent_id} {beat.state}",
        "agent": {"id": beat.agent_id, "name": beat.hostname, "version": beat.version},
        "observer": {**_observer(), "hostname": beat.hostname, "ip": list(beat.vantage)},
        "host": {"name": beat.hostname, "ip": list(beat.vantage)},
        "sentinel": {
            "segment": list(beat.segments),
            "agent": {
                "id": beat.agent_id,
                "state": beat.state,
                "last_seen": _iso(beat.seen),
                "started": _iso(beat.started),
                "interval_s": beat.interval_s,
                "protocol": beat.protocol,
                "vantage": list(beat.vantage),
                "progress": {"done": beat.units_done,
                             "total": beat.units_done + beat.units_failed + beat.units_refused},
                "units": {"done": beat.units_done, "failed": beat.units_failed,
                          "refused": beat.units_refused},
            },
        },
    }


@dataclass(frozen=True)
class KeyState:
    """What the store remembers of one finding key."""

    key: str
    check_id: str
    asset_id: str
    probe: str
    status: FindingStatus
    severity: Severity
    first_seen: datetime
    last_seen: datetime
    context: Context
    asset: Asset
    endpoint: Endpoint | None = None
    reopened: int = 0



DocumentKind = Literal["finding", "event", "alert", "asset", "agent"]
DOCUMENT_MODELS: dict[DocumentKind, type[BaseModel]] = {
    "finding": Finding,
    "event": Event,
    "alert": Alert,
    "asset": Observation,
    "agent": AgentHeartbeat,
}
