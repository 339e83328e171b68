"""Measured checks of the rendered site in a browser: what a reader needs, for either renderer.

:func:`inspect_page` opens one page and reports what a reader sees of chosen elements (visible,
in the first viewport, text, attributes), console errors and requests that would leave the
machine, with an optional screenshot (the pipeline's check that an alert shows on the dashboard).

:func:`check_site` opens every page of a site folder in headless Chromium
(:class:`stoffwechsel.site.browser.Browser`, network off), from ``file://`` and from a static server
on 127.0.0.1, at each window size, and returns one :class:`PageCheck` per page, source and size:
``problems`` is empty when the page passes. Measured, each one a defect seen before:

* every alert box (``.alert``) is at least as tall as its content, and no two of the boxes and
  links around them overlap (Quarto's dashboard once squeezed them to 36 px each);
* no text of a value box is clipped: every line of text lies inside the box and inside every
  ancestor that clips (the headline value boxes once showed "7.7" without its change);
* no content is cut off by a box that hides its overflow (cards, value boxes, alerts), and no
  block in a card is squeezed below the height of its content (Quarto's fill layout once shrank
  the note above the alerts to 0 px, and the alerts covered it);
* the navbar is one line (links on one row, title not cut) or collapsed to its toggle button;
* the page does not scroll sideways, the body text is at least 12 px;
* no console error, uncaught exception or failed load, and no request leaves the machine;
* every link inside the site leads somewhere (:func:`broken_links`): the page exists, and so does
  the element its ``#anchor`` names (an alert's "details" link once pointed at a missing anchor);
* outside ``<details>`` folds no release code, no hash-like version and no date other than
  "2 March 2026" (:func:`owner_wording`; an alert once named "prod-2.4.0").

:func:`visible_text` is what a reader can read on a page (the browser's ``innerText`` of the
page without the site's navigation bar, analyst blocks included), for comparing the two renderers.
"""

from __future__ import annotations

import contextlib
import functools
import http.server
import json
import re
import threading
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

from stoffwechsel.site.browser import Browser, Tab

__all__ = [
    "VIEWPORTS",
    "PageCheck",
    "serve",
    "check_page",
    "check_site",
    "broken_links",
    "owner_wording",
    "visible_text",
    "MEASURE_JS",
    "inspect_page",
]

#: window sizes every page must be readable at
VIEWPORTS: tuple[tuple[int, int], ...] = ((1280, 800), (1920, 1080))

