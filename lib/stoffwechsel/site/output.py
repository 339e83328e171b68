"""How the site's notebooks show HTML: as a Pandoc raw HTML block inside a Markdown output.

Quarto adds require.js and jQuery from a CDN to every page of a notebook that has any
``text/html`` output (``core/jupyter/widgets.ts``: such outputs might be JavaScript widgets), and
``embed-resources`` cannot inline them offline. A ``text/markdown`` output holding a raw block

    ```{=html}
    <div class="alert">...</div>
    ```

is inserted as is by Quarto (Pandoc) and by the Python renderer, and pulls in nothing. So the
notebooks end a cell with ``show_html(markup)`` (instead of ``HTML(markup)`` or a bare
DataFrame), or ``print(html_block(markup))`` in an ``output: asis`` cell.
"""

from __future__ import annotations

import re

__all__ = ["html_block", "show_html"]


def html_block(markup: str) -> str:
    """``markup`` as a Pandoc raw HTML block (the fence is longer than any backtick run inside)."""
    longest = max((len(m) for m in re.findall(r"`+", markup)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"\n{fence}{{=html}}\n{markup.strip()}\n{fence}\n"


def show_html(markup: str):
    """A display object whose only rich output is ``text/markdown`` (the raw HTML block)."""
    from IPython.display import Markdown

    return Markdown(html_block(markup))
