"""Candidate generation + ranking, trained on features retrieved point-in-time from the stores.

At a time t, for each customer:

1. **Candidates** from simple, fast sources, all built from what was known before t: the globally
   popular products on sale, the popular ones in the customer's two favourite categories, the
   products closest to the customer's taste (embeddings), and what the customer recently viewed
   or wishlisted. Products the customer already bought are left out. Both feature sets rank the
   same candidates, so the comparison isolates the features.
2. **Ranking**: a scikit-learn gradient-boosted classifier scores (customer, product version)
   pairs from features retrieved through :func:`stoffwechsel.features.tabular.retrieve` only. Each model
   reads one feature service declared in :mod:`stoffwechsel.features.feature_repo` (``tabular``,
   ``combined``): the service decides its model inputs; the training and evaluation frames are
   retrieved once with the widest service (``combined``, which holds ``tabular``).

Labels: a candidate is positive if the customer bought it within ``horizon_weeks`` after t.
Returns do not make a purchase negative: a purchase shows the recommendation found interest,
and return rates are monitored separately (documented in ``docs/evaluation.md``).

Training spines lie before the cutoff with their label windows ending by the cutoff, so nothing
on the training side sees the test window. The dates come from the calendar
(:mod:`stoffwechsel.data.timeline`).

Degrading with a reason: a feature that is missing for every training row (e.g. conversion and
wishlist rates where the shop logs purchases only) is left out of the model with a note
(:attr:`Ranker.notes`), never handed to the learner; no training moment, no purchase in the
training windows or in the test window stop the stage with a one-line :class:`StageStop`.

Why one module of over 600 lines: candidates, training set, ranker and its byte-stable saving
share the one candidate table; the split into candidates / ranker is issue #23's (sub-packages).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from stoffwechsel.errors import StageStop
from stoffwechsel.features import feature_repo
from stoffwechsel.features import tabular as features
from stoffwechsel.features.store import FeatureStore

#: the feature services the rankers are trained on, one model each (feature_repo.SERVICES)
FEATURE_SETS = ("tabular", "combined")
#: the service the training and evaluation frames are retrieved with: it holds every FEATURE_SETS service
RETRIEVED_SERVICE = "combined"

SOURCES = ("popular", "category popular", "similar taste", "recently viewed")


@dataclass
class Stores:
    tabular: FeatureStore
    embedding: FeatureStore

    @property
    def all(self) -> list[FeatureStore]:
        return [self.tabular, self.embedding]


# --- candidates -------------------------------------------------------------------------------


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
    vocab = features.vocabulary_of(stores.tabular)
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


# --- training sets ------------------------------------------------------------------------------


def training_spines(cutoff: pd.Timestamp, params: dict) -> list[pd.Timestamp]:
    """Spine times every ``spine_every_weeks`` from ``train_start`` (the calendar's first training
    moment), with label windows ending by the cutoff."""
    horizon = pd.Timedelta(weeks=int(params["horizon_weeks"]))
    times = pd.date_range(
        pd.Timestamp(params["train_start"]), cutoff - horizon, freq=f"{int(params['spine_every_weeks'])}W-MON"
    )
    return [pd.Timestamp(t) for t in times]


def build_training_set(stores: Stores, events: pd.DataFrame, cutoff: pd.Timestamp, params: dict) -> pd.DataFrame:
    """Candidates at every training spine, labelled, negatives sampled (fixed seed), with
    features retrieved point-in-time. At most ``max_customers_per_spine`` active customers per
    spine (a seeded sample where there are more; 0: all), so that training cost stays flat as
    the data grows while evaluation still scores every test customer."""
    horizon = pd.Timedelta(weeks=int(params["horizon_weeks"]))
    rng = np.random.default_rng(int(params["seed"]))
    cap = int(params.get("max_customers_per_spine") or 0)
    frames = []
    spines = training_spines(cutoff, params)
    if not spines:
        raise StageStop(
            f"too little history: no training moment from {pd.Timestamp(params['train_start']):%Y-%m-%d} "
            f"has its {int(params['horizon_weeks'])} weeks of outcomes before the cutoff {cutoff:%Y-%m-%d}"
        )
    for i, t in enumerate(spines):
        if t + horizon > cutoff:
            raise ValueError(f"training spine {t} has a label window past the cutoff {cutoff}")
        customers = active_customers(events, t, int(params["lookback_weeks"]))
        if cap and len(customers) > cap:  # the training set stops growing with the shop (seeded sample)
            pick = np.random.default_rng([int(params["seed"]), i]).choice(len(customers), cap, replace=False)
            customers = customers[np.sort(pick)]
        cands = generate_candidates(stores, events, customers, t, int(params["candidates_per_source"]))
        cands["label"] = label_purchases(cands, events, t, horizon)
        keep = (cands["label"] == 1) | (rng.random(len(cands)) < float(params["negative_share"]))
        frames.append(cands[keep])
    spine = pd.concat(frames, ignore_index=True)
    if len(spine) == 0 or int(spine["label"].sum()) == 0:
        raise StageStop(
            "no purchases to learn from: training needs purchases by active customers within "
            f"{int(params['horizon_weeks'])} "
            f"weeks of a training moment ({len(spines)} moments from {spines[0]:%Y-%m-%d}), the data has "
            f"{len(spine)} candidate pairs and none of them was bought"
        )
    return features.retrieve(stores.all, spine, RETRIEVED_SERVICE)


# --- the ranker ---------------------------------------------------------------------------------


def feature_columns(frame: pd.DataFrame, feature_set: str) -> list[str]:
    """The columns of a retrieved frame the model of a feature service reads (sorted)."""
    if feature_set not in FEATURE_SETS:
        raise ValueError(f"unknown feature set {feature_set!r} (have: {FEATURE_SETS})")
    return feature_repo.service(feature_set).model_inputs(frame.columns)


def service_versions(stores: Stores, feature_set: str) -> dict[str, str]:
    """view -> current version of every view the feature service reads (for tracking)."""
    views = feature_repo.service(feature_set).views
    return {v: s.current_version(v) for s in stores.all for v in s.list_views() if v in views}


@dataclass
class Ranker:
    feature_set: str
    columns: list[str]
    categories: dict[str, list]
    model: object
    notes: tuple[str, ...] = ()  # features left out, and why

    def matrix(self, frame: pd.DataFrame) -> pd.DataFrame:
        x = pd.DataFrame(index=frame.index)
        for c in self.columns:
            if c in self.categories:
                x[c] = pd.Categorical(
                    frame[c].astype(object).where(frame[c].notna(), None), categories=self.categories[c]
                ).codes.astype(float)
                x.loc[x[c] < 0, c] = np.nan
            else:
                x[c] = pd.to_numeric(frame[c], errors="coerce").astype(float)
        return x

    def score(self, frame: pd.DataFrame) -> np.ndarray:
        return self.model.predict_proba(self.matrix(frame))[:, 1]


def train_ranker(train: pd.DataFrame, feature_set: str, params: dict) -> Ranker:
    """Gradient-boosted trees (deterministic: fixed seed, no early stopping)."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    cols = feature_columns(train, feature_set)
    empty = [c for c in cols if train[c].isna().all()]
    notes = tuple(
        f"{c}: missing for every training row (the data has no events it is built from), left out of the model"
        for c in empty
    )
    cols = [c for c in cols if c not in empty]
    if not cols:
        raise StageStop(f"no features: every feature of the {feature_set} set is missing for every training row")
    labels = feature_repo.service(feature_set).categorical(cols)  # column -> dtype, as declared
    cats = {
        c: sorted(train[c].dropna().astype(object).astype(str).unique().tolist())
        if dtype == "string"
        else sorted(train[c].dropna().astype(int).unique().tolist())
        for c, dtype in labels.items()
    }
    ranker = Ranker(feature_set, cols, cats, None, notes)
    x = ranker.matrix(train)
    model = HistGradientBoostingClassifier(
        max_iter=int(params["max_iter"]),
        learning_rate=float(params["learning_rate"]),
        max_leaf_nodes=int(params["max_leaf_nodes"]),
        l2_regularization=1.0,
        early_stopping=False,
        categorical_features=[c in cats for c in cols],
        random_state=int(params["seed"]),
    )
    ranker.model = model.fit(x, train["label"].to_numpy())
    # scikit-learn keeps the thread count it fitted with (a fact about the machine, not the model;
    # the trees do not depend on it): cleared, so the saved model is the same bytes on every machine
    ranker.model._bin_mapper.n_threads = None
    return ranker


