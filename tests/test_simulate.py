"""The simulator: determinism, sizes, the format of docs/materials.md, and the planted effects
(recycled ids, legacy rows without season, returns, censored outcomes, drift, shift)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from stoffwechsel.config import DVC_TEMPLATE_FILE
from stoffwechsel.monitoring.shift import Shift, parse_shift
from stoffwechsel.simulation.catalogue import CATEGORIES, CERTIFICATIONS
from stoffwechsel.simulation.simulate import simulate, simulate_frames
from stoffwechsel.simulation.world import BASE_ROWS, EXPORT_TIME, SEASONS

ROOT = Path(__file__).resolve().parents[1]
PRODUCTS, CUSTOMERS, TRANSACTIONS, RECS = BASE_ROWS
EXPORT = pd.Timestamp(EXPORT_TIME)
SEASON_END = {code: pd.Timestamp(end) for code, _, end in SEASONS}


@pytest.fixture(scope="module")
def truth() -> dict[str, pd.DataFrame]:
    """Default-size tables with the truth columns."""
    return simulate_frames(reveal_truth=True)


def _drop_truth(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[[c for c in frame.columns if not c.startswith("true_")]]


def _segment_of(frames: dict[str, pd.DataFrame]) -> pd.Series:
    customers = frames[CUSTOMERS].set_index("customer_id")
    return frames[RECS].customer_id.map(customers.segment)


# ---------------------------------------------------------------------------- determinism, sizes


def test_same_seed_gives_identical_bytes_and_another_seed_differs(tmp_path):
    first = simulate(tmp_path / "a", seed=7, scale=0.2)
    simulate(tmp_path / "b", seed=7, scale=0.2)
    simulate(tmp_path / "c", seed=8, scale=0.2)
    for name in [*first, DVC_TEMPLATE_FILE]:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    for name in first:
        assert (tmp_path / "a" / name).read_bytes() != (tmp_path / "c" / name).read_bytes(), name


def test_default_row_counts_and_file_shape(tmp_path):
    counts = simulate(tmp_path)
    assert counts == BASE_ROWS
    for name, rows in counts.items():
        raw = (tmp_path / name).read_bytes()
        assert b"\r" not in raw and raw.endswith(b"\n")
        assert len(pd.read_csv(tmp_path / name, dtype=str, keep_default_na=False)) == rows
    assert yaml.safe_load((tmp_path / DVC_TEMPLATE_FILE).read_text())["stages"].keys() == {
        "profile",
        "features",
        "embeddings",
        "train",
        "monitor",
        "site",
    }


def test_scale_multiplies_every_row_count():
    frames = simulate_frames(scale=2)
    assert {name: len(frame) for name, frame in frames.items()} == {n: 2 * r for n, r in BASE_ROWS.items()}


def test_simulate_writes_the_frames_without_truth(tmp_path):
    simulate(tmp_path, scale=0.1)
    for name, frame in simulate_frames(scale=0.1, reveal_truth=True).items():
        written = pd.read_csv(tmp_path / name, dtype=str, keep_default_na=False)
        pd.testing.assert_frame_equal(written, _drop_truth(frame).astype(object), check_dtype=False)


def test_committed_materials_are_the_default_output(tmp_path):
    materials = ROOT / "materials"
    if not (materials / PRODUCTS).exists():
        pytest.skip("materials/ not generated yet")
    counts = simulate(tmp_path)
    for name in [*counts, DVC_TEMPLATE_FILE]:
        assert (materials / name).read_bytes() == (tmp_path / name).read_bytes(), f"materials/{name} is stale"


def test_invalid_scale_raises():
    with pytest.raises(ValueError, match="scale"):
        simulate_frames(scale=0)


# ---------------------------------------------------------------------------- format (docs/materials.md)


def test_products_follow_the_format(truth):
    p = truth[PRODUCTS]
    assert p.product_id.str.fullmatch(r"SW-\d{4,6}").all()
    assert not p.duplicated(["product_id", "season"]).any()
    assert set(p.season) == {code for code, _, _ in SEASONS}
    assert set(p.category) <= set(CATEGORIES)
    assert p.price_eur.str.fullmatch(r"\d+\.\d\d").all() and (p.price_eur.astype(float) > 0).all()
    certs = p.certifications[p.certifications != ""].str.split("|").explode()
    assert set(certs) <= set(CERTIFICATIONS)
    assert p.certifications.str.count(r"\|").max() <= 2
    words = p.description.str.split().str.len()
    assert words.between(25, 80).all(), words.describe()
    assert (p.name != "").all()
    assert (p.sale_end >= p.sale_start).all()
    starts = p.season.map({code: str(start) for code, start, _ in SEASONS})
    assert (p.sale_start >= starts).all()
    assert (pd.to_datetime(p.sale_start) <= p.season.map(SEASON_END)).all()
    clearance = pd.to_datetime(p.sale_end) > p.season.map(SEASON_END)
    assert 0.3 < clearance.mean() < 0.5
    overrun = (pd.to_datetime(p.sale_end) - p.season.map(SEASON_END)).dt.days[clearance]
    assert overrun.between(14, 42).all()


def test_customers_follow_the_format(truth):
    c = truth[CUSTOMERS]
    assert c.customer_id.str.fullmatch(r"C\d{5,7}").all() and c.customer_id.is_unique
    assert set(c.age_band) == {"18-24", "25-34", "35-44", "45-54", "55+"}
    assert set(c.region) == {"Berlin", "Hamburg", "München", "Köln", "Frankfurt", "Leipzig", "Other Germany", "Austria"}
    assert c.region.value_counts().index[0] == "Berlin"
    assert set(c.preferred_channel) == {"web", "app", "store"}
    assert set(c.loyalty_tier) == {"none", "silver", "gold"}
    assert set(c.sustainability_interest) == {"low", "medium", "high"}
    assert set(c.segment) == {
        "Eco Enthusiasts",
        "Trend Seekers",
        "Bargain Hunters",
        "Classic Professionals",
        "Occasional Shoppers",
    }
    before = (c.signup_date < "2024-03-01").mean()
    assert 0.3 < before < 0.6 and (c.signup_date > "2026-01-01").any()


def test_transactions_follow_the_format(truth):
    t, p, c = truth[TRANSACTIONS], truth[PRODUCTS], truth[CUSTOMERS]
    assert t.event_id.str.fullmatch(r"T\d{7,9}").all() and t.event_id.is_unique
    assert list(t.sort_values(["event_time", "event_id"]).index) == list(t.index)
    assert t.customer_id.isin(c.customer_id).all()
    versions = set(zip(p.product_id, p.season))
    given = t[t.season != ""]
    assert all(v in versions for v in zip(given.product_id, given.season))
    assert (t.true_season[t.season != ""] == given.season).all()
    assert t.event_time.str.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d").all()
    assert t.event_time.min() >= "2024-03-01" and t.event_time.max() < EXPORT_TIME.isoformat()
    signup = t.customer_id.map(c.set_index("customer_id").signup_date)
    assert (t.event_time.str[:10] >= signup).all()
    qty = t.quantity.astype(int)
    assert (qty >= 1).all() and (qty[t.event_type.isin(["browse", "wishlist"])] == 1).all()
    assert set(qty[t.event_type == "purchase"]) == {1, 2}
    assert t.unit_price_eur.str.fullmatch(r"\d+\.\d\d").all()
    assert set(t.channel) == {"web", "app", "store"}
    assert (t.return_of[t.event_type != "return"] == "").all()


def test_event_mix_and_activity(truth):
    t = truth[TRANSACTIONS]
    mix = t.event_type.value_counts(normalize=True)
    for kind, share in {"browse": 0.60, "wishlist": 0.13, "purchase": 0.21, "return": 0.06}.items():
        assert abs(mix[kind] - share) < 0.03, mix
    per_customer = t.customer_id.value_counts()
    assert per_customer.max() > 10 * per_customer.median()


def test_events_are_on_products_on_sale(truth):
    t, p = truth[TRANSACTIONS], truth[PRODUCTS]
    windows = p.set_index(["product_id", "season"])[["sale_start", "sale_end"]]
    shopped = t[t.event_type != "return"]
    w = windows.loc[list(zip(shopped.product_id, shopped.true_season))]
    day = shopped.event_time.str[:10].to_numpy()
    assert ((day >= w.sale_start.to_numpy()) & (day <= w.sale_end.to_numpy())).all()


def test_every_timestamp_exists_in_berlin(truth):
    """Wall times skipped by the spring DST change (02:00-03:00) never occur."""
    columns = {
        TRANSACTIONS: ["event_time"],
        RECS: ["served_at", "true_clicked_at", "true_purchased_at", "true_returned_at"],
    }
    for name, cols in columns.items():
        for col in cols:
            stamps = pd.to_datetime(truth[name][col].replace("", None)).dropna()
            localized = stamps.dt.tz_localize("Europe/Berlin", nonexistent="NaT", ambiguous=np.zeros(len(stamps), bool))
            assert localized.notna().all(), (name, col, stamps[localized.isna()].head())


# ---------------------------------------------------------------------------- planted structure


def test_product_ids_are_recycled_for_different_products(truth):
    p = truth[PRODUCTS]
    versions = p.product_id.value_counts()
    assert (versions > 1).mean() >= 0.10
    later = p.season.map({code: i for i, (code, _, _) in enumerate(SEASONS)})
    for s in range(1, len(SEASONS)):
        reused = p[later == s].product_id.isin(p[later < s].product_id).mean()
        assert 0.2 <= reused <= 0.3, (SEASONS[s][0], reused)
    recycled = (
        p[p.product_id.isin(versions[versions > 1].index)].assign(order=later).sort_values(["product_id", "order"])
    )
    prev = recycled.groupby("product_id").shift()
    pairs = recycled[prev.name.notna()]
    assert len(pairs) > 0
    assert (pairs.name != prev.name[pairs.index]).all()
    assert (pairs.category != prev.category[pairs.index]).all()
    assert (pairs.description != prev.description[pairs.index]).all()


def test_every_return_names_an_earlier_purchase_of_the_same_customer_and_product(truth):
    t = truth[TRANSACTIONS].set_index("event_id", drop=False)
    returns = t[t.event_type == "return"]
    assert len(returns) > 0
    bought = t.loc[returns.return_of]
    assert (bought.event_type == "purchase").all()
    assert (bought.customer_id.to_numpy() == returns.customer_id.to_numpy()).all()
    assert (bought.product_id.to_numpy() == returns.product_id.to_numpy()).all()
    assert (bought.true_season.to_numpy() == returns.true_season.to_numpy()).all()
    delay = pd.to_datetime(returns.event_time).to_numpy() - pd.to_datetime(bought.event_time).to_numpy()
    assert (delay >= np.timedelta64(1, "D")).all()
    assert returns.return_of.is_unique
    assert (returns.unit_price_eur.to_numpy() == bought.unit_price_eur.to_numpy()).all()


def test_clearance_purchases_are_discounted(truth):
    t, p = truth[TRANSACTIONS], truth[PRODUCTS]
    price = p.set_index(["product_id", "season"]).price_eur.astype(float)
    bought = t[t.event_type == "purchase"]
    list_price = price.loc[list(zip(bought.product_id, bought.true_season))].to_numpy()
    clearance = (pd.to_datetime(bought.event_time.str[:10]) > bought.true_season.map(SEASON_END)).to_numpy()
    paid = bought.unit_price_eur.astype(float).to_numpy()
    assert 0.02 < clearance.mean() < 0.2  # purchases mostly in the product's season
    assert (paid[clearance] < list_price[clearance]).all() and (paid[~clearance] == list_price[~clearance]).all()


def test_season_is_missing_on_a_fifth_of_transactions(truth):
    missing = (truth[TRANSACTIONS].season == "").mean()
    assert 0.15 <= missing <= 0.25


def test_some_seasonless_events_fall_where_two_versions_of_an_id_overlap(truth):
    t, p = truth[TRANSACTIONS], truth[PRODUCTS]
    seasonless = t[(t.season == "") & (t.event_type != "return")]
    on_sale = seasonless[["event_id", "product_id", "event_time"]].merge(p[["product_id", "sale_start", "sale_end"]])
    day = on_sale.event_time.str[:10]
    on_sale = on_sale[(day >= on_sale.sale_start) & (day <= on_sale.sale_end)]
    versions_on_sale = on_sale.groupby("event_id").size()
    assert (versions_on_sale >= 1).all() and len(versions_on_sale) == len(seasonless)
    assert (versions_on_sale >= 2).sum() >= 20


def test_hidden_tastes_drive_purchases(truth):
    """Purchased items match the customer's hidden tastes far better than browsed ones."""
    t, p, c = truth[TRANSACTIONS], truth[PRODUCTS], truth[CUSTOMERS]
    prod = p.set_index(["product_id", "season"]).loc[list(zip(t.product_id, t.true_season))]
    cust = c.set_index("customer_id").loc[t.customer_id]
    match = sum(prod[f"true_{a}"].to_numpy() == cust[f"true_{a}"].to_numpy() for a in ("style", "colour", "fabric"))
    by_type = pd.Series(match).groupby(t.event_type.to_numpy()).mean()
    assert by_type["purchase"] > by_type["browse"] + 0.2
    assert by_type["return"] < by_type["purchase"]
    for attribute in ("fabric", "style", "colour"):
        assert set(p[f"true_{attribute}"]) == set(c[f"true_{attribute}"])


