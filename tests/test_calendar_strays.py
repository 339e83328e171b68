"""Stray dates do not move the calendar (issue 24): a handful of far-future and far-past events
(a clock error, test rows) are left out of the calendar's dates, named with their count and
dates; the weeks of history are one number in calendar.json and in the stop message."""

from __future__ import annotations

import re
import subprocess
import sys

import pandas as pd
import pytest

from conftest import ROOT
from stoffwechsel.config import MATERIAL_FILES, load_params
from stoffwechsel.data import timeline
from stoffwechsel.errors import StageStop

SPLIT = load_params("split", ROOT / "params.yaml")


@pytest.fixture(scope="module")
def times() -> pd.Series:
    return pd.to_datetime(pd.read_csv(ROOT / "materials" / "transactions.csv", usecols=["event_time"])["event_time"])


def _planted(times: pd.Series) -> pd.Series:
    strays = ["2031-01-01 10:00"] * 50 + ["2099-12-31 23:00"] * 3 + ["1995-06-01 12:00"] * 4 + ["2001-01-01 00:00"]
    return pd.concat([times, pd.Series(pd.to_datetime(strays))], ignore_index=True)


def test_planted_far_future_and_far_past_rows_leave_the_calendar_unchanged(times):
    clean = timeline.derive_calendar(times, SPLIT)
    cal = timeline.derive_calendar(_planted(times), SPLIT)
    assert (cal.first_event, cal.last_event, cal.cutoff, cal.test_end, cal.train_start) == (
        clean.first_event,
        clean.last_event,
        clean.cutoff,
        clean.test_end,
        clean.train_start,
    )
    assert clean.left_out == () and clean.notes == ()
    assert [(g["rows"], g["first"], g["last"]) for g in cal.left_out] == [
        (4, "1995-06-01", "1995-06-01"),
        (1, "2001-01-01", "2001-01-01"),
        (50, "2031-01-01", "2031-01-01"),
        (3, "2099-12-31", "2099-12-31"),
    ]
    assert all(re.match(r"beyond a gap of \d+ weeks without events", g["why"]) for g in cal.left_out)
    assert any(n.startswith("50 events (2031-01-01) left out of the calendar") for n in cal.notes)
    assert timeline.Calendar.from_dict(cal.as_dict()) == cal


def test_events_after_the_export_time_are_left_out(times):
    clean = timeline.derive_calendar(times, SPLIT)
    export = times.max() + pd.Timedelta(hours=6)
    late = pd.concat([times, pd.Series(pd.to_datetime(["2026-04-02 09:00"] * 3))], ignore_index=True)
    cal = timeline.derive_calendar(late, SPLIT, export_time=export)
    assert cal.cutoff == clean.cutoff and cal.last_event == clean.last_event
    assert [(g["rows"], g["first"]) for g in cal.left_out] == [(3, "2026-04-02")]
    assert cal.left_out[0]["why"].startswith("after the recommendation log's export_time")


def test_a_shop_closed_for_a_season_keeps_both_sides():
    spring = pd.date_range("2024-03-01", "2024-06-30", freq="6h")
    autumn = pd.date_range("2024-10-01", "2025-03-31", freq="6h")
    times = pd.Series(spring.append(autumn))
    bulk, groups = timeline.stray_events(times)
    assert bulk.all() and groups == []


def test_validate_names_the_stray_rows_with_count_and_dates(tmp_path):
    for name in MATERIAL_FILES:
        (tmp_path / name).write_bytes((ROOT / "tests" / "fixtures" / "valid" / name).read_bytes())
    # the valid fixture's rows span days: plant one transaction a year beyond its last
    tx = pd.read_csv(tmp_path / "transactions.csv", dtype=str, keep_default_na=False)
    more = pd.concat([tx] * 30, ignore_index=True)  # 300 rows, so that one row is under 1%
    more["event_id"] = [f"E{i:05d}" for i in range(len(more))]
    more.loc[more["event_type"] == "return", ["event_type", "return_of"]] = ["browse", ""]
    more.loc[0, "event_time"] = "2099-06-01 10:00"
    more.loc[0, "event_type"], more.loc[0, "quantity"] = "browse", "1"
    more.to_csv(tmp_path / "transactions.csv", index=False, lineterminator="\n")
    (tmp_path / "production-recommendations-sample.csv").write_text(
        (tmp_path / "production-recommendations-sample.csv").read_text().split("\n")[0] + "\n"
    )
    proc = subprocess.run(
        [sys.executable, "-m", "stoffwechsel", "validate", str(tmp_path)], cwd=ROOT, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert re.search(
        r"^  transactions.csv: event_time: 1 events on 2099-06-01: beyond a gap of \d+ weeks", proc.stdout, re.M
    ), proc.stdout


def test_the_weeks_of_history_are_one_number():
    times = pd.Series(pd.to_datetime(["2010-12-01 08:26", "2010-12-07 12:00", "2010-12-14 17:00"]))
    cal = timeline.derive_calendar(times, SPLIT)
    shown = cal.as_dict()["history_weeks_before_cutoff"]
    with pytest.raises(StageStop) as stop:
        timeline.require_training_history(cal, 4)
    assert f"the data has {shown:g} " in str(stop.value), (shown, str(stop.value))
    assert shown == cal.history_weeks_shown <= cal.history_weeks  # never more than there is
