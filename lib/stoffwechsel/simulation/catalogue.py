"""The catalogue: products, one version per season an id is sold in. Ids recycled across
seasons (a reused id names a different product), sale windows with clearance into the next
season, the hidden attributes (fabric, style, colour, fit, origin), prices, certifications,
tags, and names and descriptions from templates; products.csv built from them."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from stoffwechsel import domain
from stoffwechsel.simulation import world
from stoffwechsel.simulation.world import SEASON_PRODUCT_WEIGHTS, SEASONS

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
# Products
# --------------------------------------------------------------------------------------------


@dataclass
class Products:
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
        return world.season_bounds()[1][self.season]

    @property
    def recycled(self) -> np.ndarray:
        return self.previous >= 0


def make_products(rng: np.random.Generator, n: int) -> Products:
    """Seasons, sale windows, recycled ids, hidden attributes, prices and texts."""
    season = np.repeat(np.arange(len(SEASONS)), world.split(n, SEASON_PRODUCT_WEIGHTS))
    spring = world.is_spring(season)
    sale_start, sale_end, clearance = _sale_windows(rng, season)

    cat_probs = np.where(
        spring[:, None],
        np.multiply(CATEGORY_SHARES, CATEGORY_SS_FACTOR),
        np.multiply(CATEGORY_SHARES, CATEGORY_AW_FACTOR),
    )
    category = world.categorical(rng, cat_probs)
    id_number, previous = _assign_ids(rng, season, clearance)
    # A recycled id names a different product: a different category than its predecessor
    # (season by season, as a predecessor may itself have been changed).
    for s in range(1, len(SEASONS)):
        same = (season == s) & (previous >= 0) & (category == category[np.maximum(previous, 0)])
        category[same] = (category[same] + rng.integers(1, len(CATEGORIES), same.sum())) % len(CATEGORIES)

    fabric_w = np.asarray(CATEGORY_FABRIC_WEIGHTS, dtype=float)[category]
    fabric = world.categorical(rng, fabric_w * np.where(spring[:, None], FABRIC_SS_FACTOR, FABRIC_AW_FACTOR))
    style = world.categorical(rng, np.asarray(CATEGORY_STYLE_WEIGHTS, dtype=float)[category])
    colour = world.categorical(rng, np.where(spring[:, None], COLOUR_SS_FACTOR, COLOUR_AW_FACTOR))
    fit = world.categorical(rng, np.asarray(STYLE_FIT_WEIGHTS, dtype=float)[style])
    origin = world.categorical(rng, np.tile(ORIGIN_WEIGHTS, (n, 1)))

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
    return Products(
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
    starts, ends = world.season_bounds()
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
    count = world.categorical(rng, np.tile(TAG_COUNT_PROBS, (n, 1)))
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


def products_table(products: Products, reveal_truth: bool) -> pd.DataFrame:
    """products.csv rows, sorted by product_id, then season in time order."""
    cert_names = np.asarray(CERTIFICATIONS)
    table = pd.DataFrame(
        {
            "product_id": product_ids(products),
            "season": np.asarray([code for code, _, _ in SEASONS])[products.season],
            "name": products.name,
            "description": products.description,
            "category": np.asarray(CATEGORIES)[products.category],
            "price_eur": world.fmt_decimal(products.price, 2),
            "certifications": ["|".join(cert_names[row]) for row in products.certs],
            "tags": products.tags,
            "sale_start": world.fmt_days(products.sale_start),
            "sale_end": world.fmt_days(products.sale_end),
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


def product_ids(products: Products) -> np.ndarray:
    """``SW-`` + zero-padded id number (4 digits, more when needed), one per product row."""
    return world.fmt_ids("SW-", products.id_number, 4).to_numpy()
