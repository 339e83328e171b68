"""Tabular features: the computations behind the views the ``features`` stage writes, building
the tabular store, and the one door to features (:func:`retrieve`).

What each view holds (entity, schema with descriptions, parameters, source function) is declared
in :mod:`stoffwechsel.features.feature_repo`; this module computes the rows:

- ``customer_profile``: what the customer told us at signup.
- ``customer_activity``: behaviour from events strictly before t, aggregated per calendar week. A
  row with event timestamp ``T`` (a Monday 00:00) summarises every event before ``T``; retrieval
  at time t takes the newest row with ``T <= t``, so a feature never sees an event at or after t.
  Rows exist for the weeks in which a value changes (an event, or an event leaving a rolling
  window), so the store grows with the events, not with customers x weeks.
- ``product_catalog``: attributes known from the first day on sale.
- ``product_activity``: popularity, conversion and returns, weekly as above.
- on-demand features (declared with their functions in the repository): computed at retrieval
  from the retrieved values and the spine time, never stored.

Open vocabularies: the category, channel and certification columns (``affinity_<category>``,
``share_<channel>``, ``cert_<certification>``, ...) are derived from the data, not from a fixed
list (:func:`derive_vocabulary`): the values seen before the cutoff (categories and certifications
of products on sale before it, channels of events before it), counted, most frequent first (ties
by name), the first ``features.vocabulary_size`` kept and the rest pooled as ``other``. Column
names are the values in lower case with every run of other characters as ``_``
(:func:`stoffwechsel.features.feature_repo.slug`). The vocabulary is part of the views' definition, so it
is recorded in the registry and changes their versions.

Aggregation runs in DuckDB (vectorised SQL, window functions), so it scales with the number of
events.
"""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd

from stoffwechsel import domain
from stoffwechsel.features import feature_repo
from stoffwechsel.features.feature_repo import (
    OTHER,
    Vocabulary,
    category_column,
    category_slug,
    slug,
    week_end,
    week_index,
)
from stoffwechsel.features.store import FeatureStore
from stoffwechsel.features.views import FeatureView

DEFAULT_VOCABULARY_SIZE = 12
#: the stated sustainability interest on a scale (domain.INTEREST_LEVELS, lowest first)
INTEREST_LEVEL = {level: i for i, level in enumerate(domain.INTEREST_LEVELS)}
SOURCE_STAGE = "features"


# --- open vocabularies ----------------------------------------------------------------------


def _column_of(values: pd.Series, kept: tuple[str, ...]) -> pd.Series:
    """Each value's column slug: its own where kept, else ``other`` (missing stays missing)."""
    slugs = values.map(lambda v: slug(v) if isinstance(v, str) and v.strip() else None)
    return slugs.where(slugs.isna() | slugs.isin(kept), OTHER)


def _top(values: pd.Series, size: int) -> tuple[tuple[str, ...], dict]:
    """Most frequent slugs first (ties by slug), the first ``size`` kept, ``other`` if any were cut."""
    values = values[values.map(lambda v: isinstance(v, str) and bool(v.strip()))].str.strip()
    if values.empty:
        return (), {}
    frame = pd.DataFrame({"slug": values.map(slug), "value": values})
    counts = frame.groupby("slug").size().rename("n").reset_index().sort_values(["n", "slug"], ascending=[False, True])
    kept = tuple(counts["slug"].head(size))
    labels = (
        frame.groupby(["slug", "value"])
        .size()
        .rename("n")
        .reset_index()
        .sort_values(["slug", "n", "value"], ascending=[True, False, True])
        .drop_duplicates("slug")
    )
    labels = {r.slug: r.value for r in labels.itertuples() if r.slug in kept}
    if len(counts) > size and OTHER not in kept:
        kept = kept + (OTHER,)
    return kept, labels


def _certification_lists(certifications: pd.Series) -> pd.Series:
    return certifications.fillna("").astype(str).map(lambda s: sorted({c.strip() for c in s.split("|") if c.strip()}))


