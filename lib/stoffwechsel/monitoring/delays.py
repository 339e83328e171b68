"""Label delay: how soon clicks, purchases and returns arrive after their anchor.

From cohorts whose attribution windows closed before the export, :func:`fit_delay_curves` learns
F(d), the share of eventual events seen d seconds after the anchor (serving; for returns the
purchase), as a :class:`DelayCurve` on a fixed grid (:data:`GRIDS_S`). A window's completeness is
the mean of F(age) over its recommendations (:mod:`.estimates`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from stoffwechsel.domain import DAY_S, WINDOWS_S

if TYPE_CHECKING:
    from stoffwechsel.monitoring.prepare import Prepared

__all__ = ["GRIDS_S", "DELAY_PRIOR_EVENTS", "DelayCurve", "fit_delay_curves", "delay_curve_table"]

#: grid edges (seconds) on which each delay curve is kept: fine where events are dense
GRIDS_S = {
    "click": np.unique(
        np.concatenate(
            [np.arange(0, 3600, 60), np.arange(3600, 21600, 600), np.arange(21600, WINDOWS_S["click"] + 1, 3600)]
        )
    ).astype(float),
    "purchase": np.unique(
        np.concatenate([np.arange(0, 2 * DAY_S, 3600), np.arange(2 * DAY_S, WINDOWS_S["purchase"] + 1, 6 * 3600)])
    ).astype(float),
    "return": np.arange(0, WINDOWS_S["return"] + 1, 6 * 3600).astype(float),
}
#: pseudo-events spread evenly over a delay curve's grid (keeps the tail of a thin curve above 0)
DELAY_PRIOR_EVENTS = 1.0


@dataclass
class DelayCurve:
    """Share of eventual events seen by a delay, learned from cohorts whose window closed.

    ``edges`` are grid points in seconds from 0 to the window; ``counts[k]`` the events with a
    delay in ``[edges[k], edges[k+1])`` (the last bin includes the window end). A small prior
    (``DELAY_PRIOR_EVENTS`` spread evenly) keeps a thin curve from reaching 1 too early.
    """

    outcome: str
    edges: np.ndarray
    counts: np.ndarray
    cohort: int  # recommendations (purchases for returns) in the closed cohorts

    @property
    def events(self) -> int:
        return int(self.counts.sum())

    @property
    def window_s(self) -> float:
        return float(self.edges[-1])

    def _alpha(self) -> np.ndarray:
        return self.counts + DELAY_PRIOR_EVENTS / len(self.counts)

    def at_edges(self) -> np.ndarray:
        """F at the grid edges (length G+1, from 0 to 1)."""
        alpha = self._alpha()
        return np.concatenate([[0.0], np.cumsum(alpha) / alpha.sum()])

    def cdf(self, age_s) -> np.ndarray:
        """F(age), linear between grid edges, 1 from the window end on."""
        return np.interp(np.asarray(age_s, dtype=float), self.edges, self.at_edges())

    def draws(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """``n`` Bayesian-bootstrap draws of F at the edges, shape (n, G+1)."""
        gam = rng.gamma(np.broadcast_to(self._alpha(), (n, len(self.counts))))
        gam /= gam.sum(axis=1, keepdims=True)
        return np.concatenate([np.zeros((n, 1)), np.cumsum(gam, axis=1)], axis=1)

    def median_delay_s(self) -> float:
        return float(np.interp(0.5, self.at_edges(), self.edges))


def fit_delay_curves(prep: Prepared) -> dict[str, DelayCurve]:
    """Delay curves of clicks, purchases (after serving) and returns (after the purchase)."""
    r, export = prep.recs, prep.export_time
    served = r["served_at"]
    specs = {
        "click": (served, r["clicked_at"]),
        "purchase": (served, r["purchased_at"]),
        "return": (r["purchased_at"], r["returned_at"]),
    }
    curves = {}
    for outcome, (anchor, event) in specs.items():
        window = pd.Timedelta(seconds=WINDOWS_S[outcome])
        closed = (anchor + window <= export).to_numpy(dtype=bool, na_value=False).copy()
        if outcome == "return":
            closed &= r["purchase_seen"].to_numpy()
        delay = ((event - anchor).dt.total_seconds()).to_numpy(dtype=float, na_value=np.nan)
        seen = closed & ~np.isnan(delay)
        edges = GRIDS_S[outcome]
        d = np.clip(delay[seen], 0, edges[-1])
        idx = np.clip(np.searchsorted(edges, d, side="right") - 1, 0, len(edges) - 2)
        counts = np.bincount(idx, minlength=len(edges) - 1).astype(float)
        curves[outcome] = DelayCurve(outcome, edges, counts, int(closed.sum()))
    return curves


def delay_curve_table(curves: dict[str, DelayCurve], interval: float, seed: int) -> pd.DataFrame:
    """Tidy delay curves: share of final outcomes seen by each hour (clicks) or day, with interval."""
    rng = np.random.default_rng(seed)
    q = (1 - interval) / 2
    rows = []
    for outcome, unit, step in (("click", "hours", 3600.0), ("purchase", "days", DAY_S), ("return", "days", DAY_S)):
        c = curves[outcome]
        points = np.arange(0, c.window_s + 1, step)
        draws = np.stack([np.interp(points, c.edges, d) for d in c.draws(rng, 400)])
        rows.append(
            pd.DataFrame(
                {
                    "outcome": outcome,
                    "delay": (points / step).astype(int),
                    "delay_unit": unit,
                    "share_observed": c.cdf(points),
                    "share_low": np.quantile(draws, q, axis=0),
                    "share_high": np.quantile(draws, 1 - q, axis=0),
                    "events": c.events,
                    "cohort": c.cohort,
                }
            )
        )
    return pd.concat(rows, ignore_index=True)
