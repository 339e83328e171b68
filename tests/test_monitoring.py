"""Monitoring: metric definitions and label delay by hand, the delay evaluation, alerts on an
injected shift, silence without drift, the built-in drift, false-alarm control, suppression of
small groups, output files and business wording."""

from __future__ import annotations

import json
from datetime import date
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from conftest import ROOT
from stoffwechsel import glossary
from stoffwechsel.data.contract import load_materials
from stoffwechsel.domain import DIAGNOSIS_METRIC_IDS, PRIMARY_METRIC_IDS
from stoffwechsel.monitoring import estimates
from stoffwechsel.monitoring.alerts import ALERT_METRIC_IDS, FAMILIES, family_shares, scan_families
from stoffwechsel.monitoring.decomposition import shift_share
from stoffwechsel.monitoring.delays import GRIDS_S, fit_delay_curves
from stoffwechsel.monitoring.diagnosis import model_cause
from stoffwechsel.monitoring.estimates import METRIC_COLUMNS, window_metrics
from stoffwechsel.monitoring.params import MonitorParams
from stoffwechsel.monitoring.prepare import ALL, GROUPINGS, NEW, OTHER_GROUPS, RETURNING, Prepared, prepare
from stoffwechsel.monitoring.results import OUTPUT_FILES, OUTPUT_TABLES, load_outputs, write_outputs
from stoffwechsel.monitoring.run import run_monitoring
from stoffwechsel.monitoring.shift import Shift, inject_shift, outcome_statuses
from stoffwechsel.monitoring.wording import describe_group
from stoffwechsel.simulation.simulate import simulate_frames
from stoffwechsel.studies import backtest

KPIS = ("ctr", "purchases_per_100", "kept_per_100")
#: a test-mode shift of the kind params.yaml monitor.inject_* plants (there: -80%)
BARGAIN_DROP = Shift("segment", "Bargain Hunters", date(2026, 2, 16), -0.6)


# --------------------------------------------------------------------------------------------
# Shared runs (each run_monitoring on the committed materials takes about 1.5 s)
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def materials():
    return load_materials(ROOT / "materials")


@pytest.fixture(scope="module")
def default_run(materials):
    return run_monitoring(materials, {})


@pytest.fixture(scope="module")
def injected_run(materials):
    return run_monitoring(materials, {"inject_enabled": True})  # Bargain Hunters, -60% from 2026-02-16


def _alert_keys(result, column="segment", metrics=KPIS):
    return {
        (a["segment"], a["metric_id"])
        for a in result.alerts
        if a["segment_column"] == column and a["metric_id"] in metrics
    }


# --------------------------------------------------------------------------------------------
# A tiny hand example
# --------------------------------------------------------------------------------------------

EXPORT = "2026-03-31T06:00:00"


