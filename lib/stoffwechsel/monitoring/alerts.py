"""Alerts: the change-point scan's rows weighed, false alarms controlled, severity, messages.

:func:`alert_on_changes` takes the scan (:mod:`.changepoint`, one row per customer group x metric)
through weighted Benjamini-Hochberg (:func:`scan_weights`, :func:`false_alarm_control`) in four
families that split the false-alarm budget ``fdr`` in the order the owner reads them
(:data:`FAMILIES`, :func:`scan_families`, shares ``fdr_share_*``, :func:`family_shares`): all
customers; the marketing segments on click rate and purchases per 100; the other single customer
columns on those two; crossed groups and the secondary outcomes. An alert needs q <= ``fdr`` and
an estimated change of at least ``min_relative_effect`` in the scan's direction; a harmful one is
*critical* at q <= ``critical_q`` and a change of at least ``critical_relative_effect``, else a
*warning*; a change for the better is *info*. :func:`build_alerts` writes each alert with its
message and what to check first (:func:`.wording.hint`). Diagnoses (the share of reused product
numbers) are never alerts.

:func:`compare_to_reference` describes each week (and "since week w" window) after the usual
period against it with an exact test and q-values (``comparisons.csv``, for the tables); it
decides no alert.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from stoffwechsel.domain import ALERT_METRIC_IDS, HARMFUL_DIRECTION, PRIMARY_METRIC_IDS, SEVERITY_ORDER
from stoffwechsel.glossary import technical_terms_in
from stoffwechsel.monitoring.params import FAMILY_SHARE_PARAMS, MonitorParams
from stoffwechsel.monitoring.prepare import GROUPINGS, Prepared
from stoffwechsel.monitoring.results import json_number, json_significant
from stoffwechsel.monitoring.wording import change_message, describe_group, hint, hint_cause, own_words

__all__ = [
    "FAMILIES",
    "compare_to_reference",
    "scan_families",
    "family_shares",
    "scan_weights",
    "alert_on_changes",
    "build_alerts",
    "false_alarm_control",
]

#: the false-alarm families in the owner's order of reading, with their share parameter
FAMILIES = dict(zip(("all", "segments", "columns", "rest"), FAMILY_SHARE_PARAMS))


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
    counts = np.isin(metric, ["ctr", "purchases_per_100", "sustainable_share"])
    # Fisher's exact test where every outcome is in: x ~ hypergeometric(n + nr, x + xr, n)
    fisher = counts & (mature | (metric == "sustainable_share"))
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
    # purchases kept and revenue: normal test on the log of the two rates (purchases kept: posterior
    # draws; revenue: compound Poisson variance of the revenue seen, with the completeness draws)
    kept = np.isin(metric, ["kept_per_100", "revenue_per_100"])
    if kept.any():
        z = (cmp["log_mean_cur"] - cmp["log_mean_ref"]).to_numpy()[kept] / np.sqrt(
            (cmp["log_var_cur"] + cmp["log_var_ref"]).to_numpy()[kept]
        )
        p[kept] = 2 * stats.norm.sf(np.abs(z))
    # revenue needs the purchases behind it to have moved too (the larger of the two p-values: a few
    # expensive items must not raise a revenue alert on their own)
    revenue = np.flatnonzero(metric == "revenue_per_100")
    if len(revenue):
        keys = ["segment_column", "segment", "period", "window_start"]
        purchases = pd.Series(
            p[metric == "purchases_per_100"],
            index=pd.MultiIndex.from_frame(cmp.loc[metric == "purchases_per_100", keys]),
        )
        behind = purchases.reindex(pd.MultiIndex.from_frame(cmp.loc[revenue, keys])).fillna(1.0).to_numpy()
        p[revenue] = np.maximum(p[revenue], behind)
    return np.clip(np.nan_to_num(p, nan=1.0), 0.0, 1.0)


def scan_families(segment_column: pd.Series, metric_id: pd.Series) -> np.ndarray:
    """Per row its false-alarm family (:data:`FAMILIES`): ``all`` (all customers, every metric),
    ``segments`` (marketing segments on click rate and purchases per 100), ``columns`` (the other
    single customer columns on those two), ``rest`` (crossed groups, and every group's secondary
    outcomes: purchases kept, revenue per 100, sustainable share)."""
    col = segment_column.astype(str).to_numpy()
    primary = metric_id.isin(PRIMARY_METRIC_IDS).to_numpy()
    crossed = np.char.find(col.astype(str), "_x_") >= 0
    return np.select(
        [col == "all", (col == "segment") & primary, primary & ~crossed],
        ["all", "segments", "columns"],
        "rest",
    ).astype(object)


def family_shares(families: np.ndarray, params: MonitorParams) -> dict[str, float]:
    """Each family's share of ``fdr`` (its ``fdr_share_*`` parameter); the share of a family without
    rows (a shop with no segment column) goes to the next family in the order of :data:`FAMILIES`,
    the share of empty families at the end to the last family that has rows: the shares of the
    families in use always add up to 1, so the whole budget is spent and never more."""
    present = set(families)
    shares: dict[str, float] = {}
    carry, last = 0.0, None
    for family, name in FAMILIES.items():
        carry += getattr(params, name)
        if family in present:
            shares[family], carry, last = carry, 0.0, family
    if last is not None and carry:
        shares[last] += carry
    return shares


def false_alarm_control(p: np.ndarray, families: np.ndarray, shares: dict[str, float]) -> np.ndarray:
    """q-values against the one false-alarm setting ``fdr``: Benjamini-Hochberg within each family,
    the adjusted p-value divided by the family's share (``shares``, adding up to 1). An alert needs
    q <= fdr: each family then keeps its false alerts at its share of ``fdr``, and the share of
    false alerts among all alerts stays at most ``fdr`` (V / R <= sum of V_k / R_k over families)."""
    q = np.ones(len(p))
    for family, share in shares.items():
        rows = families == family
        if rows.any() and share > 0:
            q[rows] = np.minimum(1.0, stats.false_discovery_control(p[rows], method="bh") / share)
    return q


def compare_to_reference(metrics: pd.DataFrame, params: MonitorParams, ref_end: pd.Timestamp) -> pd.DataFrame:
    """Every (group, metric, window after the reference) against the group's reference."""
    keys = ["segment_column", "segment", "metric_id"]
    cols = [
        "recs",
        "customers",
        "events",
        "exposure",
        "exposure_low",
        "exposure_high",
        "completeness",
        "estimate",
        "estimate_low",
        "estimate_high",
        "rate_low",
        "rate_high",
        "observed",
        "log_mean",
        "log_var",
    ]
    cur = metrics[
        metrics["metric_id"].isin(ALERT_METRIC_IDS)
        & (((metrics["period"] == "week") & (metrics["window_start"] > ref_end)) | (metrics["period"] == "since"))
    ]
    ref = metrics[metrics["metric_id"].isin(ALERT_METRIC_IDS) & (metrics["period"] == "reference")]
    cmp = cur[keys + ["period", "window_start", "window_end", "metric"] + cols].merge(
        ref[keys + cols], on=keys, suffixes=("_cur", "_ref"), validate="m:1"
    )
    cmp = cmp[cmp["estimate_ref"].notna() & cmp["estimate_cur"].notna()].reset_index(drop=True)
    cmp["p_value"] = _p_values(cmp)
    families = scan_families(cmp["segment_column"], cmp["metric_id"])
    cmp["q_value"] = (
        false_alarm_control(cmp["p_value"].to_numpy(), families, family_shares(families, params)) if len(cmp) else []
    )
    ref_v, est = cmp["estimate_ref"], cmp["estimate_cur"]
    with np.errstate(divide="ignore", invalid="ignore"):
        cmp["change"] = np.where(ref_v > 0, est / ref_v - 1, np.where(est > 0, np.inf, 0.0))
    return cmp.rename(
        columns={
            "estimate_ref": "expected",
            "observed_cur": "observed",
            "estimate_cur": "estimate",
            "estimate_low_cur": "estimate_low",
            "estimate_high_cur": "estimate_high",
            "rate_low_cur": "rate_low",
            "rate_high_cur": "rate_high",
            "completeness_cur": "completeness",
            "recs_cur": "recs",
            "customers_cur": "customers",
        }
    )


