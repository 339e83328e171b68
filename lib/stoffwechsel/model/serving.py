"""Recommendations to serve: after the evaluation has chosen the model (:func:`serving_choice`: the
combined model unless tabular-only or the strongest baseline was measurably better on the
headline metric), the chosen ranker is trained again on every training moment up to the last
day of data (the evaluation's model stops at the cutoff, eight weeks earlier) and ranks the
candidates of every customer active at the serving moment, the end of the last day of data.

The lists are a deterministic data file (``data/recommendations/recommendations.parquet``:
sorted by customer and rank, no scores, whose last bits depend on the machine) with a manifest
(``manifest.json``) naming the model, the sha256 of its bytes, the feature view versions and the
candidate settings that made them; ``reports/metrics/serving.json`` says in a few fields which model
serves and why (committed: the Model page reads it).
"""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd

from stoffwechsel.errors import StageStop
from stoffwechsel.features import tabular
from stoffwechsel.model.assessment import BASELINE_CHOSEN_BY, better_ranker
from stoffwechsel.model.candidates import CandidateSettings, Stores, active_customers, generate_candidates
from stoffwechsel.model.ranker import (
    BASELINES,
    RETRIEVED_SERVICE,
    LabelledSpines,
    Ranker,
    baseline_scores,
    labelled_spines,
    ranker_bytes,
    retrieve_training_set,
    service_versions,
    top_k,
    train_ranker,
)

#: the ``train`` params the recommend stage reads (listed in its dvc.yaml params: a change to any
#: of them re-runs it; the evaluation-only ones, such as ``ks`` or ``n_boot``, do not)
TRAIN_KEYS = (
    "horizon_weeks",
    "spine_every_weeks",
    "lookback_weeks",
    "max_customers_per_spine",
    "candidates_per_source",
    "candidate_budget",
    "co_purchase_weeks",
    "negative_share",
    "seed",
    "max_iter",
    "learning_rate",
    "max_leaf_nodes",
    "registered_model",
)

#: where the recommend stage writes (data: cached by DVC; the report: committed)
RECOMMENDATIONS_DIR = "data/recommendations"
SERVING_REPORT = "reports/metrics/serving.json"


def serving_choice(report: dict) -> tuple[str, str, str]:
    """(model, reason, why) from the evaluation report (claims.json): the strongest baseline where
    it beat the combined model on the headline metric (paired 95% interval; reason
    ``baseline_better``), else tabular-only where it did (``tabular_better``), else the combined
    model (``no_better_model``). ``why`` says it for analysts; the Model page words the reason."""
    k = BASELINE_CHOSEN_BY
    best = report["best_baseline"]["name"]
    if report["combined_minus_best_baseline"].get(k, {}).get("baseline_better"):
        return (
            best,
            "baseline_better",
            f"the strongest baseline ({best}) beat the combined model on {k} (paired 95% interval)",
        )
    if better_ranker(report) == "tabular":
        return "tabular", "tabular_better", f"tabular-only beat the combined model on {k} (paired 95% interval)"
    return "combined", "no_better_model", f"no other model was measurably better than the combined model on {k}"


def serving_moment(last_event: pd.Timestamp) -> pd.Timestamp:
    """The end of the last day of data (its last microsecond): every event of the data is at or
    before it, and a product whose sale window ends that day is still on sale (an export's
    catalogue often ends a window at the last sale it saw: the UCI year's all end on its last day)."""
    return pd.Timestamp(last_event).normalize() + pd.Timedelta(days=1) - pd.Timedelta(microseconds=1)


