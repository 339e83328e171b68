"""Which ranker ranks best, measured on the validation window, never on the test window (issue 25,
point 2: "LightGBM's lambdarank if it measurably ranks better; your measurement decides";
hyperparameters chosen before the test window).

The validation window is the ``test_weeks`` before the cutoff: every variant is trained exactly
as the ``train`` stage trains (:func:`stoffwechsel.model.ranker.labelled_spines` with its
candidate settings and repeat rule, training moments whose label windows end by the validation
cutoff), and all are scored on the same candidates of the customers who bought in that window
(:func:`stoffwechsel.model.assessment.evaluate`). Only the events before the cutoff are passed
on (tested: the window, the customers scored and the training label windows).

The variants (one feature service, ``combined``, the one the claim is about):

- the committed model: scikit-learn's histogram gradient boosting with ``params.yaml``'s sizes;
- the same with half and twice the trees, and with half and twice the leaves (the hyperparameters
  a practitioner tunes first);
- LightGBM with the same sizes, once with the same objective (log loss: the library alone) and
  once with ``lambdarank`` (a ranking objective over each customer's candidates at a training
  moment), deterministic (``deterministic``, ``force_row_wise``, fixed seed and threads).

Each is compared with the committed model on the same customers (paired bootstrap of the
per-customer difference, as the evaluation's claims are). That interval covers which customers
bought, not how much a model's ranking moves with an arbitrary detail of its fit: the committed
model with one leaf fewer is in the study for that yardstick. A variant counts as better only
when its difference's interval lies above 0 *and* the difference exceeds the one between the
committed model and its one-leaf neighbour (measured on the simulator: 31 against 30 leaves moved
hit rate@10 by 0.037, nearly the largest "improvement" among the variants, 0.044); otherwise the
committed choice stays.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import pandas as pd

from stoffwechsel.model import assessment, ranker
from stoffwechsel.model.candidates import CandidateSettings, Stores

#: the feature service the variants read (the combined model is the one the claim is about)
FEATURE_SET = "combined"
#: the committed model's name in the study's tables
COMMITTED = "committed: gradient boosting"
#: the metrics the study reports (the evaluation's headline metrics)
METRICS = ("hit_rate@10", "ndcg@10")
#: where `stoffwechsel ranker-study` writes its figures
REPORT_FILE = "reports/metrics/ranker_study.json"


@dataclass(frozen=True)
class Variant:
    name: str
    library: str  # "sklearn" or "lightgbm"
    objective: str = "binary"  # lightgbm: "binary" or "lambdarank"
    trees: float = 1.0  # times the committed max_iter
    leaves: float = 1.0  # times the committed max_leaf_nodes
    leaves_added: int = 0  # then this many leaves more (the one-leaf neighbour: -1)

    def sizes(self, params: dict) -> tuple[int, int]:
        """(trees, leaves) of this variant under the committed ``params``."""
        trees = max(1, int(int(params["max_iter"]) * self.trees))
        leaves = max(2, int(int(params["max_leaf_nodes"]) * self.leaves) + self.leaves_added)
        return trees, leaves


#: the committed model with one leaf fewer: how far an arbitrary detail of the fit moves the ranking
NEIGHBOUR = "gradient boosting, one leaf fewer"

VARIANTS = (
    Variant(COMMITTED, "sklearn"),
    Variant(NEIGHBOUR, "sklearn", leaves_added=-1),
    Variant("gradient boosting, half the trees", "sklearn", trees=0.5),
    Variant("gradient boosting, twice the trees", "sklearn", trees=2.0),
    Variant("gradient boosting, half the leaves", "sklearn", leaves=0.5),
    Variant("gradient boosting, twice the leaves", "sklearn", leaves=2.0),
    Variant("LightGBM, log loss", "lightgbm"),
    Variant("LightGBM, lambdarank", "lightgbm", objective="lambdarank"),
)


class _Scores:
    """A LightGBM model behind the interface :class:`stoffwechsel.model.ranker.Ranker` scores with:
    ``predict_proba(x)[:, 1]`` is the model's score (a ranking score for lambdarank; only the
    order within a customer's candidates matters)."""

    def __init__(self, model):
        self.model = model

    def predict_proba(self, x: pd.DataFrame) -> np.ndarray:
        s = np.asarray(self.model.predict(x.to_numpy(dtype=float), num_threads=1), dtype=float)
        return np.column_stack([-s, s])


