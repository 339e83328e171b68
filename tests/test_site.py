"""The monitoring website: the pure-Python renderer of the Quarto site, its offline and
business-language guarantees, and what a browser shows (headless Chromium).

Fixtures (tests/fixtures/site/, written by make_fixtures.py there): ``project/`` is a Quarto
website of three executed notebooks (a dashboard, a normal page with an analyst block, a
glossary); ``leaky/`` a page that shows a technical term and customer ids.
"""

from __future__ import annotations

import base64
import json
import posixpath
import re
import shutil
from pathlib import Path

import nbformat
import pytest
import yaml
from bs4 import BeautifulSoup

from stoffwechsel.site import build, checks, render, scan
from stoffwechsel.site.browser import find_chromium
from stoffwechsel.site.project import SiteRenderError, cell_options

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "site"
ARTIFACTS = ROOT / "reports" / "test-artifacts"

PAGES = [
    "index.html",
    "reports/notebooks/01_overview.html",
    "reports/notebooks/02_segments.html",
    "reports/notebooks/03_glossary.html",
]
ALERT = '.alert[data-segment="Trend Seekers"]'
DASHBOARD = "reports/notebooks/01_overview.html"
CHROMIUM = find_chromium()
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None,
    reason="no Chromium binary: install the Debian package 'chromium' (apt-get install -y chromium) "
    "or set CHROME_BIN; CI installs it",
)


def copy_fixture(name: str, dest: Path) -> Path:
    target = dest / name
    shutil.copytree(FIXTURES / name, target)
    shutil.copy2(ROOT / "site.css", target / "site.css")  # the project's stylesheet, as the real site uses it
    shutil.copy2(ROOT / "_post_render.py", target / "_post_render.py")  # and its Quarto post-render script
    return target


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    """The fixture project, rendered once."""
    root = copy_fixture("project", tmp_path_factory.mktemp("site"))
    build.render_site(root)
    return root


def soup(path: Path) -> BeautifulSoup:
    return BeautifulSoup(path.read_text(encoding="utf-8"), "html.parser")


def all_pages(project: Path) -> dict[str, str]:
    out = project / "_site"
    return {p.relative_to(out).as_posix(): p.read_text(encoding="utf-8") for p in sorted(out.rglob("*.html"))}


# --- pages and navigation ---------------------------------------------------------------------


def test_pages_exist_in_quartos_layout(tmp_path):
    root = copy_fixture("project", tmp_path)
    written = build.render_site(root)
    assert [p.relative_to(root / "_site").as_posix() for p in written] == sorted(PAGES)
    assert all(p.is_file() and p.stat().st_size > 0 for p in written)


def test_navbar_links_resolve_to_pages(project):
    out = project / "_site"
    for rel in PAGES[1:]:  # index.html is a redirect
        nav = soup(out / rel).find("nav", class_="navbar")
        links = nav.select("a.nav-link")
        assert [a.get_text() for a in links] == ["This week", "Customer groups", "Glossary"]
        for a in [*links, nav.select_one("a.navbar-brand")]:
            target = posixpath.normpath(posixpath.join(posixpath.dirname(rel), a["href"]))
            assert (out / target).is_file(), f"{rel}: navbar link {a['href']} does not resolve"
        active = nav.select("a.nav-link.active")
        assert len(active) == 1
    active_on = {rel: soup(out / rel).select_one("a.nav-link.active").get_text() for rel in PAGES[1:]}
    assert active_on == {
        "reports/notebooks/01_overview.html": "This week",
        "reports/notebooks/02_segments.html": "Customer groups",
        "reports/notebooks/03_glossary.html": "Glossary",
    }


