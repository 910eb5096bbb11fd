"""``sentinel cloud collect --provider tencent`` through the real tencentcloud-sdk-python
against a local Tencent Cloud API on 127.0.0.1 started by the test (VPC and CVM API
2017-03-12, one endpoint, the action in ``X-TC-Action``), answering with the fixture bodies
(shaped as the API reference and the SDK's models document them). The server checks each
request's TC3-HMAC-SHA256 signature with the fixed test key, as Tencent Cloud does, and pages
with ``Offset``/``Limit``. And ``cloud import --provider tencent`` of the same folder. No cloud
is reachable here; nothing leaves loopback.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

DATA = Path(__file__).parents[1] / "data" / "cloud"
BODIES = DATA / "tencent"
PLAYBOOK = DATA / "tencent-playbook.yml"
SECRET_ID = "AKIDsentinelTestFixedId0001"
SECRET_KEY = "sentinelTestFixedKey0001"  # a fixed test key: the test server checks with it

FILES = {"DescribeSecurityGroups": "security-groups.json", "DescribeAddresses": "addresses.json",
         "DescribeVpcs": "vpcs.json", "DescribeSubnets": "subnets.json",
         "DescribeNetworkInterfaces": "network-interfaces.json",
         "DescribeInstances": "instances.json"}
# Offset/Limit as the API reference types them: String for these three, Integer for the rest
STRING_PAGING = {"DescribeSecurityGroups", "DescribeVpcs", "DescribeSubnets"}
PAGE_AT_MOST = 2  # the server answers fewer than asked, so the client must follow TotalCount


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def _signature(method: str, host: str, content_type: str, payload: bytes, timestamp: str,
               scope: str) -> str:
    """TC3-HMAC-SHA256 as Tencent Cloud's signature v3 documentation defines it."""
    canonical = "\n".join([method, "/", "", f"content-type:{content_type}\nhost:{host}\n",
                           "content-type;host", hashlib.sha256(payload).hexdigest()])
    to_sign = "\n".join(["TC3-HMAC-SHA256", timestamp, scope,
                         hashlib.sha256(canonical.encode()).hexdigest()])
    date, service, _ = scope.split("/")
    key = _hmac(_hmac(_hmac(("TC3" + SECRET_KEY).encode(), date), service), "tc3_request")
    return hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()


class TencentApi(BaseHTTPRequestHandler):
    server: Any

    def log_message(self, *args: Any) -> None:
        del args

    def _send(self, inner: dict[str, Any]) -> None:
        raw = json.dumps({"Response": {**inner, "RequestId": "req-fixed-0001"}}).encode()
        self.send_response(200)  # Tencent Cloud answers errors with 200 and Response.Error
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def _error(self, code: str, message: str) -> None:
        self._send({"Error": {"Code": code, "Message": message}})

    def _signed(self, payload: bytes) -> bool:
        auth = self.headers.get("Authorization", "")
        prefix = "TC3-HMAC-SHA256 Credential="
        if not auth.startswith(prefix):
            return False
        parts = dict(p.strip().split("=", 1) for p in auth[len(prefix) - 11:].split(","))
        credential = parts.get("Credential", "").split("/", 1)
        if credential[0] != SECRET_ID or len(credential) != 2:
            return False
        expected = _signature("POST", self.headers.get("Host", ""),
                              self.headers.get("Content-Type", ""), payload,
                              self.headers.get("X-TC-Timestamp", ""), credential[1])
        return parts.get("SignedHeaders") == "content-type;host" and hmac.compare_digest(
            parts.get("Signature", ""), expected)

    def do_POST(self) -> None:
        payload = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        action = self.headers.get("X-TC-Action", "")
        params = json.loads(payload or b"{}")
        self.server.seen.append((action, params, self.headers.get("X-TC-Version"),
                                 self.headers.get("X-TC-Region")))
        if not self._signed(payload):
            return self._error("AuthFailure.SignatureFailure",
                               "The provided credentials could not be validated.")
        if action == "DescribeSecurityGroupPolicies":
            group = params.get("SecurityGroupId", "")
            path = BODIES / "security-group-policies" / f"{group}.json"
            if not path.exists():
                return self._error("ResourceNotFound", f"{group} not found")
            return self._send(json.loads(path.read_text(encoding="utf-8"))["Response"])
        if action not in FILES:
            return self._error("InvalidAction", f"{action} not found")
        offset, limit = params.get("Offset", 0), params.get("Limit", 20)
        kind = str if action in STRING_PAGING else int
        if not isinstance(offset, kind) or not isinstance(limit, kind):
            return self._error("InvalidParameter", "Offset/Limit of the wrong type")
        inner = json.loads((BODIES / FILES[action]).read_text(encoding="utf-8"))["Response"]
        key = next(k for k, v in inner.items() if isinstance(v, list))
        if action == "DescribeInstances" and self.server.broken:
            inner["InstanceSet"][1]["PrivateIpAddresses"] = ["198.18.44.300"]
        first = int(offset)
        inner[key] = inner[key][first:first + min(int(limit), PAGE_AT_MOST)]
        self._send(inner)


