"""Issue 13: the calendar derived from the data, stages that stop with a one-line reason, open
vocabularies in the features, and honest model claims (small frames built here; no dvc)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from conftest import ROOT
from stoffwechsel import verification
from stoffwechsel.config import load_params
from stoffwechsel.data import timeline
from stoffwechsel.errors import StageStop
from stoffwechsel.features import tabular
from stoffwechsel.features.store import FeatureStore
from stoffwechsel.model import assessment, ranker
from stoffwechsel.site import pages

SPLIT = {"cutoff": "auto", "test_weeks": 8, "train_start": "auto", "min_history_weeks": 13}


# --- the calendar ---------------------------------------------------------------------------


def test_committed_materials_calendar():
    times = pd.read_csv(ROOT / "materials" / "transactions.csv", usecols=["event_time"])["event_time"]
    cal = timeline.derive_calendar(times, load_params("split", ROOT / "params.yaml"))
    # last event Monday 2026-03-30: the data ends at that Monday (its week is incomplete), minus 8 weeks
    assert (cal.cutoff, cal.test_end) == (pd.Timestamp("2026-02-02"), pd.Timestamp("2026-03-30"))
    # first event Friday 2024-03-01 + 13 weeks = Friday 2024-05-31 -> the next Monday
    assert cal.train_start == pd.Timestamp("2024-06-03")
    assert cal.cutoff_source == cal.train_start_source == timeline.DERIVED and cal.notes == ()
    assert cal.test_weeks == 8
    timeline.require_training_history(cal, 4)  # enough history: no stop


def test_calendar_of_two_weeks_in_2011_and_the_training_stop():
    times = pd.Series(pd.to_datetime(["2010-12-01 08:26", "2010-12-07 12:00", "2010-12-14 17:00"]))
    cal = timeline.derive_calendar(times, SPLIT)
    # shorter than the test weeks: the cutoff is the first Monday after the first event
    assert cal.cutoff == pd.Timestamp("2010-12-06") and cal.test_end == pd.Timestamp("2010-12-13")
    assert cal.train_start == pd.Timestamp("2011-03-07")
    assert any("shorter than the 8 test weeks" in n for n in cal.notes)
    with pytest.raises(StageStop) as stop:
        timeline.require_training_history(cal, 4)
    message = str(stop.value)
    assert "\n" not in message
    assert message.startswith(
        "too little history: training needs at least 18 weeks before the cutoff, the data has 0.6 "
    )


def test_calendar_fixed_dates_override_the_rules():
    times = pd.read_csv(ROOT / "materials" / "transactions.csv", usecols=["event_time"])["event_time"]
    cal = timeline.derive_calendar(times, {**SPLIT, "cutoff": "2025-12-01", "train_start": "2024-07-01"})
    assert (cal.cutoff, cal.test_end, cal.train_start) == (
        pd.Timestamp("2025-12-01"),
        pd.Timestamp("2026-01-26"),
        pd.Timestamp("2024-07-01"),
    )
    assert cal.cutoff_source == cal.train_start_source == timeline.FIXED
    assert timeline.Calendar.from_dict(json.loads(json.dumps(cal.as_dict()))) == cal
    with pytest.raises(ValueError, match=r"split.cutoff = 'soon'"):
        timeline.derive_calendar(times, {**SPLIT, "cutoff": "soon"})


def test_calendar_is_written_and_read_back(tmp_path):
    cal = timeline.derive_calendar(pd.Series(pd.to_datetime(["2024-01-03", "2024-09-30"])), SPLIT)
    timeline.write_calendar(cal, tmp_path)
    assert timeline.read_calendar(tmp_path) == cal
    with pytest.raises(StageStop, match="profile stage writes it"):
        timeline.read_calendar(tmp_path / "nowhere")


# --- one-line stops -------------------------------------------------------------------------


def test_stage_stop_is_one_line():
    assert str(StageStop("needs this,\n  has that")) == "needs this, has that"


def test_run_notebook_prints_the_stop_as_one_line(monkeypatch):
    from papermill.exceptions import PapermillExecutionError

    from stoffwechsel import cli, notebooks

    reason = "too little history: training needs at least 18 weeks before the cutoff, the data has 0.6"

    def stopped(stage):
        raise PapermillExecutionError(3, 3, "src", "StageStop", reason, ["---", "a long traceback"])

    monkeypatch.setattr(notebooks, "run_stage_notebook", stopped)
    result = CliRunner().invoke(cli.app, ["run-notebook", "train"])
    assert result.exit_code == 1
    assert result.output.strip() == f"error: stage 'train' stopped: {reason}"


# --- features: open vocabularies, and purchases only ----------------------------------------


def _shop(event_types=("purchase",), categories=("Candles", "Candles", "Christmas", "Home Decor", "Mugs")):
    """A small giftware shop: 5 products, 12 customers, events over 10 weeks."""
    n = len(categories)
    products = pd.DataFrame(
        {
            "product_id": [str(20000 + i) for i in range(n)],
            "season": "SS24",
            "category": list(categories),
            "price_eur": [2.5, 3.0, 7.5, 12.0, 4.25][:n],
            "certifications": ["FSC", "", "FSC|Fairtrade", "", ""][:n],
            "sale_start": pd.Timestamp("2024-01-01"),
            "sale_end": pd.Timestamp("2024-12-31"),
        }
    )
    customers = pd.DataFrame(
        {
            "customer_id": [str(17000 + i) for i in range(12)],
            "signup_date": pd.Timestamp("2023-06-01"),
            "age_band": "unknown",
            "region": "United Kingdom",
            "preferred_channel": "web",
            "loyalty_tier": "none",
            "sustainability_interest": "low",
            "segment": "all customers",
        }
    )
    rng = np.random.default_rng(3)
    rows = []
    for i in range(200):
        kind = event_types[i % len(event_types)]
        p = products.iloc[int(rng.integers(0, n))]
        rows.append(
            (
                f"E{i}",
                customers["customer_id"].iloc[int(rng.integers(0, 12))],
                f"{p['product_id']}@SS24",
                kind,
                pd.Timestamp("2024-01-08") + pd.Timedelta(hours=int(rng.integers(0, 24 * 70))),
                1,
                float(p["price_eur"]),
                ["web", "phone"][i % 2],
            )
        )
    events = pd.DataFrame(
        rows,
        columns=[
            "event_id",
            "customer_id",
            "product_key",
            "event_type",
            "event_time",
            "quantity",
            "unit_price_eur",
            "channel",
        ],
    )
    return products, customers, events


PARAMS = {
    "recent_weeks": 4,
    "popularity_weeks": 4,
    "price_band_thresholds_eur": [5, 10],
    "vocabulary_size": 2,
    "cutoff": pd.Timestamp("2024-03-04"),
}


def test_open_vocabularies_come_from_the_data(tmp_path):
    products, customers, events = _shop(("browse", "purchase"))
    store = FeatureStore(tmp_path / "fs")
    tabular.build_tabular_store(store, events, products, customers, PARAMS)
    vocab = tabular.vocabulary_of(store)
    # most frequent first, ties by name, the rest pooled as "other"
    assert vocab.categories == ("candles", "christmas", "other")
    assert vocab.certifications == ("fsc", "fairtrade")
    assert vocab.channels == ("phone", "web")
    columns = {f.name for f in store.get_view("customer_activity").fields}
    assert {"affinity_candles", "affinity_christmas", "affinity_other", "share_phone", "affinity_cert_fsc"} <= columns
    assert {"cert_fsc", "cert_fairtrade"} <= {f.name for f in store.get_view("product_catalog").fields}
    catalogue = tabular.feature_catalogue(store)
    assert "Share of the customer's interest that went to the category Candles." in set(catalogue["description"])
    # a Mugs product takes the customer's "other" affinity
    spine = pd.DataFrame(
        {
            "customer_id": customers["customer_id"].iloc[:3],
            "product_key": "20004@SS24",
            "event_timestamp": pd.Timestamp("2024-03-04"),
        }
    )
    out = tabular.retrieve(store, spine)
    assert np.allclose(out["category_affinity"].to_numpy(float), out["affinity_other"].to_numpy(float), equal_nan=True)
    # a different vocabulary is a different version of the view
    before = store.current_version("customer_activity")
    tabular.build_tabular_store(store, events, products, customers, {**PARAMS, "vocabulary_size": 3})
    assert store.current_version("customer_activity") != before


def test_purchases_only_features_missing_everywhere_are_dropped_with_a_note(tmp_path):
    products, customers, events = _shop(("purchase",))
    store = FeatureStore(tmp_path / "fs")
    tabular.build_tabular_store(store, events, products, customers, PARAMS)
    keys_ = products["product_id"] + "@SS24"
    spine = pd.DataFrame(
        [(c, k, pd.Timestamp("2024-02-19")) for c in customers["customer_id"] for k in keys_],
        columns=["customer_id", "product_key", "event_timestamp"],
    )
    frame = tabular.retrieve(store, spine)
    frame["label"] = np.arange(len(frame)) % 3 == 0
    frame["label"] = frame["label"].astype(int)
    params = {**load_params("train", ROOT / "params.yaml"), "max_iter": 10}
    model = ranker.train_ranker(frame, "tabular", params)
    dropped = {n.split(":")[0] for n in model.notes}
    assert {"wishlist_to_purchase_rate", "product_conversion_recent"} <= dropped
    assert not dropped & set(model.columns)
    assert all("left out of the model" in n for n in model.notes)
    assert np.isfinite(model.score(frame)).all()


# --- honest claims --------------------------------------------------------------------------


def _evaluation(popularity_wins: bool) -> dict:
    v = lambda x: {"value": x, "low": x - 0.04, "high": x + 0.04}  # noqa: E731
    metrics = ("hit_rate@5", "hit_rate@10")
    models = {
        "combined": {m: v(0.12) for m in metrics},
        "tabular": {m: v(0.08) for m in metrics},
        "popularity": {m: v(0.2 if popularity_wins else 0.05) for m in metrics},
        "category popularity": {m: v(0.04) for m in metrics},
        "taste similarity": {m: v(0.03) for m in metrics},
    }
    d = lambda x, lo, hi: {"diff": x, "low": lo, "high": hi}  # noqa: E731
    vs_best = (
        {m: {**d(-0.08, -0.12, -0.04), "combined_better": False, "baseline_better": True} for m in metrics}
        if popularity_wins
        else {m: {**d(0.07, 0.03, 0.1), "combined_better": True, "baseline_better": False} for m in metrics}
    )
    claim = assessment.honest_claim(["hit_rate@5"], [], "popularity", vs_best)
    return {
        "evaluated_customers": 1234,
        "test_window": {"start": "2026-02-02", "weeks": 8},
        "candidate_recall": 0.5,
        "models": models,
        "combined_minus_tabular": {
            "hit_rate@5": {**d(0.04, 0.01, 0.07), "combined_better": True, "tabular_better": False}
        },
        "best_baseline": {"name": "popularity", "chosen_by": "hit_rate@10"},
        "combined_minus_best_baseline": vs_best,
        "claim": claim,
    }


def test_the_claim_says_plainly_when_popularity_wins(tmp_path):
    ev = _evaluation(popularity_wins=True)
    assert ev["claim"]["statement"].startswith(
        "The best baseline (popularity) beats the combined model on every metric: hit_rate@10, hit_rate@5."
    )
    sentences = pages.offline_result_sentences(ev)
    assert (
        "A simple rule did better than our model: showing the most popular products found more of what customers "
        "bought in the top 5 and 10" in " ".join(sentences)
    )
    assert "1,234 customers" in sentences[0]
    # target 4 keeps the client's wording (combined vs tabular) but states the baseline comparison
    (tmp_path / "reports" / "metrics").mkdir(parents=True)
    (tmp_path / "reports" / "metrics" / "claims.json").write_text(json.dumps(ev))
    target = verification.target_combined_beats_tabular(tmp_path)
    assert target.status == verification.PASS
    assert target.evidence["best_baseline"] == "popularity"
    assert target.evidence["best_baseline_beats_combined_on"] == ["hit_rate@10", "hit_rate@5"]
    assert "beats the combined model" in target.evidence["statement"]


def test_the_claim_when_the_model_beats_the_best_baseline():
    ev = _evaluation(popularity_wins=False)
    text = " ".join(pages.offline_result_sentences(ev))
    assert "did better than our model" not in text
    assert "our model was measurably better on at least one measure of the top 5 and 10" in text
    assert (
        "The combined model beats the best baseline (popularity) on every metric: hit_rate@10, hit_rate@5."
        in ev["claim"]["statement"]
    )


def test_best_baseline_is_the_highest_on_the_headline_metric():
    intervals = pd.DataFrame(
        {
            "model": ["popularity", "category popularity", "taste similarity", "combined"],
            "metric": "hit_rate@10",
            "value": [0.1, 0.3, 0.2, 0.9],
        }
    )
    assert assessment.best_baseline(intervals) == "category popularity"


# --- verification target 2, owner numbers, quarantine words ----------------------------------


def test_target_2_passes_with_no_recycled_ids(tmp_path):
    (tmp_path / "reports" / "resolve").mkdir(parents=True)
    report = {
        "rows": {"rows_read": 10, "season given": 7, "single sale window": 2, "quarantined": 1},
        "recycled_ids": {
            "ids": 0,
            "ids_with_events": 0,
            "versions_with_events": 0,
            "events_resolved": 0,
            "events_quarantined": 0,
            "events_by_rule": {},
        },
    }
    (tmp_path / "reports" / "resolve" / "resolution.json").write_text(json.dumps(report))
    target = verification.target_composite_key(tmp_path)
    assert target.status == verification.PASS
    assert target.evidence["note"] == "no recycled ids in this data"


def test_owner_numbers_never_use_exponents():
    assert pages.number(3900.0) == "3,900" and pages.number(1234567) == "1,234,567"
    assert pages.number(0.01234) == "0.0123" and pages.number(12.345) == "12.3" and pages.number(float("nan")) == ""
    html = pages.table(pd.DataFrame({"rows": [3900, 15000], "share": [3.9e3 / 7, 0.5]}))
    assert "e+" not in html and "3,900" in html and "15,000" in html and "557" in html


def test_quarantine_reasons_are_grouped_in_business_words(tmp_path):
    (tmp_path / "reports" / "profile").mkdir(parents=True)
    (tmp_path / "reports" / "resolve").mkdir(parents=True)
    (tmp_path / "reports" / "profile" / "profile.json").write_text(json.dumps({"rows": {"products.csv": {"read": 3}}}))
    pd.DataFrame(
        {
            "file": ["transactions.csv"] * 3 + ["products.csv"],
            "row": [1, 2, 3, 4],
            "column": "x",
            "value": "v",
            "reason": ["not a timestamp", "not a timestamp", "not a date", "required value is empty"],
        }
    ).to_csv(tmp_path / "reports" / "profile" / "quarantine.csv", index=False)
    pd.DataFrame(
        {
            "event_id": ["1"],
            "product_id": ["2"],
            "event_time": ["x"],
            "reason": ["no version of product_id on sale on the event date"],
        }
    ).to_csv(tmp_path / "reports" / "resolve" / "quarantine.csv", index=False)
    (tmp_path / "reports" / "resolve" / "resolution.json").write_text("{}")
    _, reasons, _ = pages.data_quality(tmp_path)
    assert reasons.to_dict("records") == [
        {"file": "products.csv", "reason": "required value missing", "rows": 1},
        {"file": "transactions.csv", "reason": "date or time unreadable", "rows": 3},
        {"file": "transactions.csv", "reason": "product was not on sale on that day", "rows": 1},
    ]