def _hand_materials():
    products = pd.DataFrame(
        {
            "product_id": ["SW-0001", "SW-0001", "SW-0002"],
            "season": ["SS25", "AW25", "SS26"],
            "category": ["tops", "knitwear", "dresses"],
            "price_eur": [50.0, 100.0, 20.0],
            "certifications": ["GOTS", "", "Fair Trade|GRS"],
        }
    )
    customers = pd.DataFrame(
        {
            "customer_id": ["C00001", "C00002"],
            "signup_date": pd.to_datetime(["2020-01-01", "2026-01-20"]),
            "segment": ["Eco Enthusiasts", "Trend Seekers"],
            "age_band": ["25-34", "18-24"],
            "region": ["Berlin", "Hamburg"],
            "preferred_channel": ["web", "app"],
            "loyalty_tier": ["none", "silver"],
            "sustainability_interest": ["high", "low"],
        }
    )
    rows = [  # rec, served, customer, product, season, clicked, purchased, returned
        (
            "R1",
            "2026-02-02T10:00:00",
            "C00001",
            "SW-0001",
            "AW25",
            "2026-02-02T10:10:00",
            "2026-02-03T10:00:00",
            "2026-02-10T10:00:00",
        ),
        ("R2", "2026-02-02T11:00:00", "C00002", "SW-0001", "AW25", "2026-02-02T11:30:00", "2026-02-07T11:00:00", ""),
        ("R3", "2026-02-03T09:00:00", "C00001", "SW-0001", "SS25", "", "", ""),
        ("R6", "2026-03-10T06:00:00", "C00002", "SW-0001", "AW25", "", "", ""),
        ("R7", "2026-03-27T06:00:00", "C00001", "SW-0002", "SS26", "2026-03-27T06:05:00", "2026-03-28T06:00:00", ""),
        ("R4", "2026-03-28T06:00:00", "C00001", "SW-0002", "SS26", "2026-03-28T06:20:00", "", ""),
        ("R5", "2026-03-28T06:00:00", "C00002", "SW-0002", "SS26", "", "", ""),
    ]
    recs = pd.DataFrame(
        rows,
        columns=[
            "rec_id",
            "served_at",
            "customer_id",
            "product_id",
            "season",
            "clicked_at",
            "purchased_at",
            "returned_at",
        ],
    )
    for c in ("served_at", "clicked_at", "purchased_at", "returned_at"):
        recs[c] = pd.to_datetime(recs[c].where(recs[c] != ""))
    recs["export_time"] = pd.Timestamp(EXPORT)
    recs["score"], recs["position"], recs["model_version"] = 0.5, 1, "prod-2.3.1"
    recs = outcome_statuses(recs, pd.Timestamp(EXPORT))
    return SimpleNamespace(products=products, customers=customers, recommendations=recs)


HAND_PARAMS = {"min_customers": 1, "reference_weeks": 1, "current_weeks": 1}


def test_hand_example_statuses_follow_the_windows():
    recs = _hand_materials().recommendations.set_index("rec_id")
    assert recs.loc["R5", "click_status"] == "no"  # click window (1 day) closed on 29 March
    assert recs.loc["R5", "purchase_status"] == "pending"  # purchase window (14 days) still open
    assert recs.loc["R7", "purchase_status"] == "yes" and recs.loc["R7", "return_status"] == "pending"
    assert recs.loc["R2", "return_status"] == "no" and recs.loc["R3", "return_status"] == "not_purchased"


def test_delay_curve_by_hand():
    prep = prepare(_hand_materials(), HAND_PARAMS)
    curves = fit_delay_curves(prep)
    # purchases: closed cohorts (served 14+ days before export) are R1, R2, R3, R6; delays 1 and 5 days
    p = curves["purchase"]
    assert p.events == 2 and p.cohort == 4
    G = len(GRIDS_S["purchase"]) - 1  # 96 bins: 48 hourly, 48 of 6 hours
    assert G == 96
    # F(3 days) = (events by 3 days + prior share of the 52 bins below 3 days) / (events + 1 prior event)
    assert p.cdf(3 * 86400) == pytest.approx((1 + 52 / G) / 3)
    assert p.cdf(4 * 86400) == pytest.approx((1 + 56 / G) / 3)
    assert p.cdf(0) == 0 and p.cdf(14 * 86400) == pytest.approx(1.0) and p.cdf(20 * 86400) == pytest.approx(1.0)
    # clicks: every click window closed except none; delays 10, 30, 5 and 20 minutes
    c = curves["click"]
    assert c.events == 4
    Gc = len(GRIDS_S["click"]) - 1
    assert c.cdf(15 * 60) == pytest.approx((2 + 15 / Gc) / 5)
    # returns: purchases with a closed 30-day window are R1 and R2; one return after 7 days
    assert curves["return"].events == 1 and curves["return"].cohort == 2


