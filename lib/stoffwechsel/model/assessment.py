"""The offline evaluation at the cutoff and what it reports: both rankers and the baselines scored on
the same candidates in the test window (:func:`evaluate`), the metrics with paired bootstrap
intervals (:mod:`stoffwechsel.model.evaluation`), the claim that is honest about them
(:func:`honest_claim`: where combined beats tabular-only, and against the best baseline), the
files for people and for DVC (``reports/metrics/``) and the model registry's description.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from stoffwechsel.errors import StageStop
from stoffwechsel.features import tabular
from stoffwechsel.model.candidates import (
    CandidateSettings,
    Stores,
    merge_sources,
    purchases_between,
    recall_by_source,
    source_candidates,
)
from stoffwechsel.model.ranker import BASELINES, FEATURE_SETS, RETRIEVED_SERVICE, Ranker, baseline_scores, top_k


@dataclass
class Evaluation:
    customers: pd.Index  # evaluated: customers with >= 1 purchase in the test window
    truth: pd.DataFrame  # (customer_id, product_key) bought in the test window
    candidates: pd.DataFrame  # retrieved features of every candidate at the cutoff
    recommendations: dict[str, pd.DataFrame]  # model -> top-k lists
    per_customer: dict[str, pd.DataFrame]  # model -> per-customer metrics
    candidate_recall: float  # share of test purchases the candidates within the budget hold
    candidate_sources: dict  # recall per source, of the union and at the budget (candidates.json)


def evaluate(
    stores: Stores,
    events: pd.DataFrame,
    cutoff: pd.Timestamp,
    rankers: dict[str, Ranker],
    params: dict,
    settings: CandidateSettings,
) -> Evaluation:
    """Recommend at the cutoff for every customer who bought in the test window, with every
    ranker and baseline on the same candidates, and score the lists against the purchases."""
    from stoffwechsel.model import evaluation

    end = cutoff + pd.Timedelta(weeks=int(params["test_weeks"]))
    truth = purchases_between(events, cutoff, end)
    customers = pd.Index(sorted(truth["customer_id"].unique()), name="customer_id")
    if customers.empty:
        raise StageStop(
            f"no purchases in the test window: evaluation needs purchases from {cutoff:%Y-%m-%d} to {end:%Y-%m-%d}, "
            f"the data has none"
        )
    proposals, features = source_candidates(stores, events, customers, cutoff, settings)
    merged = merge_sources(proposals, settings.budget)
    cands = merged.merge(features, on=["customer_id", "product_key"], how="left").assign(event_timestamp=cutoff)
    cands = cands.sort_values(["customer_id", "product_key"]).reset_index(drop=True)
    frame = tabular.retrieve(stores.all, cands, RETRIEVED_SERVICE)
    k_max = max(params["ks"])
    scores = {name: r.score(frame) for name, r in rankers.items()}
    scores.update({name: baseline_scores(frame, name) for name in BASELINES})
    recs = {name: top_k(frame, s, k_max) for name, s in scores.items()}
    per_customer = {
        name: evaluation.per_customer_metrics(r, truth, ks=params["ks"], customers=customers)
        for name, r in recs.items()
    }
    sources = recall_by_source(proposals, merged, truth)
    return Evaluation(customers, truth, frame, recs, per_customer, sources["at_budget"], sources)


#: the list length of the headline numbers: the metrics file's per-model values and the metric
#: that picks the best baseline (the one the pages lead with)
HEADLINE_K = 10


BASELINE_CHOSEN_BY = f"hit_rate@{HEADLINE_K}"


#: where the train stage writes its results: the DVC metrics file (numbers only, short keys, so
#: that `dvc metrics diff` is a short table) and the report with every interval, the lists of
#: metrics behind the claim and its sentence (a plain output, read by the pages and verification)
METRICS_FILE = "reports/metrics/evaluation.json"


REPORT_FILE = "reports/metrics/claims.json"


def better_ranker(report: dict) -> str:
    """The trained ranker the evaluation report (claims.json) prefers: tabular-only where it beat
    the combined model on :data:`BASELINE_CHOSEN_BY` (paired 95% interval), else the combined
    model. One rule for both uses: the MLflow alias ``champion`` (train stage) and the choice of
    the model to serve (:func:`stoffwechsel.model.serving.serving_choice`, which puts a baseline
    before both where one won)."""
    tabular_won = report["combined_minus_tabular"].get(BASELINE_CHOSEN_BY, {}).get("tabular_better")
    return "tabular" if tabular_won else "combined"


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
    claim = honest_claim(better, worse, best, vs_best, metrics=list(paired))
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


def _rest(metrics, *named: list[str]) -> int:
    """How many of ``metrics`` none of the ``named`` lists holds."""
    return len(set(metrics) - set().union(*map(set, named)))


def _within_chance(n: int, other: str) -> str:
    return f"On the other {n} metric{'s' * (n != 1)} the difference from {other} is within chance."


def honest_claim(better: list[str], worse: list[str], best: str, vs_best: dict, metrics=None) -> dict:
    """The claim about the combined model against tabular-only AND against the best baseline,
    each from its paired 95% interval; where the baseline wins, the statement says so first.
    Every sentence is true of the lists it is made from: "the other metrics" are named only
    where there are some, "every metric" only where it is so (``metrics``: all compared, by
    default those of ``vs_best``)."""
    metrics = sorted(metrics if metrics is not None else vs_best)
    beats_base = sorted(m for m, v in vs_best.items() if v["combined_better"])
    base_wins = sorted(m for m, v in vs_best.items() if v["baseline_better"])
    every = lambda wins, losses: not losses and not _rest(metrics, wins)  # noqa: E731
    parts = []
    if base_wins:
        parts.append(
            f"The best baseline ({best}) beats the combined model on "
            f"{'every metric: ' if every(base_wins, beats_base) else ''}{', '.join(base_wins)}."
        )
    if better:
        parts.append(
            "Tabular + embedding features beat tabular-only on "
            f"{'every metric: ' if every(better, worse) else ''}{', '.join(better)}."
        )
    elif worse:
        parts.append("No metric shows tabular + embedding features beating tabular-only.")
    else:
        parts.append("No metric shows a difference between tabular + embedding features and tabular-only.")
    if worse:
        parts.append(
            "Tabular-only beats tabular + embedding features on "
            f"{'every metric: ' if every(worse, better) else ''}{', '.join(worse)}."
        )
    if (better or worse) and _rest(metrics, better, worse):
        parts.append(_within_chance(_rest(metrics, better, worse), "tabular-only"))
    if beats_base:
        parts.append(
            f"The combined model beats the best baseline ({best}) on "
            f"{'every metric: ' if every(beats_base, base_wins) else ''}{', '.join(beats_base)}."
        )
    elif not base_wins:
        parts.append(f"No metric shows a difference between the combined model and the best baseline ({best}).")
    if (beats_base or base_wins) and _rest(metrics, beats_base, base_wins):
        parts.append(_within_chance(_rest(metrics, beats_base, base_wins), f"the best baseline ({best})"))
    parts.append("(Paired 95% bootstrap intervals of the differences.)")
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
