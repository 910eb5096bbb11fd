"""Sentinel's TLS enumeration against sslyze, nmap ssl-enum-ciphers and testssl.sh (not a test).

Starts two nginx servers on 127.0.0.1 (ports above 20000, configs in a temp dir): "modern"
(TLS 1.2 + 1.3, AEAD only, RSA and ECDSA certificates) and "legacy" (TLS 1.0-1.2, CBC, static
RSA and DHE at SECLEVEL=0). With ``--lab`` the lab's 198.18.10.10:443 and 198.18.11.20:443 are
added when ``sentinel lab status`` says the lab is up. Each tool runs as its own process, so
wall time and peak RSS (``wait4``'s ``ru_maxrss``) are measured the same way for all of them:
Sentinel is the command a person types, ``sentinel probe tls TARGET --json`` (the console
script beside this Python), with the rate and per-address limits raised for a bench
(``--rate 100000 --connections 64``). Its bytecode is compiled first, as pip does when it
installs the wheel (this machine sets PYTHONDONTWRITEBYTECODE, so an editable checkout would
otherwise recompile every module on every run).

Per endpoint it prints the median wall time of N runs (testssl.sh: one run, it is slow), peak
RSS, "Sentinel faster by" ratios, the accepted (protocol, suite) matrix normalised to IANA
codes, and every difference between Sentinel and each peer.

sslyze (AGPL) lives in its own venv, never in Sentinel's dependencies: see bench/setup.sh.

Usage: python bench/tls_peers.py [--runs 3] [--skip-testssl] [--quick] [--lab] [--json FILE]
       python bench/tls_peers.py --multi [--lab] [--runs 3]   (bench/tls_multi.py)
"""

from __future__ import annotations

import argparse
import compileall
import contextlib
import importlib.util
import ipaddress
import json
import os
import random
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
BENCH_HOME = Path(os.environ.get("SENTINEL_BENCH_HOME", Path.home() / ".cache" / "sentinel-bench"))
SSLYZE = BENCH_HOME / "sslyze-venv" / "bin" / "sslyze"
OPENSSL = shutil.which("openssl") or "/usr/bin/openssl"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
NMAP = shutil.which("nmap") or "/usr/bin/nmap"
TESTSSL = shutil.which("testssl") or shutil.which("testssl.sh") or "/usr/bin/testssl"
LOOPBACK = "127.0.0.1"
LAB = (("lab-198.18.10.10", "198.18.10.10", 443), ("lab-198.18.11.20", "198.18.11.20", 443))
# The only places this bench may send to: loopback, and the lab with --lab.
ALLOWED = tuple(ipaddress.ip_network(n) for n in ("127.0.0.0/8", "::1/128", "198.18.0.0/15",
                                                  "2001:db8::/32"))
PROTOCOLS = ("SSLv2", "SSLv3", "TLSv1.0", "TLSv1.1", "TLSv1.2", "TLSv1.3", "TLCPv1.1")
TIMEOUT = 5.0

Pair = tuple[str, str]  # (protocol, "0xC02F") or (protocol, "?UNRESOLVED_NAME")


@dataclass(frozen=True)
class Endpoint:
    label: str
    host: str
    port: int


@dataclass(frozen=True)
class Run:
    wall: float
    rss_kib: int
    accepted: frozenset[Pair]
    detail: str = ""  # e.g. Sentinel's in-process time and connection count


@dataclass
class ToolResult:
    tool: str
    runs: list[Run] = field(default_factory=list)
    error: str = ""

    @property
    def wall(self) -> float:
        return statistics.median(r.wall for r in self.runs)

    @property
    def rss_kib(self) -> int:
        return max(r.rss_kib for r in self.runs)

    @property
    def accepted(self) -> frozenset[Pair]:
        """The union over runs (instability between runs is reported separately)."""
        return frozenset().union(*(r.accepted for r in self.runs))

    @property
    def unstable(self) -> bool:
        return len({r.accepted for r in self.runs}) > 1


# --- names -> IANA codes ------------------------------------------------------------------