def ranker_bytes(ranker: Ranker) -> bytes:
    """The ranker as a pickle whose bytes depend on the fitted model only: the pickler keeps no
    memo (``fast``), since which equal strings and arrays are one object (what Python interned,
    which code path built them) differs between runs and machines and would show in the memo."""
    import io as _io
    import pickle

    buf = _io.BytesIO()
    pickler = pickle.Pickler(buf, protocol=5)
    pickler.fast = True
    pickler.dump(ranker)
    return buf.getvalue()


def top_k(frame: pd.DataFrame, scores: np.ndarray, k: int) -> pd.DataFrame:
    """The k best-scored candidates per customer: (customer_id, product_key, rank); ties by key."""
    ranked = (
        frame[["customer_id", "product_key"]]
        .assign(score=scores)
        .sort_values(["customer_id", "score", "product_key"], ascending=[True, False, True], kind="mergesort")
    )
    ranked["rank"] = ranked.groupby("customer_id").cumcount() + 1
    return ranked[ranked["rank"] <= k].drop(columns="score").reset_index(drop=True)


def baseline_scores(frame: pd.DataFrame, name: str) -> np.ndarray:
    """Non-learned rankings of the same candidates."""
    pop = frame["product_purchases_recent"].astype(float).fillna(0) + 0.01 * frame["product_views_recent"].astype(
        float
    ).fillna(0)
    if name == "popularity":
        return pop.to_numpy()
    if name == "category popularity":
        return (frame["category_affinity"].astype(float).fillna(0) * 1000 + pop).to_numpy()
    if name == "taste similarity":
        return frame["taste_similarity"].astype(float).fillna(-1).to_numpy()
    raise ValueError(f"unknown baseline {name!r}")


