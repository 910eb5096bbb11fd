"""Serve GmSSL's one-shot ``tlcp_server`` on a lab host: a fresh process per connection.

``gmssl tlcp_server`` (GmSSL 3.1) binds 0.0.0.0 with no address option, serves one connection
and exits after any failed handshake (every scan's handshake fails: a scanner never finishes
one). A plain restart loop leaves a gap in which the next connection is refused. This relay
keeps the listening sockets itself (``--bind`` addresses, ``--port``) and hands each
accepted connection to a ``tlcp_server`` that is already listening, then starts a new one.

Each of ``--slots`` workers is a thread that first moves into a network namespace of its own
(``unshare(CLONE_NEWNET)`` affects the calling thread only, and the processes it starts), with
nothing but loopback: GmSSL's 0.0.0.0 there is only that namespace's 127.0.0.1, never the lab
host's addresses. The worker starts ``tlcp_server`` on ``--inner-port``, waits until it
listens (read from ``/proc/thread-self/net/tcp``, since a test connection would end it),
takes the next accepted connection, connects to the server from the same namespace and
copies bytes both ways until either side closes; then it stops the server and starts again.

Run by the lab (``servers/gmssl.py``) inside the host's namespace, as a script: the standard
library only, so it starts in a few milliseconds.

    gmssl_relay.py --bind ADDR [--bind ADDR] --port P [--slots N] [--inner-port I] -- ARGV...

``ARGV`` is the server's command line; ``{port}`` in it is replaced by the inner port.
"""

from __future__ import annotations

import argparse
import ctypes
import queue
import select
import selectors
import signal
import socket
import subprocess
import sys
import threading
import time

CLONE_NEWNET = 0x40000000
LISTEN = "0A"  # TCP state in /proc/net/tcp
IDLE_LIMIT = 30.0  # a relayed connection with no traffic for this long is closed
START_LIMIT = 10.0  # a server that does not listen by then is restarted


def log(message: str) -> None:
    print(f"gmssl-relay: {message}", file=sys.stderr, flush=True)


def private_network() -> None:
    """Move the calling thread into a new network namespace with loopback up."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(CLONE_NEWNET) != 0:
        raise OSError(ctypes.get_errno(), "unshare(CLONE_NEWNET)")
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)  # in the new namespace


def listening(port: int) -> bool:
    """Whether something listens on ``port`` in this thread's network namespace."""
    with open("/proc/thread-self/net/tcp", encoding="ascii") as table:
        for line in table.readlines()[1:]:
            fields = line.split()
            if int(fields[1].rsplit(":", 1)[1], 16) == port and fields[3] == LISTEN:
                return True
    return False


RUNNING: set[subprocess.Popen[bytes]] = set()  # stopped with the relay (SIGTERM)


def start_server(argv: list[str], port: int) -> subprocess.Popen[bytes] | None:
    """Start one server and wait until it listens; None if it died or never listened."""
    process = subprocess.Popen([a.replace("{port}", str(port)) for a in argv],
                               stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    RUNNING.add(process)
    deadline = time.monotonic() + START_LIMIT
    while time.monotonic() < deadline:
        if listening(port):
            return process
        if process.poll() is not None:
            log(f"server exited with {process.returncode} before listening")
            return None
        time.sleep(0.005)
    log("server did not listen in time")
    stop(process)
    return None


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.kill()
    process.wait()
    RUNNING.discard(process)


def stop_all(signum: int, _frame: object) -> None:
    """SIGTERM/SIGINT: the servers go with the relay (the lab also stops the whole group)."""
    for process in list(RUNNING):
        process.kill()
    raise SystemExit(128 + signum)


def pump(outer: socket.socket, inner: socket.socket) -> None:
    """Copy bytes both ways until either side closes or the connection idles too long."""
    peers = {outer: inner, inner: outer}
    while True:
        ready, _, _ = select.select(list(peers), [], [], IDLE_LIMIT)
        if not ready:
            return
        for sock in ready:
            data = sock.recv(65536)
            if not data:
                return
            peers[sock].sendall(data)


def worker(argv: list[str], port: int, jobs: queue.Queue[socket.socket]) -> None:
    private_network()
    while True:
        server = start_server(argv, port)
        if server is None:
            time.sleep(0.5)
            continue
        outer = jobs.get()
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=5) as inner:
                inner.settimeout(None)
                pump(outer, inner)
        except OSError as exc:
            log(f"relay: {exc}")
        finally:
            outer.close()
            stop(server)


def listeners(addresses: list[str], port: int) -> list[socket.socket]:
    out = []
    for address in addresses:
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind((address, port))
        sock.listen(64)
        out.append(sock)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bind", action="append", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--slots", type=int, default=4)
    parser.add_argument("--inner-port", type=int, default=4433)
    parser.add_argument("argv", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    argv = args.argv[1:] if args.argv[:1] == ["--"] else args.argv
    if not argv:
        parser.error("the server's command line is missing after --")
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, stop_all)
    jobs: queue.Queue[socket.socket] = queue.Queue()
    for _ in range(args.slots):
        threading.Thread(target=worker, args=(argv, args.inner_port, jobs), daemon=True).start()
    selector = selectors.DefaultSelector()
    for sock in listeners(args.bind, args.port):
        selector.register(sock, selectors.EVENT_READ)
    log(f"listening on {', '.join(args.bind)} port {args.port}, {args.slots} slots")
    while True:
        for key, _ in selector.select():
            connection, _ = key.fileobj.accept()  # type: ignore[union-attr]
            jobs.put(connection)


if __name__ == "__main__":
    main()