def refit(
    stores: Stores,
    events: pd.DataFrame,
    model: str,
    t: pd.Timestamp,
    params: dict,
    settings: CandidateSettings,
    earlier: LabelledSpines | None = None,
) -> Ranker | None:
    """The chosen ranker trained on every training moment whose outcome window ends by ``t``
    (same parameters as the evaluated one); a baseline needs no training (None). ``earlier``: the
    train stage's labelled spines, of which only the moments after its cutoff are added
    (:func:`~stoffwechsel.model.ranker.labelled_spines`: the same training set as from scratch)."""
    if model in BASELINES:
        return None
    spines = labelled_spines(stores, events, t, params, settings, earlier)
    return train_ranker(retrieve_training_set(stores, spines), model, params)


def recommend(
    stores: Stores,
    events: pd.DataFrame,
    model: str,
    fitted: Ranker | None,
    t: pd.Timestamp,
    params: dict,
    settings: CandidateSettings,
    top_n: int,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The top ``top_n`` per customer active in the ``lookback_weeks`` before ``t``:
    (customer_id, rank, product_key, product_id, season, source), sorted by customer and rank;
    and the first 200 retrieved candidate rows (the model's inputs, for MLflow's signature)."""
    customers = active_customers(events, t, int(params["lookback_weeks"]))
    cands = generate_candidates(stores, events, customers, t, settings)
    if cands.empty:
        raise StageStop(
            f"nothing to recommend at the end of {t:%Y-%m-%d}: {len(customers)} customers were active in the "
            f"{int(params['lookback_weeks'])} weeks before it and no candidate product is on sale then "
            "(products.csv: sale_start and sale_end)"
        )
    frame = tabular.retrieve(stores.all, cands, RETRIEVED_SERVICE)
    scores = fitted.score(frame) if fitted is not None else baseline_scores(frame, model)
    top = top_k(frame, np.asarray(scores), top_n)
    catalog = stores.tabular.read("product_catalog")[["product_key", "product_id", "season"]]
    top = top.merge(cands[["customer_id", "product_key", "source"]], on=["customer_id", "product_key"])
    top = top.merge(catalog, on="product_key", how="left")
    columns = ["customer_id", "rank", "product_key", "product_id", "season", "source"]
    lists = top[columns].sort_values(["customer_id", "rank"], kind="mergesort").reset_index(drop=True)
    return lists, frame.head(200)


def manifest(
    model: str,
    reason: str,
    why: str,
    fitted: Ranker | None,
    stores: Stores,
    t: pd.Timestamp,
    lists: pd.DataFrame,
    settings: CandidateSettings,
    top_n: int,
) -> dict:
    """What made the lists: the model (and the sha256 of its bytes), the feature view versions it
    read, the serving moment, the candidate settings and the counts."""
    views = service_versions(stores, fitted.feature_set if fitted is not None else RETRIEVED_SERVICE)
    return {
        "model": model,
        "reason": reason,
        "why": why,
        "model_sha256": hashlib.sha256(ranker_bytes(fitted)).hexdigest() if fitted is not None else None,
        "feature_views": dict(sorted(views.items())),
        "served_at": t.isoformat(),
        "data_until": f"{t:%Y-%m-%d}",
        "customers": int(lists["customer_id"].nunique()),
        "top_n": int(top_n),
        "candidates": {
            "per_source": settings.per_source,
            "budget": settings.budget,
            "repeats_allowed": settings.repeats,
            "co_purchase_weeks": settings.co_purchase_weeks,
        },
        "from_source": {s: int(n) for s, n in lists["source"].value_counts().sort_index().items()},
    }


def serving_report(manifest: dict) -> dict:
    """``reports/metrics/serving.json``: the manifest's fields a reader needs (committed)."""
    keys = ("model", "reason", "why", "served_at", "data_until", "customers", "top_n")
    return {k: manifest[k] for k in keys}


def serving_sentence(serving: dict) -> str:
    """The recommend notebook's sentence: which model serves, why, for how many customers."""
    return (
        f"Serving: **{serving['model']}**, because {serving['why']}; trained again on all data up to "
        f"{serving['data_until']}, top {serving['top_n']} for {serving['customers']:,} customers "
        f"(`{RECOMMENDATIONS_DIR}/`)."
    )