def derive_vocabulary(
    products: pd.DataFrame,
    resolved: pd.DataFrame,
    cutoff: pd.Timestamp | None = None,
    size: int = DEFAULT_VOCABULARY_SIZE,
) -> Vocabulary:
    """The open vocabularies (rule in the module doc): products on sale before the cutoff and
    events before it (no cutoff: all of them)."""
    size = int(size)
    before = products if cutoff is None else products[products["sale_start"] < pd.Timestamp(cutoff)]
    events = resolved if cutoff is None else resolved[resolved["event_time"] < pd.Timestamp(cutoff)]
    categories, cat_labels = _top(before["category"].astype(object), size)
    channels, ch_labels = _top(
        events["channel"].astype(object) if "channel" in events else pd.Series([], dtype=object), size
    )
    certs, cert_labels = _top(_certification_lists(before["certifications"]).explode().dropna().astype(object), size)
    categories = tuple(category_slug(c) for c in categories)  # affinity_certified is a feature of its own
    cat_labels = {category_slug(k): v for k, v in cat_labels.items()}
    return Vocabulary(categories, channels, certs, {**cat_labels, **ch_labels, **cert_labels})


def vocabulary_of(store: FeatureStore) -> Vocabulary:
    """The vocabulary a store's tabular views were built with (recorded in the registry)."""
    return Vocabulary.from_dict(store.get_view("customer_activity").definition["params"]["vocabulary"])


# --- helpers --------------------------------------------------------------------------------


def price_band(price: pd.Series, thresholds: list[float]) -> pd.Series:
    """budget / mid / premium by fixed price thresholds in EUR (not fitted, so no leakage)."""
    low, high = thresholds
    band = np.select([price < low, price < high], ["budget", "mid"], "premium")
    return pd.Series(np.where(price.isna(), None, band), index=price.index, dtype="object")


def _certification_flags(certifications: pd.Series, kept: tuple[str, ...]) -> pd.DataFrame:
    slugs = _certification_lists(certifications).map(lambda xs: {slug(x) for x in xs})
    known = set(kept) - {OTHER}
    flags = {f"cert_{c}": slugs.map(lambda xs, c=c: int(c in xs)).astype("int64") for c in kept if c != OTHER}
    if OTHER in kept:
        flags[f"cert_{OTHER}"] = slugs.map(lambda xs: int(bool(xs - known))).astype("int64")
    return pd.DataFrame(flags, index=certifications.index)


def _with_timestamps(df: pd.DataFrame, ts: pd.Series) -> pd.DataFrame:
    df = df.copy()
    df.insert(1, "event_timestamp", ts.astype("datetime64[us]").values)
    df.insert(2, "created_timestamp", ts.astype("datetime64[us]").values)
    return df


# --- customer_profile -----------------------------------------------------------------------


def compute_customer_profile(customers: pd.DataFrame) -> pd.DataFrame:
    """One row per customer, valid from the signup date."""
    df = customers[["customer_id", "age_band", "region", "preferred_channel", "loyalty_tier", "segment"]].copy()
    # an open vocabulary: a level the scale does not know (a real export's "unknown") is missing, not a crash
    df["sustainability_interest_level"] = customers["sustainability_interest"].map(INTEREST_LEVEL).astype("float64")
    df["signup_date"] = customers["signup_date"].astype("datetime64[us]")
    return _with_timestamps(df, customers["signup_date"])


# --- product_catalog ------------------------------------------------------------------------


def compute_product_catalog(
    products: pd.DataFrame, price_thresholds: list[float], vocab: Vocabulary | None = None
) -> pd.DataFrame:
    """One row per product version, known from its first day on sale."""
    from stoffwechsel.data.keys import product_key, season_order

    vocab = vocab or derive_vocabulary(products, pd.DataFrame({"event_time": pd.Series([], dtype="datetime64[us]")}))
    p = products.copy()
    df = pd.DataFrame({"product_key": product_key(p["product_id"], p["season"]).astype(str)})
    df["product_id"] = p["product_id"].astype(str)
    df["season"] = p["season"].astype(str)
    df["category"] = p["category"].astype(str)
    df["price_eur"] = p["price_eur"].astype("float64")
    df["price_band"] = price_band(p["price_eur"], price_thresholds)
    flags = _certification_flags(p["certifications"], vocab.certifications)
    df["n_certifications"] = _certification_lists(p["certifications"]).map(len).astype("int64")
    df = pd.concat([df, flags], axis=1)
    order = season_order(p["season"])
    first_order = order.groupby(p["product_id"]).transform("min")
    df["is_recycled_id"] = (order > first_order).astype("int64")
    df["sale_start"] = p["sale_start"].astype("datetime64[us]")
    df["sale_end"] = p["sale_end"].astype("datetime64[us]")
    return _with_timestamps(df, p["sale_start"])


