"""The feature repository: every entity, feature view, on-demand feature and feature service of
the pipeline, declared in this one module (in the spirit of Feast's ``feature_repo``).

Read it top to bottom to know what the models can see:

- **Entities** (:data:`CUSTOMER`, :data:`PRODUCT_VERSION`): what features describe, by join key.
- **Feature views** (:data:`VIEWS`): for each, its entity, schema (feature name, dtype and a
  one-line business description), ttl, the stage that writes it, the function that computes its
  rows (``source``, ``"module:function"`` inside ``stoffwechsel``) and what else defines its data
  (``code``: further functions or constants, ``params``: the parameters it reads, ``vocabulary``:
  the part of the open vocabulary it records). The view's version fingerprints exactly those
  (:meth:`ViewDecl.definition`), never the descriptions. Descriptions are templates filled from the
  stage's parameters (``{recent_weeks}``), so they say what the parameters make the features.
  Columns named after values of an open vocabulary (``affinity_<category>``, ...) are declared as
  :class:`PerValue` families; the values come from the data (``features.derive_vocabulary``).
- **On-demand features** (:data:`ON_DEMAND_FEATURES`): computed at retrieval from retrieved
  features and the spine time, never stored; each declared with its function right below it.
- **Feature services** (:data:`SERVICES`): what a model reads. ``tabular``: the shop's structured
  data; ``combined``: the same plus what the product descriptions say (embedding views). A
  service knows which of its retrieved columns are model inputs (:meth:`FeatureService.model_inputs`):
  fields a view lists as ``not_model_inputs`` (identifiers, timestamps and vectors the on-demand
  features are computed from) are retrieved but not learned from.

Sources are named by string, not imported, so that this module imports no computation: the
``features`` stage does not depend on the embedding code or the other way round. A source is
resolved only where its view is built (:meth:`ViewDecl.feature_view`), by the stage that owns it;
``tests/test_feature_repo.py`` checks every name resolves.

The open vocabularies' column naming rule lives here too (:func:`slug`, :class:`Vocabulary`,
:func:`category_column`): it decides the schema's column names.

Why one module of over 600 lines: it is the feature repository, one place for every
declaration by design (issue 15); the functions next to their schemas are short.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import numpy as np
import pandas as pd

from stoffwechsel.features.views import Entity, FeatureView, Field, code_fingerprint

__all__ = [
    "COMBINED",
    "CUSTOMER",
    "ON_DEMAND_FEATURES",
    "OTHER",
    "PRODUCT_VERSION",
    "SERVICES",
    "TABULAR",
    "VIEWS",
    "WEEK_ANCHOR",
    "FeatureService",
    "OnDemandFeature",
    "PerValue",
    "ViewDecl",
    "Vocabulary",
    "category_column",
    "service",
    "slug",
    "views_of_stage",
    "week_end",
    "week_index",
]

# --- entities ---------------------------------------------------------------------------------

CUSTOMER = Entity("customer", ("customer_id",), "A Stoffwechsel customer account.")
PRODUCT_VERSION = Entity(
    "product_version", ("product_key",), "A product in one season: product_id@season, e.g. SW-1042@AW25."
)

# --- the weekly grain of the activity views ---------------------------------------------------

WEEK_ANCHOR = pd.Timestamp("2024-01-01")  # a Monday: weeks run Monday 00:00 to Sunday 24:00


def week_index(ts: pd.Series) -> pd.Series:
    """Whole weeks since WEEK_ANCHOR (Monday-based)."""
    return ((ts - WEEK_ANCHOR) // pd.Timedelta(days=7)).astype("int64")


def week_end(week: pd.Series) -> pd.Series:
    """The Monday 00:00 after the week: the time at which the week's aggregates are complete."""
    return WEEK_ANCHOR + pd.to_timedelta((week + 1) * 7, unit="D")


# --- open vocabularies: column names ----------------------------------------------------------

OTHER = "other"  # the column for values outside the vocabulary
#: category slugs that would collide with other affinity columns get a ``cat_`` prefix
RESERVED_CATEGORY_SLUGS = frozenset({"certified"})


def slug(value: object) -> str:
    """A value as part of a column name: lower case, every run of other characters ``_``."""
    text = re.sub(r"[^a-z0-9]+", "_", str(value).strip().lower()).strip("_")
    return text or "blank"