def test_every_relative_link_and_anchor_resolves(project):
    """Links in notebook output and markdown (``02_segments.html#trend-seekers``, ``03_glossary.ipynb``)
    point at pages and anchors that exist, also from the index copy at the site root."""
    out = project / "_site"
    ids = {rel: {el["id"] for el in soup(out / rel).find_all(id=True)} for rel in PAGES}
    checked = 0
    for rel in PAGES:
        for a in soup(out / rel).find_all("a", href=True):
            href = a["href"]
            if href.startswith("#"):
                assert href[1:] in ids[rel]
                continue
            path, _, fragment = href.partition("#")
            target = posixpath.normpath(posixpath.join(posixpath.dirname(rel), path))
            assert (out / target).is_file(), f"{rel}: link {href} does not resolve"
            assert not path.endswith(".ipynb")
            if fragment:
                assert fragment in ids[target], f"{rel}: no #{fragment} in {target}"
            checked += 1
    assert checked > 12


def test_index_redirects_to_the_dashboard(project):
    """As after ``quarto render`` (build_site writes the same bytes): the root redirects to the
    dashboard, whose links stay as written."""
    out = project / "_site"
    index = soup(out / "index.html")
    assert index.select_one("meta[http-equiv=refresh]")["content"] == "0;URL='reports/notebooks/01_overview.html'"
    main = out / "reports/notebooks/01_overview.html"
    assert soup(main).select_one(f"{ALERT} a")["href"] == "02_segments.html#trend-seekers"


def test_index_follows_the_dashboard_not_the_render_order(tmp_path):
    root = copy_fixture("project", tmp_path)
    config = yaml.safe_load((root / "_quarto.yml").read_text(encoding="utf-8"))
    config["project"]["render"] = list(reversed(config["project"]["render"]))
    (root / "_quarto.yml").write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    build.render_site(root)
    assert "URL='reports/notebooks/01_overview.html'" in (root / "_site/index.html").read_text(encoding="utf-8")


def test_render_is_deterministic(tmp_path):
    first = copy_fixture("project", tmp_path / "a")
    second = copy_fixture("project", tmp_path / "b")
    build.render_site(first)
    build.render_site(second)
    build.render_site(second)  # a re-render replaces the folder with the same bytes
    assert all_pages(first) == all_pages(second)


# --- offline, self-contained --------------------------------------------------------------------

EXTERNAL = re.compile(r"""\b(?:src|href|srcset|data|poster|action)\s*=\s*["']?\s*(?:https?:)?//""", re.IGNORECASE)


def test_pages_are_self_contained(project):
    for rel, text in all_pages(project).items():
        assert not EXTERNAL.search(text), f"{rel}: loads or links something over the network"
        assert "<script" not in text.lower(), f"{rel}: has a script"
        assert not re.search(r"url\(\s*['\"]?\s*(?:https?:)?//|@import", text), rel
        assert not re.search(r"<link\b[^>]*href", text, re.IGNORECASE), f"{rel}: links a stylesheet"
        if rel != "index.html":  # the redirect
            assert "<style>" in text and "flex: 0 0 auto !important" in text  # base and site.css inline


def test_external_resources_are_refused(tmp_path):
    root = copy_fixture("project", tmp_path)
    path = root / "reports/notebooks/02_segments.ipynb"
    nb = nbformat.read(str(path), as_version=4)
    nb.cells.append(
        nbformat.v4.new_code_cell(
            "show()",
            outputs=[
                nbformat.v4.new_output(
                    "display_data", data={"text/html": '<script src="https://cdn.example.org/plot.js"></script>'}
                )
            ],
        )
    )
    nbformat.write(nb, str(path))
    with pytest.raises(SiteRenderError, match="external"):
        build.render_site(root)


# --- content ----------------------------------------------------------------------------------


def test_code_is_never_shown(project):
    pages = all_pages(project)
    for rel, text in pages.items():
        for code in (
            "zq_code_marker_7731",
            "DISTINCTIVE_CODE_SENTINEL",
            "import numpy",
            "#|",
            "plot_click_rate",
            "HTML(alerts_html)",
            "dict(icon=",
            "week = ",
        ):
            assert code not in text, f"{rel}: shows code ({code})"


