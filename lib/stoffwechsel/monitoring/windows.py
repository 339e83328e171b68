"""Windows: recommendations aggregated once into (group, day) cells; any window is a sparse sum of cells.

:func:`aggregate` builds, per grouping, the additive sums (:data:`SUMS`), the delay histograms
(interpolation weights of each recommendation's age on its delay curve's grid) and the drift
counts of every window (days, Monday-Sunday weeks, "since week w", the reference and current
periods, the whole file) x group. :func:`shown_groups` decides which rows the outputs may show.
Python loops run over groupings and windows, never over recommendations.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import sparse

from stoffwechsel.domain import WINDOWS_S
from stoffwechsel.monitoring.delays import GRIDS_S, DelayCurve
from stoffwechsel.monitoring.params import MonitorParams
from stoffwechsel.monitoring.prepare import ALL, GROUPINGS, Prepared
from stoffwechsel.privacy import complement_safe, group_relations

__all__ = ["SUMS", "Windows", "aggregate", "shown_groups"]

SUMS = (
    "n",
    "click_x",
    "click_cn",
    "click_cx",
    "purchase_x",
    "purchase_cn",
    "purchase_cx",
    "return_x",
    "return_pn",
    "kept_cn",
    "kept_cx",
    "revenue_x",
    "revenue_sq_x",
    "revenue_cx",
    "price_all",
    "price_pending",
    "pending_w",
    "certified",
    "new_season",
    "reused",
    "kept_fn",
    "kept_fx",
)


def _rec_sums(prep: Prepared, curves: dict[str, DelayCurve]) -> dict[str, np.ndarray]:
    """Per recommendation the additive quantities (``SUMS``)."""
    r = prep.recs
    b = {
        c: r[c].to_numpy(dtype=bool)
        for c in (
            "click_seen",
            "click_open",
            "purchase_seen",
            "purchase_open",
            "return_seen",
            "return_open",
            "certified",
            "new_season",
            "reused",
        )
    }
    price = r["price_eur"].to_numpy(float)
    f_purchase = np.where(b["purchase_open"], curves["purchase"].cdf(r["purchase_age"].to_numpy(float)), 1.0)
    kept_matured = ~b["purchase_open"] & ~(b["purchase_seen"] & b["return_open"])
    # fully matured by age alone (purchase and return windows closed whatever happened): no selection
    # by the outcome, so the change-point scan of purchases kept can compare these without bias
    full = r["purchase_age"].to_numpy(float) >= WINDOWS_S["purchase"] + WINDOWS_S["return"]
    cols = {
        "n": None,
        "click_x": b["click_seen"],
        "click_cn": ~b["click_open"],
        "click_cx": b["click_seen"] & ~b["click_open"],
        "purchase_x": b["purchase_seen"],
        "purchase_cn": ~b["purchase_open"],
        "purchase_cx": b["purchase_seen"] & ~b["purchase_open"],
        "return_x": b["return_seen"],
        "return_pn": b["purchase_seen"],
        "kept_cn": kept_matured,
        "kept_cx": kept_matured & b["purchase_seen"] & ~b["return_seen"],
        "revenue_x": price * b["purchase_seen"],
        "revenue_sq_x": price**2 * b["purchase_seen"],
        "revenue_cx": price * (b["purchase_seen"] & ~b["purchase_open"]),
        "price_all": price,
        "price_pending": price * (1 - f_purchase),
        "pending_w": 1 - f_purchase,
        "certified": b["certified"],
        "new_season": b["new_season"],
        "reused": b["reused"],
        "kept_fn": full,
        "kept_fx": full & b["purchase_seen"] & ~b["return_seen"],
    }
    return {c: (None if cols[c] is None else np.asarray(cols[c], dtype=float)) for c in SUMS}


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
        "score": (
            np.searchsorted(prep.score_edges, r["score"].to_numpy(float), side="right"),
            [f"score bin {i + 1}" for i in range(len(prep.score_edges) + 1)],
        ),
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

    frame: pd.DataFrame  # period, window_start, window_end, segment_column, segment, customers
    sums: np.ndarray  # rows x len(SUMS)
    hist: dict[str, np.ndarray]  # outcome -> rows x (G+2) interpolation weights
    drift: dict[str, np.ndarray]  # feature -> rows x values
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
    defs.append(
        pd.DataFrame({"period": ["reference", "current", "file"], "a": [0, cur_start, 0], "b": [ref_end, last, last]})
    )
    out = pd.concat(defs, ignore_index=True)
    out["window_start"] = start + pd.to_timedelta(out["a"], unit="D")
    out["window_end"] = start + pd.to_timedelta(out["b"], unit="D")
    return out


def aggregate(
    prep: Prepared, curves: dict[str, DelayCurve], kinds=("day", "week", "since"), groupings=GROUPINGS
) -> Windows:
    """Every window of ``kinds`` (plus reference, current and file) x group of ``groupings``
    with its sums, delay histograms and drift counts; rows without recommendations are dropped."""
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
        "purchase": _interp_columns(
            r["purchase_age"].to_numpy(float), r["purchase_open"].to_numpy(bool), GRIDS_S["purchase"]
        ),
        "return": _interp_columns(r["return_age"].to_numpy(float), r["return_open"].to_numpy(bool), GRIDS_S["return"]),
    }
    # return exposure: all seen purchases ("return"), and those not returned yet ("return_kept")
    hist_weight = {
        "return": r["purchase_seen"].to_numpy(float),
        "return_kept": (r["purchase_seen"] & ~r["return_seen"]).to_numpy(float),
    }
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
        cell_sums = np.column_stack([_cell_sum(cell, n_cells, rec_sums[c]) for c in SUMS])
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
    return Windows(
        frame,
        np.vstack(sums),
        {k: np.vstack(v) for k, v in hists.items()},
        {k: np.vstack(v) for k, v in drifts.items()},
        {k: v[1] for k, v in dcodes.items()},
    )


def _distinct_customers(
    customer: np.ndarray, unit: np.ndarray, day: np.ndarray, defs: pd.DataFrame, n_units: int
) -> np.ndarray:
    """Distinct customers per (window, unit), in the row order of :func:`aggregate`."""
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


def shown_groups(win: Windows, prep: Prepared, params: MonitorParams) -> np.ndarray:
    """Which window x group rows the outputs may show: at least ``min_customers`` customers, and
    no hidden group recoverable by subtraction from the shown ones (:func:`privacy.complement_safe`:
    the groupings add up to all customers, segment x age band adds up to each segment and each age
    band)."""
    f = win.frame
    cust = prep.recs.drop_duplicates("segment_x_age_band")
    parts = dict(
        zip(cust["segment_x_age_band"].astype(str), zip(cust["segment"].astype(str), cust["age_band"].astype(str)))
    )
    relations = group_relations(
        f[["segment_column", "segment"]], ("all", ALL), "segment_x_age_band", parts, overlapping=("customer_type",)
    )
    return complement_safe(f, params.min_customers, relations, protected=[("all", ALL)])
