"""OpenSSH: one sshd per service, its algorithms exactly the manifest's.

Host keys are generated at build time: ed25519 for a modern server; RSA 1024 and DSA for a
legacy one (OpenSSH 9.2 still loads both when the config names them).
"""

from __future__ import annotations

from pathlib import Path

from sentinel.lab.manifest import Host, Service
from sentinel.lab.procs import run, spawn
from sentinel.lab.servers.base import ServerContext, bracketed, listen_addresses
from sentinel.lab.state import ProcessRecord

HOST_KEY_TYPES = {"ssh-ed25519": ["-t", "ed25519"], "ssh-rsa": ["-t", "rsa", "-b", "1024"],
                  "rsa-sha2-256": ["-t", "rsa", "-b", "3072"],
                  "rsa-sha2-512": ["-t", "rsa", "-b", "3072"],
                  "ssh-dss": ["-t", "dsa"], "ecdsa-sha2-nistp256": ["-t", "ecdsa", "-b", "256"]}


def start(ctx: ServerContext, host: Host, services: list[Service]) -> list[ProcessRecord]:
    """Write an sshd_config per service and run ``sshd -D`` with it."""
    # Privilege separation wants this directory; the openssh-server package normally makes it.
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
    records = []
    for service in services:
        folder = ctx.host_dir(host) / f"sshd-{service.port}"
        folder.mkdir(parents=True, exist_ok=True)
        conf = folder / "sshd_config"
        conf.write_text(_config(host, service, folder), encoding="ascii")
        argv = ["/usr/sbin/sshd", "-D", "-e", "-f", str(conf)]
        records.append(spawn(ctx.paths, f"{host.id}-sshd-{service.port}", host.namespace, argv))
    return records


def _config(host: Host, service: Service, folder: Path) -> str:
    props = service.properties
    algorithms = props.ssh_host_keys or ["ssh-ed25519"]
    lines = [f"ListenAddress {bracketed(a)}:{service.port}"
             for a in listen_addresses(host, service)]
    for algorithm in algorithms:
        key = folder / f"host_{algorithm}"
        if not key.exists():
            run(["ssh-keygen", "-q", "-N", "", *HOST_KEY_TYPES[algorithm], "-f", str(key)])
        lines.append(f"HostKey {key}")
    lines += [f"PidFile {folder / 'sshd.pid'}", "UsePAM no", "PermitRootLogin no",
              f"PasswordAuthentication {'yes' if props.password_auth else 'no'}",
              "KbdInteractiveAuthentication no", f"HostKeyAlgorithms {','.join(algorithms)}",
              "RequiredRSASize 1024"]
    if props.ssh_kex:
        lines.append(f"KexAlgorithms {','.join(props.ssh_kex)}")
    if props.ssh_ciphers:
        lines.append(f"Ciphers {','.join(props.ssh_ciphers)}")
    if props.ssh_macs:
        lines.append(f"MACs {','.join(props.ssh_macs)}")
    return "\n".join(lines) + "\n"
