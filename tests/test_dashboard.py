"""The dashboard in a real browser (verification targets 5 and 7), privacy, offline use.

Runs on the site the pipeline built in the session's clone, and on three variants of it: with a
simulated shift injected (its alert must show in the first viewport), on materials simulated
without drift (no alert at all), and without a recommendation log (the model side only)."""

from __future__ import annotations

import json
import re
import shutil
import sys
from pathlib import Path

import pytest
import yaml
from bs4 import BeautifulSoup

from conftest import ROOT, run
from stoffwechsel.config import RECOMMENDATIONS_FILE
from stoffwechsel.monitoring.results import WAITING
from stoffwechsel.monitoring.wording import MONITORING_WAITS
from stoffwechsel.site import build, checks, scan
from stoffwechsel.site.browser import find_chromium

pytestmark = pytest.mark.pipeline
ARTIFACTS = ROOT / "reports" / "test-artifacts"
needs_browser = pytest.mark.skipif(find_chromium() is None, reason="no chromium (CI installs Debian's chromium)")
needs_quarto = pytest.mark.skipif(build.find_quarto() is None, reason="quarto is not on PATH (CI installs it: .ci/run)")
RENDERERS = [pytest.param("python"), pytest.param("quarto", marks=needs_quarto)]


def _variant(pipeline_clone: Path, dest: Path, monitor_params: dict | None = None, no_drift: bool = False) -> Path:
    shutil.copytree(pipeline_clone, dest, symlinks=True)
    if monitor_params:
        params = yaml.safe_load((dest / "params.yaml").read_text())
        params["monitor"].update(monitor_params)
        (dest / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    if no_drift:
        run([sys.executable, "-m", "stoffwechsel", "simulate", "--out", "materials", "--no-drift"], dest)
    run(["dvc", "repro", "--single-item", "monitor"], dest)
    run(["dvc", "repro", "--single-item", "site"], dest)
    return dest


@pytest.fixture(scope="module")
def shifted(pipeline_clone, tmp_path_factory):
    return _variant(pipeline_clone, tmp_path_factory.mktemp("shifted") / "repo", {"inject_enabled": True})


@pytest.fixture(scope="module")
def calm(pipeline_clone, tmp_path_factory):
    return _variant(pipeline_clone, tmp_path_factory.mktemp("calm") / "repo", no_drift=True)


@pytest.fixture(scope="module")
def without_log(pipeline_clone, tmp_path_factory):
    """The clone's materials with the recommendation log emptied (its header stays), as a shop that
    has not deployed recommendations yet sends them: monitor, verify and site run again (the site
    with the Python renderer: the renderers' equality is the other tests' business)."""
    dest = tmp_path_factory.mktemp("nolog") / "repo"
    shutil.copytree(pipeline_clone, dest, symlinks=True)
    log = dest / "materials" / RECOMMENDATIONS_FILE
    log.write_bytes(log.read_bytes().splitlines(keepends=True)[0])
    for stage in ("monitor", "verify", "site"):
        run(["dvc", "repro", "--single-item", stage], dest, STOFFWECHSEL_SITE_RENDERER="python")
    return dest


def _main_text(page: Path) -> str:
    soup = BeautifulSoup(page.read_text(encoding="utf-8"), "html.parser")
    return " ".join((soup.find("main") or soup.body).get_text(" ").split())


def _output_texts(notebook: Path) -> list[str]:
    """The texts an executed notebook shows (markdown, plain text, streams; not figures' bytes)."""
    nb = json.loads(notebook.read_text(encoding="utf-8"))
    texts = []
    for cell in nb["cells"]:
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            texts += ["".join(data[k]) for k in ("text/markdown", "text/plain") if k in data]
            texts += ["".join(out["text"])] if "text" in out else []
    return texts


def test_without_a_recommendation_log_the_site_shows_the_model_side(pipeline_clone, without_log):
    """Issue 25, point 5: verify and site run; the monitoring pages say that monitoring starts once
    a log is supplied; the Model, Data quality and Glossary pages are the ones the clone shows."""
    summary = json.loads((without_log / "reports" / "monitoring" / "summary.json").read_text())
    assert summary["status"] == WAITING and summary["alerts"]["total"] == 0
    site = without_log / "_site"
    pages_dir = site / "reports" / "notebooks" / "pages"
    assert len(sorted(site.rglob("*.html"))) == 8  # index + 7 pages, as with a log
    first = MONITORING_WAITS.split(":")[0]
    for name in ("overview", "segments", "arriving"):
        text = _main_text(pages_dir / f"{name}.html")
        assert first in text and "Model" in text and "Verification" in text, (name, text[:300])
    for name in ("model", "quality", "glossary"):  # the same page as with a log
        mine = _main_text(pages_dir / f"{name}.html")
        assert first not in mine and len(mine) > 200, name
        executed = Path("reports") / "notebooks" / "pages" / f"{name}.ipynb"
        assert _output_texts(without_log / executed) == _output_texts(pipeline_clone / executed), name
    record = {t["id"]: t for t in json.loads((without_log / "reports" / "verification.json").read_text())}
    before = {t["id"]: t for t in json.loads((pipeline_clone / "reports" / "verification.json").read_text())}
    for target in (5, 6):
        assert record[target]["status"] == "not checked", record[target]
        assert record[target]["evidence"]["run"].startswith("add the recommendation log")
    assert {i: t["status"] for i, t in record.items() if i not in (5, 6)} == {
        i: t["status"] for i, t in before.items() if i not in (5, 6)
    }
    verify_page = _main_text(site / "reports" / "notebooks" / "07_verify.html")
    assert "add the recommendation log" in verify_page and first in verify_page
    if find_chromium() is not None:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page = checks.inspect_page(
            (site / "index.html").resolve(), "main", screenshot=ARTIFACTS / "dashboard-without-log.png"
        )
        assert page["console_errors"] == [] and page["external_requests"] == []
        assert first in page["elements"][0]["text"] and page["elements"][0]["in_first_viewport"]


def test_site_pages_exist_and_load_nothing_from_the_network(pipeline_clone):
    pages = sorted((pipeline_clone / "_site").rglob("*.html"))
    assert len(pages) == 8  # index + 7 pages
    for page in pages:
        text = page.read_text(encoding="utf-8")
        assert not re.search(r"""\s(?:src|href)=["'](?:https?:)?//""", text), page  # nothing from the network
        assert not re.search(r"""<script[^>]*type=["']module["'][^>]*src=""", text), page  # modules fail from file://
    size = sum(p.stat().st_size for p in (pipeline_clone / "_site").rglob("*") if p.is_file())
    assert size < 5 * 1024 * 1024


def test_rendering_leaves_the_repository_clean(pipeline_clone):
    """`dvc repro` (Quarto's render included, where Quarto is installed) changes no tracked file
    but the lock and the reports, and leaves nothing untracked that .gitignore does not cover."""
    status = run(["git", "status", "--porcelain", "--untracked-files=all"], pipeline_clone).stdout.splitlines()
    dirty = [line for line in status if not line[3:].startswith(("dvc.lock", "reports/"))]
    assert dirty == []


def test_dashboard_speaks_business_language(pipeline_clone):
    """Target 7: no raw technical term outside the glossary page and the analysts' details."""
    hits = scan.forbidden_terms_report(pipeline_clone / "_site")  # the glossary's TECHNICAL_TERMS
    assert hits == [], [(h.page, h.term, h.context) for h in hits]
    glossary_page = (pipeline_clone / "_site" / "reports" / "notebooks" / "pages" / "glossary.html").read_text()
    assert "CTR" in glossary_page  # the raw terms do live on the glossary page


def test_site_holds_no_customer_ids(pipeline_clone, shifted):
    for root in (pipeline_clone, shifted):
        assert scan.customer_ids_report(root / "_site") == []


def test_injected_shift_raises_its_alert(shifted):
    alerts = json.loads((shifted / "reports" / "monitoring" / "alerts.json").read_text())
    alerts = alerts["alerts"] if isinstance(alerts, dict) else alerts
    hit = [a for a in alerts if a["segment_column"] == "segment" and a["segment"] == "Bargain Hunters"]
    assert hit and hit[0]["onset"] >= "2026-02-09"
    assert {
        "segment_column",
        "segment",
        "metric",
        "onset",
        "onset_low",
        "onset_high",
        "expected",
        "estimate",
        "change_low",
        "change_high",
        "severity",
        "message",
    } <= set(hit[0])
    # told once, as the most urgent incident, with no cause the data does not show
    incidents = json.loads((shifted / "reports" / "monitoring" / "alerts.json").read_text())["incidents"]
    assert incidents[0]["headline"].startswith("Bargain Hunters click") and incidents[0]["cause"] == ""


@needs_browser
@pytest.mark.parametrize("renderer", RENDERERS)
def test_injected_shift_alert_is_visible_in_the_first_viewport(shifted, renderer, tmp_path):
    """Target 5: the shifted segment's alert is on the first screen of the dashboard, rendered by
    each renderer; every page passes the measured browser checks (stoffwechsel.site.checks)."""
    out = tmp_path / "_site"
    build.build_site(shifted, renderer=renderer, output_dir=out)
    shots = ARTIFACTS / f"dashboard-shift-{renderer}"
    shots.mkdir(parents=True, exist_ok=True)
    page = checks.inspect_page(
        (out / "index.html").resolve(),
        '.alert[data-segment="Bargain Hunters"]',
        screenshot=shots / "first-viewport.png",
    )
    assert page["console_errors"] == [] and page["external_requests"] == []
    assert page["elements"], "no alert element for Bargain Hunters"
    alert = page["elements"][0]
    assert alert["visible"] and alert["in_first_viewport"], alert
    assert alert["rect"]["width"] > 0 and alert["rect"]["height"] > 0
    assert "incident" in alert["attributes"].get("class", "") and "Groups inside" in alert["text"]
    # honest tiles: no value box that is "not clear yet" is green or carries a check mark
    boxes = checks.inspect_page((out / "index.html").resolve(), ".value-box, .bslib-value-box")["elements"]
    unclear = [b for b in boxes if "not clear yet" in b["text"]]
    assert unclear, [b["text"] for b in boxes]
    assert all("bg-success" not in b["attributes"].get("class", "") and "\u2713" not in b["text"] for b in unclear)
    results = checks.check_site(out, screenshots=shots)
    failed = [
        (c.page, c.source, c.viewport, c.problems, c.console_errors, c.external_requests) for c in results if not c.ok
    ]
    assert failed == []


@needs_browser
def test_default_dashboard_loads_cleanly(pipeline_clone):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page = checks.inspect_page(
        (pipeline_clone / "_site" / "index.html").resolve(), ".alert", screenshot=ARTIFACTS / "dashboard.png"
    )
    assert page["console_errors"] == [] and page["external_requests"] == []
    assert page["elements"] and page["elements"][0]["in_first_viewport"]
    assert (ARTIFACTS / "dashboard.png").stat().st_size > 10_000


@needs_browser
def test_no_drift_and_no_injection_shows_no_alert(calm):
    alerts = json.loads((calm / "reports" / "monitoring" / "alerts.json").read_text())
    alerts = alerts["alerts"] if isinstance(alerts, dict) else alerts
    assert [a for a in alerts if a["severity"] in ("critical", "warning")] == []
    page = checks.inspect_page((calm / "_site" / "index.html").resolve(), ".alert[data-segment]")
    assert page["console_errors"] == []
    assert page["elements"] == []
