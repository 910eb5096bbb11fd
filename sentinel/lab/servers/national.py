"""National-crypto and post-quantum TLS servers, built from ``lab/servers`` by its build.sh.

- ``gm-tlcp``: gmtls-lab (tjfoc/gmsm) in TLCP mode, SM2 signing + encryption certificates;
- ``gm-dual``: gmtls-lab serving TLCP and standard TLS on one port (auto-switch on the hello);
- ``gm-tls13``: the BouncyCastle server, TLS 1.3 with TLS_SM4_GCM_SM3, curveSM2, sm2sig_sm3;
- ``go-pq``: pqtls-lab on Go crypto/tls, preferring the hybrid group X25519MLKEM768.

The binaries live in the cache dir (slow to build, kept across `lab down`); the SM2 chains
are generated into the state dir every time the lab is built, one chain per host, named for
its host name and addresses.
"""

from __future__ import annotations

import os
from pathlib import Path

from sentinel.errors import LabError
from sentinel.lab.manifest import Family, Host, Manifest, Service, ServiceKind
from sentinel.lab.procs import run, spawn
from sentinel.lab.servers.base import ServerContext
from sentinel.lab.state import LabPaths, ProcessRecord

# What lab/servers/build.sh must have built for each kind (Tongsuo's and GmSSL's starters
# are tongsuo.py and gmssl.py; GmSSL's certificates are made with Tongsuo).
BINARIES = {ServiceKind.GM_TLCP: ("gmtls-lab",), ServiceKind.GM_DUAL: ("gmtls-lab",),
            ServiceKind.GM_TLS13: ("bcsm-lab-server.jar",), ServiceKind.GO_PQ: ("pqtls-lab",),
            ServiceKind.TONGSUO: ("tongsuo-openssl",),
            ServiceKind.GMSSL: ("gmssl", "tongsuo-openssl")}
SOURCE_ENV = "SENTINEL_LAB_SERVERS"
BUILD_TIMEOUT = 900.0  # a cold Maven/Go build fetches dependencies
TLCP_SUITE_IDS = {"ECC_SM4_CBC_SM3": "e013", "ECDHE_SM4_CBC_SM3": "e011"}


def source_dir() -> Path | None:
    """``lab/servers`` of a source checkout (or ``$SENTINEL_LAB_SERVERS``), if present."""
    given = os.environ.get(SOURCE_ENV)
    folder = Path(given) if given else Path(__file__).resolve().parents[3] / "lab" / "servers"
    return folder if (folder / "build.sh").is_file() else None


def prepare(manifest: Manifest, paths: LabPaths) -> Path:
    """Build (or find cached) binaries when the manifest has national-crypto services."""
    bin_dir = paths.cache / "bin"
    needed = sorted({name for h in manifest.hosts for s in h.services
                     for name in BINARIES.get(s.kind, ())})
    if not needed:
        return bin_dir
    source = source_dir()
    output = ""
    if source is not None:
        # build.sh is incremental: seconds when its caches are warm.
        done = run(["bash", str(source / "build.sh")], check=False, timeout=BUILD_TIMEOUT,
                   env={"SENTINEL_LAB_CACHE": str(paths.cache)})
        output = (done.stderr + done.stdout)[-2000:]
    missing = [name for name in needed if not (bin_dir / name).is_file()]
    if missing:
        raise LabError(f"national-crypto servers not built ({', '.join(missing)} missing in "
                       f"{bin_dir}); lab/servers/build.sh said:\n{output or '(not found)'}")
    return bin_dir


def _chain(ctx: ServerContext, host: Host, bin_dir: Path) -> Path:
    folder = ctx.paths.certs / f"gm-{host.id}"
    if not (folder / "ca.crt").exists():
        names = [host.hostname, *(str(a) for a in (host.v4, host.v6) if a is not None)]
        run([str(bin_dir / "gmtls-lab"), "gencerts", "--out", str(folder), "--cn",
             host.hostname, "--san", ",".join(names), "--days", "365"])
    return folder


def _bind(host: Host, service: Service) -> str:
    # One dual-stack socket when both families are served; inside the host's namespace the
    # wildcard only ever means the host's own addresses.
    if len(service.families) > 1:
        return "::"
    return str(host.v6 if service.families == [Family.IPV6] else host.v4)


def _argv(bin_dir: Path, service: Service, bind: str, certs: Path) -> list[str]:
    common = ["--bind", bind, "--port", str(service.port), "--certs", str(certs)]
    if service.kind is ServiceKind.GM_TLS13:
        return ["java", "-Xmx128m", "-jar", str(bin_dir / "bcsm-lab-server.jar"),
                "--mode", "tls13sm", *common]
    if service.kind is ServiceKind.GO_PQ:
        return [str(bin_dir / "pqtls-lab"), "--mode", "pq", *common]
    mode = "dual" if service.kind is ServiceKind.GM_DUAL else "tlcp"
    argv = [str(bin_dir / "gmtls-lab"), "serve", "--mode", mode, *common]
    suites = [TLCP_SUITE_IDS[s] for s in service.properties.suites or [] if s in TLCP_SUITE_IDS]
    if mode == "tlcp" and suites:
        argv += ["--suites", ",".join(suites)]
    if mode == "dual":
        argv += ["--tls-min", _lowest_tls(service)]
    return argv


def _lowest_tls(service: Service) -> str:
    """The dual server's lowest standard TLS version, as the manifest claims it."""
    claimed = {"TLSv1": "1.0", "TLSv1.0": "1.0", "TLSv1.1": "1.1", "TLSv1.2": "1.2"}
    found = [claimed[v] for v in service.properties.tls_versions or [] if v in claimed]
    if not found:
        raise LabError(f"{service.id}: a dual server needs a TLS 1.0-1.2 version "
                       "(tjfoc has no TLS 1.3)")
    return min(found)


def start(ctx: ServerContext, host: Host, services: list[Service]) -> list[ProcessRecord]:
    """One server process per service, with the host's freshly generated SM2 chain."""
    bin_dir = ctx.paths.cache / "bin"
    certs = _chain(ctx, host, bin_dir)
    return [spawn(ctx.paths, f"{host.id}-{service.kind.value}-{service.port}", host.namespace,
                  _argv(bin_dir, service, _bind(host, service), certs))
            for service in services]
