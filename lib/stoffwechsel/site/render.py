"""The pure-Python renderer's page bodies: a notebook's cells as Quarto shows them.

:class:`PageRenderer` turns a :class:`~stoffwechsel.site.project.Page` into its ``<main>`` element:
a document (title block, Markdown, cell outputs) or, for ``format: dashboard``, rows and columns
of cards laid out from the level 2 and 3 headings (``{height=...}``/``{width=...}``). A code cell
shows its outputs, never its input, honouring the ``#|`` options ``output``, ``include``,
``warning``, ``title``, ``label``, ``classes``, ``fig-cap``, ``fig-alt`` and ``content: valuebox``
(with ``icon``/``color``); an error output fails the render. Images become data URIs.
"""

from __future__ import annotations

import ast
import base64
import html
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from stoffwechsel.site.markdown import (
    Ids,
    Markdown,
    attr_html,
    slug,
    split_headings,
    value_box_html,
)
from stoffwechsel.site.project import (
    Page,
    SiteConfig,
    SiteRenderError,
    as_list,
    cell_options,
    cell_source,
)

__all__ = ["PageRenderer"]

#: escape sequences of coloured terminal output (tracebacks, progress bars)
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
#: the output shown where a display offers several (first found)
_MIME_PRIORITY = ("text/html", "image/svg+xml", "image/png", "image/jpeg", "text/markdown", "text/plain")


def _text(value: Any) -> str:
    """An output's text (nbformat stores it as a string or a list of lines)."""
    return "".join(value) if isinstance(value, list) else str(value)


def _is_false(value: Any) -> bool:
    """A cell option that switches something off (``false``, ``"false"``, ``"no"``)."""
    return value is False or (isinstance(value, str) and value.strip().lower() in ("false", "no"))