BASELINES = ("popularity", "category popularity", "taste similarity")


# --- evaluation at the cutoff -------------------------------------------------------------------


@dataclass
class Evaluation:
    customers: pd.Index  # evaluated: customers with >= 1 purchase in the test window
    truth: pd.DataFrame  # (customer_id, product_key) bought in the test window
    candidates: pd.DataFrame  # retrieved features of every candidate at the cutoff
    recommendations: dict[str, pd.DataFrame]  # model -> top-k lists
    per_customer: dict[str, pd.DataFrame]  # model -> per-customer metrics
    candidate_recall: float  # share of test purchases that any candidate source proposed


def evaluate(
    stores: Stores, events: pd.DataFrame, cutoff: pd.Timestamp, rankers: dict[str, Ranker], params: dict
) -> Evaluation:
    """Recommend at the cutoff for every customer who bought in the test window, with every
    ranker and baseline on the same candidates, and score the lists against the purchases."""
    from stoffwechsel.model import evaluation

    end = cutoff + pd.Timedelta(weeks=int(params["test_weeks"]))
    bought = events[
        (events["event_type"] == "purchase") & (events["event_time"] >= cutoff) & (events["event_time"] < end)
    ]
    truth = bought[["customer_id", "product_key"]].drop_duplicates().reset_index(drop=True)
    customers = pd.Index(sorted(truth["customer_id"].unique()), name="customer_id")
    if customers.empty:
        raise StageStop(
            f"no purchases in the test window: evaluation needs purchases from {cutoff:%Y-%m-%d} to {end:%Y-%m-%d}, "
            f"the data has none"
        )
    cands = generate_candidates(stores, events, customers, cutoff, int(params["candidates_per_source"]))
    frame = features.retrieve(stores.all, cands, RETRIEVED_SERVICE)
    k_max = max(params["ks"])
    scores = {name: r.score(frame) for name, r in rankers.items()}
    scores.update({name: baseline_scores(frame, name) for name in BASELINES})
    recs = {name: top_k(frame, s, k_max) for name, s in scores.items()}
    per_customer = {
        name: evaluation.per_customer_metrics(r, truth, ks=params["ks"], customers=customers)
        for name, r in recs.items()
    }
    found = cands.merge(truth, on=["customer_id", "product_key"])
    return Evaluation(customers, truth, frame, recs, per_customer, round(len(found) / max(len(truth), 1), 4))


