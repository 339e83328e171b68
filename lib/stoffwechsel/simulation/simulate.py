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

The simulator is one story whose parts draw from sibling seeds of one ``SeedSequence`` and feed
each other, one module each: :mod:`.world` (timeline, sizes, shared helpers) ->
:mod:`.catalogue` (products) -> :mod:`.customers` -> :mod:`.events` (transactions) ->
:mod:`.recommendations` (with the built-in drift); :mod:`.behaviour` holds the utility both of
the last two use. Each module's constants block is that part of the story's one place to change.
Planted shifts live in :mod:`stoffwechsel.monitoring.shift`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from stoffwechsel.config import (
    CUSTOMERS_FILE,
    DVC_TEMPLATE_FILE,
    PRODUCTS_FILE,
    RECOMMENDATIONS_FILE,
    TRANSACTIONS_FILE,
)
from stoffwechsel.data.io import atomic_write
from stoffwechsel.monitoring.shift import Shift
from stoffwechsel.simulation.catalogue import make_products, products_table
from stoffwechsel.simulation.customers import customers_table, make_customers, shift_mask
from stoffwechsel.simulation.events import make_transactions, transactions_table
from stoffwechsel.simulation.recommendations import make_recommendations, recommendations_table
from stoffwechsel.simulation.world import BASE_ROWS, MIN_SCALE

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

    products = make_products(rngs["products"], rows[PRODUCTS_FILE])
    customers = make_customers(rngs["customers"], rows[CUSTOMERS_FILE])
    tables = {
        PRODUCTS_FILE: products_table(products, reveal_truth),
        CUSTOMERS_FILE: customers_table(customers, reveal_truth),
    }
    shifted = shift_mask(shift, tables[CUSTOMERS_FILE])
    events = make_transactions(rngs["transactions"], products, customers, rows[TRANSACTIONS_FILE])
    tables[TRANSACTIONS_FILE] = transactions_table(events, products, customers, reveal_truth)
    recs = make_recommendations(
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
    tables[RECOMMENDATIONS_FILE] = recommendations_table(recs, products, customers, reveal_truth)
    return tables
