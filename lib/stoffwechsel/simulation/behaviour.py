"""Behaviour shared by the shop's transactions and the production recommendations: the
hidden-taste match, the price shown on a day (clearance), the rest of a product's utility for a
customer, the products on sale per day, and when people shop (month, weekday and hour)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from stoffwechsel.simulation import world
from stoffwechsel.simulation.catalogue import CATEGORY_MEDIAN_PRICE, CLASSIC_STYLE, NEW_IN_DAYS, Products
from stoffwechsel.simulation.customers import CHANNELS, INTEREST_CERT_SCALE, Customers, segment_param
from stoffwechsel.simulation.world import EXPORT_TIME, TIMELINE_START

# --------------------------------------------------------------------------------------------
# Constants
# --------------------------------------------------------------------------------------------

#: Weight of a match of the hidden tastes in every utility (choice and conversion).
TASTE_WEIGHTS = {"style": 1.5, "colour": 1.0, "fabric": 0.8}
#: Activity over the year: month multipliers (Jan..Dec) and weekday multipliers (Mon..Sun).
MONTH_FACTORS = (1.1, 0.9, 1.05, 1.0, 1.0, 1.05, 1.1, 0.9, 1.0, 1.0, 1.3, 1.25)
WEEKDAY_FACTORS = (0.9, 0.9, 0.95, 1.0, 1.05, 1.15, 1.1)
#: Hour-of-day weights (0..23) for online channels and for the store (open 10-20).
ONLINE_HOURS = (2, 1, 0.5, 0.3, 0.3, 0.5, 1.5, 3, 4, 4, 4, 4.5, 5.5, 5, 4.5, 4.5, 4.5, 5, 6, 7.5, 8.5, 8, 6, 3.5)
STORE_HOURS = (0,) * 10 + (3, 4, 5, 5, 5, 5.5, 6, 6.5, 6, 4) + (0,) * 4

# --------------------------------------------------------------------------------------------
# Shared behaviour: utility of a product for a customer on a day
# --------------------------------------------------------------------------------------------


def taste_match(products: Products, customers: Customers, cust: np.ndarray, prod: np.ndarray) -> np.ndarray:
    """Hidden-taste match: TASTE_WEIGHTS summed over style, colour and fabric agreement."""
    return (
        TASTE_WEIGHTS["style"] * (customers.style[cust] == products.style[prod])
        + TASTE_WEIGHTS["colour"] * (customers.colour[cust] == products.colour[prod])
        + TASTE_WEIGHTS["fabric"] * (customers.fabric[cust] == products.fabric[prod])
    )


def _in_clearance(products: Products, prod: np.ndarray, day: np.ndarray) -> np.ndarray:
    return day > products.season_end[prod]


def shown_price(products: Products, prod: np.ndarray, day: np.ndarray) -> np.ndarray:
    """List price, or the clearance price after the product's season ended."""
    price = products.price[prod]
    discounted = np.round(price * (1 - products.discount[prod]), 2)
    return np.where(_in_clearance(products, prod, day), discounted, price)


def other_utility(
    products: Products, customers: Customers, cust: np.ndarray, prod: np.ndarray, day: np.ndarray | None
) -> np.ndarray:
    """Everything but the hidden tastes: category preference, price fit, certifications x
    interest, classic tailoring, product appeal and, given a ``day``, the segment's appetite for
    new-in and clearance items (with the clearance price). ``day=None``: list price, no
    new-in/clearance terms (time-invariant, used for recommendation outcomes)."""
    seg = customers.segment[cust]
    cat = products.category[prod]
    price = products.price[prod] if day is None else shown_price(products, prod, day)
    rel_price = np.log(price / np.asarray(CATEGORY_MEDIAN_PRICE)[cat])
    cert_weight = segment_param("cert_weight")[seg] * np.asarray(INTEREST_CERT_SCALE)[customers.interest[cust]]
    utility = (
        customers.category_logpref[cust, cat]
        + segment_param("price_beta")[seg] * rel_price
        + cert_weight * products.certs[prod].sum(axis=-1)
        + segment_param("classic_bonus")[seg] * (products.style[prod] == CLASSIC_STYLE)
        + products.appeal[prod]
    )
    if day is None:
        return utility
    new_in = (day - products.sale_start[prod] < NEW_IN_DAYS) & (day <= products.season_end[prod])
    return (
        utility
        + segment_param("new_in")[seg] * new_in
        + segment_param("clearance")[seg] * _in_clearance(products, prod, day)
    )


@dataclass
class OnSale:
    """Per day of the timeline, the products on sale (CSR layout: rows[ptr[d]:ptr[d+1]])."""

    first_day: int
    ptr: np.ndarray
    rows: np.ndarray

    @property
    def count(self) -> np.ndarray:
        return np.diff(self.ptr)

    def sample(self, day: np.ndarray, u: np.ndarray) -> np.ndarray:
        """A product on sale on ``day`` per uniform in ``u`` (shape (len(day), k))."""
        d = day - self.first_day
        offset = np.minimum((u * self.count[d][:, None]).astype(np.int64), self.count[d][:, None] - 1)
        return self.rows[np.minimum(self.ptr[d][:, None] + offset, len(self.rows) - 1)]


def on_sale(products: Products, mask: np.ndarray | None = None) -> OnSale:
    """Products on sale per day from TIMELINE_START to the export day (optionally only ``mask``)."""
    first, last = world.day(TIMELINE_START), world.day(EXPORT_TIME.date())
    eligible = np.flatnonzero(mask) if mask is not None else np.arange(len(products.season))
    per_day = [
        eligible[(products.sale_start[eligible] <= d) & (products.sale_end[eligible] >= d)]
        for d in range(first, last + 1)
    ]
    ptr = np.concatenate([[0], np.cumsum([len(r) for r in per_day])])
    return OnSale(first, ptr, np.concatenate(per_day).astype(np.int64))


def time_of_day(rng: np.random.Generator, channel: np.ndarray) -> np.ndarray:
    """Seconds after midnight, from the hour profile of the channel (store hours for 'store')."""
    online = world.normalised(ONLINE_HOURS)
    store = world.normalised(STORE_HOURS)
    hour = world.categorical(rng, np.where((channel == CHANNELS.index("store"))[:, None], store, online))
    return hour * 3600 + rng.integers(0, 3600, len(channel))


def day_weights(first: int, last: int) -> np.ndarray:
    """Relative shopping activity per day (month and weekday patterns)."""
    days = np.arange(first, last + 1)
    dt = days.astype("datetime64[D]")
    month = dt.astype("datetime64[M]").astype(int) % 12
    weekday = (days + 3) % 7  # 1970-01-01 was a Thursday
    return np.asarray(MONTH_FACTORS)[month] * np.asarray(WEEKDAY_FACTORS)[weekday]
