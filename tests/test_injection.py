"""Script injection (issue 18): HTML, JavaScript and Markdown payloads in every text column of the
shop's files reach the pages only as text. Simulated materials get the payloads in every text
column (tests/hostile_materials.py, shared with the browser test); the stages' package functions
and the page builders run on them; the HTML they produce is scanned statically for live markup
(tags and attributes that would run script or load something:
:func:`stoffwechsel.site.html_safety.live_markup`). The browser run of the whole pipeline's site under
both renderers is tests/test_injection_browser.py (marked ``pipeline``: a full run on the payload
materials takes minutes)."""

from __future__ import annotations

import json

import pytest

from hostile_materials import PAYLOADS, write_hostile_materials
from stoffwechsel import verification
from stoffwechsel.data import keys
from stoffwechsel.data.contract import load_materials
from stoffwechsel.monitoring.prepare import GROUPINGS
from stoffwechsel.monitoring.results import load_outputs, write_outputs
from stoffwechsel.monitoring.run import run_monitoring
from stoffwechsel.monitoring.tables import drift_overview
from stoffwechsel.site import alert_blocks, html_safety, pages

LIVE_MARKERS = ("<img", "<script", "<svg")  # as text ("onerror=" escaped inside a cell) they are harmless


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    return load_materials(write_hostile_materials(tmp_path_factory.mktemp("hostile") / "materials"))


@pytest.fixture(scope="module")
def outputs(hostile, tmp_path_factory):
    """The report files the pages read, written by the package functions from the hostile materials."""
    root = tmp_path_factory.mktemp("root")
    # most of the false-alarm budget on crossings and secondary outcomes, where the hostile materials'
    # groups move (a sustainable share), so that an alert carries a hostile group name to the pages
    shares = {"fdr_share_all": 0.1, "fdr_share_segments": 0.1, "fdr_share_columns": 0.1, "fdr_share_rest": 0.7}
    result = run_monitoring(hostile, {"min_customers": 5, **shares})
    write_outputs(result, root / "reports/monitoring")
    (root / "reports/profile").mkdir(parents=True)
    (root / "reports/resolve").mkdir(parents=True)
    (root / "reports/profile/profile.json").write_text(json.dumps({"rows": hostile.counts}))
    quarantine = hostile.quarantine.copy()
    quarantine.loc[len(quarantine)] = {c: PAYLOADS[1] for c in quarantine.columns}  # a hostile reason too
    quarantine.to_csv(root / "reports/profile/quarantine.csv", index=False)
    resolution = keys.resolve_transactions(hostile.transactions, hostile.products)
    resolution.quarantine.to_csv(root / "reports/resolve/quarantine.csv", index=False)
    (root / "reports/resolve/resolution.json").write_text(
        json.dumps(
            {"rows": resolution.counts, "recycled_ids": {"ids": 1, "events_resolved": 1, "events_quarantined": 0}}
        )
    )
    return root, result


def _assert_not_live(html: str, where: str) -> None:
    assert html_safety.live_markup(html) == [], where
    for marker in LIVE_MARKERS:
        assert marker not in html, (where, marker)


def test_payloads_reach_the_monitoring_outputs(outputs):
    """The payloads really are in what the pages show (otherwise the test would prove nothing)."""
    _, result = outputs
    segments = set(result.weekly["segment"])
    assert any("<script>" in s for s in segments) and any("onerror=" in s for s in segments)
    assert any("CTR fix" in a["message"] for a in result.alerts) or result.summary["model_rollouts"]
    assert result.alerts, "alerts carry group names and model versions into the page"


def test_every_page_builder_escapes_the_payloads(outputs):
    root, _ = outputs
    result = load_outputs(root / "reports/monitoring")
    weekly = result.weekly.assign(window_start=lambda d: d["window_start"].astype(str))
    html = [
        alert_blocks.alerts_html(result.alerts, "segments.html", len(result.alerts)),
        alert_blocks.alerts_html(alert_blocks.top_alerts(result.alerts), "pages/segments.html", len(result.alerts)),
    ]
    for column in GROUPINGS[1:]:
        html.append(pages.table(pages.group_table(weekly, column)))
        for segment in sorted(set(weekly.loc[weekly["segment_column"] == column, "segment"])):
            html.append(pages.table(pages.group_table(weekly, column, segment)))
    html.append(pages.table(drift_overview(result, "segment").rename_axis(columns=None).reset_index()))
    html.append(pages.for_analysts(pages.table(result.weekly.head(200)) + pages.paragraph(PAYLOADS[0]), PAYLOADS[1]))
    files, reasons, _ = pages.data_quality(root)
    html += [pages.table(files), pages.table(reasons)]
    shown = "\n".join(html)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in shown and "onerror=alert(1)&gt;" in shown
    _assert_not_live(shown, "page builders")


def test_verification_evidence_is_escaped():
    """The reported case: forbidden-terms context quoting a category on the Verification page."""
    record = [
        {
            "id": 7,
            "statement": PAYLOADS[2],
            "status": "fail",
            "evidence": {"raw_terms_found": [{"page": "x.html", "term": "null", "context": p} for p in PAYLOADS]},
        }
    ]
    html = verification.evidence_html(record)
    _assert_not_live(html, "evidence")
    assert "&lt;img src=x onerror=alert(1)&gt; null" in html


@pytest.mark.parametrize("payload", PAYLOADS)
def test_markdown_values_stay_text_in_the_python_renderer(payload):
    from stoffwechsel.site.markdown import markdown_it

    html = markdown_it().render(f"**{pages.md(payload)}** set aside; {pages.md(payload)}")
    _assert_not_live(html, payload)
    assert "<a " not in html and "<code>" not in html
    text = html.replace("<p>", "").replace("</p>", "").replace("<strong>", "").replace("</strong>", "").strip()
    import html as html_lib

    assert html_lib.unescape(text).startswith(payload)  # the reader sees the characters themselves
