"""The monitoring website: Quarto when it is installed, else a pure-Python renderer of the same pages.

``_quarto.yml`` (project type ``website``) lists the executed notebooks to publish
(``project.render``) and the navigation bar (``website.navbar``). :func:`build_site` runs
``quarto render`` when ``quarto`` is on ``PATH`` and otherwise :func:`render_site`, which reads
the same ``_quarto.yml`` and the executed notebooks and writes the same page layout:
``reports/notebooks/06_monitor.ipynb`` becomes ``_site/reports/notebooks/06_monitor.html``, and
``_site/index.html`` is a copy of the main page (the page with ``format: dashboard``, else the
first page of the render list).

The fallback supports the subset of Quarto that the pipeline's notebooks use (see
``docs/dashboard.md`` for the list): front matter in a first raw/markdown cell, ``#|`` cell
options (``output``, ``include``, ``warning``, ``title``, ``label``, ``classes``, ``fig-cap``,
``fig-alt``, ``content: valuebox`` with ``icon``/``color``), dashboard rows/columns from level 2
and 3 headings with ``{height=...}``/``{width=...}``, and the usual notebook outputs. Code
(cell input) is never shown. Pages are self-contained (inline CSS, images as data URIs, no
scripts, no external resources), deterministic (same inputs, same bytes) and work from
``file://`` as well as from a static web server.

The module also holds the checks that the tests and the pipeline's verification stage share:
:func:`inspect_page` (headless Chromium over the DevTools protocol: console errors, element
visibility, screenshot), :func:`forbidden_terms_report` (raw technical terms in the visible text
of business pages) and :func:`customer_ids_report` (customer identifiers anywhere on the site).
"""

from __future__ import annotations

import ast
import base64
import html
import json
import os
import posixpath
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, NamedTuple, Sequence

import yaml

from stoffwechsel.browser import find_chromium

__all__ = [
    "SiteRenderError",
    "SiteConfig",
    "load_config",
    "render_site",
    "build_site",
    "choose_renderer",
    "find_quarto",
    "render_with_quarto",
    "write_index_redirect",
    "find_chromium",
    "inspect_page",
    "page_text",
    "TermHit",
    "IdHit",
    "DEFAULT_FORBIDDEN_TERMS",
    "forbidden_terms_report",
    "customer_ids_report",
]


class SiteRenderError(RuntimeError):
    """The site cannot be rendered faithfully (error output, bad option, external resource, ...)."""


# ------------------------------------------------------------------------------------------------
# _quarto.yml
# ------------------------------------------------------------------------------------------------

#: cell options that may also be set for a whole project (``execute:``, ``format: html:``) or page
_EXECUTE_KEYS = ("echo", "eval", "output", "include", "warning", "error")
_NOTEBOOK_SUFFIXES = (".ipynb", ".qmd", ".md", ".rmd")


@dataclass
class SiteConfig:
    """What the renderer uses of ``_quarto.yml``."""

    root: Path
    title: str
    output_dir: Path
    pages: list[str]  # notebooks to render, paths relative to root (posix), in render order
    navbar_left: list[dict] = field(default_factory=list)
    navbar_right: list[dict] = field(default_factory=list)
    brand: str = ""
    lang: str = "en"
    defaults: dict = field(default_factory=dict)  # project-wide cell option defaults
    format_options: dict = field(default_factory=dict)  # format name -> options mapping
    navbar_collapse_below: str | None = None  # website.navbar.collapse-below (sm, md, lg, xl, xxl)


def load_config(root: Path) -> SiteConfig:
    """Read ``root/_quarto.yml`` (a Quarto website project)."""
    root = Path(root).resolve()
    config_path = root / "_quarto.yml"
    if not config_path.is_file():
        raise SiteRenderError(f"no _quarto.yml in {root}")
    with open(config_path, encoding="utf-8") as fh:
        cfg = yaml.safe_load(fh) or {}
    project = cfg.get("project") or {}
    if project.get("type") != "website":
        raise SiteRenderError(f"{config_path}: project.type must be 'website' (got {project.get('type')!r})")
    output_dir = (root / project.get("output-dir", "_site")).resolve()
    if output_dir == root or root not in output_dir.parents:
        raise SiteRenderError(f"{config_path}: output-dir must be a folder inside the project")
    pages = _expand_render_list(root, project.get("render"))
    if not pages:
        raise SiteRenderError(f"{config_path}: project.render lists no notebook")
    website = cfg.get("website") or {}
    navbar = website.get("navbar") or {}
    formats = cfg.get("format") or {}
    if isinstance(formats, str):
        formats = {formats: {}}
    format_options = {name: (opts if isinstance(opts, dict) else {}) for name, opts in formats.items()}
    defaults: dict = {}
    defaults.update({k: v for k, v in (cfg.get("execute") or {}).items() if k in _EXECUTE_KEYS})
    defaults.update({k: v for k, v in format_options.get("html", {}).items() if k in _EXECUTE_KEYS})
    title = str(website.get("title") or cfg.get("title") or "")
    return SiteConfig(
        root=root,
        title=title,
        output_dir=output_dir,
        pages=pages,
        navbar_left=[_nav_item(i) for i in navbar.get("left") or []],
        navbar_right=[_nav_item(i) for i in navbar.get("right") or []],
        brand=str(navbar.get("title") or title),
        lang=str(cfg.get("lang") or "en"),
        defaults=defaults,
        format_options=format_options,
        navbar_collapse_below=navbar.get("collapse-below"),
    )


def _expand_render_list(root: Path, render: Any) -> list[str]:
    """Quarto's ``project.render``: paths or globs relative to the root, ``!pattern`` excludes."""
    if render is None:
        raise SiteRenderError("_quarto.yml: the fallback renderer needs an explicit project.render list")
    if isinstance(render, str):
        render = [render]
    found: list[str] = []
    for entry in render:
        entry = str(entry)
        if entry.startswith("!"):
            pattern = entry[1:]
            found = [p for p in found if not Path(p).match(pattern) and p != pattern]
            continue
        if any(ch in entry for ch in "*?["):
            matches = sorted(p.relative_to(root).as_posix() for p in root.glob(entry) if p.is_file())
        else:
            if not (root / entry).is_file():
                raise SiteRenderError(f"_quarto.yml: project.render lists {entry}, which does not exist")
            matches = [Path(entry).as_posix()]
        for rel in matches:
            suffix = Path(rel).suffix.lower()
            if suffix != ".ipynb":
                if suffix in _NOTEBOOK_SUFFIXES:
                    raise SiteRenderError(f"{rel}: only .ipynb pages can be rendered without Quarto")
                continue
            if rel not in found:
                found.append(rel)
    return found


def _nav_item(item: Any) -> dict:
    if isinstance(item, str):
        return {"href": item}
    if not isinstance(item, dict):
        raise SiteRenderError(f"_quarto.yml: navbar item {item!r} is neither a path nor a mapping")
    out = dict(item)
    if "menu" in out:
        out["menu"] = [_nav_item(i) for i in out["menu"] or []]
    return out


def _output_path(source: str) -> str:
    """Quarto's output path of a page, relative to the output folder."""
    return posixpath.splitext(source)[0] + ".html"


def _relative(target: str, from_page: str) -> str:
    """Relative URL from the page ``from_page`` to ``target`` (both relative to the site root)."""
    start = posixpath.dirname(from_page) or "."
    return posixpath.relpath(target, start)


