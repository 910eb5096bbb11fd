"""Scale: `sentinel probe tls` and `sentinel scan` over many endpoints (issue 20).

Runs itself inside a new, empty network namespace (``unshare -n``: only its own loopback, so
nothing it sends can leave this machine), starts one nginx there listening on port 4433 of
every loopback address (TLS 1.2 and 1.3, an EC certificate made here), and gives Sentinel
N targets ``127.a.b.c:4433`` through ``--targets-from`` for each N of ``--sizes``. For each run
it prints the wall time, endpoints per second, peak RSS (``/usr/bin/time -v``), documents and
errors; with ``--nmap``, nmap ssl-enum-ciphers on the same targets for the sizes up to
``--nmap-max``.

``--scan-sizes`` runs ``sentinel scan`` with a playbook whose one segment lists N farm hosts
(``--scan-probe``: the TCP probe without banner wait, or the TLS probe, on port 4433; limits
raised as for ``probe tls``), into a fresh SQLite store:
wall time, endpoints/s, peak RSS, attempts and findings stored. ``--budget N`` runs a playbook
at the default budget (200 connections/s, 4 per host, 32 hosts) with the TCP probe (no banner
wait) on 8 ports of N/8 hosts, served by a listener in this process that counts, at the
target, every accept's time and the connections each address holds at once: the achieved
rate against the configured one and the largest per-address count against the cap.
``--sweep16`` scans a /16 with discovery first (SYN to 4433), where only the farm answers.
``SCALE_PROFILE=DIR`` runs each playbook scan under cProfile (``DIR/<playbook>.prof``).
Not part of the test run.

    python bench/scale.py [--sizes 1000 10000 100000] [--nmap] [--nmap-max 10000]
                          [--scan-sizes 1000 10000] [--budget 10000] [--sweep16 1000]
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PORT = 4433
STATUS_PORT = 8080  # nginx's stub_status on 127.0.0.1 (not a target): connections accepted
NGINX_CONF = """
worker_processes 2;
worker_rlimit_nofile 65536;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log;
events {{ worker_connections 8192; }}
http {{
  access_log off;
  server {{ listen 127.0.0.1:{status_port}; location / {{ stub_status; }} }}
  server {{
    listen {port} ssl reuseport backlog=4096;
    ssl_certificate {tmp}/ec.crt;
    ssl_certificate_key {tmp}/ec.key;
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_ciphers ECDHE+AESGCM:ECDHE+CHACHA20;
    location / {{ return 200 "ok"; }}
  }}
}}
"""


def targets(count: int) -> list[str]:
    """``count`` loopback addresses, 127.0.1.1 onwards (no network or broadcast octets)."""
    out: list[str] = []
    base = int(ipaddress.ip_address("127.0.1.0"))
    n = 0
    while len(out) < count:
        n += 1
        address = ipaddress.ip_address(base + n)
        if address.packed[-1] in (0, 255):
            continue
        out.append(f"{address}:{PORT}")
    return out


CPU_SECONDS: dict[str, float] = {}  # the last timed command's user + system seconds


def timed(argv: list[str], stdout: Path) -> tuple[float, int, int]:
    """Wall seconds, peak RSS (KiB) and exit status of one command (its CPU seconds, user +
    system, in ``CPU_SECONDS["last"]``: on a shared machine, the figure load does not move)."""
    with stdout.open("wb") as out:
        began = time.perf_counter()
        done = subprocess.run(["/usr/bin/time", "-v", *argv], stdout=out,
                              stderr=subprocess.PIPE, check=False)
        wall = time.perf_counter() - began
    match = re.search(rb"Maximum resident set size \(kbytes\): (\d+)", done.stderr)
    CPU_SECONDS["last"] = sum(float(m) for m in re.findall(
        rb"(?:User|System) time \(seconds\): ([\d.]+)", done.stderr))
    return wall, int(match.group(1)) if match else 0, done.returncode


def accepted_so_far() -> int:
    """Connections nginx has accepted (stub_status), so a run's handshakes are counted at the
    target: the difference over a run, less this request's own connection."""
    with socket.create_connection(("127.0.0.1", STATUS_PORT), 5) as conn:
        conn.sendall(b"GET / HTTP/1.0\r\n\r\n")
        reply = b""
        while chunk := conn.recv(4096):
            reply += chunk
    match = re.search(rb"server accepts handled requests\s+(\d+)", reply)
    if match is None:
        raise SystemExit("nginx stub_status did not answer")
    return int(match.group(1))


