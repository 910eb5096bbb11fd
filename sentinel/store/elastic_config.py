"""How Sentinel connects to Elasticsearch: URL, credentials and TLS, from env or a file.

Credentials come from the environment (``SENTINEL_ES_API_KEY``, or ``SENTINEL_ES_USER`` and
``SENTINEL_ES_PASSWORD``) or from a YAML file named by ``SENTINEL_ES_CONFIG`` (keys ``url``,
``api_key``, ``user``, ``password``, ``ca``); the environment wins. TLS verification against
the system CAs, or ``SENTINEL_ES_CA``, is always on. Secrets are held in ``SecretStr``: they
never appear in a repr, a log line or an exception.
"""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import yaml
from elasticsearch import Elasticsearch
from pydantic import BaseModel, ConfigDict, SecretStr

from sentinel.errors import ScopeRefused, UsageError
from sentinel.scope import canonical_address


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


def load_config(url: str | None = None, environ: dict[str, str] | None = None) -> EsConfig:
    """Settings from the config file, then the environment, then ``url`` (highest)."""
    env = dict(os.environ) if environ is None else environ
    values: dict[str, object] = {}
    if env.get("SENTINEL_ES_CONFIG"):
        path = Path(env["SENTINEL_ES_CONFIG"])
        try:
            loaded = yaml.safe_load(path.read_text("utf-8")) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise UsageError(f"{path}: cannot read the Elasticsearch config: {exc}") from None
        if not isinstance(loaded, dict):
            raise UsageError(f"{path}: expected a mapping of url, api_key, user, password, ca")
        values.update(loaded)
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