# --- weekly activity aggregation (shared by customers and products) -------------------------


def _weekly_rolling(
    events: pd.DataFrame, entity: str, sums: list[str], maxes: list[str], windows: dict[str, tuple[str, int]]
) -> pd.DataFrame:
    """Per entity and week: cumulative sums and maxima of the given columns over all weeks so
    far, and rolling sums over the last n weeks (``windows``: output name -> (column, n)).

    Rows exist for every week with events and for every week in which an event leaves a rolling
    window, so values between rows are constant (what point-in-time retrieval assumes).
    """
    shifts = sorted({n for _, n in windows.values()})
    con = duckdb.connect(config={"threads": 2})
    con.register("events", events)
    sum_cols = ", ".join(f"SUM({c}) AS {c}" for c in sums)
    max_cols = ", ".join(f"MAX({c}) AS {c}" for c in maxes)
    grid_shifts = " UNION ".join(
        [f"SELECT {entity}, week + {n} AS week FROM weekly" for n in shifts] or ["SELECT NULL, NULL WHERE FALSE"]
    )
    cum = ", ".join(f"SUM(COALESCE({c}, 0)) OVER w_all AS {c}" for c in sums)
    cum_max = ", ".join(f"MAX({c}) OVER w_all AS {c}" for c in maxes)
    rolling = ", ".join(
        f"SUM(COALESCE({col}, 0)) OVER (PARTITION BY {entity} ORDER BY week "
        f"RANGE BETWEEN {n - 1} PRECEDING AND CURRENT ROW) AS {name}"
        for name, (col, n) in windows.items()
    )
    sql = f"""
        WITH weekly AS (
            SELECT {entity}, week, {sum_cols}{", " + max_cols if maxes else ""}
            FROM events GROUP BY {entity}, week
        ),
        grid AS (SELECT {entity}, week FROM weekly UNION {grid_shifts}),
        dense AS (SELECT g.{entity}, g.week, {", ".join("w." + c for c in sums + maxes)}
                  FROM grid g LEFT JOIN weekly w USING ({entity}, week))
        SELECT {entity}, week, {cum}{", " + cum_max if maxes else ""}{", " + rolling if rolling else ""}
        FROM dense
        WINDOW w_all AS (PARTITION BY {entity} ORDER BY week ROWS UNBOUNDED PRECEDING)
        ORDER BY {entity}, week
    """
    out = con.execute(sql).df()
    con.close()
    return out


def _event_frame(resolved: pd.DataFrame, catalog: pd.DataFrame, vocab: Vocabulary) -> pd.DataFrame:
    """Resolved transactions with the product attributes the aggregates need."""
    attrs = catalog[["product_key", "category", "n_certifications", *[f"cert_{s}" for s in vocab.certifications]]]
    ev = resolved[
        ["event_id", "customer_id", "product_key", "event_type", "event_time", "quantity", "unit_price_eur", "channel"]
    ].merge(attrs, on="product_key", how="left", validate="many_to_one")
    ev["week"] = week_index(ev["event_time"])
    for kind in ("browse", "wishlist", "purchase", "return"):
        ev[f"n_{kind}"] = (ev["event_type"] == kind).astype("int64")
    ev["spend_eur"] = np.where(ev["n_purchase"] == 1, ev["quantity"] * ev["unit_price_eur"], 0.0)
    ev["price_paid_sum"] = np.where(ev["n_purchase"] == 1, ev["unit_price_eur"], 0.0)
    # Wishlisted first, bought later: a purchase with an earlier wishlist of the same customer and version.
    wished = (
        ev.loc[ev["n_wishlist"] == 1].groupby(["customer_id", "product_key"])["event_time"].min().rename("first_wish")
    )
    ev = ev.merge(wished, on=["customer_id", "product_key"], how="left")
    ev["n_purchase_after_wish"] = ((ev["n_purchase"] == 1) & (ev["first_wish"] < ev["event_time"])).astype("int64")
    # Interest weights: a purchase says more about taste than a browse.
    weight = ev["event_type"].map({"browse": 1.0, "wishlist": 2.0, "purchase": 4.0, "return": 0.0}).astype("float64")
    ev["interest_weight"] = weight
    column = category_column(ev["category"], vocab)
    for c in vocab.categories:
        ev[f"w_cat_{c}"] = weight * (column == c)
    ev["w_certified"] = weight * (ev["n_certifications"] > 0)
    for c in vocab.certifications:
        ev[f"w_cert_{c}"] = weight * ev[f"cert_{c}"]
    channel = _column_of(ev["channel"].astype(object), vocab.channels)
    for ch in vocab.channels:
        ev[f"n_channel_{ch}"] = (channel == ch).astype("int64")
    ev["n_events"] = 1
    ev["purchase_time"] = ev["event_time"].where(ev["n_purchase"] == 1)
    return ev


