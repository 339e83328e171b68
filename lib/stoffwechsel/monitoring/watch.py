"""The watch list: the largest movements that are not alerts (yet), honestly worded (issue 26).

A big change the owner can see on a chart must never go unexplained, and it must never read like an
alert either. Below the alerts the Overview names at most ``WATCH_ITEMS`` movements, each from one
row of ``changes.csv`` (one fact, one figure: every number on the line is a column of that row):

* a harmful change on click rate or purchases per 100 (the outcomes the owner reads first) of at
  least ``min_relative_effect``, whose scan alone would be a 1-in-20 fluke (p <= ``fdr``), but that is
  no alert among the comparisons of its false-alarm family;
* not one an incident already tells (an alert on the same metric, in the same direction, with an
  onset at most ``INCIDENT_ONSET_DAYS`` apart: "returning customers click less" under the
  all-customers click incident);
* one line per group, the largest change first.

Each line says what moved, since when, from what level, that it is not yet beyond what chance can
do among its family's comparisons, and by when it would be confirmed if it holds (``confirm_by``:
:func:`confirm_weeks`, the first week-end at which the change's expected scan statistic, at the current
pace of traffic with every outcome in, reaches the level at which it would be an alert on its own).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from stoffwechsel.domain import HARMFUL_DIRECTION, PRIMARY_METRIC_IDS
from stoffwechsel.formats import date_words, format_value
from stoffwechsel.monitoring.changepoint import _expected_z, _threshold_z, lone_alert_level
from stoffwechsel.monitoring.incidents import INCIDENT_ONSET_DAYS
from stoffwechsel.monitoring.params import MonitorParams
from stoffwechsel.monitoring.wording import describe_group

__all__ = ["WATCH_ITEMS", "WATCH_HEADING", "confirm_weeks", "watch_list"]

#: at most this many lines on the watch list
WATCH_ITEMS = 3
#: the watch list's heading on the Overview (never an alert's words)
WATCH_HEADING = "Largest movements that are not alerts (yet)"
#: weeks of further traffic looked at for ``confirm_by`` (beyond: "more than half a year")
CONFIRM_MAX_WEEKS = 26


def confirm_weeks(scan: pd.DataFrame, params: MonitorParams) -> np.ndarray:
    """Per scan row (with the scan's working columns) the weeks of further traffic after which its
    change, if it holds at its estimated size from its onset on, would be an alert on its own
    (:func:`.changepoint.lone_alert_level`): the first week (at the current period's pace, outcomes
    all in) at which the expected scan statistic reaches that level; 0 when the outcomes still
    arriving suffice; NaN beyond ``CONFIRM_MAX_WEEKS`` weeks or for a change for the better.
    ``changes.csv`` holds it with its day, ``confirm_by`` (the last day + that many weeks)."""
    sign = scan["metric_id"].map(HARMFUL_DIRECTION).to_numpy()
    change = scan["change"].to_numpy(float)
    harmful = np.nan_to_num(change) * sign > 0
    needed = _threshold_z(
        lone_alert_level(scan, params),
        scan["candidates"].to_numpy(float),
        scan["_t0"].to_numpy(),
        scan["_t1"].to_numpy(),
        params.scan_harmful_share,
    )
    rate = scan["before"].to_numpy(float) / 100
    n_after = scan["recs_after"].to_numpy(float)
    e_total = scan["_cur_e_after"].to_numpy(float) + scan["_cur_e_before"].to_numpy(float)
    e_before = e_total - n_after * np.nan_to_num(scan["completeness_after"].to_numpy(float))
    per_week = scan["_cur_n_after"].to_numpy(float) / max(params.current_weeks, 1)
    counts = (scan["metric_id"] != "revenue_per_100").to_numpy()  # the projection is a count test's
    ok = counts & harmful & (rate > 0) & (n_after > 0) & (e_before > 0)
    delta = np.minimum(np.abs(np.nan_to_num(change)), 1.0)
    weeks = np.full(len(scan), np.nan)
    for k in range(CONFIRM_MAX_WEEKS + 1):
        with np.errstate(divide="ignore", invalid="ignore"):
            z = _expected_z(delta, rate, n_after + k * per_week, e_before, sign)
        weeks = np.where(ok & np.isnan(weeks) & (z >= needed), k, weeks)
    return weeks


def _explained(row: pd.Series, alerts: list[dict]) -> bool:
    """Whether an alert on the same metric, same direction, onset close by, tells this movement."""
    for a in alerts:
        if a["metric_id"] != row["metric_id"] or (a["change"] or 0) * row["change"] <= 0:
            continue
        if abs((pd.Timestamp(a["onset"]) - pd.Timestamp(row["onset"])).days) <= INCIDENT_ONSET_DAYS:
            return True
    return False


def _what(row: pd.Series) -> str:
    """What moved, since when, from what level (the row's before, after, change and onset)."""
    who = describe_group(row["segment_column"], row["segment"])
    who = who[0].upper() + who[1:]
    since = f"since about {date_words(row['onset'])}"
    metric_id = row["metric_id"]
    before = format_value(metric_id, row["before"])
    if row["after"] == 0:
        noun = "click on" if metric_id == "ctr" else "purchase from"
        unit = "" if metric_id == "ctr" else " per 100"
        return f"{who}: no {noun} recommendations {since} ({before}{unit} before)"
    after = format_value(metric_id, row["after"])
    pct = f"{abs(row['change']) * 100:.0f}%"
    if metric_id == "ctr":
        return f"{who}: click rate {pct} lower {since} ({before} before, {after} since)"
    return f"{who}: {pct} fewer purchases from recommendations {since} ({before} per 100 before, {after} since)"


def _when_confirmed(row: pd.Series) -> str:
    if pd.isna(row["confirm_weeks"]) or pd.isna(row["confirm_by"]):
        return "if it holds, more than half a year of data would be needed to confirm it"
    if row["confirm_weeks"] == 0:
        return "it would be confirmed once the outcomes still arriving are in, if it holds"
    return f"it would be confirmed by about {date_words(row['confirm_by'])} if it holds"


def watch_list(changes: pd.DataFrame, alerts: list[dict], params: MonitorParams, n: int = WATCH_ITEMS) -> list[dict]:
    """The watch list (module docstring) from ``changes.csv`` and the alerts: at most ``n`` items, the
    largest change first, each ``{"segment_column", "segment", "metric_id", "text"}``."""
    if changes.empty:
        return []
    c = changes.copy()
    change = c["change"].astype(float)
    sign = c["metric_id"].map(HARMFUL_DIRECTION)
    keep = (
        ~c["alert"].astype(bool)
        & c["metric_id"].isin(PRIMARY_METRIC_IDS)
        & (change * sign >= params.min_relative_effect)
        & (c["p_value"] <= params.fdr)
        & c["onset"].notna()
    )
    c = c[keep]
    c = c[[not _explained(r, alerts) for _, r in c.iterrows()]] if len(c) else c
    c = c.assign(_size=c["change"].abs()).sort_values(
        ["_size", "p_value", "segment_column", "segment", "metric_id"], ascending=[False, True, True, True, True]
    )
    c = c.drop_duplicates(["segment_column", "segment"]).head(n)
    items = []
    for _, r in c.iterrows():
        text = (
            f"{_what(r)}; not yet beyond what chance can do among the {int(r['family_size'])} comparisons "
            f"it is tested with; {_when_confirmed(r)}."
        )
        items.append(
            {
                "segment_column": r["segment_column"],
                "segment": str(r["segment"]),
                "metric_id": r["metric_id"],
                "text": text,
            }
        )
    return items
