"""The simulated shop's world, shared by every part of the simulator: the timeline (seasons,
spring DST days, the SS26 launch, the recommendation sample's days and model versions, the
attribution windows), the sizes at scale 1, and the small helpers (days and seconds since
1970-01-01 in naive Berlin wall time, draws, calibration, the files' text formats)."""

from __future__ import annotations

from datetime import date, datetime

import numpy as np
import pandas as pd

from stoffwechsel import domain
from stoffwechsel.config import CUSTOMERS_FILE, PRODUCTS_FILE, RECOMMENDATIONS_FILE, TRANSACTIONS_FILE

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

_EPOCH_DATE = date(1970, 1, 1)
_EPOCH = datetime(1970, 1, 1)


# --------------------------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------------------------


def day(d: date) -> int:
    return (d - _EPOCH_DATE).days


def second(t: datetime) -> int:
    return int((t - _EPOCH).total_seconds())


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def normalised(weights) -> np.ndarray:
    w = np.asarray(weights, dtype=float)
    return w / w.sum(axis=-1, keepdims=True)


def categorical(rng: np.random.Generator, probs: np.ndarray) -> np.ndarray:
    """One draw per row of a (rows x options) probability matrix."""
    cum = np.cumsum(probs, axis=1)
    u = rng.random(len(probs))[:, None] * cum[:, -1:]
    return np.minimum((cum <= u).sum(axis=1), probs.shape[1] - 1)


def split(total: int, weights) -> np.ndarray:
    """Integer counts summing to ``total``, proportional to ``weights`` (largest remainder)."""
    raw = np.asarray(weights, dtype=float) / np.sum(weights) * total
    counts = np.floor(raw).astype(int)
    counts[np.argsort(-(raw - counts), kind="stable")[: total - counts.sum()]] += 1
    return counts


def wall_time(seconds: np.ndarray) -> np.ndarray:
    """Times in the spring DST gap (02:00-03:00 on DST_SPRING_FORWARD days) moved on by an hour."""
    seconds = np.asarray(seconds, dtype=np.int64)
    in_gap = np.isin(seconds // 86400, [day(d) for d in DST_SPRING_FORWARD]) & (seconds % 86400 // 3600 == 2)
    return np.where(in_gap, seconds + 3600, seconds)


def lognormal_seconds(rng: np.random.Generator, median_sigma: tuple[float, float], n: int) -> np.ndarray:
    median, sigma = median_sigma
    return np.exp(rng.normal(np.log(median), sigma, n)).astype(np.int64)


def calibrated_intercept(logits: np.ndarray, target: float, weights: np.ndarray | None = None) -> float:
    """The intercept ``a`` with the (weighted) mean of sigmoid(a + logits) equal to ``target``
    (bisection). Weights make a conditional rate hit its target, e.g. purchases per click."""
    lo, hi = -20.0, 20.0
    for _ in range(60):
        mid = (lo + hi) / 2
        if np.average(sigmoid(mid + logits), weights=weights) < target:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def fmt_days(days: np.ndarray) -> np.ndarray:
    return np.datetime_as_string(np.asarray(days, dtype="int64").astype("datetime64[D]"))


def fmt_seconds(seconds: np.ndarray, missing: np.ndarray | None = None) -> np.ndarray:
    """``YYYY-MM-DDTHH:MM:SS``; empty where ``missing``."""
    text = np.datetime_as_string(np.asarray(seconds, dtype="int64").astype("datetime64[s]"), unit="s")
    return text if missing is None else np.where(missing, "", text)


def fmt_decimal(values: np.ndarray, places: int) -> pd.Series:
    """Fixed-point text of non-negative numbers, rounded half away from zero."""
    units = np.floor(np.asarray(values, dtype=float) * 10**places + 0.5).astype("int64")
    whole = pd.Series(units // 10**places).astype(str)
    frac = pd.Series(units % 10**places).astype(str).str.zfill(places)
    return whole + "." + frac


def fmt_ids(prefix: str, numbers: np.ndarray, min_digits: int) -> pd.Series:
    numbers = np.asarray(numbers, dtype="int64")
    width = max(min_digits, len(str(int(numbers.max()))))
    return prefix + pd.Series(numbers).astype(str).str.zfill(width)


def season_bounds() -> tuple[np.ndarray, np.ndarray]:
    return (np.array([day(s) for _, s, _ in SEASONS]), np.array([day(e) for _, _, e in SEASONS]))


def is_spring(season_index: np.ndarray) -> np.ndarray:
    return np.array([code.startswith("SS") for code, _, _ in SEASONS])[season_index]