def per_endpoint(before: int, count: int) -> float:
    """Connections nginx accepted per endpoint since ``before`` (less the status request)."""
    return round((accepted_so_far() - before - 1) / count, 2)


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def sentinel_run(tmp: Path, count: int) -> dict[str, object]:
    listing = tmp / f"targets-{count}.txt"
    listing.write_text("\n".join(targets(count)) + "\n", encoding="ascii")
    out = tmp / f"sentinel-{count}.jsonl"
    began, load_before = accepted_so_far(), load()
    wall, rss, _status = timed(
        [sys.executable, "-m", "sentinel.cli", "probe", "tls", "--targets-from", str(listing),
         "--json", "--scope", "127.0.0.0/8", "--rate", "100000", "--connections", "64",
         "--timeout", "10"], out)
    docs = errors = accepted = 0
    with out.open(encoding="utf-8") as lines:
        for line in lines:
            doc = json.loads(line)
            docs += 1
            errors += "error" in doc
            accepted += len(doc.get("accepted", []))
    return {"endpoints": count, "wall_s": round(wall, 2), "per_s": round(count / wall, 1),
            "rss_mib": round(rss / 1024, 1), "documents": docs, "errors": errors,
            "accepted_pairs": accepted, "cpu_s": round(CPU_SECONDS["last"], 1),
            "connections_per_endpoint": per_endpoint(began, count),
            "load_before": load_before, "load_after": load()}


def nmap_run(tmp: Path, count: int) -> dict[str, float]:
    listing = tmp / f"nmap-{count}.txt"
    listing.write_text("\n".join(t.rsplit(":", 1)[0] for t in targets(count)) + "\n",
                       encoding="ascii")
    out = tmp / f"nmap-{count}.xml"
    wall, rss, _status = timed(
        ["nmap", "-Pn", "-n", "-sT", "-p", str(PORT), "--script", "ssl-enum-ciphers",
         "-iL", str(listing), "-oX", str(out)], tmp / "nmap.out")
    text = out.read_text(encoding="utf-8", errors="replace") if out.exists() else ""
    return {"endpoints": count, "wall_s": round(wall, 2), "per_s": round(count / wall, 1),
            "rss_mib": round(rss / 1024, 1),
            "accepted_pairs": len(re.findall(r'<table>\s*<elem key="name">', text))}


SCAN_BOOK = """\
name: scale
agencies: [{{id: a1, name: {{zh: 规模, en: Scale}}}}]
scope: {{authorised: ["127.0.0.0/8"]}}
segments:
  - {{id: farm, agency: a1, zone: extranet, cidrs: ["{cidr}"]{hosts}}}
{rate}probes: {probes}
"""
FAST = "rate: {packets_per_second: 100000, connections_per_host: 8, concurrent_hosts: 64}\n"


def playbook(tmp: Path, name: str, *, cidr: str = "127.0.0.0/8", hosts: list[str] | None = None,
             rate: str = FAST, probes: str = "{tcp: null, tls: {ports: [4433]}}") -> Path:
    listed = "" if hosts is None else ", hosts: [" + ", ".join(hosts) + "]"
    path = tmp / f"{name}.yml"
    path.write_text(SCAN_BOOK.format(cidr=cidr, hosts=listed, rate=rate, probes=probes),
                    encoding="utf-8")
    return path


def scan_run(tmp: Path, book: Path, endpoints: int) -> dict[str, object]:
    """``sentinel scan`` of ``book`` into a fresh store: time, RSS, what the store holds."""
    import sqlite3

    db = tmp / f"{book.stem}.db"
    db.unlink(missing_ok=True)
    began, load_before = accepted_so_far(), load()
    # SCALE_PROFILE=DIR: the scan runs under cProfile, its statistics in DIR/<playbook>.prof
    # (a profile's figures, not a timing: the profiler slows the run).
    profile = os.environ.get("SCALE_PROFILE")
    profiler = ["-m", "cProfile", "-o", f"{profile}/{book.stem}.prof"] if profile else []
    wall, rss, status = timed(
        [sys.executable, *profiler, "-m", "sentinel.cli", "scan", "--playbook", str(book),
         "--store", str(db)], tmp / f"{book.stem}.out")
    with sqlite3.connect(db) as con:
        attempts = dict(con.execute("SELECT probe || ':' || status, COUNT(*) FROM observations"
                                    " GROUP BY 1").fetchall())
        findings = con.execute("SELECT COUNT(*) FROM findings").fetchone()[0]
        scan_status = con.execute("SELECT status FROM scans").fetchone()[0]
    return {"endpoints": endpoints, "wall_s": round(wall, 2),
            "per_s": round(endpoints / wall, 1), "rss_mib": round(rss / 1024, 1),
            "exit": status, "scan": scan_status, "attempts": attempts, "findings": findings,
            "cpu_s": round(CPU_SECONDS["last"], 1),
            "connections_per_endpoint": per_endpoint(began, endpoints),
            "load_before": load_before, "load_after": load()}