def test_cell_options_hide_outputs(project):
    text = all_pages(project)[DASHBOARD]
    assert "HIDDEN_OUTPUT_MARKER" not in text  # output: false
    assert "HIDDEN_INCLUDE_MARKER" not in text  # include: false
    assert "STDERR_MARKER" not in text  # warning: false (format: html in _quarto.yml)
    assert "&lt;Figure size" not in text and "<Figure size" not in text  # text/plain under a richer output
    assert "IPython.core.display" not in text


def test_value_boxes(project):
    boxes = soup(project / "_site" / DASHBOARD).select(".value-box")
    assert [b.select_one(".value-box-title").get_text() for b in boxes] == [
        "Click rate this week",
        "Purchases after a recommendation",
    ]
    assert [b.select_one(".value-box-value").get_text() for b in boxes] == ["2.1 %", "1250"]
    assert "bg-danger" in boxes[0]["class"] and "bg-success" in boxes[1]["class"]
    assert boxes[0].select_one(".value-box-icon")["class"] == ["value-box-icon", "bi", "bi-graph-down"]
    assert boxes[1].select_one(".bi-check-circle") is not None  # icon from the #| icon: option


@pytest.mark.parametrize("icon", ["hourglass", "hourglass-split", "bell", "bell-fill"])
def test_icons_the_fonts_lack_are_drawn_inline(icon):
    """The Overview's "not clear yet" boxes (hourglass) and its incidents box (bell): Debian's
    Chromium has no font with U+231B and showed an empty box. They are drawn as inline outlines in
    the text's colour; the other icons stay symbols the fonts have."""
    from stoffwechsel.site.markdown import value_box_html

    box = BeautifulSoup(value_box_html(title="t", value="v", icon=icon), "html.parser")
    shown = box.select_one(".value-box-icon")
    assert shown.select_one("svg path[d]") is not None and shown.select_one("svg")["fill"] == "currentColor"
    assert shown.get_text() == "" and "\u231b" not in str(box)
    symbol = BeautifulSoup(value_box_html(title="t", value="v", icon="graph-down"), "html.parser")
    assert symbol.select_one(".value-box-icon svg") is None
    assert symbol.select_one(".value-box-icon").get_text() == "\u2198"


def test_dashboard_layout(project):
    page = soup(project / "_site" / DASHBOARD)
    rows = page.select("main.dashboard > .dashboard-rows > .dashboard-row")
    assert len(rows) == 3
    assert rows[0].get("style") is None  # ## Row: as tall as its content
    assert rows[1].get("style") == "min-height: calc(0.4 * (100vh - 7rem))"  # ## Row {height=40%}
    assert rows[2].get("style") == "height: 300px"  # ## Row {height=300px}
    assert len(rows[0].select(".value-box")) == 2
    card_titles = [h.get_text() for h in page.select(".card-header")]
    assert card_titles == ["What needs attention", "Click rate per week", "Checks", "Plain result"]
    alerts = rows[1].select_one("#alerts")  # #| label: alerts
    assert alerts is not None and alerts.select_one(ALERT) is not None
    text_card = rows[1].select_one(".card-text")  # a markdown cell is a card of its row
    assert "clicks fell" in text_card.get_text()
    assert page.select_one(".dashboard-title-block .title").get_text() == "Recommendations this week"
    assert page.find("title").get_text() == "Recommendations this week \u2013 Stoffwechsel \u00b7 Test site"


def test_outputs(project):
    page = soup(project / "_site" / DASHBOARD)
    assert page.select_one("pre.cell-output-stdout").get_text() == "3 customer groups checked"
    assert page.select_one("pre.cell-output-display").get_text() == "'plain result 42'"
    assert page.select_one(".alert.provisional .provisional-badge") is not None  # raw text/html
    segments = soup(project / "_site/reports/notebooks/02_segments.html")
    assert segments.select_one("#title-block-header h1.title").get_text() == "Customer groups"
    assert segments.select_one("h2#trend-seekers").get_text() == "Trend Seekers"
    assert segments.select_one("h2#classic-buyers") is not None
    table = segments.select_one("table")  # text/markdown output converted
    assert [th.get_text() for th in table.select("th")] == ["Customer group", "Click rate"]
    assert segments.select_one("#trend-detail details.for-analysts") is not None  # #| label on a cell
    assert segments.select_one("main a[href='01_overview.html']") is not None  # .ipynb link rewritten


