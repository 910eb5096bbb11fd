"""Drill injects on the lab: apply and revert, idempotently.

- ``open-service``: a banner service (e.g. telnet on 23) started inside a host;
- ``disable-national-crypto``: the host's TLCP server is stopped and plain TLS with a
  classical certificate is served on its port instead (the realistic downgrade: someone
  "fixes" a client problem by replacing the 国密 gateway with ordinary TLS);
- ``drop-ipv6``: the host's IPv6 address is removed from its interface.

Every started process is recorded in the lab's pid dir (``inject-*``), so even a crashed
drill leaves nothing that ``lab down`` would not stop. ``apply`` and ``revert`` may be
called any number of times; ``revert`` restores the manifest's state whatever it finds.
"""

from __future__ import annotations

import socket
import sys
import time
from typing import Literal

from sentinel.errors import LabError
from sentinel.lab.certs import CertFactory
from sentinel.lab.manifest import Host, Manifest, ServiceKind
from sentinel.lab.procs import alive, run, spawn, stop
from sentinel.lab.servers import national
from sentinel.lab.servers.base import ServerContext
from sentinel.lab.state import LabPaths, ProcessRecord

InjectKind = Literal["open-service", "disable-national-crypto", "drop-ipv6"]
WAIT_S = 20.0


def _record(paths: LabPaths, name: str) -> ProcessRecord | None:
    return next((r for r in paths.records() if r.name == name), None)


def _address(host: Host) -> str:
    return str(host.v4 if host.v4 is not None else host.v6)


def _reachable(address: str, port: int) -> bool:
    try:
        with socket.create_connection((address, port), timeout=1.0):
            return True
    except OSError:
        return False


def _wait(address: str, port: int, *, up: bool) -> None:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        if _reachable(address, port) == up:
            return
        time.sleep(0.1)
    raise LabError(f"{address}:{port} did not {'open' if up else 'close'} in {WAIT_S:.0f} s")


def _inject_name(host: Host, port: int) -> str:
    return f"inject-{host.id}-{port}"


def _start_inject(paths: LabPaths, host: Host, port: int, argv: list[str]) -> None:
    name = _inject_name(host, port)
    existing = _record(paths, name)
    if existing is not None and alive(existing.pid):
        return
    spawn(paths, name, host.namespace,
          [sys.executable, "-m", "sentinel.lab.inject_server", *argv, "--port", str(port)],
          env={"PYTHONPATH": ":".join(p for p in sys.path if p)})
    _wait(_address(host), port, up=True)


def _stop_inject(paths: LabPaths, host: Host, port: int) -> None:
    name = _inject_name(host, port)
    existing = _record(paths, name)
    if existing is not None:
        stop([existing.pid])
        (paths.pids / f"{name}.pid").unlink(missing_ok=True)


def open_service(paths: LabPaths, host: Host, port: int, banner: str) -> None:
    """Start a banner service on ``port`` of ``host``."""
    _start_inject(paths, host, port, ["banner", "--text", banner])


def close_service(paths: LabPaths, host: Host, port: int) -> None:
    """Stop the injected service and wait until the port refuses connections."""
    _stop_inject(paths, host, port)
    _wait(_address(host), port, up=False)


def _tlcp_service(host: Host) -> tuple[str, int]:
    for service in host.services:
        if service.kind is ServiceKind.GM_TLCP:
            return f"{host.id}-{service.kind.value}-{service.port}", service.port
    raise LabError(f"lab host {host.id} has no TLCP server to downgrade")


def disable_national_crypto(paths: LabPaths, manifest: Manifest, host: Host) -> None:
    """Stop the TLCP server and serve plain TLS (classical ECDSA certificate) on its port."""
    name, port = _tlcp_service(host)
    inject = _record(paths, _inject_name(host, port))
    if inject is not None and alive(inject.pid):
        return
    original = _record(paths, name)
    if original is not None and alive(original.pid):
        stop([original.pid])
        _wait(_address(host), port, up=False)
    addresses = [str(a) for a in (host.v4, host.v6) if a is not None]
    pair = CertFactory(paths.certs).issue(host.hostname, addresses, "ecdsa-p256")
    _start_inject(paths, host, port, ["tls", "--cert", str(pair.cert), "--key", str(pair.key)])


def restore_national_crypto(paths: LabPaths, manifest: Manifest, host: Host) -> None:
    """Stop the plain-TLS stand-in and start the host's TLCP server as the lab built it."""
    name, port = _tlcp_service(host)
    _stop_inject(paths, host, port)
    original = _record(paths, name)
    if original is not None and alive(original.pid):
        return
    ctx = ServerContext(manifest=manifest, paths=paths, certs=CertFactory(paths.certs))
    services = [s for s in host.services if s.kind is ServiceKind.GM_TLCP]
    national.start(ctx, host, services)
    _wait(_address(host), port, up=True)


def _v6_present(host: Host) -> bool:
    done = run(["ip", "-n", host.namespace, "-6", "-o", "addr", "show", "dev", "eth0"],
               check=False)
    return f" {host.v6}/" in done.stdout


def _v6_prefix(manifest: Manifest, host: Host) -> tuple[str, str]:
    segment = manifest.segment(host.segment)
    if host.v6 is None or segment.v6 is None or segment.gateway_v6 is None:
        raise LabError(f"lab host {host.id} has no IPv6 address to drop")
    return f"{host.v6}/{segment.v6.prefixlen}", str(segment.gateway_v6)


def drop_ipv6(manifest: Manifest, host: Host) -> None:
    """Remove the host's IPv6 address (services bound to it stop answering over IPv6)."""
    address, _ = _v6_prefix(manifest, host)
    if _v6_present(host):
        run(["ip", "-n", host.namespace, "addr", "del", address, "dev", "eth0"])


def restore_ipv6(manifest: Manifest, host: Host) -> None:
    """Put the IPv6 address back, and the lab route that may have gone with it."""
    address, gateway = _v6_prefix(manifest, host)
    if not _v6_present(host):
        run(["ip", "-n", host.namespace, "addr", "add", address, "dev", "eth0", "nodad"])
    run(["ip", "-n", host.namespace, "-6", "route", "replace", "2001:db8::/32", "via", gateway,
         "dev", "eth0", "onlink"])


def apply(kind: InjectKind, manifest: Manifest, paths: LabPaths, host_id: str,
          port: int | None = None, *, banner: str = "login: ") -> None:
    """Apply one inject (idempotent)."""
    host = manifest.host(host_id)
    if kind == "open-service":
        open_service(paths, host, port or 23, banner)
    elif kind == "disable-national-crypto":
        disable_national_crypto(paths, manifest, host)
    else:
        drop_ipv6(manifest, host)


def revert(kind: InjectKind, manifest: Manifest, paths: LabPaths, host_id: str,
           port: int | None = None) -> None:
    """Undo one inject (idempotent; safe when it was never applied)."""
    host = manifest.host(host_id)
    if kind == "open-service":
        close_service(paths, host, port or 23)
    elif kind == "disable-national-crypto":
        restore_national_crypto(paths, manifest, host)
    else:
        restore_ipv6(manifest, host)