# --- customer_activity ----------------------------------------------------------------------


def compute_customer_activity(events: pd.DataFrame, params: dict, vocab: Vocabulary) -> pd.DataFrame:
    """Weekly rows of customer behaviour from events strictly before each row's timestamp."""
    weeks = int(params["recent_weeks"])
    interest_cols = (
        [f"w_cat_{c}" for c in vocab.categories] + ["w_certified"] + [f"w_cert_{s}" for s in vocab.certifications]
    )
    sums = [
        "n_events",
        "n_wishlist",
        "n_purchase",
        "n_return",
        "n_purchase_after_wish",
        "spend_eur",
        "price_paid_sum",
        "interest_weight",
        *[f"n_channel_{ch}" for ch in vocab.channels],
        *interest_cols,
    ]
    agg = _weekly_rolling(
        events, "customer_id", sums, ["event_time", "purchase_time"], {"purchases_recent": ("n_purchase", weeks)}
    )
    out = pd.DataFrame({"customer_id": agg["customer_id"].astype(str)})
    out["last_event_time"] = agg["event_time"].astype("datetime64[us]")
    out["last_purchase_time"] = agg["purchase_time"].astype("datetime64[us]")
    out["events_total"] = agg["n_events"].astype("int64")
    out["purchases_total"] = agg["n_purchase"].astype("int64")
    out["purchases_recent"] = agg["purchases_recent"].astype("int64")
    out["spend_total_eur"] = agg["spend_eur"].round(2)
    bought = agg["n_purchase"].where(agg["n_purchase"] > 0)
    out["mean_price_paid_eur"] = (agg["price_paid_sum"] / bought).round(4)
    out["usual_price_band"] = price_band(out["mean_price_paid_eur"], params["price_band_thresholds_eur"])
    out["return_rate"] = (agg["n_return"] / bought).round(6)
    out["wishlist_to_purchase_rate"] = (
        agg["n_purchase_after_wish"] / agg["n_wishlist"].where(agg["n_wishlist"] > 0)
    ).round(6)
    for ch in vocab.channels:
        out[f"share_{ch}"] = (agg[f"n_channel_{ch}"] / agg["n_events"]).round(6)
    interest = agg["interest_weight"].where(agg["interest_weight"] > 0)
    for c in vocab.categories:
        out[f"affinity_{c}"] = (agg[f"w_cat_{c}"] / interest).round(6)
    out["affinity_certified"] = (agg["w_certified"] / interest).round(6)
    for c in vocab.certifications:
        out[f"affinity_cert_{c}"] = (agg[f"w_cert_{c}"] / interest).round(6)
    return _with_timestamps(out, week_end(agg["week"]))


# --- product_activity -----------------------------------------------------------------------


def compute_product_activity(events: pd.DataFrame, params: dict) -> pd.DataFrame:
    """Weekly rows of product-version popularity from events strictly before each row's timestamp."""
    weeks = int(params["popularity_weeks"])
    agg = _weekly_rolling(
        events,
        "product_key",
        ["n_browse", "n_wishlist", "n_purchase", "n_return"],
        [],
        {
            "views_last_week": ("n_browse", 1),
            "views_recent": ("n_browse", weeks),
            "wishlists_recent": ("n_wishlist", weeks),
            "purchases_last_week": ("n_purchase", 1),
            "purchases_recent": ("n_purchase", weeks),
        },
    )
    out = pd.DataFrame({"product_key": agg["product_key"].astype(str)})
    for name in ("views_last_week", "views_recent", "wishlists_recent", "purchases_last_week", "purchases_recent"):
        out[f"product_{name}"] = agg[name].astype("int64")
    out["product_purchases_total"] = agg["n_purchase"].astype("int64")
    out["product_conversion_recent"] = (
        agg["purchases_recent"] / agg["views_recent"].where(agg["views_recent"] > 0)
    ).round(6)
    out["product_return_rate"] = (agg["n_return"] / agg["n_purchase"].where(agg["n_purchase"] > 0)).round(6)
    return _with_timestamps(out, week_end(agg["week"]))


