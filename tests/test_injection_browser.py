"""Script injection in the browser (issue 18): the whole pipeline runs on materials with HTML,
JavaScript and Markdown payloads in every text column of every file (tests/hostile_materials.py),
and every page of the website, under BOTH renderers, is opened in headless Chromium: no
JavaScript dialog opens, no element carries a payload's event handler, no ``javascript:`` link, no
inline script calls ``alert(``, no Quarto shortcode ran; and the payloads ARE on the pages, as
text (else the test would prove nothing). A control page with live payloads shows that the same
checks fail where they should.

Cost: one `dvc repro` (Python renderer; the stages that read no materials frozen: hostile_clone), one
`quarto render` of the same executed pages (where Quarto is installed), one Chromium for every page
of both sites."""

from __future__ import annotations

import html
import re
import shutil
from pathlib import Path

import pytest

from conftest import copy_without_reports, run
from hostile_materials import PAYLOADS, write_hostile_materials
from stoffwechsel.site import build
from stoffwechsel.site.browser import Browser, find_chromium

pytestmark = pytest.mark.pipeline

#: small groups are shown down to this size (the materials are simulated at half scale)
MONITOR_MIN_CUSTOMERS = 5
#: the pages that show customer groups by name: each must show payloads as text
GROUP_PAGES = ("reports/notebooks/pages/overview.html", "reports/notebooks/pages/segments.html")

needs_quarto = pytest.mark.skipif(
    build.find_quarto() is None,
    reason=(
        "quarto is not on PATH: the Quarto half of the injection test needs it "
        "(CI: .ci/run installs Quarto and puts it on PATH)"
    ),
)
RENDERERS = [pytest.param("python"), pytest.param("quarto", marks=needs_quarto)]

#: what a page holds that a payload made live (run in the page, after the load event)
_LIVE_JS = r"""
(() => {
  const found = [];
  for (const el of document.querySelectorAll('*')) {
    for (const a of el.attributes) {
      const name = a.name.toLowerCase(), value = a.value;
      if (name.startsWith('on') && /alert\(/.test(value)) found.push(`<${el.localName} ${name}="${value}">`);
      if (['href', 'src', 'action', 'formaction', 'xlink:href'].includes(name) && /^\s*javascript:/i.test(value))
        found.push(`<${el.localName} ${name}="${value}">`);
    }
    if (el.localName === 'img' && el.getAttribute('src') === 'x') found.push('<img src=x>');
  }
  for (const s of document.querySelectorAll('script:not([src])'))
    if (s.textContent.includes('alert(')) found.push('<script>' + s.textContent.slice(0, 80));
  for (const c of document.querySelectorAll('code'))
    if (['code', 'x'].includes(c.textContent)) found.push('<code>' + c.textContent + '</code> (Markdown ran)');
  // the page's text: its text nodes, not the source of its scripts and styles
  const parts = [];
  const walker = document.createTreeWalker(document.body || document.documentElement, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const node = walker.currentNode;
    if (!node.parentElement.closest('script, style, template, noscript')) parts.push(node.nodeValue);
  }
  const text = parts.join(' ');
  if (text.includes('root:x:0:0')) found.push('a Quarto include ran (/etc/passwd on the page)');
  return {found, text};
})()
"""


def page_report(browser: Browser, page: Path) -> tuple[list[str], str]:
    """(what is live on the page, its text): live = dialogs opened and payload markup that works."""
    tab = browser.open_untrusted(page)
    try:
        result = tab.evaluate(_LIVE_JS)
        problems = [f"dialog {d.get('type')}: {d.get('message')!r}" for d in tab.dialogs()] + result["found"]
        return problems, result["text"]
    finally:
        tab.close()