# ---------------------------------------------------------------------------- production recommendations


def test_recommendations_follow_the_format(truth):
    r, p, c = truth[RECS], truth[PRODUCTS], truth[CUSTOMERS]
    assert r.rec_id.str.fullmatch(r"R\d{7,9}").all() and r.rec_id.is_unique
    assert list(r.sort_values(["served_at", "rec_id"]).index) == list(r.index)
    assert r.served_at.min() >= "2026-01-05" and r.served_at.max() < "2026-03-30"
    signup = r.customer_id.map(c.set_index("customer_id").signup_date)
    assert (signup < r.served_at.str[:10]).all()
    windows = p.set_index(["product_id", "season"]).loc[list(zip(r.product_id, r.season))]
    day = r.served_at.str[:10].to_numpy()
    assert ((day >= windows.sale_start.to_numpy()) & (day <= windows.sale_end.to_numpy())).all()
    assert set(r.position.astype(int)) == set(range(1, 11))
    score = r.score.astype(float)
    assert score.between(0, 1).all()
    by_position = score.groupby(r.position.astype(int)).mean()
    assert by_position[1] > by_position[5] > by_position[10]
    assert set(r.model_version) == {"prod-2.3.1", "prod-2.4.0"}
    assert (r.export_time == EXPORT_TIME.isoformat()).all()


