"""The fixture site rendered by BOTH renderers (real Quarto and the Python fallback), measured in
headless Chromium (stoffwechsel.site.checks): alerts readable and apart, value boxes not clipped,
navbar on one line or collapsed, nothing loaded from the network, no console errors, from file://
and from a static server on 127.0.0.1, at 1280x800 and 1920x1080; and both renderings show the
same words in the same order. Screenshots: reports/test-artifacts/site-<renderer>/."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from stoffwechsel.site import build, checks, project
from stoffwechsel.site.browser import Browser, find_chromium

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = Path(__file__).resolve().parent / "fixtures" / "site" / "project"
ARTIFACTS = ROOT / "reports" / "test-artifacts"
CONTENT_PAGES = [
    "reports/notebooks/01_overview.html",
    "reports/notebooks/02_segments.html",
    "reports/notebooks/03_glossary.html",
]

needs_chromium = pytest.mark.skipif(
    find_chromium() is None,
    reason=("no Chromium binary: install the Debian package 'chromium' or set CHROME_BIN; CI installs it"),
)
needs_quarto = pytest.mark.skipif(
    build.find_quarto() is None,
    reason=("quarto is not on PATH: install Quarto (CI: bash ../shared/quarto/install-quarto PREFIX, as .ci/run does)"),
)
RENDERERS = [pytest.param("python"), pytest.param("quarto", marks=needs_quarto)]
#: Quarto's classic scripts that its pages load from site_libs (module scripts are inlined)
KEPT_SCRIPTS = (
    "quarto-nav.js",
    "headroom.min.js",
    "clipboard.min.js",
    "popper.min.js",
    "tippy.umd.min.js",
    "anchor.min.js",
    "bootstrap.min.js",
    "quarto-dashboard.js",
    "stickythead.js",
    "components.js",
)


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    """{renderer: site folder}, rendered on first use."""
    done: dict[str, Path] = {}

    def get(renderer: str) -> Path:
        if renderer not in done:
            root = tmp_path_factory.mktemp(f"site-{renderer}") / "project"
            shutil.copytree(FIXTURE, root)
            shutil.copy2(ROOT / "site.css", root / "site.css")
            shutil.copy2(ROOT / "_post_render.py", root / "_post_render.py")
            build.build_site(root, renderer=renderer)
            done[renderer] = root / "_site"
        return done[renderer]

    return get


@pytest.fixture(scope="module")
def browser():
    if find_chromium() is None:
        pytest.skip("no Chromium binary")
    with Browser() as b:
        yield b


@pytest.mark.parametrize("renderer", RENDERERS)
def test_renderer_writes_every_page_and_the_redirect(rendered, renderer):
    out = rendered(renderer)
    for rel in CONTENT_PAGES:
        assert (out / rel).is_file(), rel
    assert "content=\"0;URL='reports/notebooks/01_overview.html'\"" in (out / "index.html").read_text(encoding="utf-8")


@pytest.mark.parametrize("renderer", RENDERERS)
def test_no_cdn_or_network_resources(rendered, renderer):
    for page in rendered(renderer).rglob("*.html"):
        text = page.read_text(encoding="utf-8")
        for needle in (
            'src="http',
            "src='http",
            'href="http://',
            "cdnjs",
            "unpkg.com",
            "require.min.js",
            "jquery.min.js",
        ):
            assert needle not in text, f"{renderer}: {page.name} holds {needle}"


@needs_quarto
def test_plain_quarto_render_gives_a_small_offline_site(tmp_path):
    """`quarto render` alone (as a user runs it) runs the project's post-render script: module
    scripts inlined (a browser refuses them from file://), unused site_libs gone, the redirect
    written, every local link and resource present."""
    root = tmp_path / "project"
    shutil.copytree(FIXTURE, root)
    for name in ("site.css", "_post_render.py"):
        shutil.copy2(ROOT / name, root / name)
    env = {
        **os.environ,
        "QUARTO_PYTHON": sys.executable,
        "PYTHONPATH": os.pathsep.join([str(ROOT / "lib"), os.environ.get("PYTHONPATH", "")]),
    }
    proc = subprocess.run([build.find_quarto(), "render"], cwd=root, capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = root / "_site"
    assert "post-render: 7 module scripts inlined" in proc.stdout + proc.stderr
    assert "URL='reports/notebooks/01_overview.html'" in (out / "index.html").read_text(encoding="utf-8")
    files = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()}
    assert not [
        f
        for f in files
        if re.search(r"pdfmake|vfs_fonts|datatables|quarto-search|search\.json|-dark-.*\.min\.css|\.js$", f)
        and not f.endswith(KEPT_SCRIPTS)
    ]
    assert sum((out / f).stat().st_size for f in files) < 1_500_000
    for page in out.rglob("*.html"):
        text = page.read_text(encoding="utf-8")
        assert not re.search(r"<script[^>]*type=\"module\"[^>]*src=", text), page
        for url in re.findall(r"""\s(?:src|href)=["']([^"'#?]+)""", text):
            if not re.match(r"^[a-z]+:", url):
                assert (page.parent / url).exists(), f"{page.name} refers to {url}, which is not in the site"


@needs_chromium
@pytest.mark.parametrize("renderer", RENDERERS)
def test_pages_in_a_browser(rendered, renderer, browser):
    """Measured: every defect of issue 14 would show up here as a problem, error or request."""
    results = checks.check_site(rendered(renderer), screenshots=ARTIFACTS / f"site-{renderer}", browser=browser)
    assert {(c.source, c.viewport) for c in results} == {(s, v) for s in ("file", "http") for v in checks.VIEWPORTS}
    failed = [
        (c.page, c.source, c.viewport, c.problems, c.console_errors, c.external_requests) for c in results if not c.ok
    ]
    assert failed == []
    dashboard = [c for c in results if c.page == CONTENT_PAGES[0]]
    assert all(len(c.measured["alerts"]) == 2 and len(c.measured["value_boxes"]) == 2 for c in dashboard)
    assert all(not c.measured["navbar"]["title_cut"] for c in results if c.measured.get("navbar"))


@needs_chromium
@needs_quarto
@pytest.mark.parametrize("page", CONTENT_PAGES)
def test_both_renderers_show_the_same_words(rendered, browser, page):
    quarto = checks.visible_text(browser, rendered("quarto") / page)
    python = checks.visible_text(browser, rendered("python") / page)
    assert quarto == python


@needs_chromium
def test_checks_catch_squeezed_alerts_clipped_boxes_and_network(tmp_path, browser):
    """The checker itself, on a page with each defect the issue describes."""
    page = tmp_path / "broken.html"
    page.write_text(
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>t</title>"
        "<script src='https://cdnjs.example.org/jquery.min.js'></script></head><body>"
        "<nav class='navbar'><a class='navbar-brand' "
        "style='display:block;width:60px;overflow:hidden;white-space:nowrap'>"
        "Stoffwechsel · Recommendations</a></nav><main>"
        "<div><div class='alert' style='height:20px'>Line one of a long alert<br>line two<br>line three</div>"
        "<div class='alert' style='margin-top:-10px'>second alert overlapping the first</div></div>"
        "<div class='value-box' style='height:30px;overflow:hidden'><p>7.7</p><p>(-12%) provisional</p></div>"
        "<div class='card-body' style='display:flex;flex-direction:column;height:60px'>"
        "<div style='flex:1 1 0;min-height:0'>Test mode note<br>line two<br>line three<br>line four</div>"
        "<div>alerts</div></div>"
        "<p>Enough text on this page to count as a page.</p></main></body></html>",
        encoding="utf-8",
    )
    (check,) = checks.check_site(tmp_path, viewports=[(1280, 800)], sources=["file"], browser=browser)
    text = " | ".join(check.problems)
    assert "alert shorter than its text" in text
    assert "overlapping boxes" in text
    assert "value box text clipped" in text and "provisional" in text
    assert "navbar title cut" in text
    assert "squeezed" in text and "Test mode note" in text
    assert check.external_requests == ["https://cdnjs.example.org/jquery.min.js"]
    assert any("ERR_NAME_NOT_RESOLVED" in e for e in check.console_errors)  # the network is off


def test_renderer_choice(monkeypatch, tmp_path):
    monkeypatch.setattr(build, "find_quarto", lambda: None)
    monkeypatch.delenv(build.RENDERER_ENV, raising=False)
    assert build.choose_renderer() == "python"
    monkeypatch.setenv(build.RENDERER_ENV, "quarto")
    with pytest.raises(project.SiteRenderError, match="not on PATH"):
        build.choose_renderer()
    assert build.choose_renderer("python") == "python"  # the option wins over the variable
    monkeypatch.setattr(build, "find_quarto", lambda: "/usr/bin/quarto")
    assert build.choose_renderer() == "quarto"
    monkeypatch.setenv(build.RENDERER_ENV, "python")
    assert build.choose_renderer() == "python"  # the variable wins over auto
    monkeypatch.setenv(build.RENDERER_ENV, "latex")
    with pytest.raises(project.SiteRenderError, match="STOFFWECHSEL_SITE_RENDERER"):
        build.choose_renderer()


def test_cli_honours_the_environment_variable(monkeypatch, tmp_path):
    """`STOFFWECHSEL_SITE_RENDERER=python stoffwechsel build-site` uses the Python renderer even
    where Quarto is installed (the CLI's default no longer overrides the variable)."""
    from typer.testing import CliRunner

    from stoffwechsel import cli, config

    root = tmp_path / "project"
    shutil.copytree(FIXTURE, root)
    shutil.copy2(ROOT / "site.css", root / "site.css")
    shutil.copy2(ROOT / "_post_render.py", root / "_post_render.py")
    monkeypatch.setattr(config, "ROOT", root)
    monkeypatch.setattr(build, "find_quarto", lambda: "/nonexistent/quarto")  # would fail if used
    monkeypatch.setenv(build.RENDERER_ENV, "python")
    result = CliRunner().invoke(cli.app, ["build-site", "--no-pages"])
    assert result.exit_code == 0, result.output
    assert "with the python renderer" in result.output
    assert (root / "_site" / CONTENT_PAGES[0]).is_file()