def test_metric_definitions_by_hand(monkeypatch):
    """Rates: ``observed`` uses only recommendations whose window closed; ``estimate`` uses all of
    them, dividing the events seen by the expected share of outcomes already in (completeness).
    With the prior switched off the estimate is exactly events / sum F(age)."""
    monkeypatch.setattr(estimates, "PRIOR_RECS", 1e-12)  # the module whose code reads it
    m = _hand_materials()
    prep = prepare(m, HAND_PARAMS)
    curves = fit_delay_curves(prep)
    metrics, *_ = window_metrics(
        prep, curves, MonitorParams.from_dict(HAND_PARAMS), kinds=("week",), groupings=("all",)
    )
    week = metrics[metrics["period"] == "week"].set_index(["window_start", "metric_id"])
    feb, mar = pd.Timestamp("2026-02-02"), pd.Timestamp("2026-03-23")
    v = lambda w, metric, col="estimate": week.loc[(w, metric), col]
    # week of 2 February: every outcome is in
    assert v(feb, "recs_shown") == 3
    assert v(feb, "ctr") == pytest.approx(200 / 3) and v(feb, "ctr", "completeness") == 1
    assert v(feb, "purchases_per_100") == pytest.approx(200 / 3)
    assert v(feb, "kept_per_100") == pytest.approx(100 / 3)  # R1 returned, R2 kept
    assert v(feb, "revenue_eur") == pytest.approx(200.0)  # two purchases of a 100 EUR version
    assert v(feb, "revenue_per_100") == pytest.approx(200 / 3 * 100)
    assert v(feb, "sustainable_share") == pytest.approx(100 / 3)  # only SS25 carries GOTS
    assert v(feb, "new_season_share") == pytest.approx(200 / 3)  # AW25 is current in February
    assert v(feb, "reused_id_share") == pytest.approx(200 / 3)  # SW-0001@AW25 reuses SS25's number
    assert v(feb, "purchases_per_100", "estimate_low") == v(feb, "purchases_per_100", "estimate_high")
    # week of 23 March: R7 (served 4 days before export, bought), R4 and R5 (3 days)
    F = curves["purchase"].cdf
    exposure = F(4 * 86400) + 2 * F(3 * 86400)
    assert v(mar, "purchases_per_100", "events") == 1
    assert v(mar, "purchases_per_100", "recs_matured") == 0
    assert np.isnan(v(mar, "purchases_per_100", "observed"))  # pending is "not yet", never "no"
    assert v(mar, "purchases_per_100", "completeness") == pytest.approx(exposure / 3)
    assert v(mar, "purchases_per_100") == pytest.approx(100 / exposure)  # 1 / sum F(age) per 100
    assert v(mar, "ctr") == pytest.approx(200 / 3) and v(mar, "ctr", "observed") == pytest.approx(200 / 3)
    assert v(mar, "new_season_share") == 100 and v(mar, "reused_id_share") == 0
    assert (
        v(mar, "purchases_per_100", "estimate_low")
        <= v(mar, "purchases_per_100")
        <= v(mar, "purchases_per_100", "estimate_high")
    )
    # customer groups: C00002 signed up 2026-01-20, so all their recommendations are "new customer" ones
    groups = prepare(m, HAND_PARAMS).recs.set_index("rec_id")["customer_type"]
    assert groups["R2"] == NEW and groups["R5"] == NEW and groups["R1"] == RETURNING


def test_prior_only_matters_while_outcomes_are_missing():
    """With the default prior a window whose outcomes are all in still shows exactly what was seen,
    and a window of pending recommendations without any purchase yet is not shown as zero."""
    m = _hand_materials()
    res = run_monitoring(m, HAND_PARAMS)
    w = res.weekly[(res.weekly["segment_column"] == "all") & (res.weekly["period"] == "week")]
    w = w.set_index(["window_start", "metric_id"])
    assert w.loc[(pd.Timestamp("2026-02-02"), "purchases_per_100"), "estimate"] == pytest.approx(200 / 3)
    assert w.loc[(pd.Timestamp("2026-03-23"), "purchases_per_100"), "estimate"] > 0


