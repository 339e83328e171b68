"""Production monitoring of the recommendations that knows labels arrive late, per customer group.

Entry points: :func:`run_monitoring` (materials + params -> :class:`MonitoringResult`) and
:func:`write_outputs` (the deterministic files in ``reports/monitoring/``). The method is written
up in ``docs/monitoring.md``; in short:

* **Label maturity.** A click counts within 1 day of serving, a purchase within 14 days, a return
  within 30 days of the purchase. At export time a recommendation whose window is still open is
  *pending*: "not yet", never "no". ``observed`` uses only recommendations whose window closed.
* **Delay curves.** From cohorts whose windows closed before export we learn F(d), the share of
  eventual events seen d after the anchor (:class:`DelayCurve`). A window's *completeness* is the
  mean of F(export - anchor) over its recommendations; ``estimate`` = events seen / sum F(age).
* **Intervals.** ``estimate_low/high``: where the window's final value will land once all outcomes
  are in (seen events + negative-binomial draws of the events still to come, Jeffreys prior;
  completeness drawn from a Bayesian bootstrap of the delay curve). ``rate_low/high``: plausible
  range of the underlying rate (adds the chance variation of the sampled traffic).
* **Alerts.** Each customer group x metric x window (weeks after the reference period, and
  "since week w" windows up to the last day) is tested against the group's reference period with
  an exact test; Benjamini-Hochberg across all comparisons; an alert needs q <= ``fdr`` and the
  whole final-value range beyond reference x (1 +/- ``min_relative_effect``).
* **Drift** (PSI, Jensen-Shannon, chi-square) of score, item mix and traffic mix; **root cause**
  by a shift-share split of the headline change into customer-mix and within-group parts.

Everything is vectorised: recommendations are aggregated once per grouping into (group, day)
cells; every window is a sparse sum of cells. Python loops run over groupings, windows, metrics
or alerts, never over recommendations.
"""

from __future__ import annotations

import json
import math
import textwrap
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
from scipy import sparse, stats
from scipy.spatial.distance import jensenshannon

from .glossary import ALERT_METRICS, DRIFT_FEATURES, METRICS, SEGMENT_COLUMN_LABELS, technical_terms_in
from .io import write_csv, write_json
from .privacy import complement_safe, group_relations, withhold_ids

__all__ = [
    "MonitorParams",
    "MonitoringResult",
    "DelayCurve",
    "run_monitoring",
    "write_outputs",
    "load_outputs",
    "prepare",
    "fit_delay_curves",
    "window_metrics",
    "inject_shift",
    "shift_share",
    "describe_group",
    "OUTPUT_FILES",
    "OUTPUT_TABLES",
]

# --------------------------------------------------------------------------------------------
# Constants
# --------------------------------------------------------------------------------------------

DAY_S = 86400.0
#: outcome -> attribution window in seconds (docs/materials.md)
WINDOWS_S = {"click": 1 * DAY_S, "purchase": 14 * DAY_S, "return": 30 * DAY_S}
#: grid edges (seconds) on which each delay curve is kept: fine where events are dense
GRIDS_S = {
    "click": np.unique(np.concatenate([np.arange(0, 3600, 60), np.arange(3600, 21600, 600),
                                       np.arange(21600, DAY_S + 1, 3600)])).astype(float),
    "purchase": np.unique(np.concatenate([np.arange(0, 2 * DAY_S, 3600),
                                          np.arange(2 * DAY_S, 14 * DAY_S + 1, 6 * 3600)])).astype(float),
    "return": np.arange(0, 30 * DAY_S + 1, 6 * 3600).astype(float),
}
#: pseudo-events spread evenly over a delay curve's grid (keeps the tail of a thin curve above 0)
DELAY_PRIOR_EVENTS = 1.0
#: strength (in purchases) of the pull of a window's return rate towards the file's return rate
RETURN_PRIOR_PURCHASES = 10.0
#: strength (in recommendations with all outcomes in) of the prior on a window's click and purchase
#: rate, centred on the group's rate over the whole file: it matters only while few outcomes are in
PRIOR_RECS = 50.0
#: the group's rate itself is pulled towards the rate of all customers with this many recommendations
GROUP_POOL_RECS = 200.0

ALL = "All customers"
GROUPINGS = ("all", "segment", "age_band", "region", "preferred_channel", "customer_type", "segment_x_age_band")
NEW, RETURNING = "New customers", "Returning customers"
OTHER_GROUPS = "Other groups (each too small to show)"

#: metric_id -> the direction in which a change hurts the business
HARMFUL = {"ctr": -1, "purchases_per_100": -1, "kept_per_100": -1, "sustainable_share": -1, "reused_id_share": +1}
PER_100 = 100.0
#: metrics that are totals over a window (their usual level scales with the window's length)
TOTALS = ("recs_shown", "revenue_eur")
SEVERITY_ORDER = {"critical": 0, "warning": 1, "info": 2}

_METRIC_KEY = ["period", "window_start", "segment_column", "segment", "metric_id"]
#: The tidy tables of a :class:`MonitoringResult`: attribute -> (file, row order when written).
OUTPUT_TABLES = {
    "weekly": ("weekly_metrics.csv", _METRIC_KEY),
    "daily": ("daily_metrics.csv", _METRIC_KEY),
    "comparisons": ("comparisons.csv", _METRIC_KEY),
    "drift": ("drift.csv", ["period", "window_start", "segment_column", "segment", "feature_id"]),
    "decomposition": ("decomposition.csv", ["segment_column", "metric_id", "segment"]),
    "delay_curves": ("delay_curves.csv", ["outcome", "delay"]),
}
OUTPUT_FILES = ("alerts.json", *(name for name, _ in OUTPUT_TABLES.values()), "delay_evaluation.json", "summary.json")

METRIC_COLUMNS = ["period", "window_start", "window_end", "segment_column", "segment", "metric_id", "metric",
                  "recs", "customers", "recs_matured", "events", "exposure", "observed", "completeness",
                  "estimate", "estimate_low", "estimate_high", "rate_low", "rate_high", "reference", "change"]

# --------------------------------------------------------------------------------------------
# Parameters and result
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MonitorParams:
    """The ``monitor`` section of params.yaml (flat keys; the notebook's parameters cell)."""

    min_customers: int = 20            # groups with fewer distinct customers in a window are not shown
    reference_weeks: int = 6           # first N Monday-Sunday weeks of the file = usual level
    current_weeks: int = 4             # last N weeks = "now" for the headline and root cause
    fdr: float = 0.05                  # false-alarm control (Benjamini-Hochberg) over all comparisons
    min_relative_effect: float = 0.25  # smallest relative change worth an alert
    critical_q: float = 0.01           # critical: q at most this ...
    critical_relative_effect: float = 0.5  # ... and a harmful change at least this large
    interval: float = 0.9              # level of every interval
    new_customer_days: int = 90        # new customer = signed up less than this many days before serving
    draws: int = 1000                  # Monte Carlo draws per window for the intervals
    seed: int = 0                      # seed of those draws (outputs are deterministic)
    inject_enabled: bool = False       # simulated shift on top of the materials (verification)
    inject_column: str = "segment"
    inject_value: str = "Bargain Hunters"
    inject_start: str = "2026-02-16"
    inject_effect: float = -0.6
    inject_seed: int = 7

    #: notebook parameters that are not monitoring parameters
    NOT_MONITORING = ("materials_dir",)

    @classmethod
    def from_dict(cls, values: dict | None) -> "MonitorParams":
        values = dict(values or {})
        known = {f.name for f in fields(cls)}
        unknown = set(values) - known - set(cls.NOT_MONITORING)
        if unknown:
            raise KeyError(f"unknown monitoring parameter(s) {sorted(unknown)} (known: {sorted(known)})")
        params = cls(**{k: v for k, v in values.items() if k in known})
        if not 0 < params.interval < 1 or not 0 < params.fdr < 1:
            raise ValueError("interval and fdr must lie strictly between 0 and 1")
        if params.reference_weeks < 1 or params.current_weeks < 1 or params.draws < 100:
            raise ValueError("reference_weeks and current_weeks must be >= 1, draws >= 100")
        return params

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class MonitoringResult:
    """Everything the dashboard renders. Tables are tidy (one row per observation)."""

    params: dict
    export_time: pd.Timestamp
    reference: tuple[pd.Timestamp, pd.Timestamp]  # first and last day
    current: tuple[pd.Timestamp, pd.Timestamp]
    weekly: pd.DataFrame        # METRIC_COLUMNS, period in {reference, week}
    daily: pd.DataFrame         # METRIC_COLUMNS, period = day
    comparisons: pd.DataFrame   # every test: group x metric x window, with p and q
    alerts: list[dict]
    drift: pd.DataFrame
    decomposition: pd.DataFrame
    delay_curves: pd.DataFrame
    summary: dict
    delay_evaluation: dict | None = None
    curves: dict = field(default_factory=dict, repr=False)


# --------------------------------------------------------------------------------------------
# Delay curves
# --------------------------------------------------------------------------------------------