def test_outcome_rates_are_plausible(truth):
    r = truth[RECS]
    before = r[r.served_at < "2026-03-01"]
    clicks = before.true_clicked_at != ""
    buys = before.true_purchased_at != ""
    returns = before.true_returned_at != ""
    assert 0.08 <= clicks.mean() <= 0.15
    assert 0.2 <= buys.sum() / clicks.sum() <= 0.4
    assert 0.15 <= returns.sum() / buys.sum() <= 0.35
    match = r.true_taste_match.astype(float)
    clicked = r.true_clicked_at != ""
    assert clicked[match >= 1.5].mean() > 2 * clicked[match == 0].mean()


def test_status_semantics_at_export(truth):
    r = truth[RECS]
    served = pd.to_datetime(r.served_at)
    for event, status, window in (("clicked_at", "click_status", "1D"), ("purchased_at", "purchase_status", "14D")):
        observed = r[event] != ""
        assert ((r[status] == "yes") == observed).all()
        open_at_export = served + pd.Timedelta(window) > EXPORT
        assert (r[status][~observed] == np.where(open_at_export[~observed], "pending", "no")).all()
        true_time = pd.to_datetime(r[f"true_{event}"].replace("", None))
        assert (r[event][true_time <= EXPORT] == r[f"true_{event}"][true_time <= EXPORT]).all()
        assert (r[event][~(true_time <= EXPORT)] == "").all()
        assert ((true_time - served)[true_time.notna()] <= pd.Timedelta(window)).all()
    assert (r.purchase_status == "pending").any() and (r.return_status == "pending").any()
    assert ((r.return_status == "not_purchased") == (r.purchase_status == "no")).all()
    assert (r.return_status[r.purchase_status == "pending"] == "pending").all()
    bought = r[r.purchase_status == "yes"]
    purchased = pd.to_datetime(bought.purchased_at)
    returned = bought.returned_at != ""
    assert ((bought.return_status == "yes") == returned).all()
    open_at_export = purchased + pd.Timedelta("30D") > EXPORT
    assert (bought.return_status[~returned] == np.where(open_at_export[~returned], "pending", "no")).all()
    assert (pd.to_datetime(bought.returned_at[returned]) - purchased[returned] <= pd.Timedelta("30D")).all()
    assert (r.purchased_at[r.clicked_at == ""] == "").all()


