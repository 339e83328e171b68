"""The HTML documents of the pure-Python renderer: a page body in its page, and the site's index.

:func:`page_html` wraps a page body (:class:`stoffwechsel.site.render.PageRenderer`) in the
document every page shares: the renderer's stylesheet and the project's ``css:`` files inlined,
and the navbar of ``_quarto.yml`` with relative links (so the site works from ``file://`` as well
as from a web server). :func:`notebook_links_to_html` points links to notebooks at their pages,
:func:`check_self_contained` refuses anything that would load from the network, and
:func:`index_redirect_html` is the ``index.html`` redirect ``quarto render`` writes, byte for byte.
"""

from __future__ import annotations

import html
import posixpath
import re
from collections.abc import Callable
from pathlib import Path

from stoffwechsel.site.project import (
    NOTEBOOK_SUFFIXES,
    Page,
    SiteConfig,
    SiteRenderError,
    load_config,
    main_page,
    read_page,
    relative_url,
)

__all__ = [
    "page_html",
    "rewrite_urls",
    "notebook_links_to_html",
    "check_self_contained",
    "index_redirect_html",
    "write_index_redirect",
]

#: the renderer's own stylesheet (the project's ``css:`` files follow it)
_CSS = """
*,*::before,*::after{box-sizing:border-box}
html{font-size:16px}
body{margin:0;font-family:system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue","Liberation Sans","DejaVu Sans",\
Arial,sans-serif;line-height:1.5;color:#212529;background:#f4f6f8}
a{color:#0b5ed7}
.navbar{display:flex;flex-wrap:wrap;align-items:center;gap:.25rem 1.25rem;padding:.6rem 1.25rem;background:#1f3a5f;\
color:#fff}
.navbar a{color:#dfe7f1;text-decoration:none}
.navbar a:hover,.navbar a:focus{color:#fff;text-decoration:underline}
.navbar-brand{font-weight:600;font-size:1.15rem;color:#fff!important;margin-right:.75rem}
.navbar-nav{display:flex;flex-wrap:wrap;gap:.25rem 1rem;list-style:none;margin:0;padding:0}
.navbar-nav.navbar-right{margin-left:auto}
.nav-link.active{color:#fff;font-weight:600;border-bottom:2px solid #fff}
.nav-item{position:relative}
.dropdown-menu{display:none;position:absolute;z-index:10;list-style:none;margin:0;padding:.4rem .8rem;\
background:#1f3a5f;min-width:12rem}
.nav-item:hover>.dropdown-menu,.nav-item:focus-within>.dropdown-menu{display:block}
.content{max-width:72rem;margin:0 auto;padding:1.5rem 1.25rem 3rem;background:#fff;min-height:calc(100vh - 3rem)}
.title{font-size:1.9rem;margin:.25rem 0 .5rem}
.subtitle,.description{color:#555;margin:.25rem 0}
h1,h2,h3,h4{line-height:1.25;margin:1.5rem 0 .6rem}
#title-block-header{margin-bottom:1rem}
.dashboard{padding:.75rem 1rem 2rem}
.dashboard-title-block .title{font-size:1.4rem;margin:.2rem 0 .6rem}
.dashboard-title-block .subtitle,.dashboard-title-block .description{margin:.1rem 0 .6rem}
.dashboard-page-title{font-size:1.25rem;margin:1.25rem 0 .5rem}
.dashboard-rows,.dashboard-column{display:flex;flex-direction:column;gap:1rem}
.dashboard-columns,.dashboard-row{display:flex;flex-direction:row;flex-wrap:wrap;gap:1rem;align-items:stretch}
.dashboard-rows>.dashboard-row>*,.dashboard-columns>.dashboard-column,.dashboard-row>.dashboard-column,\
.dashboard-column>.dashboard-row>*{flex:1 1 0;min-width:14rem}
.dashboard-column>*{min-width:0}
.dashboard-leading{margin:0 0 .5rem}
.card{display:flex;flex-direction:column;background:#fff;border:1px solid #dee2e6;border-radius:.5rem;\
box-shadow:0 1px 2px rgba(0,0,0,.05);overflow:hidden;min-width:0}
.card-header{padding:.5rem .9rem;font-weight:600;border-bottom:1px solid #dee2e6;background:#f8f9fa}
.card-body{padding:.75rem .9rem;overflow:auto;flex:1 1 auto}
.card-body>:first-child{margin-top:0}
.card-body>:last-child{margin-bottom:0}
.value-box{flex-direction:row;align-items:center;gap:.9rem;padding:.9rem 1.1rem;border:none;color:#fff;\
min-height:6.5rem}
.value-box-showcase{font-size:2.4rem;line-height:1;opacity:.85}
.value-box-area{display:flex;flex-direction:column}
.value-box-title{margin:0;font-size:.95rem;font-weight:500}
.value-box-value{margin:0;font-size:2rem;font-weight:700;line-height:1.2}
.value-box-default{background:#e9ecef;color:#212529}
.bg-primary{background:#0d6efd;color:#fff}
.bg-secondary{background:#6c757d;color:#fff}
.bg-success{background:#198754;color:#fff}
.bg-info{background:#0dcaf0;color:#052c65}
.bg-warning{background:#ffc107;color:#332701}
.bg-danger{background:#dc3545;color:#fff}
.bg-light{background:#f8f9fa;color:#212529;border:1px solid #dee2e6}
.bg-dark{background:#212529;color:#fff}
table{border-collapse:collapse;margin:.5rem 0;font-size:.9rem;max-width:100%}
th,td{border-bottom:1px solid #dee2e6;padding:.3rem .6rem;text-align:left;vertical-align:top}
thead th{border-bottom:2px solid #adb5bd;background:#f8f9fa}
tbody tr:nth-child(even){background:#fafbfc}
table[border],table[border] th,table[border] td{border-left:none;border-right:none;border-top:none}
td.num,th.num,.dataframe td{text-align:right}
figure{margin:.5rem 0}
img{max-width:100%;height:auto}
figcaption{color:#555;font-size:.9rem;margin-top:.3rem}
pre{background:#f6f8fa;border:1px solid #e1e4e8;border-radius:.3rem;padding:.6rem .8rem;overflow:auto;\
font-size:.85rem;white-space:pre-wrap}
.cell-output-stderr{background:#fff8e1;border-color:#ffe08a}
code{font-size:.9em}
.cell{margin:.75rem 0}
.card.cell{margin:0}
.alert{position:relative;display:flex;gap:.6rem;align-items:flex-start;padding:.7rem .9rem;margin:0 0 .6rem;\
border:1px solid transparent;border-left-width:.35rem;border-radius:.35rem}
.alert:last-child{margin-bottom:0}
.alert-icon{font-size:1.1rem;line-height:1.4}
.alert-danger{color:#58151c;background:#f8d7da;border-color:#f1aeb5;border-left-color:#dc3545}
.alert-warning{color:#664d03;background:#fff3cd;border-color:#ffe69c;border-left-color:#ffc107}
.alert-success{color:#0a3622;background:#d1e7dd;border-color:#a3cfbb;border-left-color:#198754}
.alert-info{color:#055160;background:#cff4fc;border-color:#9eeaf9;border-left-color:#0dcaf0}
.alert-light{color:#495057;background:#fcfcfd;border-color:#e9ecef;border-left-color:#adb5bd}
.alert ul{margin:.35rem 0 .35rem 1.2rem;padding:0}
.alert a{color:inherit;font-weight:600}
.provisional{border-style:dashed!important;opacity:.92}
.provisional-badge,.badge{display:inline-block;padding:.1rem .45rem;border-radius:.7rem;font-size:.75rem;\
font-weight:600;background:#e9ecef;color:#495057;vertical-align:middle}
.provisional-badge{background:#fff3cd;color:#664d03;border:1px dashed #cc9a06}
.for-analysts{margin:.75rem 0;padding:.5rem .8rem;border:1px solid #ced4da;border-radius:.35rem;background:#f8f9fa;\
font-size:.9rem}
.for-analysts>summary{cursor:pointer;font-weight:600;color:#495057}
.callout{margin:1rem 0;padding:.7rem .9rem;border-left:.3rem solid #0dcaf0;background:#f1fbfe}
.callout-warning{border-left-color:#ffc107;background:#fffaeb}
.callout-important{border-left-color:#dc3545;background:#fdf1f2}
.callout-tip{border-left-color:#198754;background:#f0f8f4}
@media print{.navbar{display:none}.content{max-width:none}}
""".strip()


