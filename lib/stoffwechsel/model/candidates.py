"""Candidate generation: at a time t, for each customer, products from simple, fast sources, all
built from what was known before t: the globally popular products on sale, the popular ones in
the customer's two favourite categories, the products closest to the customer's taste
(embeddings), and what the customer recently viewed or wishlisted. Products the customer
already bought are left out. Both feature sets rank the same candidates, so the comparison
isolates the features. Labels: a candidate is positive if the customer bought it within
``horizon_weeks`` after t (returns do not make a purchase negative: docs/evaluation.md).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from stoffwechsel.features import feature_repo, tabular
from stoffwechsel.features.store import FeatureStore

SOURCES = ("popular", "category popular", "similar taste", "recently viewed")


@dataclass
class Stores:
    tabular: FeatureStore
    embedding: FeatureStore

    @property
    def all(self) -> list[FeatureStore]:
        return [self.tabular, self.embedding]


def on_sale(stores: Stores, t: pd.Timestamp) -> pd.DataFrame:
    """Product versions on sale at t with their catalogue data and popularity as known at t."""
    cat = stores.tabular.read("product_catalog")
    live = cat[(cat["sale_start"] <= t) & (cat["sale_end"] >= t.normalize())][["product_key", "category"]].reset_index(
        drop=True
    )
    spine = live.assign(event_timestamp=t)
    pop = stores.tabular.get_historical_features(
        spine, ["product_activity:product_purchases_recent", "product_activity:product_views_recent"]
    )
    live["popularity"] = pop["product_purchases_recent"].fillna(0).astype(float) + 0.01 * pop[
        "product_views_recent"
    ].fillna(0).astype(float)
    return live.sort_values(["popularity", "product_key"], ascending=[False, True]).reset_index(drop=True)


def generate_candidates(
    stores: Stores, events: pd.DataFrame, customers: pd.Index, t: pd.Timestamp, per_source: int, recent_weeks: int = 4
) -> pd.DataFrame:
    """(customer_id, product_key, source) candidates at t, deduplicated (first source kept)."""
    live = on_sale(stores, t)
    customers = pd.Index(customers, name="customer_id")
    parts = []
    top = live.head(per_source)["product_key"].to_numpy()
    parts.append(
        pd.DataFrame(
            {
                "customer_id": np.repeat(customers.to_numpy(), len(top)),
                "product_key": np.tile(top, len(customers)),
                "source": "popular",
            }
        )
    )

    spine = pd.DataFrame({"customer_id": customers.to_numpy(), "event_timestamp": t})
    vocab = tabular.vocabulary_of(stores.tabular)
    categories = [c for c in vocab.categories if c != feature_repo.OTHER]  # "other" pools many categories: no favourite
    if categories:
        aff_cols = [f"affinity_{c}" for c in categories]
        prof = stores.tabular.get_historical_features(spine, [f"customer_activity:{c}" for c in aff_cols])
        aff = prof[aff_cols].astype(float).fillna(0).to_numpy()
        fav = np.argsort(-aff, axis=1, kind="stable")[:, :2]
        column = feature_repo.category_column(live["category"].astype(object), vocab)
        ranked = live.assign(category=column, r=live.assign(c=column).groupby("c", dropna=False).cumcount())
        ranked = ranked[ranked["r"] < per_source // 2]
        for j in range(min(2, len(categories))):
            fav_cat = pd.DataFrame(
                {
                    "customer_id": customers.to_numpy(),
                    "category": np.array(categories)[fav[:, j]],
                    "has": aff[np.arange(len(aff)), fav[:, j]] > 0,
                }
            )
            merged = fav_cat[fav_cat["has"]].merge(ranked[["category", "product_key"]], on="category")
            parts.append(merged[["customer_id", "product_key"]].assign(source="category popular"))

    taste = stores.embedding.get_historical_features(spine, ["customer_taste:taste_all"])
    known = taste["taste_all"].notna().to_numpy()
    if known.any():
        emb = (
            stores.embedding.read("product_embedding")
            .set_index("product_key")
            .loc[live["product_key"], "embedding_reduced"]
        )
        # float64 products of the embeddings' grid values are exact: the ranking is the same on every machine
        P = np.stack(emb.to_numpy()).astype(np.float64)
        C = np.stack(taste.loc[known, "taste_all"].to_numpy()).astype(np.float64)
        sims = C @ P.T
        n = min(per_source, P.shape[0])
        best = np.argsort(-sims, axis=1, kind="stable")[:, :n]
        parts.append(
            pd.DataFrame(
                {
                    "customer_id": np.repeat(customers.to_numpy()[known], n),
                    "product_key": live["product_key"].to_numpy()[best.ravel()],
                    "source": "similar taste",
                }
            )
        )

    window = events[
        (events["event_time"] < t)
        & (events["event_time"] >= t - pd.Timedelta(weeks=recent_weeks))
        & events["event_type"].isin(["browse", "wishlist"])
        & events["customer_id"].isin(customers)
    ]
    recent = window[window["product_key"].isin(live["product_key"])][["customer_id", "product_key"]].drop_duplicates()
    parts.append(recent.assign(source="recently viewed"))

    cands = pd.concat(parts, ignore_index=True).drop_duplicates(["customer_id", "product_key"], keep="first")
    bought = events[(events["event_time"] < t) & (events["event_type"] == "purchase")][
        ["customer_id", "product_key"]
    ].drop_duplicates()
    cands = cands.merge(bought.assign(_b=1), on=["customer_id", "product_key"], how="left")
    cands = cands[cands["_b"].isna()].drop(columns="_b")
    return cands.assign(event_timestamp=t).sort_values(["customer_id", "product_key"]).reset_index(drop=True)


def label_purchases(cands: pd.DataFrame, events: pd.DataFrame, t: pd.Timestamp, horizon: pd.Timedelta) -> pd.Series:
    """1 where the customer bought the candidate in [t, t + horizon)."""
    window = events[
        (events["event_type"] == "purchase") & (events["event_time"] >= t) & (events["event_time"] < t + horizon)
    ]
    pos = window[["customer_id", "product_key"]].drop_duplicates().assign(label=1)
    return cands.merge(pos, on=["customer_id", "product_key"], how="left")["label"].fillna(0).astype(int).to_numpy()


def active_customers(events: pd.DataFrame, t: pd.Timestamp, lookback_weeks: int) -> pd.Index:
    recent = events[(events["event_time"] < t) & (events["event_time"] >= t - pd.Timedelta(weeks=lookback_weeks))]
    return pd.Index(sorted(recent["customer_id"].unique()), name="customer_id")
