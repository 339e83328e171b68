"""The analyst's first look at the client's materials: key figures and plots.

Everything here works on a validated :class:`stoffwechsel.data.contract.Materials`. The figures go to
``reports/profile/profile.json`` (a DVC metrics file); the plots are for the profiling notebook.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from stoffwechsel.data.contract import Materials

# Colour-blind safe palette (Okabe-Ito), used by every plot in the package.
PALETTE = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000"]
EVENT_ORDER = ["browse", "wishlist", "purchase", "return"]


def _day(ts: pd.Timestamp) -> str | None:
    """A day as YYYY-MM-DD; None where there is none (an empty file)."""
    return None if pd.isna(ts) else ts.strftime("%Y-%m-%d")


def version_overlaps(products: pd.DataFrame) -> pd.DataFrame:
    """Pairs of versions of the same product_id whose sale windows overlap in time."""
    p = products[["product_id", "season", "sale_start", "sale_end"]]
    pairs = p.merge(p, on="product_id", suffixes=("_a", "_b"))
    pairs = pairs[pairs["season_a"] < pairs["season_b"]]
    overlap = (pairs["sale_start_a"] <= pairs["sale_end_b"]) & (pairs["sale_start_b"] <= pairs["sale_end_a"])
    return pairs[overlap].reset_index(drop=True)


def ambiguous_events(m: Materials) -> pd.DataFrame:
    """Transactions without season whose date lies in the sale windows of two or more versions
    of their product_id: the rows that the composite-key rule has to decide."""
    tx = m.transactions[m.transactions["season"] == ""][["event_id", "product_id", "event_time"]]
    windows = m.products[["product_id", "season", "sale_start", "sale_end"]]
    joined = tx.merge(windows, on="product_id")
    day = joined["event_time"].dt.normalize()
    inside = joined[(day >= joined["sale_start"]) & (day <= joined["sale_end"])]
    n_versions = inside.groupby("event_id").size()
    return tx[tx["event_id"].isin(n_versions[n_versions >= 2].index)]


def label_delays(recs: pd.DataFrame) -> pd.DataFrame:
    """Observed delays of clicks (hours), purchases and returns (days) in the production file."""
    hours = (recs["clicked_at"] - recs["served_at"]).dt.total_seconds() / 3600
    purchase_days = (recs["purchased_at"] - recs["served_at"]).dt.total_seconds() / 86400
    return_days = (recs["returned_at"] - recs["purchased_at"]).dt.total_seconds() / 86400
    return pd.DataFrame(
        {
            "outcome": ["click (hours after shown)", "purchase (days after shown)", "return (days after purchase)"],
            "observed": [hours.notna().sum(), purchase_days.notna().sum(), return_days.notna().sum()],
            "median": [hours.median(), purchase_days.median(), return_days.median()],
            "p90": [hours.quantile(0.9), purchase_days.quantile(0.9), return_days.quantile(0.9)],
            "max": [hours.max(), purchase_days.max(), return_days.max()],
        }
    )


def outcome_status(recs: pd.DataFrame) -> pd.DataFrame:
    """Counts of yes / no / pending per outcome: how much is still not known at export."""
    cols = {"click": "click_status", "purchase": "purchase_status", "return": "return_status"}
    table = pd.DataFrame({k: recs[c].value_counts() for k, c in cols.items()}).fillna(0).astype(int)
    return table.reindex(["yes", "no", "pending", "not_purchased"]).fillna(0).astype(int)


def calendar_table(calendar) -> pd.DataFrame:
    """The pipeline's calendar (:mod:`stoffwechsel.data.timeline`) for people: date, what it means,
    where it comes from."""
    d = calendar.as_dict()
    return pd.DataFrame(
        [
            {"date": d["data"]["first_event"][:10], "what": "first event in the data", "from": "the data"},
            {"date": d["train_start"], "what": "first training moment", "from": d["train_start_source"]},
            {
                "date": d["cutoff"],
                "what": "cutoff: training sees only what happened before it",
                "from": d["cutoff_source"],
            },
            {
                "date": d["test_end"],
                "what": f"end of the test window ({d['test_weeks']:g} weeks)",
                "from": d["cutoff_source"],
            },
            {"date": d["data"]["last_event"][:10], "what": "last event in the data", "from": "the data"},
        ]
    )


def key_figures(m: Materials) -> dict:
    """The machine-readable summary written to ``profile.json`` (plain types, deterministic)."""
    tx, recs, products, customers = m.transactions, m.recommendations, m.products, m.customers
    seasons_per_id = products.groupby("product_id")["season"].nunique()
    recycled = seasons_per_id[seasons_per_id > 1]
    overlaps = version_overlaps(products)
    missing_season = tx["season"] == ""
    status = outcome_status(recs)
    quarantine = m.quarantine
    return {
        # cascaded: quarantined only because a row they refer to was (counted in "quarantined")
        "rows": {name: {**counts, "cascaded": m.cascaded.get(name, 0)} for name, counts in sorted(m.counts.items())},
        "transactions": {
            "first_event": _day(tx["event_time"].min()),
            "last_event": _day(tx["event_time"].max()),
            "event_mix": {e: int((tx["event_type"] == e).sum()) for e in EVENT_ORDER},
            "season_missing": int(missing_season.sum()),
            "season_missing_share": round(float(missing_season.mean()), 4),
            "season_missing_in_overlap": int(len(ambiguous_events(m))),
        },
        "products": {
            "versions": int(len(products)),
            "seasons": {s: int(n) for s, n in products["season"].value_counts().sort_index().items()},
            "unique_ids": int(seasons_per_id.size),
            "recycled_ids": int(recycled.size),
            "recycled_id_share": round(float(recycled.size / seasons_per_id.size), 4),
            "overlapping_version_pairs": int(len(overlaps)),
        },
        "customers": {
            "count": int(len(customers)),
            "segments": {s: int(n) for s, n in customers["segment"].value_counts().sort_index().items()},
        },
        "production_recommendations": {
            "first_served": _day(recs["served_at"].min()),
            "last_served": _day(recs["served_at"].max()),
            "export_time": recs["export_time"].iloc[0].isoformat() if len(recs) else None,
            "status": {outcome: {k: int(v) for k, v in status[outcome].items()} for outcome in status.columns},
            "purchase_pending_share": round(float((recs["purchase_status"] == "pending").mean()), 4)
            if len(recs)
            else None,
        },
        "quarantine": {
            "rows": int(quarantine[["file", "row"]].drop_duplicates().shape[0]),
            "problems": int(len(quarantine)),
        },
    }


# --- plots -------------------------------------------------------------------------------------


def plot_event_mix(tx: pd.DataFrame):
    """Events per month by type: the shop's activity over two years."""
    monthly = (
        tx.assign(month=tx["event_time"].dt.to_period("M").dt.to_timestamp())
        .pivot_table(index="month", columns="event_type", values="event_id", aggfunc="count", fill_value=0)
        .reindex(columns=EVENT_ORDER, fill_value=0)
    )
    fig, ax = plt.subplots(figsize=(9, 3.5))
    monthly.plot.area(ax=ax, color=PALETTE[:4], linewidth=0)
    ax.set(title="Shop activity per month", xlabel="Month", ylabel="Events")
    ax.legend(title="Event", labels=["Browsed", "Wishlisted", "Bought", "Returned"], loc="upper left")
    fig.tight_layout()
    return fig