def fit_variant(train: pd.DataFrame, variant: Variant, params: dict) -> ranker.Ranker:
    """The ranker of ``variant`` on the training frame (same columns and category codes as the
    committed model)."""
    trees, leaves = variant.sizes(params)
    sized = {**params, "max_iter": trees, "max_leaf_nodes": leaves}
    if variant.library == "sklearn":
        return ranker.train_ranker(train, FEATURE_SET, sized)
    import lightgbm

    shape = ranker.train_ranker(train, FEATURE_SET, {**sized, "max_iter": 1})  # its columns and category codes
    order = train.sort_values(["event_timestamp", "customer_id"], kind="mergesort").index
    rows = train.loc[order]
    x = shape.matrix(rows).to_numpy(dtype=float)
    y = rows["label"].to_numpy()
    data = lightgbm.Dataset(
        x,
        label=y,
        categorical_feature=[i for i, c in enumerate(shape.columns) if c in shape.categories] or "auto",
        free_raw_data=False,
        params={"verbose": -1},
    )
    if variant.objective == "lambdarank":
        data.set_group(rows.groupby(["event_timestamp", "customer_id"], sort=False).size().to_numpy())
    booster = lightgbm.train(
        {
            "objective": variant.objective,
            "learning_rate": float(sized["learning_rate"]),
            "num_leaves": int(sized["max_leaf_nodes"]),
            "lambda_l2": 1.0,  # as the committed model's l2_regularization
            "min_data_in_leaf": 20,  # as scikit-learn's min_samples_leaf
            "max_bin": 255,
            "seed": int(params["seed"]),
            "deterministic": True,
            "force_row_wise": True,
            "num_threads": 2,
            "verbose": -1,
        },
        data,
        num_boost_round=int(sized["max_iter"]),
    )
    return ranker.Ranker(FEATURE_SET, shape.columns, shape.categories, _Scores(booster), shape.notes)


def validation_cutoff(cutoff: pd.Timestamp, test_weeks: int) -> pd.Timestamp:
    """The start of the validation window: the ``test_weeks`` before the cutoff."""
    return pd.Timestamp(cutoff) - pd.Timedelta(weeks=int(test_weeks))


