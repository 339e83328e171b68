"""Export styles of the simulator: the same history, written the way a given system exports it.

``native`` is our own format (``docs/materials.md``), unchanged. ``real`` writes the same
history the way real shop exports look (``docs/simulation.md``, "Export styles"):

* plain numeric ids: ``SW-0123`` -> ``123``, ``C00042`` -> ``42``, ``T0001234`` -> ``1234``,
  ``R0000077`` -> ``77`` (the digits without the prefix and leading zeros; unique per file and
  the same in every file, ``return_of`` included);
* timestamps to the minute with a space (``2019-03-04 10:15``), seconds dropped;
* categories in the shop's own words, most outside our list (``sweaters``, ``pants``,
  ``underwear``, ``bags``, ...; see :data:`CATEGORY_WORDS` and :data:`NOUN_CATEGORY_WORDS`);
* short descriptions (the first sentence) and some empty ones (:data:`EMPTY_DESCRIPTION_SHARE`);
* no wishlist events (many shops do not log them);
* a calendar :data:`SHIFT_WEEKS` whole weeks earlier (weekdays stay), seasons renamed to match.

Otherwise every row is the same row. The transformation is deterministic (its random choices
come from the simulator's seed).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from stoffwechsel.config import CUSTOMERS_FILE, PRODUCTS_FILE, RECOMMENDATIONS_FILE, TRANSACTIONS_FILE

__all__ = [
    "STYLES",
    "SHIFT_WEEKS",
    "SEASON_YEARS",
    "CATEGORY_WORDS",
    "NOUN_CATEGORY_WORDS",
    "EMPTY_DESCRIPTION_SHARE",
    "REAL_TIME_FORMAT",
    "apply_style",
    "real_export_style",
]

STYLES = ("native", "real")

#: The calendar moves this many whole weeks earlier (weekdays stay). 261 weeks = 5 years and 2
#: days: it maps the last Sunday of March of 2024, 2025 and 2026 (our DST days) onto those of
#: 2019, 2020 and 2021, so no shifted wall time falls into a Europe/Berlin DST gap.
SHIFT_WEEKS = 261
#: Season labels move by the whole years of the shift (SS24 -> SS19).
SEASON_YEARS = round(SHIFT_WEEKS * 7 / 365.25)
#: Timestamps as many real exports write them.
REAL_TIME_FORMAT = "%Y-%m-%d %H:%M"
NATIVE_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S"
DATE_FORMAT = "%Y-%m-%d"

#: Our categories in the shop's words (most outside our list of ten).
CATEGORY_WORDS = {
    "tops": "t-shirts and tops",
    "shirts": "blouses",
    "knitwear": "sweaters",
    "trousers": "pants",
    "jeans": "denim",
    "dresses": "dresses",
    "skirts": "skirts",
    "outerwear": "coats and jackets",
    "activewear": "sportswear",
    "accessories": "accessories",
}
#: Items whose shop category is their own (the name ends with the item noun).
NOUN_CATEGORY_WORDS = {
    "Sports Bra": "underwear",
    "Socks": "underwear",
    "Tote Bag": "bags",
    "Beanie": "hats and scarves",
    "Bucket Hat": "hats and scarves",
    "Scarf": "hats and scarves",
}
#: Share of products whose description is empty.
EMPTY_DESCRIPTION_SHARE = 0.05
#: Salt that makes the style's random choices independent of the simulator's components.
_SEED_SALT = 0x5E7

#: (timestamp, anchor, window) of the recommendation outcomes: after rounding down to minutes
#: an outcome can land up to 59 s past its window; it is kept at the window's end.
_OUTCOME_WINDOWS = (
    ("clicked_at", "served_at", pd.Timedelta(days=1)),
    ("purchased_at", "served_at", pd.Timedelta(days=14)),
    ("returned_at", "purchased_at", pd.Timedelta(days=30)),
)


def apply_style(frames: dict[str, pd.DataFrame], style: str, seed: int) -> dict[str, pd.DataFrame]:
    """``frames`` (as from :func:`stoffwechsel.simulation.simulate.simulate_frames`) in export ``style``."""
    if style == "native":
        return frames
    if style == "real":
        return real_export_style(frames, seed)
    raise ValueError(f"style must be one of {', '.join(STYLES)}, got {style!r}")


def real_export_style(frames: dict[str, pd.DataFrame], seed: int) -> dict[str, pd.DataFrame]:
    """The native frames rewritten the way real exports look (see the module docstring).
    ``true_*`` columns, if any, are passed through unchanged (only the wishlist rows go)."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, _SEED_SALT]))
    products = frames[PRODUCTS_FILE].copy()
    products["product_id"] = _plain_id(products["product_id"])
    products["season"] = _season(products["season"])
    products["category"] = _category(products["category"], products["name"])
    products["description"] = _short_description(products["description"], rng)
    for column in ("sale_start", "sale_end"):
        products[column] = _shift_date(products[column])

    customers = frames[CUSTOMERS_FILE].copy()
    customers["customer_id"] = _plain_id(customers["customer_id"])
    customers["signup_date"] = _shift_date(customers["signup_date"])

    tx = frames[TRANSACTIONS_FILE]
    tx = tx[tx["event_type"] != "wishlist"].reset_index(drop=True)
    for column in ("event_id", "customer_id", "product_id", "return_of"):
        tx[column] = _plain_id(tx[column])
    tx["season"] = _season(tx["season"])
    tx["event_time"] = _format(_shift_time(tx["event_time"]))

    recs = frames[RECOMMENDATIONS_FILE].copy()
    for column in ("rec_id", "customer_id", "product_id"):
        recs[column] = _plain_id(recs[column])
    recs["season"] = _season(recs["season"])
    times = {c: _shift_time(recs[c]) for c in ("served_at", "export_time", "clicked_at", "purchased_at", "returned_at")}
    for ts, anchor, window in _OUTCOME_WINDOWS:
        times[ts] = times[ts].where(~(times[ts] > times[anchor] + window), times[anchor] + window)
    for column, values in times.items():
        recs[column] = _format(values)

    return {PRODUCTS_FILE: products, CUSTOMERS_FILE: customers, TRANSACTIONS_FILE: tx, RECOMMENDATIONS_FILE: recs}