def _day(ts) -> str | None:
    return None if pd.isna(ts) else pd.Timestamp(ts).strftime("%Y-%m-%d")


def scan_weights(scan: pd.DataFrame, params: MonitorParams) -> np.ndarray:
    """Per scan row its weight in the weighted Benjamini-Hochberg: ``scan_weight_primary`` for click
    rate and purchases per 100 (the other metrics share the rest), times ``scan_weight_crossed`` for
    crossed groups; scaled to average 1 in each false-alarm family (:func:`scan_families`; in the
    families of one kind of row, segments and columns, every weight is 1)."""
    primary = scan["metric_id"].isin(PRIMARY_METRIC_IDS).to_numpy()
    n_metrics = len(ALERT_METRIC_IDS)
    n_primary = len(PRIMARY_METRIC_IDS)
    rest = max(n_metrics - params.scan_weight_primary * n_primary, 1e-6) / max(n_metrics - n_primary, 1)
    w = np.where(primary, params.scan_weight_primary, rest)
    w = w * np.where(scan["segment_column"].str.contains("_x_").to_numpy(), params.scan_weight_crossed, 1.0)
    families = (
        scan["family"].to_numpy() if "family" in scan else scan_families(scan["segment_column"], scan["metric_id"])
    )
    for family in set(families):
        f = families == family
        w[f] = w[f] / w[f].mean()
    return w


