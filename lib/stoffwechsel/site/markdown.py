"""Markdown to HTML as Quarto (Pandoc) writes it, for the site's pure-Python renderer.

:class:`Markdown` renders CommonMark (via markdown-it) with tables, raw HTML, Pandoc raw HTML
blocks (```` ```{=html} ````), heading attributes (``## Title {#id .class}``) and fenced divs
(``::: {.card title="..."}``, ``::: {.valuebox icon=... color=...}``); headings get Pandoc's ids
(:func:`slug`, unique per page through :class:`Ids`). :func:`value_box_html` writes a value box
(from a fenced div here, from a ``content: valuebox`` cell in :mod:`stoffwechsel.site.render`), and
:func:`split_headings` cuts a dashboard's Markdown at the headings that start rows and columns.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from typing import Any

from stoffwechsel.site.project import (
    ATTR_BLOCK,
    SiteRenderError,
    parse_attrs,
    strip_heading_attrs,
)

__all__ = ["slug", "Ids", "markdown_it", "attr_html", "Markdown", "value_box_html", "split_headings"]


def slug(text: str) -> str:
    """Pandoc's automatic identifier of a heading."""
    text = re.sub(r"<[^>]+>", "", html.unescape(text)).lower()
    kept = "".join(ch for ch in text if ch.isalnum() or ch in "_-. \t\n")
    kept = re.sub(r"\s+", "-", kept.strip())
    m = re.search(r"[^\W\d_]", kept)
    kept = kept[m.start() :] if m else ""
    return kept or "section"


class Ids:
    """Unique element ids within one page (Pandoc appends -1, -2 to repeats)."""

    def __init__(self) -> None:
        self.used: set[str] = set()

    def claim(self, wanted: str) -> str:
        """``wanted``, or ``wanted-1``, ``wanted-2``, ... if taken; the id returned is taken now."""
        candidate, n = wanted, 0
        while candidate in self.used:
            n += 1
            candidate = f"{wanted}-{n}"
        self.used.add(candidate)
        return candidate


def markdown_it():
    """The Markdown parser: CommonMark with raw HTML, tables, strikethrough and Pandoc's curly quotes."""
    from markdown_it import MarkdownIt

    # typographer + smartquotes: straight quotes become curly ones, as Pandoc's `smart` extension
    # (on in Quarto) writes them ("week's" -> "week’s"); no other replacement (Pandoc has no "(c)")
    md = MarkdownIt("commonmark", {"html": True, "typographer": True})
    return md.enable("table").enable("strikethrough").enable("smartquotes")


_FENCE = re.compile(r"^\s{0,3}(`{3,}|~{3,})")
#: info strings of a Pandoc raw HTML block (```` ```{=html} ````), inserted as is by Quarto and here
_RAW_HTML_INFO = ("{=html}", "=html")
_DIV_OPEN = re.compile(r"^\s{0,3}(:{3,})\s*(\{[^}]*\}|[\w-]+)\s*:*\s*$")
_DIV_CLOSE = re.compile(r"^\s{0,3}:{3,}\s*$")


def _fenced_divs(text: str) -> list:
    """Split markdown into plain chunks (str) and Pandoc fenced divs (attrs, children)."""
    root: list = []
    stack: list[tuple[dict, list]] = []
    chunk: list[str] = []
    fence: str | None = None

    def target() -> list:
        return stack[-1][1] if stack else root

    def flush() -> None:
        if chunk:
            target().append("".join(chunk))
            chunk.clear()

    for line in text.splitlines(keepends=True):
        stripped = line.rstrip("\n")
        m = _FENCE.match(stripped)
        if fence is not None:
            if (
                m
                and m.group(1)[0] == fence[0]
                and len(m.group(1)) >= len(fence)
                and not stripped.strip()[len(m.group(1)) :].strip()
            ):
                fence = None
            chunk.append(line)
            continue
        if m:
            fence = m.group(1)
            chunk.append(line)
            continue
        opened = _DIV_OPEN.match(stripped)
        if opened:
            flush()
            spec = opened.group(2)
            attrs = parse_attrs(spec[1:-1]) if spec.startswith("{") else {"classes": [spec]}
            children: list = []
            target().append((attrs, children))
            stack.append((attrs, children))
            continue
        if stack and _DIV_CLOSE.match(stripped):
            flush()
            stack.pop()
            continue
        chunk.append(line)
    flush()
    return root


