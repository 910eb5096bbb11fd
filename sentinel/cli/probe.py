"""``sentinel probe``: one probe kind against named endpoints, the full observation as JSON.

The person naming the targets authorises exactly those addresses, nothing else: the gate's
scope is the addresses (/32 or /128 each), every one of them must lie inside the probe scope
(probes/scope.yml ``probe_authorised``, SENTINEL_PROBE_SCOPE or ``--scope``), and the
organisation's global deny list still wins. Targets are IP literals (``198.18.10.10:443``,
``[2001:db8:10::10]:443``); a name for SNI is given with ``--sni``, so nothing is resolved
behind the person's back.

This module starts fast on purpose (a one-endpoint ``probe tls`` is a short command): the
document model, playbooks and pydantic are not imported on the TLS path.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import sys
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from io import TextIOBase
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from sentinel.catalog.scope_lists import global_deny, probe_scope
from sentinel.cli import aio
from sentinel.cli.output import fail, finite
from sentinel.errors import ErrorReason, ProbeError, ScopeRefused, SentinelError, UsageError
from sentinel.probes.base import Network
from sentinel.scope import Gate, IPNetwork, ProbeLimits, ScopePolicy, canonical_address

T = TypeVar("T")

if TYPE_CHECKING:
    from sentinel.probe_options import ResolvedV3
    from sentinel.probes.snmp import SnmpProbe

# Targets started and not yet printed, per host slot: the order given is kept while a slow
# target finishes, and memory stays bounded however many targets there are.
WINDOW_PER_HOST_SLOT = 4
JsonOption = Annotated[bool, typer.Option("--json", help="the full observation as JSON")]
ScopeOption = Annotated[list[str] | None, typer.Option(
    "--scope", help="a CIDR you are authorised to probe, beyond the probe scope")]
TargetArgument = Annotated[str, typer.Argument(help="ADDRESS:PORT or [IPV6]:PORT")]

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="One probe against one endpoint.")


def parse_target(text: str) -> tuple[str, int]:
    """``HOST:PORT`` or ``[V6]:PORT`` with an IP literal host; InputError otherwise."""
    if text.startswith("["):
        host, sep, port = text[1:].partition("]:")
    else:
        host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise UsageError(f"target {text!r}: expected ADDRESS:PORT or [IPV6]:PORT")
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        raise UsageError(f"target {text!r}: {host!r} is not an IP address "
                         "(give the name with --sni)") from None
    return str(address), int(port)


def _scope_flags(values: list[str]) -> tuple[str, ...]:
    try:
        return tuple(str(ipaddress.ip_network(c)) for c in values)
    except ValueError as exc:
        raise UsageError(f"--scope: {exc}") from None


def covering(values: Iterable[int], version: int) -> list[IPNetwork]:
    """The fewest networks that hold exactly these addresses (as integers of one family):
    what ``ipaddress.collapse_addresses`` gives for one host network per address, built
    from sorted runs without making those objects."""
    make = ipaddress.IPv4Address if version == 4 else ipaddress.IPv6Address
    out: list[IPNetwork] = []
    first = last = -1
    for value in sorted(values):
        if value == last + 1 and first >= 0:
            last = value
            continue
        if first >= 0:
            out.extend(ipaddress.summarize_address_range(make(first), make(last)))
        first = last = value
    if first >= 0:
        out.extend(ipaddress.summarize_address_range(make(first), make(last)))
    return out


def targets_gate(addresses: Sequence[str], scope: tuple[str, ...] = (),
                 limits: ProbeLimits | None = None) -> Gate:
    """A gate whose scope is exactly the ``addresses`` that lie inside the probe scope
    (``probe_authorised`` in probes/scope.yml, SENTINEL_PROBE_SCOPE, or ``scope`` given on
    the command line); an address outside it is not authorised. The global deny list still
    wins."""
    allowed = [ipaddress.ip_network(c) for c in (*probe_scope(), *scope)]
    # The authorised targets as integers per family (not one network object each: at
    # 100,000 targets those objects were most of `probe tls`'s peak memory), then each run of
    # consecutive addresses as the few networks that cover it exactly.
    authorised: dict[int, set[int]] = {4: set(), 6: set()}
    for address in addresses:
        try:
            ip = canonical_address(address)
        except ValueError:  # the policy's verdict names it (IPv4-compatible, not an address)
            continue
        if any(ip.version == net.version and ip in net for net in allowed):
            authorised[ip.version].add(int(ip))
    policy = ScopePolicy(
        authorised=(*covering(authorised[4], 4), *covering(authorised[6], 6)),
        global_deny=tuple(ipaddress.ip_network(c) for c in global_deny()),
    )
    return Gate(policy, limits or ProbeLimits())


async def _run_tls(targets: Iterable[tuple[str, int]], sni: str | None, timeout: float,
                   gate: Gate) -> AsyncIterator[dict[str, Any]]:
    """Every target enumerated under one gate, at most the gate's ``concurrent_hosts`` at a
    time, each document yielded in the order given as soon as it and those before it are
    done. At most ``WINDOW_PER_HOST_SLOT`` × ``concurrent_hosts`` targets are started and
    not yet yielded, so memory does not grow with the number of targets (a slow target holds
    the ones after it back, never more than the window). A target whose probe fails becomes
    an ``error`` document and the others go on."""
    from sentinel.probes.tls import probe_tls

    network = Network(gate, connect_timeout=timeout)

    async def one(address: str, port: int) -> dict[str, Any]:
        head: dict[str, Any] = {"target": {"address": address, "port": port, "sni": sni}}
        async with gate.host_slots:
            started = time.perf_counter()
            try:
                facts = await probe_tls(network.connector(address, port), timeout=timeout,
                                        server_name=sni)
            except ProbeError as exc:
                return {**head, "error": {"reason": str(exc.reason), "message": str(exc),
                                          "detail": exc.detail}}
        return {**head, **facts, "duration_ms": round((time.perf_counter() - started) * 1000, 1)}

    window = WINDOW_PER_HOST_SLOT * max(1, gate.limits.concurrent_hosts)
    started: deque[asyncio.Task[dict[str, Any]]] = deque()
    feed = iter(targets)
    try:
        while True:
            while len(started) < window:
                target = next(feed, None)
                if target is None:
                    break
                started.append(asyncio.create_task(one(*target)))
            if not started:
                return
            yield await started.popleft()
    finally:
        for task in started:
            task.cancel()


def _summary(doc: dict[str, Any]) -> str:
    lines = [f"{doc['target']['address']}:{doc['target']['port']}  "
             f"personality {doc['personality']}  versions {', '.join(doc['versions']) or '-'}"]
    lines += [f"  {a['protocol']:<9} {a['code']}  {a['name']}" for a in doc["accepted"]]
    lines += [f"  group {g['protocol']:<9} {g['code']}  {g['name']} ({g['class']})"
              for g in doc["groups"]]
    lines.append(f"  posture {doc['posture']}")
    return "\n".join(lines)


@app.command("tls")
def tls(
    targets: Annotated[list[str] | None, typer.Argument(
        help="ADDRESS:PORT or [IPV6]:PORT; several are probed concurrently")] = None,
    *,
    targets_from: Annotated[Path | None, typer.Option(
        "--targets-from", help="a file of ADDRESS:PORT lines ('-': standard input)")] = None,
    sni: Annotated[str | None, typer.Option("--sni", help="server name to send")] = None,
    as_json: JsonOption = False,
    timeout: Annotated[float, typer.Option("--timeout", min=0.1, max=60, callback=finite)] = 5.0,
    scope: ScopeOption = None,
    rate: Annotated[float, typer.Option(
        "--rate", min=1, max=100_000, callback=finite,
        help="new connections per second, all targets together")] = ProbeLimits.packets_per_second,
    connections: Annotated[int, typer.Option(
        "--connections", min=1, max=64,
        help="connections open at once to one address")] = ProbeLimits.connections_per_host,
) -> None:
    """Enumerate TLS/TLCP on endpoints: versions, suites, groups, certificates.

    One target prints one JSON document (--json); several (or --targets-from) print one
    document per line, in the order given, each as soon as it and those before it are done
    (memory stays flat in the number of targets). A target that cannot be probed gets a
    document with ``error`` and the exit status is 1; a target outside the probe scope
    refuses the whole run before anything is sent (exit 2)."""
    limits = ProbeLimits(packets_per_second=rate, connections_per_host=connections)
    if not targets and targets_from is None:
        fail(UsageError("no target: give ADDRESS:PORT arguments or --targets-from FILE"))

    def parsed() -> list[tuple[str, int]]:
        given = [parse_target(t) for t in targets or []]
        if targets_from is not None:
            given += _read_targets(targets_from)
        return given

    named = _guarded(", ".join(targets or [str(targets_from)]), parsed)
    if len(named) == 1 and targets:
        label = targets[0]

        def single() -> dict[str, Any]:
            gate = _authorised_gate([a for a, _ in named], _scope_flags(scope or []), limits)
            return aio.run(_first(_run_tls(named, sni, timeout, gate)))

        document = _guarded(label, single)
        if "error" in document:
            fail(ProbeError(ErrorReason(document["error"]["reason"]),
                            document["error"]["detail"]), prefix=f"{label}: ")
        _emit(document, as_json, _summary)
        return

    def stream() -> int:
        gate = _authorised_gate([a for a, _ in named], _scope_flags(scope or []), limits)
        return aio.run(_print_all(_run_tls(named, sni, timeout, gate), as_json))

    if _guarded(f"{len(named)} targets", stream):
        raise typer.Exit(1)


async def _first(documents: AsyncIterator[dict[str, Any]]) -> dict[str, Any]:
    async for document in documents:
        return document
    raise AssertionError("no document for the one target")


async def _print_all(documents: AsyncIterator[dict[str, Any]], as_json: bool) -> int:
    """Print each document as it comes (one JSON document per line with --json); the number
    of targets that could not be probed."""
    failed = 0
    async for document in documents:
        if "error" in document:
            failed += 1
        if as_json:
            line = json.dumps(document, ensure_ascii=False, separators=(",", ":"))
        elif "error" in document:
            line = f"{_where(document)}  error: {document['error']['message']}"
        else:
            line = _summary(document)
        sys.stdout.write(line + "\n")
        sys.stdout.flush()
    return failed


def _read_targets(path: Path) -> list[tuple[str, int]]:
    """ADDRESS:PORT per line ('-': standard input); blank lines and '#' comments skipped; a
    bad line is one error naming the file and line."""
    if str(path) == "-":
        lines: Iterable[str] = sys.stdin
        name = "<stdin>"
    else:
        try:
            if not path.is_file():
                raise UsageError(f"--targets-from {path}: not a regular file")
            lines = path.open(encoding="utf-8", errors="strict")
        except OSError as exc:
            raise UsageError(f"--targets-from {path}: {exc.strerror or exc}") from None
        name = str(path)
    found: list[tuple[str, int]] = []
    try:
        for number, line in enumerate(lines, 1):
            text = line.strip()
            if not text or text.startswith("#"):
                continue
            if len(text) > 300:
                raise UsageError(f"{name}:{number}: a line of {len(text)} characters is not "
                                 "a target")
            try:
                found.append(parse_target(text))
            except UsageError as exc:
                raise UsageError(f"{name}:{number}: {exc}") from None
    except UnicodeDecodeError:
        raise UsageError(f"{name}: not UTF-8 text") from None
    finally:
        if isinstance(lines, TextIOBase) and lines is not sys.stdin:
            lines.close()
    return found


def _where(document: dict[str, Any]) -> str:
    target = document["target"]
    host = target["address"]
    return f"[{host}]:{target['port']}" if ":" in host else f"{host}:{target['port']}"


# ---- ssh and snmp ---------------------------------------------------------------------------


def _authorised_gate(addresses: Sequence[str], scope: tuple[str, ...],
                     limits: ProbeLimits | None = None) -> Gate:
    """The targets' gate, refusing up front (before any packet) if one target may not be
    probed."""
    gate = targets_gate(addresses, scope, limits)
    for address in addresses:
        reason = gate.policy.verdict(address)
        if reason:
            raise ScopeRefused(address, reason + (
                " of probes (probes/scope.yml probe_authorised, SENTINEL_PROBE_SCOPE, or "
                "--scope CIDR)" if "outside" in reason else ""))
    return gate


async def _run_ssh(address: str, port: int, timeout: float,
                   scope: tuple[str, ...]) -> dict[str, Any]:
    network = Network(_authorised_gate([address], scope), connect_timeout=timeout)
    started = time.perf_counter()
    async with network.tcp(address, port) as (reader, writer):
        from sentinel.probes.ssh import probe_ssh

        facts = await probe_ssh(reader, writer, timeout=timeout)
    return {"target": {"address": address, "port": port}, **facts,
            "duration_ms": round((time.perf_counter() - started) * 1000, 1)}


def _ssh_summary(doc: dict[str, Any]) -> str:
    banner = doc["banner"]["raw"]
    lines = [f"{doc['target']['address']}:{doc['target']['port']}  {banner!r}"]
    for kind in ("kex", "host_key", "cipher", "mac", "compression"):
        lines += [f"  {kind:<11} {a['name']:<40} {a['class']}" for a in doc[kind]]
    return "\n".join(lines)


def _snmp_target(text: str) -> tuple[str, int]:
    """``ADDRESS`` (port 161), ``ADDRESS:PORT`` or ``[IPV6]:PORT``."""
    try:
        return str(ipaddress.ip_address(text)), 161
    except ValueError:
        return parse_target(text)


async def _run_snmp(address: str, port: int, options: SnmpProbe,
                    scope: tuple[str, ...]) -> dict[str, Any]:
    network = Network(_authorised_gate([address], scope), connect_timeout=options.timeout)
    started = time.perf_counter()
    from sentinel.probes.snmp import probe_snmp

    facts = await probe_snmp(network, address, port, options)
    return {"target": {"address": address, "port": port}, **facts,
            "duration_ms": round((time.perf_counter() - started) * 1000, 1)}


def _snmp_summary(doc: dict[str, Any]) -> str:
    system = doc.get("system") or {}
    lines = [f"{doc['target']['address']}:{doc['target']['port']}  access {doc['access']}  "
             f"sysDescr {system.get('sysDescr')!r}"]
    lines += [f"  community {c['community']!r} answers {', '.join(c['versions'])}"
              for c in doc["communities"]]
    lines += [f"  v3 user {u['user']!r}: {u['levels']}" for u in doc["v3_users"]]
    if doc.get("ipv6"):
        lines.append(f"  global IPv6 {doc['ipv6']['global_ipv6']}")
    return "\n".join(lines)


def _guarded(target: str, run: Callable[[], T]) -> T:
    """Run one probe command; errors become a message and an exit status (2: refused or bad
    input, 1: the probe itself failed)."""
    try:
        return run()
    except ProbeError as exc:
        fail(exc, prefix=f"{target}: ")
    except SentinelError as exc:
        fail(exc)


def _emit(document: dict[str, Any], as_json: bool, summary: Any) -> None:
    print(json.dumps(document, ensure_ascii=False, indent=2) if as_json else summary(document))


@app.command("ssh")
def ssh(
    target: TargetArgument,
    as_json: JsonOption = False,
    timeout: Annotated[float, typer.Option("--timeout", min=0.1, max=60, callback=finite)] = 5.0,
    scope: ScopeOption = None,
) -> None:
    """SSH identification and offered algorithms (KEXINIT only; never logs in)."""
    def run() -> dict[str, Any]:
        address, port = parse_target(target)
        return aio.run(_run_ssh(address, port, timeout, _scope_flags(scope or [])))

    _emit(_guarded(target, run), as_json, _ssh_summary)


@app.command("snmp")
def snmp(
    target: Annotated[str, typer.Argument(help="ADDRESS, ADDRESS:PORT or [IPV6]:PORT")],
    *,
    as_json: JsonOption = False,
    timeout: Annotated[float, typer.Option("--timeout", min=0.1, max=30, callback=finite)] = 1.0,
    v3_user: Annotated[str | None, typer.Option("--v3-user", help="SNMPv3 user")] = None,
    v3_auth_env: Annotated[str | None, typer.Option(
        "--v3-auth-env", help="environment variable holding the auth passphrase")] = None,
    v3_priv_env: Annotated[str | None, typer.Option(
        "--v3-priv-env", help="environment variable holding the privacy passphrase")] = None,
    v3_auth_protocol: Annotated[str, typer.Option("--v3-auth-protocol")] = "SHA-256",
    v3_priv_protocol: Annotated[str, typer.Option("--v3-priv-protocol")] = "AES",
    scope: ScopeOption = None,
) -> None:
    """SNMP: default communities, v3 engine discovery, v3 user levels, system and IP-MIB.

    Passphrases are never taken on the command line (shell history, ps): name the
    environment variables that hold them."""
    def run() -> dict[str, Any]:
        address, port = _snmp_target(target)
        credentials = _v3_from_flags(v3_user, v3_auth_env, v3_priv_env, v3_auth_protocol,
                                     v3_priv_protocol)
        from sentinel.probes.snmp import SnmpProbe

        options = SnmpProbe(timeout=timeout, credentials=credentials)
        return aio.run(_run_snmp(address, port, options, _scope_flags(scope or [])))

    _emit(_guarded(target, run), as_json, _snmp_summary)


def _v3_from_flags(user: str | None, auth_env: str | None, priv_env: str | None,
                   auth_protocol: str, priv_protocol: str) -> tuple[ResolvedV3, ...]:
    if user is None:
        return ()
    from pydantic import ValidationError

    from sentinel.probe_options import SnmpV3Credential, resolve_v3

    try:
        credential = SnmpV3Credential.model_validate(
            {"user": user, "auth_key_env": auth_env, "priv_key_env": priv_env,
             "auth_protocol": auth_protocol, "priv_protocol": priv_protocol})
    except ValidationError as exc:
        raise UsageError(f"--v3-*: {exc.errors()[0]['msg']}") from None
    return resolve_v3((credential,))