def category_slug(value: str) -> str:
    """A category's slug as an affinity column suffix (``cat_`` before a reserved one)."""
    return f"cat_{value}" if value in RESERVED_CATEGORY_SLUGS or value.startswith("cert_") else value


@dataclass(frozen=True)
class Vocabulary:
    """The values that get their own feature columns (slugs, most frequent first), ``other``
    last where values were pooled; ``labels`` maps a slug to the value as the data writes it."""

    categories: tuple[str, ...]
    channels: tuple[str, ...]
    certifications: tuple[str, ...]
    labels: dict

    def as_dict(self) -> dict:
        return {
            "categories": list(self.categories),
            "channels": list(self.channels),
            "certifications": list(self.certifications),
            "labels": dict(sorted(self.labels.items())),
        }

    @classmethod
    def from_dict(cls, d: dict) -> Vocabulary:
        return cls(tuple(d["categories"]), tuple(d["channels"]), tuple(d["certifications"]), dict(d.get("labels", {})))

    def label(self, key: str) -> str:
        return "other values" if key == OTHER else self.labels.get(key, key)


def category_column(category: pd.Series, vocab: Vocabulary) -> pd.Series:
    """The affinity column slug of each product category under the vocabulary."""
    slugs = category.map(lambda v: slug(v) if isinstance(v, str) and v.strip() else None)
    slugs = slugs.map(lambda c: category_slug(c) if isinstance(c, str) else c)
    return slugs.where(slugs.isna() | slugs.isin(vocab.categories), OTHER if OTHER in vocab.categories else None)


# --- declarations -------------------------------------------------------------------------------


@dataclass(frozen=True)
class PerValue:
    """A family of features, one per value of an open vocabulary (``"categories"``,
    ``"channels"`` or ``"certifications"``): column ``prefix + slug``; the description names the
    value (``{value}``); ``other``: the description of the pooled ``other`` column, if it differs."""

    prefix: str
    vocabulary: str
    dtype: str
    description: str
    other: str | None = None

    def fields(self, vocab: Vocabulary | None) -> tuple[Field, ...]:
        values = () if vocab is None else getattr(vocab, self.vocabulary)
        return tuple(
            Field(
                f"{self.prefix}{v}",
                self.dtype,
                self.other if v == OTHER and self.other else self.description.format(value=vocab.label(v)),
            )
            for v in values
        )


def _resolve(ref: str) -> Any:
    """``"module:name"`` inside the package -> the object."""
    module, _, name = ref.partition(":")
    return getattr(importlib.import_module(f"stoffwechsel.{module}"), name)


@dataclass(frozen=True)
class ViewDecl:
    """A feature view as declared; :meth:`feature_view` makes the store's :class:`FeatureView`."""

    name: str
    entity: Entity
    description: str
    schema: tuple[Field | PerValue, ...]
    source: str  # "module:function" that computes the rows
    stage: str  # the pipeline stage that writes the view
    code: tuple[str, ...] = ()  # further "module:name" the data depends on (functions: source text; constants: value)
    params: tuple[str, ...] = ()  # parameters of the stage's params.yaml section it reads
    vocabulary: str = ""  # "": none; "vocabulary": all of it; "certifications": that part
    ttl: timedelta | None = None
    not_model_inputs: tuple[str, ...] = ()  # identifiers and raw inputs of on-demand features
    categories: tuple[str, ...] = ()  # non-text features whose values are labels, not amounts (text ones always are)

    def fields(self, params: Mapping, vocab: Vocabulary | None = None) -> tuple[Field, ...]:
        """The schema for a build: families expanded, descriptions filled from the parameters."""
        out: list[Field] = []
        for item in self.schema:
            if isinstance(item, PerValue):
                out.extend(item.fields(vocab))
            else:
                out.append(Field(item.name, item.dtype, item.description.format(**params)))
        return tuple(out)

    def holds(self, column: str) -> bool:
        """Whether ``column`` is one of this view's features (for any vocabulary)."""
        return any(column.startswith(i.prefix) if isinstance(i, PerValue) else column == i.name for i in self.schema)

    def dtype_of(self, column: str) -> str | None:
        """The declared dtype of one of this view's features (None: not one of them)."""
        for item in self.schema:
            if column == item.name if isinstance(item, Field) else column.startswith(item.prefix):
                return item.dtype
        return None

    def definition(self, params: Mapping, vocab: Vocabulary | None = None, **inputs: Any) -> dict:
        """What defines the data (the version's input): ``inputs`` given at build time (model,
        fitted artifacts), the source text of ``source`` and ``code`` (a constant: its value; one
        item: not a list), the parameters read and the vocabulary part recorded."""
        code = []
        for ref in (self.source, *self.code):
            obj = _resolve(ref)
            code.append(code_fingerprint(obj) if callable(obj) else list(obj) if isinstance(obj, tuple) else obj)
        recorded = {k: params[k] for k in self.params}
        if self.vocabulary == "vocabulary":
            recorded["vocabulary"] = vocab.as_dict()
        elif self.vocabulary:
            recorded[self.vocabulary] = vocab.as_dict()[self.vocabulary]
        return {**inputs, "code": code[0] if len(code) == 1 else code, "params": recorded}

    def feature_view(self, params: Mapping, vocab: Vocabulary | None = None, **inputs: Any) -> FeatureView:
        return FeatureView(
            self.name,
            (self.entity,),
            self.fields(params, vocab),
            ttl=self.ttl,
            source_stage=self.stage,
            description=self.description,
            definition=self.definition(params, vocab, **inputs),
        )