# ------------------------------------------------------------------------------------------------
# Notebooks: front matter, cell options
# ------------------------------------------------------------------------------------------------

_FRONT_MATTER = re.compile(r"\A\s*---[ \t]*\n(.*?)\n---[ \t]*(?:\n|\Z)", re.DOTALL)
_OPTION_LINE = re.compile(r"^#\|\s?(.*)$")


def _cell_source(cell: dict) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else str(source)


def cell_options(source: str) -> dict:
    """The ``#| key: value`` options at the top of a code cell (YAML)."""
    lines = []
    for line in source.splitlines():
        m = _OPTION_LINE.match(line)
        if not m:
            break
        lines.append(m.group(1))
    if not lines:
        return {}
    try:
        opts = yaml.safe_load("\n".join(lines)) or {}
    except yaml.YAMLError as exc:
        raise SiteRenderError(f"cell options are not valid YAML: {exc}\n" + "\n".join(lines)) from exc
    if not isinstance(opts, dict):
        raise SiteRenderError("cell options must be '#| key: value' lines:\n" + "\n".join(lines))
    return opts


@dataclass
class _Page:
    source: str  # notebook path relative to the root
    output: str  # html path relative to the output folder
    meta: dict
    title: str
    format: str  # "html" or "dashboard"
    format_opts: dict
    cells: list
    defaults: dict
    css: list = field(default_factory=list)  # stylesheets of the page's format, absolute paths


def _read_page(config: SiteConfig, source: str) -> _Page:
    import nbformat  # deferred: the CLI's other commands should start fast

    nb = nbformat.read(str(config.root / source), as_version=4)
    cells = [dict(c) for c in nb.cells]
    meta: dict = {}
    if cells and cells[0].get("cell_type") in ("raw", "markdown"):
        text = _cell_source(cells[0])
        m = _FRONT_MATTER.match(text)
        if m:
            try:
                meta = yaml.safe_load(m.group(1)) or {}
            except yaml.YAMLError as exc:
                raise SiteRenderError(f"{source}: front matter is not valid YAML: {exc}") from exc
            if not isinstance(meta, dict):
                raise SiteRenderError(f"{source}: front matter must be a YAML mapping")
            rest = text[m.end():]
            if cells[0]["cell_type"] == "markdown" and rest.strip():
                cells[0] = {**cells[0], "source": rest}
            else:
                cells = cells[1:]
    fmt, fmt_opts = "html", {}
    declared = meta.get("format")
    if isinstance(declared, str):
        fmt = declared
    elif isinstance(declared, dict) and declared:
        fmt = next(iter(declared))
        fmt_opts = declared[fmt] if isinstance(declared[fmt], dict) else {}
    if fmt not in ("html", "dashboard"):
        raise SiteRenderError(f"{source}: format '{fmt}' is not supported without Quarto (html, dashboard)")
    project_fmt = config.format_options.get(fmt, {})
    # css: paths relative to _quarto.yml, or to the notebook where its front matter names them
    css = [config.root / str(c) for c in _as_list(project_fmt.get("css"))]
    css += [(config.root / source).parent / str(c) for c in _as_list(fmt_opts.get("css"))]
    fmt_opts = {**project_fmt, **fmt_opts}
    defaults = dict(config.defaults)
    defaults.update({k: v for k, v in project_fmt.items() if k in _EXECUTE_KEYS})
    defaults.update({k: v for k, v in (meta.get("execute") or {}).items() if k in _EXECUTE_KEYS})
    defaults.update({k: v for k, v in meta.items() if k in _EXECUTE_KEYS})
    defaults.update({k: v for k, v in fmt_opts.items() if k in _EXECUTE_KEYS})
    title = str(meta["title"]) if meta.get("title") else ""
    if not title:  # Quarto takes a notebook's leading level-1 heading as its title
        for i, cell in enumerate(cells):
            if cell.get("cell_type") != "markdown":
                continue
            text = _cell_source(cell)
            if not text.strip():
                continue
            m = re.match(r"\A\s*#[ \t]+(.+?)[ \t]*#*[ \t]*(?:\n|\Z)", text)
            if m:
                title = _strip_heading_attrs(m.group(1))[0]
                cells[i] = {**cell, "source": text[m.end():]}
            break
    if not title:
        title = Path(source).stem
    return _Page(source, _output_path(source), meta, title, fmt, fmt_opts, cells, defaults, [p.resolve() for p in css])


# ------------------------------------------------------------------------------------------------
# Markdown
# ------------------------------------------------------------------------------------------------

_ATTR_BLOCK = re.compile(r"\s*\{([^{}]*)\}\s*$")
_ATTR_TOKEN = re.compile(r"""#([\w:.-]+)|\.([\w-]+)|([\w-]+)=(?:"([^"]*)"|'([^']*)'|([^\s"']+))""")


def _parse_attrs(text: str) -> dict:
    """Pandoc attributes ``{#id .class key=value}`` -> ``{"id":..., "classes": [...], key: value}``."""
    out: dict = {"classes": []}
    for m in _ATTR_TOKEN.finditer(text):
        if m.group(1):
            out["id"] = m.group(1)
        elif m.group(2):
            out["classes"].append(m.group(2))
        else:
            value = next(v for v in (m.group(4), m.group(5), m.group(6)) if v is not None)
            out[m.group(3)] = value
    return out


def _strip_heading_attrs(text: str) -> tuple[str, dict]:
    m = _ATTR_BLOCK.search(text)
    if not m:
        return text.strip(), {"classes": []}
    return text[: m.start()].strip(), _parse_attrs(m.group(1))


def _slug(text: str) -> str:
    """Pandoc's automatic identifier of a heading."""
    text = re.sub(r"<[^>]+>", "", html.unescape(text)).lower()
    kept = "".join(ch for ch in text if ch.isalnum() or ch in "_-. \t\n")
    kept = re.sub(r"\s+", "-", kept.strip())
    m = re.search(r"[^\W\d_]", kept)
    kept = kept[m.start():] if m else ""
    return kept or "section"


class _Ids:
    """Unique element ids within one page (Pandoc appends -1, -2 to repeats)."""

    def __init__(self) -> None:
        self.used: set[str] = set()

    def claim(self, wanted: str) -> str:
        candidate, n = wanted, 0
        while candidate in self.used:
            n += 1
            candidate = f"{wanted}-{n}"
        self.used.add(candidate)
        return candidate


def _markdown_it():
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
            if m and m.group(1)[0] == fence[0] and len(m.group(1)) >= len(fence) and not stripped.strip()[len(m.group(1)):].strip():
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
            attrs = _parse_attrs(spec[1:-1]) if spec.startswith("{") else {"classes": [spec]}
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


def _attr_html(attrs: dict, extra_classes: Sequence[str] = (), skip: Sequence[str] = ()) -> str:
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