@pytest.fixture
def api() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), TencentApi)
    server.seen = []  # type: ignore[attr-defined]
    server.broken = False  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def _env(key: str = SECRET_KEY) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("TENCENTCLOUD_") and k.lower() not in (
               "http_proxy", "https_proxy", "all_proxy")}
    env.update(TENCENTCLOUD_SECRET_ID=SECRET_ID, TENCENTCLOUD_SECRET_KEY=key,
               NO_PROXY="127.0.0.1", no_proxy="127.0.0.1")
    return env


def _sentinel(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "sentinel.cli", *args], env=env,
                          capture_output=True, text=True, timeout=120, check=False)


def _collect(port: int, store: Path, *extra: str, key: str = SECRET_KEY
             ) -> subprocess.CompletedProcess[str]:
    return _sentinel(_env(key), "cloud", "collect", "--provider", "tencent",
                     "--region", "ap-guangzhou", "--endpoint", f"http://127.0.0.1:{port}",
                     "--playbook", str(PLAYBOOK), "--store", str(store), *extra)


def _failed(store: Path) -> set[tuple[str, str, str | None, str]]:
    listed = _sentinel(_env(), "findings", "--json", "--store", str(store))
    assert listed.returncode == 0, listed.stderr
    return {(d["rule"]["id"], d["organization"]["id"], d["sentinel"].get("tenant"),
             d["host"]["name"]) for d in json.loads(listed.stdout)}


EXPECTED = {
    ("CLOUD-SG-RISKYWORLD", "rsj", "rsj-tce", "rsj-web"),  # ssh to 0.0.0.0/0
    ("CLOUD-SG-RISKYWORLD", "rsj", "rsj-tce", "rsj-db"),  # postgresql to ::/0; mysql's
    # ACCEPT to 0.0.0.0/0 comes after a DROP of the same: it lets nothing in, no finding
    ("CLOUD-SG-CROSSTENANT", "rsj", "rsj-tce", "rsj-web"),  # mysql to wjw's VPC range
    ("CLOUD-SG-V6MISSING", "rsj", "rsj-tce", "rsj-web"),
    ("CLOUD-SG-V6WIDER", "rsj", "rsj-tce", "rsj-db"),
    ("CLOUD-SG-UNUSED", "rsj", "rsj-tce", "rsj-old"),
    ("CLOUD-EIP-RISKY", "rsj", "rsj-tce", "198.18.201.10"),
    ("CLOUD-SG-ANYINGRESS", "wjw", "wjw-tce", "wjw-open"),
    ("CLOUD-SG-V6MISSING", "wjw", "wjw-tce", "wjw-open"),
    ("CLOUD-NET-NOV6", "wjw", "wjw-tce", "wjw-vpc"),
    ("CLOUD-EIP-RISKY", "wjw", "wjw-tce", "198.18.201.20"),  # bound by InstanceId only
    # project 1009 (no tenant) and an unbound EIP (no project: the default, 0): kept
    ("CLOUD-NET-NOV6", "unmapped", None, "x-vpc"),
    ("CLOUD-TENANT-UNMAPPED", "unmapped", None, "x-vpc"),
    ("CLOUD-TENANT-UNMAPPED", "unmapped", None, "x-1"),
    ("CLOUD-TENANT-UNMAPPED", "unmapped", None, "default"),
    ("CLOUD-TENANT-UNMAPPED", "unmapped", None, "198.18.201.30"),
    ("CLOUD-EIP-ORPHAN", "unmapped", None, "198.18.201.30"),
}


