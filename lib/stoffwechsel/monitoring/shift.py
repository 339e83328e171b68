"""Planted shifts: one definition of a changed outcome rate for one customer group.

A :class:`Shift` multiplies, from its ``start`` day on, the click probability and the
purchase-given-click probability of the customers whose customers.csv ``column`` equals ``value``
by ``1 + effect`` (:attr:`Shift.factor`). The simulator plants it while it draws the outcomes
(:meth:`Shift.scale`, :mod:`stoffwechsel.simulation.recommendations`); :func:`inject_shift` plants the same shift on
top of an existing recommendation file (the monitor stage's test mode, ``monitor.inject_*``, and
the tests). :func:`outcome_statuses` recomputes the outcome statuses from the timestamps, as the
production system decides them (also used by the backtest's ``cut_at_export``).

This module imports neither the simulator nor the monitoring: production monitoring uses it
without depending on the simulator.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

from stoffwechsel.domain import DAY_S, WINDOW_DAYS

__all__ = ["CUSTOMER_COLUMNS", "Shift", "parse_shift", "inject_shift", "outcome_statuses"]

#: the columns of customers.csv (docs/materials.md): a shift selects its customers by one of them
CUSTOMER_COLUMNS = (
    "customer_id",
    "signup_date",
    "age_band",
    "region",
    "preferred_channel",
    "loyalty_tier",
    "sustainability_interest",
    "segment",
)


def _window(outcome: str) -> pd.Timedelta:
    """The attribution window of ``outcome`` (click, purchase, return) as a Timedelta."""
    return pd.Timedelta(days=WINDOW_DAYS[outcome])


@dataclass(frozen=True)
class Shift:
    """An extra planted drift in the production recommendations: from ``start`` on, click and
    purchase probabilities of customers whose customers.csv ``column`` equals ``value`` are
    multiplied by ``1 + effect``."""

    column: str
    value: str
    start: date
    effect: float

    def __post_init__(self) -> None:
        if self.column not in CUSTOMER_COLUMNS:
            raise ValueError(
                f"shift column '{self.column}' is not a customers.csv column (have: {', '.join(CUSTOMER_COLUMNS)})"
            )
        if not self.effect >= -1.0:
            raise ValueError(f"shift effect must be >= -1 (probabilities cannot turn negative), got {self.effect}")

    @property
    def factor(self) -> float:
        """What the click and purchase-given-click probabilities are multiplied by."""
        return 1 + self.effect

    def group_mask(self, customers: pd.DataFrame) -> np.ndarray:
        """Per row of ``customers``: does the shift apply to this customer? ValueError if the
        column is missing or the value never occurs."""
        if self.column not in customers.columns:
            raise ValueError(f"shift column '{self.column}' is not a column of the customers")
        mask = (customers[self.column] == self.value).to_numpy()
        if not mask.any():
            raise ValueError(f"shift value '{self.value}' never occurs in customers.csv column '{self.column}'")
        return mask

    def scale(self, p_click: np.ndarray, p_buy: np.ndarray, hit: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The click and purchase-given-click probabilities with the shift applied where ``hit``
        (the row's customer is in the group and it was served on or after ``start``)."""
        factor = np.where(hit, self.factor, 1.0)
        return np.clip(p_click * factor, 0, 1), np.clip(p_buy * factor, 0, 1)


def parse_shift(spec: str, start: str, effect: float) -> Shift:
    """A :class:`Shift` from ``"COLUMN=VALUE"``, a ``YYYY-MM-DD`` start day and an effect."""
    column, sep, value = spec.partition("=")
    if not sep or not column.strip() or not value.strip():
        raise ValueError(f"shift must look like COLUMN=VALUE, got '{spec}'")
    try:
        first_day = date.fromisoformat(start)
    except ValueError:
        raise ValueError(f"shift start must be YYYY-MM-DD, got '{start}'") from None
    return Shift(column.strip(), value.strip(), first_day, float(effect))