def test_shift_share_adds_up():
    w0, m0 = np.array([0.5, 0.5]), np.array([2.0, 4.0])
    w1, m1 = np.array([0.8, 0.2]), np.array([1.0, 4.0])
    mix, within = shift_share(w0, m0, w1, m1)
    assert (mix + within).sum() == pytest.approx((w1 * m1).sum() - (w0 * m0).sum())
    assert mix == pytest.approx([0.3 * 1.5, -0.3 * 4.0]) and within == pytest.approx([-1.0 * 0.65, 0.0])


# --------------------------------------------------------------------------------------------
# Label delay: cutting labels like an earlier export, and the evaluation
# --------------------------------------------------------------------------------------------


def test_cut_at_export_reproduces_the_simulator():
    truth = simulate_frames(seed=3, scale=0.3, reveal_truth=True)
    plain = backtest.materials_from_frames(simulate_frames(seed=3, scale=0.3)).recommendations
    cut = backtest.cut_at_export(backtest.materials_from_frames(truth).recommendations, EXPORT)
    cols = ["clicked_at", "purchased_at", "returned_at", "click_status", "purchase_status", "return_status"]
    pd.testing.assert_frame_equal(
        cut[cols].reset_index(drop=True), plain[cols].reset_index(drop=True), check_dtype=False
    )


def test_delay_evaluation_does_not_depend_on_the_number_of_processes():
    kwargs = dict(seeds=(5, 6), exports=backtest.DEFAULT_EVALUATION_EXPORTS[4::5], kinds=("week",))
    one, two = (
        backtest.evaluate_delay_estimation(jobs=1, **kwargs),
        backtest.evaluate_delay_estimation(jobs=2, **kwargs),
    )
    assert one["metrics"]["purchases_per_100"]["week"]["windows"] > 0
    assert json.dumps(one, sort_keys=True) == json.dumps(two, sort_keys=True)


def test_delay_evaluation_meets_coverage_target():
    report = backtest.evaluate_delay_estimation(
        seeds=(5,), exports=backtest.DEFAULT_EVALUATION_EXPORTS[4::3], kinds=("week",)
    )
    purchases = report["metrics"]["purchases_per_100"]["week"]
    assert purchases["immature_windows"] >= 20
    assert purchases["coverage_immature"] >= report["nominal"] - 0.05
    assert report["meets_target"]
    # the estimate is (nearly) unbiased where counting pending as "no" is not
    assert abs(purchases["bias_estimate_immature"]) < abs(purchases["bias_pending_as_no_immature"])
    json.dumps(report, allow_nan=False)


# --------------------------------------------------------------------------------------------
# Alerts: injected shift, no drift, the built-in drift
# --------------------------------------------------------------------------------------------


def test_inject_shift_thins_only_the_group_after_start(materials):
    before = materials.recommendations.sort_values("rec_id").reset_index(drop=True)
    after = inject_shift(before, materials.customers, BARGAIN_DROP, 7)
    after = after.sort_values("rec_id").reset_index(drop=True)
    group = set(materials.customers.loc[materials.customers["segment"] == "Bargain Hunters", "customer_id"])
    hit = before["customer_id"].isin(group) & (before["served_at"] >= "2026-02-16")
    pd.testing.assert_frame_equal(before[~hit], after[~hit])
    kept = after.loc[hit, "clicked_at"].notna().sum() / before.loc[hit, "clicked_at"].notna().sum()
    assert 0.2 < kept < 0.6
    assert not (after["purchased_at"].notna() & after["clicked_at"].isna()).any()
    assert set(after.loc[hit & after["clicked_at"].isna(), "click_status"]) <= {"no", "pending"}
    again = inject_shift(before, materials.customers, BARGAIN_DROP, 7)
    pd.testing.assert_frame_equal(after, again.sort_values("rec_id").reset_index(drop=True))


def test_inject_positive_shift_respects_the_export(materials):
    recs = materials.recommendations
    after = inject_shift(recs, materials.customers, Shift("segment", "Bargain Hunters", date(2026, 2, 16), 1.0), 7)
    export = recs["export_time"].max()
    for stamp, status in (("clicked_at", "click_status"), ("purchased_at", "purchase_status")):
        assert (after[stamp].dropna() <= export).all()
        assert ((after[status] == "yes") == after[stamp].notna()).all()
    assert after["clicked_at"].notna().sum() > recs["clicked_at"].notna().sum()


