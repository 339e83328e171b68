"""Candidate generation: at a time t, for each customer, products from simple, fast sources, all
built from what was known before t (:data:`SOURCES`, each a function of its own):

- ``popular``: the most bought products on sale;
- ``category popular``: the popular ones in the customer's two favourite categories;
- ``similar taste``: the products closest to the customer's taste (embeddings);
- ``recently viewed``: what the customer viewed or wishlisted in the last weeks, newest first;
- ``bought before``: the customer's own purchases, newest first (only where repeat purchases
  are allowed: :func:`choose_repeat_rule`);
- ``bought together``: products bought by the customers who bought what this customer bought
  (item-to-item co-purchase counted from the purchases before t only).

A product bought in an earlier season is "the same product" as a version on sale now when it
keeps its id *and* its category (:func:`product_identity`): a recycled id names a new product,
which in the committed materials always has another category; in an invoice export the stock
code and its category stay. The sources are merged round-robin (each source's best, then each
source's second, ...) into at most ``candidate_budget`` products per customer. Where repeat
purchases are not allowed, the versions the customer already bought are left out of every source.

Both feature sets rank the same candidates, so the comparison isolates the features. Every
candidate carries its :data:`CANDIDATE_FEATURES` (times bought before, days since, co-purchase
strength), which both rankers read. Labels: a candidate is positive if the customer bought it
within ``horizon_weeks`` after t (returns do not make a purchase negative: docs/evaluation.md).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from stoffwechsel.features import feature_repo, tabular
from stoffwechsel.features.store import FeatureStore

#: the candidate sources in merge order (a product proposed by several keeps the first)
SOURCES = ("popular", "category popular", "similar taste", "recently viewed", "bought before", "bought together")

#: the train param ``repeat_purchases``: "no" leaves out what the customer bought, "yes" proposes
#: it too, "auto" chooses on the validation window (:func:`choose_repeat_rule`)
REPEAT_RULES = ("no", "yes", "auto")

#: columns every candidate carries from its generation (point-in-time: purchases before t only),
#: read by both rankers; 0 where the customer never bought the product or nothing was co-bought
CANDIDATE_FEATURES = ("times_bought_before", "days_since_bought", "co_purchase_strength")


@dataclass(frozen=True)
class CandidateSettings:
    """How many candidates each source proposes, the budget per customer after the merge, whether
    bought products may be proposed again, and the windows of the recency sources."""

    per_source: int = 20
    budget: int = 100
    repeats: bool = False
    recent_weeks: int = 4
    co_purchase_weeks: int = 26

    @classmethod
    def from_params(cls, params: dict, repeats: bool | None = None) -> CandidateSettings:
        rule = str(params.get("repeat_purchases", "no"))
        if repeats is None:
            if rule == "auto":
                raise ValueError("repeat_purchases is 'auto': choose the rule first (candidates.choose_repeat_rule)")
            repeats = rule == "yes"
        return cls(
            per_source=int(params["candidates_per_source"]),
            budget=int(params.get("candidate_budget", 100)),
            repeats=bool(repeats),
            co_purchase_weeks=int(params.get("co_purchase_weeks", 26)),
        )


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


def product_identity(catalog: pd.DataFrame) -> pd.Series:
    """product_key -> the product it is a version of: ``product_id`` and ``category`` (a recycled
    id with another category is another product)."""
    ident = catalog["product_id"].astype(str) + "\x1f" + catalog["category"].astype(object).fillna("").astype(str)
    return pd.Series(ident.to_numpy(), index=catalog["product_key"].to_numpy(), name="identity")


def _ranked(frame: pd.DataFrame, source: str) -> pd.DataFrame:
    """A source's (customer_id, product_key) rows in its own order, with their rank per customer."""
    frame = frame[["customer_id", "product_key"]].reset_index(drop=True)
    return frame.assign(source=source, rank=frame.groupby("customer_id").cumcount())


def popular_source(live: pd.DataFrame, customers: pd.Index, n: int) -> pd.DataFrame:
    top = live.head(n)["product_key"].to_numpy()
    frame = pd.DataFrame(
        {"customer_id": np.repeat(customers.to_numpy(), len(top)), "product_key": np.tile(top, len(customers))}
    )
    return _ranked(frame, "popular")