def _page_css(config: SiteConfig, page: Page) -> str:
    """The stylesheets the page's format lists (``css:`` in ``_quarto.yml`` or the front matter),
    read from the project and inlined after the renderer's own: one stylesheet serves both
    renderers."""
    out = []
    for path in page.css:
        if not path.is_file():
            raise SiteRenderError(f"{page.source}: its css file {path} does not exist")
        text = path.read_text(encoding="utf-8")
        check_self_contained(text, str(path))
        out.append(text.strip())
    return "".join("\n" + t for t in out)


def page_html(
    config: SiteConfig, page: Page, body: str, location: str, active_source: str, pages: dict[str, Page]
) -> str:
    """The HTML document of ``page`` at ``location`` (relative to the output folder): head with
    the inlined stylesheets, the navbar (``active_source`` marked), and ``body``."""
    nav = _navbar_html(config, location, active_source, pages)
    title = html.escape(page.title + (f" \u2013 {config.title}" if config.title else ""))
    lang = html.escape(str(page.meta.get("lang") or config.lang))
    kind = "dashboard" if page.format == "dashboard" else "document"
    return (
        "<!DOCTYPE html>\n"
        f'<html lang="{lang}">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        '<meta name="generator" content="stoffwechsel.site (Quarto-compatible fallback renderer)">\n'
        f"<title>{title}</title>\n<style>\n{_CSS}{_page_css(config, page)}\n</style>\n</head>\n"
        f'<body class="quarto-{kind}">\n{nav}{body}</body>\n</html>\n'
    )


