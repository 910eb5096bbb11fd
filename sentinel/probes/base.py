"""The one interface every probe kind implements, and the only door to the network.

A probe receives a :class:`Target` and a :class:`Network`; it returns facts (plain JSON-able
values) or raises :class:`~sentinel.errors.ProbeError`. It never opens sockets itself: the
:class:`Network` it is handed passes every connection through the scan's gate (scope, then
budget), so no probe kind can send outside scope or past the rate limits.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

from sentinel.errors import ErrorReason, ProbeError
from sentinel.model import Asset, Context, Endpoint
from sentinel.playbook import Segment
from sentinel.scope import Gate

Stream = tuple[asyncio.StreamReader, asyncio.StreamWriter]
Connector = Callable[[], AbstractAsyncContextManager[Stream]]


@dataclass(frozen=True)
class Target:
    """One endpoint to probe, with the asset it belongs to and who owns it."""

    endpoint: Endpoint
    asset: Asset
    context: Context
    segment: Segment
    server_name: str | None = None


class Network:
    """Connections for probes, each one authorised and paid for through the gate."""

    def __init__(self, gate: Gate, connect_timeout: float) -> None:
        self.gate = gate
        self.connect_timeout = connect_timeout

    @asynccontextmanager
    async def tcp(self, address: str, port: int) -> AsyncIterator[Stream]:
        """One TCP connection; connection failures become :class:`ProbeError`."""
        async with self.gate.connection(address):
            try:
                reader, writer = await asyncio.wait_for(
                    asyncio.open_connection(address, port), self.connect_timeout
                )
            except TimeoutError:
                raise ProbeError(ErrorReason.TIMEOUT, f"connect to port {port} timed out") from None
            except ConnectionRefusedError:
                raise ProbeError(ErrorReason.REFUSED, f"port {port} refused") from None
            except OSError as exc:
                raise ProbeError(ErrorReason.UNREACHABLE, f"port {port}: {exc.strerror}") from None
            try:
                yield reader, writer
            finally:
                writer.close()
                # The peer may already be gone; there is nothing left to release then.
                with contextlib.suppress(OSError, TimeoutError):
                    await asyncio.wait_for(writer.wait_closed(), 1.0)

    def connector(self, address: str, port: int) -> Connector:
        """A factory of gated connections to one endpoint (for multi-connection probes)."""
        return lambda: self.tcp(address, port)


class Probe(Protocol):
    """A probe kind: one module in ``sentinel/probes``, one connection per job or a few."""

    kind: ClassVar[str]

    async def run(self, target: Target, network: Network) -> dict[str, Any]:
        """Observe one target and return facts, or raise ProbeError."""
        ...
