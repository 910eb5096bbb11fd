"""A tiny server that drill injects start inside a lab host: a banner service, or plain TLS.

``python -m sentinel.lab.inject_server banner --port 23 --text 'login: '`` answers every
connection with the text; ``... tls --port 443 --cert C --key K`` completes a standard TLS
handshake with a classical certificate and answers one HTTP/1.0 response. It binds the
wildcard of its namespace (both families when the host has IPv6), so it is reachable only
on the lab host's own addresses. Each connection has a hard deadline.
"""

from __future__ import annotations

import argparse
import contextlib
import socket
import socketserver
import ssl
import threading

DEADLINE_S = 5.0


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    address_family = socket.AF_INET6

    def server_bind(self) -> None:
        with contextlib.suppress(OSError):
            self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        super().server_bind()


def _handler(text: bytes, context: ssl.SSLContext | None) -> type[socketserver.BaseRequestHandler]:
    class Handler(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            conn: socket.socket = self.request
            conn.settimeout(DEADLINE_S)
            with contextlib.suppress(OSError, ssl.SSLError):
                if context is not None:
                    conn = context.wrap_socket(conn, server_side=True)
                    conn.recv(4096)
                conn.sendall(text)

    return Handler


def serve(port: int, text: bytes, context: ssl.SSLContext | None) -> None:
    """Serve until killed (the lab stops injects by process group)."""
    handler = _handler(text, context)
    try:
        server: socketserver.ThreadingTCPServer = _Server(("::", port), handler)
    except OSError:  # IPv6 off in this namespace: IPv4 only
        server = socketserver.ThreadingTCPServer(("0.0.0.0", port), handler)  # noqa: S104
    with server:
        threading.Thread(target=server.serve_forever, daemon=True).start()
        threading.Event().wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("mode", choices=("banner", "tls"))
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--text", default="login: ")
    parser.add_argument("--cert")
    parser.add_argument("--key")
    args = parser.parse_args()
    context = None
    text = args.text.encode()
    if args.mode == "tls":
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(args.cert, args.key)
        text = b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\ninject: plain TLS\r\n"
    serve(args.port, text, context)


if __name__ == "__main__":
    main()