def _drop_after_launch(frames: dict[str, pd.DataFrame], segment: str, column: str) -> float:
    """1 - (mean of ``column`` after the SS26 launch / before) for one segment's recommendations."""
    r = frames[RECS]
    values = r[column].astype(float) if column.endswith("prob") else (r[column] != "").astype(float)
    mine = _segment_of(frames) == segment
    after = r.served_at >= "2026-03-01"
    return 1 - values[mine & after].mean() / values[mine & ~after].mean()


@pytest.fixture(scope="module")
def drift_frames() -> dict[bool, dict[str, pd.DataFrame]]:
    return {drift: simulate_frames(scale=5, drift=drift, reveal_truth=True) for drift in (True, False)}


def test_drift_hits_trend_seekers_much_harder_than_bargain_hunters(drift_frames):
    frames = drift_frames[True]
    trend = _drop_after_launch(frames, "Trend Seekers", "true_purchase_prob")
    bargain = _drop_after_launch(frames, "Bargain Hunters", "true_purchase_prob")
    assert trend > 0.4 and bargain < 0.15 and trend - bargain > 0.3, (trend, bargain)
    realised_trend = _drop_after_launch(frames, "Trend Seekers", "true_purchased_at")
    realised_bargain = _drop_after_launch(frames, "Bargain Hunters", "true_purchased_at")
    assert realised_trend > 0.3 and realised_trend > realised_bargain, (realised_trend, realised_bargain)
    r = frames[RECS]
    mis_keyed = r.true_mis_keyed == "yes"
    assert not mis_keyed[r.served_at < "2026-03-01"].any()
    assert (r.season[mis_keyed] == "SS26").all()


