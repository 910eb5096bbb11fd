"""What travels between the coordinator and its agents: work units, results, heartbeats.

Every message body is a JSON object signed with HMAC-SHA256 over its canonical form (keys
sorted, no spaces, UTF-8) with the deployment's agent key; the envelope is
``{"v": PROTOCOL, "body": {...}, "sig": "<hex>"}``. A receiver checks the signature before it
reads anything else, then the protocol version, then the content (strict models: an unknown
field is a refusal, not a guess).

A unit names *what* to probe (segment, probe kind, the assets and endpoints of one shard);
the agent decides *how* from its own playbook (the probe's configuration, the scope, the rate
limits), so a unit can never widen what an agent's playbook authorises. A result carries one
attempt per job of its unit, in the unit's order, and nothing that names a target: the
coordinator rebuilds each observation's identity from its own plan, so finding keys are those
of an in-process scan and an agent cannot speak for an asset it was not given.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import stat
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Final, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from sentinel.errors import ErrorReason, UnitRefused, UsageError
from sentinel.model import AgentHeartbeat, Asset, AttemptStatus

# The work unit format's version. An agent refuses a unit of any other version: a change to
# the unit, result or heartbeat bodies that an older peer could misread bumps it.
# 2: sweep units (the discovery phase) and a result's ``link`` (local-link discovery).
PROTOCOL: Final = 2
ALGORITHM = "HMAC-SHA256"
KEY_ENV = "SENTINEL_AGENT_KEY"
KEY_FILE_ENV = "SENTINEL_AGENT_KEY_FILE"
MIN_KEY_BYTES = 32

# Names on the broker (vhost-wide). Segment ids are ``[a-z0-9][a-z0-9_-]*`` (no dots), scan ids
# below: both are safe as words of a topic routing key.
TASK = "sentinel.agent.run_unit"
UNITS_EXCHANGE = "sentinel.units"  # topic: sentinel.seg.<segment>.<scan>
DEAD_EXCHANGE = "sentinel.dlx"  # topic: dead-lettered units keep their routing key
HEARTBEAT_EXCHANGE = "sentinel.heartbeats"  # fanout
HEARTBEAT_QUEUE = "sentinel.heartbeats"
# A unit is dead-lettered once it has been returned (failed, or its agent lost) more than this.
DELIVERY_LIMIT = 3
# The discovery phase's probe kind: which of the unit's addresses are alive (the agent's
# playbook's ``probes.discovery`` methods) and, from an agent on the segment's link, what
# only the link shows (ARP, ff02::1, router advertisements).
SWEEP = "sweep"
SCAN_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")

Word = Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")]


def segment_queue(segment: str) -> str:
    return f"sentinel.seg.{segment}"


def unit_routing_key(segment: str, scan_id: str) -> str:
    return f"sentinel.seg.{segment}.{scan_id}"


def results_queue(scan_id: str) -> str:
    return f"sentinel.results.{scan_id}"


def dead_queue(scan_id: str) -> str:
    return f"sentinel.dead.{scan_id}"


# -- the key and signatures --------------------------------------------------------------


def load_key(environ: dict[str, str] | None = None) -> bytes:
    """The deployment's agent key: ``$SENTINEL_AGENT_KEY``, else the file named by
    ``$SENTINEL_AGENT_KEY_FILE`` (owned by this user, mode 0600 or stricter)."""
    env = os.environ if environ is None else environ
    if env.get(KEY_ENV):
        key = env[KEY_ENV].encode()
        source = f"${KEY_ENV}"
    elif env.get(KEY_FILE_ENV):
        path = Path(env[KEY_FILE_ENV])
        try:
            info = path.stat()
            key = path.read_bytes().strip()
        except OSError as exc:
            raise UsageError(f"${KEY_FILE_ENV} {path}: {exc.strerror or exc}") from None
        if info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise UsageError(f"${KEY_FILE_ENV} {path}: readable by others "
                             f"(mode {stat.S_IMODE(info.st_mode):04o}); chmod 600 it")
        if info.st_uid != os.geteuid():
            raise UsageError(f"${KEY_FILE_ENV} {path}: not owned by this user")
        source = str(path)
    else:
        raise UsageError(f"no agent key: set ${KEY_ENV} or ${KEY_FILE_ENV} (a 0600 file) to "
                         "the secret shared by the coordinator and its agents")
    if len(key) < MIN_KEY_BYTES:
        raise UsageError(f"agent key from {source} is {len(key)} bytes; at least "
                         f"{MIN_KEY_BYTES} are needed (e.g. openssl rand -hex 32)")
    return key


def canonical(body: dict[str, Any]) -> bytes:
    """The bytes a signature covers: sorted keys, no whitespace, UTF-8, no NaN."""
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False).encode()


def _mac(body: dict[str, Any], key: bytes) -> str:
    return hmac.new(key, canonical(body), hashlib.sha256).hexdigest()


def seal(body: dict[str, Any], key: bytes) -> dict[str, Any]:
    """The signed envelope of ``body``."""
    return {"v": PROTOCOL, "alg": ALGORITHM, "body": body, "sig": _mac(body, key)}


def opened(envelope: object, key: bytes) -> dict[str, Any]:
    """The body of a signed envelope, or :class:`UnitRefused`: unsigned, altered, or of
    another protocol version (checked after the signature, on the signed body)."""
    if not isinstance(envelope, dict) or not isinstance(envelope.get("body"), dict):
        raise UnitRefused("not a signed envelope")
    sig = envelope.get("sig")
    if not isinstance(sig, str) or not sig:
        raise UnitRefused("unsigned")
    body: dict[str, Any] = envelope["body"]
    try:
        expected = _mac(body, key)
    except (TypeError, ValueError):
        raise UnitRefused("body is not canonical JSON") from None
    if not hmac.compare_digest(sig, expected):
        raise UnitRefused("bad signature (altered, or signed with another key)")
    version = body.get("v")
    if version != PROTOCOL:
        raise UnitRefused(f"protocol version {version!r}; this Sentinel speaks {PROTOCOL}")
    return body


# -- bodies --------------------------------------------------------------------------------


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class JobSpec(_Strict):
    """One job of a unit: an endpoint of an asset (``port`` None: a host-level kind)."""

    asset: Asset
    address: str
    port: Annotated[int, Field(ge=1, le=65535)] | None = None
    server_name: str | None = None


class Share(_Strict):
    """The unit's share of the scan's rate budget: the coordinator divides the playbook's
    limits among the live agents (counted as the consumers of the segments' queues when it
    publishes), so that every agent together stays within them; the agent enforces the
    lower of its share and its own playbook's limits."""

    packets_per_second: Annotated[float, Field(gt=0, le=100_000)]
    connections_per_host: Annotated[int, Field(ge=1, le=64)]
    concurrent_hosts: Annotated[int, Field(ge=1, le=1024)]
    agents: Annotated[int, Field(ge=1)]  # the live agents the scan's budget was divided among