def _nav_target(config: SiteConfig, href: str, pages: dict[str, Page]) -> tuple[str, str | None]:
    """(URL relative to the site root or absolute, source notebook it points to)."""
    if re.match(r"^[a-zA-Z][\w+.-]*:", href) or href.startswith(("/", "#")):
        return href, None
    path, sep, frag = href.partition("#")
    path = posixpath.normpath(path)
    if Path(path).suffix.lower() in NOTEBOOK_SUFFIXES:
        if path not in pages:
            if posixpath.splitext(path)[0] == "index":
                return "index.html" + sep + frag, None
            raise SiteRenderError(f"_quarto.yml: the navbar links to {href}, which project.render does not list")
        return pages[path].output + sep + frag, path
    return path + sep + frag, None


def _navbar_html(config: SiteConfig, location: str, active_source: str, pages: dict[str, Page]) -> str:
    """The site's navbar for the page at ``location``: brand, left and right items, menus."""

    def item_html(item: dict) -> str:
        text = item.get("text")
        if item.get("menu"):
            sub = "".join(item_html(i) for i in item["menu"])
            return (
                f'<li class="nav-item dropdown"><a class="nav-link dropdown-toggle" href="#" tabindex="0">'
                f'{html.escape(str(text or ""))}</a><ul class="dropdown-menu">{sub}</ul></li>'
            )
        href = item.get("href")
        if not href:
            return f'<li class="nav-item"><span class="nav-text">{html.escape(str(text or ""))}</span></li>'
        target, source = _nav_target(config, str(href), pages)
        if text is None:
            text = pages[source].title if source else href
        url = (
            target
            if source is None and (re.match(r"^[a-zA-Z][\w+.-]*:", target) or target.startswith(("/", "#")))
            else relative_url(target, location)
        )
        active = source is not None and source == active_source
        cls = "nav-link active" if active else "nav-link"
        current = ' aria-current="page"' if active else ""
        return (
            f'<li class="nav-item"><a class="{cls}"{current} href="{html.escape(url)}">'
            f"{html.escape(str(text))}</a></li>"
        )

    left = "".join(item_html(i) for i in config.navbar_left)
    right = "".join(item_html(i) for i in config.navbar_right)
    brand = (
        f'<a class="navbar-brand" href="{html.escape(relative_url("index.html", location))}">'
        f"{html.escape(config.brand)}</a>"
    )
    right_html = f'<ul class="navbar-nav navbar-right">{right}</ul>' if right else ""
    return f'<nav class="navbar" aria-label="Site">{brand}<ul class="navbar-nav">{left}</ul>{right_html}</nav>\n'


