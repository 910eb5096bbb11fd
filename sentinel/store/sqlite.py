"""The embedded store: one SQLite file, no server.

Findings, asset observations, change and audit events, alerts and scan records are kept as
their ECS documents beside a few indexed columns for the queries people run (by agency, scan,
check, severity). WAL journaling lets a reader (``sentinel findings``, a report) read while a
scan writes. The schema is versioned with ``PRAGMA user_version``; migrations run in order
when a store is opened, and a store written by a newer Sentinel is refused, not guessed at.

Every query goes through one guarded connection: a corrupted page, a dropped table, a full
disk or a stored document that is not Sentinel's becomes one StoreError naming the store
(never sqlite3's or json's exception), and a store found damaged is written no more. A path
where no store can be created is the person's to change (UsageError). Opening a store marks
``abandoned`` any in-process scan its host's process left ``running`` and that is gone.
"""

from __future__ import annotations

import errno
import functools
import gc
import hashlib
import json
import os
import socket
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from itertools import islice
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import BaseModel

from sentinel.errors import StoreError, UsageError
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
_BATCH = 500  # keys per `IN (...)` look-up

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
    # 3: at scale (issue 20): a rescan reads each asset's states by asset; a scan's findings,
    # and one agency's, are read in the order `findings()` gives (no sort of the documents).
    """
    CREATE INDEX finding_state_asset ON finding_state (asset_id);
    CREATE INDEX findings_scan_agency ON findings (scan_id, agency_id, severity_rank, check_id,
                                                   asset_id);
    DROP INDEX findings_scan;
    CREATE INDEX findings_scan ON findings (scan_id, severity_rank, check_id, asset_id);
    """,
    # 4: drills with real agencies (issue 18 item 9): an agency's acknowledgement of an inject
    # (`sentinel drill ack`); the earliest one counts.
    """
    CREATE TABLE IF NOT EXISTS drill_acks (drill_id TEXT NOT NULL, agency_id TEXT NOT NULL,
                        inject_id TEXT NOT NULL, at TEXT NOT NULL, by TEXT NOT NULL,
                        source TEXT NOT NULL,
                        PRIMARY KEY (drill_id, agency_id, inject_id, at, source));
    """,
    # 5: at scale (issue 20): lifecycle states keyed by (asset, key), not by key alone. A key
    # is a hash, so a scan's 36 states of one asset went to 36 random pages of a key index
    # of millions; by asset first they sit together, and the asset index is the key itself.
    # The table is rebuilt (a key names one asset: the same rows stay unique).
    """
    CREATE TABLE finding_state_by_asset (key TEXT NOT NULL, check_id TEXT NOT NULL,
                        asset_id TEXT NOT NULL, probe TEXT NOT NULL, status TEXT NOT NULL,
                        severity TEXT NOT NULL, first_seen TEXT NOT NULL, last_seen TEXT NOT NULL,
                        reopened INTEGER NOT NULL, agency_id TEXT NOT NULL, state TEXT NOT NULL,
                        PRIMARY KEY (asset_id, key));
    INSERT INTO finding_state_by_asset (key, check_id, asset_id, probe, status, severity,
                        first_seen, last_seen, reopened, agency_id, state)
        SELECT key, check_id, asset_id, probe, status, severity, first_seen, last_seen,
               reopened, agency_id, state FROM finding_state ORDER BY asset_id, key;
    DROP TABLE finding_state;
    ALTER TABLE finding_state_by_asset RENAME TO finding_state;
    CREATE INDEX finding_state_agency ON finding_state (agency_id, status);
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


def grouped_id(group: str, *parts: str) -> str:
    """A document id like :func:`document_id` (40 hex digits, derived from its identity)
    whose first 12 digits are those of its ``group``: one asset's documents of one scan sit
    side by side in the store's id index (and in Elasticsearch's ``_id`` terms), so recording
    an asset touches one or two index pages, not one random page per document. Measured with
    3.6 million findings stored: 8.4 ms to record an asset of 36 findings, 11.2 ms with ids
    spread at random (bench/README.md)."""
    return (hashlib.sha256(group.encode()).hexdigest()[:12]
            + hashlib.sha256("|".join(parts).encode()).hexdigest()[:28])


def finding_document_id(key: str, scan_id: str, asset_id: str) -> str:
    """The id of a finding's document in one scan, the same in every store (SQLite's
    ``findings``, Elasticsearch's ``<prefix>-findings``), grouped by scan and asset."""
    return grouped_id(f"{scan_id}|{asset_id}", key, scan_id)


