"""Estimates with intervals: each window's metrics once all its outcomes are in.

``estimate`` = events seen + the events still to come (recommendations still open x a rate
pulled towards the group's rate over the file, :data:`PRIOR_RECS`); ``estimate_low/high``: where
the final value will land (negative-binomial draws of the events still to come, completeness
drawn from a Bayesian bootstrap of the delay curve); ``rate_low/high``: plausible range of the
underlying rate. :func:`window_metrics` is the calculator: windows -> suppression -> estimates.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from stoffwechsel.domain import TOTAL_METRIC_IDS
from stoffwechsel.exact import fixed_order_matmul
from stoffwechsel.glossary import METRICS
from stoffwechsel.monitoring.delays import DelayCurve
from stoffwechsel.monitoring.params import MonitorParams
from stoffwechsel.monitoring.prepare import GROUPINGS, Prepared
from stoffwechsel.monitoring.windows import SUMS, Windows, aggregate, shown_groups

__all__ = [
    "PER_100",
    "METRIC_COLUMNS",
    "RETURN_PRIOR_PURCHASES",
    "PRIOR_RECS",
    "GROUP_POOL_RECS",
    "estimate_windows",
    "window_metrics",
]

PER_100 = 100.0
#: strength (in purchases) of the pull of a window's return rate towards the file's return rate
RETURN_PRIOR_PURCHASES = 10.0
#: strength (in recommendations with all outcomes in) of the prior on a window's click and purchase
#: rate, centred on the group's rate over the whole file: it matters only while few outcomes are in
PRIOR_RECS = 50.0
#: the group's rate itself is pulled towards the rate of all customers with this many recommendations
GROUP_POOL_RECS = 200.0

#: the columns of the weekly and daily metric tables
METRIC_COLUMNS = [
    "period",
    "window_start",
    "window_end",
    "segment_column",
    "segment",
    "metric_id",
    "metric",
    "recs",
    "customers",
    "recs_matured",
    "events",
    "exposure",
    "observed",
    "completeness",
    "estimate",
    "estimate_low",
    "estimate_high",
    "rate_low",
    "rate_high",
    "reference",
    "change",
]


def _quantiles(draws: np.ndarray, interval: float) -> tuple[np.ndarray, np.ndarray]:
    q = (1 - interval) / 2
    lo, hi = np.quantile(draws, [q, 1 - q], axis=1)
    return lo, hi


def _group_priors(frame: pd.DataFrame, S: dict, E: dict) -> dict[str, np.ndarray]:
    """Per window row the prior mean click and purchase rate: the group's completeness-weighted
    rate over the whole file, pulled towards all customers' rate (``GROUP_POOL_RECS``)."""
    f = frame.reset_index(drop=True)
    file_rows = (f["period"] == "file").to_numpy()
    overall = file_rows & (f["segment_column"] == "all").to_numpy()
    out = {}
    for outcome, x in (("click", S["click_x"]), ("purchase", S["purchase_x"])):
        e = E[outcome]
        mu_all = (x[overall].sum() + 0.5) / (e[overall].sum() + 1.0)
        mu = (x + GROUP_POOL_RECS * mu_all) / (e + GROUP_POOL_RECS)
        by_group = pd.Series(
            mu[file_rows], index=pd.MultiIndex.from_frame(f.loc[file_rows, ["segment_column", "segment"]])
        )
        keys = pd.MultiIndex.from_frame(f[["segment_column", "segment"]])
        out[outcome] = by_group.reindex(keys).fillna(mu_all).to_numpy()
    return out