class WorkUnit(_Strict):
    """Segment × address shard × probe family: the jobs of one probe kind on the assets of
    one shard of one segment, within ``budget_s`` seconds."""

    v: Literal[2] = PROTOCOL
    kind: Literal["unit"] = "unit"
    id: Word
    scan: Word
    drill: str | None = None
    segment: Word
    probe: Word
    shard: Annotated[int, Field(ge=0)]
    budget_s: Annotated[float, Field(gt=0, le=86_400)]
    jobs: tuple[JobSpec, ...]
    # None (a coordinator before shares): the agent applies its own playbook's limits. An
    # older agent refuses a unit with a share (an unknown field), it never ignores it.
    share: Share | None = None


class JobResult(_Strict):
    """How one job ended, without its target (the coordinator knows it by position)."""

    status: AttemptStatus
    reason: ErrorReason | None = None
    detail: str | None = None
    facts: dict[str, Any] = Field(default_factory=dict)
    started: datetime
    duration_ms: float = 0.0
    traceback: str | None = None


class UnitResult(_Strict):
    """What an agent returns for one unit: one result per job, in the unit's order."""

    v: Literal[2] = PROTOCOL
    kind: Literal["result"] = "result"
    unit: Word
    scan: Word
    agent: str
    results: tuple[JobResult, ...]
    connections: int = 0
    refusals: tuple[tuple[str, str], ...] = ()  # (address, reason) the agent's gate refused
    # A sweep unit's local-link discovery from the agent's own interface on the segment
    # (:func:`sentinel.probes.discovery.discover_segment`), when it has one.
    link: dict[str, Any] | None = None


class HeartbeatBody(_Strict):
    v: Literal[2] = PROTOCOL
    kind: Literal["heartbeat"] = "heartbeat"
    beat: AgentHeartbeat


Body = WorkUnit | UnitResult | HeartbeatBody
M = TypeVar("M", bound=BaseModel)


def to_body(model: Body) -> dict[str, Any]:
    """A model as the JSON-able dict that is signed and sent."""
    return model.model_dump(mode="json")


def read_unit(envelope: object, key: bytes) -> WorkUnit:
    return _read(envelope, key, WorkUnit)


def read_result(envelope: object, key: bytes) -> UnitResult:
    return _read(envelope, key, UnitResult)


def read_heartbeat(envelope: object, key: bytes) -> AgentHeartbeat:
    return _read(envelope, key, HeartbeatBody).beat


def _read(envelope: object, key: bytes, model: type[M]) -> M:
    body = opened(envelope, key)
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise UnitRefused(f"malformed {model.__name__} ({where}: {first['msg']})") from None
