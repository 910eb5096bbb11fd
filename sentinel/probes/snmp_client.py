"""A thin, gated wrapper over pysnmp 7 (asyncio): GET and bulk walks with numeric OIDs.

pysnmp opens its own UDP sockets, so this wrapper is where the gate is paid instead: every
request is authorised and costs ``1 + retries`` tokens (one per datagram it may send) before
pysnmp sends it. pysnmp's errors are translated here into short, secret-free strings; its
``UsmUserData`` masks keys in its repr, and we never format one into a message anyway.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias

from pyasn1.type import univ
from pysnmp.carrier.asyncio.dispatch import AsyncioDispatcher
from pysnmp.hlapi.v3arch import asyncio as hlapi

from sentinel.probe_options import ResolvedV3
from sentinel.scope import Gate

AUTH = {"MD5": hlapi.USM_AUTH_HMAC96_MD5, "SHA": hlapi.USM_AUTH_HMAC96_SHA,
        "SHA-224": hlapi.USM_AUTH_HMAC128_SHA224, "SHA-256": hlapi.USM_AUTH_HMAC192_SHA256,
        "SHA-384": hlapi.USM_AUTH_HMAC256_SHA384, "SHA-512": hlapi.USM_AUTH_HMAC384_SHA512}
PRIV = {"DES": hlapi.USM_PRIV_CBC56_DES, "3DES": hlapi.USM_PRIV_CBC168_3DES,
        "AES": hlapi.USM_PRIV_CFB128_AES, "AES-192": hlapi.USM_PRIV_CFB192_AES,
        "AES-256": hlapi.USM_PRIV_CFB256_AES}
Auth: TypeAlias = hlapi.CommunityData | hlapi.UsmUserData


@dataclass(frozen=True)
class Reply:
    """One request's outcome: values by OID, or a short error (timeout, authorizationError)."""

    values: dict[str, Any]
    error: str | None = None


def community(name: str, version: str) -> hlapi.CommunityData:
    """v1 (mpModel 0) or v2c (mpModel 1) access with a community."""
    return hlapi.CommunityData(name, mpModel=0 if version == "v1" else 1)


def usm(credential: ResolvedV3, level: str) -> hlapi.UsmUserData:
    """USM access for ``credential`` at ``level`` (a lower level drops the keys it omits)."""
    # The lower levels are sent on purpose: an agent that answers them is the finding.
    if level == "noAuthNoPriv" or credential.auth_key is None:
        return hlapi.UsmUserData(credential.user)  # noqa: S509
    auth = {"authKey": credential.auth_key.get_secret_value(),
            "authProtocol": AUTH[credential.auth_protocol or "SHA-256"]}
    if level == "authPriv" and credential.priv_key is not None:
        return hlapi.UsmUserData(credential.user, privKey=credential.priv_key.get_secret_value(),
                                 privProtocol=PRIV[credential.priv_protocol or "AES"], **auth)
    return hlapi.UsmUserData(credential.user, **auth)  # noqa: S509


def _value(value: Any) -> Any:
    """SNMP values as JSON-able Python values (OIDs and strings as text, numbers as int)."""
    # pysnmp hands back pyasn1 base types for some syntaxes (OIDs), its own for others.
    if isinstance(value, univ.ObjectIdentifier):
        return str(value)
    if isinstance(value, univ.OctetString):
        raw = bytes(value)
        return raw.decode("utf-8", errors="replace") if raw.isascii() else raw.hex()
    if isinstance(value, univ.Integer):  # Counter32, Gauge32, TimeTicks... derive from it
        return int(value)
    return None  # noSuchObject / noSuchInstance / endOfMibView


def _error(indication: Any, status: Any) -> str | None:
    if indication:
        return type(indication).__name__ if not isinstance(indication, str) else indication
    if status and int(status):
        return str(status.prettyPrint())
    return None


class QuietDispatcher(AsyncioDispatcher):  # type: ignore[misc]
    """pysnmp's asyncio dispatcher, except that a datagram pysnmp cannot take (random bytes,
    a truncated or mis-typed message: pyasn1 raises TypeError or worse deep in its decoder) is
    dropped. pysnmp hands each datagram to the event loop as a callback, so its exception
    would otherwise reach the loop's handler and be printed as a traceback; the request
    still ends as pysnmp decides (an answer that does parse, or a timeout)."""

    dropped = 0

    def _callback_function(self, transport: Any, address: Any, message: Any) -> None:
        try:
            super()._callback_function(transport, address, message)
        except Exception:  # any failure to take one datagram drops that datagram
            self.dropped += 1


class SnmpClient:
    """One pysnmp engine per probe job, closed when the job ends."""

    def __init__(self, gate: Gate, address: str, port: int, timeout: float, retries: int):
        self.gate = gate
        self.address = address
        self.port = port
        self.timeout = timeout
        self.retries = retries
        self.engine = hlapi.SnmpEngine()
        self._target: Any = None

    async def _transport(self) -> Any:
        if self._target is None:
            if self.engine.transport_dispatcher is None:  # before pysnmp makes its own
                self.engine.register_transport_dispatcher(
                    QuietDispatcher(loop=asyncio.get_running_loop()))
            destination = self.gate.authorise(self.address)  # canonical: ::ffff:a.b.c.d is v4
            kind = hlapi.Udp6TransportTarget if ":" in destination else hlapi.UdpTransportTarget
            self._target = await kind.create((destination, self.port), timeout=self.timeout,
                                             retries=self.retries)
        return self._target

    async def get(self, auth: Auth, oids: Sequence[str]) -> Reply:
        """One GET for ``oids``; the gate is paid first."""
        await self.gate.packets(self.address, 1 + self.retries)
        indication, status, _index, binds = await hlapi.get_cmd(
            self.engine, auth, await self._transport(), hlapi.ContextData(),
            *(hlapi.ObjectType(hlapi.ObjectIdentity(o)) for o in oids), lookupMib=False)
        error = _error(indication, status)
        if error:
            return Reply({}, error)
        return Reply({str(name): _value(value) for name, value in binds})

    async def walk(self, auth: Auth, root: str, max_rows: int, repetitions: int) -> Reply:
        """A GETBULK walk under ``root``, paying the gate before every request."""
        rows: dict[str, Any] = {}
        walker = hlapi.bulk_walk_cmd(
            self.engine, auth, await self._transport(), hlapi.ContextData(), 0, repetitions,
            hlapi.ObjectType(hlapi.ObjectIdentity(root)), lexicographicMode=False,
            lookupMib=False)
        try:
            while len(rows) < max_rows:
                await self.gate.packets(self.address, 1 + self.retries)
                try:
                    indication, status, _index, binds = await anext(walker)
                except StopAsyncIteration:
                    break
                error = _error(indication, status)
                if error:
                    return Reply(rows, error)
                rows.update((str(name), _value(value)) for name, value in binds)
        finally:
            await walker.aclose()
        return Reply(rows, "truncated" if len(rows) >= max_rows else None)

    def close(self) -> None:
        """Release pysnmp's sockets."""
        self.engine.close_dispatcher()