def test_without_drift_nothing_drops_after_launch(drift_frames):
    frames = drift_frames[False]
    for segment in ("Trend Seekers", "Bargain Hunters", "Eco Enthusiasts"):
        assert abs(_drop_after_launch(frames, segment, "true_purchase_prob")) < 0.2, segment
    assert (frames[RECS].true_mis_keyed == "no").all()


def test_drift_option_leaves_the_rest_unchanged(drift_frames):
    on, off = drift_frames[True], drift_frames[False]
    for name in (PRODUCTS, CUSTOMERS, TRANSACTIONS):
        pd.testing.assert_frame_equal(on[name], off[name])
    before = on[RECS].served_at < "2026-03-01"
    pd.testing.assert_frame_equal(on[RECS][before], off[RECS][before])


# ---------------------------------------------------------------------------- planted shift


def test_shift_lowers_the_click_rate_of_its_customers_after_start():
    start = "2026-02-01"
    shift = parse_shift("segment=Bargain Hunters", start, -0.5)
    assert shift == Shift("segment", "Bargain Hunters", date(2026, 2, 1), -0.5)
    plain = simulate_frames(scale=2, reveal_truth=True)
    shifted = simulate_frames(scale=2, shift=shift, reveal_truth=True)
    r0, r1 = plain[RECS], shifted[RECS]
    hit = ((_segment_of(plain) == "Bargain Hunters") & (r0.served_at >= start)).to_numpy()
    p0, p1 = r0.true_click_prob.astype(float), r1.true_click_prob.astype(float)
    assert np.allclose(p1[hit], p0[hit] * 0.5, atol=1e-4)
    assert (p1[~hit] == p0[~hit]).all()
    clicks0, clicks1 = (r0.true_clicked_at != "")[hit].mean(), (r1.true_clicked_at != "")[hit].mean()
    assert clicks1 < 0.75 * clicks0, (clicks0, clicks1)


def test_invalid_shift_raises():
    with pytest.raises(ValueError, match="shoe_size"):
        parse_shift("shoe_size=42", "2026-03-01", -0.5)
    with pytest.raises(ValueError, match="shoe_size"):
        Shift("shoe_size", "42", date(2026, 3, 1), -0.5)
    with pytest.raises(ValueError, match="never occurs"):
        simulate_frames(scale=0.1, shift=parse_shift("segment=Night Owls", "2026-03-01", -0.5))
    with pytest.raises(ValueError, match="COLUMN=VALUE"):
        parse_shift("segment", "2026-03-01", -0.5)
    with pytest.raises(ValueError, match="YYYY-MM-DD"):
        parse_shift("segment=Trend Seekers", "March", -0.5)


