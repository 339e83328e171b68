"""How fast point-in-time retrieval is: the feature store against ``pandas.merge_asof`` on the
same random data (``stoffwechsel bench``; docs/performance.md)."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from stoffwechsel.features.store import DUCKDB_THREADS, FeatureStore
from stoffwechsel.features.views import Entity, FeatureView, Field

# --------------------------------------------------------------------------------------------
# benchmark


def bench_retrieval(
    n_spine: int,
    n_entities: int,
    n_feature_rows: int,
    n_features: int = 3,
    seed: int = 0,
    threads: int = DUCKDB_THREADS,
    repeat: int = 2,
) -> dict:
    """Time :meth:`FeatureStore.get_historical_features` against ``pandas.merge_asof`` on the same
    random data (one view, integer key, ``n_features`` float64 features) and check that the
    answers are equal. Returns spine rows per second (best of ``repeat``) for

    * ``store_feast``: the store with ``created_cutoff=False`` vs ``merge_asof`` on the event time;
    * ``store_cutoff``: the store with ``created_cutoff=True`` vs ``merge_asof`` on the created
      time (equivalent here because created = event + 1 hour for every row).

    ``merge_asof`` timings include sorting the spine by time and restoring its order. Not a test.
    """
    rng = np.random.default_rng(seed)
    base = np.datetime64("2024-01-01T00:00:00", "ns")
    span_s = 365 * 24 * 3600
    lag = np.timedelta64(3600, "s")
    # Unique event times (whole seconds), so merge_asof's handling of ties plays no part.
    offsets = rng.choice(span_s, size=n_feature_rows, replace=False)
    event = base + offsets.astype("timedelta64[s]")
    feats = pd.DataFrame({"entity_id": rng.integers(0, n_entities, n_feature_rows)})
    feats["event_timestamp"] = event
    feats["created_timestamp"] = event + lag
    fnames = [f"f{i}" for i in range(n_features)]
    for name in fnames:
        feats[name] = rng.standard_normal(n_feature_rows)
    spine = pd.DataFrame(
        {
            "entity_id": rng.integers(0, int(n_entities * 1.1) + 1, n_spine),
            "event_timestamp": base + rng.integers(0, span_s + 7200, n_spine).astype("timedelta64[s]"),
        }
    )
    view = FeatureView(
        name="bench",
        entities=(Entity("entity", ("entity_id",)),),
        fields=tuple(Field(f, "float64") for f in fnames),
        source_stage="bench",
    )

    def merge_asof(on: str) -> pd.DataFrame:
        left = spine.assign(__pos=np.arange(n_spine)).sort_values("event_timestamp", kind="stable")
        right = feats[["entity_id", on, *fnames]].sort_values(on, kind="stable")
        right = right.rename(columns={on: "__on"})
        merged = pd.merge_asof(
            left,
            right,
            left_on="event_timestamp",
            right_on="__on",
            by="entity_id",
            direction="backward",
            allow_exact_matches=True,
        )
        merged = merged.sort_values("__pos").reset_index(drop=True)
        return merged[fnames]

    def best_time(fn) -> tuple[float, Any]:
        times, result = [], None
        for _ in range(max(1, repeat)):
            t0 = time.perf_counter()
            result = fn()
            times.append(time.perf_counter() - t0)
        return min(times), result

    out: dict[str, Any] = {
        "n_spine": n_spine,
        "n_entities": n_entities,
        "n_feature_rows": n_feature_rows,
        "n_features": n_features,
        "threads": threads,
    }
    with tempfile.TemporaryDirectory() as tmp:
        store = FeatureStore(Path(tmp), threads=threads)
        store.write(view, feats)
        for label, cutoff, on in (
            ("store_feast", False, "event_timestamp"),
            ("store_cutoff", True, "created_timestamp"),
        ):
            # best_time calls fn() at once, with no arguments: the defaults bind this iteration's values
            t_store, got = best_time(lambda c=cutoff: store.get_historical_features(spine, ["bench"], created_cutoff=c))
            t_pandas, want = best_time(lambda o=on: merge_asof(o))
            for name in fnames:
                a = got[name].to_numpy(dtype=float, na_value=np.nan)
                b = want[name].to_numpy(dtype=float, na_value=np.nan)
                if not np.array_equal(a, b, equal_nan=True):
                    raise AssertionError(f"bench {label}: feature {name} differs from merge_asof")
            out[label] = {
                "store_rows_per_s": n_spine / t_store,
                "merge_asof_rows_per_s": n_spine / t_pandas,
                "store_s": t_store,
                "merge_asof_s": t_pandas,
                "matched": float(got[fnames[0]].notna().mean()),
            }
    return out
