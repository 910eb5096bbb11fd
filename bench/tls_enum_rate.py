"""Quick throughput check (not a test): ClientHello -> server flight exchanges per second.

Starts nginx on 127.0.0.1 with a throwaway RSA certificate, then times N TLS 1.2 hellos read
up to ServerHelloDone (one connection each) sequentially and with a few in flight, and one
full ``enumerate_tls``. Usage: python bench/tls_enum_rate.py [N]
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from pathlib import Path

from sentinel.probes.tls_enum import Probe, enumerate_tls, full_flight
from tests.integration.test_tls_enum_local import (
    NGINX,
    NGINX_CONF,
    _cert,
    loopback,
)
from tests.support.loopback import free_port, running


async def rate(probe: Probe, count: int, parallel: int) -> float:
    suites = [0xC02F, 0xC013, 0x002F]
    semaphore = asyncio.Semaphore(parallel)

    async def one() -> None:
        async with semaphore:
            flight = await full_flight(probe, 0x0303, suites)
            assert flight.server_hello is not None

    started = time.perf_counter()
    await asyncio.gather(*(one() for _ in range(count)))
    return count / (time.perf_counter() - started)


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        rsa_key, rsa_crt = _cert(tmp, "rsa", ["-newkey", "rsa:2048"])
        ec_key, ec_crt = _cert(tmp, "ec", ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"])
        port = free_port()
        conf = tmp / "nginx.conf"
        conf.write_text(NGINX_CONF.format(tmp=tmp, port=port, rsa_crt=rsa_crt, rsa_key=rsa_key,
                                          ec_crt=ec_crt, ec_key=ec_key)
                        .replace("ECDHE-ECDSA-AES256-SHA:", "ECDHE-RSA-AES128-GCM-SHA256:"))
        with running([NGINX, "-c", str(conf), "-p", str(tmp)], port):
            probe = Probe(loopback(port), timeout=3.0)
            for parallel in (1, 8):
                print(f"parallel={parallel}: {asyncio.run(rate(probe, count, parallel)):.0f} "
                      "handshakes/s (ClientHello..ServerHelloDone)")
            started = time.perf_counter()
            result = asyncio.run(enumerate_tls(loopback(port), timeout=3.0))
            print(f"enumerate_tls: {time.perf_counter() - started:.2f} s, "
                  f"{result.connections_used} connections, {len(result.accepted)} suites")


if __name__ == "__main__":
    main()