@pytest.fixture(scope="module")
def hostile_clone(tmp_path_factory) -> Path:
    """A copy of the working tree whose materials carry the payloads, after one `dvc repro` with
    the Python renderer (the site stage and verify's site preview).

    Every stage runs on the payloads but the two that read no materials, which are frozen and
    keep their committed outputs (no payload can reach them): `reproduce` would recompute the
    *committed* commit's features from scratch in a clone of its own and write evidence of commits
    and md5s (134 s of this fixture's `dvc repro`, measured on 2 cores), and `backtest` would
    re-run its simulated histories because min_customers changed (32-110 s). The Verification and
    Arriving pages show the committed evidence and backtest, as in a fresh clone."""
    clone = copy_without_reports(tmp_path_factory.mktemp("hostile-site"))  # keeps the evidence
    run(["git", "checkout", "HEAD", "--", "reports/monitoring/delay_evaluation.json"], clone)
    write_hostile_materials(clone / "materials")
    params = clone / "params.yaml"
    text, count = re.subn(
        r"(\nmonitor:\n  min_customers: )\d+", rf"\g<1>{MONITOR_MIN_CUSTOMERS}", params.read_text(encoding="utf-8")
    )
    assert count == 1, "params.yaml: monitor.min_customers is no longer the monitor section's first line"
    params.write_text(text, encoding="utf-8")
    run(["dvc", "freeze", "reproduce", "backtest"], clone)
    run(["dvc", "repro"], clone, STOFFWECHSEL_SITE_RENDERER="python")
    return clone


@pytest.fixture(scope="module")
def sites(hostile_clone, tmp_path_factory):
    """{renderer: site folder}: the pipeline's own _site (Python renderer), and the same executed
    pages rendered by Quarto into a second copy (rendered on first use)."""
    done = {"python": hostile_clone / "_site"}

    def get(renderer: str) -> Path:
        if renderer not in done:
            copy = tmp_path_factory.mktemp("hostile-quarto") / "project"
            shutil.copytree(
                hostile_clone,
                copy,
                ignore=shutil.ignore_patterns(".dvc", ".git", "data", "mlruns", "mlartifacts", "_site", "*.db"),
            )
            build.build_site(copy, renderer="quarto")
            done[renderer] = copy / "_site"
        return done[renderer]

    return get


@pytest.fixture(scope="module")
def browser():
    if find_chromium() is None:
        pytest.skip("no Chromium binary: install the Debian package 'chromium' or set CHROME_BIN; CI installs it")
    with Browser() as b:
        yield b


@pytest.mark.parametrize("renderer", RENDERERS)
def test_no_payload_is_live_on_any_page(sites, browser, renderer):
    out = sites(renderer)
    pages = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.html"))
    assert set(GROUP_PAGES) <= set(pages), pages
    live, texts = {}, {}
    for rel in pages:
        problems, texts[rel] = page_report(browser, out / rel)
        if problems:
            live[rel] = problems
    assert live == {}, f"{renderer}: payloads live on the pages"
    # the payloads did reach the pages, as text: on each page that names customer groups ...
    for rel in GROUP_PAGES:
        shown = [p for p in PAYLOADS if p in texts[rel]]
        assert len(shown) >= 2, f"{renderer}: {rel} shows no payload as text"
    # ... and every payload somewhere on the site, the characters themselves
    everywhere = "\n".join(texts.values())
    assert [p for p in PAYLOADS if p not in everywhere] == [], renderer


def test_the_checks_catch_live_payloads(tmp_path, browser):
    """The control: a page where the payloads are live fails every check (so the test can fail)."""
    page = tmp_path / "live.html"
    page.write_text(
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>live</title></head><body>"
        "<p>Bargain Hunters <img src=x onerror=alert(1)> null</p>"
        "<script>alert(2)</script><svg onload=alert(3)></svg>"
        "<a href='javascript:alert(4)'>x</a><p><code>code</code></p></body></html>",
        encoding="utf-8",
    )
    problems, text = page_report(browser, page)
    dialogs = [p for p in problems if p.startswith("dialog alert")]
    assert len(dialogs) >= 3, problems  # the script, the image's and the svg's handlers
    for needle in (
        'onerror="alert(1)"',
        "<script>alert(2)",
        'onload="alert(3)"',
        'href="javascript:alert(4)"',
        "<img src=x>",
        "Markdown ran",
    ):
        assert any(needle in p for p in problems), (needle, problems)
    assert "Bargain Hunters" in text
    # and a page with the payloads as text passes
    safe = tmp_path / "safe.html"
    escaped = "<br>".join(html.escape(p) for p in PAYLOADS)
    safe.write_text(f"<!DOCTYPE html><html><body><p>{escaped}</p></body></html>", encoding="utf-8")
    problems, text = page_report(browser, safe)
    assert problems == [] and all(p in text for p in PAYLOADS)
