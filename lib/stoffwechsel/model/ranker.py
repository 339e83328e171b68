"""The ranker: a scikit-learn gradient-boosted classifier that scores (customer, product version)
pairs from features retrieved point-in-time through :func:`stoffwechsel.features.tabular.retrieve`
only. Each model reads one feature service declared in :mod:`stoffwechsel.features.feature_repo`
(``tabular``, ``combined``): the service decides its model inputs; the training and evaluation
frames are retrieved once with the widest service (``combined``, which holds ``tabular``).

Training spines lie before the cutoff with their label windows ending by the cutoff, so nothing
on the training side sees the test window (dates from :mod:`stoffwechsel.data.timeline`).
A feature missing for every training row (e.g. conversion and wishlist rates where the shop logs
purchases only) is left out with a note (:attr:`Ranker.notes`), never handed to the learner; no
training moment or no purchase in the training windows stops the stage with a one-line
:class:`StageStop`. :func:`ranker_bytes` saves a model as bytes that are the same on every machine.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from stoffwechsel.errors import StageStop
from stoffwechsel.features import feature_repo, tabular
from stoffwechsel.model.candidates import (
    CANDIDATE_FEATURES,
    CandidateSettings,
    Stores,
    active_customers,
    generate_candidates,
    label_purchases,
)

#: the feature services the rankers are trained on, one model each (feature_repo.SERVICES)
FEATURE_SETS = ("tabular", "combined")


#: the service the training and evaluation frames are retrieved with: it holds every FEATURE_SETS service
RETRIEVED_SERVICE = "combined"


def training_spines(cutoff: pd.Timestamp, params: dict) -> list[pd.Timestamp]:
    """Spine times every ``spine_every_weeks`` from ``train_start`` (the calendar's first training
    moment), with label windows ending by the cutoff."""
    horizon = pd.Timedelta(weeks=int(params["horizon_weeks"]))
    times = pd.date_range(
        pd.Timestamp(params["train_start"]), cutoff - horizon, freq=f"{int(params['spine_every_weeks'])}W-MON"
    )
    return [pd.Timestamp(t) for t in times]


#: where the train stage writes its labelled spines (:class:`LabelledSpines`), relative to the root
SPINES_DIR = "data/training"

#: the keys of a ``train`` params dict that decide the labelled spines (with the candidate settings)
SPINE_KEYS = (
    "train_start",
    "horizon_weeks",
    "spine_every_weeks",
    "lookback_weeks",
    "max_customers_per_spine",
    "negative_share",
    "seed",
)


@dataclass
class LabelledSpines:
    """A training set before feature retrieval: the labelled candidate rows kept at each spine
    (spines in time order), how many candidates each spine drew (the negative sampling draws one
    random number per candidate, so a later build can continue the same random sequence), and the
    settings that made them (:func:`spine_key`)."""

    rows: pd.DataFrame
    drawn: list[tuple[pd.Timestamp, int]]
    key: dict

    def write(self, folder) -> None:
        """``rows.parquet`` (row order kept) and ``spines.json``: deterministic bytes (a DVC output)."""
        from pathlib import Path

        from stoffwechsel.data import io

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        io.write_parquet(self.rows.assign(_row=np.arange(len(self.rows))), folder / "rows.parquet", sort_by=["_row"])
        spines = [{"moment": f"{t.isoformat()}", "candidates_drawn": int(n)} for t, n in self.drawn]
        io.write_json({"key": self.key, "spines": spines}, folder / "spines.json")

    @classmethod
    def read(cls, folder) -> LabelledSpines:
        import json
        from pathlib import Path

        folder = Path(folder)
        meta = json.loads((folder / "spines.json").read_text(encoding="utf-8"))
        rows = pd.read_parquet(folder / "rows.parquet").drop(columns="_row")
        drawn = [(pd.Timestamp(s["moment"]), int(s["candidates_drawn"])) for s in meta["spines"]]
        return cls(rows, drawn, meta["key"])


def spine_key(params: dict, settings: CandidateSettings) -> dict:
    """What decides the labelled spines: :data:`SPINE_KEYS` of ``params`` and the candidate settings."""
    from dataclasses import asdict

    return {
        **{k: str(params.get(k)) for k in SPINE_KEYS},
        **{f"candidates.{k}": str(v) for k, v in sorted(asdict(settings).items())},
    }


def labelled_spines(
    stores: Stores,
    events: pd.DataFrame,
    cutoff: pd.Timestamp,
    params: dict,
    settings: CandidateSettings,
    earlier: LabelledSpines | None = None,
) -> LabelledSpines:
    """Candidates at every training spine, labelled, negatives sampled (fixed seed). At most
    ``max_customers_per_spine`` active customers per spine (a seeded sample where there are more;
    0: all), so that training cost stays flat as the data grows.

    ``earlier``: the spines of an earlier cutoff with the same :func:`spine_key` (the train
    stage's, for the recommend stage's refit): its spines are a prefix of these and are taken as
    they are, the random sequence advanced past them, so the result is the same as a build from
    scratch (tested), and only the spines after the earlier cutoff are computed. An ``earlier``
    with another key or other spines is not used."""
    horizon = pd.Timedelta(weeks=int(params["horizon_weeks"]))
    rng = np.random.default_rng(int(params["seed"]))
    cap = int(params.get("max_customers_per_spine") or 0)
    key = spine_key(params, settings)
    spines = training_spines(cutoff, params)
    if not spines:
        raise StageStop(
            f"too little history: no training moment from {pd.Timestamp(params['train_start']):%Y-%m-%d} "
            f"has its {int(params['horizon_weeks'])} weeks of outcomes before the cutoff {cutoff:%Y-%m-%d}"
        )
    frames, drawn = [], []
    prefix = earlier is not None and [t for t, _ in earlier.drawn] == spines[: len(earlier.drawn)]
    if prefix and earlier.key == key:
        frames.append(earlier.rows)
        drawn = list(earlier.drawn)
        for _, n in drawn:
            rng.random(n)  # the draws those spines made: the sequence continues where theirs ended
    for i, t in enumerate(spines):
        if i < len(drawn):
            continue
        if t + horizon > cutoff:
            raise ValueError(f"training spine {t} has a label window past the cutoff {cutoff}")
        customers = active_customers(events, t, int(params["lookback_weeks"]))
        if cap and len(customers) > cap:  # the training set stops growing with the shop (seeded sample)
            pick = np.random.default_rng([int(params["seed"]), i]).choice(len(customers), cap, replace=False)
            customers = customers[np.sort(pick)]
        cands = generate_candidates(stores, events, customers, t, settings)
        cands["label"] = label_purchases(cands, events, t, horizon)
        keep = (cands["label"] == 1) | (rng.random(len(cands)) < float(params["negative_share"]))
        frames.append(cands[keep])
        drawn.append((t, len(cands)))
    rows = pd.concat(frames, ignore_index=True)
    if len(rows) == 0 or int(rows["label"].sum()) == 0:
        raise StageStop(
            "no purchases to learn from: training needs purchases by active customers within "
            f"{int(params['horizon_weeks'])} "
            f"weeks of a training moment ({len(spines)} moments from {spines[0]:%Y-%m-%d}), the data has "
            f"{len(rows)} candidate pairs and none of them was bought"
        )
    return LabelledSpines(rows, drawn, key)


def retrieve_training_set(stores: Stores, spines: LabelledSpines) -> pd.DataFrame:
    """The labelled spines with their features retrieved point-in-time (the ranker's training frame)."""
    return tabular.retrieve(stores.all, spines.rows, RETRIEVED_SERVICE)


def build_training_set(
    stores: Stores, events: pd.DataFrame, cutoff: pd.Timestamp, params: dict, settings: CandidateSettings
) -> pd.DataFrame:
    """:func:`labelled_spines` at ``cutoff`` with features retrieved (:func:`retrieve_training_set`)."""
    return retrieve_training_set(stores, labelled_spines(stores, events, cutoff, params, settings))


def feature_columns(frame: pd.DataFrame, feature_set: str) -> list[str]:
    """The columns of a retrieved frame the model of a feature service reads: the service's inputs
    (sorted), then the candidate features both services share (purchase history and co-purchase,
    :data:`~stoffwechsel.model.candidates.CANDIDATE_FEATURES`), so the comparison isolates the
    embeddings."""
    if feature_set not in FEATURE_SETS:
        raise ValueError(f"unknown feature set {feature_set!r} (have: {FEATURE_SETS})")
    shared = [c for c in CANDIDATE_FEATURES if c in frame.columns]
    return feature_repo.service(feature_set).model_inputs(frame.columns) + shared


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
    if name == "buy it again":  # own purchases, most recent first, then recent popularity
        again = frame["times_bought_before"].astype(float).fillna(0).to_numpy() > 0
        days = frame["days_since_bought"].astype(float).fillna(0).to_numpy()
        rank_pop = pop.rank(method="first", ascending=True).to_numpy() / (len(pop) + 1)  # in (0, 1)
        return np.where(again, 2.0 + 1.0 / (1.0 + days), rank_pop)
    raise ValueError(f"unknown baseline {name!r}")


#: the non-learned rankings (ties in the best baseline's choice: this order)
BASELINES = ("popularity", "category popularity", "taste similarity", "buy it again")