class _Markdown:
    """Markdown (CommonMark + tables + raw HTML + Pandoc heading attributes and fenced divs)."""

    def __init__(self, ids: _Ids) -> None:
        self.md = _markdown_it()
        self.ids = ids

    def inline(self, text: str) -> str:
        return self.md.renderInline(text)

    def render(self, text: str) -> str:
        out = []
        for block in _fenced_divs(text):
            if isinstance(block, str):
                out.append(self._render_plain(block))
            else:
                attrs, children = block
                out.append(self._render_div(attrs, children))
        return "".join(out)

    def _render_children(self, children: list) -> str:
        return "".join(
            self._render_plain(c) if isinstance(c, str) else self._render_div(*c) for c in children
        )

    def _render_div(self, attrs: dict, children: list) -> str:
        classes = attrs.get("classes", [])
        if "valuebox" in classes:
            text = "".join(c for c in children if isinstance(c, str))
            paragraphs = [p.strip() for p in re.split(r"\n\s*\n", text) if p.strip()]
            if not paragraphs:
                raise SiteRenderError("::: {.valuebox} needs a title paragraph and a value paragraph")
            title = paragraphs[0]
            value = " ".join(paragraphs[1:])
            return _value_box_html(
                title=self.inline(title), value=self.inline(value), icon=attrs.get("icon"),
                color=attrs.get("color"), element_id=attrs.get("id"), title_is_html=True,
            )
        if "card" in classes:
            title = attrs.get("title")
            header = f'<div class="card-header">{self.inline(title)}</div>' if title else ""
            return (
                f"<div{_attr_html(attrs, skip=('title',))}>{header}"
                f'<div class="card-body">{self._render_children(children)}</div></div>\n'
            )
        return f"<div{_attr_html(attrs)}>\n{self._render_children(children)}</div>\n"

    def _render_plain(self, text: str) -> str:
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
                m = _ATTR_BLOCK.search(children[-1].content)
                if m:
                    attrs = _parse_attrs(m.group(1))
                    children[-1].content = children[-1].content[: m.start()].rstrip()
                    inline.content = _ATTR_BLOCK.sub("", inline.content)
            plain = "".join(c.content for c in children if c.type in ("text", "code_inline"))
            tok.attrSet("id", self.ids.claim(attrs.get("id") or _slug(plain)))
            if attrs["classes"]:
                tok.attrSet("class", " ".join(attrs["classes"]))
        return self.md.renderer.render(tokens, self.md.options, env)


# ------------------------------------------------------------------------------------------------
# Outputs
# ------------------------------------------------------------------------------------------------

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_MIME_PRIORITY = ("text/html", "image/svg+xml", "image/png", "image/jpeg", "text/markdown", "text/plain")


def _text(value: Any) -> str:
    return "".join(value) if isinstance(value, list) else str(value)


def _as_list(value: Any) -> list:
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _is_false(value: Any) -> bool:
    return value is False or (isinstance(value, str) and value.strip().lower() in ("false", "no"))


def _literal(text: str) -> Any:
    """A Python literal from a ``text/plain`` repr; numpy scalars (``np.float64(1.5)``) unwrap."""
    scalar_calls = {
        "int", "float", "str", "bool", "Decimal", "int8", "int16", "int32", "int64", "uint8",
        "uint16", "uint32", "uint64", "float16", "float32", "float64", "str_", "bool_", "Timestamp",
    }

    def conv(node: ast.AST) -> Any:
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, ast.Dict):
            return {conv(k): conv(v) for k, v in zip(node.keys, node.values)}
        if isinstance(node, (ast.List, ast.Tuple)):
            return [conv(e) for e in node.elts]
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            value = conv(node.operand)
            return -value if isinstance(node.op, ast.USub) else value
        if isinstance(node, ast.Call) and len(node.args) == 1 and not node.keywords:
            name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            if name in scalar_calls:
                return conv(node.args[0])
        raise ValueError(f"not a literal: {ast.dump(node)[:80]}")

    return conv(ast.parse(text.strip(), mode="eval").body)


#: Bootstrap icon names (https://icons.getbootstrap.com) -> a symbol the system fonts have
_ICONS = {
    "exclamation-triangle": "\u26a0", "exclamation-diamond": "\u26a0", "exclamation-circle": "!",
    "exclamation-octagon": "!", "exclamation": "!", "exclamation-lg": "!", "check": "\u2713",
    "check-lg": "\u2713", "check2": "\u2713", "check-circle": "\u2713", "check2-circle": "\u2713",
    "check-square": "\u2713", "shield-check": "\u2713", "x": "\u2717", "x-lg": "\u2717",
    "x-circle": "\u2717", "x-octagon": "\u2717", "info": "i", "info-circle": "i", "info-lg": "i",
    "question-circle": "?", "arrow-up": "\u2191", "arrow-down": "\u2193", "arrow-right": "\u2192",
    "arrow-left": "\u2190", "arrow-up-right": "\u2197", "arrow-down-right": "\u2198",
    "graph-up": "\u2197", "graph-up-arrow": "\u2197", "graph-down": "\u2198",
    "graph-down-arrow": "\u2198", "caret-up": "\u25b2", "caret-down": "\u25bc", "star": "\u2605",
    "heart": "\u2665", "pencil": "\u270e", "envelope": "\u2709", "chat": "\u2709",
    "gear": "\u2699", "flag": "\u2691", "lightning": "\u26a1", "hourglass": "\u231b",
    "clock": "\u25f7", "calendar": "\u25a6", "percent": "%", "currency-euro": "\u20ac",
    "currency-dollar": "$", "trash": "\u2716", "people": "\u25cf", "person": "\u25cf",
    "bar-chart": "\u2587", "pie-chart": "\u25d4", "cart": "\u25a3", "bag": "\u25a3",
    "eye": "\u25c9", "search": "\u25cb", "bell": "\u25c6", "dash": "\u2013", "circle": "\u25cf",
}
_COLOR_ALIASES = ("primary", "secondary", "success", "info", "warning", "danger", "light", "dark")
_CSS_COLOR = re.compile(
    r"#[0-9a-fA-F]{3,8}|[a-zA-Z]{3,30}|(?:rgb|rgba|hsl|hsla)\(\s*[0-9.%,\s/]+\)"
)


def _icon_symbol(name: str) -> str:
    key = re.sub(r"-(fill|square|circle)$", "", name) if name not in _ICONS else name
    return _ICONS.get(name) or _ICONS.get(key) or "\u25cf"


def _value_box_html(*, title: str, value: Any, icon: Any = None, color: Any = None,
                    element_id: str | None = None, title_is_html: bool = False,
                    extra_classes: Sequence[str] = ()) -> str:
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
            raise SiteRenderError(f"value box colour {color!r} is neither a theme alias ({', '.join(_COLOR_ALIASES)}) nor a CSS colour")
    id_attr = f' id="{html.escape(element_id)}"' if element_id else ""
    icon_html = ""
    if icon:
        icon_html = (
            f'<div class="value-box-showcase"><span class="value-box-icon bi bi-{html.escape(str(icon))}" '
            f'aria-hidden="true">{_icon_symbol(str(icon))}</span></div>'
        )
    title_html = title if title_is_html else html.escape(str(title))
    value_html = value if title_is_html else html.escape(str(value))
    return (
        f'<div class="{" ".join(classes)}"{id_attr}{style}>{icon_html}'
        f'<div class="value-box-area"><p class="value-box-title">{title_html}</p>'
        f'<p class="value-box-value">{value_html}</p></div></div>\n'
    )