@dataclass
class DelayCurve:
    """Share of eventual events seen by a delay, learned from cohorts whose window closed.

    ``edges`` are grid points in seconds from 0 to the window; ``counts[k]`` the events with a
    delay in ``[edges[k], edges[k+1])`` (the last bin includes the window end). A small prior
    (``DELAY_PRIOR_EVENTS`` spread evenly) keeps a thin curve from reaching 1 too early.
    """

    outcome: str
    edges: np.ndarray
    counts: np.ndarray
    cohort: int  # recommendations (purchases for returns) in the closed cohorts

    @property
    def events(self) -> int:
        return int(self.counts.sum())

    @property
    def window_s(self) -> float:
        return float(self.edges[-1])

    def _alpha(self) -> np.ndarray:
        return self.counts + DELAY_PRIOR_EVENTS / len(self.counts)

    def at_edges(self) -> np.ndarray:
        """F at the grid edges (length G+1, from 0 to 1)."""
        alpha = self._alpha()
        return np.concatenate([[0.0], np.cumsum(alpha) / alpha.sum()])

    def cdf(self, age_s) -> np.ndarray:
        """F(age), linear between grid edges, 1 from the window end on."""
        return np.interp(np.asarray(age_s, dtype=float), self.edges, self.at_edges())

    def draws(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """``n`` Bayesian-bootstrap draws of F at the edges, shape (n, G+1)."""
        gam = rng.gamma(np.broadcast_to(self._alpha(), (n, len(self.counts))))
        gam /= gam.sum(axis=1, keepdims=True)
        return np.concatenate([np.zeros((n, 1)), np.cumsum(gam, axis=1)], axis=1)

    def median_delay_s(self) -> float:
        return float(np.interp(0.5, self.at_edges(), self.edges))


def fit_delay_curves(prep: "Prepared") -> dict[str, DelayCurve]:
    """Delay curves of clicks, purchases (after serving) and returns (after the purchase)."""
    r, export = prep.recs, prep.export_time
    served = r["served_at"]
    specs = {
        "click": (served, r["clicked_at"]),
        "purchase": (served, r["purchased_at"]),
        "return": (r["purchased_at"], r["returned_at"]),
    }
    curves = {}
    for outcome, (anchor, event) in specs.items():
        window = pd.Timedelta(seconds=WINDOWS_S[outcome])
        closed = (anchor + window <= export).to_numpy(dtype=bool, na_value=False).copy()
        if outcome == "return":
            closed &= r["purchase_seen"].to_numpy()
        delay = ((event - anchor).dt.total_seconds()).to_numpy(dtype=float, na_value=np.nan)
        seen = closed & ~np.isnan(delay)
        edges = GRIDS_S[outcome]
        d = np.clip(delay[seen], 0, edges[-1])
        idx = np.clip(np.searchsorted(edges, d, side="right") - 1, 0, len(edges) - 2)
        counts = np.bincount(idx, minlength=len(edges) - 1).astype(float)
        curves[outcome] = DelayCurve(outcome, edges, counts, int(closed.sum()))
    return curves


def delay_curve_table(curves: dict[str, DelayCurve], interval: float, seed: int) -> pd.DataFrame:
    """Tidy delay curves: share of final outcomes seen by each hour (clicks) or day, with interval."""
    rng = np.random.default_rng(seed)
    q = (1 - interval) / 2
    rows = []
    for outcome, unit, step in (("click", "hours", 3600.0), ("purchase", "days", DAY_S), ("return", "days", DAY_S)):
        c = curves[outcome]
        points = np.arange(0, c.window_s + 1, step)
        draws = np.stack([np.interp(points, c.edges, d) for d in c.draws(rng, 400)])
        rows.append(pd.DataFrame({
            "outcome": outcome, "delay": (points / step).astype(int), "delay_unit": unit,
            "share_observed": c.cdf(points), "share_low": np.quantile(draws, q, axis=0),
            "share_high": np.quantile(draws, 1 - q, axis=0), "events": c.events, "cohort": c.cohort,
        }))
    return pd.concat(rows, ignore_index=True)


# --------------------------------------------------------------------------------------------
# Preparation: one row per recommendation with everything the windows need
# --------------------------------------------------------------------------------------------


@dataclass
class Prepared:
    recs: pd.DataFrame
    export_time: pd.Timestamp
    first_day: pd.Timestamp   # Monday of the first week
    n_days: int
    reference: tuple[pd.Timestamp, pd.Timestamp]
    current: tuple[pd.Timestamp, pd.Timestamp]
    score_edges: np.ndarray
    categories: list[str]
    certifications: list[str]
    rollouts: list[tuple[str, pd.Timestamp]]
    cert_matrix: np.ndarray   # product version row x certification label (1 = carries it)


def _season_key(season: pd.Series, sale_start: pd.Series | None = None) -> np.ndarray:
    """SS24 -> 48, AW24 -> 49, SS25 -> 50 ... (time order). A season outside the SS/AW + two
    digits convention (the contract accepts it as a finding) gets the key of the season on sale
    at the version's ``sale_start`` (without it: -1)."""
    season = season.astype(str).reset_index(drop=True)
    conventional = season.str.fullmatch(r"(SS|AW)[0-9]{2}").fillna(False).to_numpy()
    year = pd.to_numeric(season.str[2:4].where(conventional), errors="coerce").fillna(0).to_numpy(np.int64)
    key = year * 2 + (season.str[:2] == "AW").to_numpy().astype(int)
    if conventional.all():
        return key
    fallback = (_current_season_key(pd.Series(pd.to_datetime(sale_start).to_numpy())) if sale_start is not None
                else np.full(len(season), -1))
    return np.where(conventional, key, fallback)


def _current_season_key(ts: pd.Series) -> np.ndarray:
    """Key (as :func:`_season_key`) of the season on sale at a time: SS = March-August,
    AW = September-February."""
    month, year = ts.dt.month.to_numpy(), ts.dt.year.to_numpy() % 100
    return np.where((month >= 3) & (month <= 8), year * 2, np.where(month >= 9, year * 2 + 1, (year - 1) * 2 + 1))


def _categorical(values: np.ndarray, codes: np.ndarray) -> pd.Categorical:
    """Per recommendation the value of its customer (or product): ``values[codes]`` as a
    categorical (cheap for millions of rows)."""
    cats, inverse = np.unique(np.asarray(values, dtype=object), return_inverse=True)
    return pd.Categorical.from_codes(inverse[codes], categories=cats)


def prepare(materials, params: MonitorParams | dict | None = None, strict: bool = True) -> Prepared:
    """Join recommendations with customers and product versions; outcome flags and ages.

    ``strict``: the file must extend beyond the reference period (else ValueError); without it
    (the evaluation, which uses no reference) the reference is cut at the last day."""
    params = params if isinstance(params, MonitorParams) else MonitorParams.from_dict(params)
    recs = materials.recommendations
    if recs.empty:
        raise ValueError("no recommendations to monitor")
    export = pd.Timestamp(recs["export_time"].max())
    r = recs[["rec_id", "served_at", "customer_id", "score", "model_version", "clicked_at", "purchased_at",
              "returned_at"]].copy()
    # customers and product versions by position (no string merges over millions of rows)
    cust = materials.customers.reset_index(drop=True)
    ci = pd.Index(cust["customer_id"]).get_indexer(recs["customer_id"])
    prod = materials.products.reset_index(drop=True)
    pi = pd.MultiIndex.from_frame(prod[["product_id", "season"]]).get_indexer(
        pd.MultiIndex.from_frame(recs[["product_id", "season"]]))
    if (ci < 0).any() or (pi < 0).any():
        raise ValueError("recommendations point at customers or product versions that are not in the materials")
    # a customer id typed into a customer's attribute (region, age band, ...) never becomes a shown label
    cust = cust.assign(**{col: withhold_ids(cust[col].astype(str), cust["customer_id"])
                          for col in ("segment", "age_band", "region", "preferred_channel")})
    for col in ("segment", "age_band", "region", "preferred_channel"):
        r[col] = _categorical(cust[col].to_numpy(), ci)
    r["segment_x_age_band"] = _categorical((cust["segment"] + ", " + cust["age_band"]).to_numpy(), ci)
    signup = cust["signup_date"].to_numpy()[ci]
    new = (r["served_at"].to_numpy() - signup) < np.timedelta64(params.new_customer_days, "D")
    r["customer_type"] = pd.Categorical.from_codes(np.where(new, 0, 1), categories=[NEW, RETURNING])
    r["all"] = pd.Categorical.from_codes(np.zeros(len(r), dtype=np.int64), categories=[ALL])
    key = _season_key(prod["season"], prod["sale_start"] if "sale_start" in prod else None)
    reused = key > pd.Series(key).groupby(prod["product_id"].to_numpy()).transform("min").to_numpy()
    r["product_row"] = pi
    r["category"] = _categorical(prod["category"].to_numpy(), pi)
    r["price_eur"] = prod["price_eur"].to_numpy(float)[pi]
    r["certified"] = (prod["certifications"] != "").to_numpy()[pi]
    r["reused"] = reused[pi]
    r["new_season"] = key[pi] == _current_season_key(r["served_at"])
    r = r.sort_values(["served_at", "rec_id"], kind="mergesort").reset_index(drop=True)

    r["day"] = r["served_at"].dt.normalize()
    # Outcome flags from the timestamps and the windows (the statuses say the same; see cut_at_export)
    for outcome, stamp in (("click", "clicked_at"), ("purchase", "purchased_at")):
        r[f"{outcome}_seen"] = r[stamp].notna() & (r[stamp] <= export)
        r[f"{outcome}_open"] = r["served_at"] + pd.Timedelta(seconds=WINDOWS_S[outcome]) > export
        r[f"{outcome}_age"] = (export - r["served_at"]).dt.total_seconds()
    r["return_seen"] = r["purchase_seen"] & r["returned_at"].notna() & (r["returned_at"] <= export)
    r["return_open"] = r["purchase_seen"] & (r["purchased_at"] + pd.Timedelta(days=30) > export)
    r["return_age"] = (export - r["purchased_at"]).dt.total_seconds().fillna(0.0)

    first_day = r["day"].min() - pd.Timedelta(days=int(r["day"].min().dayofweek))
    last_day = r["day"].max()
    n_days = int((last_day - first_day).days) + 1
    ref_end = first_day + pd.Timedelta(weeks=params.reference_weeks) - pd.Timedelta(days=1)
    if ref_end >= last_day and strict:
        raise ValueError(f"reference period of {params.reference_weeks} weeks covers the whole file")
    ref_end = min(ref_end, last_day - pd.Timedelta(days=1))
    last_monday = last_day - pd.Timedelta(days=int(last_day.dayofweek))
    cur_start = max(last_monday - pd.Timedelta(weeks=params.current_weeks - 1), ref_end + pd.Timedelta(days=1))
    in_ref = r["day"] <= ref_end
    score_edges = np.unique(np.quantile(r.loc[in_ref, "score"], np.linspace(0.1, 0.9, 9)))
    categories = sorted(prod["category"].unique())
    labels = prod["certifications"].where(prod["certifications"] != "", "none").str.get_dummies(sep="|")
    certs = ["none"] + sorted(c for c in labels.columns if c != "none")
    firsts = r.groupby("model_version")["served_at"].min().sort_values()
    rollouts = [(withhold_ids(pd.Series([str(v)]), cust["customer_id"]).iloc[0], t.normalize())
                for v, t in firsts.iloc[1:].items()]
    return Prepared(r, export, first_day, n_days, (first_day, ref_end), (cur_start, last_day), score_edges,
                    categories, certs, rollouts, labels[certs].to_numpy(float))


# --------------------------------------------------------------------------------------------
# Windows: (group, day) cells -> any window as a sparse sum of cells
# --------------------------------------------------------------------------------------------

_SUMS = ("n", "click_x", "click_cn", "click_cx", "purchase_x", "purchase_cn", "purchase_cx", "return_x",
         "return_pn", "kept_cn", "kept_cx", "revenue_x", "revenue_cx", "price_all", "price_pending",
         "pending_w", "certified", "new_season", "reused")


def _rec_sums(prep: Prepared, curves: dict[str, DelayCurve]) -> dict[str, np.ndarray]:
    """Per recommendation the additive quantities (``_SUMS``)."""
    r = prep.recs
    b = {c: r[c].to_numpy(dtype=bool) for c in ("click_seen", "click_open", "purchase_seen", "purchase_open",
                                                 "return_seen", "return_open", "certified", "new_season", "reused")}
    price = r["price_eur"].to_numpy(float)
    f_purchase = np.where(b["purchase_open"], curves["purchase"].cdf(r["purchase_age"].to_numpy(float)), 1.0)
    kept_matured = ~b["purchase_open"] & ~(b["purchase_seen"] & b["return_open"])
    cols = {
        "n": None,
        "click_x": b["click_seen"], "click_cn": ~b["click_open"], "click_cx": b["click_seen"] & ~b["click_open"],
        "purchase_x": b["purchase_seen"], "purchase_cn": ~b["purchase_open"],
        "purchase_cx": b["purchase_seen"] & ~b["purchase_open"],
        "return_x": b["return_seen"], "return_pn": b["purchase_seen"],
        "kept_cn": kept_matured, "kept_cx": kept_matured & b["purchase_seen"] & ~b["return_seen"],
        "revenue_x": price * b["purchase_seen"], "revenue_cx": price * (b["purchase_seen"] & ~b["purchase_open"]),
        "price_all": price, "price_pending": price * (1 - f_purchase), "pending_w": 1 - f_purchase,
        "certified": b["certified"], "new_season": b["new_season"], "reused": b["reused"],
    }
    return {c: (None if cols[c] is None else np.asarray(cols[c], dtype=float)) for c in _SUMS}


def _interp_columns(age: np.ndarray, open_: np.ndarray, edges: np.ndarray):
    """Each age as weights on two neighbouring grid edges; a closed window goes to the last
    column (F = 1). Returns (column of the lower edge, weight of it, weight of the upper)."""
    g = len(edges)
    t = np.interp(np.clip(age, 0, edges[-1]), edges, np.arange(g, dtype=float))
    k = np.minimum(np.floor(t).astype(np.int64), g - 2)
    frac = t - k
    k = np.where(open_, k, g)  # column g = "closed"
    frac = np.where(open_, frac, 0.0)
    return k, 1 - frac, frac


def _drift_codes(prep: Prepared) -> dict[str, tuple[np.ndarray, list[str]]]:
    """Per drift feature: a value code per recommendation (1-d) or a weight per recommendation and
    value (2-d, for the multi-valued certifications), and the value labels."""
    r = prep.recs
    cats = pd.Categorical(r["category"], categories=prep.categories).codes.astype(np.int64)
    return {
        "score": (np.searchsorted(prep.score_edges, r["score"].to_numpy(float), side="right"),
                  [f"score bin {i + 1}" for i in range(len(prep.score_edges) + 1)]),
        "category": (cats, list(prep.categories)),
        "season": ((~r["new_season"].to_numpy(bool)).astype(np.int64), ["current season", "older season"]),
        "reused_id": (r["reused"].to_numpy(bool).astype(np.int64), ["first use", "reused number"]),
        "certification": (prep.cert_matrix[r["product_row"].to_numpy()], list(prep.certifications)),
    }


def _cell_sum(cell: np.ndarray, n_cells: int, weights=None, codes=None, width: int = 1) -> np.ndarray:
    """Sum per cell (and per code when ``codes`` is given) with ``np.bincount``."""
    if codes is None:
        return np.bincount(cell, weights=weights, minlength=n_cells).astype(float)
    flat = np.bincount(cell * width + codes, weights=weights, minlength=n_cells * width)
    return flat.reshape(n_cells, width).astype(float)


@dataclass
class Windows:
    """Window x group rows (``frame``) with their sums, delay histograms and drift counts."""

    frame: pd.DataFrame                 # period, window_start, window_end, segment_column, segment, customers
    sums: np.ndarray                    # rows x len(_SUMS)
    hist: dict[str, np.ndarray]         # outcome -> rows x (G+2) interpolation weights
    drift: dict[str, np.ndarray]        # feature -> rows x values
    drift_labels: dict[str, list[str]]


def _data_days(prep: Prepared) -> np.ndarray:
    """Sorted day indexes (from ``first_day``) on which recommendations were served."""
    return np.unique(((prep.recs["day"] - prep.first_day).dt.days).to_numpy(np.int64))


def _window_defs(prep: Prepared, kinds) -> pd.DataFrame:
    """The windows as day-index ranges: day, week (Mon-Sun), since (week w to the last day),
    reference, current. Days and weeks only where recommendations were served, so a file that
    spans decades (one early ``served_at``) costs what its data costs, not one row per empty day."""
    days = _data_days(prep)
    start = prep.first_day
    ref_end = int((prep.reference[1] - start).days)
    cur_start = int((prep.current[0] - start).days)
    last = prep.n_days - 1
    defs = []
    if "day" in kinds:
        defs.append(pd.DataFrame({"period": "day", "a": days, "b": days}))
    mondays = np.unique(days // 7) * 7
    if "week" in kinds:
        defs.append(pd.DataFrame({"period": "week", "a": mondays, "b": np.minimum(mondays + 6, last)}))
    if "since" in kinds:
        later = mondays[(mondays > ref_end) & (mondays + 6 < last)]  # the last week is a week window
        defs.append(pd.DataFrame({"period": "since", "a": later, "b": last}))
    defs.append(pd.DataFrame({"period": ["reference", "current", "file"], "a": [0, cur_start, 0],
                              "b": [ref_end, last, last]}))
    out = pd.concat(defs, ignore_index=True)
    out["window_start"] = start + pd.to_timedelta(out["a"], unit="D")
    out["window_end"] = start + pd.to_timedelta(out["b"], unit="D")
    return out


def _aggregate(prep: Prepared, curves: dict[str, DelayCurve], kinds=("day", "week", "since"),
               groupings=GROUPINGS) -> Windows:
    r = prep.recs
    defs = _window_defs(prep, kinds)
    rec_sums = _rec_sums(prep, curves)
    day_idx = ((r["day"] - prep.first_day).dt.days).to_numpy(np.int64)
    # cells over the days with data only (compressed day axis): memory follows the data, not the span
    data_days = _data_days(prep)
    n_days = len(data_days)
    data_day = np.searchsorted(data_days, day_idx)
    interp = {
        "click": _interp_columns(r["click_age"].to_numpy(float), r["click_open"].to_numpy(bool), GRIDS_S["click"]),
        "purchase": _interp_columns(r["purchase_age"].to_numpy(float), r["purchase_open"].to_numpy(bool),
                                    GRIDS_S["purchase"]),
        "return": _interp_columns(r["return_age"].to_numpy(float), r["return_open"].to_numpy(bool),
                                  GRIDS_S["return"]),
    }
    # return exposure: all seen purchases ("return"), and those not returned yet ("return_kept")
    hist_weight = {"return": r["purchase_seen"].to_numpy(float),
                   "return_kept": (r["purchase_seen"] & ~r["return_seen"]).to_numpy(float)}
    interp["return_kept"] = interp["return"]
    dcodes = _drift_codes(prep)
    customer = pd.factorize(r["customer_id"])[0]
    # window x day membership (same for every grouping)
    lo = np.searchsorted(data_days, defs["a"].to_numpy(), side="left")
    hi = np.searchsorted(data_days, defs["b"].to_numpy(), side="right")
    win_of = np.repeat(np.arange(len(defs)), hi - lo)
    day_of = np.concatenate([np.arange(a, b) for a, b in zip(lo, hi)])
    frames, sums, hists, drifts = [], [], {k: [] for k in interp}, {k: [] for k in dcodes}
    for col in groupings:
        codes = r[col].cat.codes.to_numpy().astype(np.int64)
        values = np.asarray(r[col].cat.categories, dtype=object)
        n_units, n_cells = len(values), len(values) * n_days
        cell = codes * n_days + data_day
        cell_sums = np.column_stack([_cell_sum(cell, n_cells, rec_sums[c]) for c in _SUMS])
        # membership matrix: (window, unit) rows x (unit, day) cells
        rows = (win_of[:, None] * n_units + np.arange(n_units)[None, :]).ravel()
        cols = (np.arange(n_units)[None, :] * n_days + day_of[:, None]).ravel()
        member = sparse.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(len(defs) * n_units, n_cells))
        w_sums = member @ cell_sums
        keep = w_sums[:, 0] > 0
        info = defs.loc[np.repeat(np.arange(len(defs)), n_units), ["period", "a", "b", "window_start", "window_end"]]
        info = info.reset_index(drop=True).assign(segment_column=col, segment=np.tile(values, len(defs)))
        info["customers"] = _distinct_customers(customer, codes, day_idx, defs, n_units)
        frames.append(info[keep])
        sums.append(w_sums[keep])
        for outcome, (k, w0, w1) in interp.items():
            g = len(GRIDS_S[outcome.split("_")[0]]) + 1
            weight = hist_weight.get(outcome)
            lo = w0 if weight is None else w0 * weight
            hi = w1 if weight is None else w1 * weight
            h = _cell_sum(cell, n_cells, lo, k, g) + _cell_sum(cell, n_cells, hi, np.minimum(k + 1, g - 1), g)
            hists[outcome].append((member @ h)[keep])
        for feat, (vals, labels) in dcodes.items():
            if vals.ndim == 1:
                h = _cell_sum(cell, n_cells, None, vals, len(labels))
            else:
                h = np.column_stack([_cell_sum(cell, n_cells, vals[:, j]) for j in range(vals.shape[1])])
            drifts[feat].append((member @ h)[keep])
    frame = pd.concat(frames, ignore_index=True)
    return Windows(frame, np.vstack(sums), {k: np.vstack(v) for k, v in hists.items()},
                   {k: np.vstack(v) for k, v in drifts.items()}, {k: v[1] for k, v in dcodes.items()})


def _distinct_customers(customer: np.ndarray, unit: np.ndarray, day: np.ndarray, defs: pd.DataFrame,
                        n_units: int) -> np.ndarray:
    """Distinct customers per (window, unit), in the row order of ``_aggregate``."""
    triples = pd.DataFrame({"u": unit, "c": customer, "d": day}).drop_duplicates()
    out = np.zeros(len(defs) * n_units)
    by_day = triples.groupby(["u", "d"]).size()
    week = triples.assign(w=triples["d"] // 7).drop_duplicates(["u", "c", "w"]).groupby(["u", "w"]).size()
    for i, (period, a, b) in enumerate(zip(defs["period"], defs["a"], defs["b"])):
        if period == "day":
            s = by_day.xs(a, level="d") if a in by_day.index.get_level_values("d") else pd.Series(dtype=float)
        elif period == "week" and a % 7 == 0:
            s = week.xs(a // 7, level="w") if (a // 7) in week.index.get_level_values("w") else pd.Series(dtype=float)
        else:
            sel = triples[(triples["d"] >= a) & (triples["d"] <= b)]
            s = sel.drop_duplicates(["u", "c"]).groupby("u").size()
        out[i * n_units + s.index.to_numpy(np.int64)] = s.to_numpy()
    return out.astype(np.int64)


# --------------------------------------------------------------------------------------------
# Estimates with intervals
# --------------------------------------------------------------------------------------------


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
        by_group = pd.Series(mu[file_rows], index=pd.MultiIndex.from_frame(f.loc[file_rows, ["segment_column",
                                                                                             "segment"]]))
        keys = pd.MultiIndex.from_frame(f[["segment_column", "segment"]])
        out[outcome] = by_group.reindex(keys).fillna(mu_all).to_numpy()
    return out


def _estimates(win: Windows, curves: dict[str, DelayCurve], params: MonitorParams,
               return_rate: float, shown: np.ndarray, chunk: int = 512) -> pd.DataFrame:
    """Long table of metric estimates for every window row; the Monte Carlo intervals only for
    the ``shown`` rows (the others are suppressed anyway; their point estimates feed the pooled
    groups of the root-cause split)."""
    rng = np.random.default_rng(params.seed)
    B = params.draws
    f_draws = {k: np.concatenate([c.draws(rng, B), np.ones((B, 1))], axis=1) for k, c in curves.items()}
    f_point = {k: np.concatenate([c.at_edges(), [1.0]]) for k, c in curves.items()}
    S = {name: win.sums[:, i] for i, name in enumerate(_SUMS)}
    n = S["n"]
    E = {k: win.hist[k] @ f_point[k] for k in curves}
    E["return_kept"] = win.hist["return_kept"] @ f_point["return"]
    prior = _group_priors(win.frame, S, E)  # per row: prior mean click and purchase rate
    b0 = PRIOR_RECS
    a_c, a_p = (b0 * prior["click"])[:, None], (b0 * prior["purchase"])[:, None]
    out = {key: np.full(len(n), np.nan) for key in (
        "ctr_lo", "ctr_hi", "ctr_rlo", "ctr_rhi", "p_lo", "p_hi", "p_rlo", "p_rhi", "k_lo", "k_hi", "k_rlo",
        "k_rhi", "rev_lo", "rev_hi", "rev_rlo", "rev_rhi", "Ec_lo", "Ec_hi", "Ep_lo", "Ep_hi", "k_logm", "k_logv")}
    q = (1 - params.interval) / 2
    todo = np.flatnonzero(shown & (win.frame["period"] != "file").to_numpy())
    for s in range(0, len(todo), chunk):
        sl = todo[s:s + chunk]
        nn = n[sl][:, None]
        Ec = np.maximum(win.hist["click"][sl] @ f_draws["click"].T, 1e-9)
        Ep = np.maximum(win.hist["purchase"][sl] @ f_draws["purchase"].T, 1e-9)
        Er = win.hist["return"][sl] @ f_draws["return"].T
        Enr = win.hist["return_kept"][sl] @ f_draws["return"].T
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
        pend_price = np.where(S["pending_w"][sl] > 0, S["price_pending"][sl] / np.maximum(S["pending_w"][sl], 1e-12),
                              0.0)[:, None]
        rev = S["revenue_x"][sl][:, None] + rem_p * pend_price
        out["rev_lo"][sl], out["rev_hi"][sl] = _quantiles(rev, params.interval)
        avg_price = np.where(S["purchase_x"][sl] > 0, S["revenue_x"][sl] / np.maximum(S["purchase_x"][sl], 1),
                             S["price_all"][sl] / n[sl])[:, None]
        out["rev_rlo"][sl], out["rev_rhi"][sl] = _quantiles(rate_p * avg_price, params.interval)
        out["rev_rlo"][sl] = np.where(xp[:, 0] == 0, 0.0, out["rev_rlo"][sl])

    def ratio(a, b):
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(b > 0, a / np.where(b > 0, b, 1), np.nan)

    base = win.frame[["period", "window_start", "window_end", "segment_column", "segment", "customers"]]
    base = base.reset_index(drop=True).assign(recs=n.astype(np.int64))
    c_click, c_purch = E["click"] / n, E["purchase"] / n
    # expected final counts: seen + (recommendations still open) x posterior mean rate
    clicks_final = S["click_x"] + (n - E["click"]) * (S["click_x"] + b0 * prior["click"]) / (E["click"] + b0)
    purchases_final = S["purchase_x"] + (n - E["purchase"]) * (S["purchase_x"] + b0 * prior["purchase"]) / (
        E["purchase"] + b0)
    p_hat = purchases_final / n
    r_hat = (S["return_x"] + RETURN_PRIOR_PURCHASES * return_rate) / (E["return"] + RETURN_PRIOR_PURCHASES)
    kept_final = purchases_final - S["return_x"] - r_hat * np.maximum(purchases_final - S["return_x"]
                                                                      - E["return_kept"], 0)
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
        block("recs_shown", recs_matured=n, events=n, exposure=n, observed=n, completeness=1.0, estimate=n,
              estimate_low=n, estimate_high=n, rate_low=nan, rate_high=nan),
        block("ctr", recs_matured=S["click_cn"], events=S["click_x"], exposure=E["click"],
              observed=ratio(S["click_cx"], S["click_cn"]) * h, completeness=c_click,
              estimate=clicks_final / n * h, estimate_low=out["ctr_lo"] * h,
              estimate_high=out["ctr_hi"] * h, rate_low=out["ctr_rlo"] * h, rate_high=out["ctr_rhi"] * h,
              exposure_low=out["Ec_lo"], exposure_high=out["Ec_hi"]),
        block("purchases_per_100", recs_matured=S["purchase_cn"], events=S["purchase_x"], exposure=E["purchase"],
              observed=ratio(S["purchase_cx"], S["purchase_cn"]) * h, completeness=c_purch,
              estimate=p_hat * h, estimate_low=out["p_lo"] * h, estimate_high=out["p_hi"] * h,
              rate_low=out["p_rlo"] * h, rate_high=out["p_rhi"] * h,
              exposure_low=out["Ep_lo"], exposure_high=out["Ep_hi"]),
        block("kept_per_100", recs_matured=S["kept_cn"], events=S["purchase_x"] - S["return_x"],
              exposure=E["purchase"], observed=ratio(S["kept_cx"], S["kept_cn"]) * h,
              completeness=c_purch * c_return, estimate=ratio(kept_final, n) * h, estimate_low=out["k_lo"] * h,
              estimate_high=out["k_hi"] * h, rate_low=out["k_rlo"] * h, rate_high=out["k_rhi"] * h,
              log_mean=out["k_logm"], log_var=out["k_logv"]),
        block("revenue_eur", recs_matured=S["purchase_cn"], events=S["purchase_x"], exposure=E["purchase"],
              observed=S["revenue_x"], completeness=c_purch, estimate=rev_final, estimate_low=out["rev_lo"],
              estimate_high=out["rev_hi"], rate_low=nan, rate_high=nan),
        block("revenue_per_100", recs_matured=S["purchase_cn"], events=S["purchase_x"], exposure=E["purchase"],
              observed=ratio(S["revenue_cx"], S["purchase_cn"]) * h, completeness=c_purch,
              estimate=rev_final / n * h, estimate_low=out["rev_lo"] / n * h, estimate_high=out["rev_hi"] / n * h,
              rate_low=out["rev_rlo"] * h, rate_high=out["rev_rhi"] * h),
    ]
    for metric_id, col in (("sustainable_share", "certified"), ("new_season_share", "new_season"),
                           ("reused_id_share", "reused")):
        share = S[col] / n * h
        lo, hi = jeffreys(S[col])
        blocks.append(block(metric_id, recs_matured=n, events=S[col], exposure=n, observed=share, completeness=1.0,
                            estimate=share, estimate_low=share, estimate_high=share, rate_low=lo, rate_high=hi))
    table = pd.concat(blocks, ignore_index=True)
    # the range of a small whole-number count can sit on one side of its mean: widen it to
    # include the estimate, so a reader never sees an estimate outside its own range
    shown_rows = np.tile(shown, len(blocks))
    table.loc[shown_rows, "estimate_low"] = np.fmin(table.loc[shown_rows, "estimate_low"],
                                                    table.loc[shown_rows, "estimate"])
    table.loc[shown_rows, "estimate_high"] = np.fmax(table.loc[shown_rows, "estimate_high"],
                                                     table.loc[shown_rows, "estimate"])
    table["metric"] = table["metric_id"].map(METRICS)
    return table


# --------------------------------------------------------------------------------------------
# Tests against the reference, Benjamini-Hochberg, alerts
# --------------------------------------------------------------------------------------------


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


def _compare(metrics: pd.DataFrame, params: MonitorParams, ref_end: pd.Timestamp) -> pd.DataFrame:
    """Every (group, metric, window after the reference) against the group's reference."""
    keys = ["segment_column", "segment", "metric_id"]
    cols = ["recs", "customers", "events", "exposure", "exposure_low", "exposure_high", "completeness",
            "estimate", "estimate_low", "estimate_high", "observed", "log_mean", "log_var"]
    cur = metrics[metrics["metric_id"].isin(ALERT_METRICS)
                  & (((metrics["period"] == "week") & (metrics["window_start"] > ref_end))
                     | (metrics["period"] == "since"))]
    ref = metrics[metrics["metric_id"].isin(ALERT_METRICS) & (metrics["period"] == "reference")]
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
    harmful = np.sign(cmp["change"]) == cmp["metric_id"].map(HARMFUL)
    critical = harmful & (cmp["q_value"] <= params.critical_q) & (
        cmp["change"].abs() >= params.critical_relative_effect)
    cmp["severity"] = np.where(cmp["alert"], np.where(harmful, np.where(critical, "critical", "warning"), "info"), "")
    return cmp.rename(columns={"estimate_ref": "expected", "observed_cur": "observed", "estimate_cur": "estimate",
                               "estimate_low_cur": "estimate_low", "estimate_high_cur": "estimate_high",
                               "completeness_cur": "completeness", "recs_cur": "recs", "customers_cur": "customers"})


def date_words(ts) -> str:
    """The one date format of the owner pages and alerts: ``2 March 2026``."""
    ts = pd.Timestamp(ts)
    return f"{ts.day} {ts:%B %Y}"


_fmt_date = date_words


def describe_group(column: str, value: str) -> str:
    """A customer group in words, e.g. 'customers aged 25-34'."""
    if column == "all":
        return "all customers"
    if column == "segment":
        return str(value)
    if column == "age_band":
        return f"customers aged {value}"
    if column == "region":
        return f"customers in {value}" if value != "Other Germany" else "customers elsewhere in Germany"
    if column == "preferred_channel":
        return {"web": "customers who prefer the web shop", "app": "customers who prefer the app",
                "store": "customers who prefer the store"}.get(value, f"customers who prefer {value}")
    if column == "customer_type":
        return "new customers" if value == NEW else "returning customers"
    if column == "segment_x_age_band":
        seg, _, age = str(value).rpartition(", ")
        return f"{seg} aged {age}"
    return str(value)


def _fmt_value(metric_id: str, v: float) -> str:
    if metric_id in ("ctr", "sustainable_share", "new_season_share", "reused_id_share"):
        return f"{v:.1f}%"
    if metric_id in ("revenue_eur", "revenue_per_100"):
        return f"{v:,.0f} EUR"
    return f"{v:.1f}"


_DEFAULT_HINTS = {
    "ctr": "the images, prices and stock of the recommended items, and whether clicks are still tracked",
    "purchases_per_100": "stock, sizes and prices of the recommended items, and whether checkout tracking works",
    "kept_per_100": "returns of recommended items (sizes, fit, product descriptions)",
    "sustainable_share": "the certification data of the product catalogue and which items the model favours",
    "reused_id_share": "how the model tells products apart: article number and season must be used together, "
                       "or a new product inherits the popularity of an old one with the same number",
}


def _hint(alert: pd.Series, metrics: pd.DataFrame, prep: Prepared) -> str:
    """What to check first: the most telling change next to the alert, else the metric's runbook line."""
    if alert["metric_id"] != "reused_id_share":
        sel = metrics[(metrics["segment_column"] == alert["segment_column"]) & (metrics["segment"] == alert["segment"])
                      & (metrics["metric_id"] == "reused_id_share")]
        now = sel[(sel["period"] == alert["period"]) & (sel["window_start"] == alert["window_start"])]["estimate"]
        before = sel[sel["period"] == "reference"]["estimate"]
        if len(now) and len(before) and now.iloc[0] - before.iloc[0] >= 10 and now.iloc[0] >= 1.25 * before.iloc[0]:
            return (f"new-season products that reuse an old product number (now {now.iloc[0]:.0f}% of the "
                    f"recommendations, usually {before.iloc[0]:.0f}%)")
    for _version, day in prep.rollouts:  # the release code is the team's, not the owner's: named by its day
        if pd.Timedelta(0) <= alert["window_start"] - day <= pd.Timedelta(days=6):
            return f"the model update that went live on {_fmt_date(day)}"
    return _DEFAULT_HINTS[alert["metric_id"]]


def _message(a: pd.Series, hint: str) -> str:
    verb = "fell" if a["estimate"] < a["expected"] else "rose"
    who = describe_group(a["segment_column"], a["segment"])
    if a["expected"] > 0:
        size = f"by {abs(a['change']) * 100:.0f}% "
    else:
        size = ""
    when = ("in the week of " if a["period"] == "week" else "since the week of ") + _fmt_date(a["window_start"])
    numbers = f"(from {_fmt_value(a['metric_id'], a['expected'])} to {_fmt_value(a['metric_id'], a['estimate'])}"
    if a["completeness"] < 0.99:
        numbers += (f", expected final value; about {a['completeness'] * 100:.0f}% of the outcomes are in, so it will "
                    f"most likely end between {_fmt_value(a['metric_id'], a['estimate_low'])} and "
                    f"{_fmt_value(a['metric_id'], a['estimate_high'])}")
    numbers += ")"
    sure = min(99, int(math.floor((1 - a["q_value"]) * 100)))
    subject = a["metric"] if a["metric_id"] != "ctr" else "The click rate"
    subject = subject[0].upper() + subject[1:]
    return (f"{subject} for {who} {verb} {size}{numbers} {when}; we are {sure}% sure this is not chance; "
            f"check first: {hint}.")


def _alerts(cmp: pd.DataFrame, metrics: pd.DataFrame, prep: Prepared) -> list[dict]:
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
        message = _message(a, _hint(a, metrics, prep))
        bad = technical_terms_in(_own_words(message, a, prep))
        if bad:  # pragma: no cover - the package's own wording, guarded by tests
            raise AssertionError(f"alert wording uses technical terms {bad}: {message}")
        out.append({
            "segment_column": a["segment_column"], "segment": a["segment"],
            "group": describe_group(a["segment_column"], a["segment"]),
            "metric": a["metric"], "metric_id": a["metric_id"], "window": a["period"],
            "window_start": a["window_start"].strftime("%Y-%m-%d"), "window_end": a["window_end"].strftime("%Y-%m-%d"),
            "observed": _num(a["observed"]), "expected": _num(a["expected"]), "estimate": _num(a["estimate"]),
            "estimate_low": _num(a["estimate_low"]), "estimate_high": _num(a["estimate_high"]),
            "completeness": _num(a["completeness"]), "change": _num(a["change"]),
            "recs": int(a["recs"]), "customers": int(a["customers"]),
            "p_value": _sig(a["p_value"]), "q_value": _sig(a["q_value"]),
            "severity": a["severity"], "message": message,
        })
    return out


def _own_words(message: str, alert: pd.Series, prep: Prepared) -> str:
    """The alert message without the client's texts in it (group names, model versions): only the
    package's own wording is held to business language; a model version named
    ``prod-2.4.0 CTR fix`` or a segment called ``null`` is the client's word, shown as is."""
    client = {str(alert["segment"]), *str(alert["segment"]).split(", "), *(str(v) for v, _ in prep.rollouts)}
    for text in sorted(client, key=len, reverse=True):
        if text:
            message = message.replace(text, " ")
    return message


def _sig(v, digits: int = 6):
    """A float rounded to significant digits (p-values can be tiny)."""
    v = _num(v, 300)
    return None if v is None else float(f"{v:.{digits}g}")


def _num(v, digits: int = 6):
    if v is None or (isinstance(v, float) and not math.isfinite(v)) or pd.isna(v):
        return None
    return round(float(v), digits)


# --------------------------------------------------------------------------------------------
# Drift
# --------------------------------------------------------------------------------------------


def _distribution_shift(cur: np.ndarray, ref: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Row-wise PSI, Jensen-Shannon distance (base 2) and chi-square homogeneity p-value."""
    k = cur.shape[1]
    p = (cur + 0.5) / (cur.sum(1, keepdims=True) + 0.5 * k)
    q = (ref + 0.5) / (ref.sum(1, keepdims=True) + 0.5 * k)
    psi = ((p - q) * np.log(p / q)).sum(1)
    js = jensenshannon(p, q, base=2, axis=1)
    table = np.stack([cur, ref], axis=1)  # rows x 2 x k
    used = table.sum(1) > 0
    col = table.sum(1, keepdims=True)
    row = table.sum(2, keepdims=True)
    expected = row * col / np.maximum(table.sum((1, 2), keepdims=True), 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        chi = np.where(expected > 0, (table - expected) ** 2 / expected, 0.0).sum((1, 2))
    df = np.maximum(used.sum(1) - 1, 1)
    pv = np.where((row.squeeze(2) > 0).all(1), stats.chi2.sf(chi, df), 1.0)
    return psi, js, pv


def _drift(win: Windows, shown: np.ndarray, prep: Prepared, params: MonitorParams) -> pd.DataFrame:
    f = win.frame.reset_index(drop=True)
    is_ref = (f["period"] == "reference").to_numpy()
    target = shown & f["period"].isin(["week", "current"]).to_numpy()
    ref_row = pd.Series(np.flatnonzero(is_ref & shown), index=pd.MultiIndex.from_frame(
        f.loc[is_ref & shown, ["segment_column", "segment"]]))
    tgt = f[target]
    key = pd.MultiIndex.from_frame(tgt[["segment_column", "segment"]])
    has_ref = key.isin(ref_row.index)
    rows_t = np.flatnonzero(target)[has_ref]
    rows_r = ref_row.reindex(key[has_ref]).to_numpy()
    parts = []
    for feat, counts in win.drift.items():
        psi, js, pv = _distribution_shift(counts[rows_t], counts[rows_r])
        parts.append(f.loc[rows_t, ["period", "window_start", "window_end", "segment_column", "segment"]].assign(
            feature_id=feat, psi=psi, js_distance=js, p_value=pv, recs=win.sums[rows_t, 0].astype(int)))
    # traffic mix across the groups of each grouping (small groups pooled)
    for col in GROUPINGS[1:]:
        sel = f[(f["segment_column"] == col)].copy()
        sel["shown"] = shown[sel.index]
        ref_groups = set(sel.loc[(sel["period"] == "reference") & sel["shown"], "segment"])
        sel["group"] = np.where(sel["segment"].isin(ref_groups), sel["segment"], OTHER_GROUPS)
        sel["n"] = win.sums[sel.index, 0]
        pivot = sel.pivot_table(index=["period", "window_start", "window_end"], columns="group", values="n",
                                aggfunc="sum", fill_value=0)
        ref_counts = pivot.xs("reference", level="period").to_numpy()
        cur = pivot[pivot.index.get_level_values("period").isin(["week", "current"])]
        if cur.empty or ref_counts.size == 0:
            continue
        psi, js, pv = _distribution_shift(cur.to_numpy(), np.repeat(ref_counts, len(cur), axis=0))
        idx = cur.index.to_frame(index=False)
        parts.append(idx.assign(segment_column="all", segment=ALL, feature_id=f"traffic:{col}", psi=psi,
                                js_distance=js, p_value=pv, recs=cur.to_numpy().sum(1).astype(int)))
    drift = pd.concat(parts, ignore_index=True)
    drift["q_value"] = stats.false_discovery_control(drift["p_value"].to_numpy(), method="bh")
    drift["level"] = np.select(
        [(drift["psi"] >= 0.25) & (drift["q_value"] <= 0.01), (drift["psi"] >= 0.1) & (drift["q_value"] <= params.fdr)],
        ["major shift", "moderate shift"], "stable")
    base = drift["feature_id"].str.split(":").str[0]
    by = drift["feature_id"].str.split(":").str[1]
    drift["feature"] = base.map(DRIFT_FEATURES) + np.where(by.notna(), " (" + by.map(SEGMENT_COLUMN_LABELS).fillna("")
                                                           + ")", "")
    cols = ["period", "window_start", "window_end", "segment_column", "segment", "feature_id", "feature", "recs",
            "psi", "js_distance", "p_value", "q_value", "level"]
    return drift[cols]


# --------------------------------------------------------------------------------------------
# Root cause: shift-share decomposition
# --------------------------------------------------------------------------------------------


def shift_share(w0: np.ndarray, m0: np.ndarray, w1: np.ndarray, m1: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per group the customer-mix part (w1 - w0)(m0 + m1)/2 and the within-group part
    (m1 - m0)(w0 + w1)/2 of the change of sum(w m); the two add up to the total change exactly."""
    return (w1 - w0) * (m0 + m1) / 2, (m1 - m0) * (w0 + w1) / 2


_DECOMPOSED = ("ctr", "purchases_per_100", "kept_per_100", "revenue_per_100")


def _decomposition(metrics_all: pd.DataFrame, win: Windows, shown: np.ndarray, params: MonitorParams) -> pd.DataFrame:
    """Shift-share split of the change between the reference and the current period, per grouping.
    Groups not shown in both periods are pooled (their pooled rate is recomputed from counts)."""
    f = win.frame.reset_index(drop=True)
    parts = []
    for col in GROUPINGS[1:]:
        sel = f[(f["segment_column"] == col) & f["period"].isin(["reference", "current"])]
        ok = pd.Series(shown[sel.index], index=sel.index)
        both = sel[ok].groupby("segment")["period"].nunique()
        big = set(both[both == 2].index)
        # the pooled rest must not be a group below the minimum either (the total minus the shown
        # groups would give it away): pool the smallest shown group into it until it is large enough
        cust = sel.pivot_table(index="segment", columns="period", values="customers", aggfunc="sum", fill_value=0)
        while big:
            rest = cust.loc[~cust.index.isin(big)].sum()
            if not ((rest > 0) & (rest < params.min_customers)).any():
                break
            big.discard(min(big, key=lambda g: (int(cust.loc[g].min()), str(g))))
        group = np.where(sel["segment"].isin(big), sel["segment"], OTHER_GROUPS)
        m = metrics_all.loc[metrics_all["metric_id"].isin(_DECOMPOSED)]
        m = m[(m["segment_column"] == col) & m["period"].isin(["reference", "current"])]
        g = pd.DataFrame({"period": sel["period"].to_numpy(), "segment": sel["segment"].to_numpy(), "group": group})
        m = m.merge(g, on=["period", "segment"])
        # pooled value of a pooled group: recs-weighted mean of its members' estimates
        m["wv"] = m["estimate"] * m["recs"]
        agg = m.groupby(["metric_id", "group", "period"], as_index=False).agg(recs=("recs", "sum"), wv=("wv", "sum"),
                                                                              customers=("customers", "sum"))
        agg["value"] = agg["wv"] / agg["recs"]
        wide = agg.pivot_table(index=["metric_id", "group"], columns="period", values=["recs", "value", "customers"])
        wide = wide.fillna(0.0)
        for metric_id, block in wide.groupby(level="metric_id"):
            r0, r1 = block[("recs", "reference")].to_numpy(), block[("recs", "current")].to_numpy()
            w0, w1 = r0 / r0.sum(), r1 / r1.sum()
            m0, m1 = block[("value", "reference")].to_numpy(), block[("value", "current")].to_numpy()
            mix, within = shift_share(w0, m0, w1, m1)
            groups = block.index.get_level_values("group")
            small = (block[("customers", "reference")].to_numpy() < params.min_customers) | (
                block[("customers", "current")].to_numpy() < params.min_customers)
            rows = pd.DataFrame({"segment_column": col, "segment": groups, "metric_id": metric_id,
                                 "reference_share": w0, "current_share": w1, "reference_value": m0,
                                 "current_value": m1, "mix_effect": mix, "within_effect": within,
                                 "total_change": mix + within})
            total = pd.DataFrame({"segment_column": [col], "segment": [ALL], "metric_id": [metric_id],
                                  "reference_share": [1.0], "current_share": [1.0],
                                  "reference_value": [(w0 * m0).sum()], "current_value": [(w1 * m1).sum()],
                                  "mix_effect": [mix.sum()], "within_effect": [within.sum()],
                                  "total_change": [mix.sum() + within.sum()]})
            # a pooled group that is still too small is folded into the total only
            parts += [rows[~small], total]
    out = pd.concat(parts, ignore_index=True)
    out["metric"] = out["metric_id"].map(METRICS)
    return out[["segment_column", "segment", "metric_id", "metric", "reference_share", "current_share",
                "reference_value", "current_value", "mix_effect", "within_effect", "total_change"]]


# --------------------------------------------------------------------------------------------
# The entry point
# --------------------------------------------------------------------------------------------


def shown_groups(win: Windows, prep: Prepared, params: MonitorParams) -> np.ndarray:
    """Which window x group rows the outputs may show: at least ``min_customers`` customers, and
    no hidden group recoverable by subtraction from the shown ones (:func:`privacy.complement_safe`:
    the groupings add up to all customers, segment x age band adds up to each segment and each age
    band)."""
    f = win.frame
    cust = prep.recs.drop_duplicates("segment_x_age_band")
    parts = dict(zip(cust["segment_x_age_band"].astype(str), zip(cust["segment"].astype(str), cust["age_band"].astype(str))))
    relations = group_relations(f[["segment_column", "segment"]], ("all", ALL), "segment_x_age_band", parts,
                                overlapping=("customer_type",))
    return complement_safe(f, params.min_customers, relations, protected=[("all", ALL)])


def window_metrics(prep: Prepared, curves: dict[str, DelayCurve], params: MonitorParams,
                   kinds=("day", "week", "since"), groupings=GROUPINGS,
                   complement: bool = True) -> tuple[pd.DataFrame, Windows, np.ndarray, pd.DataFrame]:
    """Metrics of every window x group, suppressed groups removed (``complement``: also the groups
    that would give a hidden one away by subtraction, :func:`shown_groups`; the delay evaluation on
    simulated data turns this off). Returns (shown metrics, the windows, the shown mask over window
    rows, all metrics before suppression)."""
    win = _aggregate(prep, curves, kinds, groupings)
    r = prep.recs
    xr = r["return_seen"].sum()
    er = float(np.dot(r["purchase_seen"].to_numpy(float),
                      np.where(r["return_open"], curves["return"].cdf(r["return_age"].to_numpy(float)), 1.0)))
    return_rate = float(np.clip((xr + 1) / (er + 4), 0.01, 0.99)) if er > 0 else 0.25
    shown = shown_groups(win, prep, params) if complement else (win.frame["customers"] >= params.min_customers).to_numpy()
    metrics_all = _estimates(win, curves, params, return_rate, shown)
    shown_rows = np.tile(shown, len(metrics_all) // len(shown))
    metrics = metrics_all[shown_rows].reset_index(drop=True)
    ref = metrics[metrics["period"] == "reference"][["segment_column", "segment", "metric_id", "estimate"]]
    metrics = metrics.merge(ref.rename(columns={"estimate": "reference"}), how="left",
                            on=["segment_column", "segment", "metric_id"])
    # totals (recommendations, revenue): the usual level of a window this long
    days = (metrics["window_end"] - metrics["window_start"]).dt.days + 1
    ref_days = (prep.reference[1] - prep.reference[0]).days + 1
    totals = metrics["metric_id"].isin(TOTALS).to_numpy()
    metrics.loc[totals, "reference"] = metrics.loc[totals, "reference"] * days[totals] / ref_days
    with np.errstate(divide="ignore", invalid="ignore"):
        metrics["change"] = np.where(metrics["reference"] > 0, metrics["estimate"] / metrics["reference"] - 1, np.nan)
    return metrics, win, shown, metrics_all


def run_monitoring(materials, params: MonitorParams | dict | None = None) -> MonitoringResult:
    """Monitor the production recommendations of ``materials`` (anything with ``recommendations``,
    ``customers`` and ``products`` frames typed as by :func:`stoffwechsel.contract.load_materials`)."""
    if len(materials.recommendations) == 0:
        from stoffwechsel.errors import StageStop

        raise StageStop("no recommendation log: monitoring needs the production recommendations "
                        "(production-recommendations-sample.csv with served recommendations and their outcomes), "
                        "the file has no accepted rows")
    params = params if isinstance(params, MonitorParams) else MonitorParams.from_dict(params)
    if params.inject_enabled:
        recs = inject_shift(materials.recommendations, materials.customers, params.inject_column, params.inject_value,
                            params.inject_start, params.inject_effect, params.inject_seed)
        materials = SimpleNamespace(recommendations=recs, customers=materials.customers, products=materials.products)
    prep = prepare(materials, params)
    curves = fit_delay_curves(prep)
    metrics, win, shown, metrics_all = window_metrics(prep, curves, params)
    cmp = _compare(metrics, params, prep.reference[1])
    alerts = _alerts(cmp, metrics, prep)
    drift = _drift(win, shown, prep, params)
    decomposition = _decomposition(metrics_all, win, shown, params)
    curves_table = delay_curve_table(curves, params.interval, params.seed)
    keep = METRIC_COLUMNS
    weekly = metrics[metrics["period"].isin(["week", "reference", "current"])][keep].reset_index(drop=True)
    daily = metrics[metrics["period"] == "day"][keep].reset_index(drop=True)
    cmp_cols = ["period", "window_start", "window_end", "segment_column", "segment", "metric_id", "metric", "recs",
                "customers", "observed", "completeness", "estimate", "estimate_low", "estimate_high", "expected",
                "change", "p_value", "q_value", "beyond_threshold", "alert", "severity"]
    result = MonitoringResult(
        params=params.as_dict(), export_time=prep.export_time, reference=prep.reference, current=prep.current,
        weekly=weekly, daily=daily, comparisons=cmp[cmp_cols], alerts=alerts, drift=drift,
        decomposition=decomposition, delay_curves=curves_table, summary={}, curves=curves)
    result.summary = _summary(result, metrics, prep, win, shown)
    return result


def _summary(res: MonitoringResult, metrics: pd.DataFrame, prep: Prepared, win: Windows, shown: np.ndarray) -> dict:
    cur = metrics[(metrics["period"] == "current") & (metrics["segment_column"] == "all")].set_index("metric_id")
    ref = metrics[(metrics["period"] == "reference") & (metrics["segment_column"] == "all")].set_index("metric_id")
    headline = []
    for metric_id, name in METRICS.items():
        if metric_id not in cur.index:
            continue
        c = cur.loc[metric_id]
        headline.append({"metric_id": metric_id, "metric": name, "usual_level": _num(c["reference"]),
                         "now": _num(c["estimate"]), "now_low": _num(c["estimate_low"]),
                         "now_high": _num(c["estimate_high"]), "change": _num(c["change"]),
                         "share_of_outcomes_in": _num(c["completeness"])})
    f = win.frame
    is_week = (f["period"] == "week").to_numpy()
    groups = f[is_week].assign(shown=shown[is_week])
    sev = pd.Series([a["severity"] for a in res.alerts], dtype=object)
    r = prep.recs
    return {
        "export_time": prep.export_time.strftime("%Y-%m-%dT%H:%M:%S"),
        "data": {"recommendations": int(len(r)), "customers": int(r["customer_id"].nunique()),
                 "first_day": r["day"].min().strftime("%Y-%m-%d"), "last_day": r["day"].max().strftime("%Y-%m-%d")},
        "reference": {"start": prep.reference[0].strftime("%Y-%m-%d"), "end": prep.reference[1].strftime("%Y-%m-%d")},
        "current": {"start": prep.current[0].strftime("%Y-%m-%d"), "end": prep.current[1].strftime("%Y-%m-%d")},
        "headline": headline,
        "alerts": {"total": len(res.alerts), **{s: int((sev == s).sum()) for s in SEVERITY_ORDER}},
        "top_alerts": [a["message"] for a in res.alerts[:5]],
        "comparisons": int(len(res.comparisons)),
        "group_weeks_shown": int(groups["shown"].sum()),
        "group_weeks_not_shown": int((~groups["shown"]).sum()),
        "delays": {k: {"events_learned_from": c.events, "median_hours": round(c.median_delay_s() / 3600, 2)}
                   for k, c in res.curves.items()},
        "model_rollouts": [{"model_version": v, "first_day": d.strftime("%Y-%m-%d")} for v, d in prep.rollouts],
        "interval": res.params["interval"],
        "settings": dict(res.params),
    }


# --------------------------------------------------------------------------------------------
# Outputs
# --------------------------------------------------------------------------------------------


def _significant(x: np.ndarray, digits: int = 6) -> np.ndarray:
    """Round to significant digits, vectorised (0 stays 0)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        mag = np.floor(np.log10(np.abs(x)))
        factor = 10.0 ** (digits - 1 - np.where(np.isfinite(mag), mag, 0))
        return np.where(x == 0, 0.0, np.round(x * factor) / factor)


def _for_csv(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy()
    for c in out.columns:
        if pd.api.types.is_datetime64_any_dtype(out[c]):
            out[c] = out[c].dt.strftime("%Y-%m-%d")
        elif c in ("p_value", "q_value"):
            out[c] = _significant(out[c].to_numpy(float))
        elif pd.api.types.is_float_dtype(out[c]):
            out[c] = out[c].replace([np.inf, -np.inf], np.nan).round(6)
    return out


def write_outputs(result: MonitoringResult, out_dir: Path | str) -> dict[str, Path]:
    """Write the monitoring outputs deterministically (sorted rows, fixed float format)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = {"alerts.json": write_json({"alerts": result.alerts, "count": len(result.alerts)}, out / "alerts.json")}
    for attr, (name, order) in OUTPUT_TABLES.items():
        written[name] = write_csv(_for_csv(getattr(result, attr)), out / name, order)
    written["summary.json"] = write_json(result.summary, out / "summary.json")
    if result.delay_evaluation is not None:
        written["delay_evaluation.json"] = write_json(result.delay_evaluation, out / "delay_evaluation.json")
    return written


def load_outputs(out_dir: Path | str, params: MonitorParams | dict | None = None) -> MonitoringResult:
    """The :class:`MonitoringResult` the ``monitor`` stage wrote (:func:`write_outputs`), read
    back: the site's pages render these aggregates instead of recomputing from the
    recommendations, so their cost does not grow with the data. Values are the written ones
    (six decimals; p- and q-values six significant digits); the fitted delay curves themselves
    are not stored (their table is)."""
    out = Path(out_dir)
    for name in [*(name for name, _ in OUTPUT_TABLES.values()), "alerts.json", "summary.json"]:
        if not (out / name).is_file():
            raise FileNotFoundError(f"{out / name}: missing; run the monitor stage first (dvc repro monitor)")
    tables = {}
    for attr, (name, _) in OUTPUT_TABLES.items():
        frame = pd.read_csv(out / name)
        for col in ("window_start", "window_end"):
            if col in frame.columns:
                frame[col] = pd.to_datetime(frame[col]).astype("datetime64[us]")
        for col in ("recs_matured", "events"):  # fractional where estimated, so float as computed
            if col in frame.columns and attr in ("weekly", "daily"):
                frame[col] = frame[col].astype("float64")
        tables[attr] = frame
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    evaluation = out / "delay_evaluation.json"
    params = params if isinstance(params, MonitorParams) else MonitorParams.from_dict(params)
    span = lambda key: (pd.Timestamp(summary[key]["start"]), pd.Timestamp(summary[key]["end"]))  # noqa: E731
    return MonitoringResult(
        params=params.as_dict(), export_time=pd.Timestamp(summary["export_time"]), reference=span("reference"),
        current=span("current"), alerts=json.loads((out / "alerts.json").read_text(encoding="utf-8"))["alerts"],
        summary=summary, delay_evaluation=json.loads(evaluation.read_text(encoding="utf-8")) if evaluation.is_file() else None,
        **tables)


# --------------------------------------------------------------------------------------------
# Simulated shift on top of the materials
# --------------------------------------------------------------------------------------------


def inject_shift(recommendations: pd.DataFrame, customers: pd.DataFrame, column: str, value: str, start,
                 effect: float, seed: int = 7) -> pd.DataFrame:
    """Change click and purchase outcomes of customers with ``customers[column] == value`` from
    ``start`` on by the relative ``effect`` (as the simulator's ``Shift``: click probability and
    purchase-given-click probability both times ``1 + effect``).

    Negative effect: observed clicks are kept with probability ``1 + effect`` (a removed click takes
    its purchase and return with it), then observed purchases likewise; a removed outcome becomes
    "no" if its window closed by the export, else "pending". Positive effect: clicks and purchases
    are added at the group's rates before ``start``, with delays drawn from the observed delays; an
    added event after the export stays unobserved ("pending" while its window is open). Statuses
    follow docs/materials.md. Deterministic for a given ``seed``.
    """
    if column not in customers.columns:
        raise ValueError(f"inject column '{column}' is not a customers column")
    if not effect >= -1:
        raise ValueError(f"inject effect must be >= -1, got {effect}")
    if not (customers[column] == value).any():
        raise ValueError(f"no customer has {column} == '{value}'")
    recs = recommendations.sort_values("rec_id", kind="mergesort").reset_index(drop=True).copy()
    export = recs["export_time"].max()
    start = pd.Timestamp(start)
    group = set(customers.loc[customers[column] == value, "customer_id"])
    hit = (recs["customer_id"].isin(group) & (recs["served_at"] >= start)).to_numpy()
    rng = np.random.default_rng(seed)
    u = rng.random((len(recs), 6))
    served = recs["served_at"]
    clicked, bought, returned = recs["clicked_at"].copy(), recs["purchased_at"].copy(), recs["returned_at"].copy()
    nat = pd.NaT
    if effect < 0:
        keep = 1 + effect
        drop_click = hit & clicked.notna().to_numpy() & (u[:, 0] >= keep)
        drop_buy = hit & bought.notna().to_numpy() & ((u[:, 1] >= keep) | drop_click)
        clicked[drop_click] = nat
        bought[drop_buy | drop_click] = nat
        returned[drop_buy | drop_click] = nat
    elif effect > 0:
        before = recs["customer_id"].isin(group).to_numpy() & (served < start).to_numpy()
        closed = (served + pd.Timedelta(days=14) <= export).to_numpy()
        base = before & closed
        p_click = clicked[base].notna().mean() if base.any() else 0.1
        p_buy = bought[base].notna().sum() / max(clicked[base].notna().sum(), 1)
        bought_before = base & bought.notna().to_numpy()
        p_ret = returned[bought_before].notna().mean() if bought_before.any() else 0.25
        # true outcome process is unknown after export: add to every hit row as if complete, then censor
        new_click = hit & clicked.isna().to_numpy() & (u[:, 0] < min(p_click * effect / max(1 - p_click, 1e-9), 1.0))
        # delays observed in cohorts whose windows closed (recent ones would favour short delays)
        c_delays = (recs["clicked_at"] - served)[(served + pd.Timedelta(days=1) <= export).to_numpy()]
        b_delays = (recs["purchased_at"] - recs["clicked_at"])[closed]
        r_delays = (recs["returned_at"] - recs["purchased_at"])[(recs["purchased_at"] + pd.Timedelta(days=30)
                                                                  <= export).to_numpy()]
        c_delays, b_delays, r_delays = (d.dropna().dt.total_seconds().to_numpy() for d in (c_delays, b_delays,
                                                                                             r_delays))
        pick = lambda pool, q, default: (np.quantile(pool, q) if len(pool) else default)
        c_time = served + pd.to_timedelta(pick(c_delays, u[:, 2], 900.0), unit="s")
        clicked_full = clicked.where(~new_click, c_time)
        clicked_any = clicked_full.notna().to_numpy()
        p_add = np.where(new_click, min(p_buy * (1 + effect), 1.0),
                         min(p_buy * effect / max(1 - p_buy, 1e-9), 1.0))
        new_buy = hit & clicked_any & bought.isna().to_numpy() & (u[:, 3] < p_add)
        b_time = clicked_full + pd.to_timedelta(pick(b_delays, u[:, 4], 3 * DAY_S), unit="s")
        new_buy &= (b_time <= served + pd.Timedelta(days=14)).to_numpy()
        new_ret = new_buy & (u[:, 5] < p_ret)
        r_time = b_time + pd.to_timedelta(pick(r_delays, u[:, 5] / max(p_ret, 1e-9) % 1, 10 * DAY_S), unit="s")
        clicked = clicked.where(~new_click, c_time.where(c_time <= export))
        bought = bought.where(~new_buy, b_time.where(b_time <= export))
        returned = returned.where(~new_ret, r_time.where((r_time <= export) & (b_time <= export)))
    recs["clicked_at"], recs["purchased_at"], recs["returned_at"] = clicked, bought, returned
    recs = _statuses(recs, export)
    return recs.sort_values(["served_at", "rec_id"], kind="mergesort").reset_index(drop=True)


def _statuses(recs: pd.DataFrame, export: pd.Timestamp) -> pd.DataFrame:
    """click/purchase/return statuses from the timestamps, as the simulator decides them."""
    served = recs["served_at"]

    def status(seen, window_end):
        return np.where(seen, "yes", np.where(window_end > export, "pending", "no"))

    recs["click_status"] = status(recs["clicked_at"].notna(), served + pd.Timedelta(days=1))
    ps = status(recs["purchased_at"].notna(), served + pd.Timedelta(days=14))
    recs["purchase_status"] = ps
    rs = status(recs["returned_at"].notna(), recs["purchased_at"] + pd.Timedelta(days=30))
    recs["return_status"] = np.where(ps == "yes", rs, np.where(ps == "pending", "pending", "not_purchased"))
    return recs


# --------------------------------------------------------------------------------------------
# Business-facing tables and charts (the notebook and the dashboard show only these labels)
# --------------------------------------------------------------------------------------------

LAUNCH_NOTE = "new season on sale"


def headline_table(result: MonitoringResult) -> pd.DataFrame:
    """The headline numbers: usual level, now (expected final value and its range), change."""
    rows = [{"Metric": h["metric"], "Usual level": h["usual_level"], "Now (expected final value)": h["now"],
             "Range once all outcomes are in": f"{_fmt_plain(h['now_low'])} to {_fmt_plain(h['now_high'])}",
             "Change": None if h["change"] is None else f"{h['change'] * 100:+.0f}%",
             "Share of outcomes already in": f"{h['share_of_outcomes_in'] * 100:.0f}%"}
            for h in result.summary["headline"]]
    return pd.DataFrame(rows)


def _fmt_plain(v) -> str:
    return "" if v is None else f"{v:,.1f}"


def alerts_table(result: MonitoringResult, column: str | None = None) -> pd.DataFrame:
    """Alerts as the client reads them (optionally for one grouping only)."""
    rows = [a for a in result.alerts if column is None or a["segment_column"] == column]
    return pd.DataFrame({"Severity": [a["severity"] for a in rows],
                         "Customer group": [a["group"] for a in rows],
                         "Metric": [a["metric"] for a in rows],
                         "What happened": [a["message"] for a in rows]})


def drift_overview(result: MonitoringResult, column: str = "segment") -> pd.DataFrame:
    """Shift level of each mix for each group of one grouping, current period against the usual one."""
    d = result.drift
    d = d[(d["period"] == "current") & d["segment_column"].isin([column, "all"]) & ~d["feature_id"].str.startswith(
        "traffic")]
    table = d.pivot_table(index="feature", columns="segment", values="level", aggfunc="first")
    table.columns.name, table.index.name = "Customer group", "What is compared"
    return table


#: the smallest text in a chart (points); charts are drawn about as wide as they are shown, so
#: this is close to the size a reader sees
CHART_MIN_FONT = 10.5


def _readable(fig, size: float = CHART_MIN_FONT):
    """Every text of ``fig`` (titles, ticks, labels, legends, notes) at least ``size`` points."""
    import matplotlib.text

    for ax in fig.axes:  # tick labels are made when drawn: set their size on the axes
        ax.tick_params(labelsize=size)
    for t in fig.findobj(matplotlib.text.Text):
        if t.get_text() and t.get_fontsize() < size:
            t.set_fontsize(size)
    return fig


def _axes_dates(ax, result: MonitoringResult):
    """Day-month ticks; dotted lines at model updates, dash-dotted at season launches."""
    import matplotlib.dates as mdates

    ax.xaxis.set_major_formatter(mdates.DateFormatter("%d %b"))
    for r in result.summary.get("model_rollouts", []):
        ax.axvline(pd.Timestamp(r["first_day"]), color="0.6", lw=0.8, ls=":")
    first, last = pd.Timestamp(result.summary["data"]["first_day"]), pd.Timestamp(result.summary["data"]["last_day"])
    for day in pd.date_range(first, last, freq="MS"):
        if day.month in (3, 9):
            ax.axvline(day, color="0.3", lw=0.8, ls="-.")
            ax.text(day, ax.get_ylim()[1], " " + LAUNCH_NOTE, va="top", fontsize=8, color="0.3")


def plot_groups(result: MonitoringResult, metric_id: str, column: str = "segment", groups=None):
    """Weekly expected final value per group with its range, against each group's usual level."""
    import matplotlib.pyplot as plt

    from .profiling import PALETTE

    w = result.weekly[(result.weekly["segment_column"] == column) & (result.weekly["metric_id"] == metric_id)]
    groups = groups or sorted(w["segment"].unique())
    fig, ax = plt.subplots(figsize=(10, 4.4))
    for colour, group in zip(PALETTE, groups):
        g = w[(w["segment"] == group) & (w["period"] == "week")].sort_values("window_start")
        x = g["window_start"] + pd.Timedelta(days=3)
        ax.plot(x, g["estimate"], marker="o", color=colour, label=group, lw=1.8)
        ax.fill_between(x, g["estimate_low"], g["estimate_high"], color=colour, alpha=0.15, lw=0)
        ref = w[(w["segment"] == group) & (w["period"] == "reference")]["estimate"]
        if len(ref):
            ax.axhline(ref.iloc[0], color=colour, lw=0.8, ls="--")
    ax.axvline(pd.Timestamp(result.reference[1]) + pd.Timedelta(hours=12), color="0.3", lw=0.8)
    ax.text(pd.Timestamp(result.reference[1]), ax.get_ylim()[1], " usual period ends", va="top", ha="right",
            fontsize=8, color="0.3")
    _axes_dates(ax, result)
    ax.set(title=f"{METRICS[metric_id]} per week ({SEGMENT_COLUMN_LABELS[column].lower()}); dashed: usual level",
           xlabel="Week", ylabel=METRICS[metric_id])
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)  # outside: it never covers a line or note
    _readable(fig)
    fig.tight_layout()
    return fig


def plot_label_arrival(result: MonitoringResult):
    """Left: how soon outcomes arrive. Right: share of outcomes already in, per week."""
    import matplotlib.pyplot as plt

    from .profiling import PALETTE

    fig, (a1, a2) = plt.subplots(2, 1, figsize=(6, 6.8))  # stacked: drawn about as wide as its card
    names = {"click": "Clicks (hours)", "purchase": "Purchases (days)", "return": "Returns (days after purchase)"}
    for colour, (outcome, g) in zip(PALETTE, result.delay_curves.groupby("outcome", sort=False)):
        a1.plot(g["delay"], g["share_observed"] * 100, color=colour, label=names[outcome])
        a1.fill_between(g["delay"], g["share_low"] * 100, g["share_high"] * 100, color=colour, alpha=0.15, lw=0)
    a1.set(title="How soon outcomes arrive", xlabel="Time after the recommendation (hours or days)",
           ylabel="Final outcomes seen (%)")
    a1.legend(loc="lower right", frameon=False)
    w = result.weekly[(result.weekly["segment_column"] == "all") & (result.weekly["period"] == "week")]
    for colour, metric_id in zip(PALETTE[1:], ("purchases_per_100", "kept_per_100")):
        g = w[w["metric_id"] == metric_id].sort_values("window_start")
        a2.bar(g["window_start"] + pd.Timedelta(days=1 if metric_id == "kept_per_100" else -1),
               g["completeness"] * 100, width=2.5, color=colour, label=METRICS[metric_id])
    _axes_dates(a2, result)
    a2.set(title="Share of outcomes already in, per week", xlabel="Week", ylabel="Already in (%)")
    a2.set_ylim(0, 135)  # room above the bars for the legend
    a2.legend(loc="upper center", ncol=1, frameon=False)
    _readable(fig)
    fig.tight_layout()
    return fig


def plot_group_change(result: MonitoringResult, metric_ids=("ctr", "purchases_per_100"), column: str = "segment"):
    """Per group: usual level and the last weeks (expected final value), each with its plausible
    range, one panel per metric. Groups hit differently stand out at a glance."""
    import matplotlib.pyplot as plt

    from .profiling import PALETTE

    w = result.weekly[(result.weekly["segment_column"] == column) & result.weekly["period"].isin(
        ["reference", "current"])]
    groups = sorted(set(w.loc[w["period"] == "current", "segment"]) & set(w.loc[w["period"] == "reference",
                                                                                 "segment"]))
    fig, axes = plt.subplots(1, len(metric_ids), figsize=(4 * len(metric_ids), 0.55 * len(groups) + 2.2),
                             sharey=True, squeeze=False)
    y = np.arange(len(groups))
    for ax, metric_id in zip(axes[0], metric_ids):
        m = w[w["metric_id"] == metric_id].set_index(["period", "segment"])
        for offset, period, colour, name in ((-0.15, "reference", "0.55", "usual period"),
                                             (0.15, "current", PALETTE[3], "last weeks")):
            g = m.loc[period].reindex(groups)
            lo, hi = g["rate_low"].fillna(g["estimate"]), g["rate_high"].fillna(g["estimate"])
            err = [np.maximum(g["estimate"] - lo, 0), np.maximum(hi - g["estimate"], 0)]
            ax.errorbar(g["estimate"], y + offset, xerr=err, fmt="o",
                        color=colour, capsize=3, label=name)
        ax.set_yticks(y, groups)
        ax.set(title=textwrap.fill(METRICS[metric_id], 30), xlabel="with its plausible range")
        ax.set_xlim(left=0)
    axes[0][0].invert_yaxis()
    fig.suptitle(f"Usual period ({_fmt_date(result.reference[0])} to {_fmt_date(result.reference[1])}) against "
                 f"{_fmt_date(result.current[0])} to {_fmt_date(result.current[1])}", fontsize=11, x=0.02, ha="left")
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="upper left", bbox_to_anchor=(0.01, 0.94), ncol=2, frameon=False)
    _readable(fig)
    fig.tight_layout(rect=(0, 0, 1, 0.86))
    return fig


def plot_decomposition(result: MonitoringResult, metric_id: str = "purchases_per_100", column: str = "segment"):
    """Change of the headline number split into customer mix and change within each group."""
    import matplotlib.pyplot as plt

    from .profiling import PALETTE

    d = result.decomposition
    d = d[(d["segment_column"] == column) & (d["metric_id"] == metric_id)].set_index("segment")
    order = [s for s in d.index if s != ALL] + [ALL]
    d = d.loc[order]
    fig, ax = plt.subplots(figsize=(6, 0.5 * len(d) + 2.2))  # drawn about as wide as its card
    y = np.arange(len(d))
    ax.barh(y - 0.2, d["mix_effect"], height=0.4, color=PALETTE[0], label="Change from customer mix")
    ax.barh(y + 0.2, d["within_effect"], height=0.4, color=PALETTE[3], label="Change within customer groups")
    ax.axvline(0, color="0.3", lw=0.8)
    ax.set_yticks(y, [s if s != ALL else "All customers (total)" for s in d.index])
    ax.invert_yaxis()
    ax.set(title=textwrap.fill(f"Why {METRICS[metric_id].lower()} changed", 40),
           xlabel=f"Contribution to the change, last {len(pd.date_range(*result.current, freq='W-MON'))} weeks\n"
                  f"against the usual period")
    ax.legend(loc="best", framealpha=0.9)
    _readable(fig)
    fig.tight_layout()
    return fig