def test_injected_shift_alerts_the_right_group_and_window(default_run, injected_run):
    new = _alert_keys(injected_run) - _alert_keys(default_run)
    assert {s for s, _ in new} == {"Bargain Hunters"}, new  # other segments stay quiet
    bh = [
        a
        for a in injected_run.alerts
        if a["segment_column"] == "segment" and a["segment"] == "Bargain Hunters" and a["metric_id"] in KPIS
    ]
    # the onset is found within a week of the planted start (16 February), with a range around it
    assert bh and all(abs((pd.Timestamp(a["onset"]) - pd.Timestamp("2026-02-16")).days) <= 7 for a in bh)
    assert all(a["estimate"] < a["expected"] and a["change"] < -0.5 for a in bh)
    assert any(a["severity"] in ("critical", "warning") for a in bh)


def test_no_drift_materials_raise_no_alert():
    """`stoffwechsel simulate --no-drift` (the default seed): no alert, no incident."""
    m = backtest.materials_from_frames(simulate_frames(drift=False))
    res = run_monitoring(m, {})
    assert res.alerts == [] and res.incidents == [], [a["message"] for a in res.alerts]


def test_no_drift_false_alarms_stay_rare():
    """Over other no-drift histories false alarms are rare, not impossible: the stated setting allows
    about 1 in 20 histories with a false alarm (the power study counts 20 seeds). Seed 2 has one,
    on purchases kept of all customers (its first two weeks sold 4.4 per 100, the next four 1.8:
    chance at about 1 in 300 for a fixed split). Three seeds with more than one alert would be
    about a 1-in-100 event for a detector that keeps its rate."""
    alerts = []
    for seed in (1, 2, 3):
        res = run_monitoring(backtest.materials_from_frames(simulate_frames(seed=seed, drift=False)), {})
        alerts += res.alerts
    assert len(alerts) <= 1, [a["message"] for a in alerts]


def test_built_in_drift_flags_trend_seekers_most(default_run):
    # the built-in drift (mis-keyed new-season items) shows as an outcome alert explained by reused numbers
    explained = [a for a in default_run.alerts if a["metric_id"] in KPIS and a["cause"] == "reused_product_numbers"]
    assert any(a["severity"] in ("critical", "warning") and a["onset"] >= "2026-02-23" for a in explained)
    # ... told as one incident, explained by reused numbers, with its evidence (the reused items did worse)
    assert default_run.incidents and default_run.incidents[0]["cause"] == "reused_product_numbers"
    assert "of the others" in default_run.incidents[0]["cause_evidence"]
    assert all("reuse an old product number" in a["message"] for a in explained)
    # the reused share itself is a diagnosis, never an alert; it rose most for Trend Seekers
    assert not [a for a in default_run.alerts if a["metric_id"] in DIAGNOSIS_METRIC_IDS]
    w = default_run.weekly
    reused = w[(w["segment_column"] == "segment") & (w["metric_id"] == "reused_id_share") & (w["period"] == "current")]
    rise = (reused["estimate"] - reused["reference"]).set_axis(reused["segment"])
    assert rise.idxmax() == "Trend Seekers"
    # no alert on the business numbers of Bargain Hunters (5% mis-keyed only)
    assert not _alert_keys(default_run) & {("Bargain Hunters", m) for m in KPIS}
    # the per-segment table shows them hit differently (headline period: the last 4 weeks)
    w = default_run.weekly
    d = default_run.decomposition
    cur = d[(d["segment_column"] == "segment") & (d["metric_id"] == "purchases_per_100")].set_index("segment")
    change = cur["current_value"] / cur["reference_value"] - 1
    assert change["Trend Seekers"] < -0.5 and change["Bargain Hunters"] > -0.25
    ts_weeks = w[(w["segment"] == "Trend Seekers") & (w["metric_id"] == "ctr") & (w["period"] == "week")]
    before = ts_weeks[ts_weeks["window_start"] < "2026-03-01"]["estimate"].mean()
    after = ts_weeks[ts_weeks["window_start"] >= "2026-03-02"]["estimate"].mean()
    assert after < 0.7 * before