def run_study(
    stores: Stores,
    events: pd.DataFrame,
    cutoff: pd.Timestamp,
    params: dict,
    settings: CandidateSettings,
    variants=VARIANTS,
) -> dict:
    """Train every variant up to the validation cutoff and score it on the validation window;
    returns the study's figures (values with 95% ranges, differences from the committed model with
    their ranges, fit seconds), with the windows it used. ``params``: the train stage's."""
    from stoffwechsel.model import evaluation

    test_weeks = int(params["test_weeks"])
    v = validation_cutoff(cutoff, test_weeks)
    seen = events[events["event_time"] < cutoff]  # the study never needs what came after the cutoff
    spines = ranker.labelled_spines(stores, seen, v, params, settings)
    train = ranker.retrieve_training_set(stores, spines)
    fitted, seconds = {}, {}
    for variant in variants:
        start = time.perf_counter()
        fitted[variant.name] = fit_variant(train, variant, params)
        seconds[variant.name] = round(time.perf_counter() - start, 1)
    ev = assessment.evaluate(stores, seen, v, fitted, {**params, "test_weeks": test_weeks}, settings)
    n_boot, seed = int(params["n_boot"]), int(params["seed"])
    rows = []
    for variant in variants:
        pc = ev.per_customer[variant.name]
        ci = evaluation.bootstrap_ci(pc, n_boot=n_boot, seed=seed).set_index("metric")
        diff = evaluation.paired_bootstrap_diff(ev.per_customer[COMMITTED], pc, n_boot=n_boot, seed=seed)
        diff = diff.set_index("metric")
        trees, leaves = variant.sizes(params)
        row = {"model": variant.name, "trees": trees, "leaves": leaves, "fit_seconds": seconds[variant.name]}
        for m in METRICS:
            row[m] = {k: round(float(ci.loc[m, k]), 4) for k in ("value", "low", "high")}
            if variant.name != COMMITTED:
                row[f"{m} vs committed"] = {k: round(float(diff.loc[m, k]), 4) for k in ("diff", "low", "high")}
        rows.append(row)
    chosen_by = assessment.BASELINE_CHOSEN_BY
    by_name = {r["model"]: r for r in rows}
    spread = abs(by_name[NEIGHBOUR][f"{chosen_by} vs committed"]["diff"]) if NEIGHBOUR in by_name else 0.0
    better = [
        r["model"]
        for r in rows
        if r["model"] not in (COMMITTED, NEIGHBOUR)
        and r[f"{chosen_by} vs committed"]["low"] > 0
        and r[f"{chosen_by} vs committed"]["diff"] > spread
    ]
    return {
        "feature_set": FEATURE_SET,
        "validation_window": {"start": f"{v:%Y-%m-%d}", "end": f"{cutoff:%Y-%m-%d}"},
        "training_rows": len(train),
        "training_positives": int(train["label"].sum()),
        "customers": len(ev.customers),
        "chosen_by": chosen_by,
        "neighbour_spread": round(spread, 4),
        "better_than_committed": better,
        "models": rows,
    }


def study_table(study: dict) -> pd.DataFrame:
    """The study as a table for the notebook and the docs."""
    out = []
    for r in study["models"]:
        row = {"model": r["model"], "trees": r["trees"], "leaves": r["leaves"]}
        for m in METRICS:
            v = r[m]
            row[m] = f"{v['value']:.3f} [{v['low']:.3f}, {v['high']:.3f}]"
            d = r.get(f"{m} vs committed")
            row[f"{m} vs committed"] = "" if d is None else f"{d['diff']:+.3f} [{d['low']:+.3f}, {d['high']:+.3f}]"
        row["fit s"] = r["fit_seconds"]
        out.append(row)
    return pd.DataFrame(out)


def study_inputs(root=None) -> tuple[Stores, pd.DataFrame, pd.Timestamp, dict, CandidateSettings]:
    """What the ``train`` stage trained with, from a project whose pipeline has run: the feature
    stores, the resolved transactions, the cutoff (the profile stage's calendar), the train params
    as the stage used them and its candidate settings with the repeat rule it chose on its own
    validation window (``reports/metrics/candidates.json``)."""
    import json
    from pathlib import Path

    from stoffwechsel import config
    from stoffwechsel.data import timeline
    from stoffwechsel.features.store import FeatureStore

    root = Path(root or config.ROOT)
    calendar = timeline.read_calendar(root)  # the profile stage's
    params = {
        **config.load_params("train", path=root / "params.yaml"),
        "cutoff": f"{calendar.cutoff:%Y-%m-%d}",
        "train_start": f"{calendar.train_start:%Y-%m-%d}",
        "test_weeks": calendar.test_weeks,
    }
    chosen = json.loads((root / "reports" / "metrics" / "candidates.json").read_text(encoding="utf-8"))
    settings = CandidateSettings.from_params(params, repeats=chosen["repeat_rule"]["repeats_allowed"])
    data = root / config.DATA_DIR.relative_to(config.ROOT)
    stores = Stores(FeatureStore(data / "feature_store"), FeatureStore(data / "embedding_store"))
    events = pd.read_parquet(data / "resolved" / "transactions.parquet")
    return stores, events, calendar.cutoff, params, settings
