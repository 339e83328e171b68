"""Verification targets 5 and 6 on the client's own data: the monitoring of a planted copy.

A real shop may be quiet (no alert fired), and its customers may form one marketing segment only.
So the targets are checked on a copy of whatever recommendation log is configured: a
:class:`~stoffwechsel.monitoring.shift.Shift` (``effect`` on clicks and purchases, from ``start``
on, deterministic ``seed``; :func:`~stoffwechsel.monitoring.shift.inject_shift`, never the
simulator) is planted in one customer group (:func:`choose_group`), the monitoring runs on the
copy with the stage's own settings, and :func:`planted_check` reports whether an alert for the
planted group fired (its message, onset with its range) and how the click rate of every group of
the planted column moved from the plant's start on (:func:`group_changes`, with ranges). The
alerts on the unplanted data are information only: a quiet shop is no failure.

The plant's settings are params.yaml's ``verify`` section (``plant_*``, :class:`PlantSettings`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from types import SimpleNamespace

import numpy as np
import pandas as pd
from scipy import stats

from stoffwechsel.monitoring.params import MonitorParams
from stoffwechsel.monitoring.results import MonitoringResult
from stoffwechsel.monitoring.run import run_monitoring
from stoffwechsel.monitoring.shift import Shift, inject_shift
from stoffwechsel.monitoring.wording import MONITORING_WAITS

__all__ = ["OTHER_COLUMNS", "PlantSettings", "Choice", "PlantedCheck", "choose_group", "group_changes", "planted_check"]

#: the customer columns tried after the marketing segment, in this order
OTHER_COLUMNS = ("age_band", "region", "loyalty_tier", "preferred_channel", "sustainability_interest")


@dataclass(frozen=True)
class PlantSettings:
    """params.yaml's ``verify.plant_*`` keys (without the prefix)."""

    column: str = "segment"  # the customer column to plant in first
    value: str = ""  # its group; "": the column's largest group
    effect: float = -0.7  # relative change of clicks and purchases from ``start`` on
    start: str = "auto"  # "YYYY-MM-DD"; auto: the middle day of the log's window
    seed: int = 7
    min_recommendations: int = 300  # a group large enough to plant in and to compare

    @classmethod
    def from_params(cls, section: dict) -> PlantSettings:
        """From the ``verify`` section (or the notebook's namespace): keys ``plant_<field>``."""
        names = cls.__dataclass_fields__
        return cls(**{k: section[f"plant_{k}"] for k in names if f"plant_{k}" in section})


@dataclass(frozen=True)
class Choice:
    """The group to plant in: ``column`` = ``value`` (None: no column qualifies), why it was
    chosen, and whether its column has at least two large groups to compare (target 6)."""

    column: str | None
    value: object
    why: str
    comparable: bool


def _rec_counts(recs: pd.DataFrame, customers: pd.DataFrame, column: str) -> pd.Series:
    """Recommendations per group of the customer ``column``, largest first (ties by name)."""
    groups = recs[["customer_id"]].merge(customers[["customer_id", column]], on="customer_id", how="left")[column]
    counts = groups.dropna().value_counts()
    order = sorted(counts.index, key=lambda v: (-int(counts[v]), str(v)))
    return counts.reindex(order).astype(int)


def choose_group(recs: pd.DataFrame, customers: pd.DataFrame, plant: PlantSettings) -> Choice:
    """The configured group where it exists with at least ``min_recommendations`` (and its column
    has a second such group); else the largest group of the first column with at least two such
    groups, in the order: the configured column, ``segment``, :data:`OTHER_COLUMNS`. Where no column
    has two, the largest group of any of them with enough recommendations (nothing to compare: target
    6 is not checked), else none."""
    n = plant.min_recommendations
    order = [c for c in dict.fromkeys([plant.column, "segment", *OTHER_COLUMNS]) if c in customers.columns]
    counts = {c: _rec_counts(recs, customers, c) for c in order}
    large = {c: counts[c][counts[c] >= n] for c in order}
    if plant.value and plant.column in large and len(large[plant.column]) >= 2:
        match = [v for v in large[plant.column].index if str(v) == str(plant.value)]
        if match:
            return Choice(plant.column, match[0], "the configured group", True)
    words = lambda c: c.replace("_", " ")  # noqa: E731 (the page shows the reason: no raw column names)
    for c in order:
        if len(large[c]) >= 2:
            why = (
                f"the largest group of {words(c)}"
                if c == plant.column
                else f"the largest group of {words(c)} ({words(plant.column)} has fewer than two groups "
                f"of {n} recommendations)"
            )
            return Choice(c, large[c].index[0], why, True)
    for c in order:
        if len(large[c]) == 1:
            return Choice(
                c, large[c].index[0], f"the only group of {n} recommendations ({words(c)}): nothing to compare", False
            )
    return Choice(None, None, f"no customer group has {n} recommendations", False)