# --- on-demand features and retrieval -------------------------------------------------------------


def add_on_demand_features(
    frame: pd.DataFrame,
    spine_timestamp: str = "event_timestamp",
    vocab: Vocabulary | None = None,
    names: tuple[str, ...] = feature_repo.TABULAR.on_demand,
) -> pd.DataFrame:
    """Compute the on-demand features ``names`` (declared in the repository) from retrieved
    columns and the spine time (``vocab``: the store's vocabulary; without it, none of the
    category affinity columns is used)."""
    t = frame[spine_timestamp]
    out = frame.copy()
    for name in names:
        out[name] = feature_repo.ON_DEMAND_FEATURES[name].function(frame, t, vocab)
    return out


def retrieve(
    stores: FeatureStore | list[FeatureStore],
    spine: pd.DataFrame,
    service: str | feature_repo.FeatureService = "tabular",
    spine_timestamp: str = "event_timestamp",
) -> pd.DataFrame:
    """The one door to features for training and evaluation: point-in-time retrieval of a
    feature service's features (:data:`stoffwechsel.features.feature_repo.SERVICES`, by name or the
    service) for a spine of (customer_id, product_key, time), plus its on-demand features.

    Each pipeline stage owns its own store (tabular: ``data/feature_store``, embeddings:
    ``data/embedding_store``); pass all the stores the service's views live in."""
    served = feature_repo.service(service)
    refs = served.features
    stores = [stores] if isinstance(stores, FeatureStore) else list(stores)
    frame = spine.reset_index(drop=True)
    view_of = lambda ref: ref.split(":", 1)[0]  # noqa: E731  "view" or "view:feature"
    for store in stores:
        held = [v for v in refs if view_of(v) in store.list_views()]
        if held:
            frame = store.get_historical_features(frame, held, spine_timestamp=spine_timestamp)
    missing = [v for v in refs if not any(view_of(v) in s.list_views() for s in stores)]
    if missing:
        raise KeyError(
            f"feature views {missing} of the service {served.name!r} are in none of the stores "
            f"{[str(s.root) for s in stores]}"
        )
    vocab = next((vocabulary_of(s) for s in stores if "customer_activity" in s.list_views()), None)
    return add_on_demand_features(frame, spine_timestamp, vocab, served.on_demand)


# --- the views and building them ------------------------------------------------------------


def feature_views(params: dict, vocab: Vocabulary) -> dict[str, FeatureView]:
    """The tabular feature views as declared in the repository; their versions follow from
    schema, code, parameters and the vocabulary derived from the data."""
    return {decl.name: decl.feature_view(params, vocab) for decl in feature_repo.views_of_stage(SOURCE_STAGE)}


def vocabulary_for(resolved: pd.DataFrame, products: pd.DataFrame, params: dict) -> Vocabulary:
    """The vocabulary of a build: from data before ``params["cutoff"]`` (absent: all data)."""
    cutoff = params.get("cutoff")
    return derive_vocabulary(
        products,
        resolved,
        None if cutoff is None else pd.Timestamp(cutoff),
        int(params.get("vocabulary_size", DEFAULT_VOCABULARY_SIZE)),
    )


def compute_all(
    resolved: pd.DataFrame,
    products: pd.DataFrame,
    customers: pd.DataFrame,
    params: dict,
    vocab: Vocabulary | None = None,
) -> dict[str, pd.DataFrame]:
    """Every tabular view's rows, from resolved transactions and the catalogue."""
    vocab = vocab or vocabulary_for(resolved, products, params)
    catalog = compute_product_catalog(products, params["price_band_thresholds_eur"], vocab)
    events = _event_frame(resolved, catalog, vocab)
    return {
        "customer_profile": compute_customer_profile(customers),
        "customer_activity": compute_customer_activity(events, params, vocab),
        "product_catalog": catalog,
        "product_activity": compute_product_activity(events, params),
    }


def build_tabular_store(
    store: FeatureStore, resolved: pd.DataFrame, products: pd.DataFrame, customers: pd.DataFrame, params: dict
) -> dict[str, str]:
    """Compute and write every tabular view; returns view -> version written."""
    vocab = vocabulary_for(resolved, products, params)
    views = feature_views(params, vocab)
    frames = compute_all(resolved, products, customers, params, vocab)
    return {name: store.write(views[name], frames[name]) for name in views}


