"""vsftpd: an FTP service (anonymous read-only when the manifest says so)."""

from __future__ import annotations

from sentinel.lab.manifest import Family, Host, Service
from sentinel.lab.procs import spawn
from sentinel.lab.servers.base import ServerContext
from sentinel.lab.state import ProcessRecord


def start(ctx: ServerContext, host: Host, services: list[Service]) -> list[ProcessRecord]:
    """Write a vsftpd.conf per service and run vsftpd in the foreground."""
    records = []
    for service in services:
        folder = ctx.host_dir(host) / f"vsftpd-{service.port}"
        pub = folder / "pub"
        pub.mkdir(parents=True, exist_ok=True)
        (pub / "README.txt").write_text("Sentinel lab FTP\n", encoding="ascii")
        folder.chmod(0o555)  # vsftpd refuses an anonymous root that is writable
        dual = Family.IPV6 in service.families
        lines = ["background=NO", f"listen_port={service.port}",
                 # listen_ipv6 on a dual-stack socket serves both families.
                 "listen_ipv6=YES" if dual else "listen=YES",
                 "listen=NO" if dual else "listen_ipv6=NO",
                 f"anonymous_enable={'YES' if service.properties.anonymous else 'NO'}",
                 "no_anon_password=YES", f"anon_root={folder}", "local_enable=NO",
                 "write_enable=NO", "secure_chroot_dir=/var/run/vsftpd/empty",
                 "seccomp_sandbox=NO", "xferlog_enable=NO", "pasv_min_port=30000",
                 "pasv_max_port=30100", "ftpd_banner=Sentinel lab FTP service",
                 f"vsftpd_log_file={ctx.paths.logs / host.id}-vsftpd.log"]
        if not dual and host.v4 is not None:
            lines.append(f"listen_address={host.v4}")
        conf = ctx.host_dir(host) / f"vsftpd-{service.port}.conf"
        conf.write_text("\n".join(lines) + "\n", encoding="ascii")
        records.append(spawn(ctx.paths, f"{host.id}-vsftpd-{service.port}", host.namespace,
                             ["vsftpd", str(conf)]))
    return records
