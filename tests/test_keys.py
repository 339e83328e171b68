"""Composite key (product_id + season): every recycled ID resolves to the right version."""

from __future__ import annotations

import pandas as pd
import pytest

from conftest import ROOT
from stoffwechsel.data import keys
from stoffwechsel.data.contract import load_materials
from stoffwechsel.simulation.simulate import simulate_frames


@pytest.fixture(scope="module")
def materials():
    return load_materials(ROOT / "materials")


@pytest.fixture(scope="module")
def resolution(materials):
    return keys.resolve_transactions(materials.transactions, materials.products)


def _products(*rows):
    cols = ["product_id", "season", "price_eur", "sale_start", "sale_end"]
    df = pd.DataFrame(rows, columns=cols)
    df["sale_start"] = pd.to_datetime(df["sale_start"])
    df["sale_end"] = pd.to_datetime(df["sale_end"])
    return df


def _events(*rows):
    cols = [
        "event_id",
        "customer_id",
        "product_id",
        "season",
        "event_type",
        "event_time",
        "unit_price_eur",
        "return_of",
    ]
    df = pd.DataFrame(rows, columns=cols)
    df["event_time"] = pd.to_datetime(df["event_time"])
    return df


# SW-0001: a linen dress in SS24 (on clearance until 2024-10-10), a wool coat in AW24.
RECYCLED = _products(
    ("SW-0001", "SS24", 80.0, "2024-03-01", "2024-10-10"),
    ("SW-0001", "AW24", 150.0, "2024-09-01", "2025-02-28"),
)


def test_readable_key():
    assert keys.product_key("SW-1042", "AW25") == "SW-1042@AW25"
    split = keys.split_product_key(pd.Series(["SW-1042@AW25"]))
    assert split.iloc[0].tolist() == ["SW-1042", "AW25"]


def test_event_dated_in_season_b_never_joins_season_a():
    ev = _events(
        ("T1", "C1", "SW-0001", "", "browse", "2024-11-15 10:00", 150.0, ""),  # only AW24 on sale
        ("T2", "C1", "SW-0001", "", "browse", "2024-05-15 10:00", 80.0, ""),  # only SS24 on sale
    )
    res = keys.resolve_transactions(ev, RECYCLED)
    got = dict(zip(res.resolved["event_id"], res.resolved["product_key"]))
    assert got == {"T1": "SW-0001@AW24", "T2": "SW-0001@SS24"}
    assert set(res.resolved["resolved_by"]) == {keys.SINGLE_WINDOW}


@pytest.mark.parametrize(
    "price, expected",
    [
        (150.0, "SW-0001@AW24"),  # list price of the new version
        (80.0, "SW-0001@SS24"),  # list price of the old version (clearance browse)
        (56.0, "SW-0001@SS24"),  # 30% off: the cheapest version priced at or above it
        (200.0, "SW-0001@AW24"),  # no price fits: the in-season version (AW24 in October)
    ],
)
def test_overlap_rule_decides_and_is_counted(price, expected):
    ev = _events(("T1", "C1", "SW-0001", "", "purchase", "2024-10-01 12:00", price, ""))
    res = keys.resolve_transactions(ev, RECYCLED)
    assert res.resolved["product_key"].tolist() == [expected]
    assert res.counts[keys.OVERLAP_RULE] == 1


def test_season_given_wins_and_returns_take_their_purchase_version():
    ev = _events(
        ("T1", "C1", "SW-0001", "SS24", "purchase", "2024-10-01 12:00", 150.0, ""),
        ("T2", "C1", "SW-0001", "", "return", "2024-12-20 12:00", 150.0, "T1"),  # after SS24's window
    )
    res = keys.resolve_transactions(ev, RECYCLED)
    assert res.resolved["product_key"].tolist() == ["SW-0001@SS24", "SW-0001@SS24"]
    assert res.resolved["resolved_by"].tolist() == [keys.SEASON_GIVEN, keys.RETURN_OF_PURCHASE]