def category_popular_source(stores: Stores, live: pd.DataFrame, spine: pd.DataFrame, n: int) -> pd.DataFrame:
    """The ``n // 2`` most popular products in each of the customer's two favourite categories."""
    vocab = tabular.vocabulary_of(stores.tabular)
    categories = [c for c in vocab.categories if c != feature_repo.OTHER]  # "other" pools many categories: no favourite
    if not categories:
        return _ranked(pd.DataFrame(columns=["customer_id", "product_key"]), "category popular")
    aff_cols = [f"affinity_{c}" for c in categories]
    prof = stores.tabular.get_historical_features(spine, [f"customer_activity:{c}" for c in aff_cols])
    aff = prof[aff_cols].astype(float).fillna(0).to_numpy()
    fav = np.argsort(-aff, axis=1, kind="stable")[:, :2]
    column = feature_repo.category_column(live["category"].astype(object), vocab)
    ranked = live.assign(category=column, r=live.assign(c=column).groupby("c", dropna=False).cumcount())
    ranked = ranked[ranked["r"] < n // 2]
    parts = []
    for j in range(min(2, len(categories))):
        fav_cat = pd.DataFrame(
            {
                "customer_id": spine["customer_id"].to_numpy(),
                "category": np.array(categories)[fav[:, j]],
                "has": aff[np.arange(len(aff)), fav[:, j]] > 0,
                "j": j,
            }
        )
        parts.append(fav_cat[fav_cat["has"]].merge(ranked[["category", "product_key", "r"]], on="category"))
    merged = pd.concat(parts, ignore_index=True).sort_values(["customer_id", "r", "j"], kind="mergesort")
    return _ranked(merged, "category popular")


def similar_taste_source(stores: Stores, live: pd.DataFrame, spine: pd.DataFrame, n: int) -> pd.DataFrame:
    taste = stores.embedding.get_historical_features(spine, ["customer_taste:taste_all"])
    known = taste["taste_all"].notna().to_numpy()
    if not known.any() or live.empty:
        return _ranked(pd.DataFrame(columns=["customer_id", "product_key"]), "similar taste")
    emb = (
        stores.embedding.read("product_embedding")
        .set_index("product_key")
        .loc[live["product_key"], "embedding_reduced"]
    )
    # float64 products of the embeddings' grid values are exact: the ranking is the same on every machine
    P = np.stack(emb.to_numpy()).astype(np.float64)
    C = np.stack(taste.loc[known, "taste_all"].to_numpy()).astype(np.float64)
    sims = C @ P.T
    n = min(n, P.shape[0])
    best = np.argsort(-sims, axis=1, kind="stable")[:, :n]
    frame = pd.DataFrame(
        {
            "customer_id": np.repeat(spine["customer_id"].to_numpy()[known], n),
            "product_key": live["product_key"].to_numpy()[best.ravel()],
        }
    )
    return _ranked(frame, "similar taste")


def recently_viewed_source(
    events: pd.DataFrame, live: pd.DataFrame, customers: pd.Index, t: pd.Timestamp, weeks: int, n: int
) -> pd.DataFrame:
    """What the customer browsed or wishlisted in the last ``weeks`` before t, newest first."""
    window = events[
        (events["event_time"] < t)
        & (events["event_time"] >= t - pd.Timedelta(weeks=weeks))
        & events["event_type"].isin(["browse", "wishlist"])
        & events["customer_id"].isin(customers)
        & events["product_key"].isin(live["product_key"])
    ]
    last = window.groupby(["customer_id", "product_key"], as_index=False)["event_time"].max()
    last = last.sort_values(
        ["customer_id", "event_time", "product_key"], ascending=[True, False, True], kind="mergesort"
    )
    return _ranked(last.groupby("customer_id").head(n), "recently viewed")


def purchase_history(events: pd.DataFrame, catalog: pd.DataFrame, customers: pd.Index, t: pd.Timestamp) -> pd.DataFrame:
    """(customer_id, identity) -> times bought and last purchase time, from purchases before t."""
    bought = events[
        (events["event_type"] == "purchase") & (events["event_time"] < t) & events["customer_id"].isin(customers)
    ]
    ident = product_identity(catalog)
    bought = bought.assign(identity=ident.reindex(bought["product_key"]).to_numpy()).dropna(subset=["identity"])
    return bought.groupby(["customer_id", "identity"], as_index=False).agg(
        times_bought_before=("event_time", "size"), last_bought=("event_time", "max")
    )


def live_identity(live: pd.DataFrame, catalog: pd.DataFrame) -> pd.DataFrame:
    """The on-sale version of each product identity (newest sale start where several are on sale)."""
    ident = product_identity(catalog)
    frame = live[["product_key"]].assign(identity=ident.reindex(live["product_key"]).to_numpy())
    start = catalog.set_index("product_key")["sale_start"]
    frame = frame.assign(sale_start=start.reindex(frame["product_key"]).to_numpy())
    frame = frame.sort_values(
        ["identity", "sale_start", "product_key"], ascending=[True, False, True], kind="mergesort"
    )
    frame = frame.drop_duplicates("identity")[["identity", "product_key"]]
    return frame.sort_values("product_key", kind="mergesort").reset_index(drop=True)  # ties rank by key


def bought_before_source(history: pd.DataFrame, live_ids: pd.DataFrame, n: int) -> pd.DataFrame:
    """The customer's own purchases whose product is on sale at t, most recently bought first."""
    frame = history.merge(live_ids, on="identity").sort_values(
        ["customer_id", "last_bought", "product_key"], ascending=[True, False, True], kind="mergesort"
    )
    return _ranked(frame.groupby("customer_id").head(n), "bought before")


def co_purchase_scores(
    events: pd.DataFrame,
    catalog: pd.DataFrame,
    customers: pd.Index,
    live_ids: pd.DataFrame,
    t: pd.Timestamp,
    weeks: int,
) -> tuple[np.ndarray, pd.Index, np.ndarray]:
    """Item-to-item co-purchase from the purchases in the ``weeks`` before t: for each customer and
    on-sale product j, ``sum over the customer's products i of co(i, j) / sqrt(buyers(j))``, where
    co(i, j) counts the customers who bought both. The counts are integers (exact float sums), so
    the scores are the same bytes on every machine. Returns (scores, customers, live product keys);
    the customer's own products score 0."""
    import scipy.sparse as sp

    window = events[
        (events["event_type"] == "purchase")
        & (events["event_time"] < t)
        & (events["event_time"] >= t - pd.Timedelta(weeks=weeks))
    ]
    ident = product_identity(catalog)
    pairs = (
        window.assign(identity=ident.reindex(window["product_key"]).to_numpy())
        .dropna(subset=["identity"])[["customer_id", "identity"]]
        .drop_duplicates()
    )
    keys = live_ids["product_key"].to_numpy()
    if pairs.empty or not len(keys):
        return np.zeros((len(customers), len(keys))), customers, keys
    items = pd.Index(sorted(pairs["identity"].unique()))
    buyers = pd.Index(sorted(pairs["customer_id"].unique()))
    B = sp.csr_matrix(
        (np.ones(len(pairs)), (buyers.get_indexer(pairs["customer_id"]), items.get_indexer(pairs["identity"]))),
        shape=(len(buyers), len(items)),
    )
    cols = items.get_indexer(live_ids["identity"])
    on_sale = cols >= 0
    B_on = B[:, cols[on_sale]].tocsc()
    n_buyers = np.asarray(B_on.sum(axis=0)).ravel()
    rows = buyers.get_indexer(customers)
    has = rows >= 0
    scores = np.zeros((len(customers), len(keys)))
    if has.any():
        own = B[rows[has]]
        overlap = own @ B.T  # customers x buyers: products in common (integers)
        block = np.asarray((overlap @ B_on).todense())  # sum over i of co(i, j): integer sums
        block[own[:, cols[on_sale]].toarray() > 0] = 0  # what the customer bought is not "bought together"
        block = block / np.sqrt(np.maximum(n_buyers, 1))
        full = np.zeros((has.sum(), len(keys)))
        full[:, on_sale] = block
        scores[has] = full
    return scores, customers, keys


def bought_together_source(scores: np.ndarray, customers: pd.Index, keys: np.ndarray, n: int) -> pd.DataFrame:
    if not len(keys) or not len(customers):
        return _ranked(pd.DataFrame(columns=["customer_id", "product_key"]), "bought together")
    n = min(n, len(keys))
    order = np.argsort(-scores, axis=1, kind="stable")[:, :n]  # keys are sorted: ties by key
    picked = np.take_along_axis(scores, order, axis=1)
    frame = pd.DataFrame(
        {"customer_id": np.repeat(customers.to_numpy(), n), "product_key": keys[order.ravel()], "s": picked.ravel()}
    )
    return _ranked(frame[frame["s"] > 0], "bought together")


def source_candidates(
    stores: Stores, events: pd.DataFrame, customers: pd.Index, t: pd.Timestamp, settings: CandidateSettings
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every source's ranked proposals at t (before the merge and the budget), with the repeat
    rule applied, and the candidate features of every proposed pair."""
    live = on_sale(stores, t)
    catalog = stores.tabular.read("product_catalog")
    customers = pd.Index(customers, name="customer_id")
    spine = pd.DataFrame({"customer_id": customers.to_numpy(), "event_timestamp": t})
    n = settings.per_source
    live_ids = live_identity(live, catalog)
    history = purchase_history(events, catalog, customers, t)
    scores, _, keys = co_purchase_scores(events, catalog, customers, live_ids, t, settings.co_purchase_weeks)
    parts = [
        popular_source(live, customers, n),
        category_popular_source(stores, live, spine, n),
        similar_taste_source(stores, live, spine, n),
        recently_viewed_source(events, live, customers, t, settings.recent_weeks, n),
        bought_before_source(history, live_ids, n) if settings.repeats else None,
        bought_together_source(scores, customers, keys, n),
    ]
    proposals = pd.concat([p for p in parts if p is not None], ignore_index=True)
    if not settings.repeats:
        bought = events[(events["event_time"] < t) & (events["event_type"] == "purchase")][
            ["customer_id", "product_key"]
        ].drop_duplicates()
        proposals = proposals.merge(bought.assign(_b=1), on=["customer_id", "product_key"], how="left")
        proposals = proposals[proposals["_b"].isna()].drop(columns="_b")
    return proposals.reset_index(drop=True), _candidate_features(
        proposals, history, live_ids, scores, customers, keys, t
    )


def _candidate_features(proposals, history, live_ids, scores, customers, keys, t) -> pd.DataFrame:
    pairs = proposals[["customer_id", "product_key"]].drop_duplicates()
    ident = live_ids.set_index("product_key")["identity"]
    pairs = pairs.assign(identity=ident.reindex(pairs["product_key"]).to_numpy())
    pairs = pairs.merge(history, on=["customer_id", "identity"], how="left")
    pairs["times_bought_before"] = pairs["times_bought_before"].fillna(0).astype(float)
    pairs["days_since_bought"] = ((t - pairs["last_bought"]).dt.total_seconds() / 86400.0).fillna(0.0)
    row = customers.get_indexer(pairs["customer_id"])
    col = pd.Index(keys).get_indexer(pairs["product_key"])
    strength = np.zeros(len(pairs))
    ok = (row >= 0) & (col >= 0)
    strength[ok] = scores[row[ok], col[ok]]
    pairs["co_purchase_strength"] = strength
    return pairs[["customer_id", "product_key", *CANDIDATE_FEATURES]]


def merge_sources(proposals: pd.DataFrame, budget: int) -> pd.DataFrame:
    """Round-robin merge: each source's first product, then each source's second, ... (sources in
    :data:`SOURCES` order), a product kept once (its first source), at most ``budget`` per customer."""
    order = proposals.assign(_s=proposals["source"].map({s: i for i, s in enumerate(SOURCES)}))
    order = order.sort_values(["customer_id", "rank", "_s", "product_key"], kind="mergesort")
    order = order.drop_duplicates(["customer_id", "product_key"], keep="first")
    order = order[order.groupby("customer_id").cumcount() < budget]
    return order.drop(columns=["_s", "rank"])


def generate_candidates(
    stores: Stores, events: pd.DataFrame, customers: pd.Index, t: pd.Timestamp, settings: CandidateSettings
) -> pd.DataFrame:
    """(customer_id, product_key, source, candidate features, event_timestamp) at t: every source's
    proposals merged within the budget, sorted by customer and product."""
    proposals, features = source_candidates(stores, events, customers, t, settings)
    cands = merge_sources(proposals, settings.budget).merge(features, on=["customer_id", "product_key"], how="left")
    return cands.assign(event_timestamp=t).sort_values(["customer_id", "product_key"]).reset_index(drop=True)


def recall_by_source(proposals: pd.DataFrame, merged: pd.DataFrame, truth: pd.DataFrame) -> dict:
    """Share of the (customer, product) purchases in ``truth`` that each source proposed, that the
    union of the sources proposed, and that the merged candidates within the budget hold."""
    n = max(len(truth), 1)
    hit = lambda frame: len(
        frame[["customer_id", "product_key"]].drop_duplicates().merge(truth, on=["customer_id", "product_key"])
    )  # noqa: E731
    per_source = {s: round(hit(proposals[proposals["source"] == s]) / n, 4) for s in SOURCES}
    return {
        "purchases": int(len(truth)),
        "per_source": per_source,
        "union": round(hit(proposals) / n, 4),
        "at_budget": round(hit(merged) / n, 4),
    }


def purchases_between(events: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
    """Distinct (customer_id, product_key) purchased in [start, end)."""
    window = events[
        (events["event_type"] == "purchase") & (events["event_time"] >= start) & (events["event_time"] < end)
    ]
    return window[["customer_id", "product_key"]].drop_duplicates().reset_index(drop=True)


def choose_repeat_rule(stores: Stores, events: pd.DataFrame, cutoff: pd.Timestamp, params: dict) -> tuple[bool, dict]:
    """Whether bought products may be proposed again: the ``repeat_purchases`` param, or with
    "auto" the rule whose candidates within the budget hold more of the purchases in the
    validation window (the ``horizon_weeks`` before the cutoff, from a moment before it: nothing
    of the test window is read). Returns (repeats allowed, the evidence for candidates.json)."""
    rule = str(params.get("repeat_purchases", "no"))
    if rule not in REPEAT_RULES:
        raise ValueError(f"params.yaml: train.repeat_purchases is {rule!r}, expected one of {REPEAT_RULES}")
    horizon = pd.Timedelta(weeks=int(params["horizon_weeks"]))
    v = cutoff - horizon
    truth = purchases_between(events, v, cutoff)
    customers = pd.Index(sorted(truth["customer_id"].unique()), name="customer_id")
    cap = int(params.get("max_customers_per_spine") or 0)
    if cap and len(customers) > cap:
        pick = np.random.default_rng([int(params["seed"]), 10**6]).choice(len(customers), cap, replace=False)
        customers = customers[np.sort(pick)]
        truth = truth[truth["customer_id"].isin(customers)]
    evidence = {"rule": rule, "validation_window": {"start": f"{v:%Y-%m-%d}", "end": f"{cutoff:%Y-%m-%d}"}}
    for allowed in (False, True):
        settings = CandidateSettings.from_params(params, repeats=allowed)
        if customers.empty:
            evidence["repeats allowed" if allowed else "repeats left out"] = {"purchases": 0}
            continue
        proposals, _ = source_candidates(stores, events, customers, v, settings)
        evidence["repeats allowed" if allowed else "repeats left out"] = recall_by_source(
            proposals, merge_sources(proposals, settings.budget), truth
        )
    if rule == "auto":
        at = lambda key: evidence[key].get("at_budget", 0.0)  # noqa: E731
        allowed = at("repeats allowed") > at("repeats left out")
    else:
        allowed = rule == "yes"
    evidence["repeats_allowed"] = allowed
    return allowed, evidence


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


def repeat_rule_sentence(evidence: dict) -> str:
    """The repeat rule in words, with the validation-window recall both ways."""
    allowed = evidence["repeats_allowed"]
    both = {k: evidence[k].get("at_budget") for k in ("repeats allowed", "repeats left out")}
    how = (
        "chosen on the validation window"
        if evidence["rule"] == "auto"
        else f"set in params.yaml (train.repeat_purchases: {evidence['rule']})"
    )
    window = evidence["validation_window"]
    if both["repeats allowed"] is None:
        return f"Products a customer bought before are {'' if allowed else 'not '}proposed again ({how})."
    return (
        f"Products a customer bought before are {'' if allowed else 'not '}proposed again ({how}): "
        f"in the weeks from {window['start']} to {window['end']}, before the test window, the candidates "
        f"held {both['repeats allowed']:.0%} of the purchases with them and {both['repeats left out']:.0%} without."
    )


def source_table(sources: dict) -> pd.DataFrame:
    """Recall per source, of the union and within the budget, as a table for the Model notebook."""
    rows = [{"candidates": f"source: {s}", "share of purchases proposed": v} for s, v in sources["per_source"].items()]
    rows += [
        {"candidates": "all sources together", "share of purchases proposed": sources["union"]},
        {"candidates": "within the budget", "share of purchases proposed": sources["at_budget"]},
    ]
    return pd.DataFrame(rows)


def candidates_report(sources: dict, repeat_evidence: dict, params: dict) -> dict:
    """``reports/metrics/candidates.json``: the test window's recall per source, of the union and at
    the budget; the settings; the repeat rule with its validation-window evidence (both ways)."""
    return {
        "settings": {
            "candidates_per_source": int(params["candidates_per_source"]),
            "candidate_budget": int(params["candidate_budget"]),
            "repeat_purchases": str(params["repeat_purchases"]),
            "co_purchase_weeks": int(params["co_purchase_weeks"]),
        },
        "test_window": sources,
        "repeat_rule": repeat_evidence,
    }
