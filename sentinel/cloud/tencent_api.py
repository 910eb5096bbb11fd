"""``sentinel cloud collect --provider tencent``: the same response bodies that ``cloud import
--provider tencent`` reads from a folder, fetched through tencentcloud-sdk-python.

The SDK signs each request (TC3-HMAC-SHA256) with the credentials of the environment
(``TENCENTCLOUD_SECRET_ID``, ``TENCENTCLOUD_SECRET_KEY``, optional
``TENCENTCLOUD_SESSION_TOKEN``; never printed) and sends it to the service's endpoint:
``vpc.tencentcloudapi.com`` and ``cvm.tencentcloudapi.com`` unless ``endpoint`` names another
(``https://host[:port]``, ``{service}`` replaced by ``vpc`` or ``cvm``: a TCE private cloud's
API gateway). Lists are paged with ``Offset``/``Limit`` (100 a page, at most ``MAX_PAGES``
pages, until ``TotalCount``); each body is read bounded and handed raw to
:func:`sentinel.cloud.tencent.parse`, so both paths read exactly the same shapes.
"""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import urlsplit

from sentinel.cloud.model import Inventory
from sentinel.cloud.openstack import MAX_BODY_BYTES, MAX_ITEMS, _Bad, load_body
from sentinel.cloud.openstack_api import API_TIMEOUT_S, CollectError
from sentinel.cloud.tencent import FILES, RESOURCE_ID, parse, policies_name, response
from sentinel.errors import InputError, SourceLocation

MAX_PAGES = 500
PAGE = 100  # the APIs' largest Limit
DEFAULT_ENDPOINT = "https://{service}.tencentcloudapi.com"
API_VERSION = "2017-03-12"

# action → (service, Offset/Limit as the API reference types them)
ACTIONS: dict[str, tuple[str, type]] = {
    "DescribeSecurityGroups": ("vpc", str),
    "DescribeAddresses": ("vpc", int),
    "DescribeVpcs": ("vpc", str),
    "DescribeSubnets": ("vpc", str),
    "DescribeNetworkInterfaces": ("vpc", int),
    "DescribeInstances": ("cvm", int),
}


def _endpoint(template: str, service: str) -> tuple[str, str]:
    """(protocol, host[:port]) of a service from an endpoint template."""
    url = urlsplit(template.replace("{service}", service))
    if url.scheme not in ("http", "https") or not url.netloc or url.path not in ("", "/"):
        raise InputError("expected http(s)://host[:port], {service} optional",
                         SourceLocation(f"--endpoint {template[:100]}"))
    return url.scheme, url.netloc