class Listener:
    """Accepts on ``ports`` of every loopback address; counts, at the target, each accept's
    time and how many connections each address holds at once (until the client closes)."""

    def __init__(self, ports: list[int]) -> None:
        import selectors

        self.selector = selectors.DefaultSelector()
        self.accepts: list[float] = []
        self.open: Counter[str] = Counter()
        self.most: Counter[str] = Counter()
        for port in ports:
            server = socket.socket()
            server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            server.bind(("0.0.0.0", port))
            server.listen(4096)
            server.setblocking(False)
            self.selector.register(server, 1, None)
        self.stopped = False
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def _loop(self) -> None:
        while not self.stopped:
            for key, _ in self.selector.select(0.1):
                sock = key.fileobj
                assert isinstance(sock, socket.socket)
                if key.data is None:  # a listening socket
                    try:
                        conn, _peer = sock.accept()
                    except BlockingIOError:
                        continue
                    self.accepts.append(time.monotonic())
                    address = conn.getsockname()[0]
                    self.open[address] += 1
                    self.most[address] = max(self.most[address], self.open[address])
                    conn.setblocking(False)
                    self.selector.register(conn, 1, address)
                    continue
                try:
                    data = sock.recv(4096)
                except (BlockingIOError, InterruptedError):
                    continue
                except OSError:
                    data = b""
                if not data:
                    self.selector.unregister(sock)
                    sock.close()
                    self.open[key.data] -= 1

    def stop(self) -> None:
        self.stopped = True
        self.thread.join(5)


