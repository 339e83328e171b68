"""Honest silence: what no alert means, and the headline tiles' colours.

No alert is not good news by itself: it can mean that too few outcomes are in to tell. For each
customer group and metric without an alert, :func:`silence_table` says what could have been seen by
now (:func:`.changepoint.detectable_change`): "a fall of 50% or more in Trend Seekers' purchases per
100 recommendations would show by now; smaller ones cannot be told yet: about 2 more weeks of data
needed for a fall of 25%".

:func:`tile_status` colours a headline tile: an alert on all customers gives its severity; without
one the tile is *fine* (green, check mark) only when the range of the change of the current period
(against the weeks before it) rules out a harmful change of ``min_relative_effect``; otherwise it is
*not clear yet* (neutral, with its range), never a check mark.
"""

from __future__ import annotations

import math

import pandas as pd

from stoffwechsel.domain import HARMFUL_DIRECTION
from stoffwechsel.formats import date_words
from stoffwechsel.glossary import METRICS
from stoffwechsel.monitoring.params import MonitorParams
from stoffwechsel.monitoring.wording import describe_group, percent_range

__all__ = ["TILE_STYLE", "tile_status", "silence_sentence", "silence_table"]

#: tile status -> (value box colour, icon, words)
TILE_STYLE = {
    "critical": ("danger", "exclamation-triangle", "act now"),
    "warning": ("warning", "exclamation-triangle", "watch"),
    "info": ("info", "arrow-up-circle", "changed for the better"),
    "fine": ("success", "check-circle", "no harmful change"),
    "not_clear": ("light", "hourglass", "not clear yet"),
}


def _finite(v) -> bool:
    return v is not None and not (isinstance(v, float) and math.isnan(v))


def tile_status(metric_id: str, low, high, alerts: list[dict], params: MonitorParams) -> tuple[str, str]:
    """(status, words) of a headline tile: ``low``/``high`` the range of the current period's
    change for all customers (relative, against the weeks before it)."""
    severities = {a["severity"] for a in alerts if a["metric_id"] == metric_id and a["segment_column"] == "all"}
    for severity in ("critical", "warning", "info"):
        if severity in severities:
            return severity, TILE_STYLE[severity][2]
    harm = HARMFUL_DIRECTION.get(metric_id, -1)
    m = params.min_relative_effect
    noun = "fall" if harm < 0 else "rise"
    if _finite(low) and _finite(high):
        rules_out = low > -m if harm < 0 else high < m
        if rules_out:
            return (
                "fine",
                f"no {noun} of {m:.0%} or more (the last {params.current_weeks} weeks: {percent_range(low, high)})",
            )
        return "not_clear", f"not clear yet: the last {params.current_weeks} weeks are {percent_range(low, high)}"
    return "not_clear", "not clear yet: too few outcomes are in"


def silence_sentence(row: pd.Series, params: MonitorParams, since=None) -> str:
    """What could have been seen by now in one group and metric without an alert, for a change
    from ``since`` (the current period's start) on."""
    who = describe_group(row["segment_column"], row["segment"])
    metric = METRICS[row["metric_id"]].lower() if row["metric_id"] != "ctr" else "click rate"
    noun = "fall" if HARMFUL_DIRECTION.get(row["metric_id"], -1) < 0 else "rise"
    d, weeks, m = row["detectable_change"], row["weeks_to_min_effect"], params.min_relative_effect
    when = f" since {date_words(since)}" if since is not None else ""
    if pd.isna(d):
        return (
            f"Even a complete stop{when} in the {metric} of {who} would not reliably show yet: "
            "too few recommendations and outcomes since then."
        )
    text = f"A {noun} of {abs(d):.0%} or more{when} in the {metric} of {who} would show by now"
    if abs(d) <= m:
        return text + "."
    if pd.isna(weeks):
        return text + f"; smaller ones cannot be told yet (a {noun} of {m:.0%} needs more than half a year of data)."
    if weeks == 0:
        return text + f"; a {noun} of {m:.0%} will show once the outcomes still arriving are in."
    return (
        text + f"; smaller ones cannot be told yet: about {weeks:.0f} more week{'s' if weeks != 1 else ''} of data "
        f"needed for a {noun} of {m:.0%}."
    )


def silence_table(changes: pd.DataFrame, params: MonitorParams, since=None) -> pd.DataFrame:
    """Per group and metric without an alert: the smallest harmful change that would show by now
    and the sentence; the rows of the scan (``changes.csv``) with ``alert`` false."""
    quiet = changes[~changes["alert"].astype(bool)].copy()
    quiet["could_see"] = [silence_sentence(r, params, since) for _, r in quiet.iterrows()]
    return quiet
