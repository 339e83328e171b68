"""`dvc plots` (issue 17): one line per model per metric, segments as bars, and a page that
renders offline (Vega, Vega-Lite and Vega-Embed vendored, loaded by relative path)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from conftest import ROOT
from stoffwechsel.model import assessment

TEMPLATES = ROOT / ".dvc" / "plots"
VENDOR = ROOT / "vendor" / "vega"
LIBRARIES = ("vega.min.js", "vega-lite.min.js", "vega-embed.min.js")


def train_plots() -> dict[str, dict]:
    stage = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]["train"]
    return {path: props for entry in stage["plots"] for path, props in entry.items()}


def test_plot_definitions_use_the_project_templates_on_the_tidy_files():
    plots = train_plots()
    assert set(plots) == {"reports/metrics/metrics_vs_k.csv", "reports/metrics/segments.csv"}
    for path, props in plots.items():
        template = json.loads((TEMPLATES / f"{props['template']}.json").read_text())
        text = json.dumps(template)
        assert '"<DVC_METRIC_DATA>"' in text, f"{props['template']}: DVC fills its data anchor"
        header = (ROOT / path).read_text().splitlines()[0].split(",")
        assert {props["x"], props["y"], "model", "metric"} <= set(header), (path, header)
    lines = json.loads((TEMPLATES / "metrics_by_model.json").read_text())
    assert lines["facet"]["field"] == "metric"  # one panel per metric ...
    assert lines["spec"]["encoding"]["color"]["field"] == "model"  # ... one line per model
    bars = json.loads((TEMPLATES / "segments_by_model.json").read_text())
    assert bars["spec"]["layer"][0]["mark"]["type"] == "bar"
    shown = [t["filter"]["equal"] for t in bars["transform"] if "filter" in t]
    assert shown == [assessment.BASELINE_CHOSEN_BY], "the bars show the headline metric the pages lead with"


def test_the_page_template_loads_the_vendored_libraries_not_a_cdn():
    config = (ROOT / ".dvc" / "config").read_text()
    assert "html_template = plots/offline.html" in config
    page = (TEMPLATES / "offline.html").read_text()
    assert "{plot_divs}" in page and "{scripts}" not in page, "DVC puts its CDN <script> tags where {scripts} stands"
    for name in LIBRARIES:
        assert f'src="../vendor/vega/{name}"' in page
        assert (VENDOR / name).stat().st_size > 10_000
    for name in ("LICENSE-vega", "LICENSE-vega-lite", "LICENSE-vega-embed"):
        assert "Redistribution and use in source and binary forms" in (VENDOR / name).read_text()


@pytest.fixture(scope="module")
def plots_page(tmp_path_factory) -> Path:
    """`dvc plots show` in a copy holding only what the plots need."""
    work = tmp_path_factory.mktemp("plots")
    for rel in ("dvc.yaml", "params.yaml", ".dvc/config", ".dvc/plots", "vendor/vega", *train_plots()):
        src, dest = ROOT / rel, work / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        (shutil.copytree if src.is_dir() else shutil.copy)(src, dest)
    dvc = str(Path(shutil.which("dvc") or ROOT / ".venv" / "bin" / "dvc"))
    subprocess.run(["git", "init", "-q"], cwd=work, check=True)
    proc = subprocess.run([dvc, "plots", "show"], cwd=work, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    page = work / "dvc_plots" / "index.html"
    html = page.read_text()
    assert "cdn.jsdelivr" not in html and "https://" not in html.split("<body>")[0]
    return page


def test_dvc_plots_page_renders_offline(plots_page):
    from stoffwechsel.site.browser import Browser, find_chromium

    if find_chromium() is None:
        pytest.skip("no Chromium (the Debian package 'chromium')")
    with Browser() as browser:
        tab = browser.open(plots_page, viewport=(1100, 1300), settle=1.0)
        drawn = tab.evaluate("document.querySelectorAll('canvas, svg.marks').length")
        titles = tab.evaluate("Array.from(document.querySelectorAll('div[id]')).map(d => d.id)")
        assert tab.console_errors() == [] and tab.external_requests() == []
    assert drawn == 2, f"both plots drawn (vega-embed canvas per plot), got {drawn} in {titles}"
