"""``sentinel cloud collect --provider openstack``: the same response bodies that
``cloud import`` reads from a folder, fetched through openstacksdk.

openstacksdk reads clouds.yaml (``--cloud NAME``), authenticates with Keystone and finds the
Neutron and Nova endpoints in the token's catalog; this module only asks each endpoint for the
six collections and hands the raw bodies to :func:`sentinel.cloud.openstack.parse`, so both
paths read exactly the same shapes. Each body is read bounded; a list the API pages is followed
through its ``*_links`` ``next`` links, at most ``MAX_PAGES`` pages. openstacksdk is optional
(``pip install 'sentinel[cloud]'``); without it the command says so.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from sentinel.cloud.model import Inventory
from sentinel.cloud.openstack import FILES, MAX_BODY_BYTES, MAX_ITEMS, load_body, parse
from sentinel.errors import InputError, SentinelError, SourceLocation

MAX_PAGES = 100
API_TIMEOUT_S = 30.0

# file name → (service, path below the service's versioned endpoint)
PATHS: dict[str, tuple[str, str]] = {
    "security-groups.json": ("network", "/security-groups"),
    "ports.json": ("network", "/ports"),
    "floatingips.json": ("network", "/floatingips"),
    "subnets.json": ("network", "/subnets"),
    "networks.json": ("network", "/networks"),
    "servers.json": ("compute", "/servers/detail"),
}


class CollectError(SentinelError):
    """The cloud's API could not be read (unreachable, refused, an error status)."""


def _read(response: Any, what: str) -> Any:
    """A response body, read at most ``MAX_BODY_BYTES``, as JSON."""
    raw = response.raw.read(MAX_BODY_BYTES + 1, decode_content=True)
    if len(raw) > MAX_BODY_BYTES:
        raise InputError(f"larger than {MAX_BODY_BYTES} bytes", SourceLocation(what))
    return load_body(raw, what)


def _next_link(body: Any, key: str) -> str | None:
    links = body.get(f"{key}_links") if isinstance(body, dict) else None
    for link in links if isinstance(links, list) else []:
        if isinstance(link, dict) and link.get("rel") == "next":
            href = link.get("href")
            return href if isinstance(href, str) else None
    return None


def collect(cloud: str, *, all_projects: bool = False) -> tuple[Inventory, dict[str, Any]]:
    """The inventory of cloud ``cloud`` (a clouds.yaml entry), and the raw bodies (merged
    across pages) as ``cloud import`` would read them from a folder."""
    try:
        import openstack
        from keystoneauth1 import exceptions as ks_exc
        from openstack import exceptions as os_exc
    except ImportError:
        raise InputError("openstacksdk is not installed: pip install 'sentinel[cloud]'"
                         ) from None
    source = f"openstack cloud {cloud}"
    try:
        conn = openstack.connect(cloud=cloud, api_timeout=API_TIMEOUT_S)
    except os_exc.ConfigException as exc:
        raise InputError(f"clouds.yaml: {str(exc)[:300]}", SourceLocation(f"--cloud {cloud}")
                         ) from None
    bodies: dict[str, Any] = {}
    try:
        for name, (service, path) in PATHS.items():
            proxy = getattr(conn, service)
            key = FILES[name]
            params: dict[str, Any] = {"all_tenants": 1} if all_projects and \
                service == "compute" else {}
            merged: list[Any] = []
            url: str | None = path
            for _ in range(MAX_PAGES):
                if url is None:
                    break
                response = proxy.get(url, params=params, stream=True,
                                     raise_exc=True)
                body = _read(response, f"{source}: {service} {path}")
                page = body.get(key) if isinstance(body, dict) else None
                if not isinstance(page, list):
                    bodies[name] = body  # the parser names what is wrong with it
                    break
                merged.extend(page)
                if len(merged) > MAX_ITEMS:
                    raise CollectError(f"{service} {path}: more than {MAX_ITEMS} items")
                url, params = _next_link(body, key), {}
                if url is not None and urlsplit(url).netloc == "":
                    url = None  # only absolute links, as the APIs give them
            else:
                raise CollectError(f"{service} {path}: more than {MAX_PAGES} pages")
            bodies.setdefault(name, {key: merged})
    except (os_exc.SDKException, ks_exc.ClientException) as exc:
        raise CollectError(f"{source}: {type(exc).__name__}: {str(exc)[:300]}") from None
    finally:
        conn.close()
    return parse(bodies, source=source), bodies