def test_benjamini_hochberg_over_the_change_scan(default_run):
    c = default_run.changes
    assert len(c) > 100 and set(c["metric_id"]) == set(ALERT_METRIC_IDS)
    weighted = np.minimum(c["p_value"] / c["weight"], 1.0)
    assert (c["q_value"] >= weighted - 1e-15).all()
    # four families in the owner's order of reading; the weights average 1 in each family and favour
    # clicks and purchases over the other metrics where a family holds both
    fam = scan_families(c["segment_column"], c["metric_id"])
    assert (c["family"].to_numpy() == fam).all()
    assert set(c.loc[c["segment_column"] == "all", "family"]) == {"all"}
    seg = c[c["segment_column"] == "segment"]
    assert set(seg.loc[seg["metric_id"].isin(PRIMARY_METRIC_IDS), "family"]) == {"segments"}
    assert set(seg.loc[~seg["metric_id"].isin(PRIMARY_METRIC_IDS), "family"]) == {"rest"}
    assert set(c.loc[c["segment_column"] == "segment_x_age_band", "family"]) == {"rest"}
    assert set(c.loc[(c["segment_column"] == "region") & (c["metric_id"] == "ctr"), "family"]) == {"columns"}
    for family in c["family"].unique():
        assert abs(c.loc[c["family"] == family, "weight"].mean() - 1) < 1e-9
    everyone = c[c["segment_column"] == "all"].groupby("metric_id")["weight"].first()
    assert everyone["ctr"] == everyone["purchases_per_100"] > everyone["kept_per_100"] == everyone["revenue_per_100"]
    flagged = c[c["alert"]]
    assert len(flagged) == len(default_run.alerts)
    params = MonitorParams()
    assert (flagged["q_value"] <= params.fdr).all() and (flagged["change"].abs() >= params.min_relative_effect).all()
    # each family spends its share of the false-alarm budget; the shares add up to 1
    shares = {f: getattr(params, name) for f, name in FAMILIES.items()}
    assert abs(sum(shares.values()) - 1) < 1e-12
    for family, part in shares.items():
        rows = (c["family"] == family).to_numpy()
        assert (
            rows.any()
            and (c.loc[rows, "family_share"] == part).all()
            and (c.loc[rows, "family_size"] == rows.sum()).all()
        )
        expected = np.minimum(1.0, stats.false_discovery_control(weighted[rows], method="bh") / part)
        np.testing.assert_allclose(c.loc[rows, "q_value"], expected)
    assert not set(c["metric_id"]) & set(DIAGNOSIS_METRIC_IDS)
    for a in default_run.alerts:
        assert a["onset_low"] <= a["onset"] <= a["onset_high"]
        assert a["change_low"] <= a["change"] <= a["change_high"]
    # the weekly comparisons stay as a description (no alert decided there)
    assert "alert" not in default_run.comparisons.columns


def test_an_empty_familys_share_goes_to_the_next():
    """A shop without a segment column: the segments' share goes to the other single columns; empty
    families at the end give theirs to the last family in use; the shares in use always add up to 1."""
    params = MonitorParams()
    fam = np.array(["all", "columns", "columns", "rest"], dtype=object)
    shares = family_shares(fam, params)
    assert shares == pytest.approx(
        {
            "all": params.fdr_share_all,
            "columns": params.fdr_share_segments + params.fdr_share_columns,
            "rest": params.fdr_share_rest,
        }
    )
    shares = family_shares(np.array(["all", "segments"], dtype=object), params)
    assert shares == pytest.approx({"all": params.fdr_share_all, "segments": 1 - params.fdr_share_all})
    assert family_shares(np.array(["all"], dtype=object), params) == pytest.approx({"all": 1.0})
    with pytest.raises(ValueError, match="add up to 1"):
        MonitorParams.from_dict({"fdr_share_rest": 0.2})


