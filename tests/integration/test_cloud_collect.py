"""``sentinel cloud collect --provider openstack`` through the real openstacksdk and
clouds.yaml, against a local OpenStack API on 127.0.0.1 started by the test: Keystone v3
(password auth, a token whose catalog points at this server), Neutron v2.0 and Nova v2.1,
answering with the fixture bodies (shaped as the API references document them). No cloud is
reachable here; nothing leaves loopback.
"""

from __future__ import annotations

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
from urllib.parse import parse_qs, urlsplit

import pytest

DATA = Path(__file__).parents[1] / "data" / "cloud"
BODIES = DATA / "openstack"
TOKEN = "gAAAAABtestTokenFixed0001"
PROJECT = "6f1c2d3e4a5b4c6d8e9f0a1b2c3d4e5f"


class OpenStackApi(BaseHTTPRequestHandler):
    """Keystone, Neutron and Nova as their API references document them (the parts used)."""

    server: Any

    def log_message(self, *args: Any) -> None:
        del args

    def _send(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        raw = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(raw)

    def _base(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        request = json.loads(self.rfile.read(length) or b"{}")
        self.server.seen.append(("POST", self.path))
        if urlsplit(self.path).path.rstrip("/") != "/identity/v3/auth/tokens":
            return self._send(404, {"error": {"code": 404, "message": "not found"}})
        password = request["auth"]["identity"]["password"]["user"]
        if password["name"] != "auditor" or password["password"] != "fixed-test-password":
            return self._send(401, {"error": {"code": 401, "message": "The request you have "
                                              "made requires authentication."}})
        base = self._base()

        def endpoint(kind: str, name: str, url: str) -> dict[str, Any]:
            return {"type": kind, "name": name, "id": f"{name}-id", "endpoints": [
                {"id": f"{name}-{i}", "interface": i, "region": "RegionOne",
                 "region_id": "RegionOne", "url": url} for i in ("public", "internal")]}

        token = {"token": {
            "methods": ["password"], "expires_at": "2099-01-01T00:00:00.000000Z",
            "issued_at": "2026-11-26T00:00:00.000000Z", "audit_ids": ["3T2dc1CGQxyJsHdDu1xkcw"],
            "user": {"id": "a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6", "name": "auditor",
                     "domain": {"id": "default", "name": "Default"},
                     "password_expires_at": None},
            "project": {"id": PROJECT, "name": "rsj",
                        "domain": {"id": "default", "name": "Default"}},
            "is_domain": False,
            "roles": [{"id": "r-reader", "name": "reader"}],
            "catalog": [endpoint("identity", "keystone", f"{base}/identity/v3"),
                        endpoint("network", "neutron", f"{base}/network"),
                        endpoint("compute", "nova", f"{base}/compute/v2.1")]}}
        self._send(201, token, {"X-Subject-Token": TOKEN})

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        path, query = url.path.rstrip("/"), parse_qs(url.query)
        self.server.seen.append(("GET", self.path))
        base = self._base()
        if path == "/identity/v3":
            return self._send(200, {"version": {
                "id": "v3.14", "status": "stable", "updated": "2020-04-07T00:00:00Z",
                "links": [{"rel": "self", "href": f"{base}/identity/v3/"}],
                "media-types": [{"base": "application/json",
                                 "type": "application/vnd.openstack.identity-v3+json"}]}})
        if self.headers.get("X-Auth-Token") != TOKEN:
            return self._send(401, {"error": {"code": 401, "message": "unauthorized"}})
        if path == "/network":
            return self._send(200, {"versions": [{
                "id": "v2.0", "status": "CURRENT",
                "links": [{"href": f"{base}/network/v2.0/", "rel": "self"}]}]})
        if path in ("/compute/v2.1", "/compute"):
            return self._send(200, {"version": {
                "id": "v2.1", "status": "CURRENT", "version": "2.96", "min_version": "2.1",
                "updated": "2013-07-23T11:33:21Z",
                "links": [{"rel": "self", "href": f"{base}/compute/v2.1/"}]}})
        files = {"/network/v2.0/security-groups": "security-groups.json",
                 "/network/v2.0/ports": "ports.json",
                 "/network/v2.0/floatingips": "floatingips.json",
                 "/network/v2.0/subnets": "subnets.json",
                 "/network/v2.0/networks": "networks.json",
                 "/compute/v2.1/servers/detail": "servers.json"}
        if path not in files:
            return self._send(404, {"NeutronError": {"type": "HTTPNotFound", "message": path}})
        body = json.loads((BODIES / files[path]).read_text(encoding="utf-8"))
        if path.endswith("/servers/detail") and self.server.broken:
            body["servers"][1]["addresses"]["rsj-db"][0]["addr"] = "198.18.41.300"
        if path.endswith("/ports"):  # paged, as Neutron pages with limit/marker
            ports = body["ports"]
            if "marker" not in query:
                marker = ports[2]["id"]
                return self._send(200, {"ports": ports[:3], "ports_links": [
                    {"rel": "next", "href": f"{base}/network/v2.0/ports?limit=3&marker={marker}"}]})
            back = f"{base}/network/v2.0/ports?limit=3&page_reverse=True"
            return self._send(200, {"ports": ports[3:], "ports_links": [
                {"rel": "previous", "href": back}]})
        return self._send(200, body)


@pytest.fixture
def api() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), OpenStackApi)
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