# --- feature views: stage `features` (lib/stoffwechsel/features/tabular.py) ------------------------------

CUSTOMER_PROFILE = ViewDecl(
    "customer_profile",
    CUSTOMER,
    "What the customer told us at signup.",
    schema=(
        Field("age_band", "string", "Age band the customer gave at signup."),
        Field("region", "string", "Where the customer lives (city or region)."),
        Field("preferred_channel", "string", "Channel the customer says they prefer: web shop, app or store."),
        Field("loyalty_tier", "string", "Loyalty programme tier (none, silver, gold)."),
        Field("segment", "string", "Marketing segment the customer belongs to."),
        Field(
            "sustainability_interest_level",
            "float64",
            "Stated interest in sustainability: 0 low, 1 medium, 2 high; missing where the shop records another value.",
        ),
        Field("signup_date", "timestamp", "Day the customer signed up (tenure is measured from it)."),
    ),
    source="features.tabular:compute_customer_profile",
    stage="features",
    not_model_inputs=("signup_date",),
)

CUSTOMER_ACTIVITY = ViewDecl(
    "customer_activity",
    CUSTOMER,
    "Customer behaviour from all events before the row's week end (weekly).",
    schema=(
        Field("last_event_time", "timestamp", "When the customer last browsed, wishlisted, bought or returned."),
        Field("last_purchase_time", "timestamp", "When the customer last bought something."),
        Field("events_total", "int64", "All interactions so far (browsing, wishlist, purchases, returns)."),
        Field("purchases_total", "int64", "Purchases so far (frequency)."),
        Field("purchases_recent", "int64", "Purchases in the last {recent_weeks} weeks."),
        Field("spend_total_eur", "float64", "Money spent so far, in euros."),
        Field("mean_price_paid_eur", "float64", "Average price of the items the customer bought."),
        Field("usual_price_band", "string", "Price band of what the customer usually buys: budget, mid or premium."),
        Field("return_rate", "float64", "Share of purchases the customer sent back."),
        Field("wishlist_to_purchase_rate", "float64", "Share of wishlisted items the customer later bought."),
        PerValue("share_", "channels", "float64", "Share of the customer's interactions in the channel {value}."),
        PerValue(
            "affinity_", "categories", "float64", "Share of the customer's interest that went to the category {value}."
        ),
        Field("affinity_certified", "float64", "Share of the customer's interest that went to certified products."),
        PerValue(
            "affinity_cert_",
            "certifications",
            "float64",
            "Share of the customer's interest that went to {value}-certified products.",
        ),
    ),
    source="features.tabular:compute_customer_activity",
    code=("features.tabular:_event_frame", "features.tabular:_weekly_rolling"),
    params=("recent_weeks", "price_band_thresholds_eur"),
    vocabulary="vocabulary",
    stage="features",
    not_model_inputs=("last_event_time", "last_purchase_time"),
)

