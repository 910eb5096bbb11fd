"""One small module per server kind; each writes its configs from the manifest and starts
its daemons inside the host's namespace, returning the process records it started."""

from __future__ import annotations

from collections.abc import Callable

from sentinel.lab.manifest import Host, Service, ServiceKind
from sentinel.lab.servers import (
    dnsmasq,
    gmssl,
    gnutls,
    national,
    nginx,
    redis,
    snmpd,
    sshd,
    telnetd,
    tongsuo,
    vsftpd,
)
from sentinel.lab.servers.base import ServerContext
from sentinel.lab.state import ProcessRecord

Starter = Callable[[ServerContext, Host, list[Service]], list[ProcessRecord]]

STARTERS: dict[ServiceKind, Starter] = {
    ServiceKind.NGINX: nginx.start,
    ServiceKind.GNUTLS: gnutls.start,
    ServiceKind.SSHD: sshd.start,
    ServiceKind.SNMPD: snmpd.start,
    ServiceKind.DNSMASQ: dnsmasq.start,
    ServiceKind.REDIS: redis.start,
    ServiceKind.VSFTPD: vsftpd.start,
    ServiceKind.TELNETD: telnetd.start,
    ServiceKind.GM_TLCP: national.start,
    ServiceKind.GM_TLS13: national.start,
    ServiceKind.GM_DUAL: national.start,
    ServiceKind.GO_PQ: national.start,
    ServiceKind.TONGSUO: tongsuo.start,
    ServiceKind.GMSSL: gmssl.start,
}

__all__ = ["STARTERS", "ServerContext", "Starter"]