def plot_seasons(products: pd.DataFrame):
    """Product versions per season, split into first-time and recycled IDs."""
    first_season = products.groupby("product_id")["season"].transform("min")
    kind = np.where(products["season"] == first_season, "new ID", "recycled ID")
    counts = products.assign(kind=kind).pivot_table(
        index="season", columns="kind", values="product_id", aggfunc="count", fill_value=0
    )
    order = sorted(counts.index, key=lambda s: (s[2:], s[:2] == "AW"))
    fig, ax = plt.subplots(figsize=(7, 3.2))
    counts.loc[order].plot.bar(ax=ax, stacked=True, color=PALETTE[:2], rot=0)
    ax.set(title="Products per season: how many reuse an older product ID", xlabel="Season", ylabel="Products")
    fig.tight_layout()
    return fig


def plot_label_delays(recs: pd.DataFrame):
    """How long purchases and returns take to arrive after a recommendation was shown."""
    purchase_days = ((recs["purchased_at"] - recs["served_at"]).dt.total_seconds() / 86400).dropna()
    return_days = ((recs["returned_at"] - recs["purchased_at"]).dt.total_seconds() / 86400).dropna()
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.2))
    axes[0].hist(purchase_days, bins=np.arange(0, 15, 1), color=PALETTE[0])
    axes[0].set(title="Purchases arrive days after the recommendation", xlabel="Days after shown", ylabel="Purchases")
    axes[1].hist(return_days, bins=np.arange(0, 31, 2), color=PALETTE[3])
    axes[1].set(title="Returns arrive later still", xlabel="Days after purchase", ylabel="Returns")
    fig.tight_layout()
    return fig


def plot_pending_by_week(recs: pd.DataFrame):
    """Share of recommendations per week whose purchase outcome is still unknown at export."""
    week = recs["served_at"].dt.to_period("W-SUN").dt.start_time
    share = (recs["purchase_status"] == "pending").groupby(week).mean() * 100
    fig, ax = plt.subplots(figsize=(8, 3))
    ax.bar(share.index, share.values, width=5, color=PALETTE[1])
    ax.set(title="Recent weeks: purchases not yet known", xlabel="Week shown", ylabel="% still open")
    fig.tight_layout()
    return fig


def plot_segments(customers: pd.DataFrame):
    """Customers per marketing segment and age band."""
    table = pd.crosstab(customers["segment"], customers["age_band"])
    fig, ax = plt.subplots(figsize=(8, 3.2))
    table.plot.barh(ax=ax, stacked=True, color=PALETTE[: table.shape[1]])
    ax.set(title="Customers by segment and age band", xlabel="Customers", ylabel="")
    ax.legend(title="Age band", loc="lower right")
    fig.tight_layout()
    return fig
