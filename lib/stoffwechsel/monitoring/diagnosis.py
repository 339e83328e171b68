"""Diagnoses are not alarms: the likely cause of an outcome alert, named only when the data supports it.

The share of reused product numbers and the model version explain outcome changes; they are never
alerts on their own (:data:`stoffwechsel.domain.DIAGNOSIS_METRIC_IDS`). An alert's "check first"
names one only with evidence from the alert's own group and time:

* :func:`reused_cause_since` (outcome alerts: clicks, purchases, purchases kept, revenue): in the
  alert's group the reused share rose from the onset on by at least ``hint_reused_points`` points,
  to at least ``hint_reused_factor`` x its level before, with a chance of a fluke (one-sided exact
  test) of at most ``hint_cause_p``; and since the onset the recommendations of reused numbers did
  worse than the group's other recommendations (same test level): the items whose keying did not
  change are the group's own control.
* :func:`model_cause`: a model update went live between a week before the alert's window and its
  end (for a change-point alert: a week around the onset's range), and in the alert's group the
  outcome stepped at that day: the two weeks after against the two weeks before (outcomes all in
  only), in the alert's direction, by at least ``min_relative_effect``, with a chance of a fluke
  of at most ``hint_cause_p``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from stoffwechsel.domain import OUTCOME_ALERT_METRIC_IDS
from stoffwechsel.formats import date_words, format_value
from stoffwechsel.monitoring.params import MonitorParams
from stoffwechsel.monitoring.prepare import Prepared

__all__ = ["reused_cause_since", "model_cause", "STEP_DAYS"]

#: days before and after a model update compared for the step at the update
STEP_DAYS = 14

#: per alerted metric: the recommendation flags (event, still open) of its tests (a step at a model
#: update; reused against first-use items)
_STEP_FLAGS = {
    "ctr": ("click_seen", "click_open"),
    "purchases_per_100": ("purchase_seen", "purchase_open"),
    "kept_per_100": ("purchase_seen", "purchase_open"),
    "revenue_per_100": ("purchase_seen", "purchase_open"),
    "sustainable_share": ("certified", None),
}


def _fisher_one_sided(x1: float, n1: float, x0: float, n0: float, rise: bool) -> float:
    """One-sided exact test of x1/n1 against x0/n0 (hypergeometric), in the direction ``rise``."""
    if n1 <= 0 or n0 <= 0:
        return 1.0
    M, K, N = n0 + n1, x0 + x1, n1
    return float(stats.hypergeom.sf(x1 - 1, M, K, N) if rise else stats.hypergeom.cdf(x1, M, K, N))


def reused_cause_since(alert: pd.Series, prep: Prepared, params: MonitorParams) -> str | None:
    """The reused-number hint of a change-point alert (a scan row: group, metric, ``onset``, ``change``)
    when the data supports it, else None. In the alert's group, from the onset on against before it:
    the reused share rose by at least ``hint_reused_points`` points, to at least ``hint_reused_factor``
    x, with a chance of a fluke of at most ``hint_cause_p``; and the recommendations of reused
    numbers did worse than the others since the onset (outcomes all in, in the alert's direction,
    chance of a fluke at most ``hint_cause_p``): the items that did not change keying are the group's
    own control, so a cause is named only where the drop sits in the reused items."""
    if alert["metric_id"] not in OUTCOME_ALERT_METRIC_IDS or pd.isna(alert["onset"]):
        return None
    event, open_ = _STEP_FLAGS[alert["metric_id"]]
    r = prep.recs
    group = (
        r if alert["segment_column"] == "all" else r[r[alert["segment_column"]].astype(str) == str(alert["segment"])]
    )
    after = (group["day"] >= alert["onset"]).to_numpy()
    reused = group["reused"].to_numpy(bool)
    n1, n0 = after.sum(), (~after).sum()
    if n1 == 0 or n0 == 0:
        return None
    s1, s0 = reused[after].mean() * 100, reused[~after].mean() * 100
    rise = s1 - s0
    if rise < params.hint_reused_points or s1 < params.hint_reused_factor * s0:
        return None
    if _fisher_one_sided(reused[after].sum(), n1, reused[~after].sum(), n0, rise=True) > params.hint_cause_p:
        return None
    done = after & ~group[open_].to_numpy(bool)
    hit = group[event].to_numpy(bool)
    xr, nr = float((hit & done & reused).sum()), float((done & reused).sum())
    xo, no = float((hit & done & ~reused).sum()), float((done & ~reused).sum())
    if nr == 0 or no == 0:
        return None
    fall = alert["change"] < 0
    if (xr / nr < xo / no) != fall or _fisher_one_sided(xr, nr, xo, no, rise=not fall) > params.hint_cause_p:
        return None
    what = "clicks" if event == "click_seen" else "purchases"
    return (
        f"new-season products that reuse an old product number (now {s1:.0f}% of the recommendations, "
        f"before {s0:.0f}%; since then {what} per 100 of them: {100 * xr / nr:.1f}, of the others: "
        f"{100 * xo / no:.1f})"
    )


def model_cause(alert: pd.Series, prep: Prepared, params: MonitorParams) -> str | None:
    """The model-update hint when the alert's group stepped at an update inside the alert's time, else None."""

    flags = _STEP_FLAGS.get(alert["metric_id"])
    if flags is None or not prep.rollouts:
        return None
    event, open_ = flags
    r = prep.recs
    group = r[r[alert["segment_column"]].astype(str) == str(alert["segment"])]
    fall = alert["estimate"] < alert["expected"]
    for _version, day in prep.rollouts:  # the release code is the team's, not the owner's: named by its day
        if not alert["window_start"] - pd.Timedelta(days=7) <= day <= alert["window_end"]:
            continue
        before = group[(group["day"] >= day - pd.Timedelta(days=STEP_DAYS)) & (group["day"] < day)]
        after = group[(group["day"] >= day) & (group["day"] < day + pd.Timedelta(days=STEP_DAYS))]
        if open_ is not None:  # outcomes all in only
            before, after = before[~before[open_]], after[~after[open_]]
        n0, n1 = len(before), len(after)
        if n0 == 0 or n1 == 0:
            continue
        x0, x1 = float(before[event].sum()), float(after[event].sum())
        r0, r1 = x0 / n0, x1 / n1
        step = r1 / r0 - 1 if r0 > 0 else (np.inf if r1 > 0 else 0.0)
        if (step < 0) != fall or abs(step) < params.min_relative_effect:
            continue
        if _fisher_one_sided(x1, n1, x0, n0, rise=not fall) > params.hint_cause_p:
            continue
        shown_id = "ctr" if alert["metric_id"] == "ctr" else "sustainable_share" if event == "certified" else None
        fmt = (lambda v, m=shown_id: format_value(m, v * 100)) if shown_id else (lambda v: f"{v * 100:.1f} per 100")
        what = {"click_seen": "clicks", "purchase_seen": "purchases", "certified": "the sustainable share"}[event]
        return (
            f"the model update that went live on {date_words(day)} ({what} in this group went from "
            f"{fmt(r0)} in the two weeks before to {fmt(r1)} in the two weeks after)"
        )
    return None