# ---------------------------------------------------------------------------- export style "real"


@pytest.fixture(scope="module")
def styled() -> tuple[dict[str, pd.DataFrame], dict[str, pd.DataFrame]]:
    """(native, real) frames of the default simulation, as simulate() writes them."""
    from stoffwechsel.simulation.export_style import apply_style

    native = simulate_frames()
    return native, apply_style(native, "real", 42)


def _parsed(values: pd.Series) -> pd.Series:
    return pd.to_datetime(values.where(values != ""), format="%Y-%m-%d %H:%M")


def test_native_style_is_the_default_output(tmp_path):
    simulate(tmp_path / "default", scale=0.1)
    simulate(tmp_path / "native", scale=0.1, style="native")
    for name in [*BASE_ROWS, DVC_TEMPLATE_FILE]:
        assert (tmp_path / "default" / name).read_bytes() == (tmp_path / "native" / name).read_bytes(), name


def test_real_style_is_deterministic_and_differs_from_native(tmp_path):
    for folder in ("a", "b"):
        simulate(tmp_path / folder, seed=7, scale=0.2, style="real")
    simulate(tmp_path / "native", seed=7, scale=0.2)
    for name in BASE_ROWS:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
        assert (tmp_path / "a" / name).read_bytes() != (tmp_path / "native" / name).read_bytes(), name
    with pytest.raises(ValueError, match="style"):
        simulate(tmp_path / "x", scale=0.1, style="fancy")


def test_real_style_keeps_the_rows_except_wishlists(styled):
    native, real = styled
    for name in (PRODUCTS, CUSTOMERS, RECS):
        assert len(real[name]) == len(native[name]) and list(real[name].columns) == list(native[name].columns)
    kept = native[TRANSACTIONS][native[TRANSACTIONS].event_type != "wishlist"].reset_index(drop=True)
    t = real[TRANSACTIONS]
    assert len(t) == len(kept) < len(native[TRANSACTIONS]) and "wishlist" not in set(t.event_type)
    for column in ("event_type", "quantity", "unit_price_eur", "channel"):
        assert (t[column] == kept[column]).all(), column
    for column in ("price_eur", "certifications", "tags", "name"):
        assert (real[PRODUCTS][column] == native[PRODUCTS][column]).all(), column
    for column in ("age_band", "region", "segment", "position", "score", "click_status", "purchase_status"):
        frame = CUSTOMERS if column in ("age_band", "region", "segment") else RECS
        assert (real[frame][column] == native[frame][column]).all(), column


def test_real_style_ids_are_plain_numbers_consistent_across_files(styled):
    native, real = styled
    p, c, t, r = real[PRODUCTS], real[CUSTOMERS], real[TRANSACTIONS], real[RECS]
    for frame, column in (
        (p, "product_id"),
        (c, "customer_id"),
        (t, "event_id"),
        (t, "customer_id"),
        (t, "product_id"),
        (r, "rec_id"),
        (r, "customer_id"),
        (r, "product_id"),
    ):
        assert frame[column].str.fullmatch(r"[1-9]\d*").all(), column
    assert not p.duplicated(["product_id", "season"]).any() and c.customer_id.is_unique
    assert t.event_id.is_unique and r.rec_id.is_unique
    # one native id <-> one plain id, in every file
    pairs = pd.concat(
        [
            pd.DataFrame({"native": native[name]["product_id"], "real": real[name]["product_id"]})
            for name in (PRODUCTS, RECS)
        ]
    ).drop_duplicates()
    assert pairs.native.is_unique and pairs.real.is_unique
    assert t.customer_id.isin(c.customer_id).all() and r.customer_id.isin(c.customer_id).all()
    versions = set(zip(p.product_id, p.season))
    given = t[t.season != ""]
    assert all(v in versions for v in zip(given.product_id, given.season))
    assert all(v in versions for v in zip(r.product_id, r.season))
    returns = t[t.event_type == "return"]
    assert len(returns) > 0 and returns.return_of.str.fullmatch(r"[1-9]\d*").all()
    linked = returns.merge(t, left_on="return_of", right_on="event_id", suffixes=("", "_p"))
    assert len(linked) == len(returns) and (linked.event_type_p == "purchase").all()
    assert (linked.customer_id == linked.customer_id_p).all() and (linked.product_id == linked.product_id_p).all()
    assert (linked.event_time > linked.event_time_p).all()