def attr_html(attrs: dict, extra_classes: Sequence[str] = (), skip: Sequence[str] = ()) -> str:
    """Parsed Pandoc attributes as HTML attributes (`` id="..." class="..." data-key="..."``): keys
    other than ``title``, ``role``, ``lang``, ``dir`` and ``data-*`` become ``data-`` attributes."""
    parts = []
    if attrs.get("id"):
        parts.append(f' id="{html.escape(attrs["id"])}"')
    classes = [*extra_classes, *attrs.get("classes", [])]
    if classes:
        parts.append(f' class="{html.escape(" ".join(classes))}"')
    for key, value in attrs.items():
        if key in ("id", "classes") or key in skip:
            continue
        name = key if key.startswith("data-") or key in ("title", "role", "lang", "dir") else f"data-{key}"
        parts.append(f' {html.escape(name)}="{html.escape(str(value))}"')
    return "".join(parts)


class Markdown:
    """Markdown (CommonMark + tables + raw HTML + Pandoc heading attributes and fenced divs)."""

    def __init__(self, ids: Ids) -> None:
        self.md = markdown_it()
        self.ids = ids

    def inline(self, text: str) -> str:
        """``text`` as inline HTML (no paragraph around it)."""
        return self.md.renderInline(text)

    def render(self, text: str) -> str:
        """``text`` as HTML blocks: fenced divs (value boxes, cards, plain divs) and Markdown."""
        out = []
        for block in _fenced_divs(text):
            if isinstance(block, str):
                out.append(self._render_plain(block))
            else:
                attrs, children = block
                out.append(self._render_div(attrs, children))
        return "".join(out)

    def _render_children(self, children: list) -> str:
        """The contents of a fenced div: Markdown chunks and nested divs, in order."""
        return "".join(self._render_plain(c) if isinstance(c, str) else self._render_div(*c) for c in children)

    def _render_div(self, attrs: dict, children: list) -> str:
        """A fenced div: ``.valuebox`` (title paragraph, value paragraph), ``.card`` (with its
        ``title`` as header), else a ``<div>`` with the attributes."""
        classes = attrs.get("classes", [])
        if "valuebox" in classes:
            text = "".join(c for c in children if isinstance(c, str))
            paragraphs = [p.strip() for p in re.split(r"\n\s*\n", text) if p.strip()]
            if not paragraphs:
                raise SiteRenderError("::: {.valuebox} needs a title paragraph and a value paragraph")
            title = paragraphs[0]
            value = " ".join(paragraphs[1:])
            return value_box_html(
                title=self.inline(title),
                value=self.inline(value),
                icon=attrs.get("icon"),
                color=attrs.get("color"),
                element_id=attrs.get("id"),
                title_is_html=True,
            )
        if "card" in classes:
            title = attrs.get("title")
            header = f'<div class="card-header">{self.inline(title)}</div>' if title else ""
            return (
                f"<div{attr_html(attrs, skip=('title',))}>{header}"
                f'<div class="card-body">{self._render_children(children)}</div></div>\n'
            )
        # Quarto's callouts (`::: {.callout-note}`): the base class carries the box (site/page.py's styles)
        callout = ("callout",) if any(c.startswith("callout-") for c in classes) and "callout" not in classes else ()
        return f"<div{attr_html(attrs, callout)}>\n{self._render_children(children)}</div>\n"

    def _render_plain(self, text: str) -> str:
        """Markdown without fenced divs: raw HTML blocks passed through, headings given their
        attributes and unique ids."""
        if not text.strip():
            return ""
        env: dict = {}
        tokens = self.md.parse(text, env)
        for i, tok in enumerate(tokens):
            if tok.type == "fence" and tok.info.strip() in _RAW_HTML_INFO:  # Pandoc raw block: passed through
                tok.type = "html_block"
                continue
            if tok.type != "heading_open":
                continue
            inline = tokens[i + 1]
            attrs = {"classes": []}
            children = inline.children or []
            if children and children[-1].type == "text":
                m = ATTR_BLOCK.search(children[-1].content)
                if m:
                    attrs = parse_attrs(m.group(1))
                    children[-1].content = children[-1].content[: m.start()].rstrip()
                    inline.content = ATTR_BLOCK.sub("", inline.content)
            plain = "".join(c.content for c in children if c.type in ("text", "code_inline"))
            tok.attrSet("id", self.ids.claim(attrs.get("id") or slug(plain)))
            if attrs["classes"]:
                tok.attrSet("class", " ".join(attrs["classes"]))
        return self.md.renderer.render(tokens, self.md.options, env)