def test_images_are_inline(project):
    images = soup(project / "_site" / DASHBOARD).select("img")
    assert len(images) == 1
    img = images[0]
    assert img["alt"] == "Line chart of the weekly click rate"  # #| fig-alt
    prefix = "data:image/png;base64,"
    assert img["src"].startswith(prefix)
    assert base64.b64decode(img["src"][len(prefix) :]).startswith(b"\x89PNG\r\n\x1a\n")


def test_error_output_fails_the_render(tmp_path):
    root = copy_fixture("project", tmp_path)
    path = root / "reports/notebooks/02_segments.ipynb"
    nb = nbformat.read(str(path), as_version=4)
    nb.cells.append(
        nbformat.v4.new_code_cell(
            "1/0",
            outputs=[
                nbformat.v4.new_output("error", ename="ZeroDivisionError", evalue="division by zero", traceback=[])
            ],
        )
    )
    nbformat.write(nb, str(path))
    with pytest.raises(SiteRenderError, match=r"02_segments\.ipynb.*ZeroDivisionError"):
        build.render_site(root)


def test_navbar_link_to_a_page_not_rendered_fails(tmp_path):
    root = copy_fixture("project", tmp_path)
    config = yaml.safe_load((root / "_quarto.yml").read_text(encoding="utf-8"))
    config["website"]["navbar"]["left"].append({"href": "reports/notebooks/09_missing.ipynb", "text": "Missing"})
    (root / "_quarto.yml").write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    with pytest.raises(SiteRenderError, match="09_missing"):
        build.render_site(root)


def test_cell_options_and_value_literals():
    assert cell_options('#| content: valuebox\n#| title: "A: b"\n#| output: false\nx = 1\n#| late: 1') == {
        "content": "valuebox",
        "title": "A: b",
        "output": False,
    }
    assert cell_options("x = 1") == {}
    assert render._literal("{'value': np.float64(0.25), 'color': 'warning', 'n': -3}") == {
        "value": 0.25,
        "color": "warning",
        "n": -3,
    }
    with pytest.raises(ValueError):
        render._literal("{'value': os.system('x')}")


def test_build_site_falls_back_without_quarto(tmp_path, monkeypatch):
    root = copy_fixture("project", tmp_path)
    monkeypatch.setattr(build.shutil, "which", lambda name: None)
    monkeypatch.delenv("STOFFWECHSEL_SITE_RENDERER", raising=False)
    written = build.build_site(root)
    assert [p.relative_to(root / "_site").as_posix() for p in written] == sorted(PAGES)
    with pytest.raises(SiteRenderError, match="quarto"):
        build.build_site(root, renderer="quarto")


def test_project_navbar_points_at_rendered_notebooks():
    """The project's own _quarto.yml stays within what the fallback renderer supports."""
    config = yaml.safe_load((ROOT / "_quarto.yml").read_text(encoding="utf-8"))
    assert config["project"]["type"] == "website"
    render = config["project"]["render"]
    for item in config["website"]["navbar"].get("left", []):
        href = item["href"] if isinstance(item, dict) else item
        if href.endswith(".ipynb"):
            assert href in render, f"navbar links {href}, which project.render does not list"


# --- words and identifiers ------------------------------------------------------------------------


