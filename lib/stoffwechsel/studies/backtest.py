"""The delayed-label backtest: how good are the monitor's completeness-adjusted estimates?

Simulated histories with every outcome known (:func:`stoffwechsel.simulation.simulate.simulate_frames` with
``reveal_truth=True``) are cut at earlier export times (:func:`cut_at_export`), estimated exactly as
production monitoring does (:mod:`stoffwechsel.monitoring`) and compared with the final truth
(:func:`evaluate_delay_estimation`). The ``backtest`` stage (``notebooks/08_backtest.ipynb``)
writes the report to ``reports/monitoring/delay_evaluation.json``. It depends on the simulator and
the estimation code, never on the materials; production monitoring never imports this module or
the simulator.
"""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from types import SimpleNamespace

import numpy as np
import pandas as pd

from stoffwechsel.config import CUSTOMERS_FILE, PRODUCTS_FILE, RECOMMENDATIONS_FILE
from stoffwechsel.glossary import METRICS
from stoffwechsel.monitoring.delays import fit_delay_curves
from stoffwechsel.monitoring.estimates import PER_100, window_metrics
from stoffwechsel.monitoring.params import MonitorParams
from stoffwechsel.monitoring.prepare import Prepared, prepare
from stoffwechsel.monitoring.results import json_number
from stoffwechsel.monitoring.shift import outcome_statuses
from stoffwechsel.simulation.simulate import simulate_frames

__all__ = [
    "DEFAULT_EVALUATION_EXPORTS",
    "METHOD_PARAMS",
    "cut_at_export",
    "evaluate_delay_estimation",
    "materials_from_frames",
    "method_params",
]

#: the ``monitor`` parameters the estimation uses (dvc.yaml's backtest stage declares exactly
#: these, so a change to the alert injection does not re-run the backtest)
METHOD_PARAMS = (
    "min_customers",
    "reference_weeks",
    "current_weeks",
    "fdr",
    "min_relative_effect",
    "critical_q",
    "critical_relative_effect",
    "interval",
    "new_customer_days",
    "draws",
    "seed",
)


def method_params(monitor_section: dict) -> dict:
    """The estimation parameters (:data:`METHOD_PARAMS`) of params.yaml's ``monitor`` section."""
    missing = [k for k in METHOD_PARAMS if k not in monitor_section]
    if missing:
        raise KeyError(f"params.yaml monitor: missing {missing} (the backtest estimates with them)")
    return {k: monitor_section[k] for k in METHOD_PARAMS}


_TS = "%Y-%m-%dT%H:%M:%S"
#: export times at which the evaluation cuts the labels: every 3-4 days, mornings and evenings
DEFAULT_EVALUATION_EXPORTS = tuple(
    f"2026-{md}"
    for md in (
        "02-13T06:00:00",
        "02-17T18:00:00",
        "02-20T06:00:00",
        "02-24T18:00:00",
        "02-27T06:00:00",
        "03-03T18:00:00",
        "03-06T06:00:00",
        "03-10T18:00:00",
        "03-13T06:00:00",
        "03-17T18:00:00",
        "03-20T06:00:00",
        "03-24T18:00:00",
        "03-27T06:00:00",
        "03-29T22:00:00",
        "03-31T06:00:00",
    )
)


def materials_from_frames(frames: dict[str, pd.DataFrame]) -> SimpleNamespace:
    """Typed products / customers / recommendations from :func:`simulate_frames` string frames
    (``true_*`` timestamp columns typed too)."""

    def ts(s):
        return pd.to_datetime(s.where(s != ""), format=_TS)

    prod = frames[PRODUCTS_FILE].copy()
    prod["price_eur"] = prod["price_eur"].astype(float)
    cust = frames[CUSTOMERS_FILE].copy()
    cust["signup_date"] = pd.to_datetime(cust["signup_date"], format="%Y-%m-%d")
    recs = frames[RECOMMENDATIONS_FILE].copy()
    for c in [c for c in recs.columns if c.endswith("_at") or c == "export_time"]:
        recs[c] = ts(recs[c])
    recs["score"] = recs["score"].astype(float)
    recs["position"] = recs["position"].astype(int)
    return SimpleNamespace(products=prod, customers=cust, recommendations=recs)


def cut_at_export(recommendations: pd.DataFrame, export_time) -> pd.DataFrame:
    """The recommendation file as it would have been exported at ``export_time``, from the
    uncensored ``true_*_at`` columns: rows served by then, outcomes seen by then, statuses
    recomputed as the simulator decides them."""
    t = pd.Timestamp(export_time)
    r = recommendations[recommendations["served_at"] <= t].copy()
    r["clicked_at"] = r["true_clicked_at"].where(r["true_clicked_at"] <= t)
    r["purchased_at"] = r["true_purchased_at"].where(r["true_purchased_at"] <= t)
    r["returned_at"] = r["true_returned_at"].where(r["true_returned_at"] <= t)
    r["export_time"] = t
    return outcome_statuses(r, t).reset_index(drop=True)


