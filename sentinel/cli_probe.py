"""``sentinel probe``: one probe against one endpoint, the full observation as JSON.

The person naming the target authorises exactly that address, nothing else: the gate's scope
is the one address (/32 or /128) and the organisation's global deny list still wins. Targets
are IP literals (``198.18.10.10:443``, ``[2001:db8:10::10]:443``); a name for SNI is given
with ``--sni``, so nothing is resolved behind the person's back.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import time
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console

from sentinel.catalog import global_deny, probe_scope
from sentinel.errors import InputError, ProbeError, ScopeRefused, SentinelError, UsageError
from sentinel.playbook import RateLimits
from sentinel.probes.base import Network
from sentinel.probes.tls import probe_tls
from sentinel.scope import Gate, ScopePolicy

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="One probe against one endpoint.")
err = Console(stderr=True)


def _fail(message: str, status: int) -> NoReturn:
    err.print(f"[bold red]error:[/] {message}", highlight=False, markup=True, soft_wrap=True)
    raise typer.Exit(status)


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


def single_target_gate(address: str, scope: tuple[str, ...] = ()) -> Gate:
    """A gate whose scope is exactly ``address`` — if the address lies inside the probe scope
    (``probe_authorised`` in probes/scope.yml, SENTINEL_PROBE_SCOPE, or ``scope`` given on the
    command line); otherwise a gate that authorises nothing. The global deny list still wins."""
    ip = ipaddress.ip_address(address)
    allowed = [ipaddress.ip_network(c) for c in (*probe_scope(), *scope)]
    inside = any(ip.version == net.version and ip in net for net in allowed)
    policy = ScopePolicy(
        authorised=(ipaddress.ip_network(f"{ip}/{ip.max_prefixlen}"),) if inside else (),
        global_deny=tuple(ipaddress.ip_network(c) for c in global_deny()),
    )
    return Gate(policy, RateLimits(connections_per_host=1, concurrent_hosts=1))


async def _run_tls(address: str, port: int, sni: str | None, timeout: float,
                   scope: tuple[str, ...] = ()) -> dict[str, Any]:
    gate = single_target_gate(address, scope)
    reason = gate.policy.verdict(address)
    if reason:  # refuse before any packet, with the reason the gate would give
        if "outside" in reason:
            reason += (" of probes (probes/scope.yml probe_authorised, SENTINEL_PROBE_SCOPE,"
                       " or --scope CIDR)")
        raise ScopeRefused(address, reason)
    network = Network(gate, connect_timeout=timeout)
    started = time.perf_counter()
    facts = await probe_tls(network.connector(address, port), timeout=timeout, server_name=sni)
    document = {"target": {"address": address, "port": port, "sni": sni}, **facts}
    document["duration_ms"] = round((time.perf_counter() - started) * 1000, 1)
    return document


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
    target: Annotated[str, typer.Argument(help="ADDRESS:PORT or [IPV6]:PORT")],
    sni: Annotated[str | None, typer.Option("--sni", help="server name to send")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="the full observation as JSON")] = False,
    timeout: Annotated[float, typer.Option("--timeout", min=0.1, max=60)] = 5.0,
    scope: Annotated[list[str] | None, typer.Option(
        "--scope", help="a CIDR you are authorised to probe, beyond the probe scope")] = None,
) -> None:
    """Enumerate TLS/TLCP on one endpoint: versions, suites, groups, certificates."""
    try:
        address, port = parse_target(target)
        extra = _scope_flags(scope or [])
        document = asyncio.run(_run_tls(address, port, sni, timeout, extra))
    except ScopeRefused as exc:
        _fail(str(exc), 2)
    except ProbeError as exc:
        _fail(f"{target}: {exc}", 1)
    except SentinelError as exc:
        _fail(str(exc), 2 if isinstance(exc, InputError) else 1)
    if as_json:
        print(json.dumps(document, ensure_ascii=False, indent=2))
    else:
        print(_summary(document))
