"""Issue #14 item 4: ``sentinel import nmap`` is bounded.

``sentinel import nmap /dev/zero`` ran a 24 GB machine out of memory. An nmap XML file comes
from whoever ran nmap: it may be a device, a FIFO, a 190 MB report, 200,000 nested elements,
an entity bomb, an external entity, an address that is not one. Each is refused with exit 2
and one message naming the file, fast and in bounded memory (a large but valid report may
instead be imported, still in bounded memory). The import sends nothing; the playbook is
loopback only.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.hostile.runner import (
    BOUNDED_RSS_MIB,
    FAST_S,
    GIB,
    HOSTILE_TIMEOUT_S,
    Result,
    assert_budget,
    assert_hostile_refused,
    assert_no_crash,
    loopback_playbook,
    make_fifo,
    make_sparse,
    nmap_host,
    nmap_xml,
    run,
)

pytestmark = pytest.mark.hostile


def _import(tmp_path: Path, xml: Path, timeout: float = HOSTILE_TIMEOUT_S) -> Result:
    book = tmp_path / "book.yml"
    book.write_text(loopback_playbook(cidrs=("127.0.0.0/24",), hosts=None), encoding="utf-8")
    return run("import", "nmap", xml, "--playbook", book, "--store", tmp_path / "store.db",
               home=tmp_path / "home", timeout=timeout)


def _entity_bomb() -> str:
    entities = ['<!ENTITY lol0 "lollollollollollollollollollol">']
    entities += [f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10)]
    return ('<?xml version="1.0"?>\n<!DOCTYPE nmaprun [\n' + "\n".join(entities) + "\n]>\n"
            + nmap_xml(nmap_host("127.0.0.1", [(23, "telnet", "&lol9;")])).split("\n", 1)[1])


HOSTILE_XML: dict[str, str] = {
    "entity-bomb": _entity_bomb(),
    "external-entity": ('<?xml version="1.0"?>\n<!DOCTYPE nmaprun [<!ENTITY x SYSTEM '
                        '"file:///etc/passwd">]>\n<nmaprun><host><status state="&x;"/>'
                        '<address addr="127.0.0.1" addrtype="ipv4"/></host></nmaprun>\n'),
    "nested-200k": "<nmaprun>" + "<a>" * 200_000 + "</a>" * 200_000 + "</nmaprun>\n",
    "hosts-nested-200k": ("<nmaprun>" + "<host>" * 200_000 + "</host>" * 200_000
                          + "</nmaprun>\n"),
    "invalid-address": nmap_xml(nmap_host("[/]")),
    "address-out-of-range": nmap_xml(nmap_host("127.0.0.300")),
    "not-xml": "\x00\xff\xfe binary garbage \x1b[31m",
    "wrong-root": "<html><body>nmap</body></html>\n",
}


@pytest.mark.parametrize("name", sorted(HOSTILE_XML))
def test_hostile_nmap_xml(tmp_path: Path, name: str) -> None:
    xml = tmp_path / f"{name}.xml"
    xml.write_text(HOSTILE_XML[name], encoding="utf-8", errors="surrogateescape")
    assert_hostile_refused(_import(tmp_path, xml), str(xml))


@pytest.mark.parametrize("kind", ["/dev/zero", "/dev/urandom", "fifo", "sparse-5GiB"])
def test_special_file_as_nmap_xml(tmp_path: Path, kind: str) -> None:
    if kind == "fifo":
        path = make_fifo(tmp_path / "scan.xml")
    elif kind == "sparse-5GiB":
        path = make_sparse(tmp_path / "scan.xml", 5 * GIB)
    else:
        path = Path(kind)
    assert_hostile_refused(_import(tmp_path, path), str(path))


def test_huge_nmap_xml_is_refused_or_bounded(tmp_path: Path) -> None:
    """A 190 MB report (under today's 200 MB cap) hit MemoryError at a 2 GiB cap: it must be
    refused as too large, or imported within a bounded amount of memory."""
    host = nmap_host("127.0.0.1", [(p, "telnet", "telnetd") for p in range(1, 21)])
    xml = tmp_path / "huge.xml"
    with xml.open("w", encoding="utf-8") as handle:
        handle.write('<?xml version="1.0"?>\n<nmaprun>\n')
        for _ in range(190_000_000 // len(host)):
            handle.write(host)
        handle.write("</nmaprun>\n")
    result = _import(tmp_path, xml, timeout=120)
    if result.status == 2:
        assert_hostile_refused(result, str(xml))
        return
    assert_no_crash(result)
    assert result.status == 0, result.describe()
    assert_budget(result, max_rss_mib=2 * BOUNDED_RSS_MIB)


def test_valid_nmap_xml_still_imports(tmp_path: Path) -> None:
    """The bounds must not refuse a real report: 254 hosts with three open ports each."""
    xml = tmp_path / "scan.xml"
    xml.write_text(nmap_xml(*(nmap_host(f"127.0.0.{i}") for i in range(1, 255))),
                   encoding="utf-8")
    result = _import(tmp_path, xml, timeout=120)
    assert_no_crash(result)
    assert result.status == 0, result.describe()
    assert "imported 254 addresses" in result.stderr, result.describe()
    assert_budget(result, max_seconds=10 * FAST_S, max_rss_mib=BOUNDED_RSS_MIB)
