"""HTTP over a chosen address family, and a bounded same-site crawler for V6-* link checks.

Each request goes to one explicit IP address (resolved by Sentinel through the playbook's
resolver, never the system one) with the site's name in ``Host`` and SNI, through the gate's
connections. Server bytes are untrusted: the response is read with a hard byte cap and a
deadline, headers are limited, and HTML is read with the standard library's tolerant
``html.parser`` only to collect ``<a href>`` links and the ``<title>`` (nothing is executed).
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import urldefrag, urljoin, urlsplit

from sentinel.errors import ErrorReason, ProbeError
from sentinel.probes.base import Network

MAX_HEADER_BYTES = 32_768
USER_AGENT = "Sentinel-IPv6-check/0.1"


@dataclass(frozen=True)
class Response:
    """One HTTP response as seen on the wire (body capped), with its timings."""

    status: int
    headers: dict[str, str]
    body: bytes
    connect_ms: float
    first_byte_ms: float
    total_ms: float

    @property
    def location(self) -> str | None:
        return self.headers.get("location")


def _tls_context() -> ssl.SSLContext:
    # Readiness checks read content; certificate judgement belongs to the TLS probe.
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    # Old portals must still be readable: their weak TLS is judged by the crypto checks.
    context.set_ciphers("ALL:@SECLEVEL=0")
    return context


def _request(host: str, path: str) -> bytes:
    safe_path = path if path.startswith("/") else "/" + path
    lines = [f"GET {safe_path} HTTP/1.1", f"Host: {host}", f"User-Agent: {USER_AGENT}",
             "Accept: text/html,*/*;q=0.5", "Accept-Encoding: identity", "Connection: close"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("ascii", errors="strict")


def _parse_head(head: bytes) -> tuple[int, dict[str, str]]:
    """Status code and lower-cased headers; malformed heads are a protocol error."""
    text = head.decode("latin-1")
    status_line, _, rest = text.partition("\r\n")
    parts = status_line.split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
        raise ProbeError(ErrorReason.PROTOCOL, "not an HTTP response")
    headers: dict[str, str] = {}
    for line in rest.split("\r\n"):
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    return int(parts[1]), headers


def _dechunk(body: bytes) -> bytes:
    """Decode a chunked body as far as it is complete (a truncated tail is dropped)."""
    out, rest = bytearray(), body
    while rest:
        size_line, sep, rest = rest.partition(b"\r\n")
        if not sep:
            break
        try:
            size = int(size_line.split(b";")[0].strip() or b"0", 16)
        except ValueError:
            break
        if size == 0:
            break
        out += rest[:size]
        rest = rest[size + 2:]
    return bytes(out)


async def _read_response(reader: asyncio.StreamReader, limit: int) -> tuple[bytes, bytes, float]:
    """Head and (capped) body; the time to the first byte in seconds (monotonic)."""
    first = await reader.read(1)
    if not first:
        raise ProbeError(ErrorReason.PROTOCOL, "connection closed without a response")
    first_byte = time.perf_counter()
    data = bytearray(first)
    while b"\r\n\r\n" not in data:
        chunk = await reader.read(4096)
        if not chunk or len(data) > MAX_HEADER_BYTES:
            raise ProbeError(ErrorReason.PROTOCOL, "response head missing or too large")
        data += chunk
    head, _, body = bytes(data).partition(b"\r\n\r\n")
    buffer = bytearray(body)
    while len(buffer) < limit:
        chunk = await reader.read(min(65536, limit - len(buffer)))
        if not chunk:
            break
        buffer += chunk
    return head, bytes(buffer[:limit]), first_byte


async def fetch(network: Network, address: str, url: str, *, timeout: float,
                limit: int = 1_000_000) -> Response:
    """GET ``url`` from ``address`` (an IP literal), sending the URL's host as Host and SNI."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ProbeError(ErrorReason.UNSUPPORTED, f"not an http(s) URL: {url[:200]}")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    started = time.perf_counter()
    try:
        async with asyncio.timeout(timeout), network.tcp(address, port) as (reader, writer):
            connected = time.perf_counter()
            if parts.scheme == "https":
                await writer.start_tls(_tls_context(), server_hostname=parts.hostname)
            writer.write(_request(parts.netloc, path))
            await writer.drain()
            head, body, first_byte = await _read_response(reader, limit)
    except TimeoutError:
        raise ProbeError(ErrorReason.TIMEOUT, f"no response within {timeout:g} s") from None
    except (ssl.SSLError, ConnectionError) as exc:
        raise ProbeError(ErrorReason.PROTOCOL, f"{type(exc).__name__}: {exc}") from None
    status, headers = _parse_head(head)
    if headers.get("transfer-encoding", "").lower() == "chunked":
        body = _dechunk(body)
    done = time.perf_counter()
    return Response(status, headers, body, round((connected - started) * 1000, 2),
                    round((first_byte - started) * 1000, 2), round((done - started) * 1000, 2))


