"""The production recommendation log: a random sample of served slates from the tabular
production model (it does not know the hidden tastes), outcomes within the attribution windows
censored at the export (late labels are ``pending``), the built-in drift (from the SS26 launch,
recycled ids mis-keyed under their predecessor's popularity) and, on request, a planted shift;
production-recommendations-sample.csv built from them."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from stoffwechsel.monitoring.shift import Shift
from stoffwechsel.simulation import behaviour, world
from stoffwechsel.simulation.catalogue import CATEGORY_MEDIAN_PRICE, Products, product_ids
from stoffwechsel.simulation.customers import Customers, customer_ids, segment_param
from stoffwechsel.simulation.events import PURCHASE, Events
from stoffwechsel.simulation.world import (
    CLICK_WINDOW_S,
    EXPORT_TIME,
    LAUNCH_DATE,
    MODEL_VERSIONS,
    PURCHASE_WINDOW_S,
    RECS_FIRST_DAY,
    RECS_LAST_DAY,
    RETURN_WINDOW_S,
    SEASONS,
)

# --------------------------------------------------------------------------------------------
# Production recommendations
# --------------------------------------------------------------------------------------------

#: Candidates the production model ranks per slate; the row's item is the one at its position.
SLATE_CANDIDATES = 20
POSITIONS = 10
#: Production model logit = popularity + weights x (category preference, segment price fit).
MODEL_CATEGORY_WEIGHT = 0.8
MODEL_PRICE_WEIGHT = 0.5
#: Shown score = sigmoid(slope x model logit + intercept + normal noise).
SCORE_SLOPE, SCORE_INTERCEPT, SCORE_NOISE = 0.8, -0.5, 0.15
#: Mis-keyed item: the most "popular" (by predecessor) of this many recycled SS26 items on sale.
MIS_KEYED_CANDIDATES = 8
#: The file is a sample of the serving log: rec ids advance by 1..REC_ID_MAX_GAP-1.
REC_ID_MAX_GAP = 40
#: Outcome targets (before drift and shift): click per row, purchase per click, return per purchase.
CLICK_RATE = 0.12
PURCHASE_PER_CLICK = 0.30
RETURN_PER_REC_PURCHASE = 0.25
REC_CLICK_TASTE_WEIGHT = 0.9
REC_PURCHASE_TASTE_WEIGHT = 0.7
REC_RETURN_TASTE_WEIGHT = -0.6
REC_OTHER_WEIGHT = 0.3
POSITION_CLICK_SLOPE = -0.12
#: Built-in drift: outcome multipliers for mis-keyed recycled new-season items.
MIS_KEYED_CLICK_FACTOR = 0.35
MIS_KEYED_PURCHASE_FACTOR = 0.25
#: Click delay: lognormal(median seconds, sigma), folded into the 1-day window.
CLICK_DELAY_LOGNORMAL = (900.0, 1.4)
#: Purchase delay after the click (days): gamma(shape, scale), mean ~3.5 days.
REC_PURCHASE_GAMMA = (1.6, 2.2)
#: Return delay after the purchase (days): gamma(shape, scale), mean ~10 days.
REC_RETURN_GAMMA = (2.5, 4.0)


# --------------------------------------------------------------------------------------------
# Production recommendations
# --------------------------------------------------------------------------------------------


@dataclass
class _Recs:
    """Production recommendation rows sorted by served_at (arrays aligned)."""

    rec_number: np.ndarray
    served: np.ndarray  # seconds
    customer: np.ndarray
    product: np.ndarray
    position: np.ndarray
    score: np.ndarray
    version: np.ndarray  # index into MODEL_VERSIONS
    mis_keyed: np.ndarray
    match: np.ndarray
    p_click: np.ndarray
    p_purchase: np.ndarray  # per row: click x purchase given click
    clicked: np.ndarray  # true times (seconds) within the windows, -1 = none
    purchased: np.ndarray
    returned: np.ndarray


def _purchase_popularity(products: Products, events: Events) -> np.ndarray:
    """Standardised log(1 + purchases) per product version: the production model's popularity."""
    bought = np.bincount(events.product[events.kind == PURCHASE], minlength=len(products.season))
    log_pop = np.log1p(bought)
    return (log_pop - log_pop.mean()) / (log_pop.std() or 1.0)


