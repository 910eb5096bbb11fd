"""Waiting until every manifest service listens on every address it should.

Each host namespace is asked with ``ss`` what it listens on; a service is ready when, for each
of its families, a socket is bound to the host's address (or a wildcard) on its port. A
server that dies while we wait fails the build at once, with the end of its log.
"""

from __future__ import annotations

import time

from sentinel.errors import LabError
from sentinel.lab.manifest import Host, Manifest, Service
from sentinel.lab.procs import alive, ns_argv, run
from sentinel.lab.servers.base import listen_addresses
from sentinel.lab.state import LabPaths, ProcessRecord

TIMEOUT = 60.0  # generous: the JVM-based national-crypto servers take seconds to start
WILDCARDS = {"*", "0.0.0.0", "::"}  # noqa: S104 - recognising, not binding


def listening(namespace: str) -> set[tuple[str, str, int]]:
    """(proto, address, port) for every listening TCP socket and bound UDP socket."""
    done = run(ns_argv(namespace, ["ss", "-H", "-l", "-n", "-t", "-u"]), check=False)
    found: set[tuple[str, str, int]] = set()
    for line in done.stdout.splitlines():
        fields = line.split()
        if len(fields) < 5:
            continue
        address, _, port = fields[4].rpartition(":")
        address = address.strip("[]").split("%")[0]
        if port.isdigit():
            found.add((fields[0], address, int(port)))
    return found


def service_ready(host: Host, service: Service, sockets: set[tuple[str, str, int]]) -> bool:
    """Whether the service's port is bound on each of its addresses (or a wildcard)."""
    bound = {address for proto, address, port in sockets
             if proto == service.proto and port == service.port}
    if bound & WILDCARDS:
        return True
    return all(address in bound for address in listen_addresses(host, service))


def wait_until_listening(manifest: Manifest, records: list[ProcessRecord],
                         paths: LabPaths, timeout: float = TIMEOUT) -> None:
    """Block until every service listens; raise LabError on a dead server or a timeout."""
    pending = {host.id: host for host in manifest.hosts if host.services}
    deadline = time.monotonic() + timeout
    while pending:
        _check_alive(records, paths)
        for host_id, host in list(pending.items()):
            sockets = listening(host.namespace)
            if all(service_ready(host, s, sockets) for s in host.services):
                del pending[host_id]
        if not pending:
            return
        if time.monotonic() > deadline:
            late = ", ".join(f"{h.id}:{[s.id for s in h.services]}" for h in pending.values())
            raise LabError(f"services not listening after {timeout:.0f}s: {late}")
        time.sleep(0.2)


def _check_alive(records: list[ProcessRecord], paths: LabPaths) -> None:
    for record in records:
        if not alive(record.pid):
            log = paths.logs / f"{record.name}.log"
            tail = log.read_text(errors="replace")[-1500:] if log.exists() else "(no log)"
            raise LabError(f"{record.name} exited while the lab was starting:\n{tail}")