def inject_shift(recommendations: pd.DataFrame, customers: pd.DataFrame, shift: Shift, seed: int = 7) -> pd.DataFrame:
    """Plant ``shift`` on top of observed recommendations: change the click and purchase outcomes
    of its customers from its start on by its relative effect (click probability and
    purchase-given-click probability both times :attr:`Shift.factor`, as the simulator does).

    Negative effect: observed clicks are kept with probability ``1 + effect`` (a removed click takes
    its purchase and return with it), then observed purchases likewise; a removed outcome becomes
    "no" if its window closed by the export, else "pending". Positive effect: clicks and purchases
    are added at the group's rates before ``start``, with delays drawn from the observed delays; an
    added event after the export stays unobserved ("pending" while its window is open). Statuses
    follow docs/materials.md (:func:`outcome_statuses`). Deterministic for a given ``seed``.
    """
    recs = recommendations.sort_values("rec_id", kind="mergesort").reset_index(drop=True).copy()
    export = recs["export_time"].max()
    start = pd.Timestamp(shift.start)
    effect = shift.effect
    group = set(customers.loc[shift.group_mask(customers), "customer_id"])
    hit = (recs["customer_id"].isin(group) & (recs["served_at"] >= start)).to_numpy()
    rng = np.random.default_rng(seed)
    u = rng.random((len(recs), 6))
    served = recs["served_at"]
    clicked, bought, returned = recs["clicked_at"].copy(), recs["purchased_at"].copy(), recs["returned_at"].copy()
    nat = pd.NaT
    if effect < 0:
        keep = shift.factor
        drop_click = hit & clicked.notna().to_numpy() & (u[:, 0] >= keep)
        drop_buy = hit & bought.notna().to_numpy() & ((u[:, 1] >= keep) | drop_click)
        clicked[drop_click] = nat
        bought[drop_buy | drop_click] = nat
        returned[drop_buy | drop_click] = nat
    elif effect > 0:
        before = recs["customer_id"].isin(group).to_numpy() & (served < start).to_numpy()
        closed = (served + _window("purchase") <= export).to_numpy()
        base = before & closed
        p_click = clicked[base].notna().mean() if base.any() else 0.1
        p_buy = bought[base].notna().sum() / max(clicked[base].notna().sum(), 1)
        bought_before = base & bought.notna().to_numpy()
        p_ret = returned[bought_before].notna().mean() if bought_before.any() else 0.25
        # true outcome process is unknown after export: add to every hit row as if complete, then censor
        new_click = hit & clicked.isna().to_numpy() & (u[:, 0] < min(p_click * effect / max(1 - p_click, 1e-9), 1.0))
        # delays observed in cohorts whose windows closed (recent ones would favour short delays)
        c_delays = (recs["clicked_at"] - served)[(served + _window("click") <= export).to_numpy()]
        b_delays = (recs["purchased_at"] - recs["clicked_at"])[closed]
        r_delays = (recs["returned_at"] - recs["purchased_at"])[
            (recs["purchased_at"] + _window("return") <= export).to_numpy()
        ]
        c_delays, b_delays, r_delays = (
            d.dropna().dt.total_seconds().to_numpy() for d in (c_delays, b_delays, r_delays)
        )
        pick = lambda pool, q, default: np.quantile(pool, q) if len(pool) else default
        c_time = served + pd.to_timedelta(pick(c_delays, u[:, 2], 900.0), unit="s")
        clicked_full = clicked.where(~new_click, c_time)
        clicked_any = clicked_full.notna().to_numpy()
        p_add = np.where(new_click, min(p_buy * shift.factor, 1.0), min(p_buy * effect / max(1 - p_buy, 1e-9), 1.0))
        new_buy = hit & clicked_any & bought.isna().to_numpy() & (u[:, 3] < p_add)
        b_time = clicked_full + pd.to_timedelta(pick(b_delays, u[:, 4], 3 * DAY_S), unit="s")
        new_buy &= (b_time <= served + _window("purchase")).to_numpy()
        new_ret = new_buy & (u[:, 5] < p_ret)
        r_time = b_time + pd.to_timedelta(pick(r_delays, u[:, 5] / max(p_ret, 1e-9) % 1, 10 * DAY_S), unit="s")
        clicked = clicked.where(~new_click, c_time.where(c_time <= export))
        bought = bought.where(~new_buy, b_time.where(b_time <= export))
        returned = returned.where(~new_ret, r_time.where((r_time <= export) & (b_time <= export)))
    recs["clicked_at"], recs["purchased_at"], recs["returned_at"] = clicked, bought, returned
    recs = outcome_statuses(recs, export)
    return recs.sort_values(["served_at", "rec_id"], kind="mergesort").reset_index(drop=True)


def outcome_statuses(recs: pd.DataFrame, export: pd.Timestamp) -> pd.DataFrame:
    """click/purchase/return statuses from the timestamps and the attribution windows, as the
    production system (and the simulator) decides them: "yes" if seen, "pending" while the window
    is open at ``export``, else "no"; a return's status is "not_purchased" without a purchase.
    Sets the three status columns of ``recs`` and returns it."""
    served = recs["served_at"]

    def status(seen, window_end):
        return np.where(seen, "yes", np.where(window_end > export, "pending", "no"))

    recs["click_status"] = status(recs["clicked_at"].notna(), served + _window("click"))
    ps = status(recs["purchased_at"].notna(), served + _window("purchase"))
    recs["purchase_status"] = ps
    rs = status(recs["returned_at"].notna(), recs["purchased_at"] + _window("return"))
    recs["return_status"] = np.where(ps == "yes", rs, np.where(ps == "pending", "pending", "not_purchased"))
    return recs