def _text_colour_for(color: str) -> str:
    m = re.fullmatch(r"#([0-9a-fA-F]{3}|[0-9a-fA-F]{6})(?:[0-9a-fA-F]{2})?", color)
    if not m:
        return "#fff"
    hexa = m.group(1)
    if len(hexa) == 3:
        hexa = "".join(ch * 2 for ch in hexa)
    r, g, b = (int(hexa[i:i + 2], 16) for i in (0, 2, 4))
    return "#212529" if (0.299 * r + 0.587 * g + 0.114 * b) > 150 else "#fff"


@dataclass
class _Cell:
    """A code cell's visible result."""

    html: str
    title: str | None
    options: dict


class _PageRenderer:
    def __init__(self, config: SiteConfig, page: _Page) -> None:
        self.config = config
        self.page = page
        self.ids = _Ids()
        self.md = _Markdown(self.ids)

    # --- cells -----------------------------------------------------------------------------

    def _where(self, index: int, options: dict) -> str:
        label = options.get("label")
        return f"{self.page.source}, cell {index}" + (f" (label {label})" if label else "")

    def code_cell(self, index: int, cell: dict) -> _Cell | None:
        """The visible outputs of a code cell (never its input), or None if it shows nothing."""
        options = {**self.page.defaults, **cell_options(_cell_source(cell))}
        tags = set((cell.get("metadata") or {}).get("tags") or [])
        outputs = list(cell.get("outputs") or [])
        for out in outputs:  # an error is a failed run, whatever the cell options say
            if out.get("output_type") == "error":
                raise SiteRenderError(
                    f"{self._where(index, options)}: the executed notebook holds an error "
                    f"({out.get('ename')}: {out.get('evalue')})"
                )
        if (_is_false(options.get("include")) or _is_false(options.get("output"))
                or _is_false(options.get("eval")) or "remove-cell" in tags or "remove-output" in tags):
            return None
        kind = options.get("content") or options.get("component")
        if kind == "valuebox":
            return self._value_box(index, options, outputs)
        if kind:
            raise SiteRenderError(f"{self._where(index, options)}: content '{kind}' is not supported without Quarto")
        title = options.get("title")
        asis = options.get("output") == "asis"
        show_stderr = not _is_false(options.get("warning"))
        # dynamic card title: a first stdout line 'title= ...'
        if self.page.format == "dashboard" and outputs and outputs[0].get("output_type") == "stream" \
                and outputs[0].get("name") == "stdout" and _text(outputs[0].get("text")).startswith("title="):
            first, _, rest = _text(outputs[0]["text"]).partition("\n")
            title = first[len("title="):].strip()
            outputs = ([{**outputs[0], "text": rest}] if rest.strip() else []) + outputs[1:]
        parts: list[str] = []
        image_no = 0
        pending: tuple[str, list[str]] | None = None  # consecutive stream text of one stream

        def flush() -> None:
            nonlocal pending
            if pending:
                name, texts = pending
                text = _ANSI.sub("", "".join(texts))
                if text.strip():
                    if asis and name == "stdout":
                        parts.append(self.md.render(text))
                    else:
                        parts.append(f'<pre class="cell-output cell-output-{name}">{html.escape(text.rstrip())}</pre>\n')
            pending = None

        for out in outputs:
            otype = out.get("output_type")
            if otype == "stream":
                name = out.get("name", "stdout")
                if name == "stderr" and not show_stderr:
                    continue
                if pending and pending[0] == name:
                    pending[1].append(_text(out.get("text", "")))
                else:
                    flush()
                    pending = (name, [_text(out.get("text", ""))])
                continue
            flush()
            if otype not in ("display_data", "execute_result"):
                continue
            data = out.get("data") or {}
            mime = next((m for m in _MIME_PRIORITY if m in data), None)
            if mime is None:
                continue  # widgets, javascript, ...: nothing static to show
            value = _text(data[mime])
            if mime == "text/html":
                parts.append(f'<div class="cell-output cell-output-display">\n{value}\n</div>\n')
            elif mime.startswith("image/"):
                parts.append(self._image(mime, value, (out.get("metadata") or {}).get(mime) or {}, options, image_no, title))
                image_no += 1
            elif mime == "text/markdown" or asis:
                parts.append(f'<div class="cell-output cell-output-display">\n{self.md.render(value)}</div>\n')
            else:
                parts.append(f'<pre class="cell-output cell-output-display">{html.escape(_ANSI.sub("", value))}</pre>\n')
        flush()
        if not parts:
            return None
        return _Cell("".join(parts), None if title is None else str(title), options)

    def _image(self, mime: str, value: str, meta: dict, options: dict, number: int, title: Any) -> str:
        if mime == "image/svg+xml":
            payload = base64.b64encode(value.encode("utf-8")).decode("ascii")
        else:
            payload = "".join(value.split())
        alts, caps = _as_list(options.get("fig-alt")), _as_list(options.get("fig-cap"))
        caption = str(caps[number]) if number < len(caps) else None
        alt = str(alts[number]) if number < len(alts) else (caption or (str(title) if title else "Figure"))
        size = "".join(f' {k}="{int(meta[k])}"' for k in ("width", "height") if isinstance(meta.get(k), (int, float)))
        figcaption = f"<figcaption>{self.md.inline(caption)}</figcaption>" if caption else ""
        return (
            f'<figure class="figure cell-output cell-output-display"><img src="data:{mime};base64,{payload}" '
            f'alt="{html.escape(alt)}" class="img-fluid"{size}>{figcaption}</figure>\n'
        )

    def _value_box(self, index: int, options: dict, outputs: list) -> _Cell:
        spec: dict = {}
        results = [o for o in outputs if o.get("output_type") in ("execute_result", "display_data")
                   and "text/plain" in (o.get("data") or {})]
        if results:
            text = _text(results[-1]["data"]["text/plain"])
            try:
                spec = _literal(text)
            except (ValueError, SyntaxError) as exc:
                raise SiteRenderError(f"{self._where(index, options)}: a value box cell must end with a dict "
                                      f"(icon, color, value); got {text[:120]!r}") from exc
            if not isinstance(spec, dict):
                raise SiteRenderError(f"{self._where(index, options)}: a value box cell must end with a dict, got {text[:120]!r}")
        merged = {**{k: options.get(k) for k in ("title", "icon", "color", "value") if options.get(k) is not None}, **spec}
        if "value" not in merged:
            raise SiteRenderError(f"{self._where(index, options)}: the value box has no 'value'")
        title = merged.get("title", "")
        label = options.get("label")
        box = _value_box_html(
            title=str(title), value=merged["value"], icon=merged.get("icon"), color=merged.get("color"),
            element_id=self.ids.claim(_slug(str(label))) if label else None,
            extra_classes=[str(c) for c in _as_list(options.get("classes"))],
        )
        return _Cell(box, None, {**options, "_valuebox": True})

    def cell_wrapper(self, cell: _Cell, classes: Sequence[str]) -> str:
        label = cell.options.get("label")
        id_attr = f' id="{html.escape(self.ids.claim(_slug(str(label))))}"' if label else ""
        all_classes = " ".join([*classes, *(str(c) for c in _as_list(cell.options.get("classes")))])
        return f'<div class="{html.escape(all_classes)}"{id_attr}>\n{cell.html}</div>\n'

    def raw_cell(self, cell: dict) -> str:
        meta = cell.get("metadata") or {}
        fmt = meta.get("raw_mimetype") or meta.get("format") or ""
        return _cell_source(cell) + "\n" if fmt in ("text/html", "html") else ""

    # --- pages -----------------------------------------------------------------------------

    def body(self) -> str:
        return self._dashboard() if self.page.format == "dashboard" else self._document()

    def _title_block(self, css_class: str) -> str:
        meta = self.page.meta
        parts = [f'<h1 class="title">{self.md.inline(self.page.title)}</h1>']
        for key in ("subtitle", "description"):
            if meta.get(key):
                parts.append(f'<p class="{key}">{self.md.inline(str(meta[key]))}</p>')
        return f'<header id="title-block-header" class="{css_class}">\n' + "\n".join(parts) + "\n</header>\n"

    def _document(self) -> str:
        out = [self._title_block("quarto-title-block")]
        for index, cell in enumerate(self.page.cells):
            ctype = cell.get("cell_type")
            if ctype == "markdown":
                out.append(self.md.render(_cell_source(cell)))
            elif ctype == "raw":
                out.append(self.raw_cell(cell))
            elif ctype == "code":
                result = self.code_cell(index, cell)
                if result is not None:
                    out.append(result.html if result.options.get("_valuebox") else self.cell_wrapper(result, ["cell"]))
        return '<main class="content page-content" id="quarto-document-content">\n' + "".join(out) + "</main>\n"

    def _dashboard(self) -> str:
        orientation = str(self.page.format_opts.get("orientation", "rows"))
        if orientation not in ("rows", "columns"):
            raise SiteRenderError(f"{self.page.source}: dashboard orientation must be rows or columns")
        layout = _DashboardLayout(orientation)
        for index, cell in enumerate(self.page.cells):
            ctype = cell.get("cell_type")
            if ctype == "code":
                result = self.code_cell(index, cell)
                if result is None:
                    continue
                if result.options.get("_valuebox"):
                    layout.add_card(result.html)
                else:
                    layout.add_card(self._card(result))
            elif ctype == "raw":
                raw = self.raw_cell(cell)
                if raw.strip():
                    layout.add_card(f'<div class="card card-text"><div class="card-body">{raw}</div></div>\n')
            elif ctype == "markdown":
                for kind, payload in _split_headings(_cell_source(cell)):
                    if kind == "heading":
                        level, text, attrs = payload
                        layout.heading(level, self.md.inline(text), attrs)
                    else:
                        rendered = self.md.render(payload)
                        if not rendered.strip():
                            continue
                        if layout.accepts_leading():
                            layout.add_leading(rendered)
                        elif re.match(r'\s*<div class="(card|[^"]*\bcard\b)', rendered):
                            layout.add_card(rendered)
                        else:
                            layout.add_card(f'<div class="card card-text"><div class="card-body">\n{rendered}</div></div>\n')
        header = self._title_block("dashboard-title-block")
        return (
            f'<main class="dashboard dashboard-orientation-{orientation}" id="quarto-document-content">\n'
            f"{header}{layout.html()}</main>\n"
        )

    def _card(self, cell: _Cell) -> str:
        label = cell.options.get("label")
        id_attr = f' id="{html.escape(self.ids.claim(_slug(str(label))))}"' if label else ""
        classes = " ".join(["card", "cell", *(str(c) for c in _as_list(cell.options.get("classes")))])
        header = f'<div class="card-header">{self.md.inline(cell.title)}</div>' if cell.title else ""
        return f'<div class="{html.escape(classes)}"{id_attr}>{header}<div class="card-body">\n{cell.html}</div></div>\n'


