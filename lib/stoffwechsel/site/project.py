"""What the site's renderer reads: the Quarto project (``_quarto.yml``) and its executed notebooks.

:func:`load_config` reads the subset of ``_quarto.yml`` the pure-Python renderer supports
(``project.render``, ``output-dir``, ``website.navbar``, ``format`` options and ``execute``
defaults) into a :class:`SiteConfig`; :func:`read_page` reads one executed notebook into a
:class:`Page` (front matter in a first raw/markdown cell, format, stylesheets, cell option
defaults, title). :func:`cell_options` parses the ``#| key: value`` lines of a code cell, and
:func:`parse_attrs` Pandoc's attribute blocks (``{#id .class key=value}``) that headings and fenced
divs carry. Anything the renderer cannot show faithfully raises :class:`SiteRenderError`.
"""

from __future__ import annotations

import posixpath
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

__all__ = [
    "SiteRenderError",
    "SiteConfig",
    "NOTEBOOK_SUFFIXES",
    "load_config",
    "relative_url",
    "cell_source",
    "cell_options",
    "Page",
    "read_page",
    "ATTR_BLOCK",
    "parse_attrs",
    "strip_heading_attrs",
    "as_list",
    "main_page",
]


class SiteRenderError(RuntimeError):
    """The site cannot be rendered faithfully (error output, bad option, external resource, ...)."""


# ------------------------------------------------------------------------------------------------
# _quarto.yml
# ------------------------------------------------------------------------------------------------

#: cell options that may also be set for a whole project (``execute:``, ``format: html:``) or page
_EXECUTE_KEYS = ("echo", "eval", "output", "include", "warning", "error")
#: notebook formats Quarto renders (only .ipynb ones render without Quarto)
NOTEBOOK_SUFFIXES = (".ipynb", ".qmd", ".md", ".rmd")


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
                if suffix in NOTEBOOK_SUFFIXES:
                    raise SiteRenderError(f"{rel}: only .ipynb pages can be rendered without Quarto")
                continue
            if rel not in found:
                found.append(rel)
    return found


def _nav_item(item: Any) -> dict:
    """A navbar entry as a mapping (a bare path becomes ``{"href": path}``), menus included."""
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


def relative_url(target: str, from_page: str) -> str:
    """Relative URL from the page ``from_page`` to ``target`` (both relative to the site root)."""
    start = posixpath.dirname(from_page) or "."
    return posixpath.relpath(target, start)


# ------------------------------------------------------------------------------------------------
# Notebooks: front matter, cell options, pages
# ------------------------------------------------------------------------------------------------

_FRONT_MATTER = re.compile(r"\A\s*---[ \t]*\n(.*?)\n---[ \t]*(?:\n|\Z)", re.DOTALL)
_OPTION_LINE = re.compile(r"^#\|\s?(.*)$")


def cell_source(cell: dict) -> str:
    """A notebook cell's source as one string (nbformat stores it as a string or a list of lines)."""
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
class Page:
    """One notebook of the site as the renderer reads it: front matter, format, cells, defaults."""

    source: str  # notebook path relative to the root
    output: str  # html path relative to the output folder
    meta: dict
    title: str
    format: str  # "html" or "dashboard"
    format_opts: dict
    cells: list
    defaults: dict
    css: list = field(default_factory=list)  # stylesheets of the page's format, absolute paths


def import_nbformat():
    """nbformat, imported without ``rfc3987_syntax``.

    nbformat imports jsonschema, which imports ``rfc3987_syntax`` when it is installed
    (jupyter-events requires it) to check the "iri" string format; that module compiles Lark
    grammars at import: ``import nbformat`` takes 2.7 s here, 0.3 s without it (``python -c``,
    two runs each), paid by every process that reads or executes a notebook (the runner of each
    stage, ``verify`` and ``site`` more than once when they imported nbformat first). Notebook schemas never
    use the "iri" format, and jsonschema treats the module as optional (``ImportError`` is
    suppressed), so it is marked absent in this process only, and only if jsonschema is not
    imported yet."""
    if "jsonschema" not in sys.modules:
        sys.modules.setdefault("rfc3987_syntax", None)  # None in sys.modules: import raises ImportError
    import nbformat

    return nbformat


def read_page(config: SiteConfig, source: str) -> Page:
    """Read the executed notebook ``source`` (relative to the project root): its front matter (a
    first raw/markdown cell), format and options (project's, then the page's), cell option
    defaults, stylesheets, and title (front matter, else a leading level-1 heading, which is then
    taken out of the cells, else the file name)."""
    nbformat = import_nbformat()  # deferred: the CLI's other commands should start fast

    nb = nbformat.read(str(config.root / source), as_version=4)
    cells = [dict(c) for c in nb.cells]
    meta: dict = {}
    if cells and cells[0].get("cell_type") in ("raw", "markdown"):
        text = cell_source(cells[0])
        m = _FRONT_MATTER.match(text)
        if m:
            try:
                meta = yaml.safe_load(m.group(1)) or {}
            except yaml.YAMLError as exc:
                raise SiteRenderError(f"{source}: front matter is not valid YAML: {exc}") from exc
            if not isinstance(meta, dict):
                raise SiteRenderError(f"{source}: front matter must be a YAML mapping")
            rest = text[m.end() :]
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
    css = [config.root / str(c) for c in as_list(project_fmt.get("css"))]
    css += [(config.root / source).parent / str(c) for c in as_list(fmt_opts.get("css"))]
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
            text = cell_source(cell)
            if not text.strip():
                continue
            m = re.match(r"\A\s*#[ \t]+(.+?)[ \t]*#*[ \t]*(?:\n|\Z)", text)
            if m:
                title = strip_heading_attrs(m.group(1))[0]
                cells[i] = {**cell, "source": text[m.end() :]}
            break
    if not title:
        title = Path(source).stem
    return Page(source, _output_path(source), meta, title, fmt, fmt_opts, cells, defaults, [p.resolve() for p in css])


# ------------------------------------------------------------------------------------------------
# Pandoc attributes (``{#id .class key=value}`` after a heading, on a fenced div)
# ------------------------------------------------------------------------------------------------

#: a trailing attribute block
ATTR_BLOCK = re.compile(r"\s*\{([^{}]*)\}\s*$")
_ATTR_TOKEN = re.compile(r"""#([\w:.-]+)|\.([\w-]+)|([\w-]+)=(?:"([^"]*)"|'([^']*)'|([^\s"']+))""")


def parse_attrs(text: str) -> dict:
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


def strip_heading_attrs(text: str) -> tuple[str, dict]:
    """A heading's text without its trailing attribute block, and the parsed attributes."""
    m = ATTR_BLOCK.search(text)
    if not m:
        return text.strip(), {"classes": []}
    return text[: m.start()].strip(), parse_attrs(m.group(1))


def as_list(value: Any) -> list:
    """``value`` as a list: None -> ``[]``, a list or tuple -> its items, anything else -> ``[value]``."""
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


def main_page(config: SiteConfig, pages: dict[str, Page]) -> Page:
    """The page the site's root leads to: the first dashboard, else the first page rendered."""
    dashboards = [p for p in pages.values() if p.format == "dashboard"]
    return dashboards[0] if dashboards else pages[config.pages[0]]
