"""The Elasticsearch sink: bounded bulk batches, retries with backoff, a disk spool.

``write`` adds one document to an in-memory batch of at most ``batch_docs`` documents (and
``batch_bytes``); when the batch is full, ``write`` sends it before returning, so a fast
producer is slowed to Elasticsearch's pace (backpressure) and memory stays bounded.
A batch that cannot be delivered after the retries (429, 5xx, connection errors) goes to the
disk spool (:mod:`sentinel.store.spool`). While Elasticsearch is down, batches go straight
to the spool and delivery is tried again every ``reconnect_s``; once it answers, the spool
is replayed oldest first, before anything newer, and removed. Every document has a fixed
``_id`` (from :func:`sentinel.store.sqlite.document_id`) and is sent with ``op_type: index``,
so a replay overwrites and never duplicates.

Findings go to two places: the history (``<prefix>-findings``, one document per finding and
scan) and the current state (``<prefix>-findings-current``, one document per finding key,
``_id`` = the key, so each scan's finding replaces the last). A ``finding-resolved`` event
marks its key's current document ``sentinel.finding.status: resolved`` (an update; the event's
own fields make the document when the key has none yet); nothing is ever deleted. A key whose
check passed in this scan keeps that passed judgement; a key this scan did not judge again
(the port closed, the service went away) has no ``result.evaluation`` left: there is no
current verdict, so no panel counts it as failed or passed.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import time
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.x509.oid import NameOID
from elasticsearch import ApiError, ConnectionError, ConnectionTimeout, Elasticsearch

from sentinel.errors import SinkError
from sentinel.model import (
    Alert,
    Event,
    Finding,
    Observation,
    alert_to_ecs,
    event_to_ecs,
    finding_to_ecs,
    observation_to_ecs,
)
from sentinel.store.elastic_templates import (
    CURRENT,
    KINDS,
    Kind,
    alias_name,
    describe_error,
    install,
    redact,
)
from sentinel.store.spool import Spool
from sentinel.store.sqlite import document_id, event_document_id, finding_document_id

log = logging.getLogger(__name__)
_RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})


@dataclass
class SinkStats:
    """Counters a caller can report: documents acknowledged, spooled, replayed, rejected."""

    sent: int = 0
    spooled: int = 0
    replayed: int = 0
    retries: int = 0
    rejected: list[str] = field(default_factory=list)  # "id: error type" of refused docs


class _Unreachable(Exception):
    """Internal: Elasticsearch did not take a request after the retries."""


RESOLVED_ACTION = "finding-resolved"  # the lifecycle's event (sentinel.scan.lifecycle)


def _merge_docs(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for name, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(name), dict):
            out[name] = _merge_docs(out[name], value)
        else:
            out[name] = value
    return out


_MAX_LEAVES = 8  # leaf certificates of one endpoint put in ECS (TLS, TLCP sign, TLS 1.3 ...)
_MAX_NAME = 1024  # characters of a name (the mapping's ignore_above)
_TLS_PROBES = frozenset({"tls", "tls_weakness"})


def _bounded(value: Any) -> str | None:
    """A certificate's text as an analyst can search it: control characters (a hostile
    subject's NUL, newline, escape) shown as U+FFFD, at most _MAX_NAME characters."""
    if not isinstance(value, str) or not value:
        return None
    cut = value[:_MAX_NAME]
    return "".join("\ufffd" if unicodedata.category(c)[0] == "C" else c for c in cut)


def _date(value: Any) -> str | None:
    if not isinstance(value, str) or len(value) > 40:
        return None
    try:
        return datetime.fromisoformat(value).isoformat()
    except ValueError:
        return None


def _issuer_common_names(leaf: dict[str, Any]) -> list[Any]:
    """The probe's issuer common names; a certificate recorded before the probe gave them
    (an older store) has them read from its DER."""
    names = leaf.get("issuer_common_names")
    if isinstance(names, list):
        return names
    der_b64 = leaf.get("der_b64")
    if not isinstance(der_b64, str) or len(der_b64) > 1 << 20:
        return []
    try:
        cert = x509.load_der_x509_certificate(base64.b64decode(der_b64, validate=True))
        return [str(a.value) for a in cert.issuer.get_attributes_for_oid(NameOID.COMMON_NAME)]
    except (ValueError, TypeError):  # unparseable: the probe's facts say so already
        return []