def make_recommendations(
    rng: np.random.Generator,
    drift_rng: np.random.Generator,
    products: Products,
    customers: Customers,
    events: Events,
    n: int,
    shift: Shift | None,
    shifted: np.ndarray,
    drift: bool,
) -> _Recs:
    """A random sample of served recommendations with their outcomes.

    The production model is tabular (category preference, price, popularity keyed on
    product_id): it does not know the hidden tastes. From the SS26 launch it serves, with drift,
    a segment-dependent share of recycled SS26 items under their predecessor's popularity.
    """
    first, last = world.day(RECS_FIRST_DAY), world.day(RECS_LAST_DAY)
    weights = behaviour.day_weights(first, last)
    day = first + world.categorical(rng, np.tile(weights / weights.sum(), (n, 1)))
    served = world.wall_time(day * 86400 + behaviour.time_of_day(rng, np.zeros(n, dtype=np.int64)))
    order = np.argsort(served, kind="stable")
    day, served = day[order], served[order]
    cust = _eligible_customers(rng, customers, day)
    seg = customers.segment[cust]
    position = rng.integers(1, POSITIONS + 1, n)

    # Normal slates: rank SLATE_CANDIDATES by model score + noise; the row shows the item at its position.
    popularity = _purchase_popularity(products, events)
    new_recycled = products.recycled & (products.season == len(SEASONS) - 1)
    pool = behaviour.on_sale(products, ~new_recycled if drift else None)
    cand = pool.sample(day, rng.random((n, SLATE_CANDIDATES)))
    model = _model_logit(products, customers, cust[:, None], cand, day[:, None], popularity[cand])
    ranked = np.argsort(-(model + rng.gumbel(size=cand.shape)), axis=1)
    pick = ranked[np.arange(n), position - 1]
    product = cand[np.arange(n), pick]
    model_logit = model[np.arange(n), pick]

    # Built-in drift: mis-keyed recycled SS26 items, popularity of their predecessor.
    # Drawn whatever the options, so drift and shift leave the other rows unchanged.
    mis_draw = drift_rng.random(n)
    mis_u = drift_rng.random((n, MIS_KEYED_CANDIDATES))
    mis_noise = drift_rng.gumbel(size=(n, MIS_KEYED_CANDIDATES))
    mis_pool = behaviour.on_sale(products, new_recycled)
    has_mis = (day >= world.day(LAUNCH_DATE)) & (mis_pool.count[day - mis_pool.first_day] > 0)
    mis_keyed = drift & has_mis & (mis_draw < segment_param("mis_keyed_share")[seg])
    rows = np.flatnonzero(mis_keyed)
    if len(rows):
        old_pop = popularity[np.maximum(products.previous, 0)]
        mis_cand = mis_pool.sample(day[rows], mis_u[rows])
        product[rows] = mis_cand[np.arange(len(rows)), np.argmax(old_pop[mis_cand] + mis_noise[rows], axis=1)]
        model_logit[rows] = _model_logit(
            products, customers, cust[rows], product[rows], day[rows], old_pop[product[rows]]
        )
    score = world.sigmoid(SCORE_SLOPE * model_logit + SCORE_INTERCEPT + rng.normal(0, SCORE_NOISE, n))

    # Outcomes: probabilities from taste match, position, segment; drift and shift multiply.
    # Time-invariant apart from drift and shift, so without them rates stay flat across the launch.
    match = behaviour.taste_match(products, customers, cust, product)
    other_u = behaviour.other_utility(products, customers, cust, product, None)
    click_logit = (
        REC_CLICK_TASTE_WEIGHT * match
        + REC_OTHER_WEIGHT * other_u
        + segment_param("click_offset")[seg]
        + POSITION_CLICK_SLOPE * (position - 1)
    )
    buy_logit = REC_PURCHASE_TASTE_WEIGHT * match + REC_OTHER_WEIGHT * other_u
    ret_logit = REC_RETURN_TASTE_WEIGHT * match
    # Intercepts calibrated on the rows before the launch, which drift does not touch.
    base = day < world.day(LAUNCH_DATE)
    a_click = world.calibrated_intercept(click_logit[base], CLICK_RATE)
    p_click = world.sigmoid(a_click + click_logit)
    a_buy = world.calibrated_intercept(buy_logit[base], PURCHASE_PER_CLICK, p_click[base])
    p_buy = world.sigmoid(a_buy + buy_logit)
    a_ret = world.calibrated_intercept(ret_logit[base], RETURN_PER_REC_PURCHASE, (p_click * p_buy)[base])
    p_ret = world.sigmoid(a_ret + ret_logit)
    p_click = np.where(mis_keyed, p_click * MIS_KEYED_CLICK_FACTOR, p_click)
    p_buy = np.where(mis_keyed, p_buy * MIS_KEYED_PURCHASE_FACTOR, p_buy)
    if shift is not None:
        p_click, p_buy = shift.scale(p_click, p_buy, shifted[cust] & (day >= world.day(shift.start)))

    clicked, purchased, returned = _outcome_times(rng, served, p_click, p_buy, p_ret)
    version = np.searchsorted([world.day(d) for _, d in MODEL_VERSIONS], day, side="right") - 1
    rec_number = np.cumsum(rng.integers(1, REC_ID_MAX_GAP, n))
    return _Recs(
        rec_number,
        served,
        cust,
        product,
        position,
        score,
        version,
        mis_keyed,
        match,
        p_click,
        p_click * p_buy,
        clicked,
        purchased,
        returned,
    )