#: JavaScript returning {problems: [...], measured: {...}} for the page as shown (not a raw string: a backslash
#: at a line's end continues the line, so long JavaScript lines stay one line)
MEASURE_JS = """
(() => {
  const problems = [];
  const measured = {alerts: [], value_boxes: [], navbar: null};
  const tol = 1.5;
  const shown = (el) => {
    const r = el.getBoundingClientRect(), cs = getComputedStyle(el);
    return r.width > 0 && r.height > 0 && cs.visibility !== 'hidden' && cs.display !== 'none';
  };
  const label = (el) => (el.innerText || el.textContent || '').replace(/\\s+/g, ' ').trim().slice(0, 70);
  const clips = (el) => { const cs = getComputedStyle(el); \
return cs.overflowX !== 'visible' || cs.overflowY !== 'visible'; };
  const scrolls = (el) => { const cs = getComputedStyle(el); return /auto|scroll/.test(cs.overflowY + cs.overflowX); };
  const overlap = (a, b) => {
    const w = Math.min(a.right, b.right) - Math.max(a.left, b.left);
    const h = Math.min(a.bottom, b.bottom) - Math.max(a.top, b.top);
    return w > tol && h > tol;
  };
  const textRects = (root) => {
    const out = [];
    const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
    for (let n = walker.nextNode(); n; n = walker.nextNode()) {
      if (!n.textContent.trim() || !n.parentElement || !shown(n.parentElement)) continue;
      const range = document.createRange(); range.selectNodeContents(n);
      for (const r of range.getClientRects()) if (r.width > 0 && r.height > 0) out.push({node: n, rect: r});
    }
    return out;
  };
  // 1. alerts: as tall as their content; no overlap among the alerts and their neighbours
  const alerts = Array.from(document.querySelectorAll('.alert')).filter(shown);
  const neighbours = new Set();
  for (const a of alerts) {
    measured.alerts.push({text: label(a), height: a.clientHeight, content_height: a.scrollHeight});
    if (a.scrollHeight > a.clientHeight + tol)
      problems.push(`alert shorter than its text (${a.clientHeight}px box, ${a.scrollHeight}px content): ${label(a)}`);
    for (const sib of (a.parentElement ? a.parentElement.children : [])) if (shown(sib)) neighbours.add(sib);
  }
  const nb = Array.from(neighbours);
  for (let i = 0; i < nb.length; i++) for (let j = i + 1; j < nb.length; j++) {
    if (nb[i].contains(nb[j]) || nb[j].contains(nb[i])) continue;
    if (overlap(nb[i].getBoundingClientRect(), nb[j].getBoundingClientRect()))
      problems.push(`overlapping boxes: "${label(nb[i])}" and "${label(nb[j])}"`);
  }
  // 2. value boxes: every line of text inside the box and inside every clipping ancestor
  for (const box of Array.from(document.querySelectorAll('.value-box, .bslib-value-box')).filter(shown)) {
    const br = box.getBoundingClientRect();
    let clipped = [];
    for (const {node, rect} of textRects(box)) {
      let el = node.parentElement, ok = rect.left >= br.left - tol && rect.right <= br.right + tol
        && rect.top >= br.top - tol && rect.bottom <= br.bottom + tol;
      while (ok && el && el !== box.parentElement) {
        if (clips(el)) {
          const r = el.getBoundingClientRect();
          ok = rect.left >= r.left - tol && rect.right <= r.right + tol \
&& rect.top >= r.top - tol && rect.bottom <= r.bottom + tol;
        }
        el = el.parentElement;
      }
      if (!ok) clipped.push(node.textContent.trim().slice(0, 40));
    }
    measured.value_boxes.push({text: label(box), width: br.width, height: br.height, clipped});
    if (clipped.length) problems.push(`value box text clipped: ${clipped.join(' | ')} (box "${label(box)}")`);
  }
  // 3. nothing cut off by a box that hides its overflow (scrollable boxes can be scrolled)
  for (const el of document.querySelectorAll('main *, .value-box, .bslib-value-box, .card, .alert')) {
    if (!shown(el) || !clips(el) || scrolls(el)) continue;
    if (el.closest('.navbar, pre, code, .value-box-showcase, svg, figure')) continue;
    if (el.scrollHeight > el.clientHeight + 2 && (el.innerText || '').trim())
      problems.push(`content cut off (${el.clientHeight}px shown of ${el.scrollHeight}px): \
<${el.tagName.toLowerCase()} class="${el.className}"> ${label(el)}`);
  }
  // 3b. nothing squeezed: a block in a card keeps the height of its content (Quarto's fill layout
  //     shrank a note above the alerts to 0 px, and the alerts covered it)
  for (const el of document.querySelectorAll('.card-body > *, .card-body > * > *')) {
    if (!(el instanceof HTMLElement) || !shown(el) && !(el.innerText || '').trim()) continue;
    if (clips(el) || el.closest('.value-box, .bslib-value-box, figure, svg, pre')) continue;
    if ((el.innerText || '').trim() && el.scrollHeight > el.clientHeight + 2 && el.clientHeight < el.scrollHeight * 0.9)
      problems.push(`squeezed: ${el.clientHeight}px box for ${el.scrollHeight}px of content: \
<${el.tagName.toLowerCase()} class="${el.className}"> ${label(el)}`);
  }
  // 4. navbar: one line with the full title, or collapsed to its toggle button
  const nav = document.querySelector('nav.navbar, .navbar');
  if (nav) {
    const toggler = nav.querySelector('.navbar-toggler');
    const collapsed = !!(toggler && shown(toggler));
    const links = Array.from(nav.querySelectorAll('.nav-link')).filter(shown);
    const tops = links.map((a) => Math.round(a.getBoundingClientRect().top));
    const title = nav.querySelector('.navbar-title, .navbar-brand');
    const cut = title ? (title.scrollWidth > title.clientWidth + tol) : false;
    const nr = nav.getBoundingClientRect();
    measured.navbar = {collapsed, height: nr.height, link_rows: new Set(tops).size,
                       title: title ? label(title) : null, title_cut: cut};
    if (cut) problems.push(`navbar title cut: "${label(title)}"`);
    if (!collapsed && tops.length && Math.max(...tops) - Math.min(...tops) > 4)
      problems.push(`navbar wraps onto ${new Set(tops).size} lines`);
    if (nr.height > 90) problems.push(`navbar ${Math.round(nr.height)}px tall`);
    for (const a of links) if (a.getBoundingClientRect().right > window.innerWidth + tol)
      problems.push(`navbar link outside the window: ${label(a)}`);
  }
  // 5. readable: no sideways scrolling, body text not tiny
  const doc = document.documentElement;
  if (doc.scrollWidth > window.innerWidth + tol)
    problems.push(`page scrolls sideways (${doc.scrollWidth}px wide in a ${window.innerWidth}px window)`);
  for (const el of document.querySelectorAll('main p, main li, main td, main th')) {
    if (!shown(el) || el.closest('.for-analysts') || !(el.innerText || '').trim()) continue;
    const size = parseFloat(getComputedStyle(el).fontSize);
    if (size < 12) { problems.push(`text at ${size}px: ${label(el)}`); break; }
  }
  const main = document.querySelector('main') || document.body;
  measured.text_length = (main.innerText || '').length;
  if (measured.text_length < 20) problems.push('the page shows (almost) no text');
  measured.scroll_height = doc.scrollHeight;
  return {problems, measured, url: location.href, title: document.title};
})()
"""


