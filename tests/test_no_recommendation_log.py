"""A shop without a recommendation log (issue 25, point 5): the monitor stage writes a "waiting"
state instead of stopping, targets 5 and 6 say in words that they wait for the log, and the
site's monitoring pages are replaced by a page saying so, which links the pages that work
without it. The whole path through DVC (monitor, verify, site, in a browser) is
tests/test_dashboard.py::test_without_a_recommendation_log_the_site_shows_the_model_side."""

from __future__ import annotations

import json
import re
from types import SimpleNamespace

import nbformat
import pandas as pd
import pytest

from conftest import ROOT
from stoffwechsel import config, verification
from stoffwechsel.data.contract import load_materials
from stoffwechsel.monitoring.params import MonitorParams
from stoffwechsel.monitoring.results import OUTPUT_TABLES, WAITING, load_outputs, write_outputs
from stoffwechsel.monitoring.run import run_monitoring
from stoffwechsel.monitoring.wording import MONITORING_WAITS
from stoffwechsel.site import pages


@pytest.fixture(scope="module")
def no_log():
    """The committed materials with every recommendation taken out (the header stays)."""
    m = load_materials(ROOT / "materials")
    return SimpleNamespace(recommendations=m.recommendations.iloc[:0], customers=m.customers, products=m.products)


def test_monitoring_without_a_log_writes_the_waiting_state(no_log, tmp_path):
    result = run_monitoring(no_log, config.load_params("monitor"))
    assert result.waiting and result.alerts == [] and result.incidents == []
    assert result.summary["status"] == WAITING and result.summary["message"] == MONITORING_WAITS
    written = write_outputs(result, tmp_path / "a")
    assert set(written) >= {"alerts.json", "summary.json", *(name for name, _ in OUTPUT_TABLES.values())}
    back = load_outputs(tmp_path / "a")
    assert back.waiting and back.export_time is None and back.current is None
    for attr, (name, key) in OUTPUT_TABLES.items():
        frame = getattr(back, attr)
        assert frame.empty and list(frame.columns) == key, name
    # the same bytes again (the files are DVC outputs)
    write_outputs(run_monitoring(no_log, config.load_params("monitor")), tmp_path / "b")
    for name in written:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    # a real log is never "waiting" (the committed summary; the tables are DVC's, absent in a fresh clone)
    assert json.loads((ROOT / "reports" / "monitoring" / "summary.json").read_text()).get("status") is None


def test_targets_5_and_6_wait_for_the_log_in_words(no_log, tmp_path):
    write_outputs(run_monitoring(no_log, config.load_params("monitor")), tmp_path / "reports" / "monitoring")
    check = verification.planted_check(tmp_path, no_log, config.load_params("verify"))
    assert not check.planted and check.evidence["recommendation_log"] is False
    t5 = verification.target_visible_alert(tmp_path, None, None, check)
    t6 = verification.target_segments_differ(tmp_path, planted=check)
    for target in (t5, t6):
        assert target.status == verification.NOT_CHECKED, target.evidence
        assert MONITORING_WAITS in target.evidence["why"]
        assert target.evidence["run"] == verification.ADD_THE_LOG
        assert config.RECOMMENDATIONS_FILE in target.evidence["run"]
    # with a log, the reason to run is another one
    m = load_materials(ROOT / "materials")
    few = SimpleNamespace(recommendations=m.recommendations.iloc[:50], customers=m.customers, products=m.products)
    settings = config.load_params("verify") | {"plant_min_recommendations": 10**6}
    other = verification.planted_check(tmp_path, few, settings)
    assert other.evidence["recommendation_log"] is True
    assert verification.target_visible_alert(tmp_path, None, None, other).evidence["run"] != verification.ADD_THE_LOG


@pytest.mark.parametrize("name", pages.MONITORING_PAGES)
def test_each_monitoring_page_has_a_waiting_page(name, tmp_path):
    source = config.NOTEBOOKS_DIR / "pages" / f"{name}.ipynb"
    nb = pages.waiting_page(source)
    assert [c.cell_type for c in nb.cells] == ["raw", "markdown"]  # nothing to execute
    title = re.search(r"^title: (.+)$", nbformat.read(source, as_version=4).cells[0].source, re.M).group(1)
    assert json.loads(nb.cells[0].source.splitlines()[1].removeprefix("title: ")) == json.loads(title)
    text = nb.cells[1].source
    first, rest = MONITORING_WAITS.split(": ", 1)
    assert f"**{first}.**" in text and rest[1:] in text
    assert config.RECOMMENDATIONS_FILE in text
    links = re.findall(r"\]\(([^)]+)\)", text)
    assert len(links) == len(pages.PAGES_WITHOUT_MONITORING) == 4
    for href in links:  # every linked page exists and is not a monitoring page itself
        assert (config.NOTEBOOKS_DIR / "pages" / href).resolve().is_file(), href
        assert not any(href == f"{p}.ipynb" for p in pages.MONITORING_PAGES), href
    nbformat.validate(nb)


def test_the_site_knows_when_monitoring_waits(no_log, tmp_path):
    assert not pages.monitoring_waits(tmp_path)  # the monitor stage has not run
    assert not pages.monitoring_waits(ROOT)  # the committed materials have a log
    write_outputs(run_monitoring(no_log, MonitorParams()), tmp_path / "reports" / "monitoring")
    assert pages.monitoring_waits(tmp_path)
    summary = json.loads((tmp_path / "reports" / "monitoring" / "summary.json").read_text())
    assert pd.Series(summary["alerts"]).eq(0).all()


def test_the_python_renderer_draws_the_waiting_callout_as_quarto_does():
    from stoffwechsel.site.markdown import Ids, Markdown

    page = pages.waiting_page(config.NOTEBOOKS_DIR / "pages" / "overview.ipynb")
    html = Markdown(Ids()).render(page.cells[1].source)
    assert re.search(r'<div class="callout callout-note">\s*<p><strong>Monitoring starts once', html), html
    assert Markdown(Ids()).render("::: {.callout .callout-tip}\nx\n:::\n").count("callout") == 2  # no second base class