def _split_headings(text: str) -> list[tuple[str, Any]]:
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
                heading, attrs = _strip_heading_attrs(re.sub(r"[ \t]+#+$", "", h.group(2)))
                items.append(("heading", (len(h.group(1)), heading, attrs)))
                continue
        chunk.append(line)
    if "".join(chunk).strip():
        items.append(("markdown", "".join(chunk)))
    return items


_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(%|px)?\s*$")


class _DashboardLayout:
    """Rows and columns of cards (Quarto dashboards: level 2 headings start the main containers,
    level 3 headings nested containers of the other direction, level 1 headings pages)."""

    def __init__(self, orientation: str) -> None:
        self.orientation = orientation
        self.sections: list[tuple[bool, str]] = []  # (is a row/column container, html)
        self.l2: dict | None = None
        self.l3: dict | None = None
        self.leading: list[str] = []

    def accepts_leading(self) -> bool:
        return self.l2 is None

    def add_leading(self, rendered: str) -> None:
        self.sections.append((False, f'<div class="dashboard-leading">\n{rendered}</div>\n'))

    def _container(self, level: int, attrs: dict) -> dict:
        main_is_row = self.orientation == "rows"
        is_row = main_is_row if level == 2 else not main_is_row
        kind = "row" if is_row else "column"
        style = ""
        size = attrs.get("height") if is_row else attrs.get("width")
        if size is not None:
            m = _SIZE.match(str(size))
            if not m:
                raise SiteRenderError(f"dashboard {kind} size {size!r} must be a number with % or px")
            number, unit = float(m.group(1)), m.group(2) or "px"
            if is_row:
                style = (f"min-height: calc({number / 100:g} * (100vh - 7rem))" if unit == "%"
                         else f"height: {number:g}px")
            else:
                style = f"flex: 0 1 {number:g}%" if unit == "%" else f"flex: 0 0 {number:g}px"
        return {"kind": kind, "attrs": attrs, "style": style, "items": []}

    @staticmethod
    def _container_html(container: dict) -> str:
        attrs = container["attrs"]
        style = f' style="{container["style"]}"' if container["style"] else ""
        extra = ("dashboard-" + container["kind"],)
        inner = "".join(container["items"])
        return f"<div{_attr_html(attrs, extra, skip=('height', 'width'))}{style}>\n{inner}</div>\n"

    def _close_l3(self) -> None:
        if self.l3 is not None and self.l2 is not None:
            if self.l3["items"]:
                self.l2["items"].append(self._container_html(self.l3))
            self.l3 = None

    def _close_l2(self) -> None:
        self._close_l3()
        if self.l2 is not None:
            if self.l2["items"]:
                self.sections.append((True, self._container_html(self.l2)))
            self.l2 = None

    def heading(self, level: int, text_html: str, attrs: dict) -> None:
        if level == 1:
            self._close_l2()
            id_attr = f' id="{html.escape(attrs["id"])}"' if attrs.get("id") else ""
            self.sections.append((False, f'<h2 class="dashboard-page-title"{id_attr}>{text_html}</h2>\n'))
        elif level == 2:
            self._close_l2()
            self.l2 = self._container(2, attrs)
        else:
            self._close_l3()
            if self.l2 is None:
                self.l2 = self._container(2, {"classes": []})
            self.l3 = self._container(3, attrs)

    def add_card(self, card_html: str) -> None:
        if self.l2 is None:
            self.l2 = self._container(2, {"classes": []})
        (self.l3 or self.l2)["items"].append(card_html)

    def html(self) -> str:
        self._close_l2()
        direction = "dashboard-rows" if self.orientation == "rows" else "dashboard-columns"
        out: list[str] = []
        group: list[str] = []
        for is_container, markup in [*self.sections, (False, "")]:
            if is_container:
                group.append(markup)
                continue
            if group:  # consecutive rows (columns) share one flex container
                out.append(f'<div class="{direction}">\n' + "".join(group) + "</div>\n")
                group = []
            out.append(markup)
        return "".join(out)