# ------------------------------------------------------------------------------------------------
# Value boxes
# ------------------------------------------------------------------------------------------------

#: Bootstrap icon names (https://icons.getbootstrap.com) -> a symbol the system fonts have
_ICONS = {
    "exclamation-triangle": "\u26a0",
    "exclamation-diamond": "\u26a0",
    "exclamation-circle": "!",
    "exclamation-octagon": "!",
    "exclamation": "!",
    "exclamation-lg": "!",
    "check": "\u2713",
    "check-lg": "\u2713",
    "check2": "\u2713",
    "check-circle": "\u2713",
    "check2-circle": "\u2713",
    "check-square": "\u2713",
    "shield-check": "\u2713",
    "x": "\u2717",
    "x-lg": "\u2717",
    "x-circle": "\u2717",
    "x-octagon": "\u2717",
    "info": "i",
    "info-circle": "i",
    "info-lg": "i",
    "question-circle": "?",
    "arrow-up": "\u2191",
    "arrow-down": "\u2193",
    "arrow-right": "\u2192",
    "arrow-left": "\u2190",
    "arrow-up-right": "\u2197",
    "arrow-down-right": "\u2198",
    "graph-up": "\u2197",
    "graph-up-arrow": "\u2197",
    "graph-down": "\u2198",
    "graph-down-arrow": "\u2198",
    "caret-up": "\u25b2",
    "caret-down": "\u25bc",
    "star": "\u2605",
    "heart": "\u2665",
    "pencil": "\u270e",
    "envelope": "\u2709",
    "chat": "\u2709",
    "gear": "\u2699",
    "flag": "\u2691",
    "lightning": "\u26a1",
    "hourglass": "\u231b",
    "clock": "\u25f7",
    "calendar": "\u25a6",
    "percent": "%",
    "currency-euro": "\u20ac",
    "currency-dollar": "$",
    "trash": "\u2716",
    "people": "\u25cf",
    "person": "\u25cf",
    "bar-chart": "\u2587",
    "pie-chart": "\u25d4",
    "cart": "\u25a3",
    "bag": "\u25a3",
    "eye": "\u25c9",
    "search": "\u25cb",
    "dash": "\u2013",
    "circle": "\u25cf",
}
#: icons drawn inline (16 x 16, the text's colour and size) where no common system font has a symbol:
#: the hourglass (U+231B) showed as an empty box in Debian's Chromium, whose fonts lack it, and the bell
#: had only a diamond. Our own simple outlines, not Bootstrap's drawings.
_ICON_SVG = {
    "hourglass": "M3 1.5h10v1c0 2.2-1.7 4-3.6 5.5 1.9 1.5 3.6 3.3 3.6 5.5v1H3v-1c0-2.2 1.7-4 3.6-5.5C4.7 6.5 3 "
    "4.7 3 2.5z",
    "bell": "M8 16a2 2 0 0 0 2-2H6a2 2 0 0 0 2 2zm0-14.5a1 1 0 0 0-1 1v.6A5 5 0 0 0 3 8v3.5L1.5 13v.5h13V13L13 "
    "11.5V8a5 5 0 0 0-4-4.9v-.6a1 1 0 0 0-1-1z",
}
_COLOR_ALIASES = ("primary", "secondary", "success", "info", "warning", "danger", "light", "dark")
_CSS_COLOR = re.compile(r"#[0-9a-fA-F]{3,8}|[a-zA-Z]{3,30}|(?:rgb|rgba|hsl|hsla)\(\s*[0-9.%,\s/]+\)")


def _icon_symbol(name: str) -> str:
    """The symbol shown for a Bootstrap icon name (its base name's, else a dot)."""
    key = re.sub(r"-(fill|square|circle)$", "", name) if name not in _ICONS else name
    return _ICONS.get(name) or _ICONS.get(key) or "\u25cf"


def _icon_html(name: str) -> str:
    """The icon's markup: an inline outline (:data:`_ICON_SVG`, also for its ``-fill``/``-split``
    variants) where fonts lack a symbol, else the escaped symbol of :func:`_icon_symbol`."""
    key = re.sub(r"-(fill|split|top|bottom)$", "", name)
    path = _ICON_SVG.get(name) or _ICON_SVG.get(key)
    if path is None:
        return html.escape(_icon_symbol(name))
    return (
        '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16" width="1em" height="1em" '
        f'fill="currentColor" focusable="false"><path d="{path}"/></svg>'
    )


