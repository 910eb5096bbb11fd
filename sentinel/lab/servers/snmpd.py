"""Net-SNMP agents: a v1/v2c agent with a community, or a v3-only (USM) agent.

snmpd runs with ``-C`` so it reads only the config written here, and with its persistent
directory in the host's state folder so nothing lands in /var/lib/snmp. Inside a namespace
its IP-MIB (ipAddressTable) lists the namespace's own addresses, IPv6 ones included.
"""

from __future__ import annotations

from sentinel.errors import LabError
from sentinel.lab.manifest import Host, Service
from sentinel.lab.procs import spawn
from sentinel.lab.servers.base import ServerContext, listen_addresses
from sentinel.lab.state import ProcessRecord


def start(ctx: ServerContext, host: Host, services: list[Service]) -> list[ProcessRecord]:
    """Write snmpd.conf per service and run ``snmpd -f``."""
    records = []
    for service in services:
        folder = ctx.host_dir(host) / f"snmpd-{service.port}"
        folder.mkdir(parents=True, exist_ok=True)
        conf = folder / "snmpd.conf"
        conf.write_text(_config(host, service), encoding="ascii")
        argv = ["snmpd", "-f", "-C", "-c", str(conf), "-Lo", "-p", str(folder / "snmpd.pid"),
                "-I", "-smux,mteTrigger,mteTriggerConf"]
        env = {"SNMP_PERSISTENT_DIR": str(folder), "MIBS": ""}
        records.append(spawn(ctx.paths, f"{host.id}-snmpd-{service.port}", host.namespace,
                             argv, env=env))
    return records


def _config(host: Host, service: Service) -> str:
    props = service.properties
    versions = props.snmp_versions or ["v2c"]
    endpoints = [f"udp6:[{a}]:{service.port}" if ":" in a else f"udp:{a}:{service.port}"
                 for a in listen_addresses(host, service)]
    lines = [f"agentAddress {','.join(endpoints)}", f"sysName {host.hostname}",
             "sysLocation Sentinel lab", "sysContact noc@ext-noc.test",
             "sysDescr Sentinel lab managed device"]
    if "v1" in versions or "v2c" in versions:
        if not props.community:
            raise LabError(f"host {host.id}: an SNMPv1/v2c agent needs a community")
        lines += [f"rocommunity {props.community} default",
                  f"rocommunity6 {props.community} default"]
    if "v3" in versions:
        if not (props.v3_user and props.v3_auth and props.v3_auth_pass):
            raise LabError(f"host {host.id}: an SNMPv3 agent needs a user and auth secret")
        priv = f" {props.v3_priv} {props.v3_priv_pass}" if props.v3_priv else ""
        level = {"authPriv": "priv", "authNoPriv": "auth"}.get(props.v3_level or "", "noauth")
        lines += [f"createUser {props.v3_user} {props.v3_auth} {props.v3_auth_pass}{priv}",
                  f"rouser -s usm {props.v3_user} {level}"]
    return "\n".join(lines) + "\n"
