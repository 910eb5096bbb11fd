"""The one interface every probe kind implements, and the only door to the network.

A probe receives a :class:`Target` and a :class:`Network`; it returns facts (plain JSON-able
values) or raises :class:`~sentinel.errors.ProbeError`. It never opens sockets itself: the
:class:`Network` it is handed passes every connection through the scan's gate (scope, then
budget), so no probe kind can send outside scope or past the rate limits.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple, Protocol

from sentinel.errors import ErrorReason, ProbeError
from sentinel.scope import Gate

if TYPE_CHECKING:
    from sentinel.model import Asset, Context, Endpoint
    from sentinel.playbook import Segment

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
        async with self.gate.connection(address) as destination:
            with _connect_errors(port):
                async with asyncio.timeout(self.connect_timeout):
                    reader, writer = await asyncio.open_connection(destination, port)
            try:
                yield reader, writer
            finally:
                writer.close()
                # The peer may already be gone; there is nothing left to release then.
                with contextlib.suppress(OSError, TimeoutError):
                    async with asyncio.timeout(1.0):
                        await writer.wait_closed()

    @asynccontextmanager
    async def protocol(self, address: str, port: int, factory: Callable[[], asyncio.Protocol]
                       ) -> AsyncIterator[asyncio.BaseTransport]:
        """One TCP connection driven by an asyncio protocol (no stream objects: the cheap way
        for a probe that sends one message and parses one answer); closed on exit."""
        async with self.gate.connection(address) as destination:
            loop = asyncio.get_running_loop()
            with _connect_errors(port):
                async with asyncio.timeout(self.connect_timeout):
                    transport, _ = await loop.create_connection(factory, destination, port)
            try:
                yield transport
            finally:
                transport.close()

    def connector(self, address: str, port: int) -> GatedConnector:
        """A factory of gated connections to one endpoint (for multi-connection probes)."""
        return GatedConnector(self, address, port)

    async def udp_exchange(self, address: str, port: int, payload: bytes,
                           timeout: float) -> bytes | None:
        """Send one datagram (authorised, one token) and return the first reply, or None.

        Only a datagram from the address and port we sent to counts as the reply; an ICMP
        port unreachable becomes a REFUSED :class:`ProbeError`.
        """
        destination = await self.gate.packets(address)
        loop = asyncio.get_running_loop()
        reply: asyncio.Future[bytes] = loop.create_future()
        try:
            transport, _ = await loop.create_datagram_endpoint(
                lambda: _OneReply(reply), remote_addr=(destination, port))
        except OSError as exc:
            raise ProbeError(ErrorReason.UNREACHABLE, f"udp {port}: {exc.strerror}") from None
        try:
            transport.sendto(payload)
            return await asyncio.wait_for(reply, timeout)
        except TimeoutError:
            return None
        except ConnectionRefusedError:
            raise ProbeError(ErrorReason.REFUSED, f"udp port {port} unreachable") from None
        finally:
            transport.close()


class GatedConnector:
    """Connections to one endpoint through the gate: call it for streams, or
    :meth:`open_protocol` for a protocol-driven exchange."""

    def __init__(self, network: Network, address: str, port: int) -> None:
        self.network = network
        self.address = address
        self.port = port

    def __call__(self) -> AbstractAsyncContextManager[Stream]:
        return self.network.tcp(self.address, self.port)

    def open_protocol(self, factory: Callable[[], asyncio.Protocol]
                      ) -> AbstractAsyncContextManager[asyncio.BaseTransport]:
        return self.network.protocol(self.address, self.port, factory)


@contextlib.contextmanager
def _connect_errors(port: int) -> Iterator[None]:
    """Connection failures as :class:`ProbeError` with their reason."""
    try:
        yield
    except TimeoutError:
        raise ProbeError(ErrorReason.TIMEOUT, f"connect to port {port} timed out") from None
    except ConnectionRefusedError:
        raise ProbeError(ErrorReason.REFUSED, f"port {port} refused") from None
    except OSError as exc:
        raise ProbeError(ErrorReason.UNREACHABLE, f"port {port}: {exc.strerror}") from None


class _OneReply(asyncio.DatagramProtocol):
    """Resolves a future with the first datagram (a connected socket filters the sender)."""

    def __init__(self, reply: asyncio.Future[bytes]) -> None:
        self.reply = reply

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        if not self.reply.done():
            self.reply.set_result(data)

    def error_received(self, exc: Exception) -> None:
        if not self.reply.done():
            self.reply.set_exception(exc)


class Probe(Protocol):
    """A probe kind: one module in ``sentinel/probes``, one connection per job or a few.

    ``kind`` names it (``probes/kinds.yml`` lists the kinds the planner runs), ``transport``
    is what its endpoints speak and ``budget_s`` the engine's time limit for one job.
    """

    kind: ClassVar[str]
    transport: ClassVar[str]

    @property
    def budget_s(self) -> float:
        """The engine's time limit for one job of this kind."""
        ...

    async def run(self, target: Target, network: Network) -> dict[str, Any]:
        """Observe one target and return facts, or raise ProbeError."""
        ...


class Planned(NamedTuple):
    """A probe kind as one playbook configures it: the probe and the ports it targets (none:
    the kind runs once per address)."""

    probe: Probe
    ports: tuple[int, ...]