class SuiteNames:
    """IANA names, registry aliases and OpenSSL names (``openssl ciphers -V``) -> codes."""

    def __init__(self) -> None:
        from sentinel.catalog.tls import tls_registry

        self.registry = tls_registry()
        self.codes: dict[str, int] = {}
        listing = subprocess.run(
            [OPENSSL, "ciphers", "-V", "ALL:COMPLEMENTOFALL:@SECLEVEL=0"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout
        for line in listing.splitlines():
            match = re.match(r"\s*0x([0-9A-F]{2}),0x([0-9A-F]{2}) - (\S+)", line)
            if match:
                self.codes[match[3].upper()] = int(match[1] + match[2], 16)
        for suite in self.registry.data.suites:  # the registry wins over OpenSSL
            for name in (suite.name, *suite.aliases, *([suite.openssl] if suite.openssl else [])):
                self.codes[name.upper()] = suite.code

    def key(self, name: str) -> str:
        upper = name.strip().upper()
        # nmap names TLS 1.3 suites TLS_AKE_WITH_<aead>_<hash>.
        code = self.codes.get(upper, self.codes.get(upper.replace("TLS_AKE_WITH_", "TLS_")))
        return f"0x{code:04X}" if code is not None else f"?{name}"

    def label(self, key: str) -> str:
        if key.startswith("?"):
            return f"{key[1:]} (not in registry)"
        return self.registry.suite_name(int(key, 16))


# --- running a child process with wall time and peak RSS -----------------------------------


def measured(
    command: list[str], timeout: float, env: dict[str, str] | None = None
) -> tuple[float, int, int, str, str]:
    """Run ``command``; return (wall s, peak RSS KiB, exit code, stdout, stderr).

    ``wait4`` gives the child's ru_maxrss, which on Linux covers the largest process of its
    waited-for tree (not the sum: testssl.sh's many openssl children are not added up).
    """
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        process = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=out, stderr=err, env=env
        )
        timer = threading.Timer(timeout, process.kill)
        timer.start()
        try:
            _, status, usage = os.wait4(process.pid, 0)
        finally:
            timer.cancel()
        wall = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return (
            wall,
            usage.ru_maxrss,
            process.returncode,
            out.read().decode(errors="replace"),
            err.read().decode(errors="replace"),
        )


def hostport(endpoint: Endpoint) -> str:
    host = endpoint.host
    return f"[{host}]:{endpoint.port}" if ":" in host else f"{host}:{endpoint.port}"


# --- the tools ------------------------------------------------------------------------------


SENTINEL_FLAGS = ("--json", "--rate", "100000", "--connections", "64", "--timeout", str(TIMEOUT))


def sentinel_command(targets: list[str]) -> list[str]:
    """``sentinel probe tls TARGET... --json`` through the installed console script."""
    script = Path(sys.executable).with_name("sentinel")
    cli = [str(script)] if script.exists() else [sys.executable, "-m", "sentinel.cli.main"]
    return [*cli, "probe", "tls", *targets, *SENTINEL_FLAGS]


def sentinel_documents(out: str) -> list[dict[str, Any]]:
    """One target prints one JSON document; several print one document per line."""
    text = out.strip()
    if text.startswith("{\n"):
        return [json.loads(text)]
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def compile_sentinel() -> None:
    """Bytecode for Sentinel's modules, as a wheel install has (pip compiles on install)."""
    spec = importlib.util.find_spec("sentinel")
    if spec is None or spec.origin is None:
        raise SystemExit("sentinel is not installed (pip install -e .)")
    compileall.compile_dir(Path(spec.origin).parent, quiet=1)


def run_sentinel(endpoint: Endpoint, names: SuiteNames, work: Path) -> Run:
    wall, rss, code, out, err = measured(sentinel_command([hostport(endpoint)]), 120)
    if code != 0:
        raise RuntimeError(f"sentinel exited {code}: {err.strip()[-400:]}")
    doc = sentinel_documents(out)[0]
    accepted = frozenset((a["protocol"], a["code"]) for a in doc["accepted"])
    detail = {"probe": doc["duration_ms"] / 1000, "connections": doc["connections_used"],
              "errors": len(doc["errors"])}
    return Run(wall, rss, accepted, json.dumps(detail))


SSLYZE_KEYS = {
    "ssl_2_0": "SSLv2",
    "ssl_3_0": "SSLv3",
    "tls_1_0": "TLSv1.0",
    "tls_1_1": "TLSv1.1",
    "tls_1_2": "TLSv1.2",
    "tls_1_3": "TLSv1.3",
}


def run_sslyze(endpoint: Endpoint, names: SuiteNames, work: Path) -> Run:
    report = work / f"sslyze-{time.monotonic_ns()}.json"
    # Cipher-suite commands plus groups: the work enumerate_tls does (no trust-store checks).
    command = [
        str(SSLYZE),
        "--quiet",
        f"--json_out={report}",
        "--sslv2",
        "--sslv3",
        "--tlsv1",
        "--tlsv1_1",
        "--tlsv1_2",
        "--tlsv1_3",
        "--elliptic_curves",
        hostport(endpoint),
    ]
    wall, rss, _, _, err = measured(command, 300)
    if not report.exists():
        raise RuntimeError(f"sslyze wrote no JSON: {err.strip()[-400:]}")
    server = json.loads(report.read_text())["server_scan_results"][0]
    if server.get("scan_status") != "COMPLETED":
        raise RuntimeError(f"sslyze: {server.get('connectivity_error_trace') or server}")
    accepted: set[Pair] = set()
    notes = []
    for prefix, protocol in SSLYZE_KEYS.items():
        attempt = server["scan_result"][f"{prefix}_cipher_suites"]
        if attempt["status"] != "COMPLETED":
            notes.append(f"{protocol}: {attempt['status']} {attempt.get('error_reason')}")
            continue
        for item in attempt["result"]["accepted_cipher_suites"]:
            accepted.add((protocol, names.key(item["cipher_suite"]["name"])))
    return Run(wall, rss, frozenset(accepted), "; ".join(notes))


def run_nmap(endpoint: Endpoint, names: SuiteNames, work: Path) -> Run:
    family = ["-6"] if ":" in endpoint.host else []
    command = [
        NMAP,
        *family,
        "-n",
        "-Pn",
        "-p",
        str(endpoint.port),
        "--script",
        "ssl-enum-ciphers",
        "-oX",
        "-",
        endpoint.host,
    ]
    wall, rss, code, out, err = measured(command, 300)
    if code != 0:
        raise RuntimeError(f"nmap exited {code}: {err.strip()[-400:]}")
    accepted: set[Pair] = set()
    for script in ET.fromstring(out).iter("script"):
        if script.get("id") != "ssl-enum-ciphers":
            continue
        for version in script.findall("table"):
            protocol = version.get("key", "?")
            for cipher in version.findall("table[@key='ciphers']/table"):
                name = cipher.findtext("elem[@key='name']")
                if name:
                    accepted.add((protocol, names.key(name)))
    return Run(wall, rss, frozenset(accepted))


TESTSSL_PROTOCOLS = {
    "ssl2": "SSLv2",
    "ssl3": "SSLv3",
    "tls1": "TLSv1.0",
    "tls1_1": "TLSv1.1",
    "tls1_2": "TLSv1.2",
    "tls1_3": "TLSv1.3",
}


def run_testssl(endpoint: Endpoint, names: SuiteNames, work: Path) -> Run:
    report = work / f"testssl-{time.monotonic_ns()}.json"
    command = [
        TESTSSL,
        "--quiet",
        "--color",
        "0",
        "--nodns",
        "none",
        "--warnings",
        "off",
        "--jsonfile",
        str(report),
        "-p",
        "-E",
        hostport(endpoint),
    ]
    wall, rss, _, _, err = measured(command, 900)
    if not report.exists():
        raise RuntimeError(f"testssl.sh wrote no JSON: {err.strip()[-400:]}")
    accepted: set[Pair] = set()
    for item in json.loads(report.read_text()):
        # -E (per protocol; plain -e loses the protocol): id "cipher-tls1_2_xc02f" per accepted
        # suite.
        match = re.fullmatch(r"cipher-(ssl2|ssl3|tls1(?:_[123])?)_x([0-9a-f]+)", item.get("id", ""))
        if match:
            accepted.add((TESTSSL_PROTOCOLS[match[1]], f"0x{int(match[2], 16):04X}"))
    return Run(wall, rss, frozenset(accepted))


Runner = Callable[[Endpoint, SuiteNames, Path], Run]


# --- servers ---------------------------------------------------------------------------------

NGINX_CONF = """
daemon off; worker_processes 2; pid {tmp}/nginx-{label}.pid; error_log {tmp}/error-{label}.log;
events {{ worker_connections 512; }}
http {{
  access_log off; client_body_temp_path {tmp}; proxy_temp_path {tmp};
  fastcgi_temp_path {tmp}; uwsgi_temp_path {tmp}; scgi_temp_path {tmp};
  server {{
    {listen}
    {certificates}
    ssl_protocols {protocols};
    ssl_ciphers {ciphers};
    {extra}
    location / {{ return 204; }}
  }}
}}
"""

SERVERS = {
    "modern": {
        "certs": ("rsa", "ec"),
        "protocols": "TLSv1.2 TLSv1.3",
        "ciphers": "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
        "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
        "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305",
        "extra": "ssl_prefer_server_ciphers off; ssl_ecdh_curve X25519:prime256v1:secp384r1;",
    },
    "legacy": {
        "certs": ("rsa",),
        "protocols": "TLSv1 TLSv1.1 TLSv1.2",
        "ciphers": "ECDHE-RSA-AES256-SHA:ECDHE-RSA-AES128-SHA:DHE-RSA-AES128-SHA:"
        "AES256-SHA:AES128-SHA:AES128-SHA256:AES256-SHA256:AES128-GCM-SHA256:"
        "ECDHE-RSA-AES128-SHA256:ECDHE-RSA-AES128-GCM-SHA256:CAMELLIA128-SHA:"
        "@SECLEVEL=0",
        "extra": "ssl_prefer_server_ciphers on; ssl_dhparam {tmp}/dh.pem;",
    },
}


_HANDED_OUT: set[int] = set()


def free_port() -> int:
    """A free TCP port on 127.0.0.1 above 20000 (the bench's own range), never the same one
    twice in a run (40 random picks collide often enough to make nginx fail to start)."""
    for _ in range(200):
        port = random.randint(20001, 29999)
        if port in _HANDED_OUT:
            continue
        _HANDED_OUT.add(port)
        with socket.socket() as sock:
            try:
                sock.bind((LOOPBACK, port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port in 20001-29999")


def certificate(tmp: Path, kind: str) -> tuple[Path, Path]:
    key, crt = tmp / f"{kind}.key", tmp / f"{kind}.crt"
    if not crt.exists():
        args = (
            ["-newkey", "rsa:2048"]
            if kind == "rsa"
            else ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"]
        )
        # 365 days: short lifetimes make peers report "expires soon" noise.
        subprocess.run(
            [
                OPENSSL,
                "req",
                "-x509",
                *args,
                "-nodes",
                "-keyout",
                str(key),
                "-out",
                str(crt),
                "-days",
                "365",
                "-subj",
                "/CN=localhost",
            ],
            check=True,
            capture_output=True,
        )
    return key, crt


def wait_listening(port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("nginx exited on start-up")
        with contextlib.suppress(OSError), socket.create_connection((LOOPBACK, port), 0.2):
            return
        time.sleep(0.05)
    raise RuntimeError(f"nginx did not listen on {port}")


@contextlib.contextmanager
def nginx_servers(tmp: Path, copies: int = 1) -> Iterator[list[Endpoint]]:
    """The modern and legacy nginx; with ``copies`` > 1 each listens on that many ports, so a
    multi-endpoint run can show how the tools scale with the number of endpoints."""
    subprocess.run(
        [OPENSSL, "dhparam", "-dsaparam", "-out", str(tmp / "dh.pem"), "2048"],
        check=True,
        capture_output=True,
    )
    processes: list[subprocess.Popen[bytes]] = []
    endpoints = []
    try:
        for label, spec in SERVERS.items():
            ports = [free_port() for _ in range(copies)]
            port = ports[0]
            lines = []
            for kind in spec["certs"]:
                key, crt = certificate(tmp, kind)
                lines.append(f"ssl_certificate {crt}; ssl_certificate_key {key};")
            conf = tmp / f"nginx-{label}.conf"
            conf.write_text(
                NGINX_CONF.format(
                    tmp=tmp,
                    label=label,
                    listen="\n    ".join(f"listen 127.0.0.1:{p} ssl;" for p in ports),
                    certificates="\n    ".join(lines),
                    protocols=spec["protocols"],
                    ciphers=spec["ciphers"],
                    extra=str(spec["extra"]).format(tmp=tmp),
                )
            )
            process = subprocess.Popen(
                [NGINX, "-c", str(conf), "-p", str(tmp)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            processes.append(process)
            wait_listening(port, process)
            for index, each in enumerate(ports):
                name = f"nginx-{label}" + (f"-{index}" if copies > 1 else "")
                endpoints.append(Endpoint(name, LOOPBACK, each))
        yield endpoints
    finally:
        for process in processes:
            process.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(5)


def lab_endpoints() -> list[Endpoint]:
    status = subprocess.run(
        ["sentinel", "lab", "status"], capture_output=True, text=True, check=False
    )
    if status.returncode != 0:
        print(
            f"--lab: the lab is not up (sentinel lab status exit {status.returncode}); "
            "skipping lab endpoints",
            file=sys.stderr,
        )
        return []
    return [Endpoint(label, host, port) for label, host, port in LAB]


# --- benchmark and report ------------------------------------------------------------------


def bench_endpoint(
    endpoint: Endpoint,
    tools: dict[str, tuple[Runner, int]],
    names: SuiteNames,
    work: Path,
    warm_up: bool,
) -> dict[str, ToolResult]:
    """Interleave the tools run by run so drift hits all of them alike."""
    address = ipaddress.ip_address(endpoint.host)
    if not any(address.version == n.version and address in n for n in ALLOWED):
        raise SystemExit(f"{endpoint.host} is outside loopback and the lab")
    results = {tool: ToolResult(tool) for tool in tools}
    if warm_up:  # page cache, venv imports: not counted
        for runner, runs in tools.values():
            if runs > 1:
                with contextlib.suppress(Exception):
                    runner(endpoint, names, work)
    for index in range(max(runs for _, runs in tools.values())):
        for tool, (runner, runs) in tools.items():
            if index >= runs or results[tool].error:
                continue
            print(f"  {endpoint.label}: {tool} run {index + 1}/{runs}", file=sys.stderr)
            try:
                results[tool].runs.append(runner(endpoint, names, work))
            except Exception as exc:
                results[tool].error = f"{type(exc).__name__}: {exc}"
    return results


def mib(kib: int) -> str:
    return f"{kib / 1024:.0f} MiB"


def report(endpoint: Endpoint, results: dict[str, ToolResult], names: SuiteNames) -> None:
    print(f"\n== {endpoint.label} ({hostport(endpoint)}) ==")
    sentinel = results["sentinel"]
    print(
        f"{'tool':<10} {'runs':>4} {'wall median':>12} {'min-max':>15} {'peak RSS':>9} "
        f"{'suites':>6}  Sentinel faster by"
    )
    for tool, result in results.items():
        if not result.runs:
            print(f"{tool:<10} failed: {result.error}")
            continue
        walls = [r.wall for r in result.runs]
        ratio = (
            "-"
            if tool == "sentinel" or not sentinel.runs
            else f"{result.wall / sentinel.wall:.1f}x"
        )
        print(
            f"{tool:<10} {len(walls):>4} {result.wall:>10.3f} s "
            f"{min(walls):>6.2f}-{max(walls):<6.2f}s {mib(result.rss_kib):>9} "
            f"{len(result.accepted):>6}  {ratio}"
        )
        if result.unstable:
            print(f"{'':<10} note: accepted set differed between runs")
    if sentinel.runs:
        phases = [json.loads(r.detail) for r in sentinel.runs]
        probe = statistics.median(p["probe"] for p in phases)
        print(
            f"sentinel: the probe itself (duration_ms) {probe:.3f} s of the process's "
            f"{sentinel.wall:.3f} s (the rest: interpreter, imports, output), "
            f"{phases[0]['connections']} connections, {phases[0]['errors']} step errors"
        )
    matrix(results, names)
    differences(results, names)


def matrix(results: dict[str, ToolResult], names: SuiteNames) -> None:
    tools = [t for t, r in results.items() if r.runs]
    pairs = sorted(
        frozenset().union(*(results[t].accepted for t in tools)),
        key=lambda p: (PROTOCOLS.index(p[0]) if p[0] in PROTOCOLS else 99, p[1]),
    )
    print("accepted (protocol, suite): " + " ".join(f"{t[:8]:>8}" for t in tools))
    for protocol, key in pairs:
        marks = " ".join(
            f"{'x' if (protocol, key) in results[t].accepted else '.':>8}" for t in tools
        )
        print(f"  {protocol:<8} {key:<7} {names.label(key):<44.44} {marks}")


def differences(results: dict[str, ToolResult], names: SuiteNames) -> None:
    ours = results["sentinel"].accepted
    for tool, result in results.items():
        if tool == "sentinel" or not result.runs:
            continue
        only_ours, only_theirs = ours - result.accepted, result.accepted - ours
        if not only_ours and not only_theirs:
            print(f"  vs {tool}: identical ({len(ours)} pairs)")
        for label, pairs in (
            (f"in Sentinel, not {tool}", only_ours),
            (f"in {tool}, not Sentinel", only_theirs),
        ):
            for protocol, key in sorted(pairs):
                print(f"  vs {tool}: {label}: {protocol} {key} {names.label(key)}")


def as_json(results: dict[str, dict[str, ToolResult]]) -> dict[str, object]:
    return {
        label: {
            tool: {
                "error": r.error,
                "wall_median": r.wall if r.runs else None,
                "walls": [x.wall for x in r.runs],
                "peak_rss_kib": r.rss_kib if r.runs else None,
                "accepted": sorted(r.accepted),
            }
            for tool, r in per_tool.items()
        }
        for label, per_tool in results.items()
    }


def available_tools(args: argparse.Namespace) -> dict[str, tuple[Runner, int]]:
    runs = 1 if args.quick else args.runs
    tools: dict[str, tuple[Runner, int]] = {"sentinel": (run_sentinel, runs)}
    if SSLYZE.exists():
        tools["sslyze"] = (run_sslyze, runs)
    else:
        print(f"sslyze not found at {SSLYZE}: run bench/setup.sh", file=sys.stderr)
    tools["nmap"] = (run_nmap, runs)
    if not (args.skip_testssl or args.quick):
        if Path(TESTSSL).exists():
            tools["testssl"] = (run_testssl, 1)
        else:
            print("testssl.sh not installed (apt-get install -y testssl.sh)", file=sys.stderr)
    return tools


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="runs of the fast tools (median)")
    parser.add_argument("--skip-testssl", action="store_true", help="testssl.sh takes ~100 s")
    parser.add_argument("--quick", action="store_true", help="one run each, no testssl.sh")
    parser.add_argument("--lab", action="store_true", help="also the lab's two TLS endpoints")
    parser.add_argument("--json", type=Path, help="also write the results as JSON here")
    parser.add_argument("--scale", type=int, default=1, metavar="N",
                        help="with --multi: each local nginx listens on N ports (2N endpoints)")
    parser.add_argument("--multi", action="store_true",
                        help="one invocation per tool over all endpoints (bench/tls_multi.py)")
    args = parser.parse_args()
    compile_sentinel()
    if args.multi:
        multi(args)
        return
    names = SuiteNames()
    tools = available_tools(args)
    results: dict[str, dict[str, ToolResult]] = {}
    with tempfile.TemporaryDirectory(prefix="sentinel-bench-") as folder:
        work = Path(folder)
        with nginx_servers(work) as endpoints:
            targets = endpoints + (lab_endpoints() if args.lab else [])
            for endpoint in targets:
                results[endpoint.label] = bench_endpoint(
                    endpoint, tools, names, work, warm_up=not args.quick
                )
                report(endpoint, results[endpoint.label], names)
    if args.json:
        args.json.write_text(json.dumps(as_json(results), indent=2))


def multi(args: argparse.Namespace) -> None:
    """All endpoints in one invocation per tool (see bench/tls_multi.py)."""
    from tls_multi import LAB_MULTI, bench_multi, report_multi

    names = SuiteNames()
    with tempfile.TemporaryDirectory(prefix="sentinel-bench-") as folder:
        work = Path(folder)
        with nginx_servers(work, args.scale) as endpoints:
            lab = [Endpoint(*e) for e in LAB_MULTI] if args.lab and lab_endpoints() else []
            targets = endpoints + lab
            results = bench_multi(targets, names, work, 1 if args.quick else args.runs)
            summary = report_multi(targets, results, names)
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
