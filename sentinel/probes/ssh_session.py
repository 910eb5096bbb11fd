"""The unencrypted start of an SSH session over an asyncio stream, shared by the ssh probes.

Reads the server's identification and its binary packets with the caps of
:mod:`sentinel.wire.ssh`: at most :data:`MAX_BUFFER` bytes buffered, at most
:data:`MAX_PACKETS` IGNORE/DEBUG messages skipped before an awaited one. A DISCONNECT from
the server becomes a :class:`~sentinel.errors.ProbeError` carrying its (untrusted) text.
"""

from __future__ import annotations

import asyncio

from sentinel.errors import DecodeError, ErrorReason, ProbeError
from sentinel.wire import ssh as wire

READ_CHUNK = 4096
MAX_BUFFER = 64 * 1024  # banner prelude plus a few packets; a server sending more is hostile
MAX_PACKETS = 8  # IGNORE/DEBUG messages a server may send before the one we wait for
MSG_IGNORE, MSG_DEBUG = 2, 4


class SshSession:
    """Cleartext packets in and out of one connection (nothing here encrypts)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer
        self._buffer = b""

    async def _more(self, waiting_for: str) -> None:
        chunk = await self._reader.read(READ_CHUNK)
        if not chunk:
            raise ProbeError(ErrorReason.PROTOCOL, f"server closed before its {waiting_for}")
        if len(self._buffer) + len(chunk) > MAX_BUFFER:
            raise ProbeError(ErrorReason.PROTOCOL, f"over {MAX_BUFFER} bytes before {waiting_for}")
        self._buffer += chunk

    async def banner(self) -> wire.Banner:
        """The server's identification (lines before it kept in the banner)."""
        found = wire.find_banner(self._buffer)
        while found is None:
            await self._more("identification")
            found = wire.find_banner(self._buffer)
        banner, used = found
        self._buffer = self._buffer[used:]
        return banner

    async def send(self, *payloads: bytes, prefix: bytes = b"") -> None:
        """``prefix`` (our identification) and each payload in its own packet."""
        self._writer.write(prefix + b"".join(wire.frame(p) for p in payloads))
        await self._writer.drain()

    async def packet(self, waiting_for: str) -> bytes:
        """The next payload that is not IGNORE or DEBUG."""
        for _ in range(MAX_PACKETS):
            found = wire.unframe(self._buffer)
            while found is None:
                await self._more(waiting_for)
                found = wire.unframe(self._buffer)
            payload, used = found
            self._buffer = self._buffer[used:]
            if not payload:
                raise DecodeError(wire.LAYER, "empty packet payload")
            if payload[0] == wire.MSG_DISCONNECT:
                code, text = wire.decode_disconnect(payload)
                raise ProbeError(ErrorReason.PROTOCOL,
                                 f"server disconnected before its {waiting_for}: {code} {text!r}")
            if payload[0] not in (MSG_IGNORE, MSG_DEBUG):
                return payload
        raise DecodeError(wire.LAYER, f"no {waiting_for} in the first {MAX_PACKETS} packets")

    async def kexinit(self) -> wire.KexInit:
        """The server's KEXINIT (any other message first is a protocol error)."""
        payload = await self.packet("KEXINIT")
        if payload[0] != wire.MSG_KEXINIT:
            raise DecodeError(wire.LAYER, f"message {payload[0]} before KEXINIT")
        return wire.decode_kexinit(payload)
