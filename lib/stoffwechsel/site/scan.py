"""Words and identifiers on the built site: what a business reader must not meet, and what must
never be published.

:func:`forbidden_terms_report` finds raw technical terms (the glossary's
:data:`~stoffwechsel.glossary.TECHNICAL_TERMS`) in the visible text of the pages (:func:`page_text`),
outside the glossary page and the analysts' blocks. :func:`customer_ids_report` finds customer
identifiers anywhere on the site, analyst blocks, glossary and attribute values included. Both read
the HTML files (no browser); the tests and the pipeline's verification stage share them.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

from stoffwechsel.domain import CUSTOMER_ID_SHAPE
from stoffwechsel.glossary import TECHNICAL_TERMS

__all__ = ["TermHit", "IdHit", "page_text", "forbidden_terms_report", "customer_ids_report"]


class TermHit(NamedTuple):
    """A raw technical term on a page, with the text around it."""

    page: str  # path relative to the site folder
    term: str
    context: str


class IdHit(NamedTuple):
    """A customer identifier on a page (in its text or an attribute), with the text around it."""

    page: str  # path relative to the site folder
    match: str
    context: str


def _site_pages(site_dir: Path) -> list[Path]:
    """The site's HTML pages, sorted."""
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
    """``width`` characters either side of ``text[start:end]``, with an ellipsis where cut."""
    return (
        ("\u2026" if start > width else "")
        + text[max(0, start - width) : end + width]
        + ("\u2026" if end + width < len(text) else "")
    )


def _allowed(rel: str, allowed_pages: Sequence[str]) -> bool:
    """Whether the page ``rel`` is one of ``allowed_pages`` (path without ``.html``, file stem,
    or stem without its ``NN_`` prefix)."""
    stem = posixpath.splitext(rel)[0]
    name = posixpath.basename(stem)
    bare = re.sub(r"^\d+_", "", name)
    return any(a in (stem, name, bare) for a in allowed_pages)


def forbidden_terms_report(
    site_dir: Path,
    terms: Sequence[str] = TECHNICAL_TERMS,
    allowed_pages: Sequence[str] = ("glossary",),
    exclude_classes: Sequence[str] = ("for-analysts",),
) -> list[TermHit]:
    """Raw technical terms in the visible text of the site's pages.

    ``terms`` defaults to :data:`stoffwechsel.glossary.TECHNICAL_TERMS`. Matching is
    case-insensitive, whole words (a plural ``s`` included). Pages named in
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


def customer_ids_report(site_dir: Path, pattern: str = CUSTOMER_ID_SHAPE) -> list[IdHit]:
    """Matches of the regular expression ``pattern`` anywhere on the site: all text (analyst blocks
    and glossary included) and attribute values (except ``data:`` URIs, whose base64 can look like
    anything). The pipeline passes :func:`stoffwechsel.privacy.id_pattern` of the accepted
    customer ids; the default is the shape of the shop's own customer numbers
    (:data:`stoffwechsel.domain.CUSTOMER_ID_SHAPE`)."""
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
