"""Preparation: one row per recommendation with everything the windows need.

:func:`prepare` joins the recommendations with their customers (group columns, new or returning)
and product versions (category, price, certification, season, reused product number), derives
the outcome flags and ages at the export from the attribution windows, and fixes the usual
(reference) and current periods. The customer groupings and their fixed labels live here.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from stoffwechsel.domain import WINDOWS_S
from stoffwechsel.monitoring.params import MonitorParams
from stoffwechsel.privacy import withhold_ids

__all__ = [
    "ALL",
    "CUSTOMER_GROUPINGS",
    "GROUPINGS",
    "NEW",
    "RETURNING",
    "OTHER_GROUPS",
    "Prepared",
    "prepare",
    "season_key",
    "current_season_key",
]

ALL = "All customers"
#: the customers.csv columns a marketer segments by: each one is a grouping
CUSTOMER_GROUPINGS = ("segment", "age_band", "region", "preferred_channel", "loyalty_tier", "sustainability_interest")
#: the customer groupings, each a column of the prepared recommendations ("all": everyone)
GROUPINGS = ("all", *CUSTOMER_GROUPINGS, "customer_type", "segment_x_age_band")
NEW, RETURNING = "New customers", "Returning customers"
OTHER_GROUPS = "Other groups (each too small to show)"


@dataclass
class Prepared:
    recs: pd.DataFrame
    export_time: pd.Timestamp
    first_day: pd.Timestamp  # Monday of the first week
    n_days: int
    reference: tuple[pd.Timestamp, pd.Timestamp]
    current: tuple[pd.Timestamp, pd.Timestamp]
    score_edges: np.ndarray
    categories: list[str]
    certifications: list[str]
    rollouts: list[tuple[str, pd.Timestamp]]
    cert_matrix: np.ndarray  # product version row x certification label (1 = carries it)


def season_key(season: pd.Series, sale_start: pd.Series | None = None) -> np.ndarray:
    """SS24 -> 48, AW24 -> 49, SS25 -> 50 ... (time order). A season outside the SS/AW + two
    digits convention (the contract accepts it as a finding) gets the key of the season on sale
    at the version's ``sale_start`` (without it: -1)."""
    season = season.astype(str).reset_index(drop=True)
    conventional = season.str.fullmatch(r"(SS|AW)[0-9]{2}").fillna(False).to_numpy()
    year = pd.to_numeric(season.str[2:4].where(conventional), errors="coerce").fillna(0).to_numpy(np.int64)
    key = year * 2 + (season.str[:2] == "AW").to_numpy().astype(int)
    if conventional.all():
        return key
    fallback = (
        current_season_key(pd.Series(pd.to_datetime(sale_start).to_numpy()))
        if sale_start is not None
        else np.full(len(season), -1)
    )
    return np.where(conventional, key, fallback)


def current_season_key(ts: pd.Series) -> np.ndarray:
    """Key (as :func:`season_key`) of the season on sale at a time: SS = March-August,
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
    r = recs[
        ["rec_id", "served_at", "customer_id", "score", "model_version", "clicked_at", "purchased_at", "returned_at"]
    ].copy()
    # customers and product versions by position (no string merges over millions of rows)
    cust = materials.customers.reset_index(drop=True)
    ci = pd.Index(cust["customer_id"]).get_indexer(recs["customer_id"])
    prod = materials.products.reset_index(drop=True)
    pi = pd.MultiIndex.from_frame(prod[["product_id", "season"]]).get_indexer(
        pd.MultiIndex.from_frame(recs[["product_id", "season"]])
    )
    if (ci < 0).any() or (pi < 0).any():
        raise ValueError("recommendations point at customers or product versions that are not in the materials")
    # a customer id typed into a customer's attribute (region, age band, ...) never becomes a shown label
    cust = cust.assign(**{col: withhold_ids(cust[col].astype(str), cust["customer_id"]) for col in CUSTOMER_GROUPINGS})
    for col in CUSTOMER_GROUPINGS:
        r[col] = _categorical(cust[col].to_numpy(), ci)
    r["segment_x_age_band"] = _categorical((cust["segment"] + ", " + cust["age_band"]).to_numpy(), ci)
    signup = cust["signup_date"].to_numpy()[ci]
    new = (r["served_at"].to_numpy() - signup) < np.timedelta64(params.new_customer_days, "D")
    r["customer_type"] = pd.Categorical.from_codes(np.where(new, 0, 1), categories=[NEW, RETURNING])
    r["all"] = pd.Categorical.from_codes(np.zeros(len(r), dtype=np.int64), categories=[ALL])
    key = season_key(prod["season"], prod["sale_start"] if "sale_start" in prod else None)
    reused = key > pd.Series(key).groupby(prod["product_id"].to_numpy()).transform("min").to_numpy()
    r["product_row"] = pi
    r["category"] = _categorical(prod["category"].to_numpy(), pi)
    r["price_eur"] = prod["price_eur"].to_numpy(float)[pi]
    r["certified"] = (prod["certifications"] != "").to_numpy()[pi]
    r["reused"] = reused[pi]
    r["new_season"] = key[pi] == current_season_key(r["served_at"])
    r = r.sort_values(["served_at", "rec_id"], kind="mergesort").reset_index(drop=True)

    r["day"] = r["served_at"].dt.normalize()
    # Outcome flags from the timestamps and the windows (the statuses say the same; see cut_at_export)
    for outcome, stamp in (("click", "clicked_at"), ("purchase", "purchased_at")):
        r[f"{outcome}_seen"] = r[stamp].notna() & (r[stamp] <= export)
        r[f"{outcome}_open"] = r["served_at"] + pd.Timedelta(seconds=WINDOWS_S[outcome]) > export
        r[f"{outcome}_age"] = (export - r["served_at"]).dt.total_seconds()
    r["return_seen"] = r["purchase_seen"] & r["returned_at"].notna() & (r["returned_at"] <= export)
    r["return_open"] = r["purchase_seen"] & (r["purchased_at"] + pd.Timedelta(seconds=WINDOWS_S["return"]) > export)
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
    rollouts = [
        (withhold_ids(pd.Series([str(v)]), cust["customer_id"]).iloc[0], t.normalize())
        for v, t in firsts.iloc[1:].items()
    ]
    return Prepared(
        r,
        export,
        first_day,
        n_days,
        (first_day, ref_end),
        (cur_start, last_day),
        score_edges,
        categories,
        certs,
        rollouts,
        labels[certs].to_numpy(float),
    )
