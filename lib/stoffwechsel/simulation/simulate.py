"""Deterministic simulator of Stoffwechsel's exports (see ``docs/simulation.md``).

:func:`simulate` writes the client's four CSV files and the DVC template in the format of
``docs/materials.md``; :func:`simulate_frames` returns the same tables as DataFrames and, on
request, the hidden truth (true seasons, uncensored outcomes, tastes) for tests.

Every component draws from its own child of ``numpy.random.SeedSequence(seed)``, so the same
seed and options give byte-identical files, and options that touch one component (``drift``,
``shift``) leave the others unchanged. Everything is vectorised over events; Python loops run
over products (text building), seasons or days only.

Internally times are integer seconds and dates integer days since 1970-01-01 (naive Berlin
wall time); they are formatted to strings only when the tables are built.

Why one module of over 600 lines: the simulator is one story whose parts draw from sibling
seeds of one ``SeedSequence`` and feed each other (products -> customers -> transactions ->
recommendations -> drift). The constants block at the top is the story's one place to change;
the generators below it only follow it. Planted shifts live in :mod:`stoffwechsel.monitoring.shift`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from stoffwechsel import domain
from stoffwechsel.config import (
    CUSTOMERS_FILE,
    DVC_TEMPLATE_FILE,
    PRODUCTS_FILE,
    RECOMMENDATIONS_FILE,
    TRANSACTIONS_FILE,
)
from stoffwechsel.data.io import atomic_write
from stoffwechsel.monitoring.shift import CUSTOMER_COLUMNS, Shift, parse_shift  # noqa: F401 (the simulator's API)

# --------------------------------------------------------------------------------------------
# Timeline
# --------------------------------------------------------------------------------------------

#: First day of the transaction history.
TIMELINE_START = date(2024, 3, 1)
#: When the client exported every file; nothing after it is observed.
EXPORT_TIME = datetime(2026, 3, 31, 6, 0, 0)
#: Seasons in order: code, first day, last day (SS = 1 Mar-31 Aug, AW = 1 Sep-end of Feb).
SEASONS = (
    ("SS24", date(2024, 3, 1), date(2024, 8, 31)),
    ("AW24", date(2024, 9, 1), date(2025, 2, 28)),
    ("SS25", date(2025, 3, 1), date(2025, 8, 31)),
    ("AW25", date(2025, 9, 1), date(2026, 2, 28)),
    ("SS26", date(2026, 3, 1), date(2026, 8, 31)),
)
#: Spring DST changes in Europe/Berlin: wall times 02:00-02:59:59 do not exist on these days.
#: Timestamps are wall times, so a time that falls there is moved on by an hour, as a clock is.
DST_SPRING_FORWARD = (date(2024, 3, 31), date(2025, 3, 30), date(2026, 3, 29))
#: SS26 launch: from this day the built-in drift (mis-keyed recycled ids) hits production.
LAUNCH_DATE = date(2026, 3, 1)
#: First and last day of the production recommendation sample.
RECS_FIRST_DAY = date(2026, 1, 5)
RECS_LAST_DAY = date(2026, 3, 29)
#: Production model versions and the day each went live (2.4.0 changes nothing by itself).
MODEL_VERSIONS = (("prod-2.3.1", RECS_FIRST_DAY), ("prod-2.4.0", date(2026, 2, 16)))
#: Attribution windows of the production system, in seconds.
CLICK_WINDOW_S = int(domain.WINDOWS_S["click"])
PURCHASE_WINDOW_S = int(domain.WINDOWS_S["purchase"])
RETURN_WINDOW_S = int(domain.WINDOWS_S["return"])

# --------------------------------------------------------------------------------------------
# Sizes (at scale 1; ``scale`` multiplies each)
# --------------------------------------------------------------------------------------------

BASE_ROWS = {PRODUCTS_FILE: 800, CUSTOMERS_FILE: 2000, TRANSACTIONS_FILE: 15000, RECOMMENDATIONS_FILE: 3000}
#: Smallest scale that still gives every season a few products.
MIN_SCALE = 0.05
#: Share of all products launched in each season (SS24..SS26).
SEASON_PRODUCT_WEIGHTS = (0.19, 0.20, 0.20, 0.21, 0.20)

# --------------------------------------------------------------------------------------------
# Catalogue
# --------------------------------------------------------------------------------------------

#: Share of a new season's products that reuse an earlier product_id (for a different product).
RECYCLE_SHARE = 0.25
#: Of the reused ids, the share taken from the immediately preceding season (rest: older).
RECYCLE_FROM_PREVIOUS = 0.8
#: Preceding-season products in clearance are this many times likelier to lend their id.
RECYCLE_CLEARANCE_WEIGHT = 3.0
#: Sale windows: share starting on the season's first day; the rest start 1-6 weeks later.
ON_TIME_START_SHARE = 0.5
LATE_START_WEEKS = (1, 6)
#: Without clearance the last sale day is 0-21 days before the season ends.
EARLY_END_DAYS = (0, 21)
#: Share of products with clearance: on sale 2-6 weeks (14-42 days) into the next season.
CLEARANCE_SHARE = 0.40
CLEARANCE_DAYS = (14, 42)
#: Clearance discounts (one per product, drawn uniformly).
CLEARANCE_DISCOUNTS = (0.3, 0.4, 0.5)
#: A product is "new in" for this many days after its first sale day (within its season).
NEW_IN_DAYS = 28

CATEGORIES = domain.CATEGORIES
#: Base share of each category, and multipliers for spring/summer and autumn/winter seasons.
CATEGORY_SHARES = (0.15, 0.10, 0.10, 0.11, 0.08, 0.12, 0.07, 0.09, 0.08, 0.10)
CATEGORY_SS_FACTOR = (1.2, 1.1, 0.5, 1.0, 1.0, 1.4, 1.3, 0.6, 1.1, 1.0)
CATEGORY_AW_FACTOR = (0.8, 0.9, 1.6, 1.0, 1.0, 0.7, 0.8, 1.5, 0.9, 1.0)
#: Median list price per category in EUR (lognormal around it, sigma PRICE_SIGMA).
CATEGORY_MEDIAN_PRICE = (39.0, 69.0, 119.0, 89.0, 99.0, 109.0, 69.0, 219.0, 59.0, 35.0)
PRICE_SIGMA = 0.25
#: Classic tailoring costs this much more.
CLASSIC_PRICE_FACTOR = 1.2
#: Spread (normal sigma, utility) of a product's hidden overall appeal.
APPEAL_SIGMA = 0.4
#: Item nouns per category (used in names and descriptions).
CATEGORY_NOUNS = (
    ("Tee", "Tank Top", "Blouse", "Camisole", "Long-Sleeve Top", "Crop Top"),
    ("Shirt", "Overshirt", "Button-Down", "Camp Collar Shirt", "Poplin Shirt"),
    ("Sweater", "Cardigan", "Turtleneck", "Knit Vest", "Crewneck Jumper"),
    ("Trousers", "Wide-Leg Pants", "Chinos", "Culottes", "Cargo Pants"),
    ("Straight Jeans", "Mom Jeans", "Wide Jeans", "Slim Jeans", "Barrel Jeans"),
    ("Wrap Dress", "Shirt Dress", "Slip Dress", "Midi Dress", "Maxi Dress", "Tea Dress"),
    ("Midi Skirt", "Pleated Skirt", "Wrap Skirt", "Mini Skirt", "A-Line Skirt"),
    ("Coat", "Trench Coat", "Parka", "Puffer Jacket", "Blazer", "Field Jacket"),
    ("Leggings", "Sports Bra", "Running Tee", "Track Jacket", "Yoga Shorts"),
    ("Scarf", "Beanie", "Tote Bag", "Bucket Hat", "Socks", "Belt"),
)

#: Hidden product attributes. They appear only in the name/description text.
FABRICS = (
    "organic cotton",
    "linen",
    "hemp",
    "Tencel lyocell",
    "recycled polyester",
    "merino wool",
    "recycled cashmere",
    "recycled nylon",
)
#: Fabric weights per category (rows follow CATEGORIES, columns FABRICS).
CATEGORY_FABRIC_WEIGHTS = (
    (5, 2, 1.5, 2, 0.5, 0.5, 0, 0.3),  # tops
    (4, 3, 1.5, 1.5, 0.3, 0, 0, 0),  # shirts
    (2, 0.3, 0.5, 0.3, 0.3, 3, 2.5, 0),  # knitwear
    (3, 2, 2, 1.5, 0.5, 0.5, 0, 0.3),  # trousers
    (6, 0, 1.5, 0.5, 0.3, 0, 0, 0),  # jeans
    (2.5, 3, 0.5, 3, 0.5, 0.5, 0, 0),  # dresses
    (2.5, 2.5, 1, 2.5, 0.5, 0.5, 0, 0),  # skirts
    (2, 0.5, 1, 0.3, 3, 2, 0.5, 2),  # outerwear
    (1, 0, 0, 2, 4, 1, 0, 3),  # activewear
    (3, 1.5, 1.5, 1, 1, 2, 1.5, 1),  # accessories
)
FABRIC_SS_FACTOR = (1.0, 1.6, 1.2, 1.2, 1.0, 0.4, 0.3, 1.0)
FABRIC_AW_FACTOR = (1.0, 0.4, 0.9, 0.9, 1.0, 1.8, 1.8, 1.0)
#: Price multiplier per fabric.
FABRIC_PRICE_FACTOR = (1.0, 1.15, 1.05, 1.1, 0.9, 1.35, 1.8, 0.95)
#: Certification probabilities per fabric (columns CERTIFICATIONS); at most 3 are kept.
CERTIFICATIONS = domain.CERTIFICATIONS
FABRIC_CERT_PROBS = (
    (0.75, 0.35, 0.40, 0.02, 0.02),  # organic cotton
    (0.05, 0.20, 0.55, 0.05, 0.02),  # linen
    (0.30, 0.30, 0.40, 0.02, 0.02),  # hemp
    (0.05, 0.15, 0.60, 0.15, 0.02),  # Tencel lyocell
    (0.00, 0.15, 0.35, 0.45, 0.70),  # recycled polyester
    (0.00, 0.20, 0.35, 0.20, 0.05),  # merino wool
    (0.00, 0.20, 0.30, 0.05, 0.60),  # recycled cashmere
    (0.00, 0.10, 0.30, 0.50, 0.60),  # recycled nylon
)
MAX_CERTIFICATIONS = 3

STYLES = ("minimalist", "boho", "sporty", "classic tailoring", "streetwear", "romantic")
CLASSIC_STYLE = STYLES.index("classic tailoring")
#: Style weights per category (rows CATEGORIES, columns STYLES).
CATEGORY_STYLE_WEIGHTS = (
    (3, 2, 1, 1, 2, 2),
    (2, 1, 0.3, 3, 1, 1),
    (3, 2, 0.5, 2, 1, 1.5),
    (2, 1, 1, 3, 2, 0.5),
    (2, 1, 0.5, 1, 3, 1),
    (2, 3, 0.2, 1.5, 0.5, 3),
    (2, 3, 0.3, 1.5, 1, 3),
    (3, 1, 1, 3, 2, 0.5),
    (1, 0.5, 6, 0.2, 1.5, 0.3),
    (2, 2, 1, 1, 2, 1.5),
)
COLOURS = ("earth tones", "black and grey", "pastels", "bold brights", "navy and white", "jewel tones")
COLOUR_SS_FACTOR = (1.0, 0.8, 1.5, 1.4, 1.4, 0.5)
COLOUR_AW_FACTOR = (1.4, 1.4, 0.5, 0.7, 0.8, 1.5)
FITS = ("relaxed", "regular", "slim", "oversized", "tailored")
#: Fit weights per style (rows STYLES, columns FITS).
STYLE_FIT_WEIGHTS = (
    (2, 3, 2, 1, 1),
    (4, 2, 0.5, 2, 0),
    (2, 3, 3, 1, 0),
    (0.5, 2, 2, 0, 4),
    (3, 1, 0.5, 4, 0),
    (3, 3, 1, 0.5, 0.5),
)
ORIGINS = ("Portugal", "Turkey", "Germany", "India", "Lithuania", "Italy", "Bulgaria", "Bangladesh")
ORIGIN_WEIGHTS = (0.30, 0.18, 0.12, 0.15, 0.08, 0.08, 0.05, 0.04)
#: Seasonal tags (0-3 per product; count probabilities TAG_COUNT_PROBS).
SS_TAGS = ("summer", "festival", "holiday", "lightweight", "new-in", "capsule", "limited edition")
AW_TAGS = ("winter", "layering", "cosy", "gifting", "new-in", "capsule", "limited edition")
TAG_COUNT_PROBS = (0.25, 0.40, 0.25, 0.10)

FIRST_NAMES = (
    "Ilse",
    "Greta",
    "Mila",
    "Jonas",
    "Frieda",
    "Lotte",
    "Hanna",
    "Emil",
    "Paula",
    "Anton",
    "Clara",
    "Ida",
    "Theo",
    "Marlene",
    "Jule",
    "Oskar",
    "Lene",
    "Kurt",
    "Edda",
    "Bruno",
    "Wanda",
    "Nele",
    "Rosa",
    "Hugo",
    "Alma",
    "Fritz",
    "Liesel",
    "Karl",
    "Merle",
    "Vera",
    "Ole",
    "Tilda",
    "Henrike",
    "Mats",
    "Annika",
    "Levi",
    "Romy",
    "Bela",
    "Smilla",
    "Janne",
)
#: Fabric word used in product names (names carry it 65% of the time).
FABRIC_NAME_WORDS = ("Organic Cotton", "Linen", "Hemp", "Tencel", "Recycled", "Merino", "Cashmere", "Recycled Nylon")
NAME_WITH_FABRIC_SHARE = 0.65

# Description building blocks: several templates and synonyms per attribute.
STYLE_ADJECTIVES = {
    "minimalist": ("minimalist", "pared-back", "clean-lined"),
    "boho": ("boho", "bohemian", "free-spirited"),
    "sporty": ("sporty", "athletic", "active"),
    "classic tailoring": ("tailored", "classic", "sharply cut"),
    "streetwear": ("streetwear", "urban", "street-style"),
    "romantic": ("romantic", "feminine", "softly romantic"),
}
STYLE_PHRASES = {
    "minimalist": ("clean, minimalist lines", "a pared-back minimalist design", "understated minimal shapes"),
    "boho": ("free-spirited boho details", "relaxed bohemian charm", "a flowing boho feel"),
    "sporty": ("sporty, athletic energy", "an active, sporty spirit", "athleisure-ready sportiness"),
    "classic tailoring": ("classic tailoring", "sharp, tailored lines", "timeless tailored polish"),
    "streetwear": ("an urban streetwear edge", "laid-back street style", "a bold streetwear attitude"),
    "romantic": ("soft romantic details", "delicate, feminine romance", "romantic ruffles and gentle gathers"),
}
OPENERS = (
    "The {name} is a {adj} {noun} with {phrase}.",
    "Meet the {name}: our {adj} take on the {noun}, with {phrase}.",
    "A {adj} {noun} designed around {phrase}.",
    "The {name} brings {phrase} to the everyday {noun}.",
    "Our {noun} for anyone who loves {phrase}.",
)
FABRIC_PHRASES = {
    "organic cotton": ("organic cotton", "certified organic cotton", "soft organic cotton"),
    "linen": ("European linen", "breathable linen", "pure linen"),
    "hemp": ("hemp", "durable hemp", "a hemp and cotton blend"),
    "Tencel lyocell": ("Tencel lyocell", "silky lyocell from wood pulp", "smooth Tencel lyocell"),
    "recycled polyester": ("recycled polyester", "polyester spun from recycled bottles", "recycled PET fibres"),
    "merino wool": ("merino wool", "fine merino wool", "mulesing-free merino wool"),
    "recycled cashmere": ("recycled cashmere", "regenerated cashmere", "post-consumer recycled cashmere"),
    "recycled nylon": ("recycled nylon", "regenerated nylon", "nylon recovered from old fishing nets"),
}
FABRIC_SENTENCES = (
    "Made from {fabric}.",
    "Cut from {fabric} that feels good on the skin.",
    "The fabric is {fabric}, chosen for a lower footprint.",
    "We use {fabric} for this piece.",
)
COLOUR_PHRASES = {
    "earth tones": ("warm earth tones", "earthy terracotta and ochre", "olive, rust and sand hues"),
    "black and grey": ("black and charcoal", "a monochrome black and grey palette", "graphite grey and black"),
    "pastels": ("soft pastels", "powder blue and blush", "mint and lavender pastels"),
    "bold brights": ("bold brights", "vivid cobalt and tomato red", "punchy, saturated colours"),
    "navy and white": ("navy and white", "crisp white with navy accents", "classic navy and white stripes"),
    "jewel tones": ("deep jewel tones", "emerald and burgundy", "rich sapphire and plum"),
}
COLOUR_SENTENCES = (
    "It comes in {colour}.",
    "The palette: {colour}.",
    "Available in {colour}.",
    "Dyed in {colour} with low-impact dyes.",
)
FIT_SENTENCES = {
    "relaxed": ("The fit is relaxed and easy to move in.", "Cut loose for a relaxed fit."),
    "regular": ("A regular fit that works for most body shapes.", "True to size with a regular fit."),
    "slim": ("Slim through the body for a close fit.", "A slim fit; size up if you are between sizes."),
    "oversized": ("Oversized on purpose, with dropped shoulders.", "An oversized cut made for layering."),
    "tailored": ("Tailored to sit neatly at the waist and shoulders.", "A tailored fit with clean seams."),
}
ORIGIN_SENTENCES = (
    "Sewn in {origin} by a partner workshop we have known for years.",
    "Made in {origin}.",
    "Produced in a family-run factory in {origin}.",
    "Manufactured in {origin} under audited working conditions.",
)
#: Care sentences per fabric group (plant fibres, cellulose, wool, synthetics).
CARE_SENTENCES = {
    "plant": ("Machine wash at 30 degrees and line dry.", "Wash at 30 degrees; it softens with every wash."),
    "cellulose": ("Gentle machine wash, cold.", "Wash cold on a delicate cycle and hang to dry."),
    "wool": ("Hand wash cold and dry flat.", "Air it out between wears and hand wash when needed."),
    "synthetic": ("Wash cold inside a filter bag to catch microfibres.", "Machine wash cold, no tumble dryer."),
}
FABRIC_CARE_GROUP = ("plant", "plant", "plant", "cellulose", "synthetic", "wool", "wool", "synthetic")
CERT_SENTENCES = ("Certified {certs}.", "It carries the {certs} label.", "Independently certified: {certs}.")
CLOSERS = (
    "A piece to keep for many seasons.",
    "Designed in our Berlin studio.",
    "Pairs well with the rest of the collection.",
    "Part of a small, limited production run.",
    "Repairs are free for the first two years.",
    "",
)
DESCRIPTION_WORDS = (25, 80)

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

#: Weight of a match of the hidden tastes in every utility (choice and conversion).
TASTE_WEIGHTS = {"style": 1.5, "colour": 1.0, "fabric": 0.8}

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
#: Activity over the year: month multipliers (Jan..Dec) and weekday multipliers (Mon..Sun).
MONTH_FACTORS = (1.1, 0.9, 1.05, 1.0, 1.0, 1.05, 1.1, 0.9, 1.0, 1.0, 1.3, 1.25)
WEEKDAY_FACTORS = (0.9, 0.9, 0.95, 1.0, 1.05, 1.15, 1.1)
#: Hour-of-day weights (0..23) for online channels and for the store (open 10-20).
ONLINE_HOURS = (2, 1, 0.5, 0.3, 0.3, 0.5, 1.5, 3, 4, 4, 4, 4.5, 5.5, 5, 4.5, 4.5, 4.5, 5, 6, 7.5, 8.5, 8, 6, 3.5)
STORE_HOURS = (0,) * 10 + (3, 4, 5, 5, 5, 5.5, 6, 6.5, 6, 4) + (0,) * 4
#: Episodes generated per needed episode, before trimming to the exact row count.
EPISODE_OVERSHOOT = 1.3

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

#: The client's DVC template (static; same bytes every time).
DVC_TEMPLATE = """\
# Stoffwechsel - template for the feature pipeline stages (client draft).
# Replace the <...> placeholders; every stage reads its own section of params.yaml.
stages:
  profile:            # data contract + profiling of the raw exports
    cmd: <command>
    deps: [<materials/*.csv>]
    params: [profile]
    outs: [<data/profile/>]
  features:           # tabular customer / product / pair features, feature store
    cmd: <command>
    deps: [<data/profile/>]
    params: [features]
    outs: [<data/features/>]
  embeddings:         # text embeddings of product descriptions, taste profiles
    cmd: <command>
    deps: [<data/features/>]
    params: [embeddings]
    outs: [<data/embeddings/>]
  train:              # candidate generation + ranker, offline evaluation
    cmd: <command>
    deps: [<data/features/>, <data/embeddings/>]
    params: [train]
    outs: [<data/models/>]
    metrics: [<reports/train.json>]
  monitor:            # production monitoring: delayed labels, drift, alerts
    cmd: <command>
    deps: [<materials/production-recommendations-sample.csv>]
    params: [monitor]
    outs: [<reports/monitor/>]
  site:               # dashboard for the shop team
    cmd: <command>
    deps: [<reports/>]
    outs: [<_site/>]
"""

EVENT_TYPES = ("browse", "wishlist", "purchase", "return")
BROWSE, WISHLIST, PURCHASE, RETURN = range(len(EVENT_TYPES))  # also the step in an episode's chain
_EPOCH_DATE = date(1970, 1, 1)
_EPOCH = datetime(1970, 1, 1)
_COMPONENTS = ("products", "customers", "transactions", "recommendations", "drift")


# --------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------


def simulate(
    out_dir: Path,
    seed: int = 42,
    scale: float = 1.0,
    shift: Shift | None = None,
    drift: bool = True,
    style: str = "native",
) -> dict[str, int]:
    """Write the four client CSV files and the DVC template into ``out_dir`` (created), each
    atomically. Returns the number of data rows per CSV file. Same arguments give
    byte-identical files. ``style`` is the export style (:mod:`stoffwechsel.simulation.export_style`):
    ``native`` (our format) or ``real`` (the same history the way real exports look)."""
    from stoffwechsel.simulation.export_style import apply_style

    frames = apply_style(simulate_frames(seed=seed, scale=scale, shift=shift, drift=drift), style, seed)
    out_dir = Path(out_dir)
    for name, frame in frames.items():
        with atomic_write(out_dir / name, "w") as fh:
            frame.to_csv(fh, index=False, lineterminator="\n")
    with atomic_write(out_dir / DVC_TEMPLATE_FILE, "w") as fh:
        fh.write(DVC_TEMPLATE)
    return {name: len(frame) for name, frame in frames.items()}


def simulate_frames(
    seed: int = 42, scale: float = 1.0, shift: Shift | None = None, drift: bool = True, reveal_truth: bool = False
) -> dict[str, pd.DataFrame]:
    """The four tables keyed by file name, every cell a string exactly as written.

    With ``reveal_truth`` extra ``true_*`` columns are appended (see ``docs/simulation.md``):
    hidden product attributes and customer tastes, each transaction's ``true_season``, and for
    recommendations the uncensored outcome times (within the attribution windows, also after
    the export), the mis-keyed flag and the outcome probabilities.
    """
    if not scale >= MIN_SCALE:
        raise ValueError(f"scale must be >= {MIN_SCALE}, got {scale}")
    rows = {name: round(base * scale) for name, base in BASE_ROWS.items()}
    children = np.random.SeedSequence(seed).spawn(len(_COMPONENTS))
    rngs = {component: np.random.default_rng(child) for component, child in zip(_COMPONENTS, children)}

    products = _make_products(rngs["products"], rows[PRODUCTS_FILE])
    customers = _make_customers(rngs["customers"], rows[CUSTOMERS_FILE])
    tables = {
        PRODUCTS_FILE: _products_table(products, reveal_truth),
        CUSTOMERS_FILE: _customers_table(customers, reveal_truth),
    }
    shifted = _shift_mask(shift, tables[CUSTOMERS_FILE])
    events = _make_transactions(rngs["transactions"], products, customers, rows[TRANSACTIONS_FILE])
    tables[TRANSACTIONS_FILE] = _transactions_table(events, products, customers, reveal_truth)
    recs = _make_recommendations(
        rngs["recommendations"],
        rngs["drift"],
        products,
        customers,
        events,
        rows[RECOMMENDATIONS_FILE],
        shift,
        shifted,
        drift,
    )
    tables[RECOMMENDATIONS_FILE] = _recommendations_table(recs, products, customers, reveal_truth)
    return tables


# --------------------------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------------------------


def _day(d: date) -> int:
    return (d - _EPOCH_DATE).days


def _second(t: datetime) -> int:
    return int((t - _EPOCH).total_seconds())


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _normalised(weights) -> np.ndarray:
    w = np.asarray(weights, dtype=float)
    return w / w.sum(axis=-1, keepdims=True)


def _categorical(rng: np.random.Generator, probs: np.ndarray) -> np.ndarray:
    """One draw per row of a (rows x options) probability matrix."""
    cum = np.cumsum(probs, axis=1)
    u = rng.random(len(probs))[:, None] * cum[:, -1:]
    return np.minimum((cum <= u).sum(axis=1), probs.shape[1] - 1)


def _split(total: int, weights) -> np.ndarray:
    """Integer counts summing to ``total``, proportional to ``weights`` (largest remainder)."""
    raw = np.asarray(weights, dtype=float) / np.sum(weights) * total
    counts = np.floor(raw).astype(int)
    counts[np.argsort(-(raw - counts), kind="stable")[: total - counts.sum()]] += 1
    return counts


def _wall_time(seconds: np.ndarray) -> np.ndarray:
    """Times in the spring DST gap (02:00-03:00 on DST_SPRING_FORWARD days) moved on by an hour."""
    seconds = np.asarray(seconds, dtype=np.int64)
    in_gap = np.isin(seconds // 86400, [_day(d) for d in DST_SPRING_FORWARD]) & (seconds % 86400 // 3600 == 2)
    return np.where(in_gap, seconds + 3600, seconds)


def _lognormal_seconds(rng: np.random.Generator, median_sigma: tuple[float, float], n: int) -> np.ndarray:
    median, sigma = median_sigma
    return np.exp(rng.normal(np.log(median), sigma, n)).astype(np.int64)


def _calibrated_intercept(logits: np.ndarray, target: float, weights: np.ndarray | None = None) -> float:
    """The intercept ``a`` with the (weighted) mean of sigmoid(a + logits) equal to ``target``
    (bisection). Weights make a conditional rate hit its target, e.g. purchases per click."""
    lo, hi = -20.0, 20.0
    for _ in range(60):
        mid = (lo + hi) / 2
        if np.average(_sigmoid(mid + logits), weights=weights) < target:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def _fmt_days(days: np.ndarray) -> np.ndarray:
    return np.datetime_as_string(np.asarray(days, dtype="int64").astype("datetime64[D]"))


def _fmt_seconds(seconds: np.ndarray, missing: np.ndarray | None = None) -> np.ndarray:
    """``YYYY-MM-DDTHH:MM:SS``; empty where ``missing``."""
    text = np.datetime_as_string(np.asarray(seconds, dtype="int64").astype("datetime64[s]"), unit="s")
    return text if missing is None else np.where(missing, "", text)


def _fmt_decimal(values: np.ndarray, places: int) -> pd.Series:
    """Fixed-point text of non-negative numbers, rounded half away from zero."""
    units = np.floor(np.asarray(values, dtype=float) * 10**places + 0.5).astype("int64")
    whole = pd.Series(units // 10**places).astype(str)
    frac = pd.Series(units % 10**places).astype(str).str.zfill(places)
    return whole + "." + frac


def _fmt_ids(prefix: str, numbers: np.ndarray, min_digits: int) -> pd.Series:
    numbers = np.asarray(numbers, dtype="int64")
    width = max(min_digits, len(str(int(numbers.max()))))
    return prefix + pd.Series(numbers).astype(str).str.zfill(width)


def _product_ids(products: _Products) -> np.ndarray:
    """``SW-`` + zero-padded id number (4 digits, more when needed), one per product row."""
    return _fmt_ids("SW-", products.id_number, 4).to_numpy()


def _customer_ids(customers: _Customers) -> np.ndarray:
    """``C`` + zero-padded row number (5 digits, more when needed), one per customer row."""
    return _fmt_ids("C", np.arange(1, len(customers.signup) + 1), 5).to_numpy()


def _season_bounds() -> tuple[np.ndarray, np.ndarray]:
    return (np.array([_day(s) for _, s, _ in SEASONS]), np.array([_day(e) for _, _, e in SEASONS]))


def _is_spring(season_index: np.ndarray) -> np.ndarray:
    return np.array([code.startswith("SS") for code, _, _ in SEASONS])[season_index]


# --------------------------------------------------------------------------------------------
# Products
# --------------------------------------------------------------------------------------------


@dataclass
class _Products:
    """Product versions, one entry per row of products.csv (arrays aligned)."""

    id_number: np.ndarray  # the number in SW-NNNN
    season: np.ndarray  # index into SEASONS
    previous: np.ndarray  # row of the latest earlier version of the same id, -1 if none
    category: np.ndarray
    fabric: np.ndarray
    style: np.ndarray
    colour: np.ndarray
    fit: np.ndarray
    origin: np.ndarray
    price: np.ndarray
    certs: np.ndarray  # (n, len(CERTIFICATIONS)) bool
    sale_start: np.ndarray  # day
    sale_end: np.ndarray  # day
    discount: np.ndarray  # clearance discount
    appeal: np.ndarray  # hidden overall attractiveness (utility)
    name: list[str]
    description: list[str]
    tags: list[str]

    @property
    def season_end(self) -> np.ndarray:
        return _season_bounds()[1][self.season]

    @property
    def recycled(self) -> np.ndarray:
        return self.previous >= 0


def _make_products(rng: np.random.Generator, n: int) -> _Products:
    """Seasons, sale windows, recycled ids, hidden attributes, prices and texts."""
    season = np.repeat(np.arange(len(SEASONS)), _split(n, SEASON_PRODUCT_WEIGHTS))
    spring = _is_spring(season)
    sale_start, sale_end, clearance = _sale_windows(rng, season)

    cat_probs = np.where(
        spring[:, None],
        np.multiply(CATEGORY_SHARES, CATEGORY_SS_FACTOR),
        np.multiply(CATEGORY_SHARES, CATEGORY_AW_FACTOR),
    )
    category = _categorical(rng, cat_probs)
    id_number, previous = _assign_ids(rng, season, clearance)
    # A recycled id names a different product: a different category than its predecessor
    # (season by season, as a predecessor may itself have been changed).
    for s in range(1, len(SEASONS)):
        same = (season == s) & (previous >= 0) & (category == category[np.maximum(previous, 0)])
        category[same] = (category[same] + rng.integers(1, len(CATEGORIES), same.sum())) % len(CATEGORIES)

    fabric_w = np.asarray(CATEGORY_FABRIC_WEIGHTS, dtype=float)[category]
    fabric = _categorical(rng, fabric_w * np.where(spring[:, None], FABRIC_SS_FACTOR, FABRIC_AW_FACTOR))
    style = _categorical(rng, np.asarray(CATEGORY_STYLE_WEIGHTS, dtype=float)[category])
    colour = _categorical(rng, np.where(spring[:, None], COLOUR_SS_FACTOR, COLOUR_AW_FACTOR))
    fit = _categorical(rng, np.asarray(STYLE_FIT_WEIGHTS, dtype=float)[style])
    origin = _categorical(rng, np.tile(ORIGIN_WEIGHTS, (n, 1)))

    raw_price = (
        np.asarray(CATEGORY_MEDIAN_PRICE)[category]
        * np.asarray(FABRIC_PRICE_FACTOR)[fabric]
        * np.where(style == CLASSIC_STYLE, CLASSIC_PRICE_FACTOR, 1.0)
        * np.exp(rng.normal(0, PRICE_SIGMA, n))
    )
    price = np.maximum(np.round(raw_price), 10.0) - 0.10  # shop prices end in .90

    certs = _certifications(rng, fabric)
    discount = np.asarray(CLEARANCE_DISCOUNTS)[rng.integers(0, len(CLEARANCE_DISCOUNTS), n)]
    appeal = rng.normal(0, APPEAL_SIGMA, n)
    name, description = _texts(rng, category, fabric, style, colour, fit, origin, certs)
    tags = _tags(rng, spring)
    return _Products(
        id_number,
        season,
        previous,
        category,
        fabric,
        style,
        colour,
        fit,
        origin,
        price,
        certs,
        sale_start,
        sale_end,
        discount,
        appeal,
        name,
        description,
        tags,
    )


def _sale_windows(rng: np.random.Generator, season: np.ndarray):
    """First/last sale day per product; ~CLEARANCE_SHARE run into the next season."""
    n = len(season)
    starts, ends = _season_bounds()
    late = rng.random(n) >= ON_TIME_START_SHARE
    late_weeks = rng.integers(LATE_START_WEEKS[0], LATE_START_WEEKS[1] + 1, n)
    sale_start = starts[season] + np.where(late, 7 * late_weeks, 0)
    clearance = rng.random(n) < CLEARANCE_SHARE
    sale_end = np.where(
        clearance,
        ends[season] + rng.integers(CLEARANCE_DAYS[0], CLEARANCE_DAYS[1] + 1, n),
        ends[season] - rng.integers(EARLY_END_DAYS[0], EARLY_END_DAYS[1] + 1, n),
    )
    # The first product of each season runs the whole season, so no day is without stock.
    first = np.searchsorted(season, np.arange(len(SEASONS)))
    sale_start[first] = starts
    sale_end[first] = np.maximum(sale_end[first], ends)
    return sale_start, np.maximum(sale_end, sale_start), clearance


def _assign_ids(rng: np.random.Generator, season: np.ndarray, clearance: np.ndarray):
    """Id numbers; RECYCLE_SHARE of each later season's products reuse an earlier id.

    Reused ids come mostly from the preceding season (clearance items preferred, so both
    versions are on sale at once), the rest from older seasons. Returns the id numbers and, per
    row, the row of the latest earlier version of that id (-1 for a new id).
    """
    n = len(season)
    id_number = np.zeros(n, dtype=np.int64)
    previous = np.full(n, -1, dtype=np.int64)
    latest_row: dict[int, int] = {}  # id number -> row of its latest version
    next_id = 1
    for s in range(len(SEASONS)):
        rows = np.flatnonzero(season == s)
        reuse: list[int] = []
        if s > 0:
            n_reuse = round(RECYCLE_SHARE * len(rows))
            prev_rows = np.flatnonzero(season == s - 1)
            prev_ids = set(id_number[prev_rows].tolist())
            older_ids = sorted(i for i in latest_row if i not in prev_ids)
            n_older = min(len(older_ids), n_reuse - round(RECYCLE_FROM_PREVIOUS * n_reuse))
            n_prev = min(len(prev_rows), n_reuse - n_older)
            w = np.where(clearance[prev_rows], RECYCLE_CLEARANCE_WEIGHT, 1.0)
            reuse = id_number[rng.choice(prev_rows, n_prev, replace=False, p=w / w.sum())].tolist()
            if n_older:
                reuse += rng.choice(older_ids, n_older, replace=False).tolist()
        reused_rows = rng.permutation(rows[1:])[: len(reuse)]  # rows[0] always gets a new id
        id_number[reused_rows] = reuse
        previous[reused_rows] = [latest_row[i] for i in reuse]
        for row in np.setdiff1d(rows, reused_rows):
            id_number[row] = next_id
            next_id += 1
        for row in rows:
            latest_row[int(id_number[row])] = int(row)
    return id_number, previous


def _certifications(rng: np.random.Generator, fabric: np.ndarray) -> np.ndarray:
    """Certification flags correlated with the fabric; at most MAX_CERTIFICATIONS per product."""
    n = len(fabric)
    has = rng.random((n, len(CERTIFICATIONS))) < np.asarray(FABRIC_CERT_PROBS)[fabric]
    keys = np.where(has, rng.random(has.shape), -1.0)
    rank = np.argsort(np.argsort(-keys, axis=1), axis=1)
    return has & (rank < MAX_CERTIFICATIONS)


def _tags(rng: np.random.Generator, spring: np.ndarray) -> list[str]:
    """0-3 seasonal tags per product, alphabetical, joined with '|'."""
    n = len(spring)
    count = _categorical(rng, np.tile(TAG_COUNT_PROBS, (n, 1)))
    order = np.argsort(rng.random((n, len(SS_TAGS))), axis=1)
    tags = []
    for i in range(n):
        pool = SS_TAGS if spring[i] else AW_TAGS
        tags.append("|".join(sorted(pool[j] for j in order[i, : count[i]])))
    return tags


def _texts(rng, category, fabric, style, colour, fit, origin, certs) -> tuple[list[str], list[str]]:
    """Product names ("Ilse Linen Wrap Dress") and 25-80 word descriptions from templates.

    The description is the only place where fabric, style, colour family, fit, care and origin
    appear (fabric also in most names).
    """
    n = len(category)
    pick = rng.integers(0, 1 << 30, size=(n, 14))
    sentence_order = np.argsort(rng.random((n, 4)), axis=1)
    with_fabric = rng.random(n) < NAME_WITH_FABRIC_SHARE
    names, descriptions = [], []
    for i in range(n):
        p = pick[i]
        nouns = CATEGORY_NOUNS[category[i]]
        noun = nouns[p[0] % len(nouns)]
        first = FIRST_NAMES[p[1] % len(FIRST_NAMES)]
        name = f"{first} {FABRIC_NAME_WORDS[fabric[i]]} {noun}" if with_fabric[i] else f"{first} {noun}"
        style_name, fabric_name = STYLES[style[i]], FABRICS[fabric[i]]
        adjectives, phrases = STYLE_ADJECTIVES[style_name], STYLE_PHRASES[style_name]
        opener = OPENERS[p[2] % len(OPENERS)].format(
            name=name, noun=noun.lower(), adj=adjectives[p[3] % 3], phrase=phrases[p[4] % 3]
        )
        middle = [
            FABRIC_SENTENCES[p[5] % len(FABRIC_SENTENCES)].format(fabric=FABRIC_PHRASES[fabric_name][p[6] % 3]),
            COLOUR_SENTENCES[p[7] % len(COLOUR_SENTENCES)].format(colour=COLOUR_PHRASES[COLOURS[colour[i]]][p[8] % 3]),
            FIT_SENTENCES[FITS[fit[i]]][p[9] % 2],
            ORIGIN_SENTENCES[p[10] % len(ORIGIN_SENTENCES)].format(origin=ORIGINS[origin[i]]),
        ]
        core = [opener] + [middle[j] for j in sentence_order[i]]
        core.append(CARE_SENTENCES[FABRIC_CARE_GROUP[fabric[i]]][p[11] % 2])
        held = [c for c, flag in zip(CERTIFICATIONS, certs[i]) if flag]
        extras = [
            CERT_SENTENCES[p[12] % len(CERT_SENTENCES)].format(certs=_and_list(held)) if held else "",
            CLOSERS[p[13] % len(CLOSERS)],
        ]
        names.append(name)
        descriptions.append(_within_word_limits(core, extras))
    return names, descriptions


def _and_list(items: list[str]) -> str:
    """'A', 'A and B', 'A, B and C'."""
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _within_word_limits(core: list[str], extras: list[str]) -> str:
    """The core sentences plus each extra that still fits DESCRIPTION_WORDS; a closer is added
    if the text is too short (the core alone is always within the upper limit)."""
    sentences = list(core)
    for extra in extras:
        if extra and len(" ".join([*sentences, extra]).split()) <= DESCRIPTION_WORDS[1]:
            sentences.append(extra)
    if len(" ".join(sentences).split()) < DESCRIPTION_WORDS[0]:
        sentences.append(CLOSERS[0])
    return " ".join(sentences)


def _products_table(products: _Products, reveal_truth: bool) -> pd.DataFrame:
    """products.csv rows, sorted by product_id, then season in time order."""
    cert_names = np.asarray(CERTIFICATIONS)
    table = pd.DataFrame(
        {
            "product_id": _product_ids(products),
            "season": np.asarray([code for code, _, _ in SEASONS])[products.season],
            "name": products.name,
            "description": products.description,
            "category": np.asarray(CATEGORIES)[products.category],
            "price_eur": _fmt_decimal(products.price, 2),
            "certifications": ["|".join(cert_names[row]) for row in products.certs],
            "tags": products.tags,
            "sale_start": _fmt_days(products.sale_start),
            "sale_end": _fmt_days(products.sale_end),
        }
    )
    if reveal_truth:
        for column, values, labels in (
            ("fabric", products.fabric, FABRICS),
            ("style", products.style, STYLES),
            ("colour", products.colour, COLOURS),
            ("fit", products.fit, FITS),
            ("origin", products.origin, ORIGINS),
        ):
            table[f"true_{column}"] = np.asarray(labels)[values]
    order = np.lexsort((products.season, products.id_number))
    return table.iloc[order].reset_index(drop=True)


# --------------------------------------------------------------------------------------------
# Customers
# --------------------------------------------------------------------------------------------


@dataclass
class _Customers:
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


def _segment_param(name: str) -> np.ndarray:
    """One SegmentParams field as an array indexed by segment."""
    return np.array([getattr(SEGMENTS[s], name) for s in SEGMENT_NAMES], dtype=float)


def _make_customers(rng: np.random.Generator, n: int) -> _Customers:
    """Profiles, segments, hidden tastes and activity levels."""
    segment = rng.permutation(np.repeat(np.arange(len(SEGMENTS)), _split(n, _segment_param("share"))))
    params = [SEGMENTS[SEGMENT_NAMES[s]] for s in segment]
    signup = _signup_days(rng, n)
    age = _categorical(rng, np.array([p.age_probs for p in params]))
    region = _categorical(rng, np.tile(REGION_PROBS, (n, 1)))
    channel_probs = np.asarray(AGE_CHANNEL_PROBS)[age]
    channel_probs[:, 2] *= np.where(region == 0, 1.0, STORE_OUTSIDE_BERLIN)
    channel = _categorical(rng, channel_probs)
    tenure_years = (_day(EXPORT_TIME.date()) - signup) / 365.25
    loyalty_factor = _segment_param("loyalty")[segment]
    p_gold = np.minimum(GOLD_CHANCE[0] + GOLD_CHANCE[1] * tenure_years * loyalty_factor, GOLD_CHANCE[2])
    p_silver = np.minimum(SILVER_CHANCE[0] + SILVER_CHANCE[1] * tenure_years * loyalty_factor, SILVER_CHANCE[2])
    loyalty = _categorical(rng, np.column_stack([1 - p_gold - p_silver, p_silver, p_gold]))
    interest = _categorical(rng, np.array([p.interest_probs for p in params]))
    style = _categorical(rng, np.array([p.style_tilt for p in params]))
    colour = _categorical(rng, np.array([p.colour_tilt for p in params]))
    fabric = _categorical(rng, np.array([p.fabric_tilt for p in params]))
    alpha = _normalised(np.multiply(CATEGORY_SHARES, [p.category_tilt for p in params]))
    prefs = rng.gamma(alpha * CATEGORY_PREF_CONCENTRATION) + 1e-3
    category_logpref = np.log(_normalised(prefs) * len(CATEGORIES))
    activity = np.exp(rng.normal(0, ACTIVITY_SIGMA, n)) * _segment_param("activity")[segment]
    return _Customers(
        signup, segment, age, region, channel, loyalty, interest, style, colour, fabric, category_logpref, activity
    )


def _signup_days(rng: np.random.Generator, n: int) -> np.ndarray:
    """EARLY_SIGNUP_SHARE before the timeline (more in recent years), the rest during it with a
    linearly growing arrival rate."""
    early = rng.random(n) < EARLY_SIGNUP_SHARE
    u = rng.random(n)
    first, start, last = _day(FIRST_SIGNUP), _day(TIMELINE_START), _day(LAST_SIGNUP)
    before = start - 1 - np.floor((start - first) * u**1.5)
    during = start + np.floor((last - start + 1) * np.sqrt(u))
    return np.where(early, before, np.minimum(during, last)).astype(np.int64)


def _customers_table(customers: _Customers, reveal_truth: bool) -> pd.DataFrame:
    """customers.csv rows, sorted by customer_id."""
    table = pd.DataFrame(
        {
            "customer_id": _customer_ids(customers),
            "signup_date": _fmt_days(customers.signup),
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


def _shift_mask(shift: Shift | None, customers: pd.DataFrame) -> np.ndarray:
    """Customers the planted shift applies to; ValueError if the value never occurs."""
    if shift is None:
        return np.zeros(len(customers), dtype=bool)
    return shift.group_mask(customers)


# --------------------------------------------------------------------------------------------
# Shared behaviour: utility of a product for a customer on a day
# --------------------------------------------------------------------------------------------


def _taste_match(products: _Products, customers: _Customers, cust: np.ndarray, prod: np.ndarray) -> np.ndarray:
    """Hidden-taste match: TASTE_WEIGHTS summed over style, colour and fabric agreement."""
    return (
        TASTE_WEIGHTS["style"] * (customers.style[cust] == products.style[prod])
        + TASTE_WEIGHTS["colour"] * (customers.colour[cust] == products.colour[prod])
        + TASTE_WEIGHTS["fabric"] * (customers.fabric[cust] == products.fabric[prod])
    )


def _in_clearance(products: _Products, prod: np.ndarray, day: np.ndarray) -> np.ndarray:
    return day > products.season_end[prod]


def _shown_price(products: _Products, prod: np.ndarray, day: np.ndarray) -> np.ndarray:
    """List price, or the clearance price after the product's season ended."""
    price = products.price[prod]
    discounted = np.round(price * (1 - products.discount[prod]), 2)
    return np.where(_in_clearance(products, prod, day), discounted, price)


def _other_utility(
    products: _Products, customers: _Customers, cust: np.ndarray, prod: np.ndarray, day: np.ndarray | None
) -> np.ndarray:
    """Everything but the hidden tastes: category preference, price fit, certifications x
    interest, classic tailoring, product appeal and, given a ``day``, the segment's appetite for
    new-in and clearance items (with the clearance price). ``day=None``: list price, no
    new-in/clearance terms (time-invariant, used for recommendation outcomes)."""
    seg = customers.segment[cust]
    cat = products.category[prod]
    price = products.price[prod] if day is None else _shown_price(products, prod, day)
    rel_price = np.log(price / np.asarray(CATEGORY_MEDIAN_PRICE)[cat])
    cert_weight = _segment_param("cert_weight")[seg] * np.asarray(INTEREST_CERT_SCALE)[customers.interest[cust]]
    utility = (
        customers.category_logpref[cust, cat]
        + _segment_param("price_beta")[seg] * rel_price
        + cert_weight * products.certs[prod].sum(axis=-1)
        + _segment_param("classic_bonus")[seg] * (products.style[prod] == CLASSIC_STYLE)
        + products.appeal[prod]
    )
    if day is None:
        return utility
    new_in = (day - products.sale_start[prod] < NEW_IN_DAYS) & (day <= products.season_end[prod])
    return (
        utility
        + _segment_param("new_in")[seg] * new_in
        + _segment_param("clearance")[seg] * _in_clearance(products, prod, day)
    )


@dataclass
class _OnSale:
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


def _on_sale(products: _Products, mask: np.ndarray | None = None) -> _OnSale:
    """Products on sale per day from TIMELINE_START to the export day (optionally only ``mask``)."""
    first, last = _day(TIMELINE_START), _day(EXPORT_TIME.date())
    eligible = np.flatnonzero(mask) if mask is not None else np.arange(len(products.season))
    per_day = [
        eligible[(products.sale_start[eligible] <= d) & (products.sale_end[eligible] >= d)]
        for d in range(first, last + 1)
    ]
    ptr = np.concatenate([[0], np.cumsum([len(r) for r in per_day])])
    return _OnSale(first, ptr, np.concatenate(per_day).astype(np.int64))


def _time_of_day(rng: np.random.Generator, channel: np.ndarray) -> np.ndarray:
    """Seconds after midnight, from the hour profile of the channel (store hours for 'store')."""
    online = _normalised(ONLINE_HOURS)
    store = _normalised(STORE_HOURS)
    hour = _categorical(rng, np.where((channel == CHANNELS.index("store"))[:, None], store, online))
    return hour * 3600 + rng.integers(0, 3600, len(channel))


def _day_weights(first: int, last: int) -> np.ndarray:
    """Relative shopping activity per day (month and weekday patterns)."""
    days = np.arange(first, last + 1)
    dt = days.astype("datetime64[D]")
    month = dt.astype("datetime64[M]").astype(int) % 12
    weekday = (days + 3) % 7  # 1970-01-01 was a Thursday
    return np.asarray(MONTH_FACTORS)[month] * np.asarray(WEEKDAY_FACTORS)[weekday]


# --------------------------------------------------------------------------------------------
# Transactions
# --------------------------------------------------------------------------------------------


@dataclass
class _Events:
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


def _make_transactions(rng: np.random.Generator, products: _Products, customers: _Customers, n_rows: int) -> _Events:
    """Shopping episodes (browse -> wishlist -> purchase -> return), trimmed to ``n_rows`` events."""
    on_sale = _on_sale(products)
    rows_per_episode = 1 + WISHLIST_PER_BROWSE + PURCHASE_PER_BROWSE * (1 + RETURN_PER_PURCHASE)
    overshoot = EPISODE_OVERSHOOT
    while True:
        episodes = _episodes(rng, products, customers, on_sale, overshoot * n_rows / rows_per_episode)
        if episodes["n_events"].sum() >= n_rows:
            break
        overshoot *= 1.5
    return _trim_and_flatten(rng, episodes, products, n_rows)


def _episodes(
    rng: np.random.Generator, products: _Products, customers: _Customers, on_sale: _OnSale, expected: float
) -> dict[str, np.ndarray]:
    """About ``expected`` episodes, each a browse and possibly wishlist, purchase and return."""
    first, export = _day(TIMELINE_START), _second(EXPORT_TIME)
    export_day = _day(EXPORT_TIME.date())
    weights = _day_weights(first, export_day)
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
    browse = _wall_time(day * 86400 + _time_of_day(rng, channel))
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
    wish = rng.random(n) < _sigmoid(_calibrated_intercept(base, WISHLIST_PER_BROWSE) + base)
    buy_logit = base + WISHLIST_PURCHASE_BOOST * wish
    p_buy = _sigmoid(_calibrated_intercept(buy_logit, PURCHASE_PER_BROWSE) + buy_logit)
    buy = rng.random(n) < p_buy
    fit_sensitive = np.isin(products.category[prod], [CATEGORIES.index(c) for c in FIT_SENSITIVE])
    ret_logit = RETURN_TASTE_WEIGHT * match + FIT_SENSITIVE_RETURN_LOGIT * fit_sensitive
    p_ret = _sigmoid(_calibrated_intercept(ret_logit, RETURN_PER_PURCHASE, p_buy) + ret_logit)
    ret = buy & (rng.random(n) < p_ret)

    # Times: wishlist minutes after browsing; purchase in the session or days later (while on
    # sale); return days after the purchase. Each step follows its (wall-time) predecessor.
    wish_time = np.minimum(
        _wall_time(browse + 30 + _lognormal_seconds(rng, WISHLIST_DELAY_LOGNORMAL, n)), last_sale_second - 1
    )
    anchor = np.where(wish, wish_time, browse)
    session = _wall_time(anchor + 30 + _lognormal_seconds(rng, SESSION_PURCHASE_DELAY_LOGNORMAL, n))
    later = _wall_time(anchor + (rng.gamma(*LATER_PURCHASE_GAMMA, n) * 86400).astype(np.int64) + 3600)
    in_session = (rng.random(n) < SAME_SESSION_PURCHASE) | (later > last_sale_second)
    buy_time = np.minimum(np.where(in_session, session, later), last_sale_second)
    ret_time = _wall_time(buy_time + ((rng.gamma(*RETURN_DELAY_GAMMA, n) + 1) * 86400).astype(np.int64))
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
    products: _Products,
    customers: _Customers,
    on_sale: _OnSale,
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
        m = _taste_match(products, customers, c, cand)
        o = _other_utility(products, customers, c, cand, d)
        best = np.argmax(m + o + rng.gumbel(size=cand.shape), axis=1)
        pick = np.arange(len(c))
        prod[lo : lo + chunk] = cand[pick, best]
        match[lo : lo + chunk] = m[pick, best]
        other_u[lo : lo + chunk] = o[pick, best]
    return prod, match, other_u


def _trim_and_flatten(rng: np.random.Generator, ep: dict[str, np.ndarray], products: _Products, n_rows: int) -> _Events:
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
    return _Events(
        time=times,
        customer=ep["customer"][src],
        product=product,
        kind=step,
        quantity=np.where(step >= PURCHASE, ep["quantity"][src], 1),
        price=_shown_price(products, product, priced_at // 86400),
        channel=np.where(step == RETURN, ep["return_channel"][src], ep["channel"][src]),
        return_of=return_of,
        season_missing=ep["missing"][src, step],
    )


def _transactions_table(
    events: _Events, products: _Products, customers: _Customers, reveal_truth: bool
) -> pd.DataFrame:
    """transactions.csv rows (already sorted by event_time, event_id)."""
    event_id = _fmt_ids("T", np.arange(1, len(events.time) + 1), 7)
    season = np.asarray([code for code, _, _ in SEASONS])[products.season[events.product]]
    table = pd.DataFrame(
        {
            "event_id": event_id,
            "customer_id": _customer_ids(customers)[events.customer],
            "product_id": _product_ids(products)[events.product],
            "season": np.where(events.season_missing, "", season),
            "event_type": np.asarray(EVENT_TYPES)[events.kind],
            "event_time": _fmt_seconds(events.time),
            "quantity": events.quantity.astype(str),
            "unit_price_eur": _fmt_decimal(events.price, 2),
            "channel": np.asarray(CHANNELS)[events.channel],
            "return_of": np.where(events.return_of >= 0, event_id.to_numpy()[np.maximum(events.return_of, 0)], ""),
        }
    )
    if reveal_truth:
        table["true_season"] = season
    return table


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


def _purchase_popularity(products: _Products, events: _Events) -> np.ndarray:
    """Standardised log(1 + purchases) per product version: the production model's popularity."""
    bought = np.bincount(events.product[events.kind == PURCHASE], minlength=len(products.season))
    log_pop = np.log1p(bought)
    return (log_pop - log_pop.mean()) / (log_pop.std() or 1.0)


def _make_recommendations(
    rng: np.random.Generator,
    drift_rng: np.random.Generator,
    products: _Products,
    customers: _Customers,
    events: _Events,
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
    first, last = _day(RECS_FIRST_DAY), _day(RECS_LAST_DAY)
    weights = _day_weights(first, last)
    day = first + _categorical(rng, np.tile(weights / weights.sum(), (n, 1)))
    served = _wall_time(day * 86400 + _time_of_day(rng, np.zeros(n, dtype=np.int64)))
    order = np.argsort(served, kind="stable")
    day, served = day[order], served[order]
    cust = _eligible_customers(rng, customers, day)
    seg = customers.segment[cust]
    position = rng.integers(1, POSITIONS + 1, n)

    # Normal slates: rank SLATE_CANDIDATES by model score + noise; the row shows the item at its position.
    popularity = _purchase_popularity(products, events)
    new_recycled = products.recycled & (products.season == len(SEASONS) - 1)
    pool = _on_sale(products, ~new_recycled if drift else None)
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
    mis_pool = _on_sale(products, new_recycled)
    has_mis = (day >= _day(LAUNCH_DATE)) & (mis_pool.count[day - mis_pool.first_day] > 0)
    mis_keyed = drift & has_mis & (mis_draw < _segment_param("mis_keyed_share")[seg])
    rows = np.flatnonzero(mis_keyed)
    if len(rows):
        old_pop = popularity[np.maximum(products.previous, 0)]
        mis_cand = mis_pool.sample(day[rows], mis_u[rows])
        product[rows] = mis_cand[np.arange(len(rows)), np.argmax(old_pop[mis_cand] + mis_noise[rows], axis=1)]
        model_logit[rows] = _model_logit(
            products, customers, cust[rows], product[rows], day[rows], old_pop[product[rows]]
        )
    score = _sigmoid(SCORE_SLOPE * model_logit + SCORE_INTERCEPT + rng.normal(0, SCORE_NOISE, n))

    # Outcomes: probabilities from taste match, position, segment; drift and shift multiply.
    # Time-invariant apart from drift and shift, so without them rates stay flat across the launch.
    match = _taste_match(products, customers, cust, product)
    other_u = _other_utility(products, customers, cust, product, None)
    click_logit = (
        REC_CLICK_TASTE_WEIGHT * match
        + REC_OTHER_WEIGHT * other_u
        + _segment_param("click_offset")[seg]
        + POSITION_CLICK_SLOPE * (position - 1)
    )
    buy_logit = REC_PURCHASE_TASTE_WEIGHT * match + REC_OTHER_WEIGHT * other_u
    ret_logit = REC_RETURN_TASTE_WEIGHT * match
    # Intercepts calibrated on the rows before the launch, which drift does not touch.
    base = day < _day(LAUNCH_DATE)
    a_click = _calibrated_intercept(click_logit[base], CLICK_RATE)
    p_click = _sigmoid(a_click + click_logit)
    a_buy = _calibrated_intercept(buy_logit[base], PURCHASE_PER_CLICK, p_click[base])
    p_buy = _sigmoid(a_buy + buy_logit)
    a_ret = _calibrated_intercept(ret_logit[base], RETURN_PER_REC_PURCHASE, (p_click * p_buy)[base])
    p_ret = _sigmoid(a_ret + ret_logit)
    p_click = np.where(mis_keyed, p_click * MIS_KEYED_CLICK_FACTOR, p_click)
    p_buy = np.where(mis_keyed, p_buy * MIS_KEYED_PURCHASE_FACTOR, p_buy)
    if shift is not None:
        p_click, p_buy = shift.scale(p_click, p_buy, shifted[cust] & (day >= _day(shift.start)))

    clicked, purchased, returned = _outcome_times(rng, served, p_click, p_buy, p_ret)
    version = np.searchsorted([_day(d) for _, d in MODEL_VERSIONS], day, side="right") - 1
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


def _eligible_customers(rng: np.random.Generator, customers: _Customers, day: np.ndarray) -> np.ndarray:
    """Per row a customer who signed up before ``day``, drawn in proportion to activity."""
    by_signup = np.argsort(customers.signup, kind="stable")
    cum = np.cumsum(customers.activity[by_signup])
    n_eligible = np.maximum(np.searchsorted(customers.signup[by_signup], day, side="left"), 1)
    u = rng.random(len(day)) * cum[n_eligible - 1]
    return by_signup[np.minimum(np.searchsorted(cum, u, side="right"), n_eligible - 1)]


def _model_logit(products: _Products, customers: _Customers, cust, prod, day, popularity) -> np.ndarray:
    """The production model's view: popularity, category preference and price fit (no tastes)."""
    seg = customers.segment[cust]
    cat = products.category[prod]
    rel_price = np.log(_shown_price(products, prod, day) / np.asarray(CATEGORY_MEDIAN_PRICE)[cat])
    return (
        popularity
        + MODEL_CATEGORY_WEIGHT * customers.category_logpref[cust, cat]
        + MODEL_PRICE_WEIGHT * _segment_param("price_beta")[seg] * rel_price
    )


def _outcome_times(rng: np.random.Generator, served, p_click, p_buy, p_ret):
    """True click/purchase/return times (-1 = none) within the attribution windows (wall time)."""
    n = len(served)
    click_at = _wall_time(served + _lognormal_seconds(rng, CLICK_DELAY_LOGNORMAL, n) % CLICK_WINDOW_S + 1)
    buy_at = _wall_time(click_at + (rng.gamma(*REC_PURCHASE_GAMMA, n) * 86400).astype(np.int64) + 60)
    return_at = _wall_time(buy_at + (rng.gamma(*REC_RETURN_GAMMA, n) * 86400).astype(np.int64) + 3600)
    clicked = (rng.random(n) < p_click) & (click_at <= served + CLICK_WINDOW_S)
    bought = clicked & (rng.random(n) < p_buy) & (buy_at <= served + PURCHASE_WINDOW_S)
    returned = bought & (rng.random(n) < p_ret) & (return_at <= buy_at + RETURN_WINDOW_S)
    return np.where(clicked, click_at, -1), np.where(bought, buy_at, -1), np.where(returned, return_at, -1)


def _status(observed: np.ndarray, window_end: np.ndarray, export: int) -> np.ndarray:
    """yes if observed by the export, pending if the window was still open, else no."""
    return np.where(observed, "yes", np.where(window_end > export, "pending", "no"))


def _recommendations_table(recs: _Recs, products: _Products, customers: _Customers, reveal_truth: bool) -> pd.DataFrame:
    """production-recommendations-sample.csv rows, censored at EXPORT_TIME."""
    export = _second(EXPORT_TIME)
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
            "rec_id": _fmt_ids("R", recs.rec_number, 7),
            "served_at": _fmt_seconds(recs.served),
            "customer_id": _customer_ids(customers)[recs.customer],
            "product_id": _product_ids(products)[recs.product],
            "season": np.asarray([code for code, _, _ in SEASONS])[products.season[recs.product]],
            "position": recs.position.astype(str),
            "score": _fmt_decimal(recs.score, 4),
            "model_version": np.asarray([v for v, _ in MODEL_VERSIONS])[recs.version],
            "clicked_at": _fmt_seconds(recs.clicked, ~seen_click),
            "purchased_at": _fmt_seconds(recs.purchased, ~seen_buy),
            "returned_at": _fmt_seconds(recs.returned, ~seen_ret),
            "click_status": _status(seen_click, recs.served + CLICK_WINDOW_S, export),
            "purchase_status": purchase_status,
            "return_status": return_status,
            "export_time": _fmt_seconds(np.full(len(recs.served), export)),
        }
    )
    if reveal_truth:
        table["true_clicked_at"] = _fmt_seconds(recs.clicked, recs.clicked < 0)
        table["true_purchased_at"] = _fmt_seconds(recs.purchased, recs.purchased < 0)
        table["true_returned_at"] = _fmt_seconds(recs.returned, recs.returned < 0)
        table["true_mis_keyed"] = np.where(recs.mis_keyed, "yes", "no")
        table["true_taste_match"] = _fmt_decimal(recs.match, 1)
        table["true_click_prob"] = _fmt_decimal(recs.p_click, 4)
        table["true_purchase_prob"] = _fmt_decimal(recs.p_purchase, 4)
    return table
