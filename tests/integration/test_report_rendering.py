"""The reports looked at as a person would (issue 18 items 6 and 10).

A store is built from the synthetic sample (tests/samples.py: fixed seed, lab addresses,
hostile banners), the real renderers write every report, and then:

- each HTML report (agency zh, agency en, coordinator, scorecard) is opened by headless
  Chromium with a small check script added to a copy: no cell's text overflows its box, no
  chart label is cut by its SVG, the page does not scroll sideways, and the text reads back;
- each PDF page is drawn by pdftoppm (no blank page) and read back by pdftotext: the Chinese
  words, the classification marking at the top and the bottom of every page, a table of
  contents whose page numbers are the pages its sections start on, the remediation receipt,
  and the coordinator's wide table on landscape pages (pdfinfo).

Chromium runs offline (no proxy reachable, every host name unresolvable) with a temporary
profile and is killed, with its children, in a ``finally``.
"""

from __future__ import annotations

import contextlib
import html as htmllib
import json
import os
import re
import signal
import subprocess
from pathlib import Path
from typing import Any

import pytest

from sentinel.playbook import Playbook, load_playbook
from sentinel.report.html import labels, render_agency, render_all, render_template
from sentinel.store.sqlite import SqliteStore
from tests import samples as sample

MARKING = "内部<b>&"  # markup in a marking is shown as text, like any other text
NAMES = ["省政务服务数据管理局", "省公安厅网络安全保卫总队指挥中心", "市卫生健康委员会"]

PLAYBOOK = """\
name: rendering
agencies:
  - {id: agency-000, name: {zh: 省政务服务数据管理局, en: Provincial Data Bureau}}
  - {id: agency-001, name: {zh: 省公安厅网络安全保卫总队指挥中心,
                            en: Provincial Public Security Cyber Defence Command Centre}}
  - {id: agency-002, name: {zh: 市卫生健康委员会, en: Municipal Health Commission}}
scope: {authorised: ["198.18.0.0/15", "2001:db8::/32"]}
segments:
  - {id: seg-000, agency: agency-000, cidrs: ["198.18.0.0/24"], zone: extranet}
  - {id: seg-001, agency: agency-001, cidrs: ["198.18.1.0/24"], zone: extranet}
  - {id: seg-002, agency: agency-002, cidrs: ["198.18.2.0/24"], zone: extranet}
report: {marking: "内部<b>&"}
"""

CARD: dict[str, Any] = {
    "drill": {"id": "drill-2026-q4", "name": {"zh": "第四季度联合攻防演练", "en": "Q4 joint drill"},
              "window": {"start": "2026-09-01T02:00:00+00:00",
                         "end": "2026-09-01T04:00:00+00:00"},
              "started": "2026-09-01T02:00:00+00:00", "finished": "2026-09-01T03:10:00+00:00",
              "scans": {"baseline": "synthetic-0", "verify": "synthetic-1"},
              "detection": "sigma-local"},
    "agency": "agency-001",
    "score": 66.7, "detected": 2, "verified": 2, "injects_total": 3, "mean_ttd_s": 41.5,
    "injects": [
        {"id": "inj-telnet-open", "kind": "open_port", "host": "host-001-0.test", "port": 23,
         "detected": True, "detected_by": "new-cleartext-service-exposed", "ttd_s": 33.0,
         "verified": True,
         "expectations": [{"expect": "EXP-SVC-NOTALLOWED failed on host-001-0.test:23",
                           "found": True}]},
        {"id": "inj-weak-tls-downgrade-to-legacy-protocols-on-the-portal",
         "kind": "tls_downgrade", "host": "host-001-1.test", "port": 443, "detected": True,
         "detected_by": "tls-version-downgrade-detected-on-internet-facing-endpoint",
         "ttd_s": 50.0, "verified": True,
         "expectations": [{"expect": "TLS-PROTO-10 failed", "found": True}]},
        {"id": "inj-snmp", "kind": "snmp_default", "host": "host-001-1.test", "port": 161,
         "detected": False, "detected_by": "", "ttd_s": None, "verified": False,
         "expectations": []},
    ],
    "revert_errors": [],
}

CHECK_JS = r"""
(function () {
  var problems = [];
  function say(kind, el) {
    var text = (el.textContent || '').replace(/\s+/g, ' ').trim().slice(0, 80);
    problems.push(kind + ' <' + el.tagName.toLowerCase() + '> ' + text);
  }
  var root = document.documentElement;
  if (root.scrollWidth > root.clientWidth + 1) {
    problems.push('page scrolls sideways: ' + root.scrollWidth + ' > ' + root.clientWidth);
  }
  document.querySelectorAll('td, th, dd, dt, h1, h2, h3, h4, p, caption, li').forEach(
    function (el) {
      if (el.clientWidth > 0 && el.scrollWidth > el.clientWidth + 1) { say('overflows', el); }
    });
  document.querySelectorAll('table').forEach(function (table) {
    var box = table.parentElement.getBoundingClientRect();
    var own = table.getBoundingClientRect();
    if (own.right > box.right + 1) { say('table wider than its section', table); }
  });
  document.querySelectorAll('svg').forEach(function (svg) {
    var box = svg.getBoundingClientRect();
    svg.querySelectorAll('text').forEach(function (t) {
      var r = t.getBoundingClientRect();
      if (r.width === 0) { return; }
      if (r.left < box.left - 1 || r.right > box.right + 1 ||
          r.top < box.top - 1 || r.bottom > box.bottom + 1) { say('chart label cut', t); }
    });
  });
  var out = document.createElement('pre');
  out.id = 'sentinel-check';
  out.textContent = JSON.stringify({problems: problems, text: document.body.innerText});
  document.body.appendChild(out);
})();
"""