# ------------------------------------------------------------------------------------------------
# Links and resources
# ------------------------------------------------------------------------------------------------

_URL_ATTR = re.compile(r"""(\s(?:href|src)\s*=\s*)(["'])(.*?)\2""", re.IGNORECASE | re.DOTALL)


def rewrite_urls(markup: str, fn: Callable[[str], str]) -> str:
    """``markup`` with every ``href``/``src`` attribute value replaced by ``fn(value)``."""
    return _URL_ATTR.sub(lambda m: m.group(1) + m.group(2) + fn(m.group(3)) + m.group(2), markup)


def _is_relative_url(url: str) -> bool:
    """A URL relative to the page (no scheme, not absolute, not a fragment only)."""
    return bool(url) and not re.match(r"^[a-zA-Z][\w+.-]*:", url) and not url.startswith(("/", "#", "//"))


def notebook_links_to_html(url: str) -> str:
    """Links to notebooks become links to their pages (``segments.ipynb#x`` -> ``segments.html#x``)."""
    if not _is_relative_url(url):
        return url
    m = re.match(r"^(.*?)\.(ipynb|qmd)((?:[?#].*)?)$", url, re.IGNORECASE)
    return f"{m.group(1)}.html{m.group(3)}" if m else url


_EXTERNAL_RESOURCE = re.compile(
    r"""<(?:script|link|img|iframe|source|video|audio|embed|object|track|input)\b[^>]*?\s(?:src|href|data|srcset|poster)\s*=\s*["']?\s*(?:https?:)?//[^"'\s>]*"""
    r"""|url\(\s*["']?\s*(?:https?:)?//[^)]*\)|@import\s+["']?(?:https?:)?//""",
    re.IGNORECASE,
)


def check_self_contained(markup: str, where: str) -> None:
    """Raise :class:`SiteRenderError` naming ``where`` if ``markup`` loads anything from the network."""
    found = _EXTERNAL_RESOURCE.findall(markup)
    if found:
        raise SiteRenderError(f"{where}: loads external resources, the site must work offline: {found[:3]}")


def index_redirect_html(config: SiteConfig, main: Page) -> str:
    """``index.html`` of a project without an index page: the redirect to the main page that
    ``quarto render`` writes (the same bytes, so both renderers agree)."""
    url = html.escape(main.output)
    return (
        '<html xmlns="http://www.w3.org/1999/xhtml">    \n  <head>      \n'
        f"    <title>Redirect to {url}</title>      \n"
        f'    <meta http-equiv="refresh" content="0;URL=\'{url}\'" />    \n'
        "  </head>    \n  <body> \n  </body>  \n</html>     \n"
    )


def write_index_redirect(root: Path, out_dir: Path | None = None) -> Path | None:
    """Write ``<output-dir>/index.html``, the redirect to the main page, unless the project renders
    its own index page; returns the file written, else None."""
    config = load_config(Path(root))
    out_dir = Path(out_dir) if out_dir is not None else config.output_dir
    pages = {s: read_page(config, s) for s in config.pages}
    if any(p.output == "index.html" for p in pages.values()):
        return None
    index = out_dir / "index.html"
    index.write_text(index_redirect_html(config, main_page(config, pages)), encoding="utf-8")
    return index
