"""What runs after ``quarto render``: the site made small, offline and openable from ``file://``.

Quarto without ``embed-resources`` writes each page with links into a shared ``site_libs/``
(Bootstrap, icons, Quarto's scripts): the site stays small, but three of those scripts are
JavaScript *modules* (``quarto.js``, which imports ``tabsets/tabsets.js``, and the dashboard's
``web-components.js``), and a browser refuses to load a module from ``file://`` (CORS). With
``embed-resources`` every page carries its own copy of Bootstrap and the icon font (16 MB).

:func:`finish_site` (run by ``_post_render.py``, the project's ``post-render`` script in
``_quarto.yml``, so plain ``quarto render`` gets it too) therefore:

* inlines each local ``<script type="module" src=...>`` into the page, with the modules it imports
  bundled in (only the forms Quarto uses: ``import * as name from "./x.js"`` of a module whose
  exports are ``export function|const|let|class name``; any other form is an error, naming the
  file and line, rather than a page that breaks);
* points links to a ``site_libs`` file that is byte-identical to another one (Quarto's
  ``bootstrap-dark-*.css`` without a dark theme) at that one;
* deletes every file of ``site_libs/`` (and ``search.json``) that no page, and no stylesheet a
  page loads, refers to (pdfmake, datatables, search, the inlined modules, the dark copy);
* writes ``index.html``, the redirect to the main page, where the project has no index page
  (``page.write_index_redirect``).

It is idempotent: a second run changes nothing.
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import re
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlparse

__all__ = ["PostRenderReport", "finish_site", "bundle_module", "main"]

_MODULE_SCRIPT = re.compile(
    r"<script\b(?=[^>]*\btype=[\"']module[\"'])(?=[^>]*\bsrc=[\"']([^\"']+)[\"'])[^>]*>\s*</script>",
    re.IGNORECASE,
)
_IMPORT_NAMESPACE = re.compile(
    r"""^[ \t]*import\s+\*\s+as\s+([A-Za-z_$][\w$]*)\s+from\s+["']([^"']+)["'];?[ \t]*$""", re.MULTILINE
)
_ANY_IMPORT = re.compile(r"""^[ \t]*import\b(?!\s*\()""", re.MULTILINE)
_EXPORT_DECL = re.compile(
    r"^([ \t]*)export\s+((?:async\s+)?function\*?|const|let|var|class)\s+([A-Za-z_$][\w$]*)", re.MULTILINE
)
_ANY_EXPORT = re.compile(r"^[ \t]*export\b", re.MULTILINE)
_HTML_REF = re.compile(r"""\s(?:src|href)\s*=\s*(["'])(.*?)\1""", re.IGNORECASE | re.DOTALL)
_CSS_URL = re.compile(r"""url\(\s*(["']?)([^"')]+)\1\s*\)""", re.IGNORECASE)
#: files Quarto writes at the site's root that pages refer to only from scripts we drop
_ROOT_EXTRAS = ("search.json",)


class PostRenderError(RuntimeError):
    """Quarto wrote something the post-render step cannot make work offline."""


@dataclass
class PostRenderReport:
    """What :func:`finish_site` did: scripts inlined, files deleted, the site's size before and after."""

    inlined: list[str] = field(default_factory=list)  # "page: module" per inlined script
    deleted: list[str] = field(default_factory=list)  # paths relative to the site folder
    bytes_before: int = 0
    bytes_after: int = 0


def _line(text: str, pos: int) -> int:
    return text.count("\n", 0, pos) + 1


def bundle_module(path: Path, _stack: tuple[Path, ...] = ()) -> str:
    """The module at ``path`` with each ``import * as ns from "./x.js"`` replaced by the module it
    names, wrapped as an object ``ns`` of its exports. Other import forms fail, named."""
    path = path.resolve()
    if path in _stack:
        raise PostRenderError(f"{path}: circular import ({' -> '.join(p.name for p in _stack)})")
    text = path.read_text(encoding="utf-8")

    def namespace(match: re.Match) -> str:
        name, spec = match.group(1), match.group(2)
        if not spec.startswith(("./", "../")):
            raise PostRenderError(f"{path}:{_line(text, match.start())}: import of {spec!r} is not a relative file")
        target = (path.parent / spec).resolve()
        if not target.is_file():
            raise PostRenderError(f"{path}:{_line(text, match.start())}: imports {spec}, which does not exist")
        inner = bundle_module(target, (*_stack, path))
        names = [m.group(3) for m in _EXPORT_DECL.finditer(inner)]
        body = _EXPORT_DECL.sub(lambda m: f"{m.group(1)}{m.group(2)} {m.group(3)}", inner)
        rest = _ANY_EXPORT.search(body)
        if rest:
            raise PostRenderError(
                f"{target}:{_line(body, rest.start())}: an export form the post-render step cannot bundle"
            )
        exported = ", ".join(names)
        return f"const {name} = (() => {{\n// {target.name}, bundled\n{body}\nreturn {{{exported}}};\n}})();"

    out = _IMPORT_NAMESPACE.sub(namespace, text)
    left = _ANY_IMPORT.search(out)
    if left:
        raise PostRenderError(f"{path}:{_line(out, left.start())}: an import form the post-render step cannot bundle")
    return out


def _local_target(url: str, page: Path, site_dir: Path) -> Path | None:
    """The file inside ``site_dir`` a relative URL on ``page`` points to, else None."""
    if (
        not url
        or url.startswith(("#", "data:", "mailto:", "javascript:"))
        or re.match(r"^[a-zA-Z][\w+.-]*:", url)
        or url.startswith("//")
    ):
        return None
    path = unquote(urlparse(url).path)
    if not path:
        return None
    target = Path(posixpath.normpath(posixpath.join(page.parent.as_posix(), path)))
    try:
        target.relative_to(site_dir)
    except ValueError:
        return None
    return target


def _inline_modules(page: Path, site_dir: Path, report: PostRenderReport) -> str:
    text = page.read_text(encoding="utf-8")

    def inline(match: re.Match) -> str:
        target = _local_target(match.group(1), page, site_dir)
        if target is None or not target.is_file():
            raise PostRenderError(f"{page}: module script {match.group(1)} is not a file of the site")
        code = bundle_module(target).replace("</script", "<\\/script")
        report.inlined.append(f"{page.relative_to(site_dir).as_posix()}: {target.relative_to(site_dir).as_posix()}")
        return (
            f'<script type="module" data-inlined-from="{target.relative_to(site_dir).as_posix()}">\n{code}\n</script>'
        )

    return _MODULE_SCRIPT.sub(inline, text)


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _duplicates(site_dir: Path) -> dict[Path, Path]:
    """Files of ``site_libs`` whose bytes another one already holds -> that one (the shortest name:
    ``bootstrap-*.css`` is kept, ``bootstrap-dark-*.css`` repointed)."""
    libs = site_dir / "site_libs"
    first: dict[tuple[int, str], Path] = {}
    dupes: dict[Path, Path] = {}
    files = [p for p in libs.rglob("*") if p.is_file()] if libs.is_dir() else []
    for path in sorted(files, key=lambda p: (len(p.name), p.as_posix())):
        key = (path.stat().st_size, _digest(path))
        if key in first:
            dupes[path] = first[key]
        else:
            first[key] = path
    return dupes


def _repoint(text: str, page: Path, site_dir: Path, dupes: dict[Path, Path]) -> str:
    def repl(match: re.Match) -> str:
        quote, url = match.group(1), match.group(2)
        target = _local_target(url, page, site_dir)
        if target is None or target not in dupes:
            return match.group(0)
        new = posixpath.relpath(dupes[target].as_posix(), page.parent.as_posix())
        return match.group(0).replace(f"{quote}{url}{quote}", f"{quote}{new}{quote}")

    return _HTML_REF.sub(repl, text)


def _referenced(site_dir: Path, pages: list[Path]) -> set[Path]:
    """Every site file a page loads or links to, and what those stylesheets load (``url()``)."""
    seen: set[Path] = set()
    todo: list[Path] = []
    for page in pages:
        for match in _HTML_REF.finditer(page.read_text(encoding="utf-8")):
            target = _local_target(match.group(2), page, site_dir)
            if target is not None:
                todo.append(target)
    while todo:
        target = todo.pop()
        if target in seen:
            continue
        seen.add(target)
        if target.suffix == ".css" and target.is_file():
            for match in _CSS_URL.finditer(target.read_text(encoding="utf-8", errors="replace")):
                inner = _local_target(match.group(2), target, site_dir)
                if inner is not None:
                    todo.append(inner)
    return seen


def _size(site_dir: Path) -> int:
    return sum(p.stat().st_size for p in site_dir.rglob("*") if p.is_file())


#: a start tag of one of Quarto's dashboard cards (bslib), and one ``name="value"`` attribute in it
_CARD_TAG = re.compile(r"<div [^<>]*data-bslib-card-init[^<>]*>")
_ATTRIBUTE = re.compile(r'([\w:-]+)(?:="([^"]*)")?')


def _stable_card_attributes(text: str) -> str:
    """Quarto's dashboard writes a card's ``data-title`` and ``data-fill`` in either order from one
    render to the next (same data, same Quarto): sort each card tag's attributes after ``class`` so
    the same site is the same bytes (DVC hashes ``_site``)."""

    def sort_tag(match: re.Match) -> str:
        pairs = _ATTRIBUTE.findall(match.group(0)[len("<div ") : -1])
        pairs.sort(key=lambda kv: (kv[0] != "class", kv[0]))
        return "<div " + " ".join(f'{k}="{v}"' for k, v in pairs) + ">"

    return _CARD_TAG.sub(sort_tag, text)


def finish_site(site_dir: Path, project_root: Path | None = None) -> PostRenderReport:
    """Make Quarto's output in ``site_dir`` small, offline and openable from ``file://`` (see the
    module's docstring); ``project_root`` (with ``_quarto.yml``) is used for the index redirect."""
    from stoffwechsel.site.page import write_index_redirect

    site_dir = Path(site_dir).resolve()
    report = PostRenderReport(bytes_before=_size(site_dir))
    pages = sorted(site_dir.rglob("*.html"))
    dupes = _duplicates(site_dir)
    for page in pages:
        text = _inline_modules(page, site_dir, report)
        text = _stable_card_attributes(_repoint(text, page, site_dir, dupes))
        if text != page.read_text(encoding="utf-8"):
            page.write_text(text, encoding="utf-8")
    keep = _referenced(site_dir, pages)
    candidates = (
        [p for p in (site_dir / "site_libs").rglob("*") if p.is_file()] if (site_dir / "site_libs").is_dir() else []
    )
    candidates += [site_dir / name for name in _ROOT_EXTRAS if (site_dir / name).is_file()]
    for path in sorted(candidates):
        if path not in keep:
            path.unlink()
            report.deleted.append(path.relative_to(site_dir).as_posix())
    for folder in sorted((p for p in site_dir.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True):
        if not any(folder.iterdir()):
            folder.rmdir()
    if project_root is not None:
        write_index_redirect(Path(project_root), site_dir)
    report.bytes_after = _size(site_dir)
    return report


def main() -> int:
    """Quarto's ``post-render`` entry: the output folder comes from ``QUARTO_PROJECT_OUTPUT_DIR``
    (relative to the project, the working directory Quarto runs the script in)."""
    root = Path.cwd()
    out = os.environ.get("QUARTO_PROJECT_OUTPUT_DIR") or "_site"
    report = finish_site(root / out, root)
    print(
        f"post-render: {len(report.inlined)} module scripts inlined, {len(report.deleted)} unused files removed, "
        f"{report.bytes_before / 1e6:.1f} MB -> {report.bytes_after / 1e6:.1f} MB"
    )
    return 0
