"""The embedded store: one SQLite file, no server.

Findings, asset observations, change and audit events, alerts and scan records are kept as
their ECS documents beside a few indexed columns for the queries people run (by agency, scan,
check, severity). WAL journaling lets a reader (``sentinel findings``, a report) read while a
scan writes. The schema is versioned with ``PRAGMA user_version``; migrations run in order
when a store is opened, and a store written by a newer Sentinel is refused, not guessed at.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from sentinel.errors import StoreError
from sentinel.model import (
    AgentHeartbeat,
    Alert,
    Asset,
    Context,
    Endpoint,
    Event,
    Finding,
    FindingStatus,
    KeyState,
    Observation,
    ScanRecord,
    alert_to_ecs,
    event_to_ecs,
    finding_to_ecs,
    observation_to_ecs,
)
from sentinel.severity import Severity

STORE_ENV = "SENTINEL_STORE"

MIGRATIONS: tuple[str, ...] = (
    # 1: the first schema.
    """
    CREATE TABLE scans (id TEXT PRIMARY KEY, playbook TEXT NOT NULL, started TEXT NOT NULL,
                        finished TEXT, status TEXT NOT NULL, doc TEXT NOT NULL);
    CREATE TABLE observations (id INTEGER PRIMARY KEY, scan_id TEXT NOT NULL,
                        probe TEXT NOT NULL, asset_id TEXT NOT NULL, address TEXT NOT NULL,
                        port INTEGER, status TEXT NOT NULL, reason TEXT, agency_id TEXT NOT NULL,
                        segment_id TEXT NOT NULL, started TEXT NOT NULL, doc TEXT NOT NULL);
    CREATE INDEX observations_scan ON observations (scan_id, asset_id);
    CREATE TABLE findings (doc_id TEXT PRIMARY KEY, key TEXT NOT NULL, scan_id TEXT NOT NULL,
                        check_id TEXT NOT NULL, agency_id TEXT NOT NULL, segment_id TEXT NOT NULL,
                        asset_id TEXT NOT NULL, severity TEXT NOT NULL, severity_rank INTEGER,
                        evaluation TEXT NOT NULL, observed_at TEXT NOT NULL, doc TEXT NOT NULL);
    CREATE INDEX findings_scan ON findings (scan_id, severity_rank);
    CREATE INDEX findings_agency ON findings (agency_id, observed_at);
    CREATE INDEX findings_check ON findings (check_id);
    CREATE TABLE finding_state (key TEXT PRIMARY KEY, check_id TEXT NOT NULL,
                        asset_id TEXT NOT NULL, probe TEXT NOT NULL, status TEXT NOT NULL,
                        severity TEXT NOT NULL, first_seen TEXT NOT NULL, last_seen TEXT NOT NULL,
                        reopened INTEGER NOT NULL, agency_id TEXT NOT NULL, state TEXT NOT NULL);
    CREATE INDEX finding_state_agency ON finding_state (agency_id, status);
    CREATE TABLE events (doc_id TEXT PRIMARY KEY, scan_id TEXT NOT NULL, action TEXT NOT NULL,
                        agency_id TEXT NOT NULL, created TEXT NOT NULL, doc TEXT NOT NULL);
    CREATE INDEX events_scan ON events (scan_id);
    CREATE TABLE alerts (doc_id TEXT PRIMARY KEY, rule_id TEXT NOT NULL, agency_id TEXT,
                        created TEXT NOT NULL, doc TEXT NOT NULL);
    """,
    # 2: agents' latest heartbeats (a scan through agents, `sentinel agents`).
    """
    CREATE TABLE agents (id TEXT PRIMARY KEY, seen TEXT NOT NULL, doc TEXT NOT NULL);
    """,
)


def default_path() -> Path:
    """``$SENTINEL_STORE``, else ``$XDG_DATA_HOME/sentinel/sentinel.db``."""
    if os.environ.get(STORE_ENV):
        return Path(os.environ[STORE_ENV])
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "sentinel" / "sentinel.db"


def document_id(*parts: str) -> str:
    """A document id derived from its identity, so a replayed document never counts twice."""
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:40]


def event_document_id(event: Event) -> str:
    """The id of an event document, the same in every store, so a replay never doubles it."""
    return document_id(event.context.scan_id, event.action, event.finding_key or "",
                       event.asset.id if event.asset else "", _dumps(event.after or {}),
                       event.created.isoformat())


def _dumps(doc: dict[str, Any]) -> str:
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":"), default=str)


class SqliteStore:
    """The embedded store. Open one per process; it is not shared across threads."""

    def __init__(self, path: Path | str, *, create: bool = True) -> None:
        self.path = Path(path)
        if not create and not self.path.exists():
            raise StoreError(f"no store at {self.path}: run a scan first, or pass --store")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA foreign_keys=ON")
            self._migrate()
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open store {self.path}: {exc}") from exc

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> SqliteStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def schema_version(self) -> int:
        return int(self._db.execute("PRAGMA user_version").fetchone()[0])

    def _migrate(self) -> None:
        version = self.schema_version
        if version > len(MIGRATIONS):
            raise StoreError(
                f"store {self.path} has schema {version}, newer than this Sentinel "
                f"knows ({len(MIGRATIONS)}): upgrade Sentinel"
            )
        for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
            with self._transaction():
                for statement in filter(str.strip, script.split(";")):
                    self._db.execute(statement)
                self._db.execute(f"PRAGMA user_version = {number}")

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        try:
            self._db.execute("BEGIN IMMEDIATE")
            yield
            self._db.execute("COMMIT")
        except BaseException:
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            raise

    # -- writing -------------------------------------------------------------------------

    def save_scan(self, record: ScanRecord) -> None:
        with self._transaction():
            self._db.execute(
                "INSERT INTO scans (id, playbook, started, finished, status, doc) "
                "VALUES (?,?,?,?,?,?) ON CONFLICT(id) DO UPDATE SET finished=excluded.finished,"
                " status=excluded.status, doc=excluded.doc",
                (
                    record.id,
                    record.playbook,
                    record.started.isoformat(),
                    record.finished.isoformat() if record.finished else None,
                    record.status,
                    record.model_dump_json(),
                ),
            )

    def add_observations(self, observations: Iterable[Observation]) -> None:
        rows = [
            (
                o.context.scan_id,
                o.probe,
                o.asset.id,
                o.endpoint.address,
                o.endpoint.port,
                o.status.value,
                o.reason.value if o.reason else None,
                o.context.agency_id,
                o.context.segment_id,
                o.started.isoformat(),
                _dumps(observation_to_ecs(o)),
            )
            for o in observations
        ]
        with self._transaction():
            self._db.executemany(
                "INSERT INTO observations (scan_id, probe, asset_id, address, port, status,"
                " reason, agency_id, segment_id, started, doc) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                rows,
            )

    def add_findings(self, findings: Iterable[Finding]) -> int:
        rows = [
            (
                document_id(f.key, f.context.scan_id),
                f.key,
                f.context.scan_id,
                f.check_id,
                f.context.agency_id,
                f.context.segment_id,
                f.asset.id,
                f.severity.value,
                f.severity.rank,
                f.evaluation.value,
                f.observed_at.isoformat(),
                _dumps(finding_to_ecs(f)),
            )
            for f in findings
        ]
        with self._transaction():
            self._db.executemany(
                "INSERT OR REPLACE INTO findings (doc_id, key, scan_id, check_id, agency_id,"
                " segment_id, asset_id, severity, severity_rank, evaluation, observed_at, doc)"
                " VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                rows,
            )
        return len(rows)

    def add_events(self, events: Iterable[Event]) -> None:
        rows = []
        for event in events:
            doc = event_to_ecs(event)
            doc_id = event_document_id(event)
            rows.append(
                (
                    doc_id,
                    event.context.scan_id,
                    event.action,
                    event.context.agency_id,
                    event.created.isoformat(),
                    _dumps(doc),
                )
            )
        with self._transaction():
            self._db.executemany(
                "INSERT OR IGNORE INTO events (doc_id, scan_id, action,"
                " agency_id, created, doc) VALUES (?,?,?,?,?,?)",
                rows,
            )

    def add_alerts(self, alerts: Iterable[Alert]) -> None:
        rows = [
            (
                document_id(a.rule_id, *a.matched_ids),
                a.rule_id,
                a.agency_id,
                a.created.isoformat(),
                _dumps(alert_to_ecs(a)),
            )
            for a in alerts
        ]
        with self._transaction():
            self._db.executemany(
                "INSERT OR IGNORE INTO alerts (doc_id, rule_id, agency_id,"
                " created, doc) VALUES (?,?,?,?,?)",
                rows,
            )

    def save_states(self, states: Iterable[KeyState]) -> None:
        rows = [
            (
                s.key,
                s.check_id,
                s.asset_id,
                s.probe,
                s.status.value,
                s.severity.value,
                s.first_seen.isoformat(),
                s.last_seen.isoformat(),
                s.reopened,
                s.context.agency_id,
                json.dumps(
                    {
                        "context": s.context.model_dump(mode="json"),
                        "asset": s.asset.model_dump(mode="json"),
                        "endpoint": s.endpoint.model_dump(mode="json") if s.endpoint else None,
                    }
                ),
            )
            for s in states
        ]
        with self._transaction():
            self._db.executemany(
                "INSERT OR REPLACE INTO finding_state (key, check_id, asset_id, probe, status,"
                " severity, first_seen, last_seen, reopened, agency_id, state)"
                " VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                rows,
            )

    def save_heartbeats(self, beats: Iterable[AgentHeartbeat]) -> None:
        """Keep each agent's newest heartbeat (an older one arriving late changes nothing)."""
        rows = [
            (b.agent_id, b.seen.astimezone(UTC).isoformat(), b.model_dump_json()) for b in beats
        ]
        with self._transaction():
            self._db.executemany(
                "INSERT INTO agents (id, seen, doc) VALUES (?,?,?) ON CONFLICT(id) DO UPDATE"
                " SET seen=excluded.seen, doc=excluded.doc WHERE excluded.seen > agents.seen",
                rows,
            )

    # -- reading -------------------------------------------------------------------------

    def agents(self) -> list[AgentHeartbeat]:
        """Every agent's newest heartbeat, by agent id."""
        rows = self._db.execute("SELECT doc FROM agents ORDER BY id")
        return [AgentHeartbeat.model_validate_json(r[0]) for r in rows]

    def states(self, keys: Sequence[str] | None = None) -> dict[str, KeyState]:
        """Lifecycle state of every remembered finding key (or of the given keys)."""
        query = (
            "SELECT key, check_id, asset_id, probe, status, severity, first_seen,"
            " last_seen, reopened, state FROM finding_state"
        )
        out: dict[str, KeyState] = {}
        for row in self._db.execute(query):
            if keys is not None and row[0] not in keys:
                continue
            extra = json.loads(row[9])
            out[row[0]] = KeyState(
                row[0],
                row[1],
                row[2],
                row[3],
                FindingStatus(row[4]),
                Severity(row[5]),
                datetime.fromisoformat(row[6]),
                datetime.fromisoformat(row[7]),
                Context.model_validate(extra["context"]),
                Asset.model_validate(extra["asset"]),
                Endpoint.model_validate(extra["endpoint"]) if extra["endpoint"] else None,
                int(row[8]),
            )
        return out

    def agencies(self, scan_id: str) -> list[str]:
        """The agencies a scan observed or judged anything of, sorted."""
        rows = self._db.execute(
            "SELECT agency_id FROM observations WHERE scan_id = ? UNION "
            "SELECT agency_id FROM findings WHERE scan_id = ? ORDER BY 1", (scan_id, scan_id))
        return [r[0] for r in rows]

    def scan(self, scan_id: str) -> ScanRecord | None:
        """One scan record by id (None: no such scan)."""
        row = self._db.execute("SELECT doc FROM scans WHERE id = ?", (scan_id,)).fetchone()
        return ScanRecord.model_validate_json(row[0]) if row else None

    def scans(self) -> list[ScanRecord]:
        rows = self._db.execute("SELECT doc FROM scans ORDER BY started")
        return [ScanRecord.model_validate_json(r[0]) for r in rows]

    def stored_assets(self, scan_id: str) -> set[str]:
        """Ids of the assets of a scan that have observations (a scan writes an asset's
        observations, findings, states and events together, once its probes have ended)."""
        rows = self._db.execute("SELECT DISTINCT asset_id FROM observations WHERE scan_id = ?",
                                (scan_id,))
        return {r[0] for r in rows}

    def attempt_counts(self, scan_id: str) -> dict[str, int]:
        """A scan's attempts by status, as its record counts them."""
        rows = self._db.execute("SELECT status, COUNT(*) FROM observations WHERE scan_id = ? "
                                "GROUP BY status", (scan_id,))
        return {r[0]: int(r[1]) for r in rows}

    def failed_count(self, scan_id: str) -> int:
        """A scan's failed findings, as its record counts them."""
        row = self._db.execute("SELECT COUNT(*) FROM findings WHERE scan_id = ? AND "
                               "evaluation = 'failed'", (scan_id,)).fetchone()
        return int(row[0])

    def latest_scan(self, *, completed: bool = True) -> ScanRecord | None:
        clause = "WHERE status = 'completed' " if completed else ""
        row = self._db.execute(
            f"SELECT doc FROM scans {clause}ORDER BY started DESC LIMIT 1"  # noqa: S608
        ).fetchone()
        return ScanRecord.model_validate_json(row[0]) if row else None

    def findings(
        self,
        *,
        scan_id: str | None = None,
        agency_id: str | None = None,
        check_id: str | None = None,
        min_severity: Severity | None = None,
        evaluations: Sequence[str] = ("failed", "error"),
    ) -> list[dict[str, Any]]:
        """Finding documents matching every given filter, most severe first."""
        marks = ",".join("?" * len(evaluations))
        clauses, params = [f"evaluation IN ({marks})"], list(evaluations)
        for column, value in (
            ("scan_id", scan_id),
            ("agency_id", agency_id),
            ("check_id", check_id),
        ):
            if value is not None:
                clauses.append(f"{column} = ?")
                params.append(value)
        if min_severity is not None:
            clauses.append("severity_rank <= ?")
            params.append(str(min_severity.rank))
        # Only fixed column names are joined in; every value is a bound parameter.
        where = " AND ".join(clauses)
        sql = f"SELECT doc FROM findings WHERE {where} ORDER BY severity_rank, check_id, asset_id"  # noqa: S608
        return [json.loads(r[0]) for r in self._db.execute(sql, params)]

    def events(self, scan_id: str | None = None) -> list[dict[str, Any]]:
        sql, params = "SELECT doc FROM events", []
        if scan_id is not None:
            sql, params = sql + " WHERE scan_id = ?", [scan_id]
        return [json.loads(r[0]) for r in self._db.execute(sql + " ORDER BY created", params)]

    def documents(
        self,
        table: Literal["findings", "events"],
        *,
        scan_id: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> Iterator[tuple[str, dict[str, Any]]]:
        """(document id, ECS document) of every finding or event of a scan or time range.

        The ids are the ones Elasticsearch gets, so an alert names the same documents in
        both stores. ``since`` is inclusive, ``until`` exclusive.
        """
        moment = "observed_at" if table == "findings" else "created"
        clauses, params = ["1 = 1"], []
        if scan_id is not None:
            clauses.append("scan_id = ?")
            params.append(scan_id)
        if since is not None:
            clauses.append(f"{moment} >= ?")
            params.append(since.astimezone(UTC).isoformat())
        if until is not None:
            clauses.append(f"{moment} < ?")
            params.append(until.astimezone(UTC).isoformat())
        # Table and column names come from the Literal above; every value is bound.
        sql = f"SELECT doc_id, doc FROM {table} WHERE {' AND '.join(clauses)} ORDER BY {moment}"  # noqa: S608
        for doc_id, doc in self._db.execute(sql, params):
            yield doc_id, json.loads(doc)

    def assets(self, scan_id: str, asset_id: str | None = None) -> list[dict[str, Any]]:
        """Asset documents (observations) of one scan, or of one asset in it."""
        if asset_id is None:
            rows = self._db.execute(
                "SELECT doc FROM observations WHERE scan_id = ? ORDER BY id", (scan_id,)
            )
        else:
            rows = self._db.execute(
                "SELECT doc FROM observations WHERE scan_id = ? AND asset_id = ? ORDER BY id",
                (scan_id, asset_id),
            )
        return [json.loads(r[0]) for r in rows]

    def coverage(self, scan_id: str) -> set[tuple[str, str]]:
        """(asset id, probe) pairs whose probe completed at least once in the scan."""
        rows = self._db.execute(
            "SELECT DISTINCT asset_id, probe FROM observations"
            " WHERE scan_id = ? AND status = 'completed'",
            (scan_id,),
        )
        return {(r[0], r[1]) for r in rows}

    def open_states(self, agency_id: str | None = None) -> list[KeyState]:
        return [
            s
            for s in self.states().values()
            if s.status is not FindingStatus.RESOLVED
            and (agency_id is None or s.context.agency_id == agency_id)
        ]