PRODUCT_CATALOG = ViewDecl(
    "product_catalog",
    PRODUCT_VERSION,
    "Product version attributes, known from the first day on sale.",
    schema=(
        Field("product_id", "string", "The shop's article number (reused across seasons)."),
        Field("season", "string", "Season of this product version (SS = spring/summer, AW = autumn/winter)."),
        Field("category", "string", "Product category as the shop names it."),
        Field("price_eur", "float64", "List price in euros."),
        Field("price_band", "string", "Price band: budget, mid or premium."),
        Field("n_certifications", "int64", "Number of sustainability certifications the product carries."),
        PerValue(
            "cert_",
            "certifications",
            "int64",
            "1 if the product is certified {value}.",
            other="1 if the product carries a certification without a column of its own.",
        ),
        Field("is_recycled_id", "int64", "1 if this article number named a different product in an earlier season."),
        Field("sale_start", "timestamp", "First day on sale (season age is measured from it)."),
        Field("sale_end", "timestamp", "Last day on sale, clearance included."),
    ),
    source="features.tabular:compute_product_catalog",
    params=("price_band_thresholds_eur",),
    vocabulary="certifications",
    stage="features",
    not_model_inputs=("product_id", "sale_start", "sale_end"),
)

PRODUCT_ACTIVITY = ViewDecl(
    "product_activity",
    PRODUCT_VERSION,
    "Product version popularity, conversion and returns (weekly).",
    schema=(
        Field("product_views_last_week", "int64", "How often the product was looked at in the last week."),
        Field(
            "product_views_recent", "int64", "How often the product was looked at in the last {popularity_weeks} weeks."
        ),
        Field(
            "product_wishlists_recent",
            "int64",
            "How often the product was wishlisted in the last {popularity_weeks} weeks.",
        ),
        Field("product_purchases_last_week", "int64", "Units bought in the last week."),
        Field("product_purchases_recent", "int64", "Purchases in the last {popularity_weeks} weeks (popularity)."),
        Field("product_purchases_total", "int64", "Purchases since launch."),
        Field("product_conversion_recent", "float64", "Purchases per view in the last {popularity_weeks} weeks."),
        Field("product_return_rate", "float64", "Share of this product's purchases that came back."),
    ),
    source="features.tabular:compute_product_activity",
    code=("features.tabular:_event_frame", "features.tabular:_weekly_rolling"),
    params=("popularity_weeks",),
    stage="features",
)

# --- feature views: stage `embeddings` (lib/stoffwechsel/features/embeddings.py) --------------------------

PRODUCT_EMBEDDING = ViewDecl(
    "product_embedding",
    PRODUCT_VERSION,
    "Product description embeddings, reduced form and style cluster.",
    schema=(
        Field("embedding", "list<float32>", "What the product description says, as a vector of numbers (384 values)."),
        Field(
            "embedding_reduced",
            "list<float32>",
            "The same, condensed to its main directions (fitted on training products only).",
        ),
        Field(
            "style_cluster",
            "int64",
            "Group of products with similar descriptions (style, fabric, colour), learned on training products.",
        ),
    ),
    source="features.embeddings:product_embedding_frame",
    categories=("style_cluster",),
    code=(
        "features.embeddings:encode_exact",
        "features.embeddings:snap",
        "features.embeddings:ENCODING_SCHEME",
        "features.embeddings:embedding_texts",
        "features.embeddings:TEXT_SOURCES",
    ),
    params=("pca_components", "clusters"),
    stage="embeddings",
    not_model_inputs=("embedding", "embedding_reduced"),
)

CUSTOMER_TASTE = ViewDecl(
    "customer_taste",
    CUSTOMER,
    "Customer taste profiles from the embeddings of what they interacted with (weekly).",
    schema=(
        Field(
            "taste_all",
            "list<float32>",
            "The customer's taste: the average description of what they looked at, wished for and bought.",
        ),
        Field("taste_recent", "list<float32>", "The same, for the last {taste_recent_weeks} weeks only."),
    ),
    source="features.embeddings:customer_taste_frame",
    params=("taste_weights", "taste_recent_weeks"),
    stage="embeddings",
    not_model_inputs=("taste_all", "taste_recent"),
)

#: every view, in the order the stages write them
VIEWS: dict[str, ViewDecl] = {
    v.name: v
    for v in (CUSTOMER_PROFILE, CUSTOMER_ACTIVITY, PRODUCT_CATALOG, PRODUCT_ACTIVITY, PRODUCT_EMBEDDING, CUSTOMER_TASTE)
}


def views_of_stage(stage: str) -> tuple[ViewDecl, ...]:
    """The views a pipeline stage writes."""
    return tuple(v for v in VIEWS.values() if v.stage == stage)