def event_document_id(event: Event) -> str:
    """The id of an event document, the same in every store, so a replay never doubles it;
    grouped by scan and asset like a finding's."""
    asset_id = event.asset.id if event.asset else ""
    return grouped_id(f"{event.context.scan_id}|{asset_id}", event.context.scan_id,
                      event.action, event.finding_key or "", asset_id,
                      _dumps(event.after or {}), event.created.isoformat())


def _dumps(doc: dict[str, Any]) -> str:
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":"), default=str)


# What readers of a finding document rely on (findings, reports, drills): a stored finding
# without one of these is damage to say, not a KeyError deep in a report.
FINDING_FIELDS = ("@timestamp", "rule.id", "result.evaluation", "sentinel.severity",
                  "sentinel.finding.key", "sentinel.title.zh", "sentinel.title.en", "host.id",
                  "organization.id")
_SEVERITIES = frozenset(s.value for s in Severity)
_SQLITE_CORRUPT, _SQLITE_FULL, _SQLITE_NOTADB = 11, 13, 26

Model = TypeVar("Model", bound=BaseModel)


def _field(doc: dict[str, Any], dotted: str) -> object:
    value: object = doc
    for part in dotted.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Decoding many documents builds many containers and no cycles; the cyclic collector
    would walk every one of them again and again (a third of the time at 100,000)."""
    paused = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if paused:
            gc.enable()


@functools.lru_cache(maxsize=4096)
def _state_parts(text: str) -> tuple[Context, Asset, Endpoint | None]:
    """A state's context, asset and endpoint, parsed once per distinct text (an asset's keys
    share them; the models are frozen, so sharing is safe)."""
    extra = json.loads(text)
    return (Context.model_validate(extra["context"]), Asset.model_validate(extra["asset"]),
            Endpoint.model_validate(extra["endpoint"]) if extra["endpoint"] else None)


def _sqlite_code(exc: sqlite3.Error) -> int | None:
    code = getattr(exc, "sqlite_errorcode", None)
    return code & 0xFF if isinstance(code, int) else None


def _is_full(exc: sqlite3.Error) -> bool:
    return _sqlite_code(exc) == _SQLITE_FULL or "disk is full" in str(exc)


def _is_damage(exc: sqlite3.Error) -> bool:
    """A store that is not what Sentinel wrote: a corrupted page, not a database, a table or
    column gone. (A locked or full store is not damage: it works again later.)"""
    text = str(exc)
    return (_sqlite_code(exc) in (_SQLITE_CORRUPT, _SQLITE_NOTADB)
            or text.startswith(("no such table", "no such column"))
            or "malformed" in text)


def _process_alive(pid: int) -> bool:
    """Whether process ``pid`` of this host still runs (a zombie does not)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: it exists
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return True
    return stat.rpartition(")")[2].split()[:1] != ["Z"]


def _unusable_path(path: Path, exc: OSError) -> StoreError | UsageError:
    """A store path that cannot be created: the file in the way, or the system's reason (a
    full disk is a fault, exit 1; a path that cannot be used is the person's, exit 2)."""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return StoreError(f"cannot create store {path}: {exc.strerror}")
    blocker = next((p for p in reversed(path.parents)
                    if os.path.exists(p) and not os.path.isdir(p)), None)
    why = f"{blocker} is a file, not a folder" if blocker else (exc.strerror or str(exc))
    return UsageError(f"cannot create store {path}: {why}")


