"""Scale: `sentinel probe tls` over many endpoints, endpoints/s and peak RSS (issue 20).

Runs itself inside a new, empty network namespace (``unshare -n``: only its own loopback, so
nothing it sends can leave this machine), starts one nginx there listening on port 4433 of
every loopback address (TLS 1.2 and 1.3, an EC certificate made here), and gives Sentinel
N targets ``127.a.b.c:4433`` through ``--targets-from`` for each N of ``--sizes``. For each run
it prints the wall time, endpoints per second, peak RSS (``/usr/bin/time -v``), documents and
errors; with ``--nmap``, nmap ssl-enum-ciphers on the same targets for the sizes up to
``--nmap-max``. Not part of the test run.

    python bench/scale.py [--sizes 1000 10000 100000] [--nmap] [--nmap-max 10000]
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
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PORT = 4433
NGINX_CONF = """
worker_processes 2;
worker_rlimit_nofile 65536;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log;
events {{ worker_connections 8192; }}
http {{
  access_log off;
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


def timed(argv: list[str], stdout: Path) -> tuple[float, int, int]:
    """Wall seconds, peak RSS (KiB) and exit status of one command."""
    with stdout.open("wb") as out:
        began = time.perf_counter()
        done = subprocess.run(["/usr/bin/time", "-v", *argv], stdout=out,
                              stderr=subprocess.PIPE, check=False)
        wall = time.perf_counter() - began
    match = re.search(rb"Maximum resident set size \(kbytes\): (\d+)", done.stderr)
    return wall, int(match.group(1)) if match else 0, done.returncode


def sentinel_run(tmp: Path, count: int) -> dict[str, float]:
    listing = tmp / f"targets-{count}.txt"
    listing.write_text("\n".join(targets(count)) + "\n", encoding="ascii")
    out = tmp / f"sentinel-{count}.jsonl"
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
            "accepted_pairs": accepted}


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
            "accepted_pairs": len(re.findall(r'<table>\s*<elem key="kex_info">', text))}


def inside(args: argparse.Namespace) -> None:
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    tmp = Path(tempfile.mkdtemp(prefix="sentinel-scale-"))
    try:
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:P-256", "-nodes", "-keyout", str(tmp / "ec.key"),
                        "-out", str(tmp / "ec.crt"), "-days", "365", "-subj", "/CN=scale"],
                       check=True, capture_output=True)
        conf = tmp / "nginx.conf"
        conf.write_text(NGINX_CONF.format(tmp=tmp, port=PORT), encoding="ascii")
        nginx = subprocess.Popen(["nginx", "-c", str(conf), "-p", str(tmp), "-g",
                                  "daemon off;"], stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.1.1", PORT), 0.2).close()
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
        finally:
            nginx.terminate()
            nginx.wait(10)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--nmap", action="store_true")
    parser.add_argument("--nmap-max", type=int, default=10000)
    parser.add_argument("--inside", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.inside:
        inside(args)
        return
    # An empty network namespace of its own: whatever happens, nothing leaves the machine.
    argv = ["unshare", "-n", sys.executable, __file__, "--inside", "--sizes",
            *map(str, args.sizes), "--nmap-max", str(args.nmap_max)]
    if args.nmap:
        argv.append("--nmap")
    raise SystemExit(subprocess.run(argv, check=False, cwd=ROOT).returncode)


if __name__ == "__main__":
    main()
