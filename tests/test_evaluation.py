"""Offline evaluation: every metric against hand-computed examples, a brute-force reference and
scikit-learn; bootstrap and paired bootstrap behaviour; segments; reporting helpers."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from stoffwechsel.model import evaluation as ev

L2 = math.log2


def recs_of(lists: dict[str, list[str]]) -> pd.DataFrame:
    """{customer: [item at rank 1, item at rank 2, ...]} -> recs frame."""
    rows = [(c, item, r) for c, items in lists.items() for r, item in enumerate(items, start=1)]
    return pd.DataFrame(rows, columns=["customer_id", "product_key", "rank"])


def truth_of(relevant: dict[str, list[str]]) -> pd.DataFrame:
    rows = [(c, item) for c, items in relevant.items() for item in items]
    return pd.DataFrame(rows, columns=["customer_id", "product_key"])


def row(frame: pd.DataFrame, customer: str) -> pd.Series:
    return frame.set_index("customer_id").loc[customer]


# ------------------------------------------------------------------------------------------
# per-customer metrics by hand
# ------------------------------------------------------------------------------------------


def test_worked_example_from_the_definitions():
    # recs [a, b, c, d, e], relevant {b, e, x}: hits at ranks 2 and 5, n_relevant = 3.
    pc = ev.per_customer_metrics(recs_of({"c1": list("abcde")}), truth_of({"c1": ["b", "e", "x"]}), ks=(1, 3, 5, 10))
    r = row(pc, "c1")
    assert r["n_relevant"] == 3 and r["n_recommended"] == 5
    # k = 5: precision 2/5, recall 2/3
    assert r["precision@5"] == pytest.approx(2 / 5)
    assert r["recall@5"] == pytest.approx(2 / 3)
    # DCG = 1/log2(2+1) + 1/log2(5+1); IDCG over min(5, 3) = 3 slots: 1/log2 2 + 1/log2 3 + 1/log2 4
    assert r["ndcg@5"] == pytest.approx((1 / L2(3) + 1 / L2(6)) / (1 + 1 / L2(3) + 1 / L2(4)))
    # AP: precision@2 = 1/2 at the first hit, precision@5 = 2/5 at the second; / min(5, 3)
    assert r["map@5"] == pytest.approx((1 / 2 + 2 / 5) / 3)
    assert r["hit_rate@5"] == 1
    # k = 3: one hit (b at 2): precision 1/3, recall 1/3, NDCG (1/log2 3) / IDCG(3), MAP (1/2)/3
    assert r["precision@3"] == pytest.approx(1 / 3)
    assert r["recall@3"] == pytest.approx(1 / 3)
    assert r["ndcg@3"] == pytest.approx((1 / L2(3)) / (1 + 1 / L2(3) + 1 / L2(4)))
    assert r["map@3"] == pytest.approx((1 / 2) / 3)
    assert r["hit_rate@3"] == 1
    # k = 1: a is not relevant, everything 0
    assert [r[f"{m}@1"] for m in ev.RANKING_METRICS] == [0, 0, 0, 0, 0]
    # k = 10, list of 5 (short list): the 5 empty slots are misses. precision 2/10; recall 2/3;
    # IDCG over min(10, 3) = 3 -> same NDCG and MAP as at k = 5.
    assert r["precision@10"] == pytest.approx(2 / 10)
    assert r["recall@10"] == pytest.approx(2 / 3)
    assert r["ndcg@10"] == pytest.approx(r["ndcg@5"])
    assert r["map@10"] == pytest.approx((1 / 2 + 2 / 5) / 3)


def test_fewer_relevant_items_than_k_and_a_perfect_list():
    pc = ev.per_customer_metrics(
        recs_of({"few": ["x", "y", "z"], "perfect": ["a", "b"]}),
        truth_of({"few": ["z"], "perfect": ["a", "b"]}),
        ks=(5,),
    )
    few = row(pc, "few")
    # one relevant item, found at rank 3: precision 1/5, recall 1/1
    assert few["precision@5"] == pytest.approx(1 / 5)
    assert few["recall@5"] == 1
    # DCG = 1/log2(4) = 0.5; IDCG over min(5, 1) = 1 slot = 1
    assert few["ndcg@5"] == pytest.approx(0.5)
    # AP = precision@3 = 1/3, divided by min(5, 1) = 1
    assert few["map@5"] == pytest.approx(1 / 3)
    perfect = row(pc, "perfect")
    # both relevant items on top: precision 2/5 (3 empty slots), recall 1, NDCG 1, MAP (1 + 1)/2
    assert perfect["precision@5"] == pytest.approx(2 / 5)
    assert (perfect["recall@5"], perfect["ndcg@5"], perfect["map@5"], perfect["hit_rate@5"]) == (1, 1, 1, 1)


def test_customers_without_relevant_items_and_without_recommendations():
    recs = recs_of({"no_rel": ["a", "b"], "hit": ["a"], "outsider": ["a"]})
    truth = truth_of({"hit": ["a"], "no_recs": ["c", "d"], "outsider": ["a"]})
    pc = ev.per_customer_metrics(recs, truth, ks=(5,), customers=["no_rel", "hit", "no_recs", "silent"])
    assert list(pc["customer_id"]) == ["no_rel", "hit", "no_recs", "silent"]  # population order
    # no relevant item: precision = 0/5 is defined; recall/NDCG/MAP/hit rate have no denominator
    for c in ("no_rel", "silent"):
        r = row(pc, c)
        assert r["precision@5"] == 0 and r["n_relevant"] == 0
        assert all(np.isnan(r[f"{m}@5"]) for m in ("recall", "ndcg", "map", "hit_rate"))
    # relevant items but no list: an empty list, all misses, all defined
    r = row(pc, "no_recs")
    assert r["n_relevant"] == 2 and r["n_recommended"] == 0
    assert [r[f"{m}@5"] for m in ev.RANKING_METRICS] == [0, 0, 0, 0, 0]
    # "outsider" is not in the population: ignored
    assert "outsider" not in set(pc["customer_id"])


def test_default_population_is_everyone_in_recs_or_truth_and_truth_is_deduplicated():
    recs = recs_of({"c1": ["a", "b"]})
    truth = truth_of({"c1": ["b", "b", "b"], "c2": ["a"]})  # b bought three times: one relevant item
    pc = ev.per_customer_metrics(recs, truth, ks=(2,))
    assert set(pc["customer_id"]) == {"c1", "c2"}
    r = row(pc, "c1")
    assert r["n_relevant"] == 1 and r["recall@2"] == 1
    # hit at rank 2: NDCG = (1/log2 3) / 1, MAP = (1/2) / 1
    assert r["ndcg@2"] == pytest.approx(1 / L2(3))
    assert r["map@2"] == pytest.approx(1 / 2)


def test_rank_gaps_count_as_empty_slots_and_row_order_does_not_matter():
    recs = pd.DataFrame({"customer_id": ["c", "c"], "product_key": ["a", "b"], "rank": [1, 3]})
    pc = ev.per_customer_metrics(recs, truth_of({"c": ["b"]}), ks=(2, 3))
    r = row(pc, "c")
    assert r["precision@2"] == 0 and r["hit_rate@2"] == 0
    # b sits in slot 3: NDCG@3 = 1/log2(4) = 0.5, MAP@3 = (1/3)/1
    assert r["ndcg@3"] == pytest.approx(0.5)
    assert r["map@3"] == pytest.approx(1 / 3)

    recs, truth = random_case(np.random.default_rng(3), 50)
    ks = (1, 5)
    a = ev.per_customer_metrics(recs, truth, ks=ks).sort_values("customer_id", ignore_index=True)
    shuffled = ev.per_customer_metrics(recs.sample(frac=1, random_state=1), truth.sample(frac=1, random_state=2), ks=ks)
    pd.testing.assert_frame_equal(a, shuffled.sort_values("customer_id", ignore_index=True))


@pytest.mark.parametrize(
    "recs, message",
    [
        (pd.DataFrame({"customer_id": ["c", "c"], "product_key": ["a", "b"], "rank": [1, 1]}), "same"),
        (pd.DataFrame({"customer_id": ["c", "c"], "product_key": ["a", "a"], "rank": [1, 2]}), "twice"),
        (pd.DataFrame({"customer_id": ["c"], "product_key": ["a"], "rank": [0]}), "starts at 1"),
        (pd.DataFrame({"customer_id": ["c"], "product_key": ["a"]}), "lacks"),
    ],
)
def test_malformed_recommendations_are_rejected(recs, message):
    with pytest.raises(ValueError, match=message):
        ev.per_customer_metrics(recs, truth_of({"c": ["a"]}), ks=(5,))


def test_population_with_another_customer_id_type_is_rejected():
    with pytest.raises(ValueError, match="population"):
        ev.per_customer_metrics(recs_of({"1": ["a"]}), truth_of({"1": ["a"]}), ks=(5,), customers=[1])


# ------------------------------------------------------------------------------------------
# against a brute-force reference and scikit-learn
# ------------------------------------------------------------------------------------------


def random_case(rng: np.random.Generator, n: int, n_items: int = 40, max_len: int = 12):
    lists, relevant = {}, {}
    for i in range(n):
        c = f"c{i:04d}"
        lists[c] = [f"p{j}" for j in rng.permutation(n_items)[: rng.integers(0, max_len + 1)]]
        relevant[c] = [f"p{j}" for j in rng.choice(n_items, size=rng.integers(0, 5), replace=False)]
    return recs_of(lists), truth_of(relevant)


def reference(recs: pd.DataFrame, truth: pd.DataFrame, k: int) -> pd.DataFrame:
    """Per-customer loop straight from the definitions (slow, obviously correct)."""
    out = {}
    customers = sorted(set(recs["customer_id"]) | set(truth["customer_id"]))
    relevant = {c: set(g) for c, g in truth.groupby("customer_id")["product_key"]}
    lists = {c: dict(zip(g["rank"], g["product_key"])) for c, g in recs.groupby("customer_id")}
    for c in customers:
        rel = relevant.get(c, set())
        ranked = lists.get(c, {})
        hits_at = [r for r in range(1, k + 1) if ranked.get(r) in rel]
        n_rel = len(rel)
        prec = len(hits_at) / k
        if n_rel == 0:
            out[c] = (prec, np.nan, np.nan, np.nan, np.nan)
            continue
        dcg = sum(1 / L2(r + 1) for r in hits_at)
        idcg = sum(1 / L2(i + 1) for i in range(1, min(k, n_rel) + 1))
        ap = sum((j + 1) / r for j, r in enumerate(hits_at)) / min(k, n_rel)
        out[c] = (prec, len(hits_at) / n_rel, dcg / idcg, ap, float(len(hits_at) > 0))
    return pd.DataFrame.from_dict(out, orient="index", columns=[f"{m}@{k}" for m in ev.RANKING_METRICS])


def test_vectorised_metrics_equal_a_brute_force_reference():
    recs, truth = random_case(np.random.default_rng(7), 300)
    ks = (1, 3, 5, 10)
    pc = ev.per_customer_metrics(recs, truth, ks=ks).set_index("customer_id").sort_index()
    for k in ks:
        ref = reference(recs, truth, k)
        pd.testing.assert_frame_equal(pc[ref.columns], ref.loc[pc.index], check_names=False, atol=1e-12)


def test_ndcg_agrees_with_scikit_learn_for_full_lists():
    from sklearn.metrics import ndcg_score

    rng = np.random.default_rng(11)
    n_items, k, n = 30, 10, 25
    lists = {f"c{i}": [f"p{j}" for j in rng.permutation(n_items)[:k]] for i in range(n)}
    relevant = {c: [f"p{j}" for j in rng.choice(n_items, size=rng.integers(1, 6), replace=False)] for c in lists}
    pc = ev.per_customer_metrics(recs_of(lists), truth_of(relevant), ks=(5, 10)).set_index("customer_id")
    for kk in (5, 10):
        for c, items in lists.items():
            # catalogue-wide vectors: gains 1 for relevant items, scores = k + 1 - rank for the list
            y_true = np.array([[f"p{j}" in relevant[c] for j in range(n_items)]], dtype=float)
            y_score = np.zeros((1, n_items))
            for r, item in enumerate(items, start=1):
                y_score[0, int(item[1:])] = k + 1 - r
            assert pc.loc[c, f"ndcg@{kk}"] == pytest.approx(ndcg_score(y_true, y_score, k=kk))


# ------------------------------------------------------------------------------------------
# list metrics
# ------------------------------------------------------------------------------------------

CATALOG = pd.DataFrame(
    {
        "product_key": list("abcdef"),
        "certified": [True, False, True, False, True, False],
        "popularity": [5, 3, 1, 0, 0, 1],  # total 10, N = 6 -> smoothed share (pop + 1) / 16
    }
)


def test_list_metrics_by_hand():
    recs = recs_of({"c1": ["a", "b", "c"], "c2": ["a", "d"]})  # c2's list is short
    lm = ev.list_metrics(recs, CATALOG, ks=(1, 3)).set_index("metric")
    # k = 1: slots a, a -> 1 distinct of 6; certified 2/2; novelty -log2(6/16) for both
    assert lm.loc["coverage@1", "value"] == pytest.approx(1 / 6)
    assert lm.loc["sustainable_share@1", "value"] == 1
    assert lm.loc["novelty@1", "value"] == pytest.approx(L2(16 / 6))
    # k = 3: slots a b c a d (5 filled; c2's empty third slot is no recommendation)
    assert lm.loc["coverage@3", "n_slots"] == 5
    assert lm.loc["coverage@3", "value"] == pytest.approx(4 / 6)  # {a, b, c, d}
    assert lm.loc["sustainable_share@3", "value"] == pytest.approx(3 / 5)  # a, c, a certified
    # -log2 of a: 6/16, b: 4/16, c: 2/16, a: 6/16, d: 1/16
    expected = (L2(16 / 6) + L2(16 / 4) + L2(16 / 2) + L2(16 / 6) + L2(16 / 1)) / 5
    assert lm.loc["novelty@3", "value"] == pytest.approx(expected)
    assert list(lm.index) == [
        "coverage@1",
        "coverage@3",
        "sustainable_share@1",
        "sustainable_share@3",
        "novelty@1",
        "novelty@3",
    ]


def test_list_metrics_reject_items_outside_the_catalogue():
    with pytest.raises(ValueError, match="missing from catalog"):
        ev.list_metrics(recs_of({"c": ["a", "zzz"]}), CATALOG, ks=(2,))


# ------------------------------------------------------------------------------------------
# bootstrap
# ------------------------------------------------------------------------------------------


def simulated(n: int, seed: int, p_hit: float = 0.3, k: int = 10, n_items: int = 200):
    """Customers whose lists contain one of their (1-3) relevant items with probability p_hit."""
    rng = np.random.default_rng(seed)
    lists, relevant = {}, {}
    for i in range(n):
        c = f"c{i:05d}"
        items = rng.permutation(n_items)
        rel = items[: rng.integers(0, 4)]
        lst = list(items[10 : 10 + k])
        if len(rel) and rng.random() < p_hit:
            lst[rng.integers(0, k)] = rel[0]
        lists[c] = [f"p{j}" for j in lst]
        relevant[c] = [f"p{j}" for j in rel]
    return recs_of(lists), truth_of(relevant)


@pytest.fixture(scope="module")
def pc_small():
    recs, truth = simulated(400, seed=1)
    return ev.per_customer_metrics(recs, truth, ks=(5, 10), customers=sorted(recs["customer_id"].unique()))


def test_bootstrap_point_estimate_denominators_and_interval(pc_small):
    ci = ev.bootstrap_ci(pc_small, n_boot=500, seed=0).set_index("metric")
    assert list(ci.columns) == ["value", "low", "high", "n_customers"]
    n_rel = int((pc_small["n_relevant"] > 0).sum())
    assert 0 < n_rel < len(pc_small)  # the population has customers without relevant items
    assert ci.loc["precision@5", "n_customers"] == len(pc_small)
    for m in ("recall@5", "ndcg@10", "map@5", "hit_rate@10"):
        assert ci.loc[m, "n_customers"] == n_rel
        assert ci.loc[m, "value"] == pytest.approx(pc_small[m].mean())  # pandas mean skips NaN
    assert (ci["low"] <= ci["value"]).all() and (ci["value"] <= ci["high"]).all()
    assert (ci["high"] > ci["low"]).all()


def test_bootstrap_is_deterministic_with_a_seed(pc_small):
    a = ev.bootstrap_ci(pc_small, n_boot=200, seed=5)
    pd.testing.assert_frame_equal(a, ev.bootstrap_ci(pc_small, n_boot=200, seed=5))
    assert not a["low"].equals(ev.bootstrap_ci(pc_small, n_boot=200, seed=6)["low"])


def test_bootstrap_interval_narrows_with_more_customers_and_matches_the_standard_error(pc_small):
    recs, truth = simulated(4000, seed=2)
    pc_large = ev.per_customer_metrics(recs, truth, ks=(5, 10))
    small = ev.bootstrap_ci(pc_small, n_boot=500).set_index("metric")
    large = ev.bootstrap_ci(pc_large, n_boot=500).set_index("metric")
    width_small, width_large = small["high"] - small["low"], large["high"] - large["low"]
    assert (width_large < width_small).all()
    # 4000 vs 400 customers: widths shrink by about sqrt(10) ~ 3.2
    assert 2.2 < (width_small / width_large).median() < 4.5
    # the percentile interval of a mean is close to +-1.96 standard errors
    x = pc_large["hit_rate@10"].dropna()
    se = x.std(ddof=0) / np.sqrt(len(x))
    assert width_large["hit_rate@10"] == pytest.approx(2 * 1.96 * se, rel=0.15)


def test_bootstrap_in_several_chunks(pc_small, monkeypatch):
    one = ev.bootstrap_ci(pc_small, n_boot=400, seed=0).set_index("metric")
    monkeypatch.setattr(ev, "_CHUNK_ENTRIES", 3 * len(pc_small) + 1)  # 3 replicates per chunk
    many = ev.bootstrap_ci(pc_small, n_boot=400, seed=0).set_index("metric")
    pd.testing.assert_series_equal(one["value"], many["value"])
    width_one, width_many = one["high"] - one["low"], many["high"] - many["low"]
    assert ((width_many / width_one) - 1).abs().max() < 0.3


def test_constant_metric_has_a_zero_width_interval():
    pc = pd.DataFrame({"customer_id": range(50), "precision@5": 0.2, "recall@5": [np.nan] * 10 + [1.0] * 40})
    ci = ev.bootstrap_ci(pc, n_boot=100).set_index("metric")
    assert tuple(ci.loc["precision@5", ["value", "low", "high"]]) == pytest.approx((0.2, 0.2, 0.2))
    assert tuple(ci.loc["recall@5", ["value", "low", "high", "n_customers"]]) == pytest.approx((1, 1, 1, 40))


# ------------------------------------------------------------------------------------------
# paired bootstrap
# ------------------------------------------------------------------------------------------


def improved(recs: pd.DataFrame, truth: pd.DataFrame, share: float, seed: int) -> pd.DataFrame:
    """Model b: model a's lists, with a relevant item put at rank 1 for ``share`` of the customers
    that have a relevant item not yet in their list."""
    rng = np.random.default_rng(seed)
    listed = set(zip(recs["customer_id"], recs["product_key"]))
    missing = truth[[(c, p) not in listed for c, p in zip(truth["customer_id"], truth["product_key"])]]
    candidates = missing.drop_duplicates("customer_id")
    chosen = candidates[rng.random(len(candidates)) < share].set_index("customer_id")["product_key"]
    b = recs.copy()
    at_top = (b["rank"] == 1) & b["customer_id"].isin(chosen.index)
    b.loc[at_top, "product_key"] = b.loc[at_top, "customer_id"].map(chosen)
    return b


def test_paired_bootstrap_detects_a_clearly_better_model():
    recs, truth = simulated(1000, seed=3)
    customers = sorted(recs["customer_id"].unique())
    a = ev.per_customer_metrics(recs, truth, ks=(5, 10), customers=customers)
    b = ev.per_customer_metrics(improved(recs, truth, 0.3, seed=4), truth, ks=(5, 10), customers=customers)
    assert (b[ev.metric_columns(b)].fillna(0) >= a[ev.metric_columns(a)].fillna(0)).all().all()  # b = a + hits
    d = ev.paired_bootstrap_diff(a, b, n_boot=500, seed=0).set_index("metric")
    assert d["b_better"].all() and not d["a_better"].any()
    assert (d["diff"] > 0).all() and (d["low"] > 0).all()
    assert d.loc["hit_rate@5", "diff"] == pytest.approx(b["hit_rate@5"].mean() - a["hit_rate@5"].mean())
    # the same comparison, other way round
    r = ev.paired_bootstrap_diff(b, a, n_boot=500, seed=0).set_index("metric")
    assert r["a_better"].all() and not r["b_better"].any()


def test_paired_bootstrap_claims_nothing_for_identical_models_or_one_lucky_customer(pc_small):
    d = ev.paired_bootstrap_diff(pc_small, pc_small.copy(), n_boot=300, seed=0)
    assert (d["diff"] == 0).all() and (d["low"] <= 0).all() and (d["high"] >= 0).all()
    assert not d["b_better"].any() and not d["a_better"].any()
    # b better for exactly one customer: a real but unproven difference
    b = pc_small.copy()
    i = b.index[b["n_relevant"] > 0][0]
    b.loc[i, ev.metric_columns(b)] = 1.0
    d = ev.paired_bootstrap_diff(pc_small, b, n_boot=300, seed=0)
    assert (d["diff"] >= 0).all() and not d["b_better"].any() and (d["low"] <= 0).all()


def test_paired_bootstrap_matches_customers_by_id(pc_small):
    recs, truth = simulated(400, seed=1)
    b_pc = ev.per_customer_metrics(
        improved(recs, truth, 0.3, seed=4), truth, ks=(5, 10), customers=list(pc_small["customer_id"])
    )
    d1 = ev.paired_bootstrap_diff(pc_small, b_pc, n_boot=200, seed=1)
    d2 = ev.paired_bootstrap_diff(pc_small, b_pc.sample(frac=1, random_state=0), n_boot=200, seed=1)
    pd.testing.assert_frame_equal(d1, d2)
    with pytest.raises(ValueError, match="same customers"):
        ev.paired_bootstrap_diff(pc_small, b_pc.iloc[1:], n_boot=10)


# ------------------------------------------------------------------------------------------
# segments
# ------------------------------------------------------------------------------------------


def test_segment_metrics_and_suppression(pc_small):
    ids = list(pc_small["customer_id"])
    has_rel = dict(zip(pc_small["customer_id"], pc_small["n_relevant"] > 0))
    with_rel = [c for c in ids if has_rel[c]]
    without = [c for c in ids if not has_rel[c]]
    # region: "tiny" 10 customers (< 20: suppressed), "mixed" 25 customers of whom 15 have
    # relevant items (precision shown, recall suppressed), "large" the rest
    tiny, mixed = ids[:10], with_rel[-15:] + without[-10:]
    region = {c: "large" for c in ids} | {c: "tiny" for c in tiny} | {c: "mixed" for c in mixed}
    segs = pd.DataFrame({"customer_id": ids, "segment_column": "region", "segment": [region[c] for c in ids]})
    segs = pd.concat([segs, pd.DataFrame({"customer_id": ids, "segment_column": "all", "segment": "all"})])
    sm = ev.segment_metrics(pc_small, segs, min_customers=20, n_boot=200, seed=0)
    assert list(sm.columns) == [
        "segment_column",
        "segment",
        "metric",
        "value",
        "low",
        "high",
        "n_customers",
        "suppressed",
    ]
    s = sm.set_index(["segment_column", "segment", "metric"])
    assert s.loc[("region", "tiny"), "suppressed"].all()
    assert s.loc[("region", "tiny"), "value"].isna().all()
    assert not s.loc[("region", "mixed", "precision@5"), "suppressed"]
    assert s.loc[("region", "mixed", "precision@5"), "n_customers"] == 25
    assert s.loc[("region", "mixed", "recall@5"), "suppressed"]
    assert s.loc[("region", "mixed", "recall@5"), "n_customers"] == 15
    large = pc_small[pc_small["customer_id"].map(region) == "large"]
    assert s.loc[("region", "large", "ndcg@10"), "value"] == pytest.approx(large["ndcg@10"].mean())
    # the "all" segment reproduces the overall bootstrap (same seed, same rows)
    overall = ev.bootstrap_ci(pc_small, n_boot=200, seed=0)
    np.testing.assert_allclose(
        s.loc[("all", "all"), ["value", "low", "high"]].to_numpy(), overall[["value", "low", "high"]].to_numpy()
    )
    with pytest.raises(ValueError, match="two segments"):
        ev.segment_metrics(pc_small, pd.concat([segs, segs.iloc[:1]]), n_boot=10)


# ------------------------------------------------------------------------------------------
# reporting helpers
# ------------------------------------------------------------------------------------------


def test_metrics_vs_k_and_dvc_metrics(pc_small):
    ci = ev.bootstrap_ci(pc_small, n_boot=100, seed=0)
    recs, _ = simulated(400, seed=1)
    catalog = pd.DataFrame({"product_key": [f"p{j}" for j in range(200)], "certified": True, "popularity": 1})
    tidy = ev.metrics_vs_k({"combined": ci, "tabular": ci, "lists": ev.list_metrics(recs, catalog, ks=(5, 10))})
    assert list(tidy.columns) == ["model", "metric", "k", "value", "low", "high"]
    assert set(tidy["k"]) == {5, 10} and tidy["k"].dtype == np.int64
    assert set(tidy.loc[tidy["model"] == "tabular", "metric"]) == set(ev.RANKING_METRICS)
    assert tidy.loc[tidy["model"] == "lists", "low"].isna().all()

    metrics = ev.to_dvc_metrics(ci, digits=4)
    entry = metrics["ndcg@5"]
    assert set(entry) == {"value", "low", "high", "n_customers"}
    assert type(entry["value"]) is float and type(entry["n_customers"]) is int
    assert entry["value"] == round(ci.set_index("metric").loc["ndcg@5", "value"], 4)
    assert json.dumps(metrics) == json.dumps(ev.to_dvc_metrics(ci.iloc[::-1], digits=4))  # order-free
    nan_frame = pd.DataFrame({"metric": ["recall@5"], "value": [np.nan]})
    assert ev.to_dvc_metrics(nan_frame) == {"recall@5": {"value": None}}
    diff = ev.to_dvc_metrics(ev.paired_bootstrap_diff(pc_small, pc_small, n_boot=20))
    assert diff["map@5"]["b_better"] is False
    segs = pd.DataFrame({"customer_id": pc_small["customer_id"], "segment_column": "all", "segment": "all"})
    nested = ev.to_dvc_metrics(
        ev.segment_metrics(pc_small, segs, n_boot=20), keys=("segment_column", "segment", "metric")
    )
    assert nested["all"]["all"]["precision@5"]["suppressed"] is False
    json.dumps(nested, allow_nan=False)