class _Cursor:
    """A cursor whose every fetch turns a sqlite3 error into the store's StoreError."""

    def __init__(self, cursor: sqlite3.Cursor, failed: Callable[[sqlite3.Error], StoreError]):
        self._cursor = cursor
        self._failed = failed

    def fetchone(self) -> Any:
        try:
            return self._cursor.fetchone()
        except sqlite3.Error as exc:
            raise self._failed(exc) from exc

    def fetchall(self) -> list[Any]:
        try:
            return self._cursor.fetchall()
        except sqlite3.Error as exc:
            raise self._failed(exc) from exc

    def __iter__(self) -> Iterator[Any]:
        while True:
            try:
                row = self._cursor.fetchone()
            except sqlite3.Error as exc:
                raise self._failed(exc) from exc
            if row is None:
                return
            yield row


class _Connection:
    """The store's connection: every query and every fetch that fails (a corrupted page, a
    dropped table, a full disk) raises one StoreError naming the store, never sqlite3's."""

    def __init__(self, db: sqlite3.Connection,
                 failed: Callable[[sqlite3.Error], StoreError]) -> None:
        self._db = db
        self._failed = failed

    @property
    def in_transaction(self) -> bool:
        return self._db.in_transaction

    def execute(self, sql: str, params: Sequence[object] = ()) -> _Cursor:
        try:
            return _Cursor(self._db.execute(sql, params), self._failed)
        except sqlite3.Error as exc:
            raise self._failed(exc) from exc

    def executemany(self, sql: str, rows: Iterable[Sequence[object]]) -> _Cursor:
        try:
            return _Cursor(self._db.executemany(sql, rows), self._failed)
        except sqlite3.Error as exc:
            raise self._failed(exc) from exc

    def close(self) -> None:
        # What was committed is in the file (or its WAL) already; a failed close loses nothing.
        with suppress(sqlite3.Error):
            self._db.close()


