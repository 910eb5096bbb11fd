"""nginx/OpenSSL: one nginx per host, one server block per manifest service.

TLS settings come straight from the service's properties: ``tls_versions`` become
``ssl_protocols`` (nginx 1.22 enables TLS 1.0/1.1 unless told otherwise), TLS 1.2 suite names
become ``ssl_ciphers`` and TLS 1.3 ones ``Ciphersuites``. A legacy service (one offering TLS
1.0 or a SHA-1 certificate) runs at ``@SECLEVEL=0``, the only level at which Debian's OpenSSL
3.0 still speaks TLS 1.0/1.1 or uses an RSA 1024 key.
"""

from __future__ import annotations

from pathlib import Path

from sentinel.lab.manifest import Host, Service
from sentinel.lab.procs import spawn
from sentinel.lab.servers import webcontent
from sentinel.lab.servers.base import ServerContext, bracketed, listen_addresses
from sentinel.lab.state import ProcessRecord

PROTOCOL_NAMES = {"TLSv1": "TLSv1", "TLSv1.0": "TLSv1", "TLSv1.1": "TLSv1.1",
                  "TLSv1.2": "TLSv1.2", "TLSv1.3": "TLSv1.3"}


def start(ctx: ServerContext, host: Host, services: list[Service]) -> list[ProcessRecord]:
    """Write the host's nginx.conf and start nginx in the foreground."""
    folder = ctx.host_dir(host) / "nginx"
    for temp in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (folder / temp).mkdir(parents=True, exist_ok=True)
    blocks = [_server_block(ctx, host, service, folder) for service in services]
    conf = folder / "nginx.conf"
    conf.write_text(_main_conf(ctx, host, folder, blocks), encoding="utf-8")
    argv = ["nginx", "-c", str(conf), "-p", str(folder), "-e", str(folder / "error.log")]
    return [spawn(ctx.paths, f"{host.id}-nginx", host.namespace, argv)]


def _main_conf(ctx: ServerContext, host: Host, folder: Path, blocks: list[str]) -> str:
    temps = "\n".join(f"    {kind}_temp_path {folder / name};" for kind, name in
                      (("client_body", "body"), ("proxy", "proxy"), ("fastcgi", "fastcgi"),
                       ("uwsgi", "uwsgi"), ("scgi", "scgi")))
    return (f"daemon off;\nmaster_process on;\nworker_processes 1;\n"
            f"pid {folder / 'nginx.pid'};\nerror_log {ctx.paths.logs / host.id}-nginx-error.log;\n"
            "events { worker_connections 256; }\n"
            "http {\n    default_type text/html;\n    charset utf-8;\n"
            f"    access_log {folder / 'access.log'};\n{temps}\n"
            + "\n".join(blocks) + "\n}\n")


def _server_block(ctx: ServerContext, host: Host, service: Service, folder: Path) -> str:
    props = service.properties
    root = folder / f"www-{service.id}"
    tls = props.tls_versions is not None
    listen = "".join(f"        listen {bracketed(a)}:{service.port}{' ssl' if tls else ''};\n"
                     for a in listen_addresses(host, service))
    lines = [listen, f"        server_name {host.hostname};", f"        root {root};"]
    if tls:
        lines += _tls_lines(ctx, host, service)
    if props.http_content == "links":
        webcontent.write_links_site(root, host, service)
    elif props.http_content == "login":
        webcontent.write_login_page(root, host)
        # The form posts here; answer as a real login would, credentials arrive in clear.
        lines.append("        location = /login { return 302 /?error=1; }")
    elif props.http_content == "admin":
        webcontent.write_plain_page(root, f"{host.hostname} 管理控制台 Admin console")
    else:
        webcontent.write_plain_page(root, f"{host.hostname} ({service.id})")
    return "    server {\n" + "\n".join(lines) + "\n    }"


def _tls_lines(ctx: ServerContext, host: Host, service: Service) -> list[str]:
    props = service.properties
    versions = [PROTOCOL_NAMES[v] for v in props.tls_versions or []]
    suites = props.suites or []
    tls13 = [s for s in suites if s.startswith("TLS_")]
    tls12 = [s for s in suites if not s.startswith("TLS_")]
    legacy = "TLSv1" in versions or props.cert_signature == "sha1"
    lines = []
    for index in range(len(props.cert_keys or ["rsa2048"])):
        pair = ctx.cert_for(host, service, index)
        lines += [f"        ssl_certificate {pair.cert};",
                  f"        ssl_certificate_key {pair.key};"]
    cipher_list = ":".join(tls12) + (":@SECLEVEL=0" if legacy else "")
    lines += [f"        ssl_protocols {' '.join(versions)};",
              f"        ssl_ciphers {cipher_list or 'DEFAULT'};",
              "        ssl_prefer_server_ciphers on;",
              "        ssl_session_tickets off;"]
    if tls13:
        lines.append(f"        ssl_conf_command Ciphersuites {':'.join(tls13)};")
    return lines
