"""Loaders of the YAML knowledge Sentinel runs on, each validated once and cached.

``checks`` and ``services`` (remediation texts, the service catalog), ``ipv6`` (readiness
thresholds), ``scoring`` (report scoring and SLA), ``tls``/``tls_schema`` (the TLS, TLCP and
RFC 8998 registry), ``ssh``, ``snmp``, ``scope_lists`` (global deny and probe scope), with
``resources`` (shipped data and ``SENTINEL_DATA_DIR`` overlays) and ``cache`` (pickled
validated copies for short commands). This package imports nothing itself, so a short
command pays only for the loaders it uses.
"""


def clear_caches() -> None:
    """Forget every loaded catalog (after the overlay folder or the environment changed)."""
    from sentinel.catalog import checks, scope_lists, scope_schema, services

    checks.clear_cache()
    services.clear_cache()
    scope_schema.clear_cache()
    scope_lists.clear_cache()