def _window_start_of(prep: Prepared, period: str) -> pd.Series:
    day = prep.recs["day"]
    if period == "day":
        return day
    return prep.first_day + pd.to_timedelta(((day - prep.first_day).dt.days // 7) * 7, unit="D")


def _truth_and_naive(recs: pd.DataFrame, prep: Prepared, groupings, kinds) -> pd.DataFrame:
    """Per day/week window x group: the final truth (true outcomes of the same recommendations)
    and the naive value that counts pending as "no" (what a tool without label delay shows)."""
    full = recs.set_index("rec_id").loc[prep.recs["rec_id"]]
    r = prep.recs
    values = (
        pd.DataFrame(
            {
                ("truth", "ctr"): full["true_clicked_at"].notna().to_numpy(),
                ("truth", "purchases_per_100"): full["true_purchased_at"].notna().to_numpy(),
                ("truth", "kept_per_100"): (
                    full["true_purchased_at"].notna() & full["true_returned_at"].isna()
                ).to_numpy(),
                ("naive", "ctr"): r["click_seen"].to_numpy(),
                ("naive", "purchases_per_100"): r["purchase_seen"].to_numpy(),
                ("naive", "kept_per_100"): (r["purchase_seen"] & ~r["return_seen"]).to_numpy(),
            }
        ).astype(float)
        * PER_100
    )
    parts = []
    for period in kinds:
        start = _window_start_of(prep, period).to_numpy()
        for col in groupings:
            g = values.groupby([start, r[col].to_numpy()]).mean()
            g.index.names = ["window_start", "segment"]
            g = g.stack(level=1, future_stack=True).reset_index().rename(columns={"level_2": "metric_id"})
            parts.append(g.assign(period=period, segment_column=col))
    out = pd.concat(parts, ignore_index=True)
    out.columns = [c if isinstance(c, str) else c for c in out.columns]
    return out


_EVALUATION_STATE: dict = {}


def _evaluate_export(task: tuple[int, str]) -> pd.DataFrame:
    """One backtest of :func:`evaluate_delay_estimation`: data set ``i`` cut at ``export``."""
    i, export = task
    st = _EVALUATION_STATE
    mat, params, groupings, kinds = st["materials"][i], st["params"], st["groupings"], st["kinds"]
    cut = cut_at_export(mat.recommendations, export)
    m = SimpleNamespace(recommendations=cut, customers=mat.customers, products=mat.products)
    prep = prepare(m, params, strict=False)
    curves = fit_delay_curves(prep)
    metrics, *_ = window_metrics(prep, curves, params, kinds=kinds, groupings=groupings, complement=False)
    est = metrics[
        metrics["period"].isin(kinds) & metrics["metric_id"].isin(["ctr", "purchases_per_100", "kept_per_100"])
    ]
    truth = _truth_and_naive(mat.recommendations, prep, groupings, kinds)
    keys = ["period", "window_start", "segment_column", "segment", "metric_id"]
    return est.merge(truth, on=keys, validate="1:1").assign(dataset=i, export=export)


def evaluate_delay_estimation(
    frames_list: list[dict] | None = None,
    seeds=(1, 2, 3),
    scale: float = 1.0,
    exports=None,
    params: MonitorParams | dict | None = None,
    groupings=("all", "segment"),
    kinds=("day", "week"),
    jobs: int | None = None,
) -> dict:
    """How good are the completeness-adjusted estimates and their intervals?

    For each simulated data set (``frames_list`` from ``simulate_frames(..., reveal_truth=True)``,
    or simulated here from ``seeds`` at ``scale``), the labels are cut at several earlier export
    times (:func:`cut_at_export`), the weekly windows are estimated exactly as in production, and
    compared with the final truth of the same recommendations. Reports, per metric: mean absolute
    error of the estimate and of two naive values (pending counted as "no"; matured recommendations
    only), and the coverage of the final-value interval over windows whose labels were incomplete
    (completeness < 99%), against the nominal level. The backtests run in ``jobs`` forked
    processes (default: one per core); the report does not depend on ``jobs``.
    """
    params = params if isinstance(params, MonitorParams) else MonitorParams.from_dict(params)
    if frames_list is None:
        frames_list = [simulate_frames(seed=s, scale=scale, reveal_truth=True) for s in seeds]
    if exports is None:
        exports = DEFAULT_EVALUATION_EXPORTS
    _EVALUATION_STATE.update(
        materials=[materials_from_frames(f) for f in frames_list], params=params, groupings=groupings, kinds=kinds
    )
    tasks = [(i, export) for i in range(len(frames_list)) for export in exports]
    jobs = max(1, min(jobs or os.cpu_count() or 1, len(tasks)))
    try:
        if jobs == 1:
            rows = [_evaluate_export(t) for t in tasks]
        else:  # the backtests are independent; forked workers inherit the simulated data
            ctx = multiprocessing.get_context("fork")
            with ProcessPoolExecutor(max_workers=jobs, mp_context=ctx) as pool:
                rows = list(pool.map(_evaluate_export, tasks))
    finally:
        _EVALUATION_STATE.clear()
    ev = pd.concat(rows, ignore_index=True)
    ev["immature"] = ev["completeness"] < 0.99
    ev["covered"] = (ev["truth"] >= ev["estimate_low"] - 1e-9) & (ev["truth"] <= ev["estimate_high"] + 1e-9)
    ev["err"] = (ev["estimate"] - ev["truth"]).abs()
    ev["err_naive"] = (ev["naive"] - ev["truth"]).abs()
    ev["err_observed"] = (ev["observed"] - ev["truth"]).abs()
    target = params.interval - 0.05
    report = {
        "nominal": params.interval,
        "target_coverage": round(target, 4),
        "datasets": len(frames_list),
        "seeds": list(seeds) if seeds is not None else None,
        "scale": scale,
        "exports": list(exports),
        "groupings": list(groupings),
        "windows": "days and Monday-Sunday weeks, groups with at least min_customers customers",
        "units": "per 100 recommendations",
        "metrics": {},
    }
    for (period, metric_id), g in ev.groupby(["period", "metric_id"], sort=True):
        imm = g[g["immature"]]
        report["metrics"].setdefault(metric_id, {})[period] = {
            "metric": METRICS[metric_id],
            "windows": int(len(g)),
            "immature_windows": int(len(imm)),
            "mae_estimate_immature": json_number(imm["err"].mean(), 4),
            "mae_pending_as_no_immature": json_number(imm["err_naive"].mean(), 4),
            "mae_matured_only_immature": json_number(imm["err_observed"].mean(), 4),
            "bias_estimate_immature": json_number((imm["estimate"] - imm["truth"]).mean(), 4),
            "bias_pending_as_no_immature": json_number((imm["naive"] - imm["truth"]).mean(), 4),
            "rmse_estimate_immature": json_number(np.sqrt(((imm["estimate"] - imm["truth"]) ** 2).mean()), 4),
            "rmse_pending_as_no_immature": json_number(np.sqrt(((imm["naive"] - imm["truth"]) ** 2).mean()), 4),
            "mae_estimate_all": json_number(g["err"].mean(), 4),
            "coverage_immature": json_number(imm["covered"].mean(), 4),
            "coverage_all": json_number(g["covered"].mean(), 4),
            "mean_completeness_immature": json_number(imm["completeness"].mean(), 4),
            "meets_target": bool(imm.empty or imm["covered"].mean() >= target),
        }
    delayed = ev[ev["immature"] & ev["metric_id"].isin(["purchases_per_100", "kept_per_100"])]
    report["coverage_delayed_outcomes"] = json_number(delayed["covered"].mean(), 4)
    report["meets_target"] = all(v["meets_target"] for m in report["metrics"].values() for v in m.values())
    ev["completeness_band"] = pd.cut(
        ev["completeness"], [0, 0.25, 0.5, 0.75, 0.9, 0.99, 1.0], include_lowest=True
    ).astype(str)
    report["by_completeness"] = _for_json(
        ev[ev["immature"]]
        .groupby(["metric_id", "completeness_band"])
        .agg(
            windows=("covered", "size"),
            coverage=("covered", "mean"),
            mae_estimate=("err", "mean"),
            mae_pending_as_no=("err_naive", "mean"),
        )
        .reset_index()
    )
    report["by_dataset"] = _for_json(
        ev[ev["immature"]]
        .groupby(["metric_id", "dataset"])
        .agg(windows=("covered", "size"), coverage=("covered", "mean"), mae_estimate=("err", "mean"))
        .reset_index()
    )
    return report


def _for_json(frame: pd.DataFrame) -> list[dict]:
    out = []
    for rec in frame.to_dict(orient="records"):
        out.append(
            {
                k: (
                    json_number(v, 4)
                    if isinstance(v, (float, np.floating))
                    else int(v)
                    if isinstance(v, (np.integer, bool, np.bool_))
                    else v
                )
                for k, v in rec.items()
            }
        )
    return out