# ------------------------------------------------------------------------------------------------
# Page assembly
# ------------------------------------------------------------------------------------------------

_CSS = """
*,*::before,*::after{box-sizing:border-box}
html{font-size:16px}
body{margin:0;font-family:system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue","Liberation Sans","DejaVu Sans",Arial,sans-serif;line-height:1.5;color:#212529;background:#f4f6f8}
a{color:#0b5ed7}
.navbar{display:flex;flex-wrap:wrap;align-items:center;gap:.25rem 1.25rem;padding:.6rem 1.25rem;background:#1f3a5f;color:#fff}
.navbar a{color:#dfe7f1;text-decoration:none}
.navbar a:hover,.navbar a:focus{color:#fff;text-decoration:underline}
.navbar-brand{font-weight:600;font-size:1.15rem;color:#fff!important;margin-right:.75rem}
.navbar-nav{display:flex;flex-wrap:wrap;gap:.25rem 1rem;list-style:none;margin:0;padding:0}
.navbar-nav.navbar-right{margin-left:auto}
.nav-link.active{color:#fff;font-weight:600;border-bottom:2px solid #fff}
.nav-item{position:relative}
.dropdown-menu{display:none;position:absolute;z-index:10;list-style:none;margin:0;padding:.4rem .8rem;background:#1f3a5f;min-width:12rem}
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
.dashboard-rows>.dashboard-row>*,.dashboard-columns>.dashboard-column,.dashboard-row>.dashboard-column,.dashboard-column>.dashboard-row>*{flex:1 1 0;min-width:14rem}
.dashboard-column>*{min-width:0}
.dashboard-leading{margin:0 0 .5rem}
.card{display:flex;flex-direction:column;background:#fff;border:1px solid #dee2e6;border-radius:.5rem;box-shadow:0 1px 2px rgba(0,0,0,.05);overflow:hidden;min-width:0}
.card-header{padding:.5rem .9rem;font-weight:600;border-bottom:1px solid #dee2e6;background:#f8f9fa}
.card-body{padding:.75rem .9rem;overflow:auto;flex:1 1 auto}
.card-body>:first-child{margin-top:0}
.card-body>:last-child{margin-bottom:0}
.value-box{flex-direction:row;align-items:center;gap:.9rem;padding:.9rem 1.1rem;border:none;color:#fff;min-height:6.5rem}
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
pre{background:#f6f8fa;border:1px solid #e1e4e8;border-radius:.3rem;padding:.6rem .8rem;overflow:auto;font-size:.85rem;white-space:pre-wrap}
.cell-output-stderr{background:#fff8e1;border-color:#ffe08a}
code{font-size:.9em}
.cell{margin:.75rem 0}
.card.cell{margin:0}
.alert{position:relative;display:flex;gap:.6rem;align-items:flex-start;padding:.7rem .9rem;margin:0 0 .6rem;border:1px solid transparent;border-left-width:.35rem;border-radius:.35rem}
.alert:last-child{margin-bottom:0}
.alert-icon{font-size:1.1rem;line-height:1.4}
.alert-danger{color:#58151c;background:#f8d7da;border-color:#f1aeb5;border-left-color:#dc3545}
.alert-warning{color:#664d03;background:#fff3cd;border-color:#ffe69c;border-left-color:#ffc107}
.alert-success{color:#0a3622;background:#d1e7dd;border-color:#a3cfbb;border-left-color:#198754}
.alert-info{color:#055160;background:#cff4fc;border-color:#9eeaf9;border-left-color:#0dcaf0}
.alert a{color:inherit;font-weight:600}
.provisional{border-style:dashed!important;opacity:.92}
.provisional-badge,.badge{display:inline-block;padding:.1rem .45rem;border-radius:.7rem;font-size:.75rem;font-weight:600;background:#e9ecef;color:#495057;vertical-align:middle}
.provisional-badge{background:#fff3cd;color:#664d03;border:1px dashed #cc9a06}
.for-analysts{margin:.75rem 0;padding:.5rem .8rem;border:1px solid #ced4da;border-radius:.35rem;background:#f8f9fa;font-size:.9rem}
.for-analysts>summary{cursor:pointer;font-weight:600;color:#495057}
.callout{margin:1rem 0;padding:.7rem .9rem;border-left:.3rem solid #0dcaf0;background:#f1fbfe}
.callout-warning{border-left-color:#ffc107;background:#fffaeb}
.callout-important{border-left-color:#dc3545;background:#fdf1f2}
.callout-tip{border-left-color:#198754;background:#f0f8f4}
@media print{.navbar{display:none}.content{max-width:none}}
""".strip()


def _page_css(config: SiteConfig, page: _Page) -> str:
    """The stylesheets the page's format lists (``css:`` in ``_quarto.yml`` or the front matter),
    read from the project and inlined after the renderer's own: one stylesheet serves both
    renderers."""
    out = []
    for path in page.css:
        if not path.is_file():
            raise SiteRenderError(f"{page.source}: its css file {path} does not exist")
        text = path.read_text(encoding="utf-8")
        _check_self_contained(text, str(path))
        out.append(text.strip())
    return "".join("\n" + t for t in out)


def _page_html(config: SiteConfig, page: _Page, body: str, location: str, active_source: str, pages: dict[str, _Page]) -> str:
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


def _nav_target(config: SiteConfig, href: str, pages: dict[str, _Page]) -> tuple[str, str | None]:
    """(URL relative to the site root or absolute, source notebook it points to)."""
    if re.match(r"^[a-zA-Z][\w+.-]*:", href) or href.startswith(("/", "#")):
        return href, None
    path, sep, frag = href.partition("#")
    path = posixpath.normpath(path)
    if Path(path).suffix.lower() in _NOTEBOOK_SUFFIXES:
        if path not in pages:
            if posixpath.splitext(path)[0] == "index":
                return "index.html" + sep + frag, None
            raise SiteRenderError(f"_quarto.yml: the navbar links to {href}, which project.render does not list")
        return pages[path].output + sep + frag, path
    return path + sep + frag, None


def _navbar_html(config: SiteConfig, location: str, active_source: str, pages: dict[str, _Page]) -> str:
    def item_html(item: dict) -> str:
        text = item.get("text")
        if item.get("menu"):
            sub = "".join(item_html(i) for i in item["menu"])
            return (f'<li class="nav-item dropdown"><a class="nav-link dropdown-toggle" href="#" tabindex="0">'
                    f"{html.escape(str(text or ''))}</a><ul class=\"dropdown-menu\">{sub}</ul></li>")
        href = item.get("href")
        if not href:
            return f'<li class="nav-item"><span class="nav-text">{html.escape(str(text or ""))}</span></li>'
        target, source = _nav_target(config, str(href), pages)
        if text is None:
            text = pages[source].title if source else href
        url = target if source is None and (re.match(r"^[a-zA-Z][\w+.-]*:", target) or target.startswith(("/", "#"))) \
            else _relative(target, location)
        active = source is not None and source == active_source
        cls = "nav-link active" if active else "nav-link"
        current = ' aria-current="page"' if active else ""
        return f'<li class="nav-item"><a class="{cls}"{current} href="{html.escape(url)}">{html.escape(str(text))}</a></li>'

    left = "".join(item_html(i) for i in config.navbar_left)
    right = "".join(item_html(i) for i in config.navbar_right)
    brand = f'<a class="navbar-brand" href="{html.escape(_relative("index.html", location))}">{html.escape(config.brand)}</a>'
    right_html = f'<ul class="navbar-nav navbar-right">{right}</ul>' if right else ""
    return (f'<nav class="navbar" aria-label="Site">{brand}<ul class="navbar-nav">{left}</ul>'
            f"{right_html}</nav>\n")