def _leaves(facts: dict[str, Any]) -> list[dict[str, Any]]:
    chains = [c for c in facts.get("certificates") or [] if isinstance(c, dict)]
    found = facts.get("tls13_certificate")
    if isinstance(found, dict):
        chains += [found[k] for k in ("standard", "sm") if isinstance(found.get(k), dict)]
    leaves = []
    for chain in chains:
        certs = chain.get("chain")
        if isinstance(certs, list) and certs and isinstance(certs[0], dict) \
                and not certs[0].get("error"):
            leaves.append(certs[0])
    return leaves


def certificate_ecs(facts: dict[str, Any]) -> dict[str, Any]:
    """ECS ``tls.server.x509.*`` (subject and issuer common and distinguished names, validity,
    serial number) and ``tls.server.hash.sha256`` of the leaf certificates a TLS probe's facts
    hold; every value bounded (names at most 1,024 characters, no control characters; at most
    eight certificates). Empty when the facts hold no parsed certificate."""
    values: dict[str, list[str]] = {}

    def add(name: str, value: str | None) -> None:
        if value is not None and value not in values.setdefault(name, []):
            values[name].append(value)

    for leaf in _leaves(facts):
        if len(values.get("sha256", [])) >= _MAX_LEAVES:
            break
        sha = leaf.get("sha256")
        add("sha256", sha.upper() if isinstance(sha, str) and len(sha) == 64 else None)
        for cn in (leaf.get("common_names") or [])[:_MAX_LEAVES]:
            add("subject_cn", _bounded(cn))
        for cn in _issuer_common_names(leaf)[:_MAX_LEAVES]:
            add("issuer_cn", _bounded(cn))
        add("subject_dn", _bounded(leaf.get("subject")))
        add("issuer_dn", _bounded(leaf.get("issuer")))
        add("not_before", _date(leaf.get("not_before")))
        add("not_after", _date(leaf.get("not_after")))
        serial = leaf.get("serial")
        add("serial", serial[:_MAX_NAME].upper() if isinstance(serial, str) and serial else None)
    if not values.get("sha256"):
        return {}
    x509_doc: dict[str, Any] = {
        "subject": {"common_name": values.get("subject_cn", []),
                    "distinguished_name": values.get("subject_dn", [])},
        "issuer": {"common_name": values.get("issuer_cn", []),
                   "distinguished_name": values.get("issuer_dn", [])},
        "not_before": values.get("not_before", []),
        "not_after": values.get("not_after", []),
        "serial_number": values.get("serial", []),
    }
    return {"tls": {"server": {"x509": x509_doc, "hash": {"sha256": values["sha256"]}}}}


def _dumps(doc: dict[str, Any]) -> str:
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":"), default=str)