def test_small_groups_are_suppressed_everywhere(materials):
    res = run_monitoring(materials, {"min_customers": 60})
    for name in ("weekly", "daily", "comparisons"):
        table = getattr(res, name)
        assert (table["customers"] >= 60).all(), name
    shown = set(zip(res.weekly["segment_column"], res.weekly["segment"]))
    assert {(a["segment_column"], a["segment"]) for a in res.alerts} <= shown
    assert set(zip(res.changes["segment_column"], res.changes["segment"])) <= shown
    drift = res.drift[res.drift["segment_column"] != "all"]
    assert set(zip(drift["segment_column"], drift["segment"])) <= shown
    ref = res.weekly[res.weekly["period"] == "reference"]
    allowed = set(ref["segment"]) | {ALL, OTHER_GROUPS}
    assert set(res.decomposition["segment"]) <= allowed
    # e.g. Occasional Shoppers have too few customers in most weeks: some weeks must be missing
    os_weeks = res.weekly[(res.weekly["segment"] == "Occasional Shoppers") & (res.weekly["period"] == "week")]
    assert os_weeks["window_start"].nunique() < 12


def test_output_files_and_alert_fields(default_run, tmp_path):
    default_run.delay_evaluation = {"meets_target": True}
    written = write_outputs(default_run, tmp_path / "a")
    assert set(written) == set(OUTPUT_FILES)
    alerts = json.loads((tmp_path / "a" / "alerts.json").read_text())["alerts"]
    required = {
        "segment_column",
        "segment",
        "metric",
        "metric_id",
        "window_start",
        "window_end",
        "onset",
        "onset_low",
        "onset_high",
        "expected",
        "estimate",
        "change",
        "change_low",
        "change_high",
        "completeness",
        "check_first",
        "severity",
        "message",
        "p_value",
        "q_value",
    }
    assert alerts and all(required <= set(a) for a in alerts)
    assert {a["severity"] for a in alerts} <= {"critical", "warning", "info"}
    assert all(a["metric"] == glossary.METRICS[a["metric_id"]] for a in alerts)
    write_outputs(default_run, tmp_path / "b")
    for name in OUTPUT_FILES:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    weekly = pd.read_csv(tmp_path / "a" / "weekly_metrics.csv")
    assert {"completeness", "estimate_low", "estimate_high", "observed", "reference"} <= set(weekly.columns)


def test_pages_read_back_what_the_stage_wrote(default_run, tmp_path):
    write_outputs(default_run, tmp_path)
    back = load_outputs(tmp_path, default_run.params)
    assert back.alerts == default_run.alerts and back.summary == json.loads((tmp_path / "summary.json").read_text())
    assert (back.export_time, back.reference, back.current) == (
        default_run.export_time,
        default_run.reference,
        default_run.current,
    )
    for attr in OUTPUT_TABLES:
        # the written values (six decimals, infinite changes as empty): same columns, dtypes and rows
        computed, loaded = getattr(default_run, attr), getattr(back, attr)
        assert list(loaded.columns) == list(computed.columns) and len(loaded) == len(computed), attr
        assert dict(loaded.dtypes.astype(str)) == dict(computed.dtypes.astype(str)), attr
        for col in computed.select_dtypes("float").columns:
            a = np.sort(computed[col].replace([np.inf, -np.inf], np.nan).to_numpy(dtype=float))
            b = np.sort(loaded[col].to_numpy(dtype=float))
            np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-6, equal_nan=True, err_msg=f"{attr}.{col}")
    (tmp_path / "drift.csv").unlink()
    with pytest.raises(FileNotFoundError, match="drift.csv"):
        load_outputs(tmp_path, default_run.params)