# --- on-demand features (computed at retrieval, never stored) ----------------------------------

OnDemandFunction = Callable[[pd.DataFrame, pd.Series, "Vocabulary | None"], Any]


@dataclass(frozen=True)
class OnDemandFeature:
    """A feature computed at retrieval by ``function(frame, spine_time, vocabulary)`` from the
    retrieved features named in ``sources`` (``"view:feature"``)."""

    name: str
    dtype: str
    description: str
    sources: tuple[str, ...]
    function: OnDemandFunction


def _days_since(column: str) -> OnDemandFunction:
    def days(frame: pd.DataFrame, t: pd.Series, vocab: Vocabulary | None) -> pd.Series:
        return ((t - frame[column]).dt.total_seconds() / 86400).round(4)

    return days


def category_affinity(frame: pd.DataFrame, t: pd.Series, vocab: Vocabulary | None) -> np.ndarray:
    """The customer's affinity column for the product's category (no vocabulary: missing)."""
    affinity = np.full(len(frame), np.nan)
    if vocab is not None and "category" in frame:
        column = category_column(frame["category"].astype(object), vocab)
        for c in vocab.categories:
            if f"affinity_{c}" in frame:
                hit = (column == c).fillna(False).to_numpy(dtype=bool)
                affinity[hit] = frame.loc[hit, f"affinity_{c}"].to_numpy(dtype=float)
    return affinity


def certified_match(frame: pd.DataFrame, t: pd.Series, vocab: Vocabulary | None) -> pd.Series:
    return frame["affinity_certified"].astype(float) * (frame["n_certifications"].astype(float) > 0)


def price_fit(frame: pd.DataFrame, t: pd.Series, vocab: Vocabulary | None) -> pd.Series:
    return np.log(frame["price_eur"].astype(float) / frame["mean_price_paid_eur"].astype(float)).abs().round(6)


def price_band_match(frame: pd.DataFrame, t: pd.Series, vocab: Vocabulary | None) -> pd.Series:
    usual = frame["usual_price_band"].astype(object)
    return (frame["price_band"].astype(object) == usual).astype(float).where(usual.notna())


def _rowwise_cosine(a: pd.Series, b: pd.Series) -> np.ndarray:
    """Dot product of two columns of unit vectors (missing on either side: NaN)."""
    ok = (a.notna() & b.notna()).to_numpy()
    out = np.full(len(a), np.nan)
    if ok.any():
        x = np.stack(a[ok].to_numpy()).astype(np.float64)
        y = np.stack(b[ok].to_numpy()).astype(np.float64)
        out[ok] = np.round((x * y).sum(axis=1), 6)
    return out


def _similarity_to(taste: str) -> OnDemandFunction:
    def similarity(frame: pd.DataFrame, t: pd.Series, vocab: Vocabulary | None) -> np.ndarray:
        return _rowwise_cosine(frame[taste], frame["embedding_reduced"])

    return similarity


ON_DEMAND_FEATURES: dict[str, OnDemandFeature] = {
    f.name: f
    for f in (
        OnDemandFeature(
            "recency_days",
            "float64",
            "Days since the customer's last interaction.",
            ("customer_activity:last_event_time",),
            _days_since("last_event_time"),
        ),
        OnDemandFeature(
            "days_since_purchase",
            "float64",
            "Days since the customer's last purchase.",
            ("customer_activity:last_purchase_time",),
            _days_since("last_purchase_time"),
        ),
        OnDemandFeature(
            "tenure_days",
            "float64",
            "Days since the customer signed up.",
            ("customer_profile:signup_date",),
            _days_since("signup_date"),
        ),
        OnDemandFeature(
            "season_age_days",
            "float64",
            "Days the product has been on sale.",
            ("product_catalog:sale_start",),
            _days_since("sale_start"),
        ),
        OnDemandFeature(
            "category_affinity",
            "float64",
            "How much of the customer's interest went to this product's category.",
            ("product_catalog:category", "customer_activity:affinity_<category>"),
            category_affinity,
        ),
        OnDemandFeature(
            "certified_match",
            "float64",
            "Customer's interest in certified products, if this product is certified (else 0).",
            ("product_catalog:n_certifications", "customer_activity:affinity_certified"),
            certified_match,
        ),
        OnDemandFeature(
            "price_fit",
            "float64",
            "How far the product's price is from what the customer usually pays (log ratio, 0 = same).",
            ("product_catalog:price_eur", "customer_activity:mean_price_paid_eur"),
            price_fit,
        ),
        OnDemandFeature(
            "price_band_match",
            "float64",
            "1 if the product is in the customer's usual price band.",
            ("product_catalog:price_band", "customer_activity:usual_price_band"),
            price_band_match,
        ),
        OnDemandFeature(
            "taste_similarity",
            "float64",
            "How close the product's description is to the customer's taste (-1 to 1).",
            ("customer_taste:taste_all", "product_embedding:embedding_reduced"),
            _similarity_to("taste_all"),
        ),
        OnDemandFeature(
            "recent_taste_similarity",
            "float64",
            "How close the product's description is to the customer's recent taste (-1 to 1).",
            ("customer_taste:taste_recent", "product_embedding:embedding_reduced"),
            _similarity_to("taste_recent"),
        ),
    )
}