def _clouds(tmp_path: Path, port: int, password: str = "fixed-test-password") -> dict[str, str]:
    clouds = tmp_path / "clouds.yaml"
    clouds.write_text(
        "clouds:\n"
        "  govcloud:\n"
        "    auth_type: password\n"
        "    auth:\n"
        f"      auth_url: http://127.0.0.1:{port}/identity/v3\n"
        "      username: auditor\n"
        f"      password: {password}\n"
        "      project_name: rsj\n"
        "      user_domain_name: Default\n"
        "      project_domain_name: Default\n"
        "    region_name: RegionOne\n"
        "    interface: public\n"
        "    identity_api_version: 3\n", encoding="utf-8")
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("OS_") and k.lower() not in ("http_proxy", "https_proxy",
                                                            "all_proxy")}
    env.update(OS_CLIENT_CONFIG_FILE=str(clouds), NO_PROXY="127.0.0.1", no_proxy="127.0.0.1",
               HOME=str(tmp_path), XDG_CONFIG_HOME=str(tmp_path / "config"))
    return env


def _sentinel(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "sentinel.cli", *args], env=env,
                          capture_output=True, text=True, timeout=120, check=False)


def test_collect_through_openstacksdk_stores_the_cloud_findings(
        api: ThreadingHTTPServer, tmp_path: Path) -> None:
    env = _clouds(tmp_path, api.server_address[1])
    store, dump = tmp_path / "s.db", tmp_path / "dump"
    done = _sentinel(env, "cloud", "collect", "--provider", "openstack", "--cloud", "govcloud",
                     "--playbook", str(DATA / "playbook.yml"), "--store", str(store),
                     "--dump", str(dump))
    assert done.returncode == 0, done.stderr
    assert "stored 20 cloud resources from openstack cloud govcloud" in done.stderr
    assert "8b3c4d5e6f7a48b9c0d1e2f3a4b5c6d7" in done.stderr  # the unmapped project, reported
    seen = api.seen  # type: ignore[attr-defined]
    assert ("POST", "/identity/v3/auth/tokens") in seen
    assert any(p.startswith("/network/v2.0/ports?") and "marker=" in p for _, p in seen)
    assert any(p.startswith("/compute/v2.1/servers/detail") for _, p in seen)
    # both pages of ports were read: the dump holds every port, as one body
    assert len(json.loads((dump / "ports.json").read_text())["ports"]) == 5
    listed = _sentinel(env, "findings", "--json", "--store", str(store))
    assert listed.returncode == 0, listed.stderr
    failed = {(d["rule"]["id"], d["organization"]["id"], d["host"]["name"])
              for d in json.loads(listed.stdout)}
    assert ("CLOUD-SG-RISKYWORLD", "rsj", "rsj-web") in failed
    assert ("CLOUD-SG-ANYINGRESS", "wjw", "wjw-open") in failed
    assert ("CLOUD-EIP-RISKY", "wjw", "198.18.200.20") in failed
    assert ("CLOUD-TENANT-UNMAPPED", "unmapped", "x-1") in failed


def test_a_refused_login_is_a_located_failure_without_traceback(
        api: ThreadingHTTPServer, tmp_path: Path) -> None:
    env = _clouds(tmp_path, api.server_address[1], password="wrong-password")
    store = tmp_path / "s.db"
    done = _sentinel(env, "cloud", "collect", "--provider", "openstack", "--cloud", "govcloud",
                     "--playbook", str(DATA / "playbook.yml"), "--store", str(store))
    assert done.returncode == 1, done.stderr
    assert "openstack cloud govcloud" in done.stderr and "Traceback" not in done.stderr
    assert not store.exists()


def test_an_unknown_cloud_name_is_bad_input(api: ThreadingHTTPServer, tmp_path: Path) -> None:
    env = _clouds(tmp_path, api.server_address[1])
    done = _sentinel(env, "cloud", "collect", "--provider", "openstack", "--cloud", "nosuch",
                     "--playbook", str(DATA / "playbook.yml"), "--store", str(tmp_path / "s.db"))
    assert done.returncode == 2, done.stderr
    assert "--cloud nosuch" in done.stderr and "Traceback" not in done.stderr


def test_a_malformed_api_answer_is_located_bad_input(
        api: ThreadingHTTPServer, tmp_path: Path) -> None:
    api.broken = True  # type: ignore[attr-defined]
    env = _clouds(tmp_path, api.server_address[1])
    store = tmp_path / "s.db"
    done = _sentinel(env, "cloud", "collect", "--provider", "openstack", "--cloud", "govcloud",
                     "--playbook", str(DATA / "playbook.yml"), "--store", str(store))
    assert done.returncode == 2, done.stderr
    assert "openstack cloud govcloud/servers.json: servers[1].addresses.rsj-db[0].addr" in (
        done.stderr)
    assert "Traceback" not in done.stderr and not store.exists()


def test_an_unreachable_api_is_a_failure_without_traceback(tmp_path: Path) -> None:
    with socket.socket() as probe:  # a loopback port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = _clouds(tmp_path, port)
    done = _sentinel(env, "cloud", "collect", "--provider", "openstack", "--cloud", "govcloud",
                     "--playbook", str(DATA / "playbook.yml"), "--store", str(tmp_path / "s.db"))
    assert done.returncode == 1, done.stderr
    assert "openstack cloud govcloud" in done.stderr and "Traceback" not in done.stderr