def plant_start(recs: pd.DataFrame, plant: PlantSettings) -> pd.Timestamp:
    """The plant's first day: the configured date, or (auto) the middle day of the log's window."""
    if str(plant.start) != "auto":
        return pd.Timestamp(plant.start).normalize()
    first, last = recs["served_at"].min().normalize(), recs["served_at"].max().normalize()
    return first + pd.Timedelta(days=(last - first).days // 2)


def group_changes(
    recs: pd.DataFrame, customers: pd.DataFrame, column: str, start: pd.Timestamp, min_recs: int, interval: float
) -> pd.DataFrame:
    """Per group of ``column`` with at least ``min_recs`` recommendations: the click rate before
    ``start`` and from it on (recommendations whose click window closed by the export), its
    relative change and that change's range at level ``interval`` (log rate ratio, normal; half a
    click added where a side has none)."""
    counts = _rec_counts(recs, customers, column)
    keep = counts[counts >= min_recs].index
    r = recs[["customer_id", "served_at", "click_status"]].merge(
        customers[["customer_id", column]], on="customer_id", how="left"
    )
    r = r[r["click_status"] != "pending"]
    z = stats.norm.ppf(0.5 + interval / 2)
    rows = []
    for value in keep:
        g = r[r[column] == value]
        after = (g["served_at"] >= start).to_numpy()
        clicked = (g["click_status"] == "yes").to_numpy()
        n0, n1 = int((~after).sum()), int(after.sum())
        x0, x1 = int((clicked & ~after).sum()), int((clicked & after).sum())
        a0, a1 = (x0 or 0.5), (x1 or 0.5)
        ratio = (x1 / n1) / (x0 / n0) if n0 and n1 and x0 else np.nan
        se = np.sqrt(1 / a1 - 1 / n1 + 1 / a0 - 1 / n0) if n0 and n1 else np.nan
        log_mid = np.log((a1 / n1) / (a0 / n0)) if n0 and n1 else np.nan
        rows.append(
            {
                "group": str(value),
                "recommendations_before": n0,
                "recommendations_after": n1,
                "click_rate_before": round(100 * x0 / n0, 2) if n0 else None,
                "click_rate_after": round(100 * x1 / n1, 2) if n1 else None,
                "change": round(float(ratio - 1), 4) if ratio == ratio else None,
                "change_low": round(float(np.exp(log_mid - z * se) - 1), 4) if se == se else None,
                "change_high": round(float(np.exp(log_mid + z * se) - 1), 4) if se == se else None,
            }
        )
    return pd.DataFrame(rows)


@dataclass
class PlantedCheck:
    """What :func:`planted_check` found: ``evidence`` (JSON-ready, deterministic) and the
    monitoring result of the planted copy (None where nothing was planted)."""

    evidence: dict
    result: MonitoringResult | None

    @property
    def planted(self) -> bool:
        return self.result is not None

    @property
    def comparable(self) -> bool:
        return bool(self.evidence.get("comparable"))

    @property
    def alert_fired(self) -> bool:
        return bool(self.evidence.get("alert_fired"))


_ALERT_KEYS = (
    "severity",
    "metric",
    "message",
    "onset",
    "onset_low",
    "onset_high",
    "change",
    "change_low",
    "change_high",
)


def planted_check(
    materials, params: MonitorParams | dict | None, plant: PlantSettings, unplanted_alerts: int | None = None
) -> PlantedCheck:
    """Plant :class:`PlantSettings`' shift in a copy of ``materials``' recommendation log, monitor
    the copy with ``params`` (their own test-mode shift off) and report (module docstring).
    ``unplanted_alerts``: the alerts on the data as it is, where known (the monitor stage's
    ``alerts.json``); None: the unplanted data is monitored too (information only)."""
    params = params if isinstance(params, MonitorParams) else MonitorParams.from_dict(params)
    params = replace(params, inject_enabled=False)
    recs, customers = materials.recommendations, materials.customers
    settings = {
        "effect": plant.effect,
        "start_setting": str(plant.start),
        "seed": plant.seed,
        "min_recommendations": plant.min_recommendations,
    }
    if len(recs) == 0:  # no recommendation log yet: nothing to plant in, nothing monitored
        return PlantedCheck(
            {"column": None, "group": None, "chosen": MONITORING_WAITS, "comparable": False, **settings}
            | {"alerts_on_unplanted_data": 0, "recommendation_log": False, "alert_fired": False},
            None,
        )
    if unplanted_alerts is None:
        unplanted_alerts = len(run_monitoring(materials, params).alerts)
    choice = choose_group(recs, customers, plant)
    evidence = {
        "column": choice.column,
        "group": None if choice.value is None else str(choice.value),
        "chosen": choice.why,
        "comparable": choice.comparable,
        **settings,
        "alerts_on_unplanted_data": int(unplanted_alerts),
        "recommendation_log": True,
    }
    if choice.column is None:
        return PlantedCheck({**evidence, "alert_fired": False}, None)
    start = plant_start(recs, plant)
    shift = Shift(choice.column, choice.value, start.date(), float(plant.effect))
    copy = inject_shift(recs, customers, shift, plant.seed)
    result = run_monitoring(
        SimpleNamespace(recommendations=copy, customers=customers, products=materials.products), params
    )
    mine = [a for a in result.alerts if a["segment_column"] == choice.column and str(a["segment"]) == str(choice.value)]
    severe = [a for a in mine if a["severity"] in ("critical", "warning")]
    changes = group_changes(copy, customers, choice.column, start, plant.min_recommendations, params.interval)
    evidence.update(
        start=start.strftime("%Y-%m-%d"),
        recommendations_in_group=int(
            copy["customer_id"].isin(customers.loc[shift.group_mask(customers), "customer_id"]).sum()
        ),
        alert_fired=bool(severe),
        alert={k: severe[0][k] for k in _ALERT_KEYS} if severe else None,
        alerts_in_planted_copy=len(result.alerts),
        alerts_for_the_planted_group=len(mine),
        click_rate_change_by_group=changes.to_dict(orient="records"),
    )
    return PlantedCheck(evidence, result)