class ElasticSink:
    """Streams documents to ``<prefix>-<kind>`` write aliases; not shared across threads."""

    def __init__(
        self,
        client: Elasticsearch,
        spool_dir: Path,
        *,
        prefix: str = "sentinel",
        batch_docs: int = 500,
        batch_bytes: int = 5 * 1024 * 1024,
        spool_max_bytes: int = 1024 * 1024 * 1024,
        max_attempts: int = 5,
        backoff_s: float = 0.2,
        backoff_max_s: float = 5.0,
        reconnect_s: float = 2.0,
        sleep: Callable[[float], None] = time.sleep,
        setup_on_connect: bool = False,
    ) -> None:
        self._client = client.options(max_retries=0)
        self.spool = Spool(spool_dir, spool_max_bytes)
        self.prefix = prefix
        self.batch_docs = batch_docs
        self.batch_bytes = batch_bytes
        self.max_attempts = max_attempts
        self.backoff_s = backoff_s
        self.backoff_max_s = backoff_max_s
        self.reconnect_s = reconnect_s
        self._sleep = sleep
        self._needs_setup = setup_on_connect
        self._lines: list[str] = []
        self._bytes = 0
        self._down_since: float | None = None
        # The finding keys of the last add_findings call: a scan streams an asset's findings,
        # then its events, so a key resolved there and absent here was not judged again.
        # One asset's keys only: memory does not grow with the scan.
        self._judged: set[str] = set()
        # The last asset's leaf certificates by (asset, address, port): ECS tls.server.*
        self._certificates: dict[tuple[str, str, int | None], dict[str, Any]] = {}
        self._next_try = 0.0
        self.stats = SinkStats()

    # -- writing -------------------------------------------------------------------------

    def write(self, kind: Kind, doc_id: str, doc: dict[str, Any]) -> None:
        """Queue one document; sends (or spools) the batch first when it is full."""
        if kind not in KINDS:
            raise SinkError(f"unknown document kind {kind!r}")
        self._queue({"index": {"_index": alias_name(self.prefix, kind), "_id": doc_id}}, doc)

    def _queue(self, operation: dict[str, Any], body: dict[str, Any]) -> None:
        action = _dumps(operation)
        source = _dumps(body)
        self._lines += (action, source)
        self._bytes += len(action) + len(source) + 2
        if len(self._lines) >= 2 * self.batch_docs or self._bytes >= self.batch_bytes:
            self.flush()

    def flush(self) -> None:
        """Deliver the batch (after any spooled backlog), or spool it if Elasticsearch is down.

        Raises :class:`~sentinel.errors.SpoolFullError` when it must spool and the spool is
        full; the batch then stays in memory and the next flush tries again.
        """
        if self._deliver_backlog() and self._lines:
            with contextlib.suppress(_Unreachable):  # still down: the batch goes to the spool
                self._send(self._lines)
                self._reset_batch()
                return
        if self._lines:
            self.spool.append(self._lines)
            self.stats.spooled += len(self._lines) // 2
            self._reset_batch()

    def close(self) -> None:
        """Flush, try once more to empty the spool, and report rejected documents."""
        self.flush()
        if self.spool:
            self._next_try = 0.0
            self._deliver_backlog()
        if self.stats.rejected:
            first = self.stats.rejected[0]
            raise SinkError(
                f"Elasticsearch rejected {len(self.stats.rejected)} document(s); first: {first}"
            )

    def __enter__(self) -> ElasticSink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- model helpers (same ids as the SQLite store) ------------------------------------

    def add_findings(self, findings: Iterable[Finding]) -> None:
        """Findings: the history, ``_id`` = finding_document_id(key, scan, asset) as in the
        SQLite store; and the current state, ``_id`` = the finding key (replaced by each scan)."""
        self._judged = set()
        for f in findings:
            doc = finding_to_ecs(f)
            certificate = self._certificates.get(
                (f.asset.id, f.endpoint.address, f.endpoint.port)) if f.endpoint else None
            if certificate and (f.probe in _TLS_PROBES or f.protocol == "tls"):
                doc = _merge_docs(doc, certificate)
            self.write("findings",
                       finding_document_id(f.key, f.context.scan_id, f.asset.id), doc)
            self.write(CURRENT, f.key, doc)
            self._judged.add(f.key)

    def add_observations(self, observations: Iterable[Observation]) -> None:
        """Probe attempts as asset documents; one id per (scan, probe, endpoint, start). A TLS
        probe's leaf certificates fill ECS ``tls.server.*`` there and on the findings of the
        same endpoint (the scan writes an asset's observations, then its findings)."""
        self._certificates = {}
        for o in observations:
            certificate = certificate_ecs(o.facts) if o.probe in _TLS_PROBES else {}
            if certificate:
                self._certificates[(o.asset.id, o.endpoint.address, o.endpoint.port)] = \
                    certificate
            doc_id = document_id(
                o.context.scan_id,
                o.probe,
                o.asset.id,
                o.endpoint.address,
                "" if o.endpoint.port is None else str(o.endpoint.port),
                o.started.isoformat(),
            )
            self.write("assets", doc_id, _merge_docs(observation_to_ecs(o), certificate))

    def add_events(self, events: Iterable[Event]) -> None:
        """Change and audit events, with the same document ids as the SQLite store; a
        ``finding-resolved`` event also marks its key resolved in the current state."""
        for e in events:
            doc = event_to_ecs(e)
            self.write("events", event_document_id(e), doc)
            if e.action == RESOLVED_ACTION and e.finding_key:
                self._mark_resolved(e, doc)

    def _mark_resolved(self, event: Event, event_doc: dict[str, Any]) -> None:
        marks: dict[str, Any] = {
            "@timestamp": event_doc["@timestamp"],
            "event": {"risk_score": 0.0},
            "sentinel": {
                "finding": {"key": event.finding_key, "status": "resolved", "change": None},
                "scan": {"id": event.context.scan_id},
            },
        }
        if event.finding_key not in self._judged:  # no finding for the key in this scan
            marks["result"] = {"evaluation": None}
        # A key resolved before its current document existed (a store older than the current
        # state): the event's own fields make one, so the mark is never lost (no 404).
        upsert = {k: v for k, v in event_doc.items() if k not in ("event", "message", "sentinel")}
        upsert["event"] = {"kind": "state", "dataset": "sentinel.finding", "module": "sentinel"}
        upsert["rule"] = {"id": (event.after or {}).get("check_id", "")}
        upsert["sentinel"] = {k: v for k, v in event_doc["sentinel"].items()
                              if k in ("segment", "zone", "tenant", "levels")}
        self._queue(
            {"update": {"_index": alias_name(self.prefix, CURRENT), "_id": event.finding_key}},
            {"doc": marks, "upsert": _merge_docs(upsert, marks)},
        )

    def add_alerts(self, alerts: Iterable[Alert]) -> None:
        """Rule matches; ``_id`` from the rule and the documents it matched."""
        for a in alerts:
            self.write("alerts", document_id(a.rule_id, *a.matched_ids), alert_to_ecs(a))

    # -- delivery --------------------------------------------------------------------------

    def _reset_batch(self) -> None:
        self._lines = []
        self._bytes = 0

    def _deliver_backlog(self) -> bool:
        """Replay the spool, oldest first. False while Elasticsearch is still unreachable."""
        if self._down_since is not None and time.monotonic() < self._next_try:
            return False
        for segment in self.spool.segments():
            try:
                for lines in self.spool.batches(segment, 2 * self.batch_docs):
                    self._send(lines)
                    self.stats.replayed += len(lines) // 2
            except _Unreachable:
                return False
            self.spool.remove(segment)
        return True

    def _send(self, lines: list[str]) -> None:
        """Bulk-index ``lines``; retry what Elasticsearch could not take yet."""
        pending = lines
        attempts = 1 if self._down_since is not None else self.max_attempts
        delay = self.backoff_s
        for attempt in range(1, attempts + 1):
            try:
                self._ensure_setup()
                # Pre-encoded ndjson lines: the client's serializer passes str lines through.
                response = self._client.bulk(
                    operations=pending,  # type: ignore[arg-type]
                    # Never let a missing alias auto-create an index without our mappings.
                    require_alias=True,
                )
            except (ConnectionError, ConnectionTimeout) as exc:
                reason = type(exc).__name__
            except ApiError as exc:
                if exc.meta.status not in _RETRYABLE_STATUS:
                    raise SinkError(f"Elasticsearch bulk failed: {describe_error(exc)}") from None
                reason = f"HTTP {exc.meta.status}"
            else:
                self._mark_up()
                pending = self._unfinished(pending, response.body)
                if not pending:
                    return
                reason = "429 on some documents"
            if attempt < attempts:
                self.stats.retries += 1
                log.info("bulk retry %d/%d in %.1fs: %s", attempt, attempts, delay, reason)
                self._sleep(delay)
                delay = min(delay * 2, self.backoff_max_s)
        self._mark_down(reason)
        raise _Unreachable(reason)

    def _ensure_setup(self) -> None:
        # Templates and aliases are installed on first contact, which may come only after
        # an outage: documents then wait in the spool, never in an unmapped index.
        if self._needs_setup:
            install(self._client, self.prefix)
            self._needs_setup = False

    def _unfinished(self, lines: list[str], body: dict[str, Any]) -> list[str]:
        """Count acknowledged items, record rejected ones, return the lines to retry."""
        retry: list[str] = []
        for index, item in enumerate(body.get("items", [])):
            result = next(iter(item.values()))
            status = int(result.get("status", 500))
            if status < 300:
                self.stats.sent += 1
            elif status in _RETRYABLE_STATUS:
                retry += lines[2 * index : 2 * index + 2]
            else:
                error = result.get("error", {})
                kind = error.get("type", "error") if isinstance(error, dict) else "error"
                kind = redact(str(kind), 60)  # the server's words: mask anything credential-like
                self.stats.rejected.append(f"{result.get('_id')}: {kind}")
                log.warning("document %s rejected: %s", result.get("_id"), kind)
        return retry

    def _mark_down(self, reason: str) -> None:
        now = time.monotonic()
        if self._down_since is None:
            self._down_since = now
            log.warning(
                "Elasticsearch unreachable (%s): spooling to %s", reason, self.spool.directory
            )
        self._next_try = now + self.reconnect_s

    def _mark_up(self) -> None:
        if self._down_since is not None:
            log.warning(
                "Elasticsearch reachable again after %.1fs: replaying the spool",
                time.monotonic() - self._down_since,
            )
            self._down_since = None