def _plain_id(ids: pd.Series) -> pd.Series:
    """``SW-0123`` -> ``123``: the digits without prefix and leading zeros; empty stays empty."""
    digits = ids.str.replace(r"\D", "", regex=True)
    stripped = digits.str.lstrip("0").mask(digits.str.fullmatch("0+"), "0")
    return stripped.where(ids != "", "")


def _season(seasons: pd.Series) -> pd.Series:
    """``SS24`` -> ``SS19`` (by :data:`SEASON_YEARS`); empty stays empty."""
    given = seasons != ""
    years = pd.to_numeric(seasons.str[2:].where(given), errors="coerce") - SEASON_YEARS
    relabelled = seasons.str[:2] + years.map(lambda y: f"{int(y) % 100:02d}" if pd.notna(y) else "")
    return relabelled.where(given, "")


def _category(categories: pd.Series, names: pd.Series) -> pd.Series:
    out = categories.map(CATEGORY_WORDS)
    for noun, word in NOUN_CATEGORY_WORDS.items():
        out = out.mask(names.str.endswith(" " + noun), word)
    unmapped = out.isna()
    if unmapped.any():
        raise ValueError(f"export style real: no shop word for category {categories[unmapped].iloc[0]!r}")
    return out


def _short_description(descriptions: pd.Series, rng: np.random.Generator) -> pd.Series:
    """The first sentence; empty for a random :data:`EMPTY_DESCRIPTION_SHARE` of the products."""
    first = descriptions.str.extract(r"^(.*?[.!?])(?:\s|$)", expand=False).fillna(descriptions)
    empty = rng.random(len(descriptions)) < EMPTY_DESCRIPTION_SHARE
    return first.mask(empty, "")


def _shift_date(days: pd.Series) -> pd.Series:
    shifted = pd.to_datetime(days, format=DATE_FORMAT) - pd.Timedelta(weeks=SHIFT_WEEKS)
    return shifted.dt.strftime(DATE_FORMAT)


def _shift_time(times: pd.Series) -> pd.Series:
    """Native timestamps (empty = missing) moved :data:`SHIFT_WEEKS` earlier, rounded down to
    the minute."""
    parsed = pd.to_datetime(times.where(times != ""), format=NATIVE_TIME_FORMAT)
    return (parsed - pd.Timedelta(weeks=SHIFT_WEEKS)).dt.floor("min")


def _format(times: pd.Series) -> pd.Series:
    return times.dt.strftime(REAL_TIME_FORMAT).fillna("")
