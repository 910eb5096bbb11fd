"""Sentinel's one exception tree.

    SentinelError
    ├── InputError            bad input from a person: exit status 2, nothing written
    │   ├── PlaybookError     a playbook, inventory or drill file (carries file, line, field)
    │   ├── CatalogError      a data file under probes/, rules/, playbooks/ (file, line, field)
    │   └── UsageError        a command-line flag or target that cannot be used
    ├── ScopeRefused          a network action outside the authorised scope (also audited)
    ├── DecodeError           bytes from a server that do not parse (typed; offset, layer)
    ├── ProbeError            a probe that could not complete (reason enum, detail)
    ├── StoreError            the embedded store (SQLite) failed or has an unknown schema
    ├── ReportError           a report could not be rendered (PDF engine missing or failed)
    ├── SinkError             Elasticsearch rejected documents or setup failed
    │   └── SpoolFullError    the disk spool hit its cap while Elasticsearch was down
    ├── LabError              the lab could not be built, torn down or inspected
    └── BrokerError           the agents' broker (RabbitMQ) could not be reached or used
        └── UnitRefused       an agent refused a work unit (signature, version, scope)

Third-party exceptions are translated into these at the boundary where they occur; only the
command line prints errors, and it takes the exit status from the error's ``exit_status``
(SentinelError 1, InputError and ScopeRefused 2) in one place, ``sentinel.cli.output``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class SentinelError(Exception):
    """Base of every error Sentinel raises on purpose.

    ``exit_status`` is the command line's exit status for the error (the one mapping, read by
    :func:`sentinel.cli.output.fail`): 1 for a runtime fault, 2 for bad input or a refusal.
    """

    exit_status = 1


@dataclass(frozen=True)
class SourceLocation:
    """Where in a person's file an input error was found (1-based line and column)."""

    file: str
    line: int | None = None
    column: int | None = None
    field: str | None = None

    def __str__(self) -> str:
        where = self.file
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        if self.field:
            where += f": {self.field}"
        return where


class InputError(SentinelError):
    """Bad input from a person. The CLI exits with status 2 and writes nothing."""

    exit_status = 2

    def __init__(self, message: str, location: SourceLocation | None = None) -> None:
        self.message = message
        self.location = location
        super().__init__(f"{location}: {message}" if location else message)


class PlaybookError(InputError):
    """A playbook, inventory or drill file that does not validate."""


class CatalogError(InputError):
    """A shipped or overlaid data file that does not validate."""


class UsageError(InputError):
    """A command-line flag, target or option that cannot be used as given."""


class ScopeRefused(SentinelError):
    """A network action that the scope forbids; the refusal is also an audit event."""

    exit_status = 2

    def __init__(self, target: str, reason: str) -> None:
        self.target = target
        self.reason = reason
        super().__init__(f"refused {target}: {reason}")


class DecodeError(SentinelError):
    """Bytes from a server that do not parse. Raised by the wire codecs, never a crash."""

    def __init__(self, layer: str, message: str, offset: int | None = None) -> None:
        self.layer = layer
        self.offset = offset
        where = f" at byte {offset}" if offset is not None else ""
        super().__init__(f"{layer}: {message}{where}")


class ErrorReason(StrEnum):
    """Why a probe attempt ended in error; stable values that reports and rules can use."""

    TIMEOUT = "timeout"
    REFUSED = "refused"
    UNREACHABLE = "unreachable"
    RESET = "reset"
    PROTOCOL = "protocol"
    SCOPE = "scope"
    WINDOW = "window"
    UNSUPPORTED = "unsupported"
    INTERNAL = "internal"
    UNFINISHED = "unfinished"  # a scan through agents: the job's work unit never ran to the end


class ProbeError(SentinelError):
    """A probe that could not complete; the engine records it as an attempt in error."""

    def __init__(self, reason: ErrorReason, detail: str) -> None:
        self.reason = reason
        self.detail = detail
        super().__init__(f"{reason.value}: {detail}")


class StoreError(SentinelError):
    """The embedded store failed, or its schema is newer than this Sentinel knows."""


class ReportError(SentinelError):
    """A report could not be rendered (PDF engine missing or failed)."""


class LabError(SentinelError):
    """The lab could not be built, torn down or inspected."""


class SinkError(SentinelError):
    """Elasticsearch could not take documents (rejected, or setup failed). The message
    never carries credentials."""


class SpoolFullError(SinkError):
    """The disk spool reached its size cap while Elasticsearch was unreachable."""

    def __init__(self, spool_dir: str, cap_bytes: int) -> None:
        self.spool_dir = spool_dir
        self.cap_bytes = cap_bytes
        super().__init__(
            f"spool {spool_dir} is full ({cap_bytes} bytes) while Elasticsearch is"
            " unreachable: the unsent batch stays in memory; bring Elasticsearch back or"
            " raise the spool cap"
        )


class BrokerError(SentinelError):
    """The agents' broker could not be reached or refused an operation. The message never
    carries credentials."""


class UnitRefused(BrokerError):
    """An agent refused a work unit: unsigned, altered, of another protocol version, for a
    segment it does not serve, or reaching outside its own playbook's scope. Nothing of the
    unit was sent."""

    exit_status = 2

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(f"work unit refused: {reason}")
