"""Sentinel's tls_weakness probe vs testssl.sh on the same real servers (issue 17 item 5).

The servers are the ones tests/integration/test_tls_weakness_local.py starts, here on free
127.0.0.1 ports with one fixed P-256 key: gnutls-serv (Debian gnutls-bin) without safe
renegotiation and with heartbeat, gnutls-serv NORMAL, TLS 1.2 only and TLS 1.0-1.3, Tongsuo 8.5 with
zlib (``s_server -comp``) and without ``-comp``, and rustls 0.23 (no TLS_FALLBACK_SCSV). The
Tongsuo and rustls binaries come from ``lab/servers/build.sh`` (the lab cache).

Each tool runs as its own process, timed the same way (wall time of the whole process):

- Sentinel: this script with ``--sentinel PORT``: imports Sentinel, runs ``TlsWeaknessProbe``
  through a loopback-only gate, prints the facts and its judgement as JSON;
- testssl.sh (Debian ``testssl.sh`` 3.0.8, ``/usr/bin/testssl``): ``-p -R -C -Z -H``
  (protocols, which its TLS_FALLBACK_SCSV test needs: without ``-p`` it says "no protocol below
  TLS 1.2 offered" even where TLS 1.0 and 1.1 are; renegotiation; CRIME; TLS_FALLBACK_SCSV;
  heartbleed, whose answer says whether the heartbeat extension is there) with ``--jsonfile``.

Per server it prints what each tool reports for the four weaknesses (yes / no / ? for "could
not tell") and the wall-time ratio testssl.sh / Sentinel; ``--json FILE`` writes everything.

Usage: python bench/tls_weakness.py [--runs 3] [--json FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.support.loopback import started

REPO = Path(__file__).resolve().parent.parent
LAB_BIN = Path(os.environ.get("SENTINEL_LAB_CACHE") or "/var/cache/sentinel-lab") / "bin"
TESTSSL = shutil.which("testssl") or shutil.which("testssl.sh") or "/usr/bin/testssl"
GNUTLS = shutil.which("gnutls-serv") or "/usr/bin/gnutls-serv"
TONGSUO_ZLIB = LAB_BIN / "tongsuo-openssl-zlib"
RUSTLS = LAB_BIN / "rustls-lab"
LOOPBACK = "127.0.0.1"  # the only address this bench sends to
WEAKNESSES = ("renegotiation", "compression", "heartbeat", "fallback")
CHECK_OF = {"TLS-RENEG-INSECURE": "renegotiation", "TLS-COMPRESSION": "compression",
            "TLS-HEARTBEAT": "heartbeat", "TLS-FALLBACK-SCSV": "fallback"}


def servers(cert: Path, key: Path) -> dict[str, tuple[list[str], dict[str, bool | None]]]:
    """Label -> (argv with {port}, the weaknesses it was configured to have)."""
    gnutls = [GNUTLS, "--port", "{port}", "--x509certfile", str(cert), "--x509keyfile", str(key),
              "--quiet", "--priority"]
    tongsuo = [str(TONGSUO_ZLIB), "s_server", "-accept", f"{LOOPBACK}:{{port}}", "-cert",
               str(cert), "-key", str(key), "-quiet", "-cipher", "DEFAULT:@SECLEVEL=1"]
    none: dict[str, bool | None] = dict.fromkeys(WEAKNESSES, False)
    return {
        "gnutls-noreneg-heartbeat": ([*gnutls, "NORMAL:%DISABLE_SAFE_RENEGOTIATION",
                                      "--heartbeat"],
                                     {**none, "renegotiation": True, "heartbeat": True}),
        "gnutls-normal": ([*gnutls, "NORMAL"], none),
        "gnutls-tls12-only": ([*gnutls, "NORMAL:-VERS-ALL:+VERS-TLS1.2"],
                              {**none, "fallback": None}),  # nothing below 1.2 to fall back to
        "gnutls-tls10-13": ([*gnutls, "NORMAL:+VERS-TLS1.1:+VERS-TLS1.0"], none),
        "tongsuo-comp": ([*tongsuo, "-comp"], {**none, "compression": True}),
        "tongsuo-nocomp": (tongsuo, none),
        "rustls": ([str(RUSTLS), f"{LOOPBACK}:{{port}}", str(cert), str(key)],
                   {**none, "fallback": True}),
    }


def make_credentials(folder: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.derive_private_key(0x5E4714E1, ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(1)
            .not_valid_before(datetime.datetime(2026, 1, 1))
            .not_valid_after(datetime.datetime(2036, 1, 1)).sign(key, hashes.SHA256()))
    (folder / "key.pem").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    (folder / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return folder / "cert.pem", folder / "key.pem"


def on_port(argv: list[str]) -> Callable[[int], list[str]]:
    """The argv with its ``{port}`` placeholders filled in, for a port chosen later."""
    return lambda port: [a.replace("{port}", str(port)) for a in argv]


# --- Sentinel, in its own process -----------------------------------------------------------


def sentinel_one(port: int) -> None:
    """Run the probe and the assessor against LOOPBACK:port; print JSON (the --sentinel mode)."""
    sys.path.insert(0, str(REPO))
    from sentinel.assess.base import AssetView
    from sentinel.assess.tls_weakness import assess_tls_weakness
    from sentinel.model import Asset, AttemptStatus, Context, Endpoint, Evaluation, Observation
    from sentinel.playbook import RateLimits, Segment
    from sentinel.probes.base import Network, Target
    from sentinel.probes.tls_weakness import TlsWeaknessProbe
    from sentinel.scope import Gate, policy_from

    context = Context(scan_id="bench", agency_id="a", segment_id="seg")
    segment = Segment(id="seg", agency="a", cidrs=("127.0.0.0/8",), zone="extranet")
    target = Target(Endpoint(address=LOOPBACK, port=port, transport="tcp"),
                    Asset(id="localhost", name="localhost"), context, segment, "localhost")
    network = Network(Gate(policy_from([f"{LOOPBACK}/32"]), RateLimits()), 5.0)
    started = datetime.datetime.now(datetime.UTC)
    facts = asyncio.run(TlsWeaknessProbe(timeout=5.0).run(target, network))
    observation = Observation(probe="tls_weakness", context=context, asset=target.asset,
                              endpoint=target.endpoint, status=AttemptStatus.COMPLETED,
                              facts=facts, started=started)
    findings = assess_tls_weakness(AssetView(target.asset, context, segment, [observation]))
    verdicts = {CHECK_OF[f.check_id]: f.evaluation is Evaluation.FAILED for f in findings}
    print(json.dumps({"facts": facts, "weak": verdicts}))


def run_sentinel(port: int) -> tuple[float, dict[str, bool | None]]:
    started = time.monotonic()
    out = subprocess.run([sys.executable, __file__, "--sentinel", str(port)],
                         capture_output=True, text=True, check=True, timeout=120)
    wall = time.monotonic() - started
    weak: dict[str, bool] = json.loads(out.stdout)["weak"]
    return wall, {w: weak.get(w) for w in WEAKNESSES}


# --- testssl.sh -----------------------------------------------------------------------------


def _fallback(finding: str) -> bool | None:
    if "NOT supported" in finding:
        return True
    if finding == "supported" or "prevention supported" in finding:
        return False
    return None  # e.g. "no protocol below TLS 1.2 offered": not tested


def testssl_verdicts(findings: list[dict[str, Any]]) -> dict[str, bool | None]:
    """testssl.sh's JSON findings -> weak yes (True) / no (False) / could not tell (None)."""
    by_id = {f["id"]: str(f.get("finding", "")) for f in findings}
    reneg = by_id.get("secure_renego", "")
    crime = by_id.get("CRIME_TLS", "")
    fallback = by_id.get("fallback_SCSV", "")
    heart = by_id.get("heartbleed", "")
    verdicts: dict[str, bool | None] = {
        "renegotiation": (True if "not supported" in reneg.lower() or "VULNERABLE" in reneg
                          else False if reneg.startswith("supported") else None),
        "compression": (True if "VULNERABLE" in crime else
                        False if "not vulnerable" in crime else None),
        "heartbeat": (None if not heart or "VULNERABLE" in heart else
                      "no heartbeat extension" not in heart),
        "fallback": _fallback(fallback),
    }
    return verdicts