def test_real_style_calendar_is_whole_weeks_earlier_in_minutes(styled):
    from stoffwechsel.simulation.export_style import SHIFT_WEEKS

    native, real = styled
    t = real[TRANSACTIONS]
    assert t.event_time.str.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d").all()
    when = _parsed(t.event_time)
    kept = native[TRANSACTIONS][native[TRANSACTIONS].event_type != "wishlist"].reset_index(drop=True)
    before = pd.to_datetime(kept.event_time) - pd.Timedelta(weeks=SHIFT_WEEKS)
    assert ((before - when) >= pd.Timedelta(0)).all() and ((before - when) < pd.Timedelta(minutes=1)).all()
    assert (when.dt.dayofweek == pd.to_datetime(kept.event_time).dt.dayofweek).all()
    assert 5 <= 2026 - when.max().year <= 7 and (when.diff().dropna() >= pd.Timedelta(0)).all()
    assert set(real[PRODUCTS].season) == {"SS19", "AW19", "SS20", "AW20", "SS21"}
    r = real[RECS]
    for column in ("served_at", "clicked_at", "purchased_at", "returned_at", "export_time"):
        assert r[column][r[column] != ""].str.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d").all(), column
    for column in ("signup_date",):
        assert real[CUSTOMERS][column].str.fullmatch(r"\d{4}-\d\d-\d\d").all()
    assert (real[PRODUCTS].sale_end >= real[PRODUCTS].sale_start).all()
    # no wall time in a Europe/Berlin DST gap
    every = pd.concat([when, *(_parsed(r[c]) for c in ("served_at", "clicked_at", "purchased_at", "returned_at"))])
    every = every.dropna()
    assert every.dt.tz_localize("Europe/Berlin", nonexistent="NaT", ambiguous=True).notna().all()
    # outcomes inside their windows; statuses still consistent with the export time
    served, export = _parsed(r.served_at), _parsed(r.export_time)
    for ts, anchor, days in (
        ("clicked_at", served, 1),
        ("purchased_at", served, 14),
        ("returned_at", _parsed(r.purchased_at), 30),
    ):
        seen = _parsed(r[ts])
        ok = seen.isna() | ((seen >= anchor) & (seen <= anchor + pd.Timedelta(days=days)))
        assert ok.all(), ts
    for status, days in (("click_status", 1), ("purchase_status", 14)):
        still_open = served + pd.Timedelta(days=days) > export
        assert still_open[r[status] == "pending"].all() and not still_open[r[status] == "no"].any(), status
    signup = t.customer_id.map(real[CUSTOMERS].set_index("customer_id").signup_date)
    assert (t.event_time.str[:10] >= signup).all()


def test_real_style_categories_and_descriptions(styled):
    native, real = styled
    p = real[PRODUCTS]
    outside = set(p.category) - set(CATEGORIES)
    assert {"underwear", "sweaters", "pants", "bags"} <= outside
    assert p.groupby(native[PRODUCTS].category).category.nunique().max() <= 4
    empty = p.description == ""
    assert 0.02 < empty.mean() < 0.1
    words = p.description[~empty].str.split().str.len()
    assert words.max() < 25 and words.median() <= 15
    assert all(n.startswith(s) for n, s in zip(native[PRODUCTS].description[~empty], p.description[~empty]))


def test_cli_simulate_style(tmp_path):
    from typer.testing import CliRunner

    from stoffwechsel.cli import app

    result = CliRunner().invoke(app, ["simulate", "--out", str(tmp_path), "--scale", "0.1", "--style", "real"])
    assert result.exit_code == 0, result.output
    assert pd.read_csv(tmp_path / CUSTOMERS, dtype=str).customer_id.str.fullmatch(r"\d+").all()
    bad = CliRunner().invoke(app, ["simulate", "--out", str(tmp_path), "--style", "fancy"])
    assert bad.exit_code == 1 and bad.stderr.strip() == "error: --style must be one of native, real, got 'fancy'"
    helptext = CliRunner().invoke(app, ["simulate", "--help"]).output
    assert "--no-drift " in helptext and "<bool>" not in helptext
