"""The transactions: shopping episodes (browse -> wishlist -> purchase -> return) per customer
and day, the product chosen by utility among those on sale, the funnel, delays in wall time,
trimmed to the exact row count; transactions.csv built from them."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from stoffwechsel.simulation import behaviour, world
from stoffwechsel.simulation.catalogue import CATEGORIES, Products, product_ids
from stoffwechsel.simulation.customers import CHANNELS, Customers, customer_ids
from stoffwechsel.simulation.world import EXPORT_TIME, SEASONS, TIMELINE_START

# --------------------------------------------------------------------------------------------
# Transactions
# --------------------------------------------------------------------------------------------

#: Candidates a customer considers per episode (sampled among products on sale that day).
CONSIDERATION_SET = 25
#: Funnel targets (per browse / per purchase) that give ~60/13/21/6 browse/wishlist/purchase/return.
WISHLIST_PER_BROWSE = 0.22
PURCHASE_PER_BROWSE = 0.35
RETURN_PER_PURCHASE = 0.34
#: Conversion logits: weight of the taste match and of the rest of the utility.
CONVERSION_TASTE_WEIGHT = 0.9
CONVERSION_OTHER_WEIGHT = 0.4
WISHLIST_PURCHASE_BOOST = 0.6
RETURN_TASTE_WEIGHT = -0.7
#: Categories where fit matters more: returns likelier (logit +FIT_SENSITIVE_RETURN_LOGIT).
FIT_SENSITIVE = ("trousers", "jeans", "dresses")
FIT_SENSITIVE_RETURN_LOGIT = 0.4
#: Share of purchases in the browsing session (minutes later); the rest come days later.
SAME_SESSION_PURCHASE = 0.55
#: In-session delays, lognormal (median seconds, sigma): browse -> wishlist, -> purchase.
WISHLIST_DELAY_LOGNORMAL = (180.0, 0.8)
SESSION_PURCHASE_DELAY_LOGNORMAL = (480.0, 0.8)
#: Purchase delay (days) when not in the same session: gamma(shape, scale).
LATER_PURCHASE_GAMMA = (1.3, 2.0)
#: Return delay after the purchase (days): gamma(shape, scale) + 1 day.
RETURN_DELAY_GAMMA = (2.5, 3.6)
#: Share of purchases with quantity 2 (else 1).
QUANTITY_TWO_SHARE = 0.08
#: Share of episodes in the customer's preferred channel (else one of the other two).
PREFERRED_CHANNEL_SHARE = 0.75
#: Probability that the legacy till system drops the season, per channel (web, app, store).
SEASON_MISSING_BY_CHANNEL = (0.15, 0.12, 0.42)
#: Episodes generated per needed episode, before trimming to the exact row count.
EPISODE_OVERSHOOT = 1.3

EVENT_TYPES = ("browse", "wishlist", "purchase", "return")
BROWSE, WISHLIST, PURCHASE, RETURN = range(len(EVENT_TYPES))  # also the step in an episode's chain


# --------------------------------------------------------------------------------------------
# Transactions
# --------------------------------------------------------------------------------------------


@dataclass
class Events:
    """transactions.csv rows in final order (arrays aligned)."""

    time: np.ndarray  # seconds
    customer: np.ndarray
    product: np.ndarray
    kind: np.ndarray  # index into EVENT_TYPES
    quantity: np.ndarray
    price: np.ndarray
    channel: np.ndarray
    return_of: np.ndarray  # row of the returned purchase, -1 otherwise
    season_missing: np.ndarray


def make_transactions(rng: np.random.Generator, products: Products, customers: Customers, n_rows: int) -> Events:
    """Shopping episodes (browse -> wishlist -> purchase -> return), trimmed to ``n_rows`` events."""
    on_sale = behaviour.on_sale(products)
    rows_per_episode = 1 + WISHLIST_PER_BROWSE + PURCHASE_PER_BROWSE * (1 + RETURN_PER_PURCHASE)
    overshoot = EPISODE_OVERSHOOT
    while True:
        episodes = _episodes(rng, products, customers, on_sale, overshoot * n_rows / rows_per_episode)
        if episodes["n_events"].sum() >= n_rows:
            break
        overshoot *= 1.5
    return _trim_and_flatten(rng, episodes, products, n_rows)


def _episodes(
    rng: np.random.Generator, products: Products, customers: Customers, on_sale: behaviour.OnSale, expected: float
) -> dict[str, np.ndarray]:
    """About ``expected`` episodes, each a browse and possibly wishlist, purchase and return."""
    first, export = world.day(TIMELINE_START), world.second(EXPORT_TIME)
    export_day = world.day(EXPORT_TIME.date())
    weights = behaviour.day_weights(first, export_day)
    weights[-1] *= EXPORT_TIME.hour / 24
    cum = np.concatenate([[0.0], np.cumsum(weights)])
    # Episode counts: Poisson(rate x activity x weight of the days after signup).
    start_idx = np.clip(customers.signup - first, 0, len(weights))
    exposure = customers.activity * (cum[-1] - cum[start_idx])
    counts = rng.poisson(expected * exposure / exposure.sum())
    cust = np.repeat(np.arange(len(counts)), counts)
    u = cum[start_idx[cust]] + rng.random(len(cust)) * (cum[-1] - cum[start_idx[cust]])
    day = first + np.clip(np.searchsorted(cum, u, side="right") - 1, 0, len(weights) - 1)
    preferred = rng.random(len(cust)) < PREFERRED_CHANNEL_SHARE
    other = (customers.channel[cust] + rng.integers(1, len(CHANNELS), len(cust))) % len(CHANNELS)
    channel = np.where(preferred, customers.channel[cust], other)
    browse = world.wall_time(day * 86400 + behaviour.time_of_day(rng, channel))
    keep = browse < export
    cust, day, channel, browse = cust[keep], day[keep], channel[keep], browse[keep]
    n = len(cust)

    # Choice: softmax over a consideration set of products on sale that day (Gumbel-max).
    prod, match, other_u = _choose_products(rng, products, customers, on_sale, cust, day)
    # On an item's last sale day, browse by 20:00 so the session ends while it is on sale.
    last_sale_second = (products.sale_end[prod] + 1) * 86400 - 1
    browse = np.minimum(browse, last_sale_second - 4 * 3600)

    # Funnel probabilities (intercepts calibrated to the targets).
    base = CONVERSION_TASTE_WEIGHT * match + CONVERSION_OTHER_WEIGHT * other_u
    wish = rng.random(n) < world.sigmoid(world.calibrated_intercept(base, WISHLIST_PER_BROWSE) + base)
    buy_logit = base + WISHLIST_PURCHASE_BOOST * wish
    p_buy = world.sigmoid(world.calibrated_intercept(buy_logit, PURCHASE_PER_BROWSE) + buy_logit)
    buy = rng.random(n) < p_buy
    fit_sensitive = np.isin(products.category[prod], [CATEGORIES.index(c) for c in FIT_SENSITIVE])
    ret_logit = RETURN_TASTE_WEIGHT * match + FIT_SENSITIVE_RETURN_LOGIT * fit_sensitive
    p_ret = world.sigmoid(world.calibrated_intercept(ret_logit, RETURN_PER_PURCHASE, p_buy) + ret_logit)
    ret = buy & (rng.random(n) < p_ret)

    # Times: wishlist minutes after browsing; purchase in the session or days later (while on
    # sale); return days after the purchase. Each step follows its (wall-time) predecessor.
    wish_time = np.minimum(
        world.wall_time(browse + 30 + world.lognormal_seconds(rng, WISHLIST_DELAY_LOGNORMAL, n)), last_sale_second - 1
    )
    anchor = np.where(wish, wish_time, browse)
    session = world.wall_time(anchor + 30 + world.lognormal_seconds(rng, SESSION_PURCHASE_DELAY_LOGNORMAL, n))
    later = world.wall_time(anchor + (rng.gamma(*LATER_PURCHASE_GAMMA, n) * 86400).astype(np.int64) + 3600)
    in_session = (rng.random(n) < SAME_SESSION_PURCHASE) | (later > last_sale_second)
    buy_time = np.minimum(np.where(in_session, session, later), last_sale_second)
    ret_time = world.wall_time(buy_time + ((rng.gamma(*RETURN_DELAY_GAMMA, n) + 1) * 86400).astype(np.int64))
    quantity = np.where(rng.random(n) < QUANTITY_TWO_SHARE, 2, 1)
    return_channel = np.where(channel == CHANNELS.index("store"), channel, CHANNELS.index("web"))
    missing = (
        rng.random((n, 4))
        < np.asarray(SEASON_MISSING_BY_CHANNEL)[np.column_stack([channel, channel, channel, return_channel])]
    )

    # Only what happened before the export is observed.
    wish &= wish_time < export
    buy &= buy_time < export
    ret &= buy & (ret_time < export)
    return {
        "customer": cust,
        "product": prod,
        "channel": channel,
        "return_channel": return_channel,
        "browse_time": browse,
        "wish_time": wish_time,
        "buy_time": buy_time,
        "ret_time": ret_time,
        "wish": wish,
        "buy": buy,
        "ret": ret,
        "quantity": quantity,
        "missing": missing,
        "n_events": 1 + wish.astype(int) + buy + ret,
    }


def _choose_products(
    rng,
    products: Products,
    customers: Customers,
    on_sale: behaviour.OnSale,
    cust: np.ndarray,
    day: np.ndarray,
    chunk: int = 100_000,
):
    """Per episode the product with the highest utility + Gumbel noise among CONSIDERATION_SET
    products on sale; also returns its taste match and other utility."""
    n = len(cust)
    prod = np.empty(n, dtype=np.int64)
    match = np.empty(n)
    other_u = np.empty(n)
    for lo in range(0, n, chunk):
        c, d = cust[lo : lo + chunk, None], day[lo : lo + chunk, None]
        cand = on_sale.sample(day[lo : lo + chunk], rng.random((len(c), CONSIDERATION_SET)))
        m = behaviour.taste_match(products, customers, c, cand)
        o = behaviour.other_utility(products, customers, c, cand, d)
        best = np.argmax(m + o + rng.gumbel(size=cand.shape), axis=1)
        pick = np.arange(len(c))
        prod[lo : lo + chunk] = cand[pick, best]
        match[lo : lo + chunk] = m[pick, best]
        other_u[lo : lo + chunk] = o[pick, best]
    return prod, match, other_u


def _trim_and_flatten(rng: np.random.Generator, ep: dict[str, np.ndarray], products: Products, n_rows: int) -> Events:
    """Keep random episodes until exactly ``n_rows`` events; the last kept episode loses the
    tail of its chain (a return never outlives its purchase). Events sorted by time; prices
    are those shown at browse/wishlist, paid at purchase, refunded at return."""
    order = rng.permutation(len(ep["customer"]))
    total = np.cumsum(ep["n_events"][order])
    n_full = int(np.searchsorted(total, n_rows, side="right"))
    kept = order[: n_full + 1] if n_full < len(order) else order
    allowed = np.minimum(ep["n_events"][kept], n_rows - np.concatenate([[0], total[:n_full]])[: len(kept)])

    # Steps present per kept episode, in chain order, cut after `allowed` steps.
    present = np.column_stack([np.ones(len(kept), bool), ep["wish"][kept], ep["buy"][kept], ep["ret"][kept]])
    present &= np.cumsum(present, axis=1) <= allowed[:, None]
    epi, step = np.nonzero(present)
    src = kept[epi]
    times = np.column_stack([ep["browse_time"], ep["wish_time"], ep["buy_time"], ep["ret_time"]])[src, step]
    order_ev = np.lexsort((step, epi, times))
    epi, step, src, times = epi[order_ev], step[order_ev], src[order_ev], times[order_ev]

    purchase_row = np.full(len(kept), -1, dtype=np.int64)
    purchase_row[epi[step == PURCHASE]] = np.flatnonzero(step == PURCHASE)
    return_of = np.where(step == RETURN, purchase_row[epi], -1)
    product = ep["product"][src]
    priced_at = np.where(step == RETURN, times[np.maximum(return_of, 0)], times)
    return Events(
        time=times,
        customer=ep["customer"][src],
        product=product,
        kind=step,
        quantity=np.where(step >= PURCHASE, ep["quantity"][src], 1),
        price=behaviour.shown_price(products, product, priced_at // 86400),
        channel=np.where(step == RETURN, ep["return_channel"][src], ep["channel"][src]),
        return_of=return_of,
        season_missing=ep["missing"][src, step],
    )


def transactions_table(events: Events, products: Products, customers: Customers, reveal_truth: bool) -> pd.DataFrame:
    """transactions.csv rows (already sorted by event_time, event_id)."""
    event_id = world.fmt_ids("T", np.arange(1, len(events.time) + 1), 7)
    season = np.asarray([code for code, _, _ in SEASONS])[products.season[events.product]]
    table = pd.DataFrame(
        {
            "event_id": event_id,
            "customer_id": customer_ids(customers)[events.customer],
            "product_id": product_ids(products)[events.product],
            "season": np.where(events.season_missing, "", season),
            "event_type": np.asarray(EVENT_TYPES)[events.kind],
            "event_time": world.fmt_seconds(events.time),
            "quantity": events.quantity.astype(str),
            "unit_price_eur": world.fmt_decimal(events.price, 2),
            "channel": np.asarray(CHANNELS)[events.channel],
            "return_of": np.where(events.return_of >= 0, event_id.to_numpy()[np.maximum(events.return_of, 0)], ""),
        }
    )
    if reveal_truth:
        table["true_season"] = season
    return table