class _PageParser(HTMLParser):
    """Collects ``<a href>`` values and the ``<title>`` text, with caps on both."""

    def __init__(self, max_links: int) -> None:
        super().__init__(convert_charrefs=True)
        self.links: list[str] = []
        self.title = ""
        self._in_title = False
        self._max_links = max_links

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a" and len(self.links) < self._max_links:
            href = dict(attrs).get("href")
            if href:
                self.links.append(href.strip()[:2048])
        elif tag == "title":
            self._in_title = True

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False

    def handle_data(self, data: str) -> None:
        if self._in_title and len(self.title) < 512:
            self.title += data


@dataclass(frozen=True)
class Page:
    """What the crawler keeps of a page: its title and absolute http(s) links."""

    title: str
    links: tuple[str, ...]


def parse_page(body: bytes, base_url: str, max_links: int = 500) -> Page:
    """Title and absolute links (fragments dropped, only http/https) of an HTML body."""
    parser = _PageParser(max_links)
    # html.parser gives up on some broken markup: keep what it read before that.
    with contextlib.suppress(AssertionError, ValueError):
        parser.feed(body.decode("utf-8", errors="replace"))
        parser.close()
    links: list[str] = []
    for href in parser.links:
        absolute, _ = urldefrag(urljoin(base_url, href))
        if urlsplit(absolute).scheme in ("http", "https") and absolute not in links:
            links.append(absolute)
    return Page(" ".join(parser.title.split()), tuple(links))


@dataclass
class CrawlBudget:
    """Caps on one crawl: pages, bytes and wall time."""

    max_pages: int
    max_bytes: int
    max_seconds: float
    pages: int = 0
    bytes: int = 0
    started: float = field(default_factory=time.monotonic)

    def exhausted(self) -> bool:
        return (self.pages >= self.max_pages or self.bytes >= self.max_bytes
                or time.monotonic() - self.started >= self.max_seconds)


def same_site(url: str, hostname: str, internal_domains: tuple[str, ...] = ()) -> bool:
    """Is ``url`` one of the site's own (internal) links?"""
    host = (urlsplit(url).hostname or "").lower().rstrip(".")
    if host == hostname.lower():
        return True
    return any(host == d.lower() or host.endswith("." + d.lower().lstrip("."))
               for d in internal_domains)


async def crawl_levels(network: Network, address: str, home_url: str, hostname: str, *,
                       depth: int, budget: CrawlBudget, timeout: float,
                       internal_domains: tuple[str, ...] = ()) -> dict[int, list[str]]:
    """Internal links by level: level 2 = linked from the homepage, level 3 = from level 2.

    Only pages on ``hostname`` itself are fetched (over ``address``); links to other internal
    domains are listed at their level but not followed.
    """
    levels: dict[int, list[str]] = {}
    frontier, seen = [home_url], {home_url}
    for level in range(2, depth + 1):
        found: list[str] = []
        for url in frontier:
            if budget.exhausted():
                break
            try:
                response = await fetch(network, address, url, timeout=timeout,
                                       limit=max(1, budget.max_bytes - budget.bytes))
            except ProbeError:
                continue
            budget.pages += 1
            budget.bytes += len(response.body)
            for link in parse_page(response.body, url).links:
                if same_site(link, hostname, internal_domains) and link not in seen:
                    seen.add(link)
                    found.append(link)
        levels[level] = found
        frontier = [u for u in found if same_site(u, hostname)]
    return levels
