"""Embeddings are a pure function of (weights, text): the same bytes under other instruction sets,
thread counts and batch partners, each in its own process (issue #22, point 1)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from conftest import ROOT
from stoffwechsel.config import load_params
from stoffwechsel.features import embeddings
from stoffwechsel.studies.machine_settings import OTHER_MACHINES, encode_elsewhere, encode_elsewhere_by_method

PARAMS = load_params("embeddings", ROOT / "params.yaml")
SPEC = embeddings.ModelSpec.from_params(PARAMS)


@pytest.fixture(scope="module")
def texts() -> list[str]:
    products = pd.read_csv(ROOT / "materials" / "products.csv")
    descriptions = sorted({embeddings.normalise_text(t) for t in products["description"].dropna()})
    picked = np.random.default_rng(22).choice(len(descriptions), 24, replace=False)
    # descriptions of many lengths, and short texts (names, codes, other scripts): 40 in all (24
    # descriptions: each setting loads the model and encodes in its own process, 4 in all)
    return [descriptions[i] for i in sorted(picked)] + [
        "Linen Shirt",
        "T-Shirt",
        "x",
        "",
        "🌱 Bio-Baumwolle",
        "Пальто из шерсти",
        "棉质衬衫",
        "قميص قطني",
        "CAFÉ CRÈME MUG",
        "Jacke mit Kapuze",
        "100% Leinen, 180 g/m²",
        "SKU-00042 / AW25",
        "...",
        "WHITE HANGING HEART T-LIGHT HOLDER",
        "Strickjacke aus recycelter Wolle",
        "Regular fit",
    ]


@pytest.fixture(scope="module")
def encoded(texts) -> dict[tuple[str, str], np.ndarray]:
    """Every setting of OTHER_MACHINES, exact and plain float32; the exact encoding also in
    reversed order (other batch partners) on one thread."""
    out = {}
    for setting in OTHER_MACHINES:  # one process per setting: the plain float32 encode, then the exact one
        for method, vectors in encode_elsewhere_by_method(texts, SPEC, setting, ("float32", "exact")).items():
            out[setting, method] = vectors
    reversed_ = encode_elsewhere(texts[::-1], SPEC, "this machine", "exact", batch_size=8, env={"OMP_NUM_THREADS": "1"})
    out["this machine, 1 thread, reversed, batches of 8", "exact"] = reversed_[::-1]
    return out


def test_the_settings_change_the_float32_bits(encoded):
    """The control: under the other settings the plain float32 encode gives other bits, so the
    settings do switch kernels and the test below could fail."""
    here = encoded["this machine", "float32"]
    differing = {s: int((encoded[s, "float32"] != here).sum()) for s in OTHER_MACHINES if s != "this machine"}
    assert all(n > 0 for n in differing.values()), differing


@pytest.mark.parametrize(
    "setting",
    [s for s in OTHER_MACHINES if s != "this machine"] + ["this machine, 1 thread, reversed, batches of 8"],
)
def test_exact_vectors_are_the_same_bytes_elsewhere(encoded, setting):
    here = encoded["this machine", "exact"]
    there = encoded[setting, "exact"]
    assert here.dtype == there.dtype == np.float32
    differ = np.flatnonzero((here != there).any(axis=1))
    assert here.tobytes() == there.tobytes(), f"{differ.size} texts differ under {setting!r}"


def test_exact_vectors_lie_on_the_grid_and_keep_the_model_s_meaning(encoded):
    """Every value is a multiple of 2**-GRID_BITS, and the rounding moves the vector by less than
    the grid: cosine similarity to the plain float32 vector above 0.99999."""
    exact = encoded["this machine", "exact"].astype(np.float64)
    scaled = exact * 2**embeddings.GRID_BITS
    assert np.array_equal(scaled, np.round(scaled))
    plain = encoded["this machine", "float32"].astype(np.float64)
    norms = np.linalg.norm(exact, axis=1) * np.linalg.norm(plain, axis=1)
    ok = norms > 0
    cosine = (exact * plain).sum(axis=1)[ok] / norms[ok]
    assert cosine.min() > 0.99999
    assert np.abs(exact - plain).max() < 2 * 2.0**-embeddings.GRID_BITS + 1e-6