# --- feature services: what a model reads -------------------------------------------------------


@dataclass(frozen=True)
class FeatureService:
    """The features one model reads: retrieved ``features`` (``"view"`` for all its features or
    ``"view:feature"``) and the ``on_demand`` features computed from them."""

    name: str
    description: str
    features: tuple[str, ...]
    on_demand: tuple[str, ...]

    def __post_init__(self) -> None:
        unknown = [r for r in self.features if r.split(":", 1)[0] not in VIEWS]
        unknown += [n for n in self.on_demand if n not in ON_DEMAND_FEATURES]
        if unknown:
            raise ValueError(f"feature service {self.name!r}: unknown views or on-demand features {unknown}")

    @property
    def views(self) -> tuple[str, ...]:
        """The views it retrieves from, in order."""
        return tuple(dict.fromkeys(r.split(":", 1)[0] for r in self.features))

    def serves(self, column: str) -> bool:
        """Whether ``column`` is one of the service's model inputs."""
        if column in self.on_demand:
            return True
        for ref in self.features:
            view, _, feature = ref.partition(":")
            decl = VIEWS[view]
            if (column == feature if feature else decl.holds(column)) and column not in decl.not_model_inputs:
                return True
        return False

    def model_inputs(self, columns: Iterable[str]) -> list[str]:
        """The columns of a retrieved frame the model reads, sorted."""
        return sorted(c for c in columns if self.serves(c))

    def categorical(self, columns: Iterable[str]) -> dict[str, str]:
        """Of the model inputs among ``columns``, those whose values are labels: column -> dtype
        (text features, and the ones a view lists as ``categories``)."""
        out = {}
        for c in self.model_inputs(columns):
            for view in self.views:
                decl = VIEWS[view]
                dtype = decl.dtype_of(c)
                if dtype == "string" or (dtype is not None and c in decl.categories):
                    out[c] = dtype
        return out


_TABULAR_ON_DEMAND = (
    "recency_days",
    "days_since_purchase",
    "tenure_days",
    "season_age_days",
    "category_affinity",
    "certified_match",
    "price_fit",
    "price_band_match",
)

TABULAR = FeatureService(
    "tabular",
    "The shop's structured data: customer profile and behaviour, product attributes and popularity.",
    features=("customer_profile", "customer_activity", "product_catalog", "product_activity"),
    on_demand=_TABULAR_ON_DEMAND,
)
# The full 384-number description vector stays in the store (for neighbours and new models); the
# rankers use its reduced form: retrieving the full vector cost 1 s and 230 MB per 150,000 rows.
COMBINED = FeatureService(
    "combined",
    "The tabular features plus what the product descriptions say (text embeddings).",
    features=TABULAR.features
    + ("customer_taste", "product_embedding:embedding_reduced", "product_embedding:style_cluster"),
    on_demand=_TABULAR_ON_DEMAND + ("taste_similarity", "recent_taste_similarity"),
)

#: every service by name (the rankers train one model per service: ranker.FEATURE_SETS)
SERVICES: dict[str, FeatureService] = {s.name: s for s in (TABULAR, COMBINED)}


def service(name: str | FeatureService) -> FeatureService:
    """A service by name (a service: itself)."""
    if isinstance(name, FeatureService):
        return name
    try:
        return SERVICES[name]
    except KeyError:
        raise ValueError(f"unknown feature service {name!r} (have: {', '.join(SERVICES)})") from None
