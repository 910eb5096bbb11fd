"""Multi-endpoint mode of ``tls_peers.py``: every tool scans the same N endpoints in ONE
invocation (sslyze and nmap take many targets; Sentinel enumerates them concurrently under
one gate), interleaved run by run, median of N runs.

Endpoints: the two local nginx servers, plus with ``--lab`` the lab's TLS endpoints (the
national-crypto ones included: peers cannot speak TLCP, so what only Sentinel sees there is
reported as a Sentinel-only result per endpoint, never folded into "identical").
nmap cannot mix address families in one run: its "one invocation" is one shell running the
IPv4 and the IPv6 scan concurrently (wall time of both, peak RSS of the larger).

Usage: python bench/tls_peers.py --multi [--lab] [--runs 3] [--json FILE]
"""

from __future__ import annotations

import ipaddress
import json
import shlex
import statistics
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path

from tls_peers import (
    ALLOWED,
    NMAP,
    SSLYZE,
    SSLYZE_KEYS,
    Endpoint,
    Pair,
    SuiteNames,
    hostport,
    measured,
    mib,
    sentinel_command,
    sentinel_documents,
)

LAB_MULTI = (("lab-portal-v4", "198.18.10.10", 443), ("lab-portal-v6", "2001:db8:10::10", 443),
             ("lab-legacy-nginx", "198.18.11.20", 443), ("lab-legacy-3des", "198.18.11.20", 4433),
             ("lab-tlcp", "198.18.20.31", 443), ("lab-rfc8998", "198.18.20.32", 443),
             ("lab-gmdual", "198.18.20.33", 443), ("lab-pqc", "198.18.20.34", 443))
National = {"TLCPv1.1"}
Sets = dict[str, frozenset[Pair]]  # endpoint label -> accepted pairs
MultiRun = tuple[float, int, Sets, str]  # wall, peak RSS KiB, sets, detail
MultiRunner = Callable[[list[Endpoint], SuiteNames, Path], MultiRun]


def _key(host: str, port: int) -> str:
    return f"{ipaddress.ip_address(host)}:{port}"


def run_sentinel(endpoints: list[Endpoint], names: SuiteNames, work: Path) -> MultiRun:
    """``sentinel probe tls`` with every endpoint on one command line (probed concurrently
    under one gate)."""
    wall, rss, code, out, err = measured(sentinel_command([hostport(e) for e in endpoints]), 300)
    if code != 0:
        raise RuntimeError(f"sentinel exited {code}: {err.strip()[-400:]}")
    found = {_key(d["target"]["address"], d["target"]["port"]): d
             for d in sentinel_documents(out)}
    sets: Sets = {}
    connections = 0
    slowest = 0.0
    for endpoint in endpoints:
        doc = found[_key(endpoint.host, endpoint.port)]
        sets[endpoint.label] = frozenset((a["protocol"], a["code"])
                                         for a in doc.get("accepted", []))
        connections += doc.get("connections_used", 0)
        slowest = max(slowest, doc.get("duration_ms", 0.0) / 1000)
    detail = f"slowest endpoint's probe {slowest:.3f} s, {connections} connections"
    return wall, rss, sets, detail


def run_sslyze(endpoints: list[Endpoint], names: SuiteNames, work: Path) -> MultiRun:
    report = work / f"sslyze-multi-{time.monotonic_ns()}.json"
    command = [str(SSLYZE), "--quiet", f"--json_out={report}", "--sslv2", "--sslv3", "--tlsv1",
               "--tlsv1_1", "--tlsv1_2", "--tlsv1_3", "--elliptic_curves",
               *(hostport(e) for e in endpoints)]
    wall, rss, _, _, err = measured(command, 600)
    if not report.exists():
        raise RuntimeError(f"sslyze wrote no JSON: {err.strip()[-400:]}")
    by_key = {}
    for server in json.loads(report.read_text())["server_scan_results"]:
        location = server["server_location"]
        by_key[_key(location["ip_address"], location["port"])] = server
    sets: Sets = {}
    notes = []
    for endpoint in endpoints:
        server = by_key.get(_key(endpoint.host, endpoint.port))
        accepted: set[Pair] = set()
        if server is None or server.get("scan_status") != "COMPLETED":
            notes.append(f"{endpoint.label}: {server and server.get('scan_status')}")
        else:
            for prefix, protocol in SSLYZE_KEYS.items():
                attempt = server["scan_result"][f"{prefix}_cipher_suites"]
                if attempt["status"] == "COMPLETED":
                    accepted |= {(protocol, names.key(i["cipher_suite"]["name"]))
                                 for i in attempt["result"]["accepted_cipher_suites"]}
        sets[endpoint.label] = frozenset(accepted)
    return wall, rss, sets, "; ".join(notes)


