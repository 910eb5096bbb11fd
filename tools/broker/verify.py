#!/usr/bin/env python3
"""Smoke-check the local RabbitMQ node with kombu (and celery, if installed).

    python3 tools/broker/verify.py [--env FILE] [--no-celery]
    python3 tools/broker/verify.py --publish-persistent   # then stop.sh + start.sh, then:
    python3 tools/broker/verify.py --persist-check

Reads the URLs from broker.env (written by tools/broker/start.sh; default
$SENTINEL_BROKER_HOME/broker.env, else ~/.cache/sentinel-broker/broker.env), so no password
appears on a command line. Prints one line per check (OK / FAIL + error), exits 1 on a failure.

--publish-persistent  publishes one persistent message to the durable queue sentinel-verify-persist
--persist-check       consumes it again (after a restart): proves it survived
"""

import argparse
import os
import socket
import ssl
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from kombu import Connection, Exchange, Queue

PERSIST_QUEUE = "sentinel-verify-persist"
results: list[tuple[str, bool, str]] = []


def check(name: str) -> Callable[[Callable[[], str | None]], None]:
    def deco(fn: Callable[[], str | None]) -> None:
        try:
            results.append((name, True, fn() or ""))
        except Exception as e:  # every failure is reported, none stops the run
            detail = str(e).replace("\n", " ")[:300]
            results.append((name, False, f"{type(e).__name__}: {detail}"))

    return deco


def read_env(path: Path) -> dict[str, str]:
    env = {}
    for line in path.read_text().splitlines():
        if "=" in line and not line.startswith("#"):
            key, value = line.split("=", 1)
            env[key.strip()] = value.strip()
    return env


def queue(name: str, durable: bool = True) -> Queue:
    return Queue(name, Exchange(name, type="direct", durable=durable), routing_key=name,
                 durable=durable, auto_delete=not durable)


def roundtrip(url: str, ssl_opt: dict | None = None, durable: bool = False) -> str:
    name = f"sentinel-verify-{uuid.uuid4().hex[:8]}"
    body = {"probe": name, "t": time.time()}
    with Connection(url, ssl=ssl_opt, connect_timeout=5) as conn:
        conn.ensure_connection(max_retries=1)
        q = queue(name, durable=durable)
        conn.Producer(serializer="json").publish(
            body, exchange=q.exchange, routing_key=name, declare=[q],
            delivery_mode=2 if durable else 1)
        bound = q(conn.default_channel)
        msg = None
        for _ in range(50):
            msg = bound.get(no_ack=False)
            if msg:
                break
            time.sleep(0.05)
        assert msg is not None, "message not delivered"
        assert msg.payload == body, f"payload mismatch: {msg.payload!r}"
        msg.ack()
        bound.delete()
        server = conn.connection.server_properties
        return f"{server.get('product', '')} {server.get('version', '')}".strip()


def refused(url: str, ssl_opt: dict | None = None) -> str:
    try:
        with Connection(url, ssl=ssl_opt, connect_timeout=5) as conn:
            conn.ensure_connection(max_retries=1)
    except Exception as e:  # the refusal is the expected outcome
        return f"refused as expected ({type(e).__name__}: {str(e).splitlines()[0][:90]})"
    raise AssertionError("connection was accepted")


def persistent(url: str, token_file: Path, publish: bool) -> int:
    q = queue(PERSIST_QUEUE)
    with Connection(url, connect_timeout=5) as conn:
        conn.ensure_connection(max_retries=1)
        if publish:
            token = uuid.uuid4().hex
            conn.Producer(serializer="json").publish(
                {"token": token}, exchange=q.exchange, routing_key=PERSIST_QUEUE, declare=[q],
                delivery_mode=2)
            token_file.write_text(token)
            print(f"published persistent message {token} to durable queue {PERSIST_QUEUE}")
            return 0
        expected = token_file.read_text().strip()
        msg = q(conn.default_channel).get(no_ack=False)
        got = msg.payload.get("token") if msg else None
        if msg:
            msg.ack()
        ok = got == expected
        print(f"persistent message after restart: {'OK' if ok else 'FAIL'} "
              f"(expected {expected}, got {got})")
        return 0 if ok else 1


def other_ipv4_addresses() -> set[str]:
    addrs = {a[4][0] for a in socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET)}
    out = subprocess.run(["hostname", "-I"], capture_output=True, text=True, check=False).stdout
    addrs |= {a for a in out.split() if ":" not in a}
    return {a for a in addrs if not a.startswith("127.")}


