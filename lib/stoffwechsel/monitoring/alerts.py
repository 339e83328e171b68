"""Alerts: every window after the usual period tested against it, false alarms controlled, severity.

:func:`compare_to_reference` tests each customer group x metric x window (weeks after the
reference period and "since week w" windows) against the group's reference with an exact test
(Fisher where every outcome is in; a binomial test on completeness-weighted exposure while
outcomes are still arriving; a normal test on the log rate for purchases kept), then
Benjamini-Hochberg across all comparisons. An alert needs q <= ``fdr`` and the whole final-value
range beyond reference x (1 +/- ``min_relative_effect``); a harmful one is *critical* at
q <= ``critical_q`` and a change of at least ``critical_relative_effect``, else a *warning*; a
change for the better is *info*. :func:`build_alerts` keeps one alert per group and metric.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from ..domain import ALERT_METRIC_IDS, HARMFUL_DIRECTION, SEVERITY_ORDER
from ..glossary import technical_terms_in
from .params import MonitorParams
from .prepare import GROUPINGS, Prepared
from .results import json_number, json_significant
from .wording import alert_message, describe_group, hint, own_words

__all__ = ["compare_to_reference", "build_alerts"]


def _two_sided(lower_tail: np.ndarray, upper_tail: np.ndarray, direction: np.ndarray) -> np.ndarray:
    """Doubled tail in the direction of the change (exact tests), capped at 1."""
    tail = np.where(direction < 0, lower_tail, upper_tail)
    return np.minimum(1.0, 2 * tail)


def _p_values(cmp: pd.DataFrame) -> np.ndarray:
    """Two-sided p-value per comparison row (columns *_cur / *_ref)."""
    direction = np.sign(cmp["estimate_cur"].fillna(0) - cmp["estimate_ref"].fillna(0)).to_numpy()
    p = np.ones(len(cmp))
    x, n = cmp["events_cur"].to_numpy(float), cmp["recs_cur"].to_numpy(float)
    xr, nr = cmp["events_ref"].to_numpy(float), cmp["recs_ref"].to_numpy(float)
    mature = (cmp["completeness_cur"] >= 1 - 1e-9).to_numpy() & (cmp["completeness_ref"] >= 1 - 1e-9).to_numpy()
    metric = cmp["metric_id"].to_numpy()
    counts = np.isin(metric, ["ctr", "purchases_per_100", "sustainable_share", "reused_id_share"])
    # Fisher's exact test where every outcome is in: x ~ hypergeometric(n + nr, x + xr, n)
    fisher = counts & (mature | np.isin(metric, ["sustainable_share", "reused_id_share"]))
    if fisher.any():
        M, K, N, k = (nr + n)[fisher], (xr + x)[fisher], n[fisher], x[fisher]
        p[fisher] = _two_sided(stats.hypergeom.cdf(k, M, K, N), stats.hypergeom.sf(k - 1, M, K, N), direction[fisher])
    # rates with outcomes still to come: x | x + xr ~ binomial with completeness-weighted exposure;
    # the least favourable completeness inside its interval is used (conservative)
    rate = counts & ~fisher
    if rate.any():
        d = direction[rate]
        e_cur = np.where(d < 0, cmp["exposure_low_cur"].to_numpy()[rate], cmp["exposure_high_cur"].to_numpy()[rate])
        e_ref = np.where(d < 0, cmp["exposure_high_ref"].to_numpy()[rate], cmp["exposure_low_ref"].to_numpy()[rate])
        e_cur, e_ref = np.maximum(e_cur, 1e-9), np.maximum(e_ref, 1e-9)
        total, k = (x + xr)[rate], x[rate]
        share = e_cur / (e_cur + e_ref)
        p[rate] = _two_sided(stats.binom.cdf(k, total, share), stats.binom.sf(k - 1, total, share), d)
    # purchases kept: normal test on the log of the posterior draws of the two rates
    kept = metric == "kept_per_100"
    if kept.any():
        z = (cmp["log_mean_cur"] - cmp["log_mean_ref"]).to_numpy()[kept] / np.sqrt(
            (cmp["log_var_cur"] + cmp["log_var_ref"]).to_numpy()[kept])
        p[kept] = 2 * stats.norm.sf(np.abs(z))
    return np.clip(np.nan_to_num(p, nan=1.0), 0.0, 1.0)


def compare_to_reference(metrics: pd.DataFrame, params: MonitorParams, ref_end: pd.Timestamp) -> pd.DataFrame:
    """Every (group, metric, window after the reference) against the group's reference."""
    keys = ["segment_column", "segment", "metric_id"]
    cols = ["recs", "customers", "events", "exposure", "exposure_low", "exposure_high", "completeness",
            "estimate", "estimate_low", "estimate_high", "observed", "log_mean", "log_var"]
    cur = metrics[metrics["metric_id"].isin(ALERT_METRIC_IDS)
                  & (((metrics["period"] == "week") & (metrics["window_start"] > ref_end))
                     | (metrics["period"] == "since"))]
    ref = metrics[metrics["metric_id"].isin(ALERT_METRIC_IDS) & (metrics["period"] == "reference")]
    cmp = cur[keys + ["period", "window_start", "window_end", "metric"] + cols].merge(
        ref[keys + cols], on=keys, suffixes=("_cur", "_ref"), validate="m:1")
    cmp = cmp[cmp["estimate_ref"].notna() & cmp["estimate_cur"].notna()].reset_index(drop=True)
    cmp["p_value"] = _p_values(cmp)
    cmp["q_value"] = stats.false_discovery_control(cmp["p_value"].to_numpy(), method="bh") if len(cmp) else []
    ref_v, est = cmp["estimate_ref"], cmp["estimate_cur"]
    with np.errstate(divide="ignore", invalid="ignore"):
        cmp["change"] = np.where(ref_v > 0, est / ref_v - 1, np.where(est > 0, np.inf, 0.0))
    m = params.min_relative_effect
    falls = (cmp["estimate_high_cur"] <= ref_v * (1 - m)) & (est < ref_v)
    rises = (cmp["estimate_low_cur"] >= ref_v * (1 + m)) & (est > ref_v) & (cmp["estimate_low_cur"] > 0)
    cmp["beyond_threshold"] = falls | rises
    cmp["alert"] = cmp["beyond_threshold"] & (cmp["q_value"] <= params.fdr)
    harmful = np.sign(cmp["change"]) == cmp["metric_id"].map(HARMFUL_DIRECTION)
    critical = harmful & (cmp["q_value"] <= params.critical_q) & (
        cmp["change"].abs() >= params.critical_relative_effect)
    cmp["severity"] = np.where(cmp["alert"], np.where(harmful, np.where(critical, "critical", "warning"), "info"), "")
    return cmp.rename(columns={"estimate_ref": "expected", "observed_cur": "observed", "estimate_cur": "estimate",
                               "estimate_low_cur": "estimate_low", "estimate_high_cur": "estimate_high",
                               "completeness_cur": "completeness", "recs_cur": "recs", "customers_cur": "customers"})



