"""Claim stability (issue 17): the logic on tiny per-customer frames; the real run is
`stoffwechsel claim-stability` (minutes, not a test)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from stoffwechsel.model import stability

CUSTOMERS = [f"C{i:03d}" for i in range(200)]


def per_customer(hit_share: float, seed: int) -> pd.DataFrame:
    """Hit rate / ndcg per customer with roughly ``hit_share`` hits (every customer has a purchase)."""
    rng = np.random.default_rng(seed)
    hits = (rng.random(len(CUSTOMERS)) < hit_share).astype(float)
    return pd.DataFrame({"customer_id": CUSTOMERS, "hit_rate@10": hits, "ndcg@10": hits * 0.5})


def frames(combined: float, tabular: float, popularity: float) -> dict[str, pd.DataFrame]:
    base = per_customer(tabular, 1)
    better = base.copy()
    extra = per_customer(combined - tabular, 2) if combined > tabular else base * 0
    if combined > tabular:  # the combined model hits where tabular did, and more
        better[["hit_rate@10", "ndcg@10"]] = np.maximum(
            base[["hit_rate@10", "ndcg@10"]], extra[["hit_rate@10", "ndcg@10"]]
        )
    return {
        "tabular": base,
        "combined": better,
        "popularity": per_customer(popularity, 3),
        "taste similarity": per_customer(popularity / 2, 4),
    }


def test_variants_are_the_committed_run_more_seeds_and_the_readme_changes():
    names = [v.name for v in stability.variants({"seed": 7, "max_iter": 200, "learning_rate": 0.05})]
    assert names == ["as committed (seed 7)", "seed 8", "seed 9", "max_iter 400", "learning_rate 0.1"]
    # a change equal to the committed value is no variant
    assert "max_iter 400" not in [
        v.name for v in stability.variants({"seed": 1, "max_iter": 400, "learning_rate": 0.05})
    ]


def test_a_claim_is_made_only_where_the_paired_interval_excludes_zero():
    strong = stability.claim_of(
        frames(0.6, 0.2, 0.1), n_boot=200, seed=0, baselines=("popularity", "taste similarity"), chosen_by="hit_rate@10"
    )
    assert strong["combined_beats_tabular_on"] == ["hit_rate@10", "ndcg@10"]
    assert strong["tabular_beats_combined_on"] == []
    assert strong["best_baseline"] == "popularity"
    assert strong["combined_beats_best_baseline_on"] == ["hit_rate@10", "ndcg@10"]
    assert strong["combined_minus_tabular"]["hit_rate@10"]["low"] > 0
    same = stability.claim_of(
        frames(0.2, 0.2, 0.5), n_boot=200, seed=0, baselines=("popularity",), chosen_by="hit_rate@10"
    )
    assert same["combined_beats_tabular_on"] == [] and same["tabular_beats_combined_on"] == []
    assert same["best_baseline_beats_combined_on"] == ["hit_rate@10", "ndcg@10"]


def row(wins, losses=(), base_wins=()):
    return {
        "name": "v",
        "changes": {},
        "combined_beats_tabular_on": list(wins),
        "tabular_beats_combined_on": list(losses),
        "best_baseline": "popularity",
        "combined_beats_best_baseline_on": [],
        "best_baseline_beats_combined_on": list(base_wins),
        "headline": {"combined": {"hit_rate@10": 0.2}, "tabular": {"hit_rate@10": 0.1}},
    }


@pytest.mark.parametrize(
    "rows, expected",
    [
        (
            [row(["a", "b"]), row(["b"]), row(["b", "c"])],
            "The claim holds in all 3 variants: combined beats tabular-only on b in every one",
        ),
        ([row(["a"]), row(["b"])], "on no single metric in every one"),
        (
            [row(["a"]), row([], ["x"])],
            "The claim is fragile: combined beats tabular-only on at least one metric in 1 of 2 variants",
        ),
        ([row([]), row([])], "No variant of 2 shows combined beating tabular-only"),
    ],
)
def test_the_summary_says_how_robust_the_claim_is(rows, expected):
    summary = stability.summarise(rows)
    assert expected in summary["statement"]
    assert summary["fewest_metrics"] <= summary["most_metrics"]
    assert summary["variants"] == len(rows)


def test_markdown_table_and_docs_block():
    result = {"variants": [row(["ndcg@5"]), row([], ["recall@20"], ["hit_rate@10"])]}
    result["summary"] = stability.summarise(result["variants"])
    text = stability.markdown(result)
    assert text.count("\n| v |") == 2 and "| ndcg@5 | none |" in text and "popularity better on 1" in text
    assert "Tabular-only beats combined on some metric in 1 of 2." in text
    doc = "intro\n<!-- claim-stability:start -->\nold\n<!-- claim-stability:end -->\nrest\n"
    updated = stability.update_docs(doc, text)
    assert updated.startswith("intro\n<!-- claim-stability:start -->\n| variant") and updated.endswith(
        "<!-- claim-stability:end -->\nrest\n"
    )
    assert "old" not in updated and stability.update_docs(updated, text) == updated
    with pytest.raises(ValueError, match="markers"):
        stability.update_docs("no markers", text)