def value_box_html(
    *,
    title: str,
    value: Any,
    icon: Any = None,
    color: Any = None,
    element_id: str | None = None,
    title_is_html: bool = False,
    extra_classes: Sequence[str] = (),
) -> str:
    """A value box as Quarto writes it (``card bslib-value-box``): ``icon`` a Bootstrap icon name
    shown as a symbol the system fonts have, ``color`` a theme alias (``bg-warning``) or a CSS
    colour; ``title``/``value`` are escaped unless ``title_is_html``."""
    classes = ["card", "bslib-value-box", "value-box", *extra_classes]
    style = ""
    if color is None or color == "":
        classes.append("value-box-default")
    else:
        color = str(color).strip()
        if color in _COLOR_ALIASES:
            classes.append(f"bg-{color}")
        elif _CSS_COLOR.fullmatch(color):
            classes.append("value-box-custom")
            style = f' style="background-color: {html.escape(color)}; color: {_text_colour_for(color)}"'
        else:
            raise SiteRenderError(
                f"value box colour {color!r} is neither a theme alias ({', '.join(_COLOR_ALIASES)}) nor a CSS colour"
            )
    id_attr = f' id="{html.escape(element_id)}"' if element_id else ""
    icon_html = ""
    if icon:
        icon_html = (
            f'<div class="value-box-showcase"><span class="value-box-icon bi bi-{html.escape(str(icon))}" '
            f'aria-hidden="true">{_icon_html(str(icon))}</span></div>'
        )
    title_html = title if title_is_html else html.escape(str(title))
    value_html = value if title_is_html else html.escape(str(value))
    return (
        f'<div class="{" ".join(classes)}"{id_attr}{style}>{icon_html}'
        f'<div class="value-box-area"><p class="value-box-title">{title_html}</p>'
        f'<p class="value-box-value">{value_html}</p></div></div>\n'
    )


def _text_colour_for(color: str) -> str:
    """Dark or white text, whichever reads on the background colour ``color`` (white if not hex)."""
    m = re.fullmatch(r"#([0-9a-fA-F]{3}|[0-9a-fA-F]{6})(?:[0-9a-fA-F]{2})?", color)
    if not m:
        return "#fff"
    hexa = m.group(1)
    if len(hexa) == 3:
        hexa = "".join(ch * 2 for ch in hexa)
    r, g, b = (int(hexa[i : i + 2], 16) for i in (0, 2, 4))
    return "#212529" if (0.299 * r + 0.587 * g + 0.114 * b) > 150 else "#fff"


# ------------------------------------------------------------------------------------------------
# Dashboards: headings
# ------------------------------------------------------------------------------------------------


def split_headings(text: str) -> list[tuple[str, Any]]:
    """Markdown split at the level 1-3 ATX headings (outside code fences and fenced divs):
    ``("heading", (level, text, attrs))`` and ``("markdown", text)`` items."""
    items: list[tuple[str, Any]] = []
    chunk: list[str] = []
    fence: str | None = None
    div_depth = 0
    for line in text.splitlines(keepends=True):
        stripped = line.rstrip("\n")
        m = _FENCE.match(stripped)
        if fence is not None:
            if m and m.group(1)[0] == fence[0] and len(m.group(1)) >= len(fence):
                fence = None
            chunk.append(line)
            continue
        if m:
            fence = m.group(1)
        elif _DIV_OPEN.match(stripped):
            div_depth += 1
        elif div_depth and _DIV_CLOSE.match(stripped):
            div_depth -= 1
        elif div_depth == 0:
            h = re.match(r"^\s{0,3}(#{1,3})[ \t]+(.*?)[ \t]*$", stripped)
            if h:
                if "".join(chunk).strip():
                    items.append(("markdown", "".join(chunk)))
                chunk = []
                heading, attrs = strip_heading_attrs(re.sub(r"[ \t]+#+$", "", h.group(2)))
                items.append(("heading", (len(h.group(1)), heading, attrs)))
                continue
        chunk.append(line)
    if "".join(chunk).strip():
        items.append(("markdown", "".join(chunk)))
    return items