@dataclass
class PageCheck:
    """One page checked from one source at one window size; it passes when :attr:`ok`."""

    page: str  # path relative to the site folder
    source: str  # "file" or "http"
    viewport: tuple[int, int]
    url: str
    problems: list[str]
    console_errors: list[str]
    external_requests: list[str]
    measured: dict = field(default_factory=dict)
    screenshot: str | None = None

    @property
    def ok(self) -> bool:
        """No problem measured, no console error, no request leaving the machine."""
        return not (self.problems or self.console_errors or self.external_requests)

    def as_dict(self) -> dict:
        """The check as plain data (for the JSON record of a test run)."""
        return asdict(self)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:  # noqa: D401 - no request log on stderr
        pass


class _Server(http.server.ThreadingHTTPServer):
    def handle_error(self, request, client_address) -> None:
        """A tab closed while a reply was on its way (the browser's own favicon request) is not
        an error of the site; anything else is reported as usual."""
        import sys

        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


@contextlib.contextmanager
def serve(site_dir: Path) -> Iterator[str]:
    """A static server for ``site_dir`` on 127.0.0.1 (a free port); yields its base URL."""
    handler = functools.partial(_QuietHandler, directory=str(site_dir))
    server = _Server(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def check_page(tab: Tab) -> dict:
    """The measurements of :data:`MEASURE_JS` on an opened tab."""
    return tab.evaluate(MEASURE_JS)


class _Links(HTMLParser):
    """The ids (and ``<a name>``) of a page and the targets of its links (``href``)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.ids: set[str] = set()
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if a.get("id"):
            self.ids.add(a["id"])
        if tag == "a" and a.get("name"):
            self.ids.add(a["name"])
        if tag in ("a", "area") and a.get("href") is not None:
            self.hrefs.append(a["href"])


@functools.lru_cache(maxsize=256)
def _parse(path: Path, mtime: float) -> _Links:
    parser = _Links()
    parser.feed(path.read_text(encoding="utf-8", errors="replace"))
    return parser


def broken_links(site_dir: Path, pages: Sequence[str] | None = None) -> dict[str, list[str]]:
    """Links inside the site that lead nowhere, per page (relative path): ``href="#x"`` where the
    page has no element with id ``x``, and ``other.html#x`` where ``other.html`` is missing or has
    no such id. Links out of the site (a scheme, ``//host``) and the bare ``#`` are not followed
    here (the browser check forbids network requests)."""
    site_dir = Path(site_dir).resolve()
    rels = (
        list(pages)
        if pages is not None
        else sorted(p.relative_to(site_dir).as_posix() for p in site_dir.rglob("*.html"))
    )
    out: dict[str, list[str]] = {}
    for rel in rels:
        page = site_dir / rel
        problems = []
        for href in _parse(page, page.stat().st_mtime).hrefs:
            parts = urlsplit(href)
            if parts.scheme or parts.netloc or href in ("", "#"):
                continue
            target = (page.parent / unquote(parts.path)).resolve() if parts.path else page
            if target.is_dir():
                target = target / "index.html"
            if not target.is_file():
                problems.append(f'link to a missing page: href="{href}"')
                continue
            fragment = unquote(parts.fragment)
            if fragment and target.suffix == ".html" and fragment not in _parse(target, target.stat().st_mtime).ids:
                problems.append(f'link to a missing anchor: href="{href}" (no id="{fragment}" in {target.name})')
        out[rel] = sorted(set(problems))
    return out


#: what an owner may not read outside a details fold: release codes, hash-like versions, and
#: any date not written like "2 March 2026" (ISO, numeric, abbreviated months, leading zeros)
_MONTHS = "January|February|March|April|May|June|July|August|September|October|November|December"
OWNER_FORBIDDEN = (
    ("release code", re.compile(r"\bprod-\d[\w.]*")),
    ("hash-like version", re.compile(r"\b(?=[0-9a-f]*\d)(?=[0-9a-f]*[a-f])[0-9a-f]{8,64}\b")),
    (
        "date not written like '2 March 2026'",
        re.compile(
            r"\b\d{4}-\d{2}-\d{2}\b|\b\d{1,2}[./]\d{1,2}[./]\d{2,4}\b"
            r"|\b\d{1,2} (?:Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec)\b\.?"
            rf"|\b0\d (?:{_MONTHS})\b"
        ),
    ),
)


class _OwnerText(HTMLParser):
    """The text of a page outside ``<details>`` folds, scripts, styles and the navigation bar."""

    SKIP = {"script", "style", "details", "nav", "head"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.depth: list[str] = []
        self.parts: list[str] = []

    def handle_starttag(self, tag, attrs) -> None:
        if tag in self.SKIP:
            self.depth.append(tag)

    def handle_endtag(self, tag) -> None:
        if self.depth and self.depth[-1] == tag:
            self.depth.pop()

    def handle_data(self, data) -> None:
        if not self.depth:
            self.parts.append(data)


def owner_wording(html_text: str) -> list[str]:
    """Codes and dates an owner page shows outside its details folds (:data:`OWNER_FORBIDDEN`),
    e.g. ``['release code: prod-2.4.0']``; empty when the page speaks in business names and one
    date format."""
    parser = _OwnerText()
    parser.feed(html_text)
    words = " ".join(parser.parts)
    return sorted({f"{what}: {m.group(0)}" for what, pattern in OWNER_FORBIDDEN for m in pattern.finditer(words)})


def _shot_name(page: str, viewport: tuple[int, int]) -> str:
    stem = re.sub(r"[^\w.-]+", "_", page.removesuffix(".html"))
    return f"{stem}-{viewport[0]}x{viewport[1]}.png"


def check_site(
    site_dir: Path,
    *,
    viewports: Sequence[tuple[int, int]] = VIEWPORTS,
    sources: Sequence[str] = ("file", "http"),
    screenshots: Path | None = None,
    pages: Sequence[str] | None = None,
    browser: Browser | None = None,
) -> list[PageCheck]:
    """Open every HTML page of ``site_dir`` (or ``pages``, relative paths) from each source at each
    window size and measure it; screenshots (``file`` source only) go to ``screenshots``."""
    site_dir = Path(site_dir).resolve()
    rels = (
        list(pages)
        if pages is not None
        else sorted(p.relative_to(site_dir).as_posix() for p in site_dir.rglob("*.html"))
    )
    links = broken_links(site_dir, rels)
    for rel in rels:  # owners read business names and one date format outside the analysts' folds
        links[rel] = links[rel] + [
            f"owner wording: {w}" for w in owner_wording((site_dir / rel).read_text(encoding="utf-8"))
        ]
    own = browser is None
    browser = browser or Browser()
    results: list[PageCheck] = []
    try:
        with serve(site_dir) as base:
            for source in sources:
                for rel in rels:
                    url = (site_dir / rel).as_uri() if source == "file" else base + rel
                    for viewport in viewports:
                        tab = browser.open(url, viewport)
                        try:
                            info = check_page(tab)
                            shot = None
                            if screenshots is not None and source == "file":
                                shot = str(tab.screenshot(Path(screenshots) / _shot_name(rel, viewport)))
                            results.append(
                                PageCheck(
                                    rel,
                                    source,
                                    tuple(viewport),
                                    info["url"],
                                    info["problems"] + links[rel],
                                    tab.console_errors(),
                                    tab.external_requests(),
                                    info["measured"],
                                    shot,
                                )
                            )
                        finally:
                            tab.close()
    finally:
        if own:
            browser.close()
    return results


_TEXT_JS = r"""
(() => {
  // the site's navigation bar is the same on every page; a dashboard's own title bar is not
  for (const nav of Array.from(document.querySelectorAll('nav.navbar')))
    if (!nav.closest('#quarto-dashboard-header')) nav.remove();
  for (const d of document.body.querySelectorAll('details')) d.open = true;
  return document.body.innerText;
})()
"""


def visible_text(browser: Browser, html_path: Path, viewport: tuple[int, int] = (1280, 800)) -> list[str]:
    """The words a reader can read on the page, apart from the site's navigation bar (a
    dashboard's title bar counts; analyst blocks opened), in order."""
    tab = browser.open(Path(html_path), viewport)
    try:
        text = tab.evaluate(_TEXT_JS) or ""
    finally:
        tab.close()
    return re.findall(r"[^\W_]+(?:[.,:%'’-][^\W_]+)*%?", text)


# ------------------------------------------------------------------------------------------------
# One page, as a reader sees it
# ------------------------------------------------------------------------------------------------

#: JavaScript returning, for each selector, what a reader sees of the elements it matches
_INSPECT_JS = r"""
(() => {
  const selectors = %s;
  const vw = window.innerWidth, vh = window.innerHeight;
  const found = {};
  for (const sel of selectors) {
    found[sel] = Array.from(document.querySelectorAll(sel)).map((el) => {
      const r = el.getBoundingClientRect();
      const cs = getComputedStyle(el);
      const visible = r.width > 0 && r.height > 0 && cs.visibility !== 'hidden' && cs.display !== 'none'
        && parseFloat(cs.opacity) > 0;
      // the part of the element not hidden by an ancestor that clips or scrolls (a card), nor
      // outside the window: "in the first viewport" needs its first line (24 px) in there
      let top = Math.max(r.top, 0), bottom = Math.min(r.bottom, vh);
      for (let a = el.parentElement; a && a !== document.documentElement; a = a.parentElement) {
        const acs = getComputedStyle(a);
        if (acs.overflowY !== 'visible' || acs.overflowX !== 'visible') {
          const ar = a.getBoundingClientRect();
          top = Math.max(top, ar.top); bottom = Math.min(bottom, ar.bottom);
        }
      }
      const shown_height = Math.max(0, bottom - top);
      const attributes = {};
      for (const a of el.attributes) attributes[a.name] = a.value;
      return {
        text: (el.innerText || '').trim(), visible,
        in_first_viewport: visible && r.top >= 0 && r.top < vh && r.left < vw && r.right > 0
          && shown_height >= Math.min(r.height, 24) && top <= r.top + 1,
        shown_height,
        rect: {x: r.x, y: r.y, width: r.width, height: r.height, top: r.top, bottom: r.bottom},
        attributes,
      };
    });
  }
  return {selectors: found, viewport: {width: vw, height: vh}, title: document.title,
          url: location.href, scroll_height: document.documentElement.scrollHeight};
})()
"""


def inspect_page(
    html_path: Path,
    selector: str | Sequence[str] = "body",
    *,
    screenshot: Path | None = None,
    viewport: tuple[int, int] = (1280, 800),
    timeout: float = 30.0,
    chromium: str | None = None,
) -> dict:
    """Open a page in headless Chromium (:class:`stoffwechsel.site.browser.Browser`, network off) and
    report what a reader sees.

    Returns ``{"url", "title", "viewport": {width, height}, "elements": [...]`` (for the first
    selector), ``"selectors": {selector: [...]}``, ``"console_errors": [str]`` (console errors,
    uncaught exceptions, failed loads), ``"external_requests": [url]`` (anything that would
    leave the machine), ``"screenshot": path or None}``. Each element is ``{text, visible,
    in_first_viewport, shown_height, rect, attributes}``; ``in_first_viewport`` means its top
    edge and first line (24 px) show in the window as first opened, not hidden by a card or other
    ancestor that clips or scrolls (no scrolling of the page nor of the card). A meta-refresh redirect
    (the site's ``index.html``) is followed. Raises ``FileNotFoundError`` without a Chromium binary.
    """
    html_path = Path(html_path).resolve()
    if not html_path.is_file():
        raise FileNotFoundError(html_path)
    selectors = [selector] if isinstance(selector, str) else list(selector)
    with Browser(chromium, timeout) as browser:
        tab = browser.open(html_path, viewport)
        info = tab.evaluate(_INSPECT_JS % json.dumps(selectors))
        shot = tab.screenshot(Path(screenshot)) if screenshot is not None else None
        return {
            "url": info["url"],
            "title": info["title"],
            "viewport": info["viewport"],
            "scroll_height": info["scroll_height"],
            "elements": info["selectors"][selectors[0]],
            "selectors": info["selectors"],
            "console_errors": tab.console_errors(),
            "external_requests": tab.external_requests(),
            "screenshot": str(shot) if shot else None,
        }


#: what hides an element without removing it: classes (Bootstrap's and plain), attributes, styles
HIDING_CLASSES = frozenset({"d-none", "hidden", "invisible", "visually-hidden", "sr-only", "collapse"})


_HIDING_STYLE = re.compile(r"display\s*:\s*none|visibility\s*:\s*(hidden|collapse)|opacity\s*:\s*0(\.0*)?\s*(;|$)")


#: elements whose height pushes what follows below the first screen (charts, images, tables)
TALL_ELEMENTS = ("img", "svg", "table", "figure", "iframe", "canvas")
#: a ``height`` attribute that makes one of them icon-sized, not tall (an icon drawn inline): up to 3em or 48px
ICON_HEIGHT = re.compile(
    r"\s*(?:(?:[0-2](?:\.\d+)?|3)\s*r?em|(?:[1-3]?\d|4[0-7])(?:\.\d+)?\s*(?:px)?|48\s*(?:px)?)\s*", re.I
)


def alert_in_first_screen_html(page: Path | str, selector: str = ".alert[data-segment]", name: str = "") -> dict:
    """Target 5 without a browser, from a page's HTML (a file, or the HTML itself with its ``name``):
    the first alert for a customer group is in the page, nothing tall (a chart, an image, a table)
    comes before it, and neither it nor an ancestor is hidden by a class (``d-none``, ``hidden``,
    ...), the ``hidden`` attribute, an inline style (``display:none``, ``visibility:hidden``,
    ``opacity:0``) or a ``<style>`` rule that names one of its classes with such a declaration."""
    from bs4 import BeautifulSoup

    html, name = (page.read_text(encoding="utf-8"), page.name) if isinstance(page, Path) else (page, name)
    soup = BeautifulSoup(html, "html.parser")
    alert = soup.select_one(selector)
    if alert is None:
        return {"page": name, "alert_found": False, "visible_in_first_screen": False}
    rules = " ".join(s.get_text() for s in soup.find_all("style"))
    hidden_by_css = {
        cls
        for block in re.findall(r"([^{}]+)\{([^{}]*)\}", rules)
        if _HIDING_STYLE.search(block[1])
        for cls in re.findall(r"\.([\w-]+)", block[0])
    }
    hiding = []
    for el in [alert, *alert.parents]:
        if getattr(el, "name", None) in (None, "[document]"):
            continue
        classes = set(el.get("class") or [])
        if classes & HIDING_CLASSES - ({"collapse"} if "show" in classes else set()):
            hiding.append(f"<{el.name}> class {sorted(classes & HIDING_CLASSES)}")
        if el.has_attr("hidden"):
            hiding.append(f"<{el.name}> hidden attribute")
        if _HIDING_STYLE.search(el.get("style", "")):
            hiding.append(f"<{el.name}> style {el['style']!r}")
        if classes & hidden_by_css:
            hiding.append(f"<{el.name}> stylesheet hides class {sorted(classes & hidden_by_css)}")
    tall = [el for el in alert.find_all_previous(TALL_ELEMENTS) if not ICON_HEIGHT.fullmatch(el.get("height", ""))]
    before = [el.name for el in tall if el.find_parent("nav") is None]
    return {
        "page": name,
        "alert_found": True,
        "alert_segment": alert.get("data-segment"),
        "hidden_by": hiding,
        "tall_elements_before_it": sorted(set(before)),
        "visible_in_first_screen": not hiding and not before,
    }


def planted_overview_html(check) -> str:
    """The first-screen block of the Overview for the planted copy
    (:class:`stoffwechsel.monitoring.planted.PlantedCheck`), rendered with the Overview's own markup
    (:func:`stoffwechsel.site.alert_blocks.incidents_html` and the tiles' sentences) in a plain page:
    deterministic, kept in memory."""
    from stoffwechsel.site import alert_blocks

    result = check.result
    quiet = alert_blocks.tile_sentences(result.summary["headline"], ("ctr", "purchases_per_100", "kept_per_100"))
    block = alert_blocks.incidents_html(result.incidents, "segments.ipynb", quiet)
    return (
        '<!DOCTYPE html><html><head><meta charset="utf-8"><title>Overview (planted copy)</title></head>'
        f"<body><main><h2>What needs attention (most urgent first)</h2>\n{block}\n</main></body></html>"
    )


def attribute_selector(value: str) -> str:
    """``.alert[data-segment="value"]`` with the value escaped for a CSS string."""
    return '.alert[data-segment="' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"]'