def _eligible_customers(rng: np.random.Generator, customers: Customers, day: np.ndarray) -> np.ndarray:
    """Per row a customer who signed up before ``day``, drawn in proportion to activity."""
    by_signup = np.argsort(customers.signup, kind="stable")
    cum = np.cumsum(customers.activity[by_signup])
    n_eligible = np.maximum(np.searchsorted(customers.signup[by_signup], day, side="left"), 1)
    u = rng.random(len(day)) * cum[n_eligible - 1]
    return by_signup[np.minimum(np.searchsorted(cum, u, side="right"), n_eligible - 1)]


def _model_logit(products: Products, customers: Customers, cust, prod, day, popularity) -> np.ndarray:
    """The production model's view: popularity, category preference and price fit (no tastes)."""
    seg = customers.segment[cust]
    cat = products.category[prod]
    rel_price = np.log(behaviour.shown_price(products, prod, day) / np.asarray(CATEGORY_MEDIAN_PRICE)[cat])
    return (
        popularity
        + MODEL_CATEGORY_WEIGHT * customers.category_logpref[cust, cat]
        + MODEL_PRICE_WEIGHT * segment_param("price_beta")[seg] * rel_price
    )


def _outcome_times(rng: np.random.Generator, served, p_click, p_buy, p_ret):
    """True click/purchase/return times (-1 = none) within the attribution windows (wall time)."""
    n = len(served)
    click_at = world.wall_time(served + world.lognormal_seconds(rng, CLICK_DELAY_LOGNORMAL, n) % CLICK_WINDOW_S + 1)
    buy_at = world.wall_time(click_at + (rng.gamma(*REC_PURCHASE_GAMMA, n) * 86400).astype(np.int64) + 60)
    return_at = world.wall_time(buy_at + (rng.gamma(*REC_RETURN_GAMMA, n) * 86400).astype(np.int64) + 3600)
    clicked = (rng.random(n) < p_click) & (click_at <= served + CLICK_WINDOW_S)
    bought = clicked & (rng.random(n) < p_buy) & (buy_at <= served + PURCHASE_WINDOW_S)
    returned = bought & (rng.random(n) < p_ret) & (return_at <= buy_at + RETURN_WINDOW_S)
    return np.where(clicked, click_at, -1), np.where(bought, buy_at, -1), np.where(returned, return_at, -1)


def _status(observed: np.ndarray, window_end: np.ndarray, export: int) -> np.ndarray:
    """yes if observed by the export, pending if the window was still open, else no."""
    return np.where(observed, "yes", np.where(window_end > export, "pending", "no"))


def recommendations_table(recs: _Recs, products: Products, customers: Customers, reveal_truth: bool) -> pd.DataFrame:
    """production-recommendations-sample.csv rows, censored at EXPORT_TIME."""
    export = world.second(EXPORT_TIME)
    seen_click = (recs.clicked >= 0) & (recs.clicked <= export)
    seen_buy = (recs.purchased >= 0) & (recs.purchased <= export)
    seen_ret = (recs.returned >= 0) & (recs.returned <= export)
    purchase_status = _status(seen_buy, recs.served + PURCHASE_WINDOW_S, export)
    return_status = np.where(
        purchase_status == "yes",
        _status(seen_ret, recs.purchased + RETURN_WINDOW_S, export),
        np.where(purchase_status == "pending", "pending", "not_purchased"),
    )
    table = pd.DataFrame(
        {
            "rec_id": world.fmt_ids("R", recs.rec_number, 7),
            "served_at": world.fmt_seconds(recs.served),
            "customer_id": customer_ids(customers)[recs.customer],
            "product_id": product_ids(products)[recs.product],
            "season": np.asarray([code for code, _, _ in SEASONS])[products.season[recs.product]],
            "position": recs.position.astype(str),
            "score": world.fmt_decimal(recs.score, 4),
            "model_version": np.asarray([v for v, _ in MODEL_VERSIONS])[recs.version],
            "clicked_at": world.fmt_seconds(recs.clicked, ~seen_click),
            "purchased_at": world.fmt_seconds(recs.purchased, ~seen_buy),
            "returned_at": world.fmt_seconds(recs.returned, ~seen_ret),
            "click_status": _status(seen_click, recs.served + CLICK_WINDOW_S, export),
            "purchase_status": purchase_status,
            "return_status": return_status,
            "export_time": world.fmt_seconds(np.full(len(recs.served), export)),
        }
    )
    if reveal_truth:
        table["true_clicked_at"] = world.fmt_seconds(recs.clicked, recs.clicked < 0)
        table["true_purchased_at"] = world.fmt_seconds(recs.purchased, recs.purchased < 0)
        table["true_returned_at"] = world.fmt_seconds(recs.returned, recs.returned < 0)
        table["true_mis_keyed"] = np.where(recs.mis_keyed, "yes", "no")
        table["true_taste_match"] = world.fmt_decimal(recs.match, 1)
        table["true_click_prob"] = world.fmt_decimal(recs.p_click, 4)
        table["true_purchase_prob"] = world.fmt_decimal(recs.p_purchase, 4)
    return table