def test_forbidden_terms(project, tmp_path):
    out = project / "_site"
    assert scan.forbidden_terms_report(out) == []  # glossary page and analyst block are allowed
    in_glossary = scan.forbidden_terms_report(out, allowed_pages=())
    assert {h.page for h in in_glossary} == {"reports/notebooks/03_glossary.html"}
    in_analyst_block = scan.forbidden_terms_report(out, exclude_classes=())
    assert {h.page for h in in_analyst_block} == {"reports/notebooks/02_segments.html"}
    assert {"PSI", "NDCG", "segment_column", "metric_id", "CTR"} <= {h.term for h in in_analyst_block}

    leaky = copy_fixture("leaky", tmp_path)
    build.render_site(leaky)
    hits = scan.forbidden_terms_report(leaky / "_site")
    assert {(h.page, h.term) for h in hits} == {("reports/notebooks/01_leaky.html", "NDCG")}
    assert "The NDCG of the ranking dropped" in hits[0].context
    # whole words only, case-insensitive, plural included
    page = leaky / "_site" / "words.html"
    page.write_text("<p>psi-like? No: CTRs and p-values; but PSIRATE and xctr are fine.</p>", encoding="utf-8")
    found = {
        (h.term, h.context)
        for h in scan.forbidden_terms_report(leaky / "_site", terms=("CTR", "PSI", "p-value"))
        if h.page == "words.html"
    }
    assert {t for t, _ in found} == {"CTR", "PSI", "p-value"}
    assert len(found) == 3


def test_customer_ids(project, tmp_path):
    assert scan.customer_ids_report(project / "_site") == []
    leaky = copy_fixture("leaky", tmp_path)
    build.render_site(leaky)
    hits = scan.customer_ids_report(leaky / "_site")
    by_page = {(h.page, h.match) for h in hits}
    # the id inside the analyst block counts too: privacy has no exceptions
    assert {("reports/notebooks/01_leaky.html", "C0012345"), ("reports/notebooks/01_leaky.html", "C123456")} <= by_page


# --- in a browser -------------------------------------------------------------------------------


@needs_chromium
def test_dashboard_in_a_browser(project):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / "dashboard.png"
    shot.unlink(missing_ok=True)
    report = checks.inspect_page(project / "_site/index.html", [ALERT, ".value-box", "nav a.nav-link"], screenshot=shot)
    assert report["console_errors"] == []
    assert report["external_requests"] == []
    assert report["viewport"] == {"width": 1280, "height": 800}
    (alert,) = report["elements"]
    assert alert["visible"] and alert["in_first_viewport"], alert
    assert alert["rect"]["width"] > 100 and alert["rect"]["height"] > 20
    assert "Trend Seekers" in alert["text"]
    boxes = report["selectors"][".value-box"]
    assert len(boxes) == 2 and all(b["visible"] and b["in_first_viewport"] for b in boxes)
    assert [a["text"] for a in report["selectors"]["nav a.nav-link"]] == ["This week", "Customer groups", "Glossary"]
    assert report["screenshot"] == str(shot)
    assert shot.read_bytes().startswith(b"\x89PNG") and shot.stat().st_size > 5000


@needs_chromium
@pytest.mark.parametrize("page", PAGES[1:])
def test_pages_in_a_browser(project, page):
    report = checks.inspect_page(project / "_site" / page, ["h1.title", "img"])
    assert report["console_errors"] == [] and report["external_requests"] == []
    (title,) = report["elements"]
    assert title["visible"] and title["in_first_viewport"]


@needs_chromium
def test_browser_check_catches_problems(tmp_path):
    """The checker itself: console errors, failed loads, hidden and far-down elements are reported."""
    page = tmp_path / "broken.html"
    page.write_text(
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>t</title></head><body>"
        "<div class='x' style='display:none'>hidden</div>"
        "<div class='x' style='margin-top:2000px'>far down</div>"
        "<img src='missing.png' alt='missing'>"
        "<script>console.error('boom'); undefinedFunction();</script></body></html>",
        encoding="utf-8",
    )
    report = checks.inspect_page(page, ".x")
    errors = " | ".join(report["console_errors"])
    assert "boom" in errors and "undefinedFunction" in errors and "ERR_FILE_NOT_FOUND" in errors
    hidden, far = report["elements"]
    assert not hidden["visible"] and not hidden["in_first_viewport"]
    assert far["visible"] and not far["in_first_viewport"]
    assert json.dumps(report)  # plain data, storable as a report