class _Api:
    def __init__(self, region: str, endpoint: str) -> None:
        try:
            from tencentcloud.common import credential  # type: ignore[import-untyped]
            from tencentcloud.common.profile.client_profile import ClientProfile  # type: ignore[import-untyped]
            from tencentcloud.common.profile.http_profile import HttpProfile  # type: ignore[import-untyped]
            from tencentcloud.cvm.v20170312 import cvm_client  # type: ignore[import-untyped]
            from tencentcloud.vpc.v20170312 import vpc_client  # type: ignore[import-untyped]
        except ImportError:
            raise InputError("tencentcloud-sdk-python is not installed: "
                             "pip install 'sentinel[cloud]'") from None
        secret_id = os.environ.get("TENCENTCLOUD_SECRET_ID", "")
        secret_key = os.environ.get("TENCENTCLOUD_SECRET_KEY", "")
        if not secret_id or not secret_key:
            raise InputError("set TENCENTCLOUD_SECRET_ID and TENCENTCLOUD_SECRET_KEY",
                             SourceLocation("environment"))
        cred = credential.Credential(secret_id, secret_key,
                                     os.environ.get("TENCENTCLOUD_SESSION_TOKEN") or None)
        self.source = f"tencentcloud {region}"
        self.clients: dict[str, Any] = {}
        for service, module, cls in (("vpc", vpc_client, "VpcClient"),
                                     ("cvm", cvm_client, "CvmClient")):
            protocol, host = _endpoint(endpoint, service)
            http = HttpProfile(protocol=protocol, endpoint=host, reqTimeout=int(API_TIMEOUT_S))
            self.clients[service] = getattr(module, cls)(
                cred, region, ClientProfile(httpProfile=http))

    def call(self, service: str, action: str, params: dict[str, Any]) -> Any:
        """One signed request; its body read at most ``MAX_BODY_BYTES``, as JSON."""
        from tencentcloud.common.exception import (  # type: ignore[import-untyped]
            tencent_cloud_sdk_exception as sdk,
        )

        where = f"{self.source}: {service} {action}"
        try:
            # _call builds and signs the request (the SDK's own code) and returns the streamed
            # HTTP response unread, so the body can be read bounded (call_json reads it all).
            answer = self.clients[service]._call(action, params)
        except sdk.TencentCloudSDKException as exc:
            said = " ".join(str(exc.message).split())[:300]  # one line, whatever it says
            raise CollectError(f"{where}: {exc.code}: {said}") from None
        try:
            raw = answer.raw.read(MAX_BODY_BYTES + 1, decode_content=True)
        except Exception as exc:  # any read failure of the stream is one line
            raise CollectError(f"{where}: reading the answer: {type(exc).__name__}") from None
        finally:
            answer.close()
        if len(raw) > MAX_BODY_BYTES:
            raise InputError(f"larger than {MAX_BODY_BYTES} bytes", SourceLocation(where))
        if answer.status_code != 200:
            raise CollectError(f"{where}: HTTP {answer.status_code}")
        body = load_body(raw, where)
        inner = body.get("Response") if isinstance(body, dict) else None
        error = inner.get("Error") if isinstance(inner, dict) else None
        if isinstance(error, dict):  # refused (AuthFailure...), or any other API error
            said = " ".join(str(error.get("Message")).split())[:300]
            raise CollectError(f"{where}: {' '.join(str(error.get('Code')).split())[:80]}: "
                               f"{said}")
        return body


def collect(region: str, *, endpoint: str | None = None) -> tuple[Inventory, dict[str, Any]]:
    """The inventory of the account in ``region``, and the raw bodies (pages merged) as
    ``cloud import --provider tencent`` reads them from a folder."""
    api = _Api(region, endpoint or DEFAULT_ENDPOINT)
    bodies: dict[str, Any] = {}
    for name, (action, key, _) in FILES.items():
        service, kind = ACTIONS[action]
        merged: list[Any] = []
        first: dict[str, Any] | None = None
        offset = 0
        for _page in range(MAX_PAGES):
            body = api.call(service, action, {"Offset": kind(offset), "Limit": kind(PAGE)})
            try:
                page = response(body, key)
            except _Bad:
                first = None
                bodies[name] = body  # the parser names what is wrong with it
                break
            if first is None:
                first = body
            merged.extend(page)
            if len(merged) > MAX_ITEMS:
                raise CollectError(f"{api.source}: {action}: more than {MAX_ITEMS} items")
            total = body.get("Response", body).get("TotalCount")
            offset += len(page)
            if not page or not isinstance(total, int) or offset >= total:
                break
        else:
            raise CollectError(f"{api.source}: {action}: more than {MAX_PAGES} pages")
        if first is not None:
            inner = first.get("Response", first)
            bodies[name] = {"Response": {**inner, key: merged, "TotalCount": len(merged)}}
    try:
        groups = response(bodies["security-groups.json"], "SecurityGroupSet")
    except _Bad:
        groups = []  # parse() names it
    for item in groups:
        group = item.get("SecurityGroupId") if isinstance(item, dict) else None
        if isinstance(group, str) and RESOURCE_ID.fullmatch(group):
            bodies[policies_name(group)] = api.call(
                "vpc", "DescribeSecurityGroupPolicies", {"SecurityGroupId": group})
    return parse(bodies, source=api.source), bodies