# --- results for people and for DVC -----------------------------------------------------------

#: the list length of the headline numbers: the metrics file's per-model values and the metric
#: that picks the best baseline (the one the pages lead with)
HEADLINE_K = 10
BASELINE_CHOSEN_BY = f"hit_rate@{HEADLINE_K}"

#: where the train stage writes its results: the DVC metrics file (numbers only, short keys, so
#: that `dvc metrics diff` is a short table) and the report with every interval, the lists of
#: metrics behind the claim and its sentence (a plain output, read by the pages and verification)
METRICS_FILE = "reports/metrics/evaluation.json"
REPORT_FILE = "reports/metrics/claims.json"


def best_baseline(intervals: pd.DataFrame, metric: str = BASELINE_CHOSEN_BY) -> str:
    """The baseline with the highest value of ``metric`` (ties: the order of BASELINES)."""
    values = intervals[intervals["metric"] == metric].set_index("model")["value"]
    return max(BASELINES, key=lambda b: (values.get(b, float("-inf")), -BASELINES.index(b)))


def results(ev: Evaluation, segments: pd.DataFrame, params: dict) -> dict[str, pd.DataFrame]:
    """Bootstrap intervals per model, the paired differences combined - tabular and combined -
    each baseline (the same customer resamples), and per-segment metrics of both feature sets."""
    from stoffwechsel.model import evaluation

    n_boot, seed = int(params["n_boot"]), int(params["seed"])
    cis = pd.concat(
        [
            evaluation.bootstrap_ci(pc, n_boot=n_boot, seed=seed).assign(model=name)
            for name, pc in ev.per_customer.items()
        ],
        ignore_index=True,
    )
    paired = evaluation.paired_bootstrap_diff(
        ev.per_customer["tabular"], ev.per_customer["combined"], n_boot=n_boot, seed=seed
    )
    vs_baselines = pd.concat(
        [
            evaluation.paired_bootstrap_diff(
                ev.per_customer[b], ev.per_customer["combined"], n_boot=n_boot, seed=seed
            ).assign(baseline=b)
            for b in BASELINES
            if b in ev.per_customer
        ],
        ignore_index=True,
    )
    seg = pd.concat(
        [
            evaluation.segment_metrics(
                ev.per_customer[m], segments, min_customers=int(params["min_customers"]), n_boot=n_boot, seed=seed
            ).assign(model=m)
            for m in FEATURE_SETS
        ],
        ignore_index=True,
    )
    return {"intervals": cis, "paired": paired, "paired_baselines": vs_baselines, "segments": seg}


def customer_segments(
    stores: Stores, customers: pd.Index, t: pd.Timestamp, known_at: pd.Timestamp, new_customer_days: int = 90
) -> pd.DataFrame:
    """Segment columns of the evaluated customers (profiles as known at ``known_at``, the end of
    the test window, since some signed up after t): business segment, age band, and new vs
    returning (signed up less than ``new_customer_days`` before t, or after it)."""
    spine = pd.DataFrame({"customer_id": customers.to_numpy(), "event_timestamp": known_at})
    prof = stores.tabular.get_historical_features(
        spine, ["customer_profile:segment", "customer_profile:age_band", "customer_profile:signup_date"]
    )
    new = np.where((t - prof["signup_date"]).dt.days < new_customer_days, "new customer", "returning customer")
    long = [
        prof[["customer_id"]].assign(segment_column=col, segment=prof[col].astype(str))
        for col in ("segment", "age_band")
    ]
    long.append(prof[["customer_id"]].assign(segment_column="customer_type", segment=new))
    return pd.concat(long, ignore_index=True)


