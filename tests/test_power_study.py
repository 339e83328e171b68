"""The power study (issue 16): the monitoring measured against an oracle that knows the planted
group, outcome and onset. CI runs the `small` grid of params.yaml; the full grid's table in
docs/monitoring.md is checked against its committed results file."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from conftest import ROOT
from stoffwechsel import config
from stoffwechsel.studies import power_study

SETTINGS = config.load_params("power_study")


def _recs(n_before: int, n_after: int, p_before: float, p_after: float, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    served = pd.to_datetime(["2026-01-20"] * n_before + ["2026-03-01"] * n_after)
    clicked = np.r_[rng.random(n_before) < p_before, rng.random(n_after) < p_after]
    return pd.DataFrame(
        {
            "customer_id": "C1",
            "served_at": served,
            "click_status": np.where(clicked, "yes", "no"),
            "purchase_status": np.where(clicked & (rng.random(len(clicked)) < 0.3), "yes", "no"),
        }
    )


def test_the_oracle_sees_a_planted_drop_and_not_a_steady_rate():
    customers = pd.DataFrame({"customer_id": ["C1"], "segment": ["Trend Seekers"]})
    sc = power_study.Scenario("segment", "Trend Seekers", -0.5, 0.5, 1, 1.0)
    export = pd.Timestamp("2026-03-31 06:00")
    assert power_study.oracle_p_value(_recs(2000, 2000, 0.10, 0.05), customers, sc, export) < 1e-6
    assert power_study.oracle_p_value(_recs(2000, 2000, 0.10, 0.10), customers, sc, export) > 0.05
    # recommendations whose click window is still open at the export do not count (matured labels only)
    fresh = _recs(2000, 2000, 0.10, 0.0).assign(
        served_at=lambda d: d["served_at"].where(d["served_at"] < "2026-02-01", pd.Timestamp("2026-03-30 12:00"))
    )
    assert power_study.oracle_p_value(fresh, customers, sc, export) == 1.0


def test_an_alert_covers_its_group_and_the_crossings_that_contain_it():
    sc = power_study.Scenario("age_band", "25-34", -0.7, 0.5, 1, 1.0)
    assert power_study._covers({"segment_column": "age_band", "segment": "25-34"}, sc)
    assert power_study._covers({"segment_column": "segment_x_age_band", "segment": "Trend Seekers, 25-34"}, sc)
    assert not power_study._covers({"segment_column": "segment_x_age_band", "segment": "Trend Seekers, 18-24"}, sc)
    assert not power_study._covers({"segment_column": "all", "segment": "All customers"}, sc)


def test_the_onset_is_a_share_of_the_production_sample():
    from stoffwechsel.simulation.world import RECS_FIRST_DAY, RECS_LAST_DAY

    assert power_study.onset_day(0.0) == RECS_FIRST_DAY and power_study.onset_day(1.0) == RECS_LAST_DAY


@pytest.mark.slow
def test_small_grid_runs_and_measures_against_the_oracle():
    """The CI-sized grid: a -70% drop in a segment and in a loyalty tier, one no-drift seed. The
    oracle finds both drops (the yardstick works); the report states our rate next to it."""
    rows = power_study.run_study(SETTINGS, config.load_params("monitor"), "small")
    summary = power_study.summarise(rows, SETTINGS["goals"])
    cells = {c["column"]: c for c in summary["cells"]}
    assert set(cells) == set(SETTINGS["small"]["columns"])
    assert all(c["oracle_detection"] == 1.0 for c in cells.values())
    assert cells["segment"]["detection"] == 1.0  # a -70% segment drop is what the monitoring was built for
    assert summary["no_drift"]["seeds"] == len(SETTINGS["small"]["no_drift_seeds"])
    table = power_study.markdown_table(summary)
    assert "loyalty_tier = silver" in table and "No-drift seeds" in table


def test_docs_table_is_the_committed_full_study():
    results = ROOT / "reports" / "monitoring" / "power_study_full.json"
    summary = json.loads(results.read_text(encoding="utf-8"))
    assert summary["size"] == "full"
    doc = (ROOT / "docs" / "monitoring.md").read_text(encoding="utf-8")
    start, end = power_study.docs_markers("full")
    block = doc.split(start, 1)[1].split(end, 1)[0].strip()
    assert block == power_study.markdown_table(summary).strip()


def test_the_docs_and_the_readme_quote_the_committed_full_study():
    """The sentences that read the full study (docs/monitoring.md, "What it shows"; the README's
    "How much of what could be seen it sees") say what reports/monitoring/power_study_full.json
    holds: a re-run that changes a count fails here until the text is rewritten."""
    full = json.loads((ROOT / "reports" / "monitoring" / "power_study_full.json").read_text())
    n = power_study.goal_counts(full)
    s1, s2, s5 = (n[scale] for scale in (1, 2, 5))
    flat = lambda path: " ".join((ROOT / path).read_text(encoding="utf-8").split())  # noqa: E731
    docs, readme = flat("docs/monitoring.md"), flat("README.md")
    calm = full["no_drift"]
    assert calm["alerts"] == 0 and {k: v["seeds"] for k, v in calm["by_scale"].items()} == {"1": 20, "2": 20}
    assert f"0 of {calm['seeds']} no-drift histories" in readme
    assert (
        f"It is met in {s1['met']} of the {s1['reached']} such segment cells at scale 1, "
        f"{s2['met']} of {s2['reached']} at scale 2 and {s5['met']} of {s5['reached']} at scale 5" in docs
    )
    assert (
        f"finds the shift in at least half the runs in only {s1['family_reached']} of the {s1['reached']} segment "
        f"cells at scale 1, {s2['family_reached']} of {s2['reached']} at scale 2 and "
        f"{s5['family_reached']} of {s5['reached']} at scale 5" in docs
    )
    assert (
        f"reaches 0.8 of it in {s1['keeps_up']} of {s1['family_reached']} segment cells at scale 1, "
        f"{s2['keeps_up']} of {s2['family_reached']} at scale 2 and {s5['keeps_up']} of {s5['family_reached']}" in docs
    )
    assert (
        f"is met in {s1['met']} of {s1['reached']} cells at that size, {s2['met']} of {s2['reached']} at twice it "
        f"and {s5['met']} of {s5['reached']} at five times it" in readme
    )
    assert (
        f"in {s1['keeps_up']} of {s1['family_reached']}, {s2['keeps_up']} of {s2['family_reached']} and "
        f"{s5['keeps_up']} of {s5['family_reached']} cells" in readme
    )
    detecting = [r for r in full["runs"] if r["column"] and r["detected"]]
    not_led = sum(not r["lead_is_planted"] for r in detecting)
    assert f"In {not_led} of {len(detecting)} detecting runs the most urgent incident is not led" in readme
