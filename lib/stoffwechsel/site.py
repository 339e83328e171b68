"""The monitoring website in one import: build it, and check what it shows.

The work is done in modules with one concern each; this module only gathers their public names
(``from stoffwechsel import site``; ``site.build_site(root)``):

============================  ====================================================================
:mod:`.site_build`            choose the renderer and build the site: ``quarto render`` where
                              Quarto is installed, else the pure-Python renderer
                              (:func:`build_site`, :func:`render_site`, :func:`choose_renderer`)
:mod:`.site_project`          what the Python renderer reads: ``_quarto.yml``, executed notebooks,
                              cell options (:func:`load_config`, :func:`cell_options`)
:mod:`.site_markdown`         Markdown to HTML as Pandoc writes it; value boxes
:mod:`.site_render`           a page's cells as a document or a dashboard of cards
:mod:`.site_page`             the HTML document around a page: stylesheet, navbar, links
:mod:`.site_postrender`       what runs after ``quarto render`` (small, offline site)
:mod:`.site_output`           how the notebooks show HTML (a raw HTML block in Markdown)
:mod:`.site_checks`           checks in headless Chromium (:func:`inspect_page`, ``check_site``)
:mod:`.site_scan`             words and customer ids on the pages (:func:`forbidden_terms_report`,
                              :func:`customer_ids_report`)
:mod:`.browser`               the headless Chromium client (:func:`find_chromium`)
============================  ====================================================================
"""

from __future__ import annotations

from stoffwechsel.browser import find_chromium
from stoffwechsel.site_build import (
    RENDERER_ENV,
    RENDERERS,
    build_site,
    choose_renderer,
    find_quarto,
    render_site,
    render_with_quarto,
    write_index_redirect,
)
from stoffwechsel.site_checks import inspect_page
from stoffwechsel.site_project import (
    SiteConfig,
    SiteRenderError,
    cell_options,
    load_config,
)
from stoffwechsel.site_scan import (
    IdHit,
    TermHit,
    customer_ids_report,
    forbidden_terms_report,
    page_text,
)

__all__ = [
    "SiteRenderError",
    "SiteConfig",
    "load_config",
    "cell_options",
    "render_site",
    "build_site",
    "choose_renderer",
    "find_quarto",
    "render_with_quarto",
    "write_index_redirect",
    "RENDERER_ENV",
    "RENDERERS",
    "find_chromium",
    "inspect_page",
    "page_text",
    "TermHit",
    "IdHit",
    "forbidden_terms_report",
    "customer_ids_report",
]
