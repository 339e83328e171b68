"""The recommend stage: the model the evaluation chose, trained again up to the last day, writes
the top-N lists to serve; the Model page says which model serves and why."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import yaml

from conftest import ROOT
from stoffwechsel.model import assessment, candidates, serving
from stoffwechsel.model.assessment import BASELINE_CHOSEN_BY
from stoffwechsel.site import pages


def report(baseline_better=False, tabular_better=False) -> dict:
    k = BASELINE_CHOSEN_BY
    return {
        "best_baseline": {"name": "buy it again"},
        "combined_minus_best_baseline": {k: {"baseline_better": baseline_better, "combined_better": False}},
        "combined_minus_tabular": {k: {"tabular_better": tabular_better, "combined_better": False}},
    }


@pytest.mark.parametrize(
    ("baseline_better", "tabular_better", "model", "reason"),
    [
        (False, False, "combined", "no_better_model"),
        (False, True, "tabular", "tabular_better"),
        (True, False, "buy it again", "baseline_better"),
        (True, True, "buy it again", "baseline_better"),  # the strongest baseline first
    ],
)
def test_the_serving_model_is_the_one_nothing_beat(baseline_better, tabular_better, model, reason):
    chosen, why_code, why = serving.serving_choice(report(baseline_better, tabular_better))
    assert (chosen, why_code) == (model, reason)
    assert BASELINE_CHOSEN_BY in why
    sentence = pages.serving_sentence(
        {"model": chosen, "reason": why_code, "data_until": "2026-03-30", "top_n": 20, "customers": 1078}
    )
    assert "30 March 2026" in sentence and "1,078 customers" in sentence
    assert "@" not in sentence and "hit_rate" not in sentence and "_" not in sentence  # the owner's words
    assert chosen not in sentence  # the model in words, not its name in the files


@pytest.mark.parametrize("baseline_better", [False, True])
@pytest.mark.parametrize("tabular_better", [False, True])
def test_the_champion_alias_and_the_served_model_follow_one_rule(baseline_better, tabular_better):
    """MLflow's ``champion`` (train stage: the better of the two rankers) is the ranker the serving
    choice would take where no baseline won; it used to be chosen by a different rule (NDCG@10's
    point value, no interval), so the registry could name tabular-only the champion while the shop
    was served the combined model with nothing measurably better."""
    claims = report(baseline_better, tabular_better)
    champion = assessment.better_ranker(claims)
    assert champion == ("tabular" if tabular_better else "combined")
    served, _, _ = serving.serving_choice(claims)
    assert served == (claims["best_baseline"]["name"] if baseline_better else champion)
    train = "".join(
        "".join(c["source"]) for c in json.loads((ROOT / "notebooks" / "05_train.ipynb").read_text())["cells"]
    )
    assert "best = assessment.better_ranker(report)" in train
    assert "register_as=registered_model if name == best" in train


def test_the_serving_moment_is_the_end_of_the_last_day():
    """A real export's catalogue ends each sale window at the last sale it saw (the UCI year: all on
    its last day), so serving at midnight after it found no product on sale and no candidate."""
    t = serving.serving_moment(pd.Timestamp("2011-12-09 12:50"))
    assert t == pd.Timestamp("2011-12-09 23:59:59.999999")
    assert t.normalize() == pd.Timestamp("2011-12-09") and t >= pd.Timestamp("2011-12-09 23:59:59")


def test_the_stage_lists_exactly_the_train_keys_it_reads():
    """One fact, one place: the train keys the recommend notebook reads (serving.TRAIN_KEYS) are the
    ones its dvc.yaml entry declares, so a change to any of them (and only those) re-runs it."""
    stage = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]["recommend"]
    declared = [k for e in stage["params"] if isinstance(e, dict) for k in e["params.yaml"]]
    assert declared == [f"train.{k}" for k in serving.TRAIN_KEYS]
    assert "repeat_purchases" not in serving.TRAIN_KEYS  # the rule chosen by train is read from candidates.json


def test_the_committed_serving_report_matches_the_evaluation():
    served = json.loads((ROOT / serving.SERVING_REPORT).read_text())
    claims = json.loads((ROOT / "reports" / "metrics" / "claims.json").read_text())
    model, reason, why = serving.serving_choice(claims)
    assert (served["model"], served["reason"], served["why"]) == (model, reason, why)
    calendar = json.loads((ROOT / "reports" / "profile" / "calendar.json").read_text())
    assert served["data_until"] == calendar["data"]["last_event"][:10]
    assert served["customers"] > 0 and served["top_n"] > 0


@pytest.mark.pipeline
def test_the_served_lists_are_for_active_customers_on_sale_and_made_by_the_named_model(pipeline_clone):
    data = pipeline_clone / "data"
    lists = pd.read_parquet(data / "recommendations" / "recommendations.parquet")
    manifest = json.loads((data / "recommendations" / "manifest.json").read_text())
    assert list(lists.columns) == ["customer_id", "rank", "product_key", "product_id", "season", "source"]
    assert lists.equals(lists.sort_values(["customer_id", "rank"]).reset_index(drop=True))
    per_customer = lists.groupby("customer_id")["rank"]
    assert (per_customer.max() <= manifest["top_n"]).all()
    assert (per_customer.apply(lambda r: list(r) == list(range(1, len(r) + 1)))).all()
    assert not lists.duplicated(["customer_id", "product_key"]).any()
    assert set(lists["source"]) <= set(candidates.SOURCES)
    t = pd.Timestamp(manifest["served_at"])
    events = pd.read_parquet(data / "resolved" / "transactions.parquet")
    assert events["event_time"].max() <= t  # every event is at or before the serving moment
    active = candidates.active_customers(events, t, 26)
    assert set(lists["customer_id"]) <= set(active) and manifest["customers"] == lists["customer_id"].nunique()
    from stoffwechsel.features.store import FeatureStore

    stores = candidates.Stores(FeatureStore(data / "feature_store"), FeatureStore(data / "embedding_store"))
    assert set(lists["product_key"]) <= set(candidates.on_sale(stores, t)["product_key"])
    served = json.loads((pipeline_clone / serving.SERVING_REPORT).read_text())
    assert served == serving.serving_report(manifest)
    if manifest["model"] in ("combined", "tabular"):
        assert len(manifest["model_sha256"]) == 64
        assert set(manifest["feature_views"]) >= {"product_catalog", "customer_activity"}
