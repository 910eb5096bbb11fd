"""GmSSL 3.1 (``gmssl tlcp_server``, built by ``lab/servers/build.sh``): TLCP with
ECC_SM4_CBC_SM3 only, and no hello extensions (it answers them with unexpected_message).

``tlcp_server`` binds 0.0.0.0 and ends after any failed handshake, so it never runs in the
host's namespace itself: ``gmssl_relay.py`` holds the service's sockets on the host's
addresses and gives each connection a fresh ``tlcp_server`` that listens in a private
network namespace of its own (loopback only). The SM2 pair is the host's Tongsuo-made set
(``tongsuo.certificates``), with the keys in GmSSL's encrypted form.
"""

from __future__ import annotations

import sys
from pathlib import Path

from sentinel.errors import LabError
from sentinel.lab.manifest import Host, Service
from sentinel.lab.procs import spawn
from sentinel.lab.servers.base import ServerContext, listen_addresses
from sentinel.lab.servers.tongsuo import certificates
from sentinel.lab.state import ProcessRecord

RELAY = Path(__file__).with_name("gmssl_relay.py")
PASSWORD = "sentinel-lab"  # noqa: S105 - gencerts.sh encrypts the lab keys for GmSSL with it
SLOTS = 4  # servers kept listening: connections served at once
ONLY_SUITE = "ECC_SM4_CBC_SM3"  # hard-coded in GmSSL's tlcp_server


def argv(bin_dir: Path, host: Host, service: Service, certs: Path) -> list[str]:
    """The relay's command line for one service, with the server's after ``--``."""
    if (service.properties.suites or [ONLY_SUITE]) != [ONLY_SUITE]:
        raise LabError(f"{service.id}: gmssl tlcp_server serves {ONLY_SUITE} only")
    binds = [a for address in listen_addresses(host, service) for a in ("--bind", address)]
    server = [str(bin_dir / "gmssl"), "tlcp_server", "-port", "{port}",
              "-cert", str(certs / "tlcp-chain.pem"), "-key", str(certs / "sign.gmssl.pem"),
              "-pass", PASSWORD, "-ex_key", str(certs / "enc.gmssl.pem"), "-ex_pass", PASSWORD]
    return [sys.executable, str(RELAY), *binds, "--port", str(service.port),
            "--slots", str(SLOTS), "--", *server]


def start(ctx: ServerContext, host: Host, services: list[Service]) -> list[ProcessRecord]:
    """One relay per service (it starts the servers)."""
    bin_dir = ctx.paths.cache / "bin"
    certs = certificates(ctx, host)
    return [spawn(ctx.paths, f"{host.id}-gmssl-{service.port}", host.namespace,
                  argv(bin_dir, host, service, certs))
            for service in services]
