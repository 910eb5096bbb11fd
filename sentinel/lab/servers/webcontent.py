"""Static pages for the lab's web servers: a linked site, a login form, an admin console.

The linked site exists for crawlers: ``link_depth`` levels of pages below the index, with the
manifest's ``links_to`` URLs (some to IPv4-only hosts) spread over the levels, so a crawler
that follows links finds hosts its address scan of one segment would not.
"""

from __future__ import annotations

import html
from pathlib import Path

from sentinel.lab.manifest import Host, Service

SECTIONS = ("notices", "services", "open-data")


def _page(title: str, body: str) -> str:
    return (f"<!DOCTYPE html>\n<html lang=\"zh-CN\"><head><meta charset=\"utf-8\">"
            f"<title>{html.escape(title)}</title></head>\n<body>\n<h1>{html.escape(title)}</h1>\n"
            f"{body}\n</body></html>\n")


def _links(urls: list[str]) -> str:
    items = "".join(f"<li><a href=\"{html.escape(u)}\">{html.escape(u)}</a></li>\n" for u in urls)
    return f"<ul>\n{items}</ul>"


def write_links_site(root: Path, host: Host, service: Service) -> None:
    """An index, then sections, pages and details: ``link_depth`` levels below the index."""
    depth = service.properties.link_depth or 3
    external = list(service.properties.links_to or [])
    # Spread the external links: one on the index, the rest on the deepest levels.
    on_index, deeper = external[:1], external[1:]
    index_links = [f"/{name}/" for name in SECTIONS] + on_index
    _write(root / "index.html", _page(f"{host.hostname} 门户首页", _links(index_links)))
    for number, section in enumerate(SECTIONS):
        chain = [root / section]
        for level in range(2, depth + 1):
            chain.append(chain[-1] / f"level{level}")
        for level, folder in enumerate(chain, start=1):
            links = [f"/{folder.relative_to(root).as_posix()}/level{level + 1}/"] \
                if level < depth else []
            if level == depth and number < len(deeper):
                links.append(deeper[number])
            if level == depth and number == len(SECTIONS) - 1:
                links += deeper[len(SECTIONS):]
            title = f"{section} level {level}"
            _write(folder / "index.html", _page(title, _links([*links, "/"])))


def write_login_page(root: Path, host: Host) -> None:
    """A login form that posts the password in clear over plain HTTP."""
    form = ("<form method=\"post\" action=\"/login\">\n"
            "<label>用户名 Username <input name=\"username\"></label>\n"
            "<label>密码 Password <input type=\"password\" name=\"password\"></label>\n"
            "<button type=\"submit\">登录 Log in</button>\n</form>")
    _write(root / "index.html", _page(f"{host.hostname} 警务综合平台登录 Login", form))


def write_plain_page(root: Path, title: str) -> None:
    """A one-line page."""
    _write(root / "index.html", _page(title, "<p>Sentinel lab</p>"))


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