def test_unresolvable_rows_are_quarantined_with_reason_not_dropped():
    ev = _events(
        ("T1", "C1", "SW-0001", "", "browse", "2023-01-15 10:00", 80.0, ""),  # before any window
        ("T2", "C1", "SW-0001", "", "return", "2023-02-15 10:00", 80.0, "T1"),  # its purchase unresolved
        ("T3", "C1", "SW-0001", "", "browse", "2024-05-15 10:00", 80.0, ""),
    )
    res = keys.resolve_transactions(ev, RECYCLED)
    assert res.quarantine[["event_id", "reason"]].values.tolist() == [
        ["T1", keys.NOT_ON_SALE],
        ["T2", keys.RETURNED_PURCHASE_UNRESOLVED],
    ]
    assert res.counts["rows_read"] == 3 == len(res.resolved) + len(res.quarantine)


def test_every_recycled_id_in_the_materials_resolves(materials, resolution):
    seasons = materials.products.groupby("product_id")["season"].nunique()
    recycled = set(seasons[seasons > 1].index)
    assert len(recycled) >= 0.10 * len(seasons)
    on_recycled = materials.transactions["product_id"].isin(recycled)
    resolved = resolution.resolved[resolution.resolved["product_id"].isin(recycled)]
    assert len(resolved) == on_recycled.sum() > 0, "every event on a recycled ID resolves"
    assert resolution.quarantine.empty
    versions = set(keys.product_key(materials.products["product_id"], materials.products["season"]))
    assert set(resolution.resolved["product_key"]) <= versions
    assert resolution.counts[keys.OVERLAP_RULE] > 0, "the materials must exercise the overlap rule"


def test_resolved_plus_quarantined_equals_rows_read(materials, resolution):
    c = resolution.counts
    assert c["rows_read"] == len(materials.transactions)
    assert c["rows_read"] == sum(c[r] for r in keys.RULES) + c["quarantined"]


def test_inferred_dates_lie_in_the_chosen_versions_sale_window(materials, resolution):
    inferred = resolution.resolved[resolution.resolved["resolved_by"].isin([keys.SINGLE_WINDOW, keys.OVERLAP_RULE])]
    windows = materials.products.assign(
        product_key=keys.product_key(materials.products["product_id"], materials.products["season"])
    )
    joined = inferred.merge(windows[["product_key", "sale_start", "sale_end"]], on="product_key")
    day = joined["event_time"].dt.normalize()
    assert ((day >= joined["sale_start"]) & (day <= joined["sale_end"])).all()


def test_inference_matches_the_simulators_truth(resolution):
    """Measured against the simulator's true season: the rules are right almost always."""
    truth = simulate_frames(reveal_truth=True)["transactions.csv"].set_index("event_id")["true_season"]
    inferred = resolution.resolved[resolution.resolved["resolved_by"] != keys.SEASON_GIVEN]
    correct = inferred["season_resolved"].to_numpy() == truth.loc[inferred["event_id"]].to_numpy()
    assert correct.mean() >= 0.99
    overlap = (inferred["resolved_by"] == keys.OVERLAP_RULE).to_numpy()
    assert correct[overlap].mean() >= 0.85, f"overlap rule accuracy {correct[overlap].mean():.2f}"


def test_an_unconventional_season_is_resolved_by_its_sale_window_not_a_crash():
    """Issue 18: a products.csv season outside the SS26/AW25 form is kept by the contract (a
    finding); resolve used to crash parsing it (`int('<s')`). It has no calendar bounds, so only
    the sale window and the price decide, and it is never counted as a recycled id."""
    products = _products(
        ("SW-0001", "SS24", 80.0, "2024-03-01", "2024-10-10"),
        ("SW-0001", "<script>", 150.0, "2024-09-01", "2025-02-28"),
        ("SW-0002", "Winter ２５", 60.0, "2024-09-01", "2025-02-28"),
    )
    ev = _events(
        ("T1", "C1", "SW-0001", "", "purchase", "2024-12-01 12:00", 150.0, ""),  # only "<script>" on sale
        ("T2", "C1", "SW-0001", "", "browse", "2024-09-20 12:00", 80.0, ""),  # both on sale, price says SS24
        ("T3", "C1", "SW-0002", "", "browse", "2024-12-01 12:00", 60.0, ""),
    )
    res = keys.resolve_transactions(ev, products)
    assert res.resolved["product_key"].tolist() == ["SW-0001@<script>", "SW-0001@SS24", "SW-0002@Winter ２５"]
    start, end = keys.season_bounds(products["season"])
    assert start.isna().tolist() == [False, True, True] and end.isna().tolist() == [False, True, True]
    order = keys.season_order(products["season"])
    assert order.iloc[0] == 2 * 2024 and order.iloc[1:].isna().all()  # no order: never "recycled"
