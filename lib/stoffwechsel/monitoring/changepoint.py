"""Change points: per customer group and metric, a scan over onset days for a lasting change.

The alerting test (issue 16). For every shown customer group and alert metric the file's days are
one series; every candidate onset day t (at least ``scan_min_days_before`` days after the first day
with data, at least ``scan_min_days_after`` days before the last) splits it into the days before t
and the days from t on, and the two are compared:

* **Counts** (click rate, purchases, purchases kept, sustainable share): given all events, the
  events from t on are binomial with the after-days' share of the exposure (the exact conditional
  test of two Poisson rates), its z divided by the square root of the group's overdispersion
  (:func:`dispersion`: outcomes cluster by customer). Exposure is completeness-adjusted: the sum over recommendations of
  F(age), the share of their eventual outcomes already seen (:mod:`.delays`), so a fresh day counts
  with the information it already has. Purchases kept count only recommendations old enough for both
  the purchase and the return window to have closed (by age, whatever happened: a recommendation
  whose purchase may still be returned is not left out for that reason, which would bias the rate).
* **Revenue per 100**: a normal test of the log of revenue seen per exposure (compound Poisson
  variance: sum of squared prices / revenue squared), and only as far as the purchases behind it
  moved (the larger of the two p-values: a few expensive items never raise a revenue alert alone).

The scan statistic is the largest one-sided z over the candidate days, in each direction. Its
chance under no change is bounded by (``scan_p_value``), for information fractions t0..t1 of the
candidate days (the before-share of the exposure) and K candidates::

    P(max z >= b) ~ min(K (1 - Phi(b)),
                        (1 - Phi(b)) + b phi(b) * integral_t0^t1 nu(b sqrt(d / (t (1 - t)))) / (2 t (1 - t)) dt)

the first term Bonferroni, the second Siegmund's approximation for the maximum of a standardised
two-sample statistic scanned in steps of d = (t1 - t0) / (K - 1) of information (a Brownian bridge
scan with his overshoot correction nu; without it, nu = 1, it is the continuous-time bound
b phi(b) / 2 log(t1 (1 - t0) / (t0 (1 - t1)))), divided by each direction's share of the level
(``scan_harmful_share`` for a harmful change, the rest for a change for the better). Exact tests per
split make it conservative for counts (``tests/test_changepoint.py`` measures it).
Benjamini-Hochberg then controls false alarms across groups and metrics
(:func:`.alerts.false_alarm_control`, four families in the owner's order of reading: all
customers, the marketing segments' click rate and purchases, the other single columns' and the rest). The
no-drift seeds of the power study (:mod:`stoffwechsel.studies.power_study`) check the stated rate.

The **onset** is the day of the best split (largest likelihood ratio in the change's direction);
its **range** holds the days whose split fits within ``chi2_1(interval)`` of the best. The **size**
is the rate from the onset on against the rate before it, with its range (log-ratio normal).

**What could be seen by now** (:func:`detectable_change`): for a group without an alert, the
smallest harmful change starting at the current period that the scan would find with probability
``scan_power`` given today's traffic and completeness, and how many more weeks the minimum effect
needs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from stoffwechsel.domain import ALERT_METRIC_IDS, HARMFUL_DIRECTION
from stoffwechsel.exact import fixed_order_matmul
from stoffwechsel.glossary import METRICS
from stoffwechsel.monitoring.delays import DelayCurve
from stoffwechsel.monitoring.params import MonitorParams
from stoffwechsel.monitoring.prepare import Prepared
from stoffwechsel.monitoring.windows import SUMS, Windows

__all__ = [
    "COUNT_METRICS",
    "DaySeries",
    "day_series",
    "scan_p_value",
    "dispersion",
    "scan_changes",
    "detectable_change",
    "lone_alert_level",
    "SCAN_COLUMNS",
]

#: metric id -> (event sum, exposure) of its count scan; exposure names a SUMS column or a delay curve
COUNT_METRICS = {
    "ctr": ("click_x", "curve:click"),
    "purchases_per_100": ("purchase_x", "curve:purchase"),
    "kept_per_100": ("kept_fx", "kept_fn"),
    "sustainable_share": ("certified", "n"),
}
#: z beyond which a one-sided p-value is 0 in double precision (caps the statistic)
_Z_CAP = 37.0

#: the columns of the scan table (``changes.csv``), one row per shown group x alert metric
SCAN_COLUMNS = [
    "segment_column",
    "segment",
    "metric_id",
    "metric",
    "candidates",
    "first_candidate",
    "last_candidate",
    "statistic",
    "direction",
    "p_value",
    "family",
    "family_share",
    "family_size",
    "weight",
    "q_value",
    "onset",
    "onset_low",
    "onset_high",
    "before",
    "after",
    "change",
    "change_low",
    "change_high",
    "recs_after",
    "completeness_after",
    "alert",
    "severity",
    "current_change_low",
    "current_change_high",
    "detectable_change",
    "weeks_to_min_effect",
    "confirm_weeks",
    "confirm_by",
]


@dataclass
class DaySeries:
    """Per shown group (rows) x day with data (columns): the additive sums of the scans."""

    groups: pd.DataFrame  # segment_column, segment (one row per group)
    days: pd.DatetimeIndex  # the days with data, sorted
    sums: dict[str, np.ndarray]  # name -> groups x days


def day_series(win: Windows, curves: dict[str, DelayCurve], groups: pd.DataFrame, first_day: pd.Timestamp) -> DaySeries:
    """The (group, day) sums of the day windows of ``win`` for ``groups`` (segment_column, segment)."""
    f = win.frame.reset_index(drop=True)
    day_rows = (f["period"] == "day").to_numpy()
    d = f[day_rows]
    day_idx = np.sort(d["a"].unique())
    key = pd.MultiIndex.from_frame(groups[["segment_column", "segment"]].astype({"segment": str}))
    g = key.get_indexer(pd.MultiIndex.from_arrays([d["segment_column"], d["segment"].astype(str)]))
    keep = g >= 0
    rows = np.flatnonzero(day_rows)[keep]
    gi, di = g[keep], np.searchsorted(day_idx, d["a"].to_numpy()[keep])
    shape = (len(groups), len(day_idx))
    sums = {}
    for i, name in enumerate(SUMS):
        m = np.zeros(shape)
        m[gi, di] = win.sums[rows, i]
        sums[name] = m
    for outcome, curve in curves.items():
        f_point = np.concatenate([curve.at_edges(), [1.0]])
        m = np.zeros(shape)
        m[gi, di] = fixed_order_matmul(win.hist[outcome][rows], f_point)
        sums[f"curve:{outcome}"] = m
    days = pd.DatetimeIndex(first_day + pd.to_timedelta(day_idx, unit="D"))
    return DaySeries(groups.reset_index(drop=True), days, sums)


def _nu(x: np.ndarray) -> np.ndarray:
    """Siegmund's overshoot correction for a scan in discrete steps (his approximation of nu)."""
    x = np.maximum(np.asarray(x, float), 1e-9)
    h = x / 2
    return (2 / x) * (stats.norm.cdf(h) - 0.5) / (h * stats.norm.cdf(h) + stats.norm.pdf(h))