def budget_run(tmp: Path, endpoints: int) -> dict[str, object]:
    """The default budget, measured at the target (issue 20 item 3)."""
    ports = list(range(4434, 4442))
    hosts = [t.rsplit(":", 1)[0] for t in targets(endpoints // len(ports))]
    listener = Listener(ports)
    book = playbook(tmp, "budget", hosts=hosts, rate="",
                    probes=f"{{tcp: {{ports: {ports}, banner: false}}}}")
    try:
        result = scan_run(tmp, book, len(hosts) * len(ports))
    finally:
        listener.stop()
    times = listener.accepts
    span = times[-1] - times[0] if len(times) > 1 else 0.0
    # The bucket starts full (one second's budget at once), then refills at the rate.
    result.update({
        "configured_per_s": 200.0, "accepted": len(times),
        "achieved_per_s": round((len(times) - 1) / span, 1) if span else None,
        "achieved_after_first_second": round(
            sum(1 for t in times if t - times[0] >= 1.0) / (span - 1.0), 1) if span > 1 else None,
        "cap_per_host": 4, "most_at_once_per_host": max(listener.most.values(), default=0),
        "hosts_at_cap": sum(1 for n in listener.most.values() if n == 4)})
    return result


SWEPT = "127.1.0.0/16"


def farm16(count: int) -> ipaddress.IPv4Network:
    """The smallest block at the start of the swept /16 holding ``count`` addresses: the only
    ones that answer (one prefix, so the kernel and scapy see one route, not one per host)."""
    return ipaddress.IPv4Network(f"127.1.0.0/{32 - max(0, (count - 1).bit_length())}")


def answer_only(farm: ipaddress.IPv4Network) -> None:
    """Loopback without 127.0.0.0/8 as one local block: 127.0.0.1 and ``farm`` are local (an
    address with a prefix on lo makes its whole prefix local), the rest of the /16 is routed
    out of lo and dropped by the kernel on the way back in (a martian), so it stays silent,
    as an empty address does on a real segment."""
    subprocess.run(["ip", "addr", "del", "127.0.0.1/8", "dev", "lo"], check=True)
    subprocess.run(["ip", "addr", "add", "127.0.0.1/32", "dev", "lo"], check=True)
    subprocess.run(["ip", "addr", "add", f"{farm.network_address + 1}/{farm.prefixlen}", "dev",
                    "lo"], check=True)
    subprocess.run(["ip", "route", "add", SWEPT, "dev", "lo"], check=True)


def sweep16_run(tmp: Path, count: int) -> dict[str, object]:
    """A /16 scanned with discovery first; only ``count`` addresses answer."""
    import sqlite3

    book = playbook(tmp, "sweep16", cidr=SWEPT, probes=(
        "{discovery: {methods: [icmp, syn], syn_ports: [4433], timeout_s: 1, batch: 4096},"
        " tcp: {ports: [4433], banner: false}}"))
    result = scan_run(tmp, book, 65534)
    farm = farm16(count)
    # The block's first and last addresses are its network and (on lo) broadcast addresses.
    count = farm.num_addresses - 2
    with sqlite3.connect(tmp / "sweep16.db") as con:
        row = con.execute("SELECT doc FROM events WHERE action = 'scan-finished'").fetchone()
    after = json.loads(row[0]).get("sentinel", {}).get("after") if row else None
    result.update({"answering": count, "scan_finished": after})
    return result


def inside(args: argparse.Namespace) -> None:
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    first = "127.0.1.1"
    if args.sweep16:
        answer_only(farm16(args.sweep16))
        first = "127.1.0.1"
    tmp = Path(tempfile.mkdtemp(prefix="sentinel-scale-"))
    try:
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:P-256", "-nodes", "-keyout", str(tmp / "ec.key"),
                        "-out", str(tmp / "ec.crt"), "-days", "365", "-subj", "/CN=scale"],
                       check=True, capture_output=True)
        conf = tmp / "nginx.conf"
        conf.write_text(NGINX_CONF.format(tmp=tmp, port=PORT, status_port=STATUS_PORT),
                        encoding="ascii")
        nginx = subprocess.Popen(["nginx", "-c", str(conf), "-p", str(tmp), "-g",
                                  "daemon off;"], stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection((first, PORT), 0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline or nginx.poll() is not None:
                    raise SystemExit("nginx did not start") from None
                time.sleep(0.05)
        print(f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}", flush=True)
        try:
            for count in args.sizes:
                print("sentinel", json.dumps(sentinel_run(tmp, count)), flush=True)
                if args.nmap and count <= args.nmap_max:
                    print("nmap", json.dumps(nmap_run(tmp, count)), flush=True)
            for count in args.scan_sizes:
                hosts = [t.rsplit(":", 1)[0] for t in targets(count)]
                probes = ("{tcp: null, tls: {ports: [4433]}}" if args.scan_probe == "tls" else
                          "{tcp: {ports: [4433], banner: false}}")
                book = playbook(tmp, f"scan-{args.scan_probe}-{count}", hosts=hosts,
                                probes=probes)
                print("scan", json.dumps(scan_run(tmp, book, count)), flush=True)
            if args.budget:
                print("budget", json.dumps(budget_run(tmp, args.budget)), flush=True)
            if args.sweep16:
                print("sweep16", json.dumps(sweep16_run(tmp, args.sweep16)), flush=True)
        finally:
            nginx.terminate()
            nginx.wait(10)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="*", default=[1000, 10000])
    parser.add_argument("--nmap", action="store_true")
    parser.add_argument("--nmap-max", type=int, default=10000)
    parser.add_argument("--scan-sizes", type=int, nargs="*", default=[])
    parser.add_argument("--scan-probe", choices=["tcp", "tls"], default="tcp")
    parser.add_argument("--budget", type=int, default=0)
    parser.add_argument("--sweep16", type=int, default=0,
                        help="scan 127.1.0.0/16 with discovery; this many addresses answer")
    parser.add_argument("--inside", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.inside:
        inside(args)
        return
    # An empty network namespace of its own: whatever happens, nothing leaves the machine.
    argv = ["unshare", "-n", sys.executable, __file__, "--inside", "--sizes",
            *map(str, args.sizes), "--nmap-max", str(args.nmap_max), "--scan-sizes",
            *map(str, args.scan_sizes), "--scan-probe", args.scan_probe,
            "--budget", str(args.budget)]
    if args.nmap:
        argv.append("--nmap")
    status = subprocess.run(argv, check=False, cwd=ROOT).returncode
    if args.sweep16:  # a namespace of its own: its loopback is cut down to the farm
        status = status or subprocess.run(
            ["unshare", "-n", sys.executable, __file__, "--inside", "--sizes", "--sweep16",
             str(args.sweep16)], check=False, cwd=ROOT).returncode
    raise SystemExit(status)


if __name__ == "__main__":
    main()
