"""Script injection (issue 18): HTML, JavaScript and Markdown payloads in every text column of the
shop's files reach the pages only as text. Simulated materials (``stoffwechsel simulate --out``)
get the payloads in their text columns; the stages' package functions and the page builders run
on them; the HTML they produce is scanned statically for live markup (tags and attributes that
would run script or load something: :func:`stoffwechsel.html_safety.live_markup`). A browser run
of the built site is not part of this test (a full pipeline run on the payload materials takes
minutes); the renderers insert the builders' HTML as is, so the static scan covers what reaches
the pages from these builders."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from conftest import VENV_BIN, run
from stoffwechsel import html_safety, keys, pages, verification
from stoffwechsel import monitoring as mon
from stoffwechsel.contract import load_materials

PAYLOADS = (
    "<img src=x onerror=alert(1)> null",
    "<script>alert(1)</script>",
    '"><svg onload=alert(1)>',
    "[x](javascript:alert(1))",
    "{{< include /etc/passwd >}}",
    "`code` ``x``",
)
LIVE_MARKERS = ("<img", "<script", "<svg")  # as text ("onerror=" escaped inside a cell) they are harmless


def _inject(frame: pd.DataFrame, column: str, values: list[str], every: int = 1) -> None:
    """Replace the values of ``column`` by the payloads, keeping the groups (a value becomes one
    payload everywhere it occurs)."""
    distinct = sorted(frame[column].dropna().unique())
    mapping = {v: f"{values[i % len(values)]} {v}" for i, v in enumerate(distinct) if i % every == 0}
    frame[column] = frame[column].map(lambda v: mapping.get(v, v))


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    folder = tmp_path_factory.mktemp("hostile") / "materials"
    run([str(VENV_BIN / "stoffwechsel"), "simulate", "--out", str(folder), "--scale", "0.5"], folder.parent)
    read = lambda name: pd.read_csv(folder / name, dtype=str, keep_default_na=False)  # noqa: E731
    products, customers = read("products.csv"), read("customers.csv")
    recs, tx = read("production-recommendations-sample.csv"), read("transactions.csv")
    for col in ("category", "name", "tags"):
        _inject(products, col, list(PAYLOADS))
    products["description"] = PAYLOADS[0] + " " + products["description"]
    for col in ("segment", "age_band", "region", "preferred_channel", "loyalty_tier", "sustainability_interest"):
        _inject(customers, col, list(PAYLOADS))
    versions = sorted(recs["model_version"].unique())
    recs["model_version"] = recs["model_version"].map({v: f"{v} CTR fix {PAYLOADS[i % len(PAYLOADS)]}"
                                                       for i, v in enumerate(versions)})
    _inject(tx, "channel", list(PAYLOADS))
    for name, frame in (("products.csv", products), ("customers.csv", customers),
                        ("production-recommendations-sample.csv", recs), ("transactions.csv", tx)):
        frame.to_csv(folder / name, index=False)
    return load_materials(folder)


@pytest.fixture(scope="module")
def outputs(hostile, tmp_path_factory):
    """The report files the pages read, written by the package functions from the hostile materials."""
    root = tmp_path_factory.mktemp("root")
    result = mon.run_monitoring(hostile, {"min_customers": 5})
    mon.write_outputs(result, root / "reports/monitoring")
    (root / "reports/profile").mkdir(parents=True)
    (root / "reports/resolve").mkdir(parents=True)
    (root / "reports/profile/profile.json").write_text(json.dumps({"rows": hostile.counts}))
    quarantine = hostile.quarantine.copy()
    quarantine.loc[len(quarantine)] = {c: PAYLOADS[1] for c in quarantine.columns}  # a hostile reason too
    quarantine.to_csv(root / "reports/profile/quarantine.csv", index=False)
    resolution = keys.resolve_transactions(hostile.transactions, hostile.products)
    resolution.quarantine.to_csv(root / "reports/resolve/quarantine.csv", index=False)
    (root / "reports/resolve/resolution.json").write_text(json.dumps(
        {"rows": resolution.counts, "recycled_ids": {"ids": 1, "events_resolved": 1, "events_quarantined": 0}}))
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
    result = mon.load_outputs(root / "reports/monitoring")
    weekly = result.weekly.assign(window_start=lambda d: d["window_start"].astype(str))
    html = [pages.alerts_html(result.alerts, "segments.html", len(result.alerts)),
            pages.alerts_html(pages.top_alerts(result.alerts), "pages/segments.html", len(result.alerts))]
    for column in mon.GROUPINGS[1:]:
        html.append(pages.table(pages.group_table(weekly, column)))
        for segment in sorted(set(weekly.loc[weekly["segment_column"] == column, "segment"])):
            html.append(pages.table(pages.group_table(weekly, column, segment)))
    html.append(pages.table(mon.drift_overview(result, "segment").rename_axis(columns=None).reset_index()))
    html.append(pages.for_analysts(pages.table(result.weekly.head(200)) + pages.paragraph(PAYLOADS[0]), PAYLOADS[1]))
    files, reasons, _ = pages.data_quality(root)
    html += [pages.table(files), pages.table(reasons)]
    shown = "\n".join(html)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in shown and "onerror=alert(1)&gt;" in shown
    _assert_not_live(shown, "page builders")


def test_verification_evidence_is_escaped():
    """The reported case: forbidden-terms context quoting a category on the Verification page."""
    record = [{"id": 7, "statement": PAYLOADS[2], "status": "fail",
               "evidence": {"raw_terms_found": [{"page": "x.html", "term": "null", "context": p} for p in PAYLOADS]}}]
    html = verification.evidence_html(record)
    _assert_not_live(html, "evidence")
    assert "&lt;img src=x onerror=alert(1)&gt; null" in html


@pytest.mark.parametrize("payload", PAYLOADS)
def test_markdown_values_stay_text_in_the_python_renderer(payload):
    from stoffwechsel.site_markdown import markdown_it

    html = markdown_it().render(f"**{pages.md(payload)}** set aside; {pages.md(payload)}")
    _assert_not_live(html, payload)
    assert "<a " not in html and "<code>" not in html
    text = html.replace("<p>", "").replace("</p>", "").replace("<strong>", "").replace("</strong>", "").strip()
    import html as html_lib

    assert html_lib.unescape(text).startswith(payload)  # the reader sees the characters themselves