def scan_p_value(b: np.ndarray, candidates: np.ndarray, t0: np.ndarray, t1: np.ndarray) -> np.ndarray:
    """One direction's chance of a scan statistic >= ``b`` under no change (module docstring): the
    smaller of Bonferroni over the candidates and Siegmund's approximation for a scan in
    ``candidates`` steps between information fractions ``t0`` and ``t1``."""
    b = np.atleast_1d(np.asarray(b, float))
    k = np.broadcast_to(np.asarray(candidates, float), b.shape)
    t0 = np.broadcast_to(np.asarray(t0, float), b.shape)
    t1 = np.broadcast_to(np.asarray(t1, float), b.shape)
    tail = stats.norm.sf(b)
    ok = (t0 > 0) & (t1 < 1) & (t1 > t0) & (k > 1)
    lo, hi = np.where(ok, t0, 0.25), np.where(ok, t1, 0.75)
    step = (hi - lo) / np.maximum(k - 1, 1)  # information per step
    # integral over t of nu(b sqrt(step / (t (1 - t)))) / (2 t (1 - t)), in logit(t) (midpoint rule)
    grid = (np.arange(64) + 0.5) / 64
    u0, u1 = np.log(lo / (1 - lo)), np.log(hi / (1 - hi))
    u = u0[:, None] + (u1 - u0)[:, None] * grid[None, :]
    t = 1 / (1 + np.exp(-u))
    with np.errstate(invalid="ignore"):
        nu = _nu(np.maximum(b, 0)[:, None] * np.sqrt(step[:, None] / (t * (1 - t))))
    integral = nu.mean(axis=1) * (u1 - u0) / 2
    with np.errstate(invalid="ignore"):
        siegmund = np.where(ok, tail + np.maximum(b, 0) * stats.norm.pdf(b) * integral, np.inf)
    p = np.minimum(np.minimum(k * tail, siegmund), 1.0)
    return np.where(b > 0, p, 1.0)


