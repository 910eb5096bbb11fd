"""Real servers on loopback for the tests and benches: a free port, a server process started and
waited for, and a threaded TCP server whose connections a handler answers (plain or TLS).

Everything here listens on or connects to a loopback address only (127.0.0.1 unless a test
passes ``::1``). No pytest and no Sentinel imports: ``bench/`` imports it too.
"""

from __future__ import annotations

import contextlib
import os
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Sequence

LOOPBACK = "127.0.0.1"
Handler = Callable[[socket.socket], None]


def free_port(host: str = LOOPBACK) -> int:
    """A TCP port nothing listens on at the moment (the kernel's choice)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def wait_listening(port: int, process: subprocess.Popen[bytes], *, host: str = LOOPBACK,
                   timeout: float = 15.0) -> None:
    """Return once ``host:port`` accepts a connection; raise if ``process`` exits first or the
    port stays closed for ``timeout`` seconds (with the process's stderr when it was piped)."""
    args = process.args
    name = str(args[0]) if isinstance(args, list) and args else str(args)
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            errors = process.stderr.read() if process.stderr else b""
            raise RuntimeError(f"{name} exited with {process.returncode}: {errors!r}")
        with contextlib.suppress(OSError), socket.create_connection((host, port), 0.2):
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"{name} did not listen on {host}:{port}")
        time.sleep(0.05)


def stop(process: subprocess.Popen[bytes], timeout: float = 5.0) -> None:
    """Terminate ``process``; kill it if it has not ended within ``timeout`` seconds."""
    process.terminate()
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextlib.contextmanager
def running(argv: Sequence[str], port: int, *, host: str = LOOPBACK, timeout: float = 15.0,
            stderr: int | None = subprocess.PIPE) -> Iterator[subprocess.Popen[bytes]]:
    """Start ``argv`` (a server that will listen on ``host:port``), wait until it accepts,
    stop it afterwards."""
    process = subprocess.Popen(list(argv), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                               stderr=stderr)
    try:
        wait_listening(port, process, host=host, timeout=timeout)
        yield process
    finally:
        stop(process)
        if process.stderr:
            process.stderr.close()


@contextlib.contextmanager
def started(argv: Callable[[int], Sequence[str]], *, host: str = LOOPBACK,
            timeout: float = 15.0) -> Iterator[int]:
    """Start the server ``argv(port)`` on a free port of ``host``; yield the port."""
    port = free_port(host)
    with running(argv(port), port, host=host, timeout=timeout, stderr=subprocess.DEVNULL):
        yield port


class ThreadedServer:
    """A real TCP server on one loopback address: it accepts on its own thread and hands every
    connection to ``handle`` on a thread of its own. It counts the connections; ``close()``
    stops accepting, sets ``closing`` (a handler may wait on it) and closes every connection a
    handler left open. OSError (and so ssl.SSLError) in a handler ends that connection only.
    """

    def __init__(self, handle: Handler, *, address: str = LOOPBACK, port: int = 0,
                 backlog: int = 64) -> None:
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((address, port))
        self.sock.listen(backlog)
        self.port = int(self.sock.getsockname()[1])
        self.handle = handle
        self.connections = 0
        self.closing = threading.Event()
        self._lock = threading.Lock()
        self._open: list[socket.socket] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return  # close() shut the socket down
            with self._lock:
                self.connections += 1
                self._open.append(conn)
            threading.Thread(target=self._one, args=(conn,), daemon=True).start()

    def _one(self, conn: socket.socket) -> None:
        with contextlib.suppress(OSError):
            self.handle(conn)

    def close(self) -> None:
        self.closing.set()
        # shutdown wakes the thread blocked in accept(); close alone would leave it listening.
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()
        self.thread.join(timeout=5)
        with self._lock:
            for conn in self._open:
                with contextlib.suppress(OSError):
                    conn.close()

    def __enter__(self) -> ThreadedServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def sends(data: bytes, *, drain: bool = False, timeout: float = 3.0) -> Handler:
    """A handler that sends ``data`` and closes; with ``drain``, it first reads until the
    client goes away."""

    def handle(conn: socket.socket) -> None:
        with conn:
            conn.settimeout(timeout)
            conn.sendall(data)
            while drain and conn.recv(4096):
                pass

    return handle


def tls_context(cert: str | os.PathLike[str], key: str | os.PathLike[str]) -> ssl.SSLContext:
    """A server context with the chain in ``cert`` (PEM, leaf first) and its ``key``."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    return context


def tls_handshakes(context: ssl.SSLContext, *, read: int = 1024, timeout: float = 5.0) -> Handler:
    """A handler that completes a TLS handshake with ``context``, reads up to ``read`` bytes
    and closes."""

    def handle(conn: socket.socket) -> None:
        conn.settimeout(timeout)
        with conn, context.wrap_socket(conn, server_side=True) as tls:
            tls.recv(read)

    return handle