def estimate_windows(
    win: Windows,
    curves: dict[str, DelayCurve],
    params: MonitorParams,
    return_rate: float,
    shown: np.ndarray,
    chunk: int = 512,
) -> pd.DataFrame:
    """Long table of metric estimates for every window row; the Monte Carlo intervals only for
    the ``shown`` rows (the others are suppressed anyway; their point estimates feed the pooled
    groups of the root-cause split)."""
    rng = np.random.default_rng(params.seed)
    B = params.draws
    f_draws = {k: np.concatenate([c.draws(rng, B), np.ones((B, 1))], axis=1) for k, c in curves.items()}
    f_point = {k: np.concatenate([c.at_edges(), [1.0]]) for k, c in curves.items()}
    S = {name: win.sums[:, i] for i, name in enumerate(SUMS)}
    n = S["n"]
    E = {k: fixed_order_matmul(win.hist[k], f_point[k]) for k in curves}
    E["return_kept"] = fixed_order_matmul(win.hist["return_kept"], f_point["return"])
    prior = _group_priors(win.frame, S, E)  # per row: prior mean click and purchase rate
    b0 = PRIOR_RECS
    a_c, a_p = (b0 * prior["click"])[:, None], (b0 * prior["purchase"])[:, None]
    out = {
        key: np.full(len(n), np.nan)
        for key in (
            "ctr_lo",
            "ctr_hi",
            "ctr_rlo",
            "ctr_rhi",
            "p_lo",
            "p_hi",
            "p_rlo",
            "p_rhi",
            "k_lo",
            "k_hi",
            "k_rlo",
            "k_rhi",
            "rev_lo",
            "rev_hi",
            "rev_rlo",
            "rev_rhi",
            "Ec_lo",
            "Ec_hi",
            "Ep_lo",
            "Ep_hi",
            "k_logm",
            "k_logv",
            "rev_logm",
            "rev_logv",
        )
    }
    q = (1 - params.interval) / 2
    todo = np.flatnonzero(shown & (win.frame["period"] != "file").to_numpy())
    for s in range(0, len(todo), chunk):
        sl = todo[s : s + chunk]
        nn = n[sl][:, None]
        # fixed-order sums: these feed random draws whose parameter may be exactly 0 (a draw of
        # Poisson(0) takes no random number, one of Poisson(1e-17) does), so last bits must not vary
        Ec = np.maximum(fixed_order_matmul(win.hist["click"][sl], f_draws["click"].T), 1e-9)
        Ep = np.maximum(fixed_order_matmul(win.hist["purchase"][sl], f_draws["purchase"].T), 1e-9)
        Er = fixed_order_matmul(win.hist["return"][sl], f_draws["return"].T)
        Enr = fixed_order_matmul(win.hist["return_kept"][sl], f_draws["return"].T)
        xc, xp, xr = S["click_x"][sl][:, None], S["purchase_x"][sl][:, None], S["return_x"][sl][:, None]
        # clicks
        rem_c = rng.negative_binomial(xc + a_c[sl], np.clip((Ec + b0) / (nn + b0), 1e-9, 1.0))
        out["ctr_lo"][sl], out["ctr_hi"][sl] = _quantiles((xc + rem_c) / nn, params.interval)
        rate_c = rng.gamma(xc + 0.5, size=Ec.shape) / Ec
        out["ctr_rlo"][sl], out["ctr_rhi"][sl] = _quantiles(rate_c, params.interval)
        out["ctr_rlo"][sl] = np.where(xc[:, 0] == 0, 0.0, out["ctr_rlo"][sl])  # no event: the range starts at 0
        out["Ec_lo"][sl], out["Ec_hi"][sl] = np.quantile(Ec, [q, 1 - q], axis=1)
        # purchases
        rem_p = rng.negative_binomial(xp + a_p[sl], np.clip((Ep + b0) / (nn + b0), 1e-9, 1.0))
        final_p = xp + rem_p
        out["p_lo"][sl], out["p_hi"][sl] = _quantiles(final_p / nn, params.interval)
        rate_p = rng.gamma(xp + 0.5, size=Ep.shape) / Ep
        out["p_rlo"][sl], out["p_rhi"][sl] = _quantiles(rate_p, params.interval)
        out["p_rlo"][sl] = np.where(xp[:, 0] == 0, 0.0, out["p_rlo"][sl])
        out["Ep_lo"][sl], out["Ep_hi"][sl] = np.quantile(Ep, [q, 1 - q], axis=1)
        # returns and purchases kept: the window's return rate, pulled towards the file's rate
        k0 = RETURN_PRIOR_PURCHASES
        r_draw = rng.beta(xr + k0 * return_rate, np.maximum(Er - xr, 0) + k0 * (1 - return_rate))
        # returns still to come: from seen purchases not returned yet (their remaining share of the
        # return window) and from purchases still to come (the whole window)
        rem_r = np.minimum(rng.poisson(r_draw * np.maximum(final_p - xr - Enr, 0)), final_p - xr)
        out["k_lo"][sl], out["k_hi"][sl] = _quantiles((final_p - xr - rem_r) / nn, params.interval)
        rate_k = rate_p * (1 - r_draw)
        out["k_rlo"][sl], out["k_rhi"][sl] = _quantiles(rate_k, params.interval)
        out["k_rlo"][sl] = np.where(xp[:, 0] == 0, 0.0, out["k_rlo"][sl])
        log_k = np.log(np.maximum(rate_k, 1e-12))
        out["k_logm"][sl], out["k_logv"][sl] = log_k.mean(axis=1), log_k.var(axis=1)
        # revenue: events still to come priced at the pending recommendations' prices
        pend_price = np.where(
            S["pending_w"][sl] > 0, S["price_pending"][sl] / np.maximum(S["pending_w"][sl], 1e-12), 0.0
        )[:, None]
        rev = S["revenue_x"][sl][:, None] + rem_p * pend_price
        out["rev_lo"][sl], out["rev_hi"][sl] = _quantiles(rev, params.interval)
        avg_price = np.where(
            S["purchase_x"][sl] > 0, S["revenue_x"][sl] / np.maximum(S["purchase_x"][sl], 1), S["price_all"][sl] / n[sl]
        )[:, None]
        out["rev_rlo"][sl], out["rev_rhi"][sl] = _quantiles(rate_p * avg_price, params.interval)
        out["rev_rlo"][sl] = np.where(xp[:, 0] == 0, 0.0, out["rev_rlo"][sl])
        # revenue per recommendation for its test: the log of (revenue seen / exposure) with the
        # variance of a compound Poisson sum (sum of squared prices / revenue^2, delta method) plus
        # that of the completeness draws; half a purchase at the window's mean price (Jeffreys-like)
        mean_price = (S["price_all"][sl] / n[sl])[:, None]
        rev_seen = S["revenue_x"][sl][:, None] + 0.5 * mean_price
        rev_sq = S["revenue_sq_x"][sl][:, None] + 0.5 * mean_price**2
        log_rev = np.log(rev_seen) - np.log(Ep)
        out["rev_logm"][sl] = log_rev.mean(axis=1)
        out["rev_logv"][sl] = log_rev.var(axis=1) + (rev_sq / rev_seen**2)[:, 0]

    def ratio(a, b):
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(b > 0, a / np.where(b > 0, b, 1), np.nan)

    base = win.frame[["period", "window_start", "window_end", "segment_column", "segment", "customers"]]
    base = base.reset_index(drop=True).assign(recs=n.astype(np.int64))
    c_click, c_purch = E["click"] / n, E["purchase"] / n
    # expected final counts: seen + (recommendations still open) x posterior mean rate
    clicks_final = S["click_x"] + (n - E["click"]) * (S["click_x"] + b0 * prior["click"]) / (E["click"] + b0)
    purchases_final = S["purchase_x"] + (n - E["purchase"]) * (S["purchase_x"] + b0 * prior["purchase"]) / (
        E["purchase"] + b0
    )
    p_hat = purchases_final / n
    r_hat = (S["return_x"] + RETURN_PRIOR_PURCHASES * return_rate) / (E["return"] + RETURN_PRIOR_PURCHASES)
    kept_final = (
        purchases_final - S["return_x"] - r_hat * np.maximum(purchases_final - S["return_x"] - E["return_kept"], 0)
    )
    rev_final = S["revenue_x"] + p_hat * S["price_pending"]
    c_return = np.where(S["return_pn"] > 0, ratio(E["return"], S["return_pn"]), 1.0)

    def block(metric_id, **cols):
        return base.assign(metric_id=metric_id, **cols)

    h = PER_100
    nan = np.full(len(n), np.nan)

    def jeffreys(x):  # Jeffreys interval of a share; it starts at 0 (ends at 100) when none (all) are in
        lo = np.where(x == 0, 0.0, stats.beta.ppf(q, x + 0.5, n - x + 0.5))
        hi = np.where(x == n, 1.0, stats.beta.ppf(1 - q, x + 0.5, n - x + 0.5))
        return lo * h, hi * h

    blocks = [
        block(
            "recs_shown",
            recs_matured=n,
            events=n,
            exposure=n,
            observed=n,
            completeness=1.0,
            estimate=n,
            estimate_low=n,
            estimate_high=n,
            rate_low=nan,
            rate_high=nan,
        ),
        block(
            "ctr",
            recs_matured=S["click_cn"],
            events=S["click_x"],
            exposure=E["click"],
            observed=ratio(S["click_cx"], S["click_cn"]) * h,
            completeness=c_click,
            estimate=clicks_final / n * h,
            estimate_low=out["ctr_lo"] * h,
            estimate_high=out["ctr_hi"] * h,
            rate_low=out["ctr_rlo"] * h,
            rate_high=out["ctr_rhi"] * h,
            exposure_low=out["Ec_lo"],
            exposure_high=out["Ec_hi"],
        ),
        block(
            "purchases_per_100",
            recs_matured=S["purchase_cn"],
            events=S["purchase_x"],
            exposure=E["purchase"],
            observed=ratio(S["purchase_cx"], S["purchase_cn"]) * h,
            completeness=c_purch,
            estimate=p_hat * h,
            estimate_low=out["p_lo"] * h,
            estimate_high=out["p_hi"] * h,
            rate_low=out["p_rlo"] * h,
            rate_high=out["p_rhi"] * h,
            exposure_low=out["Ep_lo"],
            exposure_high=out["Ep_hi"],
        ),
        block(
            "kept_per_100",
            recs_matured=S["kept_cn"],
            events=S["purchase_x"] - S["return_x"],
            exposure=E["purchase"],
            observed=ratio(S["kept_cx"], S["kept_cn"]) * h,
            completeness=c_purch * c_return,
            estimate=ratio(kept_final, n) * h,
            estimate_low=out["k_lo"] * h,
            estimate_high=out["k_hi"] * h,
            rate_low=out["k_rlo"] * h,
            rate_high=out["k_rhi"] * h,
            log_mean=out["k_logm"],
            log_var=out["k_logv"],
        ),
        block(
            "revenue_eur",
            recs_matured=S["purchase_cn"],
            events=S["purchase_x"],
            exposure=E["purchase"],
            observed=S["revenue_x"],
            completeness=c_purch,
            estimate=rev_final,
            estimate_low=out["rev_lo"],
            estimate_high=out["rev_hi"],
            rate_low=nan,
            rate_high=nan,
        ),
        block(
            "revenue_per_100",
            recs_matured=S["purchase_cn"],
            events=S["purchase_x"],
            exposure=E["purchase"],
            observed=ratio(S["revenue_cx"], S["purchase_cn"]) * h,
            completeness=c_purch,
            estimate=rev_final / n * h,
            estimate_low=out["rev_lo"] / n * h,
            estimate_high=out["rev_hi"] / n * h,
            rate_low=out["rev_rlo"] * h,
            rate_high=out["rev_rhi"] * h,
            log_mean=out["rev_logm"],
            log_var=out["rev_logv"],
        ),
    ]
    for metric_id, col in (
        ("sustainable_share", "certified"),
        ("new_season_share", "new_season"),
        ("reused_id_share", "reused"),
    ):
        share = S[col] / n * h
        lo, hi = jeffreys(S[col])
        blocks.append(
            block(
                metric_id,
                recs_matured=n,
                events=S[col],
                exposure=n,
                observed=share,
                completeness=1.0,
                estimate=share,
                estimate_low=share,
                estimate_high=share,
                rate_low=lo,
                rate_high=hi,
            )
        )
    table = pd.concat(blocks, ignore_index=True)
    # the range of a small whole-number count can sit on one side of its mean: widen it to
    # include the estimate, so a reader never sees an estimate outside its own range
    shown_rows = np.tile(shown, len(blocks))
    table.loc[shown_rows, "estimate_low"] = np.fmin(
        table.loc[shown_rows, "estimate_low"], table.loc[shown_rows, "estimate"]
    )
    table.loc[shown_rows, "estimate_high"] = np.fmax(
        table.loc[shown_rows, "estimate_high"], table.loc[shown_rows, "estimate"]
    )
    table["metric"] = table["metric_id"].map(METRICS)
    return table