def _z_from_p(p: np.ndarray) -> np.ndarray:
    return np.minimum(stats.norm.isf(np.clip(p, 1e-300, 1.0)), _Z_CAP)


def _loglik_ratio(xa, xb, s):
    """Twice the log likelihood ratio of a split (conditional binomial of the after-events)."""
    x = xa + xb
    with np.errstate(divide="ignore", invalid="ignore"):
        ta = np.where(xa > 0, xa * np.log(xa / (x * s)), 0.0)
        tb = np.where(xb > 0, xb * np.log(xb / (x * (1 - s))), 0.0)
    return 2 * (ta + tb)


@dataclass
class _Split:
    """Per group x candidate day: the before / after sums, one-sided z (fall, rise), fit of the split."""

    z_down: np.ndarray
    z_up: np.ndarray
    fit: np.ndarray  # larger = better split
    ra: np.ndarray  # rate after (per exposure)
    rb: np.ndarray  # rate before
    log_se: np.ndarray  # standard error of log(ra / rb)
    t: np.ndarray  # information fraction before the day
    valid: np.ndarray


def _cum_split(m: np.ndarray, cols: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sums before each candidate column and from it on (groups x candidates)."""
    c = np.cumsum(m, axis=1)
    before = np.where(cols > 0, c[:, np.maximum(cols - 1, 0)], 0.0)
    return before, c[:, -1:] - before


#: days per block of the overdispersion estimate (each day is compared with its own block's rate)
DISPERSION_BLOCK_DAYS = 7
#: the overdispersion is Pearson's chi-square over this quantile of its null distribution: 0.5, the
#: median-unbiased estimate (a lower confidence end, 0.9, left clustered counts' false alarms at twice
#: the stated rate; tests/test_changepoint.py measures both directions)
DISPERSION_CONFIDENCE = 0.5


def dispersion(x: np.ndarray, e: np.ndarray) -> np.ndarray:
    """Per group (row) the overdispersion of the daily counts: Pearson's chi-square of each day
    against its own week's rate (blocks of ``DISPERSION_BLOCK_DAYS`` days, so a change or a trend
    does not count as noise) over the days with at least half an expected event, divided by the
    ``DISPERSION_CONFIDENCE`` quantile of chi-square with its degrees of freedom (days - blocks),
    at least 1. Outcomes cluster (one customer gets several
    recommendations; some customers buy more than others), so daily counts vary more than
    independent events would; the scan's z-values are divided by its square root (quasi-Poisson)."""
    n_days = x.shape[1]
    block = np.arange(n_days) // DISPERSION_BLOCK_DAYS
    n_blocks = int(block.max()) + 1 if n_days else 0
    onehot = np.zeros((n_days, n_blocks))
    onehot[np.arange(n_days), block] = 1.0
    bx, be = fixed_order_matmul(x, onehot), fixed_order_matmul(e, onehot)
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = np.where(be > 0, bx / be, 0.0)
        mu = rate[:, block] * e
        used = mu >= 0.5
        pearson = np.where(used, (x - mu) ** 2 / np.where(used, mu, 1.0), 0.0).sum(axis=1)
        blocks_used = (used.astype(float) @ onehot > 0).sum(axis=1)
        df = used.sum(axis=1) - blocks_used
        lower = pearson / stats.chi2.ppf(DISPERSION_CONFIDENCE, np.maximum(df, 1))
        return np.where(df > 0, np.maximum(1.0, lower), 1.0)


