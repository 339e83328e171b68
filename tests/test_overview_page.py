"""The dashboard Overview is a page like the others (issue 15): it reads what the ``monitor`` stage
saved and recomputes nothing; the stage notebook computes and writes, and is no page of the site."""

from __future__ import annotations

import nbformat
import yaml

from conftest import ROOT

OVERVIEW = ROOT / "notebooks" / "pages" / "overview.ipynb"
MONITOR = ROOT / "notebooks" / "06_monitor.ipynb"
#: what computing the monitoring takes: none of it may run when the site shows the Overview
COMPUTES = ("run_monitoring", "load_materials", "write_outputs", "inject_shift")


def _code(path) -> str:
    return "\n".join(c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code")


def _front_matter(path) -> dict:
    raw = [c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "raw"]
    return yaml.safe_load(raw[0].strip().strip("-")) if raw else {}


def test_overview_reads_the_saved_outputs_and_recomputes_nothing():
    code = _code(OVERVIEW)
    assert "load_outputs(" in code
    assert [name for name in COMPUTES if name in code] == []
    assert "dashboard" in _front_matter(OVERVIEW)["format"]


def test_monitor_stage_computes_and_writes_and_draws_no_dashboard():
    code = _code(MONITOR)
    assert "run_monitoring(" in code and "write_outputs(" in code
    assert "dashboard" not in str(_front_matter(MONITOR).get("format", ""))
    assert "plot_" not in code and "valuebox" not in code


def test_the_site_opens_on_the_overview_and_does_not_render_the_stage_notebook():
    config = yaml.safe_load((ROOT / "_quarto.yml").read_text(encoding="utf-8"))
    page = "reports/notebooks/pages/overview.ipynb"
    assert config["project"]["render"][0] == page
    assert config["website"]["navbar"]["left"][0] == {"href": page, "text": "Overview"}
    assert not [p for p in config["project"]["render"] if MONITOR.stem in p]
