"""Pages and tables select rows by ``metric_id``, never by display label (issue 15): renaming a
label in ``glossary.METRICS`` (the one place labels come from) must not empty a page table or
chart, and the pages must show the new label."""

from __future__ import annotations

import pandas as pd
import pytest

from stoffwechsel import glossary
from stoffwechsel.domain import METRIC_IDS
from stoffwechsel.monitoring.prepare import ALL
from stoffwechsel.site import alert_blocks, pages

GROUPS = (("all", ALL), ("segment", "Bargain Hunters"), ("segment", "Eco Enthusiasts"))
WEEKS = pd.date_range("2026-03-02", periods=4, freq="7D")


def _weekly() -> pd.DataFrame:
    """A small weekly table as the monitor writes it, labelled with today's glossary labels."""
    rows = []
    for column, segment in GROUPS:
        for metric_id in METRIC_IDS:
            base = dict(
                segment_column=column,
                segment=segment,
                metric_id=metric_id,
                metric=glossary.METRICS[metric_id],
                recs=250,
                customers=120,
                recs_matured=200.0,
                events=12.0,
                exposure=230.0,
                observed=4.0,
                estimate=5.0,
                estimate_low=4.0,
                estimate_high=6.5,
                rate_low=3.9,
                rate_high=6.4,
                reference=5.5,
                change=-0.09,
            )
            rows.append(
                base
                | dict(
                    period="current",
                    window_start=WEEKS[0],
                    window_end=WEEKS[-1] + pd.Timedelta(days=6),
                    completeness=0.9,
                )
            )
            for i, week in enumerate(WEEKS):
                rows.append(
                    base
                    | dict(
                        period="week",
                        window_start=week,
                        window_end=week + pd.Timedelta(days=6),
                        completeness=1.0 if i < 2 else 0.6,
                    )
                )
    return pd.DataFrame(rows)


@pytest.fixture
def renamed(monkeypatch):
    """Every metric label renamed (as a wording change in the glossary would)."""
    new = {metric_id: f"Renamed {label.lower()}" for metric_id, label in glossary.METRICS.items()}
    for metric_id, label in new.items():
        monkeypatch.setitem(glossary.METRICS, metric_id, label)
    return new


def test_group_tables_keep_their_rows_and_show_the_new_labels(renamed):
    weekly = _weekly()
    table = pages.group_table(weekly, "all", ALL)
    assert list(table["Metric"]) == [renamed[m] for m in pages.GROUP_METRICS]
    every = pages.group_table(weekly, "segment")
    assert len(every) == 2 * len(pages.GROUP_METRICS)
    chosen = pages.group_table(weekly, "segment", metric_ids=("ctr", "purchases_per_100", "recs_shown"))
    assert list(chosen["Metric"].unique()) == [renamed["ctr"], renamed["purchases_per_100"], renamed["recs_shown"]]
    assert set(chosen["Customer group"]) == {"Bargain Hunters", "Eco Enthusiasts"}


def test_arriving_table_keeps_its_rows_and_shows_the_new_labels(renamed):
    table = pages.arriving_table(_weekly())
    assert len(table) == 2 * len(METRIC_IDS)  # two weeks with outcomes still arriving
    assert set(table["Metric"]) == {renamed[m] for m in METRIC_IDS}


def test_weekly_trend_draws_the_metric_under_its_new_label(renamed):
    import matplotlib

    matplotlib.use("Agg")
    fig = pages.weekly_trend(_weekly(), "purchases_per_100")
    ax = fig.axes[0]
    assert all(len(line.get_xdata()) == len(WEEKS) for line in ax.get_lines())
    assert renamed["purchases_per_100"] in ax.get_title()


def test_value_box_finds_its_alert_by_metric_id(renamed):
    headline = {"metric_id": "ctr", "metric": renamed["ctr"], "now": 4.0, "change": -0.3, "share_of_outcomes_in": 1.0}
    alert = {
        "metric_id": "ctr",
        "metric": "Click rate (as labelled when the monitor ran)",
        "segment_column": "all",
        "severity": "critical",
    }
    from stoffwechsel.monitoring.params import MonitorParams
    from stoffwechsel.monitoring.silence import tile_status

    # the monitor stage finds a tile's alert by metric id (whatever the labels said when it ran) ...
    params = MonitorParams()
    assert tile_status("ctr", -0.1, 0.02, [alert], params)[0] == "critical"
    assert tile_status("ctr", -0.1, 0.02, [alert | {"metric_id": "purchases_per_100"}], params)[0] == "fine"
    # ... and the page colours the box by the status it wrote
    assert alert_blocks.valuebox(headline | {"status": "critical"})["color"] == "danger"
    assert alert_blocks.valuebox(headline | {"status": "fine"})["color"] == "success"
    not_clear = alert_blocks.valuebox(headline | {"status": "not_clear"})
    assert (
        not_clear["color"] == "light" and not_clear["icon"] != "check-circle" and "not clear yet" in not_clear["value"]
    )


def test_first_screen_limit_defaults_to_the_monitor_parameter():
    from stoffwechsel.monitoring.params import MonitorParams

    alerts = [
        {
            "severity": "warning",
            "segment_column": "segment",
            "segment": f"group {i}",
            "metric_id": "ctr",
            "metric": "x",
            "observed": 1.0,
            "expected": 2.0,
            "change": -0.5,
        }
        for i in range(20)
    ]
    assert len(alert_blocks.top_alerts(alerts)) == MonitorParams().first_screen_alerts
    assert len(alert_blocks.top_alerts(alerts, 3)) == 3