def _count_split(x: np.ndarray, e: np.ndarray, cols: np.ndarray) -> _Split:
    phi = dispersion(np.round(x), e)[:, None]
    xb, xa = _cum_split(np.round(x), cols)
    eb, ea = _cum_split(e, cols)
    total = xa + xb
    valid = (ea > 0) & (eb > 0) & (total > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        s = np.where(valid, ea / (ea + eb), 0.5)
    n = total.astype(np.int64)
    k = xa.astype(np.int64)
    z_down = np.where(valid, _z_from_p(stats.binom.cdf(k, n, s)) / np.sqrt(phi), -np.inf)
    z_up = np.where(valid, _z_from_p(stats.binom.sf(k - 1, n, s)) / np.sqrt(phi), -np.inf)
    with np.errstate(divide="ignore", invalid="ignore"):
        ra = np.where(ea > 0, xa / ea, np.nan)
        rb = np.where(eb > 0, xb / eb, np.nan)
        log_se = np.sqrt(phi * (1 / (xa + 0.5) + 1 / (xb + 0.5)))
        t = np.where(valid, eb / (ea + eb), np.nan)
    fit = np.where(valid, _loglik_ratio(xa, xb, s) / phi, -np.inf)
    return _Split(z_down, z_up, fit, ra, rb, log_se, t, valid)


def _revenue_split(series: DaySeries, cols: np.ndarray) -> _Split:
    S = series.sums
    rb_, ra_ = _cum_split(S["revenue_x"], cols)
    qb, qa = _cum_split(S["revenue_sq_x"], cols)
    eb, ea = _cum_split(S["curve:purchase"], cols)
    n_all = S["n"].sum(axis=1, keepdims=True)
    mean_price = np.where(n_all > 0, S["price_all"].sum(axis=1, keepdims=True) / np.maximum(n_all, 1), 0.0)
    valid = (ea > 0) & (eb > 0) & (mean_price > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        ra_s, rb_s = ra_ + 0.5 * mean_price, rb_ + 0.5 * mean_price
        va = (qa + 0.5 * mean_price**2) / ra_s**2
        vb = (qb + 0.5 * mean_price**2) / rb_s**2
        z = (np.log(ra_s / ea) - np.log(rb_s / eb)) / np.sqrt(va + vb)
        ra = np.where(ea > 0, ra_ / ea, np.nan)
        rb = np.where(eb > 0, rb_ / eb, np.nan)
        t = np.where(valid, eb / (ea + eb), np.nan)
    z = np.where(valid, np.clip(z, -_Z_CAP, _Z_CAP), np.nan)
    return _Split(
        np.where(valid, -z, -np.inf),
        np.where(valid, z, -np.inf),
        np.where(valid, z**2, -np.inf),
        ra,
        rb,
        np.sqrt(va + vb),
        t,
        valid,
    )


def _candidate_columns(days: pd.DatetimeIndex, params: MonitorParams) -> np.ndarray:
    """Columns of the candidate onset days: far enough from both ends of the file."""
    if len(days) == 0:
        return np.zeros(0, dtype=np.int64)
    first, last = days[0], days[-1]
    ok = (days >= first + pd.Timedelta(days=params.scan_min_days_before)) & (
        days <= last - pd.Timedelta(days=params.scan_min_days_after - 1)
    )
    return np.flatnonzero(ok)


def _direction_stats(split: _Split, harmful: int, harmful_share: float) -> dict[str, np.ndarray]:
    """Per group: the scan statistic and p-value in each direction, the winning direction. The two
    directions split the test's level: ``harmful_share`` for a change in the ``harmful`` direction,
    the rest for a change for the better (Bonferroni over the two)."""
    valid = split.valid
    k = valid.sum(axis=1)
    t = np.where(valid, split.t, np.nan)
    with np.errstate(invalid="ignore"):
        t0 = np.where(k > 0, np.nanmin(np.where(valid, t, np.inf), axis=1), np.nan)
        t1 = np.where(k > 0, np.nanmax(np.where(valid, t, -np.inf), axis=1), np.nan)
    b_down = np.where(k > 0, np.max(np.where(valid, split.z_down, -np.inf), axis=1), -np.inf)
    b_up = np.where(k > 0, np.max(np.where(valid, split.z_up, -np.inf), axis=1), -np.inf)
    p_down = np.where(k > 0, scan_p_value(b_down, k, t0, t1), 1.0)
    p_up = np.where(k > 0, scan_p_value(b_up, k, t0, t1), 1.0)
    share_down = harmful_share if harmful < 0 else 1 - harmful_share
    adj_down, adj_up = p_down / share_down, p_up / (1 - share_down)
    direction = np.where(adj_down <= adj_up, -1, 1)
    return {
        "candidates": k,
        "statistic": np.where(direction < 0, b_down, b_up),
        "p_value": np.minimum(1.0, np.minimum(adj_down, adj_up)),
        "direction": direction,
        "t0": t0,
        "t1": t1,
    }


def _onset(split: _Split, direction: np.ndarray, cutoff: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per group the column of the best split in ``direction`` and the range of the splits within
    ``cutoff`` of it (indexes into the candidate columns; -1 where none)."""
    same = np.where(direction[:, None] < 0, split.ra < split.rb, split.ra > split.rb) & split.valid
    fit = np.where(same, split.fit, -np.inf)
    best = np.argmax(fit, axis=1)
    has = np.isfinite(fit.max(axis=1)) if fit.shape[1] else np.zeros(len(fit), bool)
    near = fit >= (fit.max(axis=1, keepdims=True) - cutoff) if fit.shape[1] else fit.astype(bool)
    cols = np.arange(fit.shape[1])
    low = np.where(near, cols, fit.shape[1]).min(axis=1) if fit.shape[1] else np.zeros(len(fit), int)
    high = np.where(near, cols, -1).max(axis=1) if fit.shape[1] else np.zeros(len(fit), int)
    return np.where(has, best, -1), np.where(has, low, -1), np.where(has, high, -1)


def _exposure_name(metric_id: str) -> str:
    """The sum a metric's scan divides by (revenue: the purchases' completeness-adjusted exposure)."""
    return "curve:purchase" if metric_id == "revenue_per_100" else COUNT_METRICS[metric_id][1]


def _splits(series: DaySeries, cols: np.ndarray) -> dict[str, _Split]:
    out = {}
    for metric_id in ALERT_METRIC_IDS:
        if metric_id == "revenue_per_100":
            out[metric_id] = _revenue_split(series, cols)
        else:
            x, e = COUNT_METRICS[metric_id]
            out[metric_id] = _count_split(series.sums[x], series.sums[e], cols)
    return out


def scan_changes(series: DaySeries, prep: Prepared, params: MonitorParams) -> pd.DataFrame:
    """One row per group x alert metric: the scan's statistic, p-value, onset with its range, the
    size of the change with its range (q-values, alerts and what could be seen: :mod:`.alerts`)."""
    cols = _candidate_columns(series.days, params)
    splits = _splits(series, cols)
    cutoff = float(stats.chi2.ppf(params.interval, 1))
    z_int = float(stats.norm.ppf(0.5 + params.interval / 2))
    cur_col = np.array([min(int(np.searchsorted(series.days, prep.current[0])), max(len(series.days) - 1, 0))])
    cur_splits = _splits(series, cur_col) if len(series.days) else {}
    n_groups = len(series.groups)
    frames = []
    purchases_p = None
    for metric_id in ALERT_METRIC_IDS:
        split = splits[metric_id]
        st = _direction_stats(split, HARMFUL_DIRECTION[metric_id], params.scan_harmful_share)
        if metric_id == "purchases_per_100":
            purchases_p = st["p_value"]
        if metric_id == "revenue_per_100" and purchases_p is not None:
            st["p_value"] = np.maximum(st["p_value"], purchases_p)
        best, low, high = _onset(split, st["direction"], cutoff)
        rows = np.arange(n_groups)
        pick = np.maximum(best, 0)
        has = best >= 0

        def take(a: np.ndarray, has=has, rows=rows, pick=pick) -> np.ndarray:
            return np.where(has, a[rows, pick], np.nan) if a.shape[1] else np.full(n_groups, np.nan)

        ra, rb, se = take(split.ra), take(split.rb), take(split.log_se)
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = ra / rb
            log_ratio = np.log(np.maximum(ratio, 1e-12))
        onset_col = np.where(has, cols[pick] if len(cols) else 0, -1)
        n_a = _cum_split(series.sums["n"], cols)[1]
        e_a = _cum_split(series.sums[_exposure_name(metric_id)], cols)[1]
        after_n = np.nan_to_num(take(n_a))
        after_e = np.nan_to_num(take(e_a))
        # the current period against the days before it: the range of its change (tiles, silence)
        cur_lo = cur_hi = np.full(n_groups, np.nan)
        if metric_id in cur_splits:
            cs = cur_splits[metric_id]
            with np.errstate(divide="ignore", invalid="ignore"):
                lr = np.log(cs.ra[:, 0] / cs.rb[:, 0])
            cur_lo = np.exp(lr - z_int * cs.log_se[:, 0]) - 1
            cur_hi = np.exp(lr + z_int * cs.log_se[:, 0]) - 1
        frames.append(
            pd.DataFrame(
                {
                    "segment_column": series.groups["segment_column"].to_numpy(),
                    "segment": series.groups["segment"].to_numpy(),
                    "metric_id": metric_id,
                    "metric": METRICS[metric_id],
                    "candidates": st["candidates"].astype(np.int64),
                    "first_candidate": series.days[cols[0]] if len(cols) else pd.NaT,
                    "last_candidate": series.days[cols[-1]] if len(cols) else pd.NaT,
                    "statistic": np.where(np.isfinite(st["statistic"]), st["statistic"], np.nan),
                    "direction": st["direction"].astype(np.int64),
                    "p_value": st["p_value"],
                    "onset": [series.days[c] if c >= 0 else pd.NaT for c in onset_col],
                    "onset_low": [series.days[cols[c]] if c >= 0 else pd.NaT for c in low],
                    "onset_high": [series.days[cols[c]] if c >= 0 else pd.NaT for c in high],
                    "before": rb * 100,
                    "after": ra * 100,
                    "change": ratio - 1,
                    "change_low": np.exp(log_ratio - z_int * se) - 1,
                    "change_high": np.exp(log_ratio + z_int * se) - 1,
                    "recs_after": after_n.astype(np.int64),
                    "completeness_after": np.where(after_n > 0, after_e / np.maximum(after_n, 1), np.nan),
                    "current_change_low": cur_lo,
                    "current_change_high": cur_hi,
                    "_t0": st["t0"],
                    "_t1": st["t1"],
                    "_cur_e_after": _current_exposure(series, _exposure_name(metric_id), cur_col, after=True),
                    "_cur_e_before": _current_exposure(series, _exposure_name(metric_id), cur_col, after=False),
                    "_cur_n_after": _current_exposure(series, "n", cur_col, after=True),
                    "_rate": _overall_rate(series, metric_id),
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def _current_exposure(series: DaySeries, name: str, cur_col: np.ndarray, after: bool) -> np.ndarray:
    """The sum ``name`` from the current period's start on (``after``) or before it, per group."""
    if not len(series.days):
        return np.full(len(series.groups), np.nan)
    b, a = _cum_split(series.sums[name], cur_col)
    return (a if after else b)[:, 0]


def _overall_rate(series: DaySeries, metric_id: str) -> np.ndarray:
    """The group's event rate per exposure over the file (revenue: purchases, its count behind)."""
    x, e = COUNT_METRICS["purchases_per_100" if metric_id == "revenue_per_100" else metric_id]
    with np.errstate(divide="ignore", invalid="ignore"):
        return series.sums[x].sum(axis=1) / series.sums[e].sum(axis=1)


def _expected_z(delta: np.ndarray, rate, e_after, e_before, sign: int) -> np.ndarray:
    """Expected one-sided z of the count scan at the current period's start for a change of
    ``delta`` (relative, in direction ``sign``) from that day on."""
    mu_a = rate * (1 + sign * delta) * e_after
    mu_b = rate * e_before
    total = mu_a + mu_b
    s0 = e_after / (e_after + e_before)
    with np.errstate(divide="ignore", invalid="ignore"):
        return sign * (mu_a - total * s0) / np.sqrt(total * s0 * (1 - s0))


def lone_alert_level(scan: pd.DataFrame, params: MonitorParams) -> np.ndarray:
    """Per scan row the p-value at which it is an alert on its own in its family (the first step of
    weighted Benjamini-Hochberg): ``fdr`` x the family's share x the row's weight / the family's size."""
    share, weight = scan["family_share"].to_numpy(float), scan["weight"].to_numpy(float)
    return params.fdr * share * weight / np.maximum(scan["family_size"].to_numpy(float), 1)


def _threshold_z(p_target: float, candidates, t0, t1, share: float) -> np.ndarray:
    """Per row the statistic b at which the scan's p-value for a harmful change (its share ``share``
    of the level) reaches ``p_target``."""
    lo, hi = np.zeros(len(candidates)), np.full(len(candidates), _Z_CAP)
    for _ in range(60):
        mid = (lo + hi) / 2
        too_weak = scan_p_value(mid, candidates, t0, t1) / share > p_target
        lo, hi = np.where(too_weak, mid, lo), np.where(too_weak, hi, mid)
    return hi


def detectable_change(scan: pd.DataFrame, params: MonitorParams) -> pd.DataFrame:
    """What could be seen by now, per scan row: the smallest harmful change from the current
    period's start on that the scan would find with probability ``scan_power`` (a lone alert in
    its false-alarm family: p <= its family's share of ``fdr`` x its weight / the family's size;
    columns ``family_share``, ``weight``, ``family_size`` of :func:`.alerts.alert_on_changes`), with today's exposure
    (``detectable_change``, NaN: not even a complete loss), and the weeks of further traffic
    (at the current period's pace, outcomes all in) the minimum effect needs (0: no more traffic,
    only the outcomes still arriving; NaN: more than 26 weeks)."""
    p_target = lone_alert_level(scan, params)
    needed = _threshold_z(
        p_target,
        scan["candidates"].to_numpy(float),
        scan["_t0"].to_numpy(),
        scan["_t1"].to_numpy(),
        params.scan_harmful_share,
    )
    needed = needed + stats.norm.ppf(params.scan_power)
    sign = scan["metric_id"].map(HARMFUL_DIRECTION).to_numpy()
    rate = scan["_rate"].to_numpy(float)
    ea, eb = scan["_cur_e_after"].to_numpy(float), scan["_cur_e_before"].to_numpy(float)
    ok = (rate > 0) & (ea > 0) & (eb > 0)
    # the smallest relative change (0..1 for a fall, 0..10 for a rise) with expected z >= needed
    top = np.where(sign < 0, 1.0, 10.0)
    lo, hi = np.zeros(len(scan)), top.copy()
    for _ in range(50):
        mid = (lo + hi) / 2
        enough = _expected_z(mid, rate, ea, eb, sign) >= needed
        lo, hi = np.where(enough, lo, mid), np.where(enough, mid, hi)
    reachable = ok & (_expected_z(top, rate, ea, eb, sign) >= needed)
    out = scan.copy()
    out["detectable_change"] = np.where(reachable, sign * hi, np.nan)
    # weeks of further traffic for the minimum effect (exposure grows at the current pace, outcomes in)
    n_after = scan["_cur_n_after"].to_numpy(float)
    weeks_now = max(params.current_weeks, 1)
    per_week = n_after / weeks_now
    weeks = np.full(len(scan), np.nan)
    m = params.min_relative_effect
    for k in range(0, 27):
        e_k = np.where(ok, n_after + k * per_week, 0.0)  # once the outcomes of k more weeks are in
        found = ok & np.isnan(weeks) & (_expected_z(np.full(len(scan), m), rate, e_k, eb, sign) >= needed)
        weeks = np.where(found, k, weeks)
    out["weeks_to_min_effect"] = weeks
    return out