def _literal(text: str) -> Any:
    """A Python literal from a ``text/plain`` repr; numpy scalars (``np.float64(1.5)``) unwrap."""
    scalar_calls = {
        "int",
        "float",
        "str",
        "bool",
        "Decimal",
        "int8",
        "int16",
        "int32",
        "int64",
        "uint8",
        "uint16",
        "uint32",
        "uint64",
        "float16",
        "float32",
        "float64",
        "str_",
        "bool_",
        "Timestamp",
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


# ------------------------------------------------------------------------------------------------
# Cells and pages
# ------------------------------------------------------------------------------------------------


@dataclass
class _Cell:
    """A code cell's visible result."""

    html: str
    title: str | None
    options: dict


class PageRenderer:
    """The body of one page (``<main>...</main>``): a document, or a dashboard of cards."""

    def __init__(self, config: SiteConfig, page: Page) -> None:
        self.config = config
        self.page = page
        self.ids = Ids()
        self.md = Markdown(self.ids)

    # --- cells -----------------------------------------------------------------------------

    def _where(self, index: int, options: dict) -> str:
        """A cell named for an error message: notebook, cell number and label."""
        label = options.get("label")
        return f"{self.page.source}, cell {index}" + (f" (label {label})" if label else "")

    def code_cell(self, index: int, cell: dict) -> _Cell | None:
        """The visible outputs of a code cell (never its input), or None if it shows nothing."""
        options = {**self.page.defaults, **cell_options(cell_source(cell))}
        tags = set((cell.get("metadata") or {}).get("tags") or [])
        outputs = list(cell.get("outputs") or [])
        for out in outputs:  # an error is a failed run, whatever the cell options say
            if out.get("output_type") == "error":
                raise SiteRenderError(
                    f"{self._where(index, options)}: the executed notebook holds an error "
                    f"({out.get('ename')}: {out.get('evalue')})"
                )
        if (
            _is_false(options.get("include"))
            or _is_false(options.get("output"))
            or _is_false(options.get("eval"))
            or "remove-cell" in tags
            or "remove-output" in tags
        ):
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
        if (
            self.page.format == "dashboard"
            and outputs
            and outputs[0].get("output_type") == "stream"
            and outputs[0].get("name") == "stdout"
            and _text(outputs[0].get("text")).startswith("title=")
        ):
            first, _, rest = _text(outputs[0]["text"]).partition("\n")
            title = first[len("title=") :].strip()
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
                        parts.append(
                            f'<pre class="cell-output cell-output-{name}">{html.escape(text.rstrip())}</pre>\n'
                        )
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
                parts.append(
                    self._image(mime, value, (out.get("metadata") or {}).get(mime) or {}, options, image_no, title)
                )
                image_no += 1
            elif mime == "text/markdown" or asis:
                parts.append(f'<div class="cell-output cell-output-display">\n{self.md.render(value)}</div>\n')
            else:
                parts.append(
                    f'<pre class="cell-output cell-output-display">{html.escape(_ANSI.sub("", value))}</pre>\n'
                )
        flush()
        if not parts:
            return None
        return _Cell("".join(parts), None if title is None else str(title), options)

    def _image(self, mime: str, value: str, meta: dict, options: dict, number: int, title: Any) -> str:
        """The ``number``-th image of a cell as a ``<figure>`` with a data URI, its ``fig-alt``
        (else caption, card title, "Figure") and ``fig-cap``."""
        if mime == "image/svg+xml":
            payload = base64.b64encode(value.encode("utf-8")).decode("ascii")
        else:
            payload = "".join(value.split())
        alts, caps = as_list(options.get("fig-alt")), as_list(options.get("fig-cap"))
        caption = str(caps[number]) if number < len(caps) else None
        alt = str(alts[number]) if number < len(alts) else (caption or (str(title) if title else "Figure"))
        size = "".join(f' {k}="{int(meta[k])}"' for k in ("width", "height") if isinstance(meta.get(k), (int, float)))
        figcaption = f"<figcaption>{self.md.inline(caption)}</figcaption>" if caption else ""
        return (
            f'<figure class="figure cell-output cell-output-display"><img src="data:{mime};base64,{payload}" '
            f'alt="{html.escape(alt)}" class="img-fluid"{size}>{figcaption}</figure>\n'
        )

    def _value_box(self, index: int, options: dict, outputs: list) -> _Cell:
        """A ``content: valuebox`` cell: its options, overridden by the dict its last result shows."""
        spec: dict = {}
        results = [
            o
            for o in outputs
            if o.get("output_type") in ("execute_result", "display_data") and "text/plain" in (o.get("data") or {})
        ]
        if results:
            text = _text(results[-1]["data"]["text/plain"])
            try:
                spec = _literal(text)
            except (ValueError, SyntaxError) as exc:
                raise SiteRenderError(
                    f"{self._where(index, options)}: a value box cell must end with a dict "
                    f"(icon, color, value); got {text[:120]!r}"
                ) from exc
            if not isinstance(spec, dict):
                raise SiteRenderError(
                    f"{self._where(index, options)}: a value box cell must end with a dict, got {text[:120]!r}"
                )
        merged = {
            **{k: options.get(k) for k in ("title", "icon", "color", "value") if options.get(k) is not None},
            **spec,
        }
        if "value" not in merged:
            raise SiteRenderError(f"{self._where(index, options)}: the value box has no 'value'")
        title = merged.get("title", "")
        label = options.get("label")
        box = value_box_html(
            title=str(title),
            value=merged["value"],
            icon=merged.get("icon"),
            color=merged.get("color"),
            element_id=self.ids.claim(slug(str(label))) if label else None,
            extra_classes=[str(c) for c in as_list(options.get("classes"))],
        )
        return _Cell(box, None, {**options, "_valuebox": True})

    def cell_wrapper(self, cell: _Cell, classes: Sequence[str]) -> str:
        """A cell's result in a ``<div>`` with ``classes``, the cell's ``classes`` and its label as id."""
        label = cell.options.get("label")
        id_attr = f' id="{html.escape(self.ids.claim(slug(str(label))))}"' if label else ""
        all_classes = " ".join([*classes, *(str(c) for c in as_list(cell.options.get("classes")))])
        return f'<div class="{html.escape(all_classes)}"{id_attr}>\n{cell.html}</div>\n'

    def raw_cell(self, cell: dict) -> str:
        """A raw cell's source if it is HTML (``raw_mimetype``/``format``), else nothing."""
        meta = cell.get("metadata") or {}
        fmt = meta.get("raw_mimetype") or meta.get("format") or ""
        return cell_source(cell) + "\n" if fmt in ("text/html", "html") else ""

    # --- pages -----------------------------------------------------------------------------

    def body(self) -> str:
        """The page's ``<main>`` element: title block and cells (laid out as a dashboard or a document)."""
        return self._dashboard() if self.page.format == "dashboard" else self._document()

    def _title_block(self, css_class: str) -> str:
        """The page's title, subtitle and description."""
        meta = self.page.meta
        parts = [f'<h1 class="title">{self.md.inline(self.page.title)}</h1>']
        for key in ("subtitle", "description"):
            if meta.get(key):
                parts.append(f'<p class="{key}">{self.md.inline(str(meta[key]))}</p>')
        return f'<header id="title-block-header" class="{css_class}">\n' + "\n".join(parts) + "\n</header>\n"

    def _document(self) -> str:
        """An ``html`` page: title block, then the cells in order."""
        out = [self._title_block("quarto-title-block")]
        for index, cell in enumerate(self.page.cells):
            ctype = cell.get("cell_type")
            if ctype == "markdown":
                out.append(self.md.render(cell_source(cell)))
            elif ctype == "raw":
                out.append(self.raw_cell(cell))
            elif ctype == "code":
                result = self.code_cell(index, cell)
                if result is not None:
                    out.append(result.html if result.options.get("_valuebox") else self.cell_wrapper(result, ["cell"]))
        return '<main class="content page-content" id="quarto-document-content">\n' + "".join(out) + "</main>\n"

    def _dashboard(self) -> str:
        """A ``dashboard`` page: every output and Markdown block a card, laid out by the headings."""
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
                for kind, payload in split_headings(cell_source(cell)):
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
                            layout.add_card(
                                f'<div class="card card-text"><div class="card-body">\n{rendered}</div></div>\n'
                            )
        header = self._title_block("dashboard-title-block")
        return (
            f'<main class="dashboard dashboard-orientation-{orientation}" id="quarto-document-content">\n'
            f"{header}{layout.html()}</main>\n"
        )

    def _card(self, cell: _Cell) -> str:
        """A cell's result as a dashboard card, with its title as header."""
        label = cell.options.get("label")
        id_attr = f' id="{html.escape(self.ids.claim(slug(str(label))))}"' if label else ""
        classes = " ".join(["card", "cell", *(str(c) for c in as_list(cell.options.get("classes")))])
        header = f'<div class="card-header">{self.md.inline(cell.title)}</div>' if cell.title else ""
        return (
            f'<div class="{html.escape(classes)}"{id_attr}>{header}<div class="card-body">\n{cell.html}</div></div>\n'
        )


# ------------------------------------------------------------------------------------------------
# Dashboard layout
# ------------------------------------------------------------------------------------------------

#: a row's height or a column's width: a number with % or px
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
        """Whether Markdown now goes above the cards (no row or column opened yet)."""
        return self.l2 is None

    def add_leading(self, rendered: str) -> None:
        """Markdown shown above the cards, as it is (not in a card)."""
        self.sections.append((False, f'<div class="dashboard-leading">\n{rendered}</div>\n'))

    def _container(self, level: int, attrs: dict) -> dict:
        """A new row or column (which one depends on the orientation and the heading level),
        sized by its ``height``/``width`` attribute."""
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
                style = (
                    f"min-height: calc({number / 100:g} * (100vh - 7rem))" if unit == "%" else f"height: {number:g}px"
                )
            else:
                style = f"flex: 0 1 {number:g}%" if unit == "%" else f"flex: 0 0 {number:g}px"
        return {"kind": kind, "attrs": attrs, "style": style, "items": []}

    @staticmethod
    def _container_html(container: dict) -> str:
        attrs = container["attrs"]
        style = f' style="{container["style"]}"' if container["style"] else ""
        extra = ("dashboard-" + container["kind"],)
        inner = "".join(container["items"])
        return f"<div{attr_html(attrs, extra, skip=('height', 'width'))}{style}>\n{inner}</div>\n"

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
        """A heading: level 1 a page title, level 2 a main container, level 3 a nested one."""
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
        """A card in the innermost open container (opening a level-2 one if none is)."""
        if self.l2 is None:
            self.l2 = self._container(2, {"classes": []})
        (self.l3 or self.l2)["items"].append(card_html)

    def html(self) -> str:
        """The layout as HTML; consecutive rows (columns) share one flex container."""
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
