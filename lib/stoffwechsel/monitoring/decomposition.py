"""Root cause: a shift-share split of the change of a headline number between the usual and the
current period into a customer-mix part and a within-group part, per grouping
(:func:`shift_share`; groups not shown in both periods are pooled).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from stoffwechsel.glossary import METRICS
from stoffwechsel.monitoring.params import MonitorParams
from stoffwechsel.monitoring.prepare import ALL, GROUPINGS, OTHER_GROUPS
from stoffwechsel.monitoring.windows import Windows

__all__ = ["shift_share", "DECOMPOSED", "decomposition_table"]


def shift_share(w0: np.ndarray, m0: np.ndarray, w1: np.ndarray, m1: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per group the customer-mix part (w1 - w0)(m0 + m1)/2 and the within-group part
    (m1 - m0)(w0 + w1)/2 of the change of sum(w m); the two add up to the total change exactly."""
    return (w1 - w0) * (m0 + m1) / 2, (m1 - m0) * (w0 + w1) / 2


DECOMPOSED = ("ctr", "purchases_per_100", "kept_per_100", "revenue_per_100")


def decomposition_table(
    metrics_all: pd.DataFrame, win: Windows, shown: np.ndarray, params: MonitorParams
) -> pd.DataFrame:
    """Shift-share split of the change between the reference and the current period, per grouping.
    Groups not shown in both periods are pooled (their pooled rate is recomputed from counts)."""
    f = win.frame.reset_index(drop=True)
    parts = []
    for col in GROUPINGS[1:]:
        sel = f[(f["segment_column"] == col) & f["period"].isin(["reference", "current"])]
        ok = pd.Series(shown[sel.index], index=sel.index)
        both = sel[ok].groupby("segment")["period"].nunique()
        big = set(both[both == 2].index)
        # the pooled rest must not be a group below the minimum either (the total minus the shown
        # groups would give it away): pool the smallest shown group into it until it is large enough
        cust = sel.pivot_table(index="segment", columns="period", values="customers", aggfunc="sum", fill_value=0)
        while big:
            rest = cust.loc[~cust.index.isin(big)].sum()
            if not ((rest > 0) & (rest < params.min_customers)).any():
                break
            big.discard(min(big, key=lambda g: (int(cust.loc[g].min()), str(g))))
        group = np.where(sel["segment"].isin(big), sel["segment"], OTHER_GROUPS)
        m = metrics_all.loc[metrics_all["metric_id"].isin(DECOMPOSED)]
        m = m[(m["segment_column"] == col) & m["period"].isin(["reference", "current"])]
        g = pd.DataFrame({"period": sel["period"].to_numpy(), "segment": sel["segment"].to_numpy(), "group": group})
        m = m.merge(g, on=["period", "segment"])
        # pooled value of a pooled group: recs-weighted mean of its members' estimates
        m["wv"] = m["estimate"] * m["recs"]
        agg = m.groupby(["metric_id", "group", "period"], as_index=False).agg(
            recs=("recs", "sum"), wv=("wv", "sum"), customers=("customers", "sum")
        )
        agg["value"] = agg["wv"] / agg["recs"]
        wide = agg.pivot_table(index=["metric_id", "group"], columns="period", values=["recs", "value", "customers"])
        wide = wide.fillna(0.0)
        for metric_id, block in wide.groupby(level="metric_id"):
            r0, r1 = block[("recs", "reference")].to_numpy(), block[("recs", "current")].to_numpy()
            w0, w1 = r0 / r0.sum(), r1 / r1.sum()
            m0, m1 = block[("value", "reference")].to_numpy(), block[("value", "current")].to_numpy()
            mix, within = shift_share(w0, m0, w1, m1)
            groups = block.index.get_level_values("group")
            small = (block[("customers", "reference")].to_numpy() < params.min_customers) | (
                block[("customers", "current")].to_numpy() < params.min_customers
            )
            rows = pd.DataFrame(
                {
                    "segment_column": col,
                    "segment": groups,
                    "metric_id": metric_id,
                    "reference_share": w0,
                    "current_share": w1,
                    "reference_value": m0,
                    "current_value": m1,
                    "mix_effect": mix,
                    "within_effect": within,
                    "total_change": mix + within,
                }
            )
            total = pd.DataFrame(
                {
                    "segment_column": [col],
                    "segment": [ALL],
                    "metric_id": [metric_id],
                    "reference_share": [1.0],
                    "current_share": [1.0],
                    "reference_value": [(w0 * m0).sum()],
                    "current_value": [(w1 * m1).sum()],
                    "mix_effect": [mix.sum()],
                    "within_effect": [within.sum()],
                    "total_change": [mix.sum() + within.sum()],
                }
            )
            # a pooled group that is still too small is folded into the total only
            parts += [rows[~small], total]
    out = pd.concat(parts, ignore_index=True)
    out["metric"] = out["metric_id"].map(METRICS)
    return out[
        [
            "segment_column",
            "segment",
            "metric_id",
            "metric",
            "reference_share",
            "current_share",
            "reference_value",
            "current_value",
            "mix_effect",
            "within_effect",
            "total_change",
        ]
    ]