def evaluation_report(ev: Evaluation, res: dict[str, pd.DataFrame], params: dict) -> dict:
    """The evaluation report (``claims.json``): every model's metrics with intervals, the paired
    comparisons and the claim, made only where the paired interval excludes 0 (plain floats,
    deterministic). Sentences, lists and names live here, never in the metrics file."""
    r = lambda v: None if pd.isna(v) else round(float(v), 4)  # noqa: E731
    models = {}
    for (model, metric), row in res["intervals"].set_index(["model", "metric"]).iterrows():
        models.setdefault(model, {})[metric] = {"value": r(row["value"]), "low": r(row["low"]), "high": r(row["high"])}
    paired = {
        row["metric"]: {
            "diff": r(row["diff"]),
            "low": r(row["low"]),
            "high": r(row["high"]),
            "combined_better": bool(row["b_better"]),
            "tabular_better": bool(row["a_better"]),
        }
        for _, row in res["paired"].iterrows()
    }
    better = sorted(m for m, v in paired.items() if v["combined_better"])
    worse = sorted(m for m, v in paired.items() if v["tabular_better"])
    best = best_baseline(res["intervals"])
    vs = res["paired_baselines"]
    vs_best = {
        row["metric"]: {
            "diff": r(row["diff"]),
            "low": r(row["low"]),
            "high": r(row["high"]),
            "combined_better": bool(row["b_better"]),
            "baseline_better": bool(row["a_better"]),
        }
        for _, row in vs[vs["baseline"] == best].iterrows()
    }
    baselines_win = {
        m: sorted(g.loc[g["a_better"], "baseline"]) for m, g in vs.groupby("metric") if g["a_better"].any()
    }
    claim = honest_claim(better, worse, best, vs_best)
    return {
        "evaluated_customers": int(len(ev.customers)),
        "denominator": "customers with at least one purchase in the test window (precision counts all of them; "
        "recall, NDCG, MAP and hit rate need at least one purchase, so the same customers)",
        "test_window": {"start": params["cutoff"], "weeks": int(params["test_weeks"])},
        "candidate_recall": ev.candidate_recall,
        "models": models,
        "combined_minus_tabular": paired,
        "best_baseline": {"name": best, "chosen_by": BASELINE_CHOSEN_BY},
        "combined_minus_best_baseline": vs_best,
        "baselines_beating_combined": dict(sorted(baselines_win.items())),
        "claim": claim,
    }


def headline_k(ks) -> int:
    """The list length of the metrics file: :data:`HEADLINE_K` where evaluated, else the nearest k."""
    return min((int(k) for k in ks), key=lambda k: (abs(k - HEADLINE_K), k))


def dvc_metrics(report: dict) -> dict:
    """The DVC metrics file (``evaluation.json``): numbers only, under short keys, so that
    ``dvc metrics show``/``diff`` print a short table. The per-model values and the
    combined - tabular differences are those at the headline k; ``wins`` counts the metrics
    (every metric@k) where a paired 95% interval excludes 0, i.e. the size of each claim.
    Names, intervals, lists and sentences stay in the report (:func:`evaluation_report`)."""
    ks = sorted({split_k(m) for m in report["combined_minus_tabular"]})
    k = headline_k(ks)
    at_k = lambda table: {m: v for m, v in sorted(table.items()) if split_k(m) == k}  # noqa: E731
    vs_tab, vs_best = report["combined_minus_tabular"], report["combined_minus_best_baseline"]
    best = report["best_baseline"]["name"]
    return {
        "customers": report["evaluated_customers"],
        "candidate_recall": report["candidate_recall"],
        "combined": {m: v["value"] for m, v in at_k(report["models"]["combined"]).items()},
        "tabular": {m: v["value"] for m, v in at_k(report["models"]["tabular"]).items()},
        "best_baseline": {m: v["value"] for m, v in at_k(report["models"][best]).items()},
        "combined_minus_tabular": {m: v["diff"] for m, v in at_k(vs_tab).items()},
        "wins": {
            "combined_over_tabular": sum(v["combined_better"] for v in vs_tab.values()),
            "tabular_over_combined": sum(v["tabular_better"] for v in vs_tab.values()),
            "combined_over_best_baseline": sum(v["combined_better"] for v in vs_best.values()),
            "best_baseline_over_combined": sum(v["baseline_better"] for v in vs_best.values()),
        },
    }