def test_collect_through_the_sdk_and_import_of_its_dump_store_the_same_findings(
        api: ThreadingHTTPServer, tmp_path: Path) -> None:
    dump = tmp_path / "dump"
    done = _collect(api.server_address[1], tmp_path / "c.db", "--dump", str(dump))
    assert done.returncode == 0, done.stderr
    assert "stored 15 cloud resources from tencentcloud ap-guangzhou" in done.stderr
    assert "0, 1009" in done.stderr  # the projects no tenant maps, reported
    assert SECRET_KEY not in done.stderr + done.stdout
    seen = api.seen  # type: ignore[attr-defined]
    assert {(v, r) for _, _, v, r in seen} == {("2017-03-12", "ap-guangzhou")}
    # paged: the server gave at most 2 a page, the client followed TotalCount
    assert [p["Offset"] for a, p, _, _ in seen if a == "DescribeNetworkInterfaces"] == [0, 2]
    assert [p["Offset"] for a, p, _, _ in seen if a == "DescribeSecurityGroups"] == [
        "0", "2", "4"]
    assert sorted(p["SecurityGroupId"] for a, p, _, _ in seen
                  if a == "DescribeSecurityGroupPolicies") == sorted(
        f.stem for f in (BODIES / "security-group-policies").iterdir())
    assert _failed(tmp_path / "c.db") == EXPECTED
    # the dump holds every page as one body, and imports to the same findings
    merged = json.loads((dump / "instances.json").read_text(encoding="utf-8"))
    assert len(merged["Response"]["InstanceSet"]) == 4
    imported = _sentinel(_env(), "cloud", "import", "--provider", "tencent", str(dump),
                         "--playbook", str(PLAYBOOK), "--store", str(tmp_path / "i.db"))
    assert imported.returncode == 0, imported.stderr
    assert _failed(tmp_path / "i.db") == EXPECTED


def test_import_of_the_fixture_folder(tmp_path: Path) -> None:
    done = _sentinel(_env(), "cloud", "import", "--provider", "tencent", str(BODIES),
                     "--playbook", str(PLAYBOOK), "--store", str(tmp_path / "s.db"))
    assert done.returncode == 0, done.stderr
    assert _failed(tmp_path / "s.db") == EXPECTED


def test_a_wrong_secret_key_is_refused_exit_1_without_traceback(
        api: ThreadingHTTPServer, tmp_path: Path) -> None:
    done = _collect(api.server_address[1], tmp_path / "s.db", key="not-the-key")
    assert done.returncode == 1, done.stderr
    assert "AuthFailure.SignatureFailure" in done.stderr and "Traceback" not in done.stderr
    assert "not-the-key" not in done.stderr + done.stdout
    assert not (tmp_path / "s.db").exists()


def test_a_malformed_api_answer_is_located_bad_input(
        api: ThreadingHTTPServer, tmp_path: Path) -> None:
    api.broken = True  # type: ignore[attr-defined]
    done = _collect(api.server_address[1], tmp_path / "s.db")
    assert done.returncode == 2, done.stderr
    assert ("tencentcloud ap-guangzhou/instances.json: InstanceSet[1].PrivateIpAddresses[0]"
            in done.stderr)
    assert "Traceback" not in done.stderr and not (tmp_path / "s.db").exists()


def test_an_unreachable_api_is_one_line_exit_1(tmp_path: Path) -> None:
    with socket.socket() as probe:  # a loopback port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    done = _collect(port, tmp_path / "s.db")
    assert done.returncode == 1, done.stderr
    assert "tencentcloud ap-guangzhou" in done.stderr and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_missing_credentials_are_bad_input(tmp_path: Path) -> None:
    env = {k: v for k, v in _env().items() if not k.startswith("TENCENTCLOUD_")}
    done = _sentinel(env, "cloud", "collect", "--provider", "tencent", "--region",
                     "ap-guangzhou", "--endpoint", "http://127.0.0.1:9", "--playbook",
                     str(PLAYBOOK), "--store", str(tmp_path / "s.db"))
    assert done.returncode == 2, done.stderr
    assert "TENCENTCLOUD_SECRET_ID" in done.stderr and "Traceback" not in done.stderr

