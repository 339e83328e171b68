"""The entry point: :func:`run_monitoring` (materials + params -> :class:`~.results.MonitoringResult`).

The calculator's steps, each in its own module: preparation (:mod:`.prepare`), delay curves
(:mod:`.delays`), windows and their estimates (:mod:`.windows`, :mod:`.estimates`), tests and
alerts (:mod:`.alerts`), drift (:mod:`.drift`), root cause (:mod:`.decomposition`); then the
summary the dashboard's headline reads. With ``inject_enabled`` a planted shift
(:mod:`stoffwechsel.monitoring.shift`, not the simulator) is put on top of the materials first.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd

from stoffwechsel.domain import SEVERITY_ORDER
from stoffwechsel.glossary import METRICS
from stoffwechsel.monitoring.alerts import alert_on_changes, build_alerts, compare_to_reference
from stoffwechsel.monitoring.changepoint import SCAN_COLUMNS, day_series, detectable_change, scan_changes
from stoffwechsel.monitoring.decomposition import decomposition_table
from stoffwechsel.monitoring.delays import delay_curve_table, fit_delay_curves
from stoffwechsel.monitoring.drift import drift_table
from stoffwechsel.monitoring.estimates import METRIC_COLUMNS, window_metrics
from stoffwechsel.monitoring.incidents import build_incidents
from stoffwechsel.monitoring.params import MonitorParams
from stoffwechsel.monitoring.prepare import Prepared, prepare
from stoffwechsel.monitoring.results import OUTPUT_TABLES, WAITING, MonitoringResult, json_number
from stoffwechsel.monitoring.shift import Shift, inject_shift
from stoffwechsel.monitoring.silence import tile_status
from stoffwechsel.monitoring.watch import confirm_weeks
from stoffwechsel.monitoring.windows import Windows
from stoffwechsel.monitoring.wording import MONITORING_WAITS

__all__ = ["run_monitoring", "waiting_result"]


def run_monitoring(materials, params: MonitorParams | dict | None = None) -> MonitoringResult:
    """Monitor the production recommendations of ``materials`` (anything with ``recommendations``,
    ``customers`` and ``products`` frames typed as by :func:`stoffwechsel.data.contract.load_materials`).
    Without a recommendation log (no accepted row): :func:`waiting_result`, so the site's other
    pages (Model, Data quality, Glossary, Verification) are still built for a shop that has not
    deployed recommendations yet."""
    params = params if isinstance(params, MonitorParams) else MonitorParams.from_dict(params)
    if len(materials.recommendations) == 0:
        return waiting_result(params)
    if params.inject_enabled:
        shift = Shift(
            params.inject_column, params.inject_value, pd.Timestamp(params.inject_start).date(), params.inject_effect
        )
        recs = inject_shift(materials.recommendations, materials.customers, shift, params.inject_seed)
        materials = SimpleNamespace(recommendations=recs, customers=materials.customers, products=materials.products)
    prep = prepare(materials, params)
    curves = fit_delay_curves(prep)
    metrics, win, shown, metrics_all = window_metrics(prep, curves, params)
    cmp = compare_to_reference(metrics, params, prep.reference[1])
    changes = _changes(win, curves, shown, prep, params)
    alerts = build_alerts(changes, prep, params)
    drift = drift_table(win, shown, prep, params)
    decomposition = decomposition_table(metrics_all, win, shown, params)
    curves_table = delay_curve_table(curves, params.interval, params.seed)
    keep = METRIC_COLUMNS
    weekly = metrics[metrics["period"].isin(["week", "reference", "current"])][keep].reset_index(drop=True)
    daily = metrics[metrics["period"] == "day"][keep].reset_index(drop=True)
    cmp_cols = [
        "period",
        "window_start",
        "window_end",
        "segment_column",
        "segment",
        "metric_id",
        "metric",
        "recs",
        "customers",
        "observed",
        "completeness",
        "estimate",
        "estimate_low",
        "estimate_high",
        "expected",
        "change",
        "p_value",
        "q_value",
    ]
    result = MonitoringResult(
        params=params.as_dict(),
        export_time=prep.export_time,
        reference=prep.reference,
        current=prep.current,
        weekly=weekly,
        daily=daily,
        comparisons=cmp[cmp_cols],
        changes=changes[SCAN_COLUMNS],
        alerts=alerts,
        incidents=build_incidents(alerts),
        drift=drift,
        decomposition=decomposition,
        delay_curves=curves_table,
        summary={},
        curves=curves,
    )
    result.summary = _summary(result, metrics, prep, win, shown, changes)
    return result


def waiting_result(params: MonitorParams) -> MonitoringResult:
    """The monitoring of a shop without a recommendation log: no alerts, every table empty (its
    key columns only, :data:`~.results.OUTPUT_TABLES`), and a summary whose ``status`` is
    :data:`~.results.WAITING` with the sentence every page and target shows
    (:data:`~.wording.MONITORING_WAITS`)."""
    empty = {attr: pd.DataFrame(columns=order) for attr, (_, order) in OUTPUT_TABLES.items()}
    summary = {
        "status": WAITING,
        "message": MONITORING_WAITS,
        "alerts": {"total": 0, **{s: 0 for s in SEVERITY_ORDER}},
        "incidents": [],
        "settings": params.as_dict(),
    }
    return MonitoringResult(
        params=params.as_dict(),
        export_time=None,
        reference=None,
        current=None,
        alerts=[],
        summary=summary,
        **empty,
    )


def _changes(win: Windows, curves, shown: np.ndarray, prep: Prepared, params: MonitorParams) -> pd.DataFrame:
    """The change-point scan (:mod:`.changepoint`) of every group shown in the current period, its
    alerts (:func:`.alerts.alert_on_changes`) and what could be seen by now."""
    f = win.frame.reset_index(drop=True)
    current = f[(f["period"] == "current").to_numpy() & shown][["segment_column", "segment"]]
    series = day_series(win, curves, current.drop_duplicates().reset_index(drop=True), prep.first_day)
    scan = detectable_change(alert_on_changes(scan_changes(series, prep, params), params), params)
    weeks = confirm_weeks(scan, params)
    last_day = pd.Timestamp(prep.recs["day"].max()).normalize()
    return scan.assign(confirm_weeks=weeks, confirm_by=last_day + pd.to_timedelta(weeks * 7, unit="D"))


def _summary(
    res: MonitoringResult, metrics: pd.DataFrame, prep: Prepared, win: Windows, shown: np.ndarray, changes: pd.DataFrame
) -> dict:
    """summary.json: the data's extent, the periods, the headline numbers, alert counts, settings."""
    cur = metrics[(metrics["period"] == "current") & (metrics["segment_column"] == "all")].set_index("metric_id")
    scan_all = changes[changes["segment_column"] == "all"].set_index("metric_id")
    params = MonitorParams.from_dict(res.params)
    headline = []
    for metric_id, name in METRICS.items():
        if metric_id not in cur.index:
            continue
        c = cur.loc[metric_id]
        low = scan_all.loc[metric_id, "current_change_low"] if metric_id in scan_all.index else None
        high = scan_all.loc[metric_id, "current_change_high"] if metric_id in scan_all.index else None
        status, words = tile_status(metric_id, json_number(low), json_number(high), res.alerts, params)
        headline.append(
            {
                "metric_id": metric_id,
                "metric": name,
                "usual_level": json_number(c["reference"]),
                "now": json_number(c["estimate"]),
                "now_low": json_number(c["estimate_low"]),
                "now_high": json_number(c["estimate_high"]),
                "change": json_number(c["change"]),
                "share_of_outcomes_in": json_number(c["completeness"]),
                "current_change_low": json_number(low),
                "current_change_high": json_number(high),
                "status": status,
                "status_words": words,
            }
        )
    f = win.frame
    is_week = (f["period"] == "week").to_numpy()
    groups = f[is_week].assign(shown=shown[is_week])
    sev = pd.Series([a["severity"] for a in res.alerts], dtype=object)
    r = prep.recs
    return {
        "export_time": prep.export_time.strftime("%Y-%m-%dT%H:%M:%S"),
        "data": {
            "recommendations": int(len(r)),
            "customers": int(r["customer_id"].nunique()),
            "first_day": r["day"].min().strftime("%Y-%m-%d"),
            "last_day": r["day"].max().strftime("%Y-%m-%d"),
        },
        "reference": {"start": prep.reference[0].strftime("%Y-%m-%d"), "end": prep.reference[1].strftime("%Y-%m-%d")},
        "current": {"start": prep.current[0].strftime("%Y-%m-%d"), "end": prep.current[1].strftime("%Y-%m-%d")},
        "headline": headline,
        "alerts": {"total": len(res.alerts), **{s: int((sev == s).sum()) for s in SEVERITY_ORDER}},
        "top_alerts": [a["message"] for a in res.alerts[:5]],
        "incidents": [i["headline"] for i in res.incidents],
        "comparisons": int(len(res.comparisons)),
        "group_weeks_shown": int(groups["shown"].sum()),
        "group_weeks_not_shown": int((~groups["shown"]).sum()),
        "delays": {
            k: {"events_learned_from": c.events, "median_hours": round(c.median_delay_s() / 3600, 2)}
            for k, c in res.curves.items()
        },
        "model_rollouts": [{"model_version": v, "first_day": d.strftime("%Y-%m-%d")} for v, d in prep.rollouts],
        "interval": res.params["interval"],
        "settings": dict(res.params),
    }