def run_testssl(port: int, workdir: Path) -> tuple[float, dict[str, bool | None], dict[str, str]]:
    report = workdir / f"testssl-{port}-{time.monotonic_ns()}.json"
    started = time.monotonic()
    subprocess.run([TESTSSL, "--quiet", "--color", "0", "--warnings", "off", "-p", "-R", "-C",
                    "-Z", "-H", "--jsonfile", str(report), f"{LOOPBACK}:{port}"],
                   stdin=subprocess.DEVNULL, capture_output=True, timeout=600, check=False)
    wall = time.monotonic() - started
    findings = json.loads(report.read_text())
    raw = {f["id"]: f.get("finding", "") for f in findings
           if f["id"] in ("secure_renego", "CRIME_TLS", "fallback_SCSV", "heartbleed")}
    return wall, testssl_verdicts(findings), raw


def mark(value: bool | None) -> str:
    return "?" if value is None else "yes" if value else "no"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--sentinel", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.sentinel:
        sentinel_one(args.sentinel)
        return
    for binary in (TESTSSL, GNUTLS, str(TONGSUO_ZLIB), str(RUSTLS)):
        if not Path(binary).exists():
            sys.exit(f"missing {binary}: apt-get install testssl.sh gnutls-bin; "
                     "bash lab/servers/build.sh")
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="tls-weakness-bench-") as temp:
        workdir = Path(temp)
        cert, key = make_credentials(workdir)
        print(f"{'server':26} {'weakness':14} {'built':>6} {'Sentinel':>9} {'testssl':>8}")
        for label, (argv, built) in servers(cert, key).items():
            with started(on_port(argv)) as port:
                sentinel_runs = [run_sentinel(port) for _ in range(args.runs)]
                testssl_wall, testssl_weak, raw = run_testssl(port, workdir)
            sentinel_weak = sentinel_runs[0][1]
            sentinel_wall = statistics.median(w for w, _ in sentinel_runs)
            for weakness in WEAKNESSES:
                print(f"{label:26} {weakness:14} {mark(built[weakness]):>6} "
                      f"{mark(sentinel_weak[weakness]):>9} {mark(testssl_weak[weakness]):>8}")
            print(f"{label:26} wall s: Sentinel {sentinel_wall:.2f} (median of {args.runs}), "
                  f"testssl.sh {testssl_wall:.2f}: ratio {testssl_wall / sentinel_wall:.1f}x")
            results[label] = {"built": built, "sentinel": sentinel_weak,
                              "sentinel_stable": all(w == sentinel_weak
                                                     for _, w in sentinel_runs),
                              "testssl": testssl_weak, "testssl_raw": raw,
                              "sentinel_wall_s": round(sentinel_wall, 3),
                              "testssl_wall_s": round(testssl_wall, 3)}
    total_sentinel = sum(r["sentinel_wall_s"] for r in results.values())
    total_testssl = sum(r["testssl_wall_s"] for r in results.values())
    agree = {label: [w for w in WEAKNESSES if r["sentinel"][w] != r["built"][w]]
             for label, r in results.items()}
    print(f"total wall s: Sentinel {total_sentinel:.2f}, testssl.sh {total_testssl:.2f}: "
          f"ratio {total_testssl / total_sentinel:.1f}x")
    print("Sentinel differs from the built behaviour on:",
          {k: v for k, v in agree.items() if v} or "nothing")
    if args.json:
        args.json.write_text(json.dumps({"servers": results, "sentinel_total_s": total_sentinel,
                                         "testssl_total_s": total_testssl}, indent=1))


if __name__ == "__main__":
    main()