OFFLINE = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
           "--no-default-browser-check", "--disable-background-networking",
           "--disable-component-update", "--disable-sync", "--disable-extensions",
           "--proxy-server=127.0.0.1:9", "--host-resolver-rules=MAP * ~NOTFOUND"]


def chromium(args: list[str], work: Path) -> str:
    """Run headless Chromium once with a fresh profile, in an empty network namespace
    (`unshare -n`: the pages are files, and nothing Chromium might try can leave the
    machine); its stdout. Killed with its children (its own process group) whatever
    happens."""
    profile = work / "profile"
    profile.mkdir(exist_ok=True)
    process = subprocess.Popen(
        ["unshare", "-n", "chromium", *OFFLINE, f"--user-data-dir={profile}", *args],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        out, _ = process.communicate(timeout=90)
        return out.decode("utf-8", "replace")
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def look(page: Path, work: Path, width: int = 1280) -> dict[str, Any]:
    """Open a copy of ``page`` with the check script in Chromium; the script's findings."""
    probe = work / f"look-{page.stem}-{width}.html"
    text = page.read_text(encoding="utf-8")
    assert text.count("</body>") == 1
    probe.write_text(text.replace("</body>", f"<script>{CHECK_JS}</script></body>"),
                     encoding="utf-8")
    dom = chromium([f"--window-size={width},900", "--dump-dom", probe.as_uri()], work)
    found = re.search(r'<pre id="sentinel-check">(.*?)</pre>', dom, re.S)
    assert found, f"Chromium did not render {page.name}"
    result: dict[str, Any] = json.loads(htmllib.unescape(found.group(1)))
    return result


def run(*args: str) -> str:
    return subprocess.run(list(args), capture_output=True, text=True, check=True,
                          timeout=120).stdout


def pages(pdf: Path) -> list[str]:
    """The text of each page (pdftotext -layout)."""
    count = int(re.search(r"^Pages:\s+(\d+)", run("pdfinfo", str(pdf)), re.M).group(1))  # type: ignore[union-attr]
    return [run("pdftotext", "-layout", "-f", str(n), "-l", str(n), str(pdf), "-")
            for n in range(1, count + 1)]


def sizes(pdf: Path, count: int) -> list[tuple[float, float]]:
    info = run("pdfinfo", "-f", "1", "-l", str(count), str(pdf))
    return [(float(w), float(h))
            for w, h in re.findall(r"^Page\s+\d+ size:\s+([\d.]+) x ([\d.]+)", info, re.M)]


def ink(pdf: Path, work: Path) -> list[int]:
    """Per page, the number of non-white pixels of a 20 dpi grey rendering (pdftoppm)."""
    stem = work / pdf.stem
    run("pdftoppm", "-r", "20", "-gray", str(pdf), str(stem))
    counts = []
    for image in sorted(work.glob(f"{pdf.stem}-*.pgm"),
                        key=lambda p: int(p.stem.rsplit("-", 1)[1])):
        data = image.read_bytes()
        header = re.match(rb"P5\s+(\d+)\s+(\d+)\s+(\d+)\s", data)
        assert header
        pixels = data[header.end():]
        counts.append(sum(1 for b in pixels if b < 200))
    return counts


def lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("rendering")
    store = SqliteStore(base / "s.db")
    sample.build(store, agencies=3, assets=2, scans=2)
    book: Playbook = load_playbook(base / "playbook.yml", text=PLAYBOOK)
    render_all(store, base / "zh", playbook=book, lang="zh", fmt="html")
    render_all(store, base / "en", playbook=book, lang="en", fmt="html")
    render_all(store, base / "pdf", playbook=book, lang="zh", fmt="pdf")
    render_agency(store, "agency-001", base / "pdf-en", playbook=book, lang="en", fmt="pdf")
    card = base / "scorecard.html"
    card.write_text(render_template("scorecard.html.j2", "zh", card=CARD), encoding="utf-8")
    return {"zh": base / "zh" / "agency-001.html", "en": base / "en" / "agency-001.html",
            "coordinator": base / "zh" / "index.html", "coordinator_en": base / "en" / "index.html",
            "scorecard": card, "pdf": base / "pdf" / "agency-001.pdf",
            "pdf_en": base / "pdf-en" / "agency-001.pdf",
            "coordinator_pdf": base / "pdf" / "coordinator.pdf"}


@pytest.mark.parametrize("which", ["zh", "en", "coordinator", "coordinator_en", "scorecard"])
@pytest.mark.parametrize("width", [1280, 800])
def test_html_nothing_overflows_and_reads_back(reports: dict[str, Path], which: str,
                                               width: int, tmp_path: Path) -> None:
    seen = look(reports[which], tmp_path, width)
    assert seen["problems"] == []
    text = seen["text"]
    expected = {"zh": ["省公安厅网络安全保卫总队指挥中心", "优先整改事项", "高危", "整改回执",
                       MARKING],
                "en": ["Provincial Public Security Cyber Defence Command Centre",
                       "Remediation receipt", MARKING],
                "coordinator": [*NAMES, MARKING], "coordinator_en": ["Municipal Health Commission"],
                "scorecard": ["第四季度联合攻防演练", "inj-snmp"]}[which]
    for word in expected:
        assert word in text, word
    if which == "en":  # an English report's own words are English (server text stays)
        for word in ("整改回执", "评分", "目录", "签字", "：", "（"):
            assert word not in text, word


def test_html_prints_with_the_marking_on_every_page(reports: dict[str, Path],
                                                    tmp_path: Path) -> None:
    printed = tmp_path / "printed.pdf"
    chromium(["--no-pdf-header-footer", f"--print-to-pdf={printed}",
              reports["zh"].as_uri()], tmp_path)
    texts = pages(printed)
    assert len(texts) >= 2
    for number, text in enumerate(texts, 1):
        assert MARKING in lines(text)[0] and MARKING in lines(text)[-1], f"page {number}"


def _check_marking_and_ink(pdf: Path, texts: list[str], work: Path) -> None:
    for number, text in enumerate(texts, 1):
        assert MARKING in lines(text)[0], f"no marking at the top of page {number}"
        assert MARKING in lines(text)[-1], f"no marking at the bottom of page {number}"
    counts = ink(pdf, work)
    assert len(counts) == len(texts)
    assert all(c > 200 for c in counts), counts  # a page with only its marking is blank


def _toc(texts: list[str], titles: list[str]) -> None:
    """Each section's TOC entry names the page where its heading first appears after the
    TOC page."""
    toc_page = next(i for i, t in enumerate(texts) if all(title in t for title in titles))
    for title in titles:
        entry = re.search(re.escape(title) + r"[^\n]*?(\d+)\s*$", texts[toc_page], re.M)
        assert entry, f"no TOC entry for {title}"
        page = int(entry.group(1))
        first = next(n for n, t in enumerate(texts[toc_page + 1:], toc_page + 2) if title in t)
        assert page == first, f"TOC says {title} is on page {page}, it starts on {first}"


def test_agency_pdf_reads_back_with_toc_marking_and_receipt(reports: dict[str, Path],
                                                             tmp_path: Path) -> None:
    texts = pages(reports["pdf"])
    _check_marking_and_ink(reports["pdf"], texts, tmp_path)
    whole = "\n".join(texts)
    for word in ("省公安厅网络安全保卫总队指挥中心", "高危", "优先整改事项", "整改回执"):
        assert word in whole, word
    words = labels()
    _toc(texts, [words[k]["zh"] for k in ("actions", "scores", "changes", "findings",
                                          "appendix", "receipt")])
    start = next(n for n, t in enumerate(texts) if n > 0 and words["receipt"]["zh"] in t)
    receipt = "\n".join(texts[start:])
    for word in ("整改回执", "省公安厅网络安全保卫总队指挥中心", "synthetic-1", "整改措施",
                 "完成时间", "责任人", "签字", "盖章"):
        assert word in receipt, word
    assert sizes(reports["pdf"], len(texts))[0] == pytest.approx((595.3, 841.9), abs=1)


def test_agency_pdf_in_english(reports: dict[str, Path], tmp_path: Path) -> None:
    texts = pages(reports["pdf_en"])
    _check_marking_and_ink(reports["pdf_en"], texts, tmp_path)
    words = labels()
    _toc(texts, [words[k]["en"] for k in ("actions", "scores", "findings", "receipt")])
    start = next(n for n, t in enumerate(texts) if n > 0 and "Remediation receipt" in t)
    receipt = "\n".join(texts[start:])
    for word in ("Agency", "synthetic-1", "Measures", "Completed", "responsible", "Signature",
                 "Agency seal"):  # table headings may wrap: single words
        assert word in receipt, word


def test_coordinator_pdf_wide_table_on_landscape_pages(reports: dict[str, Path],
                                                       tmp_path: Path) -> None:
    pdf = reports["coordinator_pdf"]
    texts = pages(pdf)
    _check_marking_and_ink(pdf, texts, tmp_path)
    for name in NAMES:
        assert name in "\n".join(texts), name
    shapes = sizes(pdf, len(texts))
    rank = labels()["rank"]["zh"]
    board = [n for n, t in enumerate(texts) if rank in t and NAMES[1] in t]
    assert board, "the leaderboard is not in the PDF"
    for n in board:
        width, height = shapes[n]
        assert width > height, f"leaderboard page {n + 1} is {width} x {height} (portrait)"