_URL_ATTR = re.compile(r"""(\s(?:href|src)\s*=\s*)(["'])(.*?)\2""", re.IGNORECASE | re.DOTALL)


def _rewrite_urls(markup: str, fn: Callable[[str], str]) -> str:
    return _URL_ATTR.sub(lambda m: m.group(1) + m.group(2) + fn(m.group(3)) + m.group(2), markup)


def _is_relative_url(url: str) -> bool:
    return bool(url) and not re.match(r"^[a-zA-Z][\w+.-]*:", url) and not url.startswith(("/", "#", "//"))


def _notebook_links_to_html(url: str) -> str:
    """Links to notebooks become links to their pages (``06_monitor.ipynb#x`` -> ``06_monitor.html#x``)."""
    if not _is_relative_url(url):
        return url
    m = re.match(r"^(.*?)\.(ipynb|qmd)((?:[?#].*)?)$", url, re.IGNORECASE)
    return f"{m.group(1)}.html{m.group(3)}" if m else url


def _rebase(url: str, from_page: str, to_page: str) -> str:
    """A relative URL written for ``from_page``, rewritten for a copy of it at ``to_page``."""
    if not _is_relative_url(url):
        return url
    m = re.match(r"^([^?#]*)(.*)$", url, re.DOTALL)
    path, rest = m.group(1), m.group(2)
    if not path:
        return url
    target = posixpath.normpath(posixpath.join(posixpath.dirname(from_page), path))
    return _relative(target, to_page) + rest


_EXTERNAL_RESOURCE = re.compile(
    r"""<(?:script|link|img|iframe|source|video|audio|embed|object|track|input)\b[^>]*?\s(?:src|href|data|srcset|poster)\s*=\s*["']?\s*(?:https?:)?//[^"'\s>]*"""
    r"""|url\(\s*["']?\s*(?:https?:)?//[^)]*\)|@import\s+["']?(?:https?:)?//""",
    re.IGNORECASE,
)


def _check_self_contained(markup: str, where: str) -> None:
    found = _EXTERNAL_RESOURCE.findall(markup)
    if found:
        raise SiteRenderError(f"{where}: loads external resources, the site must work offline: {found[:3]}")


def _main_page(config: SiteConfig, pages: dict[str, _Page]) -> _Page:
    """The page the site's root leads to: the first dashboard, else the first page rendered."""
    dashboards = [p for p in pages.values() if p.format == "dashboard"]
    return dashboards[0] if dashboards else pages[config.pages[0]]


def _index_redirect_html(config: SiteConfig, main: _Page) -> str:
    """``index.html`` of a project without an index page: the redirect to the main page that
    ``quarto render`` writes (the same bytes, so both renderers agree)."""
    url = html.escape(main.output)
    return (
        '<html xmlns="http://www.w3.org/1999/xhtml">    \n  <head>      \n'
        f"    <title>Redirect to {url}</title>      \n"
        f"    <meta http-equiv=\"refresh\" content=\"0;URL='{url}'\" />    \n"
        "  </head>    \n  <body> \n  </body>  \n</html>     \n"
    )


def render_site(root: Path, output_dir: Path | None = None) -> list[Path]:
    """Render the website of ``root/_quarto.yml`` in pure Python; return the written pages.

    Writes ``<output-dir>/<notebook path>.html`` for every notebook in ``project.render`` and,
    unless the project has an index page, ``<output-dir>/index.html``: a redirect to the main page
    (the first dashboard), as :func:`build_site` writes after ``quarto render``. Removes the
    previous output folder first (as a full ``quarto render`` does). ``output_dir`` overrides
    ``project.output-dir``.
    """
    config = load_config(Path(root))
    pages = {source: _read_page(config, source) for source in config.pages}
    main = _main_page(config, pages)
    bodies: dict[str, str] = {}
    for source, page in pages.items():
        body = _PageRenderer(config, page).body()
        body = _rewrite_urls(body, _notebook_links_to_html)
        _check_self_contained(body, source)
        bodies[source] = body
    documents: dict[str, str] = {}
    for source, page in pages.items():
        documents[page.output] = _page_html(config, page, bodies[source], page.output, source, pages)
    if "index.html" not in documents:
        documents["index.html"] = _index_redirect_html(config, main)
    out_dir = Path(output_dir).resolve() if output_dir is not None else config.output_dir
    if out_dir.exists():
        shutil.rmtree(out_dir)
    written = []
    for rel, text in sorted(documents.items()):
        target = out_dir / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(text.encode("utf-8"))
        written.append(target)
    return written


#: environment variable that picks the renderer where ``--renderer`` / ``renderer=`` is not given
RENDERER_ENV = "STOFFWECHSEL_SITE_RENDERER"
RENDERERS = ("auto", "quarto", "python")


def find_quarto() -> str | None:
    """The ``quarto`` binary on ``PATH``, or None."""
    return shutil.which("quarto")


def choose_renderer(renderer: str | None = None) -> str:
    """``"quarto"`` or ``"python"``: ``renderer`` if given, else ``$STOFFWECHSEL_SITE_RENDERER``,
    else ``"auto"`` (Quarto when it is on ``PATH``). Asking for Quarto without it is an error."""
    choice = renderer or os.environ.get(RENDERER_ENV) or "auto"
    if choice not in RENDERERS:
        source = "renderer" if renderer else RENDERER_ENV
        raise SiteRenderError(f"{source}: must be one of {', '.join(RENDERERS)}, not {choice!r}")
    if choice == "auto":
        return "quarto" if find_quarto() else "python"
    if choice == "quarto" and find_quarto() is None:
        raise SiteRenderError("renderer 'quarto' asked for, but quarto is not on PATH "
                              "(install Quarto, or use the Python renderer: --renderer python)")
    return choice


def write_index_redirect(root: Path, out_dir: Path | None = None) -> Path | None:
    """Write ``<output-dir>/index.html``, the redirect to the main page, unless the project renders
    its own index page; returns the file written, else None."""
    config = load_config(Path(root))
    out_dir = Path(out_dir) if out_dir is not None else config.output_dir
    pages = {s: _read_page(config, s) for s in config.pages}
    if any(p.output == "index.html" for p in pages.values()):
        return None
    index = out_dir / "index.html"
    index.write_text(_index_redirect_html(config, _main_page(config, pages)), encoding="utf-8")
    return index


