"""The one choke point for text that reaches the website's HTML and Markdown (issue 18).

Whatever a page shows may come from the shop's files (category, name, description, region,
segment, model version, ...): a value such as ``<img src=x onerror=alert(1)>`` must be shown as
text, never run. The rule:

* :func:`text` escapes any value for HTML (``&``, ``<``, ``>``, ``"``, ``'``); markup built by the
  package itself is a :class:`Markup` (MarkupSafe's safe-string type) and passes through
  unchanged. Concatenating a plain ``str`` to a ``Markup`` escapes the ``str``, so package markup
  cannot pick up a live tag by accident.
* :func:`markdown_text` makes a value safe inside a Markdown output (Quarto/Pandoc and the Python
  renderer's markdown-it): HTML-escaped, and the characters that start links, images, code,
  emphasis, math, attributes, citations and Quarto shortcodes (``{{<``) backslash-escaped, line
  breaks folded to spaces. Both renderers show the original characters.
* :func:`live_markup` is the static check the tests use: the tags and attributes in an HTML text
  that would run script or load something (``<script>``, ``<svg>``, ``<iframe>``, ``on...=``
  attributes, ``javascript:`` URLs, ``<img>`` with a source that is not a ``data:`` URI).
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

from markupsafe import Markup, escape

__all__ = ["Markup", "text", "markup", "markdown_text", "live_markup"]


def text(value: object) -> Markup:
    """``value`` as HTML text: escaped unless it is already package-built :class:`Markup`."""
    return escape("" if value is None else value)


def markup(trusted: str) -> Markup:
    """Mark markup that the package built itself (from escaped parts) as safe to insert."""
    return Markup(trusted)


#: characters that start Markdown or Pandoc syntax inside a line (all escapable by a backslash in
#: CommonMark and Pandoc); ``<`` ``>`` ``&`` are HTML-escaped instead
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]{}$@^~|#!])")


def markdown_text(value: object) -> str:
    """``value`` as literal text inside a Markdown line (any renderer shows the same characters)."""
    s = re.sub(r"[\r\n]+", " ", "" if value is None else str(value))
    s = _MARKDOWN_SPECIAL.sub(r"\\\1", s)
    return str(escape(s))


_RUNNING_TAGS = {"script", "svg", "iframe", "object", "embed", "math", "base", "form", "meta", "link", "style"}
_URL_ATTRIBUTES = {"href", "src", "action", "formaction", "xlink:href", "data", "poster", "srcset"}


class _Scanner(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag in _RUNNING_TAGS:
            self.found.append(f"<{tag}>")
        for name, value in attrs:
            v = (value or "").strip().lower()
            if name.startswith("on"):
                self.found.append(f"<{tag} {name}=...>")
            elif name in _URL_ATTRIBUTES and re.sub(r"\s", "", v).startswith(("javascript:", "vbscript:")):
                self.found.append(f"<{tag} {name}=javascript:...>")
            elif tag == "img" and name == "src" and not v.startswith("data:"):
                self.found.append(f"<img src={value!r}>")

    handle_startendtag = handle_starttag


def live_markup(html: str, allowed_tags: tuple[str, ...] = ()) -> list[str]:
    """Tags and attributes in ``html`` that would run script or load a resource (empty = none);
    ``allowed_tags`` are tags the caller expects (e.g. the site's own ``style`` or ``meta``)."""
    scanner = _Scanner()
    scanner.feed(html)
    scanner.close()
    return [f for f in scanner.found if f.strip("<>").split(" ")[0] not in allowed_tags]