def alert_on_changes(scan: pd.DataFrame, params: MonitorParams) -> pd.DataFrame:
    """The change-point scan's rows (:func:`.changepoint.scan_changes`) with their weights and
    q-values (weighted Benjamini-Hochberg in the four false-alarm families: ``family``,
    ``family_share``, ``family_size``), the alert flag
    (q <= ``fdr`` and an estimated change of at least ``min_relative_effect`` in the scan's
    direction) and the severity."""
    scan = scan.copy()
    p = scan["p_value"].fillna(1.0).to_numpy()
    families = scan_families(scan["segment_column"], scan["metric_id"])
    shares = family_shares(families, params)
    scan["family"] = families
    scan["family_share"] = pd.Series(families).map(shares).to_numpy(float)
    scan["family_size"] = pd.Series(families).map(pd.Series(families).value_counts()).to_numpy(np.int64)
    scan["weight"] = scan_weights(scan, params)
    # weighted Benjamini-Hochberg: p / weight (above 1 where a small weight meets a large p: such a
    # row can never be an alert, so it enters the ranking as 1)
    weighted = np.minimum(p / scan["weight"].to_numpy(), 1.0)
    scan["q_value"] = false_alarm_control(weighted, families, shares)
    change = scan["change"].to_numpy(float)
    big = np.nan_to_num(np.abs(change)) >= params.min_relative_effect
    same_way = np.sign(np.nan_to_num(change)) == scan["direction"].to_numpy()
    scan["alert"] = (scan["q_value"] <= params.fdr) & big & same_way
    harmful = np.sign(np.nan_to_num(change)) == scan["metric_id"].map(HARMFUL_DIRECTION).to_numpy()
    critical = harmful & (scan["q_value"] <= params.critical_q) & (np.abs(change) >= params.critical_relative_effect)
    scan["severity"] = np.where(scan["alert"], np.where(harmful, np.where(critical, "critical", "warning"), "info"), "")
    return scan


def build_alerts(scan: pd.DataFrame, prep: Prepared, params: MonitorParams | None = None) -> list[dict]:
    """The alerts of the scan rows flagged by :func:`alert_on_changes`, most severe first, each with
    its message in business words (size and onset with their ranges, what to check first)."""
    params = params or MonitorParams()
    flagged = scan[scan["alert"]].copy()
    if flagged.empty:
        return []
    order = {c: i for i, c in enumerate(GROUPINGS)}
    flagged = flagged.assign(_sev=flagged["severity"].map(SEVERITY_ORDER), _col=flagged["segment_column"].map(order))
    flagged = flagged.sort_values(["_sev", "_col", "q_value", "segment", "metric_id"], kind="mergesort")
    last_day = prep.recs["day"].max()
    out = []
    for _, a in flagged.iterrows():
        check_first = hint(a, prep, params)
        message = change_message(a, check_first, params.fdr)
        bad = technical_terms_in(own_words(message, a, prep))
        if bad:  # pragma: no cover - the package's own wording, guarded by tests
            raise AssertionError(f"alert wording uses technical terms {bad}: {message}")
        out.append(
            {
                "segment_column": a["segment_column"],
                "segment": a["segment"],
                "group": describe_group(a["segment_column"], a["segment"]),
                "metric": a["metric"],
                "metric_id": a["metric_id"],
                "window": "since",
                "window_start": a["onset"].strftime("%Y-%m-%d"),
                "window_end": last_day.strftime("%Y-%m-%d"),
                "onset": a["onset"].strftime("%Y-%m-%d"),
                "onset_low": _day(a["onset_low"]),
                "onset_high": _day(a["onset_high"]),
                "expected": json_number(a["before"]),
                "estimate": json_number(a["after"]),
                "change": json_number(a["change"]),
                "change_low": json_number(a["change_low"]),
                "change_high": json_number(a["change_high"]),
                "completeness": json_number(a["completeness_after"]),
                "recs": int(a["recs_after"]),
                "p_value": json_significant(a["p_value"]),
                "q_value": json_significant(a["q_value"]),
                "cause": hint_cause(check_first),
                "check_first": check_first,
                "severity": a["severity"],
                "message": message,
            }
        )
    return out