def window_metrics(
    prep: Prepared,
    curves: dict[str, DelayCurve],
    params: MonitorParams,
    kinds=("day", "week", "since"),
    groupings=GROUPINGS,
    complement: bool = True,
) -> tuple[pd.DataFrame, Windows, np.ndarray, pd.DataFrame]:
    """Metrics of every window x group, suppressed groups removed (``complement``: also the groups
    that would give a hidden one away by subtraction, :func:`shown_groups`; the delay evaluation on
    simulated data turns this off). Returns (shown metrics, the windows, the shown mask over window
    rows, all metrics before suppression)."""
    win = aggregate(prep, curves, kinds, groupings)
    r = prep.recs
    xr = r["return_seen"].sum()
    er = float(
        (
            r["purchase_seen"].to_numpy(float)
            * np.where(r["return_open"], curves["return"].cdf(r["return_age"].to_numpy(float)), 1.0)
        ).sum()
    )
    return_rate = float(np.clip((xr + 1) / (er + 4), 0.01, 0.99)) if er > 0 else 0.25
    shown = (
        shown_groups(win, prep, params) if complement else (win.frame["customers"] >= params.min_customers).to_numpy()
    )
    metrics_all = estimate_windows(win, curves, params, return_rate, shown)
    shown_rows = np.tile(shown, len(metrics_all) // len(shown))
    metrics = metrics_all[shown_rows].reset_index(drop=True)
    ref = metrics[metrics["period"] == "reference"][["segment_column", "segment", "metric_id", "estimate"]]
    metrics = metrics.merge(
        ref.rename(columns={"estimate": "reference"}), how="left", on=["segment_column", "segment", "metric_id"]
    )
    # totals (recommendations, revenue): the usual level of a window this long
    days = (metrics["window_end"] - metrics["window_start"]).dt.days + 1
    ref_days = (prep.reference[1] - prep.reference[0]).days + 1
    totals = metrics["metric_id"].isin(TOTAL_METRIC_IDS).to_numpy()
    metrics.loc[totals, "reference"] = metrics.loc[totals, "reference"] * days[totals] / ref_days
    with np.errstate(divide="ignore", invalid="ignore"):
        metrics["change"] = np.where(metrics["reference"] > 0, metrics["estimate"] / metrics["reference"] - 1, np.nan)
    return metrics, win, shown, metrics_all
