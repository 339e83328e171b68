"""The post-render step of Quarto's output (stoffwechsel.site.postrender), on a small made-up site
shaped like Quarto's: module scripts inlined (with their imports bundled), duplicate files
repointed, unused site_libs deleted, the index redirect written; a second run changes nothing.
Real Quarto output is checked in tests/test_site_browser.py."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from stoffwechsel.site import postrender

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "site" / "project"

PAGE = """<!DOCTYPE html><html><head>
<script src="../../site_libs/quarto-html/quarto.js" type="module"></script>
<script src="../../site_libs/quarto-html/tabsets/tabsets.js" type="module"></script>
<script src="../../site_libs/bootstrap/bootstrap.min.js"></script>
<link href="../../site_libs/bootstrap/bootstrap.min.css" rel="stylesheet">
<link href="../../site_libs/bootstrap/bootstrap-dark.min.css" rel="stylesheet" class="quarto-color-alternate">
</head><body><main><p>Hello</p></main></body></html>
"""


def make_site(root: Path) -> Path:
    shutil.copytree(FIXTURE, root)
    out = root / "_site"
    libs = out / "site_libs"
    (libs / "quarto-html" / "tabsets").mkdir(parents=True)
    (libs / "bootstrap").mkdir(parents=True)
    (libs / "quarto-dashboard").mkdir(parents=True)
    (libs / "quarto-html" / "quarto.js").write_text(
        'import * as tabsets from "./tabsets/tabsets.js";\nconst x = "</script>";\ntabsets.init();\n', encoding="utf-8"
    )
    (libs / "quarto-html" / "tabsets" / "tabsets.js").write_text(
        "// tabsets\nexport function init() {\n  window.TABSETS = (window.TABSETS || 0) + 1;\n}\n"
        "export const kind = 'tabs';\n",
        encoding="utf-8",
    )
    (libs / "bootstrap" / "bootstrap.min.js").write_text("window.BS = 1;\n", encoding="utf-8")
    css = "body{color:red}@font-face{src:url(./bootstrap-icons.woff?x=1) format('woff')}\n"
    (libs / "bootstrap" / "bootstrap.min.css").write_text(css, encoding="utf-8")
    (libs / "bootstrap" / "bootstrap-dark.min.css").write_text(css, encoding="utf-8")  # same bytes
    (libs / "bootstrap" / "bootstrap-icons.woff").write_bytes(b"wOFF")
    (libs / "quarto-dashboard" / "pdfmake.min.js").write_text("/* 1.3 MB nobody loads */", encoding="utf-8")
    (out / "search.json").write_text("[]", encoding="utf-8")
    for rel in ("reports/notebooks/01_overview.html", "reports/notebooks/02_segments.html"):
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        (out / rel).write_text(PAGE, encoding="utf-8")
    return out


def test_finish_site_inlines_modules_and_drops_unused_files(tmp_path):
    out = make_site(tmp_path / "project")
    report = postrender.finish_site(out, tmp_path / "project")
    page = (out / "reports/notebooks/01_overview.html").read_text(encoding="utf-8")
    assert 'src="../../site_libs/quarto-html/quarto.js"' not in page and 'type="module" src=' not in page
    assert "const tabsets = (() => {" in page and "return {init, kind};" in page  # import bundled
    assert (
        "function init()" in page
        and "export function" not in page.split("tabsets.js, bundled")[1].split("</script>")[0]
    )
    assert "<\\/script>" in page  # a "</script>" inside the code cannot end the inline script
    assert 'href="../../site_libs/bootstrap/bootstrap.min.css" rel="stylesheet" class="quarto-color-alternate"' in page
    assert '<script src="../../site_libs/bootstrap/bootstrap.min.js"></script>' in page  # classic scripts stay
    assert sorted(report.deleted) == [
        "search.json",
        "site_libs/bootstrap/bootstrap-dark.min.css",
        "site_libs/quarto-dashboard/pdfmake.min.js",
        "site_libs/quarto-html/quarto.js",
        "site_libs/quarto-html/tabsets/tabsets.js",
    ]
    assert (out / "site_libs/bootstrap/bootstrap-icons.woff").is_file()  # loaded by a kept stylesheet
    assert not (out / "site_libs/quarto-dashboard").exists()  # empty folders go too
    assert "URL='reports/notebooks/01_overview.html'" in (out / "index.html").read_text(encoding="utf-8")
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    again = postrender.finish_site(out, tmp_path / "project")
    assert again.inlined == [] and again.deleted == []
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before  # idempotent


@pytest.mark.parametrize(
    "code, message",
    [
        ('import { init } from "./tabsets/tabsets.js";\n', "import form"),
        ('import * as t from "https://cdn.example.org/t.js";\n', "not a relative file"),
        ('import * as t from "./missing.js";\n', "does not exist"),
    ],
)
def test_unbundlable_imports_fail_naming_file_and_line(tmp_path, code, message):
    module = tmp_path / "quarto.js"
    (tmp_path / "tabsets").mkdir()
    (tmp_path / "tabsets" / "tabsets.js").write_text("export function init() {}\n", encoding="utf-8")
    module.write_text("// first line\n" + code, encoding="utf-8")
    with pytest.raises(postrender.PostRenderError, match=message) as err:
        postrender.bundle_module(module)
    assert "quarto.js:2" in str(err.value)


def test_unbundlable_export_fails(tmp_path):
    (tmp_path / "dep.js").write_text("function a() {}\nexport default a;\n", encoding="utf-8")
    (tmp_path / "main.js").write_text('import * as dep from "./dep.js";\n', encoding="utf-8")
    with pytest.raises(postrender.PostRenderError, match=r"dep\.js:2: an export form"):
        postrender.bundle_module(tmp_path / "main.js")


def test_card_attributes_come_out_in_one_order():
    """Quarto wrote a dashboard card's data-title and data-fill in either order between two renders
    of the same data, so `_site`'s md5 in dvc.lock changed (tests/test_stage_grain.py caught it)."""
    from stoffwechsel.site.postrender import _stable_card_attributes

    one = '<div class="card cell" data-title="Alerts &gt; 2" data-fill="false" data-bslib-card-init="">'
    other = '<div class="card cell" data-fill="false" data-title="Alerts &gt; 2" data-bslib-card-init="">'
    assert one != other and _stable_card_attributes(one) == _stable_card_attributes(other)
    assert _stable_card_attributes(one).startswith('<div class="card cell" data-bslib-card-init=""')
    plain = '<div class="cell" data-title="x" data-fill="false">'  # not a card: left alone
    assert _stable_card_attributes(plain) == plain