# --- reading the registry for people ----------------------------------------------------------


def registry_summary(store: FeatureStore) -> pd.DataFrame:
    """One row per feature view: its current version, entity, size and time range."""
    rows = []
    for name in store.list_views():
        view = store.get_view(name)
        data = store.read(name)
        rows.append(
            {
                "view": name,
                "version": view.version,
                "entity": ", ".join(e.name for e in view.entities),
                "features": len(view.fields),
                "rows": len(data),
                "first": data[view.timestamp_field].min(),
                "last": data[view.timestamp_field].max(),
                "description": view.description,
            }
        )
    return pd.DataFrame(rows)


def feature_catalogue(store: FeatureStore) -> pd.DataFrame:
    """Every feature with its view, version, type and one-line business description, plus the
    on-demand features (computed at retrieval)."""
    rows = []
    for name in store.list_views():
        view = store.get_view(name)
        for f in view.fields:
            rows.append(
                {
                    "feature": f.name,
                    "view": name,
                    "version": view.version,
                    "entity": view.entities[0].name,
                    "type": f.dtype,
                    "description": f.description,
                }
            )
    for f in feature_repo.ON_DEMAND_FEATURES.values():
        rows.append(
            {
                "feature": f.name,
                "view": "on demand",
                "version": "",
                "entity": "customer x product",
                "type": f.dtype,
                "description": f.description,
            }
        )
    return pd.DataFrame(rows)


def training_side_check(store: FeatureStore, cutoff: pd.Timestamp) -> pd.DataFrame:
    """For each activity view: the rows a training spine (t <= cutoff) can reach, the newest of
    them, and (customers) the newest event any of them summarises; all must be before the cutoff."""
    checks = []
    for name in ("customer_activity", "product_activity"):
        data = store.read(name)
        reachable = data[data["event_timestamp"] <= cutoff]
        newest_event = reachable["last_event_time"].max() if "last_event_time" in reachable else pd.NaT
        checks.append(
            {
                "view": name,
                "rows_up_to_cutoff": len(reachable),
                "newest_row": reachable["event_timestamp"].max(),
                "newest_event_summarised": newest_event,
                "ok": bool(
                    reachable.empty
                    or (
                        reachable["event_timestamp"].max() <= cutoff
                        and (pd.isna(newest_event) or newest_event < cutoff)
                    )
                ),
            }
        )
    return pd.DataFrame(checks)


def catalogue_markdown(stores: list[FeatureStore]) -> str:
    """The feature catalogue for docs/feature-catalogue.md, generated from the registries."""
    lines = [
        "# Feature catalogue",
        "",
        "Generated from the feature store registries by `stoffwechsel feature-catalogue` (do not edit by hand;",
        "`tests/test_docs.py` checks it matches the registries of the pipeline's last run).",
        "",
    ]
    for store in stores:
        for name in store.list_views():
            view = store.get_view(name)
            lines += [
                f"## `{name}` (version `{view.version}`)",
                "",
                f"{view.description} Entity: {', '.join(e.name for e in view.entities)} "
                f"(join keys: {', '.join(view.join_keys)}); source stage: `{view.source_stage}`.",
                "",
                "| feature | type | description |",
                "|---|---|---|",
            ]
            lines += [f"| `{f.name}` | {f.dtype} | {f.description} |" for f in view.fields]
            lines.append("")
    lines += [
        "## On-demand features (computed at retrieval)",
        "",
        "| feature | computed from | description |",
        "|---|---|---|",
    ]
    lines += [
        f"| `{f.name}` | {', '.join(f'`{n}`' for n in f.sources[:3])}{' ...' if len(f.sources) > 3 else ''} "
        f"| {f.description} |"
        for f in feature_repo.ON_DEMAND_FEATURES.values()
    ]
    lines += [
        "",
        "## Feature services (what each model reads)",
        "",
        "Declared in `lib/stoffwechsel/features/feature_repo.py`; retrieved with "
        "`tabular.retrieve(stores, spine, service)`.",
        "",
        "| service | retrieves | on-demand features | description |",
        "|---|---|---|---|",
    ]
    lines += [
        f"| `{s.name}` | {', '.join(f'`{r}`' for r in s.features)} | {', '.join(f'`{n}`' for n in s.on_demand)} "
        f"| {s.description} |"
        for s in feature_repo.SERVICES.values()
    ]
    return "\n".join(lines) + "\n"
