"""Privacy of the dashboard's output (issue 18): no group below the minimum size can be recovered by
subtraction (the Bargain Hunters 55+ case), the committed drift findings stay visible, and
customer ids never reach a page or an example."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest

from conftest import ROOT
from stoffwechsel import privacy, verification
from stoffwechsel.data.contract import load_materials
from stoffwechsel.monitoring.delays import fit_delay_curves
from stoffwechsel.monitoring.params import MonitorParams
from stoffwechsel.monitoring.prepare import ALL, GROUPINGS, OTHER_GROUPS, prepare
from stoffwechsel.monitoring.results import write_outputs
from stoffwechsel.monitoring.run import run_monitoring
from stoffwechsel.monitoring.windows import aggregate
from stoffwechsel.site import alert_blocks, pages

MIN = 20


@pytest.fixture(scope="module")
def materials():
    return load_materials(ROOT / "materials")


@pytest.fixture(scope="module")
def run(materials):
    return run_monitoring(materials, {"min_customers": MIN})


@pytest.fixture(scope="module")
def unsuppressed(materials):
    """Every window x group before any suppression (the truth a reader must not recover)."""
    params = MonitorParams.from_dict({"min_customers": MIN})
    prep = prepare(materials, params)
    curves = fit_delay_curves(prep)
    win = aggregate(prep, curves)
    return win.frame.assign(recs=win.sums[:, 0]), prep


def _relations(frame, prep):
    cust = prep.recs.drop_duplicates("segment_x_age_band")
    parts = dict(
        zip(cust["segment_x_age_band"].astype(str), zip(cust["segment"].astype(str), cust["age_band"].astype(str)))
    )
    return privacy.group_relations(
        frame[["segment_column", "segment"]],
        ("all", ALL),
        "segment_x_age_band",
        parts,
        overlapping=("customer_type",),
    )


def test_the_reported_case_is_real_in_the_committed_materials(unsuppressed):
    """Bargain Hunters in the last weeks: 242 recommendations, 55+ has 14 customers (hidden)."""
    frame, _ = unsuppressed
    cur = frame[frame["period"] == "current"].set_index(["segment_column", "segment"])
    assert cur.loc[("segment", "Bargain Hunters"), "recs"] == 242
    assert cur.loc[("segment_x_age_band", "Bargain Hunters, 55+"), "customers"] == 14


def test_bargain_hunters_55_plus_cannot_be_derived_by_subtraction(run, unsuppressed):
    frame, _ = unsuppressed
    truth = frame[frame["period"] == "current"].set_index(["segment_column", "segment"])
    w = run.weekly
    cur = w[(w["period"] == "current") & (w["metric_id"] == "recs_shown")]
    bh_total = cur[(cur["segment_column"] == "segment") & (cur["segment"] == "Bargain Hunters")]["recs"].sum()
    shown_parts = cur[
        (cur["segment_column"] == "segment_x_age_band") & cur["segment"].str.startswith("Bargain Hunters, ")
    ]
    assert "Bargain Hunters, 55+" not in set(shown_parts["segment"])
    # what subtraction gives now is a pool of hidden age groups, never a group below the minimum
    remainder = bh_total - shown_parts["recs"].sum()
    hidden = [
        k
        for k in truth.index
        if k[0] == "segment_x_age_band"
        and k[1].startswith("Bargain Hunters, ")
        and k[1] not in set(shown_parts["segment"])
    ]
    assert remainder == truth.loc[hidden, "recs"].sum() and remainder != 24  # 24 = the 55+ group alone
    assert truth.loc[hidden, "customers"].sum() >= MIN
    # the parent total stays (it is large enough)
    assert bh_total == 242


def test_no_hidden_group_is_derivable_in_any_window(run, unsuppressed):
    """Exact check over all sums between groups (linear algebra), window by window, and every sum's
    hidden parts together hold at least the minimum: weekly, daily and crossing tables."""
    frame, prep = unsuppressed
    relations = _relations(frame, prep)
    out = pd.concat([run.weekly, run.daily])
    out = out[out["metric_id"] == "recs_shown"]
    shown = set(zip(out["period"], out["window_start"], out["segment_column"], out["segment"]))
    checked = 0
    for (period, start), block in frame[frame["period"].isin(["day", "week", "reference", "current"])].groupby(
        ["period", "window_start"]
    ):
        keys = list(zip(block["segment_column"], block["segment"]))
        mask = np.array([(period, start, *k) in shown for k in keys])
        assert (block["customers"].to_numpy()[mask] >= MIN).all()
        assert privacy.derivable(keys, mask, relations) == [], (period, start)
        cust = dict(zip(keys, block["customers"]))
        for r in relations:
            if (period, start, *r.parent) not in shown:
                continue
            parts = [p for p in r.parts if p in cust]
            hidden = [p for p in parts if (period, start, *p) not in shown]
            if hidden and len(hidden) < len(parts):
                pool = sum(cust[p] for p in hidden) if r.disjoint else max(cust[p] for p in hidden)
                assert pool >= MIN, (period, start, r.parent, hidden)
        checked += 1
    assert checked > 50  # every day and week of the file, reference and current
    assert out["segment_column"].eq("all").any()  # the all-customers total is never hidden


def test_complement_safe_by_hand():
    """Totals 100; parts 50, 36, 14 (14 < 20): the smallest shown part is pooled with 14."""
    frame = pd.DataFrame(
        {
            "period": "week",
            "window_start": "w1",
            "segment_column": ["all", "age_band", "age_band", "age_band"],
            "segment": ["All", "a", "b", "c"],
            "customers": [100, 50, 36, 14],
        }
    )
    rel = privacy.group_relations(frame, ("all", "All"))
    shown = privacy.complement_safe(frame, 20, rel, protected=[("all", "All")])
    assert shown.tolist() == [True, True, False, False]
    # two small parts that together reach the minimum may both stay hidden without more pooling
    frame["customers"] = [100, 70, 15, 15]
    assert privacy.complement_safe(frame, 20, rel, protected=[("all", "All")]).tolist() == [True, True, False, False]
    frame["customers"] = [100, 60, 25, 15]
    assert privacy.complement_safe(frame, 20, rel, protected=[("all", "All")]).tolist() == [True, True, False, False]


def test_decomposition_never_leaves_a_small_rest(run, unsuppressed):
    """Total minus shown groups in the root-cause split: a pool of at least the minimum, or nothing."""
    frame, _ = unsuppressed
    d = run.decomposition
    for col, block in d.groupby("segment_column"):
        named = set(block["segment"]) - {ALL, OTHER_GROUPS}
        for period in ("reference", "current"):
            f = frame[(frame["period"] == period) & (frame["segment_column"] == col)]
            rest = f.loc[~f["segment"].isin(named), "customers"].sum()
            assert rest == 0 or rest >= MIN, (col, period, rest)


def test_committed_drift_findings_stay_visible(run, materials, tmp_path):
    """Targets 5 and 6 still pass on the suppressed outputs (written as the monitor stage does)."""
    injected = run_monitoring(materials, {"min_customers": MIN, "inject_enabled": True})
    write_outputs(injected, tmp_path / "reports/monitoring")
    t5 = verification.target_visible_alert(tmp_path, {"visible_in_first_viewport": True, "console_errors": []})
    assert t5.status == verification.PASS
    assert any(a["segment"] == "Bargain Hunters" and a["severity"] == "critical" for a in injected.alerts)
    write_outputs(run, tmp_path / "reports/monitoring")
    t6 = verification.target_segments_differ(tmp_path)
    assert t6.status == verification.PASS, t6.evidence
    assert t6.evidence["largest_drop"] == "Trend Seekers"


# --- customer ids --------------------------------------------------------------------------------


def test_customer_ids_in_and_withheld():
    ids = ["C00100", "C00200", "123"]
    assert privacy.customer_ids_in("unknown value 'C00100' and C002000", ids) == ["C00100"]
    assert privacy.withhold_ids(pd.Series(["C00100", "Berlin", "x C00200 y"]), ids).tolist() == [
        privacy.WITHHELD,
        "Berlin",
        privacy.WITHHELD,
    ]
    assert privacy.owner_safe_value("customers.csv", "region", "Berlin") is None
    assert privacy.owner_safe_value("transactions.csv", "customer_id", "C00999") is None
    assert privacy.owner_safe_value("products.csv", "category", "C00100 tops", ids) is None
    assert privacy.owner_safe_value("products.csv", "category", "tops", ids) == "tops"
    import re

    pattern = privacy.id_pattern(ids)
    assert re.search(pattern, "value C00100.") and not re.search(pattern, "C001000") and not re.search(pattern, "123")


def test_an_id_typed_into_a_region_never_reaches_the_pages_or_the_site_check(materials, tmp_path):
    """Customer ids in the region and age-band cells of customers.csv: the monitoring tables and the
    page builders show none of them, and the site's self-check (target 7) finds ids on a page."""
    src = tmp_path / "materials"
    shutil.copytree(ROOT / "materials", src)
    customers = pd.read_csv(src / "customers.csv", dtype=str, keep_default_na=False)
    ids = customers["customer_id"].tolist()
    customers.loc[:399, "region"] = ids[100]  # 400 customers: a group large enough to be shown
    customers.loc[400:402, "age_band"] = ids[101]
    customers.to_csv(src / "customers.csv", index=False)
    m = load_materials(src)
    res = run_monitoring(m, {"min_customers": MIN})
    html = "".join(pages.table(pages.group_table(res.weekly, col)) for col in GROUPINGS[1:])
    html += alert_blocks.alerts_html(res.alerts, "segments.html", len(res.alerts))
    text = html + res.weekly.to_csv() + res.drift.to_csv() + res.decomposition.to_csv() + str(res.summary)
    assert privacy.customer_ids_in(text, m.customers["customer_id"]) == []
    assert privacy.WITHHELD in set(res.weekly["segment"])  # the group is shown, its label withheld
    # the self-check: a page that shows an id fails target 7, and its evidence does not repeat the id
    site = tmp_path / "_site"
    site.mkdir()
    (site / "index.html").write_text(f"<html><body><p>unknown value '{ids[100]}'</p></body></html>", encoding="utf-8")
    t7 = verification.target_business_language(site, m.customers["customer_id"])
    assert t7.status == verification.FAIL and t7.evidence["customer_ids_found"] == [{"page": "index.html", "count": 1}]
    assert ids[100] not in str(t7.evidence)
