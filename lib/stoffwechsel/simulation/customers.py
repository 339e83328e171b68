"""The customers and their marketing segments: profiles (signup, age band, region, channel,
loyalty tier, sustainability interest), hidden tastes and activity per segment; customers.csv
built from them; and which customers a planted shift applies to."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

from stoffwechsel import domain
from stoffwechsel.monitoring.shift import Shift
from stoffwechsel.simulation import world
from stoffwechsel.simulation.catalogue import CATEGORIES, CATEGORY_SHARES, COLOURS, FABRICS, STYLES
from stoffwechsel.simulation.world import EXPORT_TIME, TIMELINE_START

# --------------------------------------------------------------------------------------------
# Customers and segments
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SegmentParams:
    """How a marketing segment behaves. Utilities are on the logit scale."""

    share: float  # share of customers
    activity: float  # multiplier of the shopping-episode rate
    price_beta: float  # utility per unit of log(price / category median); < 0 = price sensitive
    cert_weight: float  # utility per certification at high sustainability interest
    new_in: float  # utility of a current-season item in its first NEW_IN_DAYS on sale
    clearance: float  # utility of an item in clearance (plus its lower price)
    classic_bonus: float  # utility of classic tailoring
    loyalty: float  # multiplier of the chance of a silver/gold tier
    interest_probs: tuple[float, float, float]  # sustainability interest low / medium / high
    age_probs: tuple[float, float, float, float, float]  # AGE_BANDS
    category_tilt: tuple[float, ...]  # multipliers of CATEGORY_SHARES for category preferences
    style_tilt: tuple[float, ...]  # multipliers of the hidden style taste (STYLES)
    colour_tilt: tuple[float, ...]  # multipliers of the hidden colour taste (COLOURS)
    fabric_tilt: tuple[float, ...]  # multipliers of the hidden fabric taste (FABRICS)
    click_offset: float  # logit offset of clicking a production recommendation
    mis_keyed_share: float  # built-in drift: share of recommendations that are mis-keyed after launch


_FLAT6 = (1.0,) * 6
SEGMENTS: dict[str, SegmentParams] = {
    "Eco Enthusiasts": SegmentParams(
        share=0.20,
        activity=1.1,
        price_beta=-0.4,
        cert_weight=0.9,
        new_in=0.3,
        clearance=0.0,
        classic_bonus=0.0,
        loyalty=1.3,
        interest_probs=(0.05, 0.25, 0.70),
        age_probs=(0.12, 0.34, 0.28, 0.16, 0.10),
        category_tilt=(1, 1, 1.2, 1, 0.8, 1, 1, 1, 0.8, 1.2),
        style_tilt=(1.5, 1.5, 1, 1, 0.7, 1),
        colour_tilt=(1.5, 1, 1, 0.7, 1, 1),
        fabric_tilt=(1.5, 1.5, 2.0, 1.2, 0.6, 1, 1, 0.8),
        click_offset=0.1,
        mis_keyed_share=0.35,
    ),
    "Trend Seekers": SegmentParams(
        share=0.22,
        activity=1.5,
        price_beta=-0.6,
        cert_weight=0.1,
        new_in=1.6,
        clearance=-0.8,
        classic_bonus=0.0,
        loyalty=1.0,
        interest_probs=(0.35, 0.45, 0.20),
        age_probs=(0.30, 0.40, 0.18, 0.08, 0.04),
        category_tilt=(1.5, 0.8, 0.8, 0.8, 1.5, 1.3, 1.3, 1, 1, 1.3),
        style_tilt=(1, 1, 1, 0.5, 2, 1.3),
        colour_tilt=(1, 1, 1, 1.8, 1, 1),
        fabric_tilt=(1.0,) * 8,
        click_offset=0.25,
        mis_keyed_share=0.60,
    ),
    "Bargain Hunters": SegmentParams(
        share=0.22,
        activity=1.0,
        price_beta=-1.6,
        cert_weight=0.1,
        new_in=0.0,
        clearance=1.4,
        classic_bonus=0.0,
        loyalty=0.8,
        interest_probs=(0.45, 0.40, 0.15),
        age_probs=(0.20, 0.30, 0.25, 0.15, 0.10),
        category_tilt=(1.3, 1, 1, 1, 1, 1, 1, 0.7, 1, 1.3),
        style_tilt=_FLAT6,
        colour_tilt=_FLAT6,
        fabric_tilt=(1.0,) * 8,
        click_offset=0.0,
        mis_keyed_share=0.05,
    ),
    "Classic Professionals": SegmentParams(
        share=0.14,
        activity=0.9,
        price_beta=0.5,
        cert_weight=0.2,
        new_in=0.2,
        clearance=-0.4,
        classic_bonus=1.0,
        loyalty=1.3,
        interest_probs=(0.25, 0.50, 0.25),
        age_probs=(0.03, 0.22, 0.35, 0.25, 0.15),
        category_tilt=(0.7, 2, 1.4, 1.8, 0.6, 1, 0.8, 1.4, 0.3, 1),
        style_tilt=(1.3, 0.5, 0.5, 3, 0.5, 1),
        colour_tilt=(1, 1.5, 0.7, 0.5, 1.8, 1),
        fabric_tilt=(1.0,) * 8,
        click_offset=0.0,
        mis_keyed_share=0.20,
    ),
    "Occasional Shoppers": SegmentParams(
        share=0.22,
        activity=0.3,
        price_beta=-0.8,
        cert_weight=0.2,
        new_in=0.3,
        clearance=0.3,
        classic_bonus=0.0,
        loyalty=0.4,
        interest_probs=(0.40, 0.45, 0.15),
        age_probs=(0.18, 0.26, 0.24, 0.18, 0.14),
        category_tilt=(1.0,) * 10,
        style_tilt=_FLAT6,
        colour_tilt=_FLAT6,
        fabric_tilt=(1.0,) * 8,
        click_offset=-0.4,
        mis_keyed_share=0.15,
    ),
}
SEGMENT_NAMES = tuple(SEGMENTS)
assert SEGMENT_NAMES == domain.SEGMENTS, "the simulator's segments are the shop's segments"

AGE_BANDS = domain.AGE_BANDS
REGIONS = domain.REGIONS
REGION_PROBS = (0.38, 0.11, 0.10, 0.08, 0.07, 0.07, 0.14, 0.05)
CHANNELS = domain.CHANNELS
#: Preferred channel per age band (the only store is in Berlin: elsewhere store x STORE_OUTSIDE_BERLIN).
AGE_CHANNEL_PROBS = ((0.35, 0.55, 0.10), (0.45, 0.40, 0.15), (0.55, 0.25, 0.20), (0.55, 0.15, 0.30), (0.50, 0.07, 0.43))
STORE_OUTSIDE_BERLIN = 0.2
LOYALTY_TIERS = domain.LOYALTY_TIERS
INTEREST_LEVELS = domain.INTEREST_LEVELS
#: Multiplier of a segment's cert_weight per sustainability interest level.
INTEREST_CERT_SCALE = (0.2, 0.6, 1.0)
#: Share of customers who signed up before TIMELINE_START, and the earliest signup day.
EARLY_SIGNUP_SHARE = 0.45
#: Loyalty tier chances: base + per year of membership (x the segment's loyalty), capped.
GOLD_CHANCE = (0.03, 0.03, 0.40)
SILVER_CHANCE = (0.12, 0.06, 0.45)
FIRST_SIGNUP = date(2019, 1, 1)
#: Customers keep arriving until this day.
LAST_SIGNUP = date(2026, 3, 29)
#: Concentration of each customer's Dirichlet category preferences (lower = pickier).
CATEGORY_PREF_CONCENTRATION = 6.0
#: Spread (lognormal sigma) of individual activity: a few very active customers, many quiet.
ACTIVITY_SIGMA = 1.0

# --------------------------------------------------------------------------------------------
# Customers
# --------------------------------------------------------------------------------------------


@dataclass
class Customers:
    """Customers, one entry per row of customers.csv (arrays aligned, row i = C{i+1})."""

    signup: np.ndarray  # day
    segment: np.ndarray
    age: np.ndarray
    region: np.ndarray
    channel: np.ndarray
    loyalty: np.ndarray
    interest: np.ndarray
    style: np.ndarray  # hidden tastes
    colour: np.ndarray
    fabric: np.ndarray
    category_logpref: np.ndarray  # (n, len(CATEGORIES)) log preference, mean ~0
    activity: np.ndarray  # relative episode rate


def segment_param(name: str) -> np.ndarray:
    """One SegmentParams field as an array indexed by segment."""
    return np.array([getattr(SEGMENTS[s], name) for s in SEGMENT_NAMES], dtype=float)


def make_customers(rng: np.random.Generator, n: int) -> Customers:
    """Profiles, segments, hidden tastes and activity levels."""
    segment = rng.permutation(np.repeat(np.arange(len(SEGMENTS)), world.split(n, segment_param("share"))))
    params = [SEGMENTS[SEGMENT_NAMES[s]] for s in segment]
    signup = _signup_days(rng, n)
    age = world.categorical(rng, np.array([p.age_probs for p in params]))
    region = world.categorical(rng, np.tile(REGION_PROBS, (n, 1)))
    channel_probs = np.asarray(AGE_CHANNEL_PROBS)[age]
    channel_probs[:, 2] *= np.where(region == 0, 1.0, STORE_OUTSIDE_BERLIN)
    channel = world.categorical(rng, channel_probs)
    tenure_years = (world.day(EXPORT_TIME.date()) - signup) / 365.25
    loyalty_factor = segment_param("loyalty")[segment]
    p_gold = np.minimum(GOLD_CHANCE[0] + GOLD_CHANCE[1] * tenure_years * loyalty_factor, GOLD_CHANCE[2])
    p_silver = np.minimum(SILVER_CHANCE[0] + SILVER_CHANCE[1] * tenure_years * loyalty_factor, SILVER_CHANCE[2])
    loyalty = world.categorical(rng, np.column_stack([1 - p_gold - p_silver, p_silver, p_gold]))
    interest = world.categorical(rng, np.array([p.interest_probs for p in params]))
    style = world.categorical(rng, np.array([p.style_tilt for p in params]))
    colour = world.categorical(rng, np.array([p.colour_tilt for p in params]))
    fabric = world.categorical(rng, np.array([p.fabric_tilt for p in params]))
    alpha = world.normalised(np.multiply(CATEGORY_SHARES, [p.category_tilt for p in params]))
    prefs = rng.gamma(alpha * CATEGORY_PREF_CONCENTRATION) + 1e-3
    category_logpref = np.log(world.normalised(prefs) * len(CATEGORIES))
    activity = np.exp(rng.normal(0, ACTIVITY_SIGMA, n)) * segment_param("activity")[segment]
    return Customers(
        signup, segment, age, region, channel, loyalty, interest, style, colour, fabric, category_logpref, activity
    )


def _signup_days(rng: np.random.Generator, n: int) -> np.ndarray:
    """EARLY_SIGNUP_SHARE before the timeline (more in recent years), the rest during it with a
    linearly growing arrival rate."""
    early = rng.random(n) < EARLY_SIGNUP_SHARE
    u = rng.random(n)
    first, start, last = world.day(FIRST_SIGNUP), world.day(TIMELINE_START), world.day(LAST_SIGNUP)
    before = start - 1 - np.floor((start - first) * u**1.5)
    during = start + np.floor((last - start + 1) * np.sqrt(u))
    return np.where(early, before, np.minimum(during, last)).astype(np.int64)


def customers_table(customers: Customers, reveal_truth: bool) -> pd.DataFrame:
    """customers.csv rows, sorted by customer_id."""
    table = pd.DataFrame(
        {
            "customer_id": customer_ids(customers),
            "signup_date": world.fmt_days(customers.signup),
            "age_band": np.asarray(AGE_BANDS)[customers.age],
            "region": np.asarray(REGIONS)[customers.region],
            "preferred_channel": np.asarray(CHANNELS)[customers.channel],
            "loyalty_tier": np.asarray(LOYALTY_TIERS)[customers.loyalty],
            "sustainability_interest": np.asarray(INTEREST_LEVELS)[customers.interest],
            "segment": np.asarray(SEGMENT_NAMES)[customers.segment],
        }
    )
    if reveal_truth:
        table["true_style"] = np.asarray(STYLES)[customers.style]
        table["true_colour"] = np.asarray(COLOURS)[customers.colour]
        table["true_fabric"] = np.asarray(FABRICS)[customers.fabric]
    return table


def shift_mask(shift: Shift | None, customers: pd.DataFrame) -> np.ndarray:
    """Customers the planted shift applies to; ValueError if the value never occurs."""
    if shift is None:
        return np.zeros(len(customers), dtype=bool)
    return shift.group_mask(customers)


def customer_ids(customers: Customers) -> np.ndarray:
    """``C`` + zero-padded row number (5 digits, more when needed), one per customer row."""
    return world.fmt_ids("C", np.arange(1, len(customers.signup) + 1), 5).to_numpy()
