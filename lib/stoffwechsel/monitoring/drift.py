"""Drift: how the mix of what is recommended, and to whom, moved against the usual period.

Per customer group and window (weeks and the current period) the distributions of score, category,
season, reused product numbers and certification are compared with the group's reference
(PSI, Jensen-Shannon distance, chi-square test); the traffic mix across the groups of each
grouping likewise. Benjamini-Hochberg over all of them; a *major shift* needs
PSI >= ``drift_major_psi`` and q <= ``drift_major_q``, a *moderate shift* PSI >=
``drift_moderate_psi`` and q <= ``fdr`` (:class:`~.params.MonitorParams`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats
from scipy.spatial.distance import jensenshannon

from stoffwechsel.glossary import DRIFT_FEATURES, SEGMENT_COLUMN_LABELS
from stoffwechsel.monitoring.params import MonitorParams
from stoffwechsel.monitoring.prepare import ALL, GROUPINGS, OTHER_GROUPS, Prepared
from stoffwechsel.monitoring.windows import Windows

__all__ = ["distribution_shift", "drift_table"]


def distribution_shift(cur: np.ndarray, ref: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Row-wise PSI, Jensen-Shannon distance (base 2) and chi-square homogeneity p-value."""
    k = cur.shape[1]
    p = (cur + 0.5) / (cur.sum(1, keepdims=True) + 0.5 * k)
    q = (ref + 0.5) / (ref.sum(1, keepdims=True) + 0.5 * k)
    psi = ((p - q) * np.log(p / q)).sum(1)
    js = jensenshannon(p, q, base=2, axis=1)
    table = np.stack([cur, ref], axis=1)  # rows x 2 x k
    used = table.sum(1) > 0
    col = table.sum(1, keepdims=True)
    row = table.sum(2, keepdims=True)
    expected = row * col / np.maximum(table.sum((1, 2), keepdims=True), 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        chi = np.where(expected > 0, (table - expected) ** 2 / expected, 0.0).sum((1, 2))
    df = np.maximum(used.sum(1) - 1, 1)
    pv = np.where((row.squeeze(2) > 0).all(1), stats.chi2.sf(chi, df), 1.0)
    return psi, js, pv


def drift_table(win: Windows, shown: np.ndarray, prep: Prepared, params: MonitorParams) -> pd.DataFrame:
    """One row per shown group x window x mix (and traffic mix per grouping) with PSI, distance,
    p- and q-value and the level ("major shift", "moderate shift", "stable")."""
    f = win.frame.reset_index(drop=True)
    is_ref = (f["period"] == "reference").to_numpy()
    target = shown & f["period"].isin(["week", "current"]).to_numpy()
    ref_row = pd.Series(
        np.flatnonzero(is_ref & shown),
        index=pd.MultiIndex.from_frame(f.loc[is_ref & shown, ["segment_column", "segment"]]),
    )
    tgt = f[target]
    key = pd.MultiIndex.from_frame(tgt[["segment_column", "segment"]])
    has_ref = key.isin(ref_row.index)
    rows_t = np.flatnonzero(target)[has_ref]
    rows_r = ref_row.reindex(key[has_ref]).to_numpy()
    parts = []
    for feat, counts in win.drift.items():
        psi, js, pv = distribution_shift(counts[rows_t], counts[rows_r])
        parts.append(
            f.loc[rows_t, ["period", "window_start", "window_end", "segment_column", "segment"]].assign(
                feature_id=feat, psi=psi, js_distance=js, p_value=pv, recs=win.sums[rows_t, 0].astype(int)
            )
        )
    # traffic mix across the groups of each grouping (small groups pooled)
    for col in GROUPINGS[1:]:
        sel = f[(f["segment_column"] == col)].copy()
        sel["shown"] = shown[sel.index]
        ref_groups = set(sel.loc[(sel["period"] == "reference") & sel["shown"], "segment"])
        sel["group"] = np.where(sel["segment"].isin(ref_groups), sel["segment"], OTHER_GROUPS)
        sel["n"] = win.sums[sel.index, 0]
        pivot = sel.pivot_table(
            index=["period", "window_start", "window_end"], columns="group", values="n", aggfunc="sum", fill_value=0
        )
        ref_counts = pivot.xs("reference", level="period").to_numpy()
        cur = pivot[pivot.index.get_level_values("period").isin(["week", "current"])]
        if cur.empty or ref_counts.size == 0:
            continue
        psi, js, pv = distribution_shift(cur.to_numpy(), np.repeat(ref_counts, len(cur), axis=0))
        idx = cur.index.to_frame(index=False)
        parts.append(
            idx.assign(
                segment_column="all",
                segment=ALL,
                feature_id=f"traffic:{col}",
                psi=psi,
                js_distance=js,
                p_value=pv,
                recs=cur.to_numpy().sum(1).astype(int),
            )
        )
    drift = pd.concat(parts, ignore_index=True)
    drift["q_value"] = stats.false_discovery_control(drift["p_value"].to_numpy(), method="bh")
    drift["level"] = np.select(
        [
            (drift["psi"] >= params.drift_major_psi) & (drift["q_value"] <= params.drift_major_q),
            (drift["psi"] >= params.drift_moderate_psi) & (drift["q_value"] <= params.fdr),
        ],
        ["major shift", "moderate shift"],
        "stable",
    )
    base = drift["feature_id"].str.split(":").str[0]
    by = drift["feature_id"].str.split(":").str[1]
    drift["feature"] = base.map(DRIFT_FEATURES) + np.where(
        by.notna(), " (" + by.map(SEGMENT_COLUMN_LABELS).fillna("") + ")", ""
    )
    cols = [
        "period",
        "window_start",
        "window_end",
        "segment_column",
        "segment",
        "feature_id",
        "feature",
        "recs",
        "psi",
        "js_distance",
        "p_value",
        "q_value",
        "level",
    ]
    return drift[cols]