def test_messages_are_in_business_language(default_run, injected_run):
    messages = [a["message"] for a in default_run.alerts + injected_run.alerts]
    assert messages
    for m in messages:
        assert glossary.technical_terms_in(m) == [], m
        assert "1 in 20 alerts like this is a false alarm" in m and "check first:" in m
        assert "sure" not in m and "the true change is probably between" in m and "since about" in m
    assert glossary.technical_terms_in("CTR fell, p-value 0.01, segment_column x") == [
        "CTR",
        "p-value",
        "segment_column",
    ]
    # the wrong phrasing of old (1 - q is not the chance that an alert is right) cannot come back
    assert glossary.technical_terms_in("we are 99% sure this is not chance") == ["% sure", "sure this is not chance"]


def test_glossary_covers_every_metric_and_column():
    table = glossary.glossary_table()
    assert table["label"].is_unique
    for metric_id in set(glossary.METRICS) | set(glossary.ALERT_METRICS):
        assert glossary.label(metric_id) in set(table["label"])
    for col in METRIC_COLUMNS:
        assert glossary.label(col)
    for raw in ("PSI", "Jensen-Shannon distance", "p-value", "NDCG (normalised discounted cumulative gain)"):
        assert table["term"].str.contains(raw, regex=False).any(), raw


def test_params_are_checked():
    with pytest.raises(KeyError, match="unknown monitoring parameter"):
        MonitorParams.from_dict({"min_customer": 20})
    assert MonitorParams.from_dict({"materials_dir": "materials"}).min_customers == 20


def test_every_customer_column_is_a_grouping(default_run):
    assert {"loyalty_tier", "sustainability_interest"} <= set(GROUPINGS)
    shown = set(default_run.weekly["segment_column"])
    assert {"loyalty_tier", "sustainability_interest"} <= shown
    for column in GROUPINGS:
        assert column in glossary.SEGMENT_COLUMN_LABELS
    assert describe_group("loyalty_tier", "silver") == "customers in the silver loyalty tier"
    assert describe_group("sustainability_interest", "high") == "customers with high interest in sustainability"


def test_reused_numbers_are_named_only_where_they_moved(injected_run):
    # Bargain Hunters' planted drop (their reused share barely moved) is not blamed on reused numbers
    bh = [a for a in injected_run.alerts if a["segment"] == "Bargain Hunters" and a["metric_id"] in KPIS]
    assert bh and all(a["cause"] != "reused_product_numbers" and "reuse an old" not in a["message"] for a in bh)
    for a in injected_run.alerts:
        assert (a["cause"] == "reused_product_numbers") == ("reuse an old product number" in a["message"])
        assert (a["cause"] == "model_update") == ("the model update" in a["message"])


def test_model_update_hint_needs_a_step_in_the_group(materials):
    prep = prepare(materials, MonitorParams())
    day = prep.rollouts[0][1]
    alert = pd.Series(
        {
            "segment_column": "all",
            "segment": ALL,
            "metric_id": "ctr",
            "period": "since",
            "window_start": day,
            "window_end": day + pd.Timedelta(days=20),
            "estimate": 5.0,
            "expected": 10.0,
        }
    )
    params = MonitorParams()
    # all customers' click rate did not step at the update on the committed materials: no model hint
    assert model_cause(alert, prep, params) is None
    # a group whose clicks vanish from the update's day on: the hint names the update with its evidence
    r = prep.recs.copy()
    after = (r["day"] >= day) & (r["segment"] == "Trend Seekers")
    r.loc[after, "click_seen"] = False
    stepped = Prepared(**{**prep.__dict__, "recs": r})
    ts = alert.copy()
    ts["segment_column"], ts["segment"] = "segment", "Trend Seekers"
    words = model_cause(ts, stepped, params)
    assert words and words.startswith("the model update that went live on") and "two weeks before" in words
    # the same step outside the alert's time is not named
    late = ts.copy()
    late["window_start"], late["window_end"] = day + pd.Timedelta(days=21), day + pd.Timedelta(days=35)
    assert model_cause(late, stepped, params) is None