class SqliteStore:
    """The embedded store. Open one per process; it is not shared across threads."""

    def __init__(self, path: Path | str, *, create: bool = True) -> None:
        self.path = Path(path)
        # Why the store was found damaged (a corrupted page, a dropped table, a document that
        # is not Sentinel's); once set, nothing more is written to it.
        self.damaged: str | None = None
        self._atomic = False  # inside atomic(): writes join its transaction
        if not create and not os.path.exists(self.path):
            raise StoreError(f"no store at {self.path}: run a scan first, or pass --store")
        existed = os.path.exists(self.path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            connection = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        except OSError as exc:
            raise _unusable_path(self.path, exc) from exc
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open store {self.path}: {exc}") from exc
        self._db = _Connection(connection, self._failed)
        try:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA foreign_keys=ON")
            self._migrate()
            self._mark_abandoned()
        except StoreError as exc:
            self._db.close()
            if existed:
                raise
            self._remove_empty()
            cause = exc.__cause__
            if isinstance(cause, sqlite3.Error) and not _is_full(cause):
                # A new store that cannot be made there: the path is the person's to change.
                raise UsageError(f"cannot create store {self.path}: {cause}") from exc
            raise

    def _remove_empty(self) -> None:
        """A store this open created but could not set up leaves nothing behind."""
        with suppress(OSError):
            if self.path.stat().st_size:
                return
            for leftover in (self.path, *(self.path.with_name(self.path.name + suffix)
                                          for suffix in ("-wal", "-shm", "-journal"))):
                leftover.unlink(missing_ok=True)

    def _failed(self, exc: sqlite3.Error, doing: str = "") -> StoreError:
        """The one StoreError for a failed query: it names the store and says what failed;
        damage also stops every later write to this store."""
        if _is_full(exc):
            return StoreError(f"store {self.path}: the disk is full ({exc}); nothing more was "
                              "written: free some space and run again")
        if _is_damage(exc):
            return self._damage(str(exc))
        return StoreError(f"store {self.path}: {exc}")

    def _damage(self, what: str) -> StoreError:
        self.damaged = self.damaged or what
        return StoreError(f"store {self.path} is damaged ({what}): nothing more is written to "
                          "it; restore it from a backup, or start a new one with --store")

    def _document(self, text: object, table: str) -> dict[str, Any]:
        """A stored document, decoded: anything but a JSON object of the right shape is
        damage to the store, said once with the store's path."""
        try:
            doc = json.loads(text) if isinstance(text, str | bytes) else None
        except ValueError as exc:
            raise self._damage(f"a document in {table} is not JSON: {exc}") from exc
        if not isinstance(doc, dict):
            raise self._damage(f"a document in {table} is not a JSON object")
        if table == "findings":
            missing = [f for f in FINDING_FIELDS if not isinstance(_field(doc, f), str)]
            if missing or _field(doc, "sentinel.severity") not in _SEVERITIES:
                lacks = (", ".join(missing[:3]) + (f" and {len(missing) - 3} more fields"
                                                   if len(missing) > 3 else "")
                         if missing else "a known severity")
                raise self._damage(f"a document in findings lacks {lacks}")
        return doc

    def _record(self, model: type[Model], text: object, table: str) -> Model:
        """A stored record (scan, heartbeat) validated by its model, or damage."""
        try:
            return model.model_validate_json(text if isinstance(text, str | bytes) else "")
        except ValueError as exc:
            reason = str(exc).splitlines()[0]
            raise self._damage(f"a record in {table} is not a valid {model.__name__}: "
                               f"{reason}") from exc

    def _mark_abandoned(self) -> None:
        """A scan this host's process left ``running`` and that process is gone (killed with
        SIGKILL, a crash, a power cut): mark it ``abandoned``, so it never looks in progress."""
        rows = self._db.execute("SELECT doc FROM scans WHERE status = 'running'").fetchall()
        host = socket.gethostname()
        for (doc,) in rows:
            record = self._record(ScanRecord, doc, "scans")
            if record.pid is None or record.host != host or _process_alive(record.pid):
                continue  # a scan through agents, another host's, or still going
            self.save_scan(record.model_copy(update={"status": "abandoned"}))

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
        if self.damaged is not None:
            raise StoreError(f"store {self.path} is damaged ({self.damaged}): Sentinel does not "
                             "write to it")
        if self._atomic:  # inside atomic(): these writes are part of its one transaction
            yield
            return
        try:
            self._db.execute("BEGIN IMMEDIATE")
            yield
            self._db.execute("COMMIT")
        except BaseException:
            if self._db.in_transaction:
                with suppress(StoreError):  # the first failure is the one to tell
                    self._db.execute("ROLLBACK")
            raise

    @contextmanager
    def atomic(self) -> Iterator[None]:
        """Every write inside is one transaction: all of them are stored, or, when anything
        inside fails (an error, an interrupt, a full disk), none. A scan records each asset
        so (observations, findings, lifecycle states, change events): a reader never sees
        an asset's findings without its states, and a scan stopped half-way leaves whole
        assets only. Not for code that awaits inside: the store is one connection."""
        if self._atomic:
            yield
            return
        with self._transaction():
            self._atomic = True
            try:
                yield
            finally:
                self._atomic = False

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
                finding_document_id(f.key, f.context.scan_id, f.asset.id),
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
        # The keys of one asset share its context, asset and endpoint (frozen models, equal
        # by value): each distinct triple is encoded once per call.
        parts: dict[tuple[Context, Asset, Endpoint | None], str] = {}

        def encoded(s: KeyState) -> str:
            triple = (s.context, s.asset, s.endpoint)
            text = parts.get(triple)
            if text is None:
                text = parts[triple] = json.dumps(
                    {
                        "context": s.context.model_dump(mode="json"),
                        "asset": s.asset.model_dump(mode="json"),
                        "endpoint": s.endpoint.model_dump(mode="json") if s.endpoint else None,
                    }
                )
            return text

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
                encoded(s),
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
        return [self._record(AgentHeartbeat, r[0], "agents") for r in rows]

    _STATE_FIELDS = ("key, check_id, asset_id, probe, status, severity, first_seen, last_seen,"
                     " reopened, state")
    _STATE_COLUMNS = f"SELECT {_STATE_FIELDS} FROM finding_state"  # noqa: S608

    def _states(self, rows: Iterable[Sequence[Any]]) -> dict[str, KeyState]:
        out: dict[str, KeyState] = {}
        for row in rows:
            try:
                out[row[0]] = self._state(row)
            except (ValueError, KeyError, TypeError) as exc:
                raise self._damage(f"a state in finding_state is not Sentinel's: "
                                   f"{type(exc).__name__}: {str(exc).splitlines()[0]}") from exc
        return out

    def states(self, keys: Iterable[tuple[str, str]] | None = None) -> dict[str, KeyState]:
        """Lifecycle state of every remembered finding key, or of the given (asset id, key)
        pairs, looked up through the table's key in batches: a report's keys never scan the
        whole table."""
        if keys is None:
            return self._states(self._db.execute(self._STATE_COLUMNS))
        out: dict[str, KeyState] = {}
        wanted = iter(dict.fromkeys(keys))
        while batch := list(islice(wanted, _BATCH)):
            pairs = ",".join("(?,?)" for _ in batch)
            out.update(self._states(self._db.execute(
                f"SELECT {self._STATE_FIELDS} FROM (VALUES {pairs}) AS wanted"  # noqa: S608
                " CROSS JOIN finding_state ON asset_id = wanted.column1"
                " AND key = wanted.column2",
                [part for pair in batch for part in pair])))
        return out

    def asset_states(self, asset_id: str) -> dict[str, KeyState]:
        """Lifecycle state of every remembered finding key of one asset (a scan's lifecycle
        step reads them asset by asset, through an index, never the whole table)."""
        return self._states(self._db.execute(f"{self._STATE_COLUMNS} WHERE asset_id = ?",
                                             (asset_id,)))

    @staticmethod
    def _state(row: Sequence[Any]) -> KeyState:
        context, asset, endpoint = _state_parts(row[9])
        return KeyState(
            row[0],
            row[1],
            row[2],
            row[3],
            FindingStatus(row[4]),
            Severity(row[5]),
            datetime.fromisoformat(row[6]),
            datetime.fromisoformat(row[7]),
            context,
            asset,
            endpoint,
            int(row[8]),
        )

    def agencies(self, scan_id: str) -> list[str]:
        """The agencies a scan observed or judged anything of, sorted."""
        rows = self._db.execute(
            "SELECT agency_id FROM observations WHERE scan_id = ? UNION "
            "SELECT agency_id FROM findings WHERE scan_id = ? ORDER BY 1", (scan_id, scan_id))
        return [r[0] for r in rows]

    def scan(self, scan_id: str) -> ScanRecord | None:
        """One scan record by id (None: no such scan)."""
        row = self._db.execute("SELECT doc FROM scans WHERE id = ?", (scan_id,)).fetchone()
        return self._record(ScanRecord, row[0], "scans") if row else None

    def scans(self) -> list[ScanRecord]:
        rows = self._db.execute("SELECT doc FROM scans ORDER BY started")
        return [self._record(ScanRecord, r[0], "scans") for r in rows]

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
        return self._record(ScanRecord, row[0], "scans") if row else None

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
        with _gc_paused():
            return list(self.iter_findings(scan_id=scan_id, agency_id=agency_id,
                                           check_id=check_id, min_severity=min_severity,
                                           evaluations=evaluations))

    def iter_findings(
        self,
        *,
        scan_id: str | None = None,
        agency_id: str | None = None,
        check_id: str | None = None,
        segment_id: str | None = None,
        min_severity: Severity | None = None,
        evaluations: Sequence[str] = ("failed", "error"),
    ) -> Iterator[dict[str, Any]]:
        """``findings()`` one document at a time, in the same order, read from the cursor as
        the caller asks (memory flat in the number of findings; issue 20)."""
        marks = ",".join("?" * len(evaluations))
        clauses, params = [f"evaluation IN ({marks})"], list(evaluations)
        for column, value in (
            ("scan_id", scan_id),
            ("agency_id", agency_id),
            ("check_id", check_id),
            ("segment_id", segment_id),
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
        for row in self._db.execute(sql, params):
            yield self._document(row[0], "findings")

    def finding_keys(self, scan_id: str, agency_id: str, evaluations: Sequence[str] = ("failed",)
                     ) -> dict[str, tuple[str, str, int | None, str]]:
        """Key -> (check id, host name or id, port, severity) of an agency's findings in a
        scan, in ``findings()`` order: what a report says of a finding it only counts or
        names, read in SQL without decoding the documents (issue 20)."""
        marks = ",".join("?" * len(evaluations))
        # Only the placeholders are joined in; every value is a bound parameter.
        sql = ("SELECT key, check_id, json_extract(doc, '$.host.name'), json_extract(doc,"  # noqa: S608
               " '$.host.id'), json_extract(doc, '$.destination.port'), severity FROM findings"
               f" WHERE scan_id = ? AND agency_id = ? AND evaluation IN ({marks})"
               " ORDER BY severity_rank, check_id, asset_id")
        rows = self._db.execute(sql, (scan_id, agency_id, *evaluations))
        return {key: (check, str(name or host), port, severity)
                for key, check, name, host, port, severity in rows}

    def agency_assets(self, scan_id: str, agency_id: str) -> list[dict[str, Any]]:
        """Asset documents (observations) of one agency in one scan, filtered in SQL."""
        rows = self._db.execute("SELECT doc FROM observations WHERE scan_id = ? AND"
                                " agency_id = ? ORDER BY id", (scan_id, agency_id))
        with _gc_paused():
            return [self._document(r[0], "observations") for r in rows]

    def has_segment(self, scan_id: str, segment_id: str) -> bool:
        """Whether a scan judged anything in this segment (a finding of any evaluation)."""
        row = self._db.execute("SELECT 1 FROM findings WHERE scan_id = ? AND segment_id = ?"
                               " LIMIT 1", (scan_id, segment_id)).fetchone()
        return row is not None

    def add_ack(self, drill_id: str, agency_id: str, inject_id: str, *, at: datetime, by: str,
                source: str = "cli") -> None:
        """Record an agency's acknowledgement of a drill inject (idempotent per moment)."""
        with self._transaction():
            self._db.execute("INSERT OR REPLACE INTO drill_acks VALUES (?, ?, ?, ?, ?, ?)",
                             (drill_id, agency_id, inject_id, at.astimezone(UTC).isoformat(),
                              by, source))

    def acks(self, drill_id: str) -> list[tuple[str, str, datetime, str, str]]:
        """(agency, inject, at, by, source) of a drill's acknowledgements, earliest first."""
        rows = self._db.execute("SELECT agency_id, inject_id, at, by, source FROM drill_acks "
                                "WHERE drill_id = ? ORDER BY at, agency_id, inject_id",
                                (drill_id,))
        return [(a, i, datetime.fromisoformat(t), b, src) for a, i, t, b, src in rows]

    def events(self, scan_id: str | None = None) -> list[dict[str, Any]]:
        sql, params = "SELECT doc FROM events", []
        if scan_id is not None:
            sql, params = sql + " WHERE scan_id = ?", [scan_id]
        return [self._document(r[0], "events")
                for r in self._db.execute(sql + " ORDER BY created", params)]

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
            yield doc_id, self._document(doc, table)

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
        with _gc_paused():
            return [self._document(r[0], "observations") for r in rows]

    def coverage(self, scan_id: str) -> set[tuple[str, str]]:
        """(asset id, probe) pairs whose probe completed at least once in the scan."""
        rows = self._db.execute(
            "SELECT DISTINCT asset_id, probe FROM observations"
            " WHERE scan_id = ? AND status = 'completed'",
            (scan_id,),
        )
        return {(r[0], r[1]) for r in rows}

    def open_states(self, agency_id: str | None = None) -> list[KeyState]:
        """States not resolved (of one agency), filtered in SQL."""
        sql, params = f"{self._STATE_COLUMNS} WHERE status != 'resolved'", []
        if agency_id is not None:
            sql, params = sql + " AND agency_id = ?", [agency_id]
        return [s for s in self._states(self._db.execute(sql, params)).values()
                if agency_id is None or s.context.agency_id == agency_id]