def render_with_quarto(root: Path, output_dir: Path | None = None) -> list[Path]:
    """``quarto render`` of the project (it only reads the executed notebooks). The project's
    ``post-render`` script (``_post_render.py``) makes the output small and offline and writes the
    ``index.html`` redirect; :func:`stoffwechsel.site_postrender.finish_site` runs here again (it is
    idempotent) so a project without the script gets the same site. ``.quarto/`` (Quarto's scratch
    folder) is listed in the project's ``.gitignore``."""
    from stoffwechsel.site_postrender import finish_site

    root = Path(root).resolve()
    config = load_config(root)
    out_dir = Path(output_dir).resolve() if output_dir is not None else config.output_dir
    cmd = [find_quarto() or "quarto", "render"]
    if output_dir is not None:
        cmd += ["--output-dir", str(out_dir)]
    env = {**os.environ}
    env.setdefault("QUARTO_PYTHON", sys.executable)  # the post-render script needs this package's Python
    proc = subprocess.run(cmd, cwd=root, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise SiteRenderError(f"quarto render failed ({proc.returncode}) in {root}:\n{proc.stderr[-4000:]}")
    finish_site(out_dir, root)
    return sorted(out_dir.rglob("*.html"))


def build_site(root: Path, renderer: str | None = None, output_dir: Path | None = None) -> list[Path]:
    """Build the site with the renderer :func:`choose_renderer` picks (``quarto render`` or
    :func:`render_site`); returns the site's HTML pages."""
    if choose_renderer(renderer) == "quarto":
        return render_with_quarto(root, output_dir)
    return render_site(Path(root).resolve(), output_dir)


# ------------------------------------------------------------------------------------------------
# Checks: headless Chromium
# ------------------------------------------------------------------------------------------------

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
    """Open a page in headless Chromium (:class:`stoffwechsel.browser.Browser`, network off) and
    report what a reader sees.

    Returns ``{"url", "title", "viewport": {width, height}, "elements": [...]`` (for the first
    selector), ``"selectors": {selector: [...]}``, ``"console_errors": [str]`` (console errors,
    uncaught exceptions, failed loads), ``"external_requests": [url]`` (anything that would
    leave the machine), ``"screenshot": path or None}``. Each element is ``{text, visible,
    in_first_viewport, shown_height, rect, attributes}``; ``in_first_viewport`` means its top
    edge and first line (24 px) show in the window as first opened, not hidden by a card or other
    ancestor that clips or scrolls (no scrolling of the page nor of the card). A meta-refresh redirect (the site's ``index.html``) is
    followed. Raises ``FileNotFoundError`` without a Chromium binary.
    """
    from stoffwechsel.browser import Browser

    html_path = Path(html_path).resolve()
    if not html_path.is_file():
        raise FileNotFoundError(html_path)
    selectors = [selector] if isinstance(selector, str) else list(selector)
    with Browser(chromium, timeout) as browser:
        tab = browser.open(html_path, viewport)
        info = tab.evaluate(_INSPECT_JS % json.dumps(selectors))
        shot = tab.screenshot(Path(screenshot)) if screenshot is not None else None
        return {
            "url": info["url"], "title": info["title"], "viewport": info["viewport"],
            "scroll_height": info["scroll_height"], "elements": info["selectors"][selectors[0]],
            "selectors": info["selectors"], "console_errors": tab.console_errors(),
            "external_requests": tab.external_requests(), "screenshot": str(shot) if shot else None,
        }


# ------------------------------------------------------------------------------------------------
# Checks: words and identifiers on the site
# ------------------------------------------------------------------------------------------------

#: Raw technical terms a business reader must not meet outside the glossary and analyst blocks
DEFAULT_FORBIDDEN_TERMS: tuple[str, ...] = (
    "NDCG", "PSI", "CTR", "CBPE", "FDR", "AUC", "RMSE", "MAP@K", "recall@k", "precision@k",
    "p-value", "p value", "q-value", "q value", "q_value", "p_value", "z-score",
    "Jensen-Shannon", "Kolmogorov-Smirnov", "Benjamini-Hochberg", "Benjamini", "Hochberg",
    "chi-square", "chi-squared", "Poisson", "binomial", "isotonic",
    "segment_column", "metric_id", "window_start", "window_end", "customer_id", "product_id",
    "served_at", "click_status", "purchase_status", "return_status", "NaN",
)


class TermHit(NamedTuple):
    page: str  # path relative to the site folder
    term: str
    context: str


class IdHit(NamedTuple):
    page: str
    match: str
    context: str


def _site_pages(site_dir: Path) -> list[Path]:
    return sorted(Path(site_dir).rglob("*.html"))


def page_text(html_path: Path, exclude_classes: Sequence[str] = ("for-analysts",)) -> str:
    """The visible text of a page: no head, scripts, styles, hidden elements, nor elements with
    one of ``exclude_classes``; whitespace collapsed."""
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(Path(html_path).read_text(encoding="utf-8"), "html.parser")
    for tag in soup.find_all(["head", "script", "style", "noscript", "template"]):
        tag.decompose()
    for tag in soup.find_all(hidden=True):
        tag.decompose()
    for cls in exclude_classes:
        for tag in soup.find_all(class_=cls):
            tag.decompose()
    return re.sub(r"\s+", " ", soup.get_text(" ")).strip()


def _context(text: str, start: int, end: int, width: int = 50) -> str:
    return ("\u2026" if start > width else "") + text[max(0, start - width):end + width] + (
        "\u2026" if end + width < len(text) else "")


def _allowed(rel: str, allowed_pages: Sequence[str]) -> bool:
    stem = posixpath.splitext(rel)[0]
    name = posixpath.basename(stem)
    bare = re.sub(r"^\d+_", "", name)
    return any(a in (stem, name, bare) for a in allowed_pages)


def forbidden_terms_report(
    site_dir: Path,
    terms: Sequence[str] = DEFAULT_FORBIDDEN_TERMS,
    allowed_pages: Sequence[str] = ("glossary",),
    exclude_classes: Sequence[str] = ("for-analysts",),
) -> list[TermHit]:
    """Raw technical terms in the visible text of the site's pages.

    Matching is case-insensitive, whole words (a plural ``s`` included). Pages named in
    ``allowed_pages`` (by file stem, with or without its ``NN_`` prefix, or by path without
    ``.html``) and elements with a class in ``exclude_classes`` are not checked.
    """
    hits: list[TermHit] = []
    patterns = [(t, re.compile(rf"(?<![\w]){re.escape(t)}s?(?![\w])", re.IGNORECASE)) for t in terms]
    for path in _site_pages(site_dir):
        rel = path.relative_to(site_dir).as_posix()
        if _allowed(rel, allowed_pages):
            continue
        text = page_text(path, exclude_classes)
        for term, pattern in patterns:
            for m in pattern.finditer(text):
                hits.append(TermHit(rel, term, _context(text, m.start(), m.end())))
    return hits


def customer_ids_report(site_dir: Path, pattern: str = r"\bC\d{5,7}\b") -> list[IdHit]:
    """Customer identifiers anywhere on the site: all text (analyst blocks and glossary included)
    and attribute values (except ``data:`` URIs, whose base64 can look like anything)."""
    from bs4 import BeautifulSoup

    regex = re.compile(pattern)
    hits: list[IdHit] = []
    for path in _site_pages(site_dir):
        rel = path.relative_to(site_dir).as_posix()
        soup = BeautifulSoup(path.read_text(encoding="utf-8"), "html.parser")
        chunks = [re.sub(r"\s+", " ", soup.get_text(" "))]
        for tag in soup.find_all(True):
            for name, value in tag.attrs.items():
                values = value if isinstance(value, list) else [value]
                chunks.extend(f"{name}={v}" for v in values if not str(v).startswith("data:"))
        for chunk in chunks:
            for m in regex.finditer(chunk):
                hits.append(IdHit(rel, m.group(0), _context(chunk, m.start(), m.end())))
    return hits