def build_alerts(cmp: pd.DataFrame, metrics: pd.DataFrame, prep: Prepared,
                 params: MonitorParams | None = None) -> list[dict]:
    """The alerts of the flagged comparisons, one per group x metric (the window with the strongest
    evidence), most severe first, each with its message in business words."""
    flagged = cmp[cmp["alert"]].copy()
    if flagged.empty:
        return []
    # one alert per group x metric: the window with the strongest evidence (then the longer one)
    flagged["length"] = (flagged["window_end"] - flagged["window_start"]).dt.days
    flagged = flagged.sort_values(["p_value", "length", "window_start"], ascending=[True, False, True],
                                  kind="mergesort")
    flagged = flagged.drop_duplicates(["segment_column", "segment", "metric_id"])
    order = {c: i for i, c in enumerate(GROUPINGS)}
    flagged = flagged.assign(_sev=flagged["severity"].map(SEVERITY_ORDER), _col=flagged["segment_column"].map(order))
    flagged = flagged.sort_values(["_sev", "_col", "q_value", "segment", "metric_id"], kind="mergesort")
    out = []
    for _, a in flagged.iterrows():
        message = alert_message(a, hint(a, metrics, prep, params))
        bad = technical_terms_in(own_words(message, a, prep))
        if bad:  # pragma: no cover - the package's own wording, guarded by tests
            raise AssertionError(f"alert wording uses technical terms {bad}: {message}")
        out.append({
            "segment_column": a["segment_column"], "segment": a["segment"],
            "group": describe_group(a["segment_column"], a["segment"]),
            "metric": a["metric"], "metric_id": a["metric_id"], "window": a["period"],
            "window_start": a["window_start"].strftime("%Y-%m-%d"), "window_end": a["window_end"].strftime("%Y-%m-%d"),
            "observed": json_number(a["observed"]), "expected": json_number(a["expected"]),
            "estimate": json_number(a["estimate"]),
            "estimate_low": json_number(a["estimate_low"]), "estimate_high": json_number(a["estimate_high"]),
            "completeness": json_number(a["completeness"]), "change": json_number(a["change"]),
            "recs": int(a["recs"]), "customers": int(a["customers"]),
            "p_value": json_significant(a["p_value"]), "q_value": json_significant(a["q_value"]),
            "severity": a["severity"], "message": message,
        })
    return out