def run_nmap(endpoints: list[Endpoint], names: SuiteNames, work: Path) -> MultiRun:
    scans: list[tuple[str, Path]] = []  # (shell command, XML output)
    for family, flag in ((4, []), (6, ["-6"])):
        chosen = [e for e in endpoints if ipaddress.ip_address(e.host).version == family]
        if not chosen:
            continue
        ports = ",".join(sorted({str(e.port) for e in chosen}))
        out = work / f"nmap-{family}-{time.monotonic_ns()}.xml"
        command = [NMAP, *flag, "-n", "-Pn", "-p", ports, "--script", "ssl-enum-ciphers",
                   "-oX", str(out), *sorted({e.host for e in chosen})]
        scans.append((shlex.join(command) + " >/dev/null", out))
    shell = " & ".join(command for command, _ in scans) + " ; wait"
    wall, rss, code, _, _ = measured(["sh", "-c", shell], 600)
    found: dict[str, set[Pair]] = {}
    for _, out in scans:
        for host in ET.parse(out).getroot().iter("host"):
            address = host.find("address")
            if address is None:
                continue
            for port in host.iter("port"):
                key = _key(address.get("addr", ""), int(port.get("portid", 0)))
                for script in port.iter("script"):
                    if script.get("id") != "ssl-enum-ciphers":
                        continue
                    for version in script.findall("table"):
                        for cipher in version.findall("table[@key='ciphers']/table"):
                            name = cipher.findtext("elem[@key='name']")
                            if name:
                                found.setdefault(key, set()).add(
                                    (version.get("key", "?"), names.key(name)))
    sets = {e.label: frozenset(found.get(_key(e.host, e.port), set())) for e in endpoints}
    return wall, rss, sets, f"exit {code}" if code else ""


def check_allowed(endpoints: list[Endpoint]) -> None:
    for endpoint in endpoints:
        address = ipaddress.ip_address(endpoint.host)
        if not any(address.version == n.version and address in n for n in ALLOWED):
            raise SystemExit(f"{endpoint.host} is outside loopback and the lab")


def bench_multi(endpoints: list[Endpoint], names: SuiteNames, work: Path,
                runs: int) -> dict[str, list[MultiRun]]:
    check_allowed(endpoints)
    tools: dict[str, MultiRunner] = {"sentinel": run_sentinel, "nmap": run_nmap}
    if SSLYZE.exists():
        tools["sslyze"] = run_sslyze
    results: dict[str, list[MultiRun]] = {tool: [] for tool in tools}
    for tool, runner in tools.items():  # one unmeasured warm-up each
        print(f"  multi: {tool} warm-up", file=sys.stderr)
        runner(endpoints, names, work)
    for index in range(runs):
        for tool, runner in tools.items():
            print(f"  multi: {tool} run {index + 1}/{runs}", file=sys.stderr)
            results[tool].append(runner(endpoints, names, work))
    return results


def report_multi(endpoints: list[Endpoint], results: dict[str, list[MultiRun]],
                 names: SuiteNames) -> dict[str, object]:
    print(f"\n== multi-endpoint: {len(endpoints)} endpoints, one invocation per tool ==")
    sentinel_wall = statistics.median(r[0] for r in results["sentinel"])
    summary: dict[str, object] = {"endpoints": [hostport(e) for e in endpoints], "tools": {}}
    for tool, runs in results.items():
        walls = [r[0] for r in runs]
        wall, rss = statistics.median(walls), max(r[1] for r in runs)
        ratio = "-" if tool == "sentinel" else f"{wall / sentinel_wall:.1f}x"
        pairs = sum(len(s) for s in runs[0][2].values())
        print(f"{tool:<9} wall median {wall:7.3f} s (min {min(walls):.3f}, max {max(walls):.3f})"
              f"  peak RSS {mib(rss):>8}  pairs {pairs:>4}  Sentinel faster by {ratio}")
        if runs[0][3]:
            print(f"{'':<9} {runs[0][3]}")
        if len({frozenset(r[2].items()) for r in runs}) > 1:
            print(f"{'':<9} note: result sets differed between runs")
        summary["tools"][tool] = {"wall_median": wall, "walls": walls,  # type: ignore[index]
                                  "peak_rss_kib": rss, "pairs": pairs}
    ours = {label: frozenset().union(*(r[2][label] for r in results["sentinel"]))
            for label in (e.label for e in endpoints)}
    for endpoint in endpoints:
        _differences(endpoint, ours[endpoint.label], results, names)
    return summary


def _differences(endpoint: Endpoint, ours: frozenset[Pair],
                 results: dict[str, list[MultiRun]], names: SuiteNames) -> None:
    national = {p for p in ours if p[0] in National}
    line = f"-- {endpoint.label} ({hostport(endpoint)}): Sentinel {len(ours)} pairs"
    print(line + (f", of which {len(national)} TLCP (Sentinel-only: peers do not speak TLCP)"
                  if national else ""))
    for pair in sorted(national):
        print(f"   Sentinel-only (national crypto): {pair[0]} {pair[1]} {names.label(pair[1])}")
    for tool, runs in results.items():
        if tool == "sentinel":
            continue
        theirs = frozenset().union(*(r[2][endpoint.label] for r in runs))
        standard = ours - national
        only_ours, only_theirs = standard - theirs, theirs - standard
        if not only_ours and not only_theirs:
            print(f"   vs {tool}: identical on standard TLS ({len(standard)} pairs)")
        for label, pairs in ((f"in Sentinel, not {tool}", only_ours),
                             (f"in {tool}, not Sentinel", only_theirs)):
            for protocol, key in sorted(pairs):
                print(f"   vs {tool}: {label}: {protocol} {key} {names.label(key)}")