def split_k(metric: str) -> int:
    """``"ndcg@10"`` -> 10."""
    from stoffwechsel.model.evaluation import split_metric

    return split_metric(metric)[1]


def honest_claim(better: list[str], worse: list[str], best: str, vs_best: dict) -> dict:
    """The claim about the combined model against tabular-only AND against the best baseline,
    each from its paired 95% interval; where the baseline wins, the statement says so first."""
    beats_base = sorted(m for m, v in vs_best.items() if v["combined_better"])
    base_wins = sorted(m for m, v in vs_best.items() if v["baseline_better"])
    parts = []
    if base_wins:
        parts.append(f"The best baseline ({best}) beats the combined model on {', '.join(base_wins)}.")
    parts.append(
        f"Tabular + embedding features beat tabular-only on {', '.join(better)}."
        if better
        else "No metric shows tabular + embedding features beating tabular-only."
    )
    if worse:
        parts.append(f"Tabular-only beats tabular + embedding features on {', '.join(worse)}.")
    if beats_base:
        parts.append(f"The combined model beats the best baseline ({best}) on {', '.join(beats_base)}.")
    elif not base_wins:
        parts.append(f"No metric shows a difference between the combined model and the best baseline ({best}).")
    parts.append("(Paired 95% bootstrap intervals of the differences; elsewhere they contain 0.)")
    return {
        "combined_beats_tabular_on": better,
        "tabular_beats_combined_on": worse,
        "best_baseline": best,
        "combined_beats_best_baseline_on": beats_base,
        "best_baseline_beats_combined_on": base_wins,
        "statement": " ".join(parts),
    }


def registry_description(name: str, report: dict) -> str:
    """The registered model version's description: what the model is, how it was measured and
    the claim, from the evaluation report."""
    what = {"combined": "tabular + text-embedding features", "tabular": "tabular features only"}[name]
    k = BASELINE_CHOSEN_BY
    value = lambda m: report["models"][m][k]["value"]  # noqa: E731
    best = report["best_baseline"]["name"]
    return (
        f"Gradient-boosted {name} ranker ({what}) over the candidate sources. "
        f"At the cutoff {report['test_window']['start']}, "
        f"{k} = {value(name):.3f} on {report['evaluated_customers']} customers (combined {value('combined'):.3f}, "
        f"tabular {value('tabular'):.3f}, best baseline {best} {value(best):.3f}). {report['claim']['statement']}"
    )


def plot_metric_vs_k(tidy: pd.DataFrame, metric: str, label: str):
    import matplotlib.pyplot as plt

    from stoffwechsel.data.profiling import PALETTE

    fig, ax = plt.subplots(figsize=(7, 3.4))
    data = tidy[tidy["metric"] == metric]
    for colour, (model, g) in zip(PALETTE, data.groupby("model", sort=True)):
        g = g.sort_values("k")
        ax.plot(g["k"], g["value"], marker="o", color=colour, label=model)
        ax.fill_between(g["k"], g["low"], g["high"], color=colour, alpha=0.15)
    ax.set(title=f"{label}, by length of the list (95% intervals)", xlabel="Recommendations shown (k)", ylabel=label)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
