"""The watch list (issue 26): the largest movements that are not alerts, honestly worded, every number
from ``changes.csv``; on the committed materials it names Trend Seekers' purchases."""

from __future__ import annotations

import re

import pandas as pd
import pytest

from conftest import ROOT
from stoffwechsel.data.contract import load_materials
from stoffwechsel.formats import date_words, format_value
from stoffwechsel.monitoring.params import MonitorParams
from stoffwechsel.monitoring.results import load_outputs, write_outputs
from stoffwechsel.monitoring.run import run_monitoring
from stoffwechsel.monitoring.watch import WATCH_HEADING, WATCH_ITEMS, watch_list
from stoffwechsel.site import alert_blocks

#: words of an alert (the severities' words on the Overview, the alerts' own phrases)
ALERT_WORDS = ("act now", "watch", "good news", "false alarm", "alert:", "critical", "warning")


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    """The committed materials' monitoring, written and read back as the Overview reads it."""
    out = tmp_path_factory.mktemp("monitoring")
    write_outputs(run_monitoring(load_materials(ROOT / "materials"), {}), out)
    return load_outputs(out)


def _row(changes: pd.DataFrame, item: dict) -> pd.Series:
    c = changes
    (i,) = c.index[
        (c["segment_column"] == item["segment_column"])
        & (c["segment"].astype(str) == item["segment"])
        & (c["metric_id"] == item["metric_id"])
    ]
    return c.loc[i]


def _numbers_of(row: pd.Series) -> set[str]:
    """Every number the row may put on a watch-list line, as the line writes it."""
    words = {
        format_value(row["metric_id"], row["before"]).rstrip("%"),
        format_value(row["metric_id"], row["after"]).rstrip("%"),
        f"{abs(row['change']) * 100:.0f}",
        str(int(row["family_size"])),
        *date_words(row["onset"]).split(),
        "100",  # "per 100": the metric's unit
    }
    if pd.notna(row["confirm_by"]):
        words |= set(date_words(row["confirm_by"]).split())
    return words


def test_the_committed_materials_watch_list_names_trend_seekers_purchases(written):
    items = watch_list(written.changes, written.alerts, MonitorParams())
    assert 1 <= len(items) <= WATCH_ITEMS
    ts = [i for i in items if i["segment"] == "Trend Seekers" and i["metric_id"] == "purchases_per_100"]
    assert ts, [i["text"] for i in items]
    assert ts[0]["text"].startswith("Trend Seekers: no purchase from recommendations since about 9 March 2026")
    alerted = {(a["segment_column"], str(a["segment"]), a["metric_id"]) for a in written.alerts}
    for item in items:
        assert (item["segment_column"], item["segment"], item["metric_id"]) not in alerted
        # honest: not an alert, says so, and by when it would be one
        low = item["text"].lower()
        assert not [w for w in ALERT_WORDS if w in low], item["text"]
        assert "not yet beyond what chance can do" in item["text"] and "if it holds" in item["text"]


def test_every_number_on_the_watch_list_comes_from_changes_csv(written):
    items = watch_list(written.changes, written.alerts, MonitorParams())
    for item in items:
        row = _row(written.changes, item)
        numbers = re.findall(r"\d+(?:\.\d+)?", item["text"])
        assert numbers and set(numbers) <= _numbers_of(row), (item["text"], set(numbers) - _numbers_of(row))
    # the check can fail: a number that is not the row's is noticed
    row = _row(written.changes, items[0])
    assert not {"3.3", "11"} <= _numbers_of(row)


def test_alerts_and_movements_an_incident_tells_stay_off_the_watch_list(written):
    params = MonitorParams()
    c = written.changes.copy()
    items = watch_list(c, written.alerts, params)
    first = items[0]
    # the same row made an alert: gone from the list
    key = (c["segment_column"] == first["segment_column"]) & (c["segment"].astype(str) == first["segment"])
    key &= c["metric_id"] == first["metric_id"]
    flagged = c.assign(alert=c["alert"] | key)
    assert (first["segment"], first["metric_id"]) not in {
        (i["segment"], i["metric_id"]) for i in watch_list(flagged, written.alerts, params)
    }
    # an alert on the same metric, same way, onset close by, tells it: gone too
    row = _row(c, first)
    told = {"metric_id": row["metric_id"], "change": -0.5, "onset": row["onset"] + pd.Timedelta(days=3)}
    assert first["text"] not in [i["text"] for i in watch_list(c, [*written.alerts, told], params)]
    # nothing large enough: an empty list and no block on the page
    assert watch_list(c.assign(p_value=1.0), written.alerts, params) == []
    assert str(alert_blocks.watch_html([], "segments.ipynb")) == ""


def test_the_watch_list_block_does_not_look_like_an_alert(written):
    items = watch_list(written.changes, written.alerts, MonitorParams())
    items = [*items, dict(items[0], segment="<b>x</b>", text="<script>no</script>")]
    html = str(alert_blocks.watch_html(items, "segments.ipynb"))
    assert WATCH_HEADING in html and 'role="alert"' not in html and "alert-" not in html
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert html.count("<li") == len(items) and 'href="segments.ipynb#group-segment-trend-seekers"' in html
    # other columns' groups have a place of their own only with an alert: the link goes to their heading
    assert 'href="segments.ipynb#preferred-channel"' in html and "#group-preferred-channel" not in html
