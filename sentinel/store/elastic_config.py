"""How Sentinel connects to Elasticsearch: URL, credentials and TLS, from env or a file.

Credentials come from the environment (``SENTINEL_ES_API_KEY``, or ``SENTINEL_ES_USER`` and
``SENTINEL_ES_PASSWORD``) or from a YAML file named by ``SENTINEL_ES_CONFIG`` (keys ``url``,
``api_key``, ``user``, ``password``, ``ca``; mode 0600 or stricter, read bounded, errors
that name the file and never quote it); the environment wins. TLS verification against
the system CAs, or ``SENTINEL_ES_CA``, is always on. Secrets are held in ``SecretStr``: they
never appear in a repr, a log line or an exception.
"""

from __future__ import annotations

import ipaddress
import os
import re
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from elasticsearch import Elasticsearch
from pydantic import BaseModel, ConfigDict, SecretStr

from sentinel.credentials import check_private
from sentinel.errors import InputError, ScopeRefused, SourceLocation, UsageError
from sentinel.scope import canonical_address
from sentinel.yamlio import load_yaml, validate


class EsConfig(BaseModel):
    """Connection settings; secrets are ``SecretStr`` so they print as ``**********``."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    url: str = "http://127.0.0.1:9200"
    api_key: SecretStr | None = None
    user: str | None = None
    password: SecretStr | None = None
    ca: Path | None = None


def redact_url(url: str) -> str:
    """The URL without any user:password part, safe to print."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"[{host}]" if ":" in host else host
    if parts.port:
        netloc += f":{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


CONFIG_ENV = "SENTINEL_ES_CONFIG"
MAX_CONFIG_BYTES = 64 * 1024  # url, a key, a user, a password, a CA path: a few lines
_FIELD = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,31}")


def read_config_file(path: Path) -> dict[str, object]:
    """The ES config file's settings. It holds credentials, so it is refused unless only its
    owner can read it (mode 0600 or stricter, as the SNMPv3 credentials file), and is read
    bounded (a regular file, size, depth, aliases). Every error names the file (and the line
    and field where there is one) and never quotes a value or a line of it."""
    check_private(path, what="Elasticsearch config file", error=InputError,
                  max_bytes=MAX_CONFIG_BYTES)
    doc = load_yaml(path, InputError)
    if doc.data is None:
        return {}
    if not isinstance(doc.data, dict):
        raise InputError("expected a mapping of url, api_key, user, password, ca",
                         doc.locate(()))
    for key in doc.data:
        if key not in EsConfig.model_fields:
            # A key that is not a plain name may be a pasted secret ("id: key"): not shown.
            named = isinstance(key, str) and _FIELD.fullmatch(key) is not None
            line, column = doc.positions.get((key,), (None, None))
            where = SourceLocation(doc.file, line, column, str(key) if named else None)
            raise InputError(f"unknown field {repr(key) if named else '(name not shown)'}; "
                             "expected url, api_key, user, password, ca", where)
    validate(doc, EsConfig, InputError, quote=False)  # types, located, no value quoted
    return dict(doc.data)


def load_config(url: str | None = None, environ: dict[str, str] | None = None) -> EsConfig:
    """Settings from the config file, then the environment, then ``url`` (highest)."""
    env = dict(os.environ) if environ is None else environ
    values: dict[str, object] = {}
    if env.get(CONFIG_ENV):
        values.update(read_config_file(Path(env[CONFIG_ENV]).expanduser()))
    for key, name in (
        ("api_key", "SENTINEL_ES_API_KEY"),
        ("user", "SENTINEL_ES_USER"),
        ("password", "SENTINEL_ES_PASSWORD"),
        ("ca", "SENTINEL_ES_CA"),
        ("url", "SENTINEL_ES_URL"),
    ):
        if env.get(name):
            values[key] = env[name]
    if url:
        values["url"] = url
    parts = urlsplit(str(values.get("url", EsConfig().url)))
    if parts.username or parts.password:
        # Credentials in a URL end up in logs and shell history: refuse, and never echo them.
        raise UsageError(
            f"{redact_url(parts.geturl())}: put credentials in SENTINEL_ES_API_KEY or "
            "SENTINEL_ES_USER/SENTINEL_ES_PASSWORD, not in the URL"
        )
    try:
        config = EsConfig.model_validate(values)
    except ValueError:
        raise UsageError(
            "invalid Elasticsearch configuration (keys: url, api_key, user, password, ca)"
        ) from None
    judge_sink(config.url)
    return config


def judge_sink(url: str) -> None:
    """Refuse (ScopeRefused) a sink outside loopback and the organisation's ``sinks`` list
    (``probes/scope.yml``, ``SENTINEL_SINK_ALLOW``), or inside the global deny list: findings
    and credentials must not go anywhere a typo or a hostile config points them."""
    from sentinel.catalog.scope_lists import global_deny
    from sentinel.catalog.scope_schema import sinks

    where = redact_url(url)
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(f"{where}: expected an http:// or https:// Elasticsearch URL")
    host = parts.hostname
    allowed = sinks()
    try:
        ip = canonical_address(host)
    except ValueError:  # a name: only localhost or a name the organisation listed
        if host.lower() == "localhost" or host.lower() in {s.lower() for s in allowed}:
            return
        raise ScopeRefused(f"Elasticsearch {where}", "not a sink listed in probes/scope.yml "
                           "sinks or SENTINEL_SINK_ALLOW") from None
    for cidr in global_deny():
        net = ipaddress.ip_network(cidr)
        if ip.version == net.version and ip in net:
            raise ScopeRefused(f"Elasticsearch {where}", f"inside the global deny list ({net})")
    if ip.is_loopback:
        return
    for entry in allowed:
        try:
            net = ipaddress.ip_network(entry, strict=False)
        except ValueError:
            continue
        if ip.version == net.version and ip in net:
            return
    raise ScopeRefused(f"Elasticsearch {where}",
                       "not loopback nor a sink listed in probes/scope.yml sinks or "
                       "SENTINEL_SINK_ALLOW")


def make_client(config: EsConfig, *, request_timeout: float = 30.0) -> Elasticsearch:
    """A client for ``config``. The sink does its own retries, so the client does none."""
    auth: dict[str, object] = {}
    if config.api_key is not None:
        auth["api_key"] = config.api_key.get_secret_value()
    elif config.user and config.password is not None:
        auth["basic_auth"] = (config.user, config.password.get_secret_value())
    tls: dict[str, object] = {"verify_certs": True}
    if config.ca is not None:
        tls["ca_certs"] = str(config.ca)
    if not config.url.startswith("https"):
        tls = {}
    return Elasticsearch(
        config.url,
        request_timeout=request_timeout,
        max_retries=0,
        retry_on_timeout=False,
        **auth,  # type: ignore[arg-type]  # keys are exactly the client's auth parameters
        **tls,  # type: ignore[arg-type]  # keys are exactly the client's TLS parameters
    )
