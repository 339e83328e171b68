"""Offline evaluation of top-k recommendations: ranking metrics, list metrics, bootstrap intervals.

A recommender proposes, at a cutoff, a ranked list of product versions per customer; the ground
truth is what the customer bought in the test window after the cutoff. Everything here is a pure,
vectorised function of three tables:

``recs``     [customer_id, product_key, rank]  rank 1..k_max, one list per customer
``truth``    [customer_id, product_key]        the relevant items (deduplicated here)
``catalog``  [product_key, certified, popularity]  popularity = training-window purchase counts

Denominators (see docs/evaluation.md): ``precision@k`` is defined for every evaluated customer
(hits / k, so 0 for a customer with nothing relevant); ``recall``, ``ndcg``, ``map`` and
``hit_rate`` are defined only for customers with at least one relevant item and are NaN for the
others. Means and bootstrap intervals are taken over the customers where a metric is defined;
``n_customers`` in every summary is that denominator.

Intervals are customer-level percentile bootstraps: customers are resampled with replacement,
drawn as multinomial counts (an ``n_boot x n_customers`` count matrix, built in chunks), so a
replicate mean is one matrix product. Two models are compared with the *same* resamples
(:func:`paired_bootstrap_diff`); one model beats another only where the paired interval of the
difference excludes 0.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from stoffwechsel.exact import fixed_order_matmul

RANKING_METRICS = ("precision", "recall", "ndcg", "map", "hit_rate")
LIST_METRICS = ("coverage", "sustainable_share", "novelty")
DEFAULT_KS = (5, 10, 20)

#: Entries of one chunk of the bootstrap count matrix; bounds its peak memory at ~200 MB.
_CHUNK_ENTRIES = 10_000_000


# --------------------------------------------------------------------------------------------
# input checks
# --------------------------------------------------------------------------------------------


def _require(frame: pd.DataFrame, columns: Sequence[str], name: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{name} lacks column(s) {missing}; has {list(frame.columns)}")
    nulls = [c for c in columns if frame[c].isna().any()]
    if nulls:
        raise ValueError(f"{name} has missing values in {nulls}")


def _check_ks(ks: Iterable[int]) -> tuple[int, ...]:
    ks = tuple(sorted({int(k) for k in ks}))
    if not ks or ks[0] < 1:
        raise ValueError(f"ks must be positive integers, got {ks}")
    return ks


def _check_recs(recs: pd.DataFrame) -> np.ndarray:
    """Validate ``recs`` and return its ranks as int64."""
    _require(recs, ("customer_id", "product_key", "rank"), "recs")
    rank = recs["rank"].to_numpy()
    if not np.issubdtype(rank.dtype, np.integer):
        as_int = rank.astype(np.int64)
        if not np.array_equal(as_int, rank):
            raise ValueError("recs.rank must hold whole numbers")
        rank = as_int
    rank = rank.astype(np.int64, copy=False)
    if len(rank) and rank.min() < 1:
        raise ValueError("recs.rank starts at 1")
    # Duplicate checks on integer codes (hashing two object columns per row is slow at scale).
    cust, _ = pd.factorize(recs["customer_id"])
    item, items = pd.factorize(recs["product_key"])
    cust = cust.astype(np.int64)
    if _has_duplicates(cust * (int(rank.max(initial=0)) + 1) + rank):
        raise ValueError("recs has two items at the same (customer_id, rank)")
    if _has_duplicates(cust * max(len(items), 1) + item):
        raise ValueError("recs recommends the same product_key twice to one customer")
    return rank


def _has_duplicates(keys: np.ndarray) -> bool:
    return len(pd.unique(keys)) != len(keys)


def metric_columns(frame: pd.DataFrame) -> list[str]:
    """The metric columns of a per-customer frame: those named ``<metric>@<k>``."""
    return [c for c in frame.columns if isinstance(c, str) and "@" in c]


def split_metric(name: str) -> tuple[str, int]:
    """``"ndcg@10"`` -> ``("ndcg", 10)``."""
    metric, _, k = name.rpartition("@")
    if not metric or not k.isdigit():
        raise ValueError(f"not a metric@k name: {name!r}")
    return metric, int(k)


# --------------------------------------------------------------------------------------------
# per-customer ranking metrics
# --------------------------------------------------------------------------------------------


def _discounts(k_max: int) -> np.ndarray:
    """``d[r] = 1 / log2(r + 1)`` for r = 1..k_max; ``d[0] = 0`` (unused)."""
    d = np.zeros(k_max + 1)
    d[1:] = 1.0 / np.log2(np.arange(2, k_max + 2))
    return d


def per_customer_metrics(
    recs: pd.DataFrame,
    truth: pd.DataFrame,
    ks: Iterable[int] = DEFAULT_KS,
    customers: Iterable | None = None,
) -> pd.DataFrame:
    """Ranking metrics per customer, one row per evaluated customer.

    ``customers`` is the evaluated population (pass it: e.g. the customers active at the cutoff).
    Without it the population is every customer in ``recs`` or ``truth``. Rows of ``recs`` and
    ``truth`` for customers outside the population are ignored; a customer of the population
    without recommendations has an empty list (all misses). Ranks are slot positions: a list
    shorter than k (or with gaps) counts the empty slots as misses. ``truth`` is deduplicated.

    Columns: ``customer_id``, ``n_relevant``, ``n_recommended`` (list length), then for every
    metric in :data:`RANKING_METRICS` and every k: ``<metric>@<k>``, with

    - precision@k = hits in top k / k (defined for everyone; 0 without relevant items)
    - recall@k    = hits in top k / n_relevant
    - ndcg@k      = sum_{hit ranks r <= k} 1/log2(r+1)  /  sum_{i=1}^{min(k, n_relevant)} 1/log2(i+1)
    - map@k       = sum_{hit ranks r <= k} precision@r  /  min(k, n_relevant)
    - hit_rate@k  = 1 if at least one hit in top k else 0

    recall, ndcg, map and hit_rate are NaN for customers with no relevant item.
    """
    ks = _check_ks(ks)
    k_max = ks[-1]
    rank = _check_recs(recs)
    _require(truth, ("customer_id", "product_key"), "truth")

    if customers is None:
        population = pd.Index(pd.concat([recs["customer_id"], truth["customer_id"]]).unique())
    else:
        listed = customers if isinstance(customers, (pd.Index, pd.Series, np.ndarray, list, tuple)) else list(customers)
        population = pd.Index(listed)
        if population.has_duplicates:
            raise ValueError("customers lists a customer twice")
    n = len(population)

    rec_cust = population.get_indexer(recs["customer_id"])
    tru_cust = population.get_indexer(truth["customer_id"])
    keep_r = rec_cust >= 0
    keep_t = tru_cust >= 0
    if len(recs) and n and not keep_r.any():
        raise ValueError("no customer of recs is in the population (check customer_id types)")
    rec_cust, rank = rec_cust[keep_r], rank[keep_r]
    tru_cust = tru_cust[keep_t]

    # One integer code per product key across both tables, then one int64 per (customer, item).
    codes, uniques = pd.factorize(
        pd.concat([recs["product_key"][keep_r], truth["product_key"][keep_t]], ignore_index=True)
    )
    n_items = max(len(uniques), 1)
    rec_pair = rec_cust.astype(np.int64) * n_items + codes[: len(rec_cust)]
    tru_pair = pd.unique(tru_cust.astype(np.int64) * n_items + codes[len(rec_cust) :])

    n_relevant = np.bincount(tru_pair // n_items, minlength=n)
    n_recommended = np.bincount(rec_cust, minlength=n)

    is_hit = pd.Series(rec_pair).isin(tru_pair).to_numpy() & (rank <= k_max)
    hit_cust, hit_rank = rec_cust[is_hit], rank[is_hit]
    order = np.lexsort((hit_rank, hit_cust))
    hit_cust, hit_rank = hit_cust[order], hit_rank[order]
    # Number of hits at or above each hit's rank (within its customer): position in the group + 1.
    m = len(hit_cust)
    starts = np.r_[True, hit_cust[1:] != hit_cust[:-1]] if m else np.zeros(0, dtype=bool)
    group_start = np.maximum.accumulate(np.where(starts, np.arange(m), 0)) if m else np.zeros(0, int)
    hits_so_far = np.arange(m) - group_start + 1
    precision_at_hit = hits_so_far / hit_rank

    disc = _discounts(k_max)
    ideal = np.cumsum(disc)  # ideal[j] = sum_{i=1}^{j} 1/log2(i+1); ideal[0] = 0
    has_rel = n_relevant > 0
    out: dict[str, np.ndarray] = {}
    for k in ks:
        within = hit_rank <= k
        c = hit_cust[within]
        hits = np.bincount(c, minlength=n).astype(float)
        dcg = np.bincount(c, weights=disc[hit_rank[within]], minlength=n)
        ap = np.bincount(c, weights=precision_at_hit[within], minlength=n)
        cap = np.minimum(n_relevant, k)
        with np.errstate(divide="ignore", invalid="ignore"):
            out[f"precision@{k}"] = hits / k
            out[f"recall@{k}"] = np.where(has_rel, hits / n_relevant, np.nan)
            out[f"ndcg@{k}"] = np.where(has_rel, dcg / ideal[cap], np.nan)
            out[f"map@{k}"] = np.where(has_rel, ap / cap, np.nan)
            out[f"hit_rate@{k}"] = np.where(has_rel, (hits > 0).astype(float), np.nan)

    columns = {"customer_id": population, "n_relevant": n_relevant, "n_recommended": n_recommended}
    columns.update({f"{metric}@{k}": out[f"{metric}@{k}"] for metric in RANKING_METRICS for k in ks})
    return pd.DataFrame(columns)


# --------------------------------------------------------------------------------------------
# list metrics (over all recommended slots)
# --------------------------------------------------------------------------------------------


def list_metrics(recs: pd.DataFrame, catalog: pd.DataFrame, ks: Iterable[int] = DEFAULT_KS) -> pd.DataFrame:
    """Catalogue-level metrics of the recommended lists, one row per ``<metric>@<k>``.

    Over all recommended slots at rank <= k (filled slots only; empty slots of short lists are
    not recommendations):

    - coverage@k          = distinct recommended product keys / catalogue size
    - sustainable_share@k = slots holding a certified item / filled slots
    - novelty@k           = mean over slots of -log2(p_i), p_i = (popularity_i + 1) / (sum popularity + N)
                            (add-one smoothing over the N catalogue items, so unseen items are finite)

    Every recommended product key must be in ``catalog`` (else ValueError). Returns columns
    ``metric, value, n_slots``.
    """
    ks = _check_ks(ks)
    rank = _check_recs(recs)
    _require(catalog, ("product_key", "certified", "popularity"), "catalog")
    if catalog["product_key"].duplicated().any():
        raise ValueError("catalog lists a product_key twice")
    if (catalog["popularity"] < 0).any():
        raise ValueError("catalog.popularity must be >= 0")
    index = pd.Index(catalog["product_key"])
    pos = index.get_indexer(recs["product_key"])
    if (pos < 0).any():
        unknown = recs["product_key"][pos < 0].unique()[:5].tolist()
        raise ValueError(f"recs recommends product keys missing from catalog, e.g. {unknown}")
    n_cat = len(index)
    popularity = catalog["popularity"].to_numpy(dtype=float)
    surprisal = -np.log2((popularity + 1.0) / (popularity.sum() + n_cat))
    certified = catalog["certified"].to_numpy(dtype=bool)

    slots_at = {k: pos[rank <= k] for k in ks}
    values = {
        "coverage": lambda p: len(np.unique(p)) / n_cat,
        "sustainable_share": lambda p: certified[p].mean() if len(p) else np.nan,
        "novelty": lambda p: surprisal[p].mean() if len(p) else np.nan,
    }
    rows = [
        (f"{metric}@{k}", float(values[metric](slots_at[k])), len(slots_at[k])) for metric in LIST_METRICS for k in ks
    ]
    return pd.DataFrame(rows, columns=["metric", "value", "n_slots"])


# --------------------------------------------------------------------------------------------
# bootstrap
# --------------------------------------------------------------------------------------------


def _bootstrap_means(values: np.ndarray, n_boot: int, seed: int) -> np.ndarray:
    """Replicate means (n_boot x m) of the columns of ``values`` (n x m, NaN = not defined).

    Each replicate resamples the n rows with replacement (multinomial counts); a column's mean is
    taken over its defined rows. Chunks depend on n only, so results depend on (seed, n_boot, data).
    """
    n, m = values.shape
    if n == 0:
        return np.full((n_boot, m), np.nan)
    defined = ~np.isnan(values)
    filled = np.where(defined, values, 0.0)
    # Denominators: one per distinct pattern of defined rows (usually two: everyone, n_relevant > 0).
    distinct: list[np.ndarray] = []
    pattern_of = np.empty(m, dtype=np.int64)
    for j in range(m):
        match = next((i for i, p in enumerate(distinct) if np.array_equal(p, defined[:, j])), None)
        if match is None:
            distinct.append(defined[:, j])
            match = len(distinct) - 1
        pattern_of[j] = match
    patterns = np.column_stack(distinct).astype(float)
    rng = np.random.default_rng(seed)
    rows = max(1, min(n_boot, _CHUNK_ENTRIES // n))
    out = np.empty((n_boot, m))
    for start in range(0, n_boot, rows):
        b = min(rows, n_boot - start)
        draw = rng.integers(0, n, size=(b, n), dtype=np.int32)  # b * n < 2**31 (chunk size)
        draw += np.arange(b, dtype=np.int32)[:, None] * np.int32(n)
        counts = np.bincount(draw.ravel(), minlength=b * n).reshape(b, n).astype(float)
        num = fixed_order_matmul(counts, filled)  # one summation order on every machine (stoffwechsel.exact)
        den = (counts @ patterns)[:, pattern_of]
        with np.errstate(invalid="ignore", divide="ignore"):
            out[start : start + b] = np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)
    return out


def _interval(reps: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray]:
    if not 0 < level < 1:
        raise ValueError("level must lie in (0, 1)")
    alpha = (1.0 - level) / 2.0
    low, high = np.full(reps.shape[1], np.nan), np.full(reps.shape[1], np.nan)
    ok = ~np.all(np.isnan(reps), axis=0)
    if ok.any():
        q = np.nanquantile(reps[:, ok], [alpha, 1.0 - alpha], axis=0)
        low[ok], high[ok] = q[0], q[1]
    return low, high


def _point(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    n_def = (~np.isnan(values)).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(n_def > 0, np.nansum(values, axis=0) / np.maximum(n_def, 1), np.nan)
    return mean, n_def


def bootstrap_ci(per_customer: pd.DataFrame, n_boot: int = 1000, seed: int = 0, level: float = 0.95) -> pd.DataFrame:
    """Mean of every metric column with a customer-level percentile bootstrap interval.

    ``value`` is the mean over the customers where the metric is defined (``n_customers`` of them);
    ``low``/``high`` are the (1-level)/2 and (1+level)/2 quantiles of ``n_boot`` replicate means,
    each replicate resampling all rows (customers) with replacement.
    """
    cols = metric_columns(per_customer)
    values = per_customer[cols].to_numpy(dtype=float)
    mean, n_def = _point(values)
    low, high = _interval(_bootstrap_means(values, n_boot, seed), level)
    return pd.DataFrame({"metric": cols, "value": mean, "low": low, "high": high, "n_customers": n_def})


def paired_bootstrap_diff(
    a: pd.DataFrame, b: pd.DataFrame, n_boot: int = 1000, seed: int = 0, level: float = 0.95
) -> pd.DataFrame:
    """Difference b - a of metric means with a paired customer-level bootstrap interval.

    ``a`` and ``b`` are :func:`per_customer_metrics` of two models on the same customers (matched
    on ``customer_id``; the sets must be equal). Each replicate resamples customers once and uses
    the same resample for both models. ``b_better`` = low > 0, ``a_better`` = high < 0; neither
    means the data do not show a difference.
    """
    if a["customer_id"].duplicated().any() or b["customer_id"].duplicated().any():
        raise ValueError("per-customer frames list a customer twice")
    if len(a) != len(b) or not a["customer_id"].isin(b["customer_id"]).all():
        raise ValueError("a and b must cover the same customers (paired comparison)")
    b = b.set_index("customer_id").loc[a["customer_id"]].reset_index()
    cols = [c for c in metric_columns(a) if c in set(metric_columns(b))]
    if not cols:
        raise ValueError("a and b share no metric columns")
    va, vb = a[cols].to_numpy(dtype=float), b[cols].to_numpy(dtype=float)
    mean_a, n_a = _point(va)
    mean_b, n_b = _point(vb)
    reps = _bootstrap_means(np.hstack([va, vb]), n_boot, seed)
    m = len(cols)
    low, high = _interval(reps[:, m:] - reps[:, :m], level)
    return pd.DataFrame(
        {
            "metric": cols,
            "value_a": mean_a,
            "value_b": mean_b,
            "diff": mean_b - mean_a,
            "low": low,
            "high": high,
            "b_better": low > 0,
            "a_better": high < 0,
            "n_customers": np.minimum(n_a, n_b),
        }
    )


def segment_metrics(
    per_customer: pd.DataFrame,
    customer_segments: pd.DataFrame,
    min_customers: int = 20,
    n_boot: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> pd.DataFrame:
    """Metric means per segment with bootstrap intervals (customers resampled within the segment).

    ``customer_segments`` is long: [customer_id, segment_column, segment] (e.g. ``age_band``,
    ``18-29``); a customer has at most one segment per segment column. Only customers present in
    ``per_customer`` count. A (segment, metric) whose ``n_customers`` (customers where the metric
    is defined) is below ``min_customers`` is suppressed: kept as a row with ``suppressed=True``
    and value/low/high NaN. Columns: segment_column, segment, metric, value, low, high,
    n_customers, suppressed.
    """
    _require(customer_segments, ("customer_id", "segment_column", "segment"), "customer_segments")
    if customer_segments.duplicated(["customer_id", "segment_column"]).any():
        raise ValueError("a customer has two segments in one segment column")
    joined = customer_segments.merge(per_customer, on="customer_id", how="inner")
    if joined.empty and len(customer_segments) and len(per_customer):
        raise ValueError("no customer of customer_segments is in per_customer (check customer_id types)")
    frames = []
    for (column, segment), group in joined.groupby(["segment_column", "segment"], sort=True):
        ci = bootstrap_ci(group, n_boot=n_boot, seed=seed, level=level)
        ci.insert(0, "segment", segment)
        ci.insert(0, "segment_column", column)
        frames.append(ci)
    columns = ["segment_column", "segment", "metric", "value", "low", "high", "n_customers", "suppressed"]
    if not frames:
        return pd.DataFrame(columns=columns)
    result = pd.concat(frames, ignore_index=True)
    result["suppressed"] = result["n_customers"] < min_customers
    result.loc[result["suppressed"], ["value", "low", "high"]] = np.nan
    return result[columns]


# --------------------------------------------------------------------------------------------
# reporting helpers
# --------------------------------------------------------------------------------------------


def metrics_vs_k(results: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """Tidy table for plots: model, metric, k, value, low, high.

    ``results`` maps a model name to a frame with ``metric`` (``<metric>@<k>``) and ``value``
    (and optionally ``low``/``high``), e.g. the output of :func:`bootstrap_ci` or
    :func:`list_metrics`.
    """
    frames = []
    for model, frame in results.items():
        parts = [split_metric(m) for m in frame["metric"]]
        frames.append(
            pd.DataFrame(
                {
                    "model": model,
                    "metric": [p[0] for p in parts],
                    "k": np.array([p[1] for p in parts], dtype=np.int64),
                    "value": frame["value"].to_numpy(dtype=float),
                    "low": frame["low"].to_numpy(dtype=float) if "low" in frame else np.nan,
                    "high": frame["high"].to_numpy(dtype=float) if "high" in frame else np.nan,
                }
            )
        )
    columns = ["model", "metric", "k", "value", "low", "high"]
    if not frames:
        return pd.DataFrame(columns=columns)
    return pd.concat(frames, ignore_index=True)[columns].sort_values(
        ["model", "metric", "k"], kind="stable", ignore_index=True
    )


def _plain(value: object, digits: int) -> object:
    """A JSON-safe plain Python value: rounded float, int, bool, str; NaN -> None."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return None if not np.isfinite(value) else round(float(value), digits) + 0.0
    return str(value)


def to_dvc_metrics(frame: pd.DataFrame, keys: Sequence[str] = ("metric",), digits: int = 4) -> dict:
    """Nest a results frame into a DVC metrics dict: ``{key1: {key2: {column: value}}}``.

    Values are plain Python (floats rounded to ``digits``, NaN -> None), keys are strings and the
    dict is built in sorted key order, so ``json.dumps`` of it is deterministic. For
    :func:`segment_metrics` use ``keys=("segment_column", "segment", "metric")``.
    """
    keys = list(keys)
    if frame.duplicated(keys).any():
        raise ValueError(f"{keys} do not identify the rows of the frame")
    value_cols = [c for c in frame.columns if c not in keys]
    out: dict = {}
    for record in frame.sort_values(keys, kind="stable").to_dict("records"):
        node = out
        for key in keys[:-1]:
            node = node.setdefault(str(record[key]), {})
        node[str(record[keys[-1]])] = {c: _plain(record[c], digits) for c in value_cols}
    return out