def kombu_checks(url: str, tls_url: str | None, ca: str | None, port: int) -> None:
    @check("amqp: publish/get/ack (kombu)")
    def _() -> str:
        return roundtrip(url)

    @check("amqp: durable queue + persistent message")
    def _() -> None:
        roundtrip(url, durable=True)

    if tls_url and ca:
        # py-amqp takes a dict (an ssl.SSLContext is silently replaced by default options);
        # server_hostname is what turns the host name check on.
        tls_opts = {"ca_certs": ca, "cert_reqs": ssl.CERT_REQUIRED, "server_hostname": "127.0.0.1"}

        @check("amqps: round trip, CA and host name verified")
        def _() -> str:
            return roundtrip(tls_url, ssl_opt=tls_opts)

        @check("amqps: refused without our CA (system trust store)")
        def _() -> str:
            no_ca = {"cert_reqs": ssl.CERT_REQUIRED, "server_hostname": "127.0.0.1"}
            return refused(tls_url, ssl_opt=no_ca)

        @check("amqps: refused for another host name")
        def _() -> str:
            return refused(tls_url, ssl_opt=dict(tls_opts, server_hostname="broker.invalid"))

        @check("amqps: TLS version and cipher")
        def _() -> str:
            with Connection(tls_url, ssl=tls_opts, connect_timeout=5) as conn:
                conn.ensure_connection(max_retries=1)
                sock = conn.connection.transport.sock
                return f"{sock.version()} {sock.cipher()[0]}"

    @check("guest/guest refused")
    def _() -> str:
        return refused(f"amqp://guest:guest@127.0.0.1:{port}//")

    @check("sentinel user has no access to vhost /")
    def _() -> str:
        return refused(url.rsplit("/", 1)[0] + "//")

    @check("wrong password refused")
    def _() -> str:
        creds, rest = url.split("@", 1)
        return refused(creds.rsplit(":", 1)[0] + ":wrong@" + rest)

    @check("AMQP port not reachable on a non-loopback address")
    def _() -> str:
        addrs = other_ipv4_addresses()
        for a in addrs:
            with socket.socket() as s:
                s.settimeout(1)
                if s.connect_ex((a, port)) == 0:
                    raise AssertionError(f"{a}:{port} accepts connections")
        return f"checked {sorted(addrs) or 'no other IPv4 address'}"


def celery_app(url: str, ca: str | None):  # celery is optional: imported here, not at the top
    import celery

    app = celery.Celery("sentinel_verify", broker=url, backend="rpc://")
    ssl_opts = {"ca_certs": ca, "cert_reqs": ssl.CERT_REQUIRED, "server_hostname": "127.0.0.1"}
    app.conf.update(
        broker_use_ssl=ssl_opts if ca else None, task_acks_late=True,
        worker_prefetch_multiplier=4, broker_connection_retry_on_startup=True,
        task_default_queue="sentinel-verify-celery", worker_hijack_root_logger=False)

    @app.task(name="sentinel_verify.add")
    def add(x: int, y: int) -> int:
        return x + y

    return app, add


def celery_worker() -> int:
    """Child process: one solo worker; the URL comes through the environment, never argv."""
    app, _ = celery_app(os.environ["SENTINEL_VERIFY_CELERY_URL"],
                        os.environ.get("SENTINEL_VERIFY_CELERY_CA") or None)
    app.worker_main(["worker", "--pool=solo", "--loglevel=WARNING", "--without-gossip",
                     "--without-mingle", "--without-heartbeat"])
    return 0


def celery_roundtrip(url: str, ca: str | None = None, n: int = 200) -> str:
    import celery

    env = dict(os.environ, SENTINEL_VERIFY_CELERY_URL=url, SENTINEL_VERIFY_CELERY_CA=ca or "")
    worker = subprocess.Popen(  # our own interpreter and script
        [sys.executable, os.path.abspath(__file__), "--celery-worker"], env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _, add = celery_app(url, ca)
        add.delay(0, 0).get(timeout=30)  # the worker is up
        t0 = time.perf_counter()
        pending = [add.delay(i, i) for i in range(n)]
        assert [r.get(timeout=30) for r in pending] == [2 * i for i in range(n)]
        dt = time.perf_counter() - t0
    finally:
        worker.terminate()
        try:
            worker.wait(timeout=20)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()
    return f"celery {celery.__version__}: {n} tasks (late acks, solo worker process) in {dt:.2f} s"


def celery_checks(url: str, tls_url: str | None, ca: str | None) -> None:
    try:
        import celery  # noqa: F401
    except ImportError:
        results.append(("celery round trip", True, "skipped (celery not installed)"))
        return

    @check("celery: task round trip (worker process, rpc:// results)")
    def _() -> str:
        return celery_roundtrip(url)

    if tls_url and ca:
        @check("celery: task round trip over amqps (broker_use_ssl)")
        def _() -> str:
            return celery_roundtrip(tls_url, ca)


def main() -> int:
    default_home = Path.home() / ".cache" / "sentinel-broker"
    home = Path(os.environ.get("SENTINEL_BROKER_HOME", default_home))
    ap = argparse.ArgumentParser()
    ap.add_argument("--env", type=Path, default=home / "broker.env")
    mode = ap.add_mutually_exclusive_group()
    mode.add_argument("--publish-persistent", action="store_true")
    mode.add_argument("--persist-check", action="store_true")
    ap.add_argument("--no-celery", action="store_true", help="skip the celery round trips")
    ap.add_argument("--celery-worker", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.celery_worker:
        return celery_worker()

    env = read_env(args.env)
    url = env["SENTINEL_BROKER"]
    tls_url, ca = env.get("SENTINEL_BROKER_TLS"), env.get("SENTINEL_BROKER_CA")
    port = int(url.rsplit(":", 1)[1].split("/", 1)[0])

    if args.publish_persistent or args.persist_check:
        return persistent(url, args.env.parent / "verify-persist.token", args.publish_persistent)

    kombu_checks(url, tls_url, ca, port)
    if not args.no_celery:
        celery_checks(url, tls_url, ca)

    width = max(len(name) for name, _, _ in results)
    for name, ok, detail in results:
        print(f"{'OK  ' if ok else 'FAIL'} {name:<{width}}  {detail}")
    return 0 if all(ok for _, ok, _ in results) else 1


if __name__ == "__main__":
    sys.exit(main())
