"""The owner's pages agree with the tables they read (issue 17): no "0 seen" where the data has
events, no total that its table does not sum to, business names instead of codes, one date format,
links that lead somewhere. Fast: on constructed tables, and on the pipeline's outputs in this
checkout when `dvc repro` has written them (skipped otherwise)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from stoffwechsel.site import alert_blocks, pages

ROOT = Path(__file__).resolve().parents[1]
MONITORING = ROOT / "reports" / "monitoring"
RESOLUTION = ROOT / "reports" / "resolve" / "resolution.json"


def _weekly_row(metric_id: str, **values) -> dict:
    base = dict(
        period="week",
        window_start=pd.Timestamp("2026-03-16"),
        window_end=pd.Timestamp("2026-03-22"),
        segment_column="all",
        segment="all",
        metric_id=metric_id,
        metric=metric_id,
        recs=254,
        customers=200,
        recs_matured=31,
        events=6,
        exposure=244.1,
        observed=0.0,
        completeness=0.961,
        estimate=2.46,
        estimate_low=1.6,
        estimate_high=3.5,
    )
    return base | values


def _recent_week() -> pd.DataFrame:
    """The week the issue saw: 6 purchases (516.40 EUR) seen among 254 recommendations, 96% of
    the outcomes in, but only 31 recommendations with all outcomes in, none of them bought."""
    return pd.DataFrame(
        [
            _weekly_row("purchases_per_100", metric="Purchases per 100 recommendations"),
            _weekly_row(
                "kept_per_100",
                metric="Purchases kept per 100 recommendations",
                events=5,
                completeness=0.448,
                estimate=1.71,
                estimate_low=0.8,
                estimate_high=2.5,
            ),
            _weekly_row(
                "revenue_eur",
                metric="Revenue from recommendations (EUR)",
                observed=516.4,
                estimate=541.4,
                estimate_low=516.4,
                estimate_high=700.0,
            ),
            _weekly_row(
                "revenue_per_100",
                metric="Revenue per 100 recommendations (EUR)",
                estimate=213.1,
                estimate_low=203.3,
                estimate_high=275.6,
            ),
        ]
    )


def _check_arriving(weekly: pd.DataFrame) -> int:
    """Every row of the arriving table: 'seen so far' is 0 exactly when no event was seen, and it
    is the events (revenue) seen per 100 recommendations shown. Returns the rows checked."""
    table = pages.arriving_table(weekly)
    recent = weekly[
        (weekly["segment_column"] == "all") & (weekly["period"] == "week") & (weekly["completeness"] < 0.999)
    ]
    recent = recent.sort_values(["window_start", "metric"])
    assert len(table) == len(recent)
    revenue = weekly[weekly["metric_id"] == "revenue_eur"].set_index(
        ["window_start", "segment_column", "segment", "period"]
    )["observed"]
    for (_, row), seen in zip(recent.iterrows(), table["Seen so far"]):
        where = f"week {row['window_start']}, {row['metric_id']}"
        if row["metric_id"] in ("ctr", "purchases_per_100", "kept_per_100"):
            assert (seen == 0) == (row["events"] == 0), f"{where}: seen so far {seen} with {row['events']} events"
            assert seen == pytest.approx(round(row["events"] / row["recs"] * 100, 2)), where
        elif row["metric_id"] == "revenue_per_100":
            eur = revenue[(row["window_start"], row["segment_column"], row["segment"], row["period"])]
            assert (seen == 0) == (eur == 0), f"{where}: seen so far {seen} with {eur} EUR seen"
            assert seen == pytest.approx(round(eur / row["recs"] * 100, 2)), where
        elif row["metric_id"] == "revenue_eur":
            assert seen == pytest.approx(round(row["observed"], 2)), where
    return len(table)


def test_arriving_never_says_nothing_seen_when_purchases_were_seen():
    table = pages.arriving_table(_recent_week())
    seen = dict(zip(table["Metric"], table["Seen so far"]))
    assert seen["Purchases per 100 recommendations"] == pytest.approx(2.36)  # 6 of 254, not the 0 of 31 matured
    assert seen["Revenue per 100 recommendations (EUR)"] == pytest.approx(203.31)
    assert seen["Revenue from recommendations (EUR)"] == pytest.approx(516.4)
    assert set(table["Week from"]) == {"16 March 2026"}
    assert _check_arriving(_recent_week()) == 4


@pytest.mark.skipif(not (MONITORING / "weekly_metrics.csv").is_file(), reason="no pipeline outputs (run dvc repro)")
def test_arriving_page_agrees_with_the_pipelines_weekly_table():
    from stoffwechsel import config
    from stoffwechsel.monitoring.results import load_outputs

    weekly = load_outputs(MONITORING, config.load_params("monitor")).weekly
    assert _check_arriving(weekly) > 0


def test_resolution_table_sums_to_the_numbers_of_its_sentence():
    resolution = {
        "recycled_ids": {
            "events_by_rule": {
                "overlap rule (price, then in-season)": 95,
                "return of purchase": 78,
                "season given": 4977,
                "single sale window": 959,
            },
            "events_quarantined": 0,
            "events_resolved": 6109,
            "ids": 134,
        },
        "rows": {
            "overlap rule (price, then in-season)": 95,
            "quarantined": 0,
            "return of purchase": 195,
            "rows_read": 15000,
            "season given": 12198,
            "single sale window": 2512,
        },
    }
    table, facts = pages.resolution_table(resolution)
    total = table.iloc[-1]
    assert total["how"] == "Total" and total["all"] == 15000 and total["reused"] == 6109
    assert table.iloc[:-1]["all"].sum() == 15000 and table.iloc[:-1]["reused"].sum() == 6109
    sentence = pages.resolution_sentence(facts)
    assert "Of the 15,000 transactions read, 6,109 are of the 134 article numbers that were reused" in sentence
    assert "all 6109" not in sentence
    broken = json.loads(json.dumps(resolution))
    broken["rows"]["rows_read"] = 15001
    with pytest.raises(ValueError, match="resolution.json.*15001"):
        pages.resolution_table(broken)


@pytest.mark.skipif(not RESOLUTION.is_file(), reason="no pipeline outputs (run dvc repro)")
def test_quality_page_agrees_with_the_pipelines_resolution():
    resolution = json.loads(RESOLUTION.read_text())
    table, facts = pages.resolution_table(resolution)
    assert table.iloc[-1]["all"] == resolution["rows"]["rows_read"]
    numbers = {int(n.replace(",", "")) for n in re.findall(r"\d[\d,]*", pages.resolution_sentence(facts))}
    assert {facts["read"], facts["reused"]} <= numbers
    assert set(table.iloc[-1][["all", "reused"]]) <= numbers  # the total row repeats the sentence's numbers


def _alert(column: str, segment: str, **values) -> dict:
    return (
        dict(
            segment_column=column,
            segment=segment,
            severity="warning",
            metric="Click rate",
            metric_id="ctr",
            observed=7.0,
            expected=12.0,
            message=f"The click rate for {segment} fell.",
        )
        | values
    )


def test_every_alert_links_to_a_place_on_the_customer_groups_page():
    alerts = [
        _alert("all", "All customers"),
        _alert("segment", "Bargain Hunters"),
        _alert("age_band", "25-34"),
        _alert("region", "25-34"),
    ]
    html = str(alert_blocks.alerts_html(alerts, "segments.ipynb", len(alerts)))
    targets = re.findall(r'href="segments\.ipynb#([^"]+)"', html)
    assert targets == [
        "group-all-customers",
        "group-segment-bargain-hunters",
        "group-age-band-25-34",
        "group-region-25-34",
    ]
    assert len(set(targets)) == len(targets)  # an age band and a region with the same name stay apart
    for a, target in zip(alerts, targets):
        assert f'id="{target}"' in str(alert_blocks.group_target(a["segment_column"], a["segment"]))


def test_broken_links_finds_missing_pages_and_anchors(tmp_path):
    from stoffwechsel.site.checks import broken_links

    (tmp_path / "pages").mkdir()
    (tmp_path / "pages" / "segments.html").write_text(
        '<h2 id="group-all-customers">All</h2><a href="#nowhere">x</a>'
        '<a href="#group-all-customers">top</a><a href="#">top</a>'
    )
    (tmp_path / "index.html").write_text(
        '<a href="pages/segments.html#group-all-customers">ok</a>'
        '<a href="pages/segments.html#all-customers">details</a>'
        '<a href="pages/missing.html">gone</a><a href="https://example.org/#x">out</a>'
    )
    found = broken_links(tmp_path)
    assert found["index.html"] == [
        'link to a missing anchor: href="pages/segments.html#all-customers" (no id="all-customers" in segments.html)',
        'link to a missing page: href="pages/missing.html"',
    ]
    assert found["pages/segments.html"] == [
        'link to a missing anchor: href="#nowhere" (no id="nowhere" in segments.html)'
    ]


def test_alert_hints_name_a_model_update_by_its_day_not_its_release_code():
    from stoffwechsel.monitoring.wording import hint

    # clicks of all customers stop at the update's day (the hint names an update only at such a step)
    days = pd.date_range("2026-02-02", "2026-03-01").repeat(10)
    recs = pd.DataFrame(
        {
            "all": "All customers",
            "day": days,
            "click_open": False,
            "click_seen": (days < "2026-02-16") & (np.arange(len(days)) % 5 == 0),
            "reused": False,
        }
    )
    prep = type("Prep", (), {"rollouts": [("prod-2.4.0", pd.Timestamp("2026-02-16"))], "recs": recs})()
    alert = pd.Series(  # a change-point alert: clicks fell to nothing from 16 February
        {
            "metric_id": "ctr",
            "segment_column": "all",
            "segment": "All customers",
            "onset": pd.Timestamp("2026-02-16"),
            "onset_low": pd.Timestamp("2026-02-15"),
            "onset_high": pd.Timestamp("2026-02-17"),
            "before": 20.0,
            "after": 0.0,
            "change": -1.0,
        }
    )
    words = hint(alert, prep)
    assert words.startswith("the model update that went live on 16 February 2026 (")
    assert not CODE.search(words)


#: what an owner page must not show outside a details fold: release codes, hash-like versions
CODE = re.compile(r"\bprod-\d[\w.-]*|\b(?=[0-9a-f]*\d)(?=[0-9a-f]*[a-f])[0-9a-f]{8,64}\b")


def test_owner_wording_finds_codes_and_other_date_formats_outside_details():
    from stoffwechsel.site.checks import owner_wording

    page = (
        "<nav>2026-01-01</nav><p>Since the week of 2 March 2026, after 2026-02-02; week from 16 Mar 2026; "
        "version c0300fb0fe85; the model update prod-2.4.0; 03/02/2026</p>"
        "<details><summary>For analysts</summary>version 6078c5b1acfb, prod-2.3.1, 2026-03-02</details>"
        "<p>15,000 transactions, 25-34, 100 recommendations, SW-1042@AW25, 2 March 2026</p>"
    )
    assert owner_wording(page) == [
        "date not written like '2 March 2026': 03/02/2026",
        "date not written like '2 March 2026': 16 Mar",
        "date not written like '2 March 2026': 2026-02-02",
        "hash-like version: c0300fb0fe85",
        "release code: prod-2.4.0",
    ]
    assert owner_wording("<p>Since the week of 2 March 2026: 6,109 of 15,000.</p>") == []


class _View:
    def __init__(self, entity: str, fields: int, description: str, version: str):
        self.entities = [type("Entity", (), {"name": entity})()]
        self.fields, self.description, self.version = list(range(fields)), description, version


def test_model_page_names_feature_families_in_business_words_and_folds_versions():
    from stoffwechsel.glossary import technical_terms_in
    from stoffwechsel.site.checks import owner_wording

    views = [
        ("customer_taste", _View("customer", 2, "Customer taste profiles from the embeddings of ...", "9b1fa2ed557b")),
        (
            "product_embedding",
            _View("product_version", 3, "Product description embeddings, reduced form", "f4410e9829c5"),
        ),
    ]
    owner, analyst = pages.feature_families(views)
    shown = str(pages.table(owner))
    assert "Version" not in owner.columns and not owner_wording(f"<p>{shown}</p>")
    assert "embedding" not in shown.lower() and not technical_terms_in(shown)
    assert list(owner["Describes"]) == ["customer", "product in one season"]
    assert list(analyst["version"]) == ["9b1fa2ed557b", "f4410e9829c5"]  # for analysts, in the fold


def test_model_page_sentences_and_chart_speak_in_percentages_and_date_words():
    import matplotlib

    matplotlib.use("Agg")
    evaluation = {
        "models": {
            m: {"hit_rate@10": {"value": v, "low": v - 0.04, "high": v + 0.04}}
            for m, v in (("combined", 0.169), ("tabular", 0.146), ("popularity", 0.142))
        },
        "claim": {"combined_beats_tabular_on": ["hit_rate@5"], "best_baseline": "popularity"},
        "evaluated_customers": 261,
        "test_window": {"weeks": 8, "start": "2026-02-02"},
        "candidate_recall": 0.31,
    }
    text = " ".join(pages.offline_result_sentences(evaluation))
    assert "8 weeks after 2 February 2026" in text and "2026-02-02" not in text
    assert "17% (range 13% to 21%)" in text
    tidy = pd.DataFrame(
        {
            "model": ["combined"] * 3 + ["tabular"] * 3,
            "metric": "hit_rate",
            "k": [5, 10, 20] * 2,
            "value": [0.10, 0.17, 0.23, 0.07, 0.15, 0.26],
            "low": 0.05,
            "high": 0.3,
        }
    )
    ax = pages.hit_chart(tidy).axes[0]
    assert "(k)" not in ax.get_xlabel() and "%" in ax.get_ylabel()
    assert max(max(line.get_ydata()) for line in ax.get_lines()) == pytest.approx(26.0)  # percentages, not 0.26
    # beside the chart, not over its lines; best first at the longest list (tabular 26% > combined 23%)
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        "without product descriptions",
        "with product descriptions",
    ]
    fig = ax.figure
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    assert ax.get_legend().get_window_extent(renderer).x0 >= ax.get_window_extent(renderer).x1


@pytest.fixture(scope="module")
def monitored():
    """The monitoring of the committed materials (about 2 s)."""
    from stoffwechsel.data.contract import load_materials
    from stoffwechsel.monitoring.run import run_monitoring

    return run_monitoring(load_materials(ROOT / "materials"), {})


def test_arriving_page_agrees_with_the_monitoring_of_the_materials(monitored):
    assert _check_arriving(monitored.weekly) > 0


def _text_boxes(fig):
    import matplotlib.text

    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    hidden = set()  # tick labels beyond an axis' limits exist but are not drawn
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            lo, hi = sorted(axis.get_view_interval())
            for tick in axis.get_major_ticks() + axis.get_minor_ticks():
                if not lo - 1e-9 <= tick.get_loc() <= hi + 1e-9:
                    hidden |= {id(tick.label1), id(tick.label2)}
    return [
        (t, t.get_window_extent(renderer))
        for t in fig.findobj(matplotlib.text.Text)
        if t.get_text() and t.get_visible() and id(t) not in hidden
    ]


@pytest.mark.parametrize("chart", ["groups", "arrival", "decomposition", "group_change"])
def test_charts_are_readable_and_legends_cover_nothing(monitored, chart):
    import matplotlib

    matplotlib.use("Agg")
    from stoffwechsel.monitoring.plots import (
        CHART_MIN_FONT,
        plot_decomposition,
        plot_group_change,
        plot_groups,
        plot_label_arrival,
    )

    fig = {
        "groups": lambda: plot_groups(monitored, "purchases_per_100", "segment"),
        "arrival": lambda: plot_label_arrival(monitored),
        "decomposition": lambda: plot_decomposition(monitored),
        "group_change": lambda: plot_group_change(monitored),
    }[chart]()
    boxes = _text_boxes(fig)
    small = [(t.get_text(), t.get_fontsize()) for t, _ in boxes if t.get_fontsize() < CHART_MIN_FONT]
    assert not small, small
    if chart in ("arrival", "decomposition"):  # the Overview's bottom row: drawn about as wide as a third of the page
        assert fig.get_size_inches()[0] <= 6.5
    width, height = fig.canvas.get_width_height()
    for t, box in boxes:  # nothing cut at the figure's edge
        assert box.x0 >= -1 and box.x1 <= width + 1 and box.y0 >= -1 and box.y1 <= height + 1, f"'{t.get_text()}' cut"
    legends = [leg for ax in fig.axes for leg in ([ax.get_legend()] if ax.get_legend() else [])] + list(fig.legends)
    for legend in legends:
        frame = legend.get_window_extent()
        inside = {id(t) for t in legend.get_texts()}
        for t, box in boxes:
            if id(t) not in inside:
                assert not frame.overlaps(box), f"legend covers '{t.get_text()}'"


def test_weekly_trend_is_readable_with_its_legend_beside_the_lines(monitored):
    import matplotlib

    matplotlib.use("Agg")
    from stoffwechsel.monitoring.plots import CHART_MIN_FONT

    fig = pages.weekly_trend(monitored.weekly)
    boxes = _text_boxes(fig)
    assert not [t.get_text() for t, _ in boxes if t.get_fontsize() < CHART_MIN_FONT]
    assert not [t.get_text() for t, _ in boxes if re.fullmatch(r"\d{4}-\d{2}(-\d{2})?", t.get_text())]  # no ISO ticks
    legend = fig.axes[0].get_legend().get_window_extent()
    assert legend.x0 >= fig.axes[0].get_window_extent().x1  # beside the axes, never over the lines


SITE = ROOT / "_site"


@pytest.mark.skipif(
    not (SITE / "index.html").is_file(), reason="no built site (run dvc repro or stoffwechsel build-site)"
)
def test_the_built_site_has_no_broken_link_no_code_and_one_date_format():
    """The site in this checkout, whichever renderer built it (the browser tests of both
    renderers run the same checks inside checks.check_site)."""
    from stoffwechsel.site.checks import broken_links, owner_wording

    assert {page: found for page, found in broken_links(SITE).items() if found} == {}
    pages_ = sorted(SITE.rglob("*.html"))
    assert len(pages_) >= 7
    assert {
        p.name: owner_wording(p.read_text(encoding="utf-8"))
        for p in pages_
        if owner_wording(p.read_text(encoding="utf-8"))
    } == {}
