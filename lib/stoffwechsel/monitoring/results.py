"""The result of a monitoring run and its files: :class:`MonitoringResult`, written by
:func:`write_outputs` to ``reports/monitoring/`` (sorted rows, fixed number format, so the files
are byte-identical for the same inputs) and read back by :func:`load_outputs` (the site's pages
render these aggregates instead of recomputing them).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from stoffwechsel.data.io import write_csv, write_json
from stoffwechsel.monitoring.params import MonitorParams

__all__ = [
    "MonitoringResult",
    "WAITING",
    "OUTPUT_TABLES",
    "OUTPUT_FILES",
    "write_outputs",
    "load_outputs",
    "json_number",
    "json_significant",
]

#: summary.json's ``status`` where the shop has no recommendation log yet (nothing to monitor:
#: :func:`stoffwechsel.monitoring.run.waiting_result`); absent from a monitoring of real recommendations
WAITING = "waiting for a recommendation log"
_METRIC_KEY = ["period", "window_start", "segment_column", "segment", "metric_id"]
#: The tidy tables of a :class:`MonitoringResult`: attribute -> (file, row order when written).
OUTPUT_TABLES = {
    "weekly": ("weekly_metrics.csv", _METRIC_KEY),
    "daily": ("daily_metrics.csv", _METRIC_KEY),
    "comparisons": ("comparisons.csv", _METRIC_KEY),
    "changes": ("changes.csv", ["segment_column", "segment", "metric_id"]),
    "drift": ("drift.csv", ["period", "window_start", "segment_column", "segment", "feature_id"]),
    "decomposition": ("decomposition.csv", ["segment_column", "metric_id", "segment"]),
    "delay_curves": ("delay_curves.csv", ["outcome", "delay"]),
}
OUTPUT_FILES = ("alerts.json", *(name for name, _ in OUTPUT_TABLES.values()), "delay_evaluation.json", "summary.json")


@dataclass
class MonitoringResult:
    """Everything the dashboard renders. Tables are tidy (one row per observation)."""

    params: dict
    export_time: pd.Timestamp | None  # None (and no periods) while waiting for a recommendation log
    reference: tuple[pd.Timestamp, pd.Timestamp] | None  # first and last day
    current: tuple[pd.Timestamp, pd.Timestamp] | None
    weekly: pd.DataFrame  # estimates.METRIC_COLUMNS, period in {reference, week}
    daily: pd.DataFrame  # estimates.METRIC_COLUMNS, period = day
    comparisons: pd.DataFrame  # each week after the usual period against it (descriptive), with p and q
    changes: pd.DataFrame  # the change-point scan: group x metric, onset, size, q, alert, what could be seen
    alerts: list[dict]
    drift: pd.DataFrame
    decomposition: pd.DataFrame
    delay_curves: pd.DataFrame
    summary: dict
    delay_evaluation: dict | None = None
    incidents: list[dict] = field(default_factory=list)  # alerts with one cause (:mod:`.incidents`)
    curves: dict = field(default_factory=dict, repr=False)

    @property
    def waiting(self) -> bool:
        """No recommendation log yet: nothing was monitored (:data:`WAITING`)."""
        return self.summary.get("status") == WAITING


def json_number(v, digits: int = 6):
    """A value for JSON: rounded to ``digits`` decimals; None when missing or not finite."""
    if v is None or (isinstance(v, float) and not math.isfinite(v)) or pd.isna(v):
        return None
    return round(float(v), digits)


def json_significant(v, digits: int = 6):
    """A float for JSON rounded to significant digits (p-values can be tiny); None when missing."""
    v = json_number(v, 300)
    return None if v is None else float(f"{v:.{digits}g}")


def _significant(x: np.ndarray, digits: int = 6) -> np.ndarray:
    """Round to significant digits, vectorised (0 stays 0)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        mag = np.floor(np.log10(np.abs(x)))
        factor = 10.0 ** (digits - 1 - np.where(np.isfinite(mag), mag, 0))
        return np.where(x == 0, 0.0, np.round(x * factor) / factor)


def _for_csv(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy()
    for c in out.columns:
        if pd.api.types.is_datetime64_any_dtype(out[c]):
            out[c] = out[c].dt.strftime("%Y-%m-%d")
        elif c in ("p_value", "q_value"):
            out[c] = _significant(out[c].to_numpy(float))
        elif pd.api.types.is_float_dtype(out[c]):
            out[c] = out[c].replace([np.inf, -np.inf], np.nan).round(6)
    return out


def write_outputs(result: MonitoringResult, out_dir: Path | str) -> dict[str, Path]:
    """Write the monitoring outputs deterministically (sorted rows, fixed float format)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = {
        "alerts.json": write_json(
            {"alerts": result.alerts, "count": len(result.alerts), "incidents": result.incidents}, out / "alerts.json"
        )
    }
    for attr, (name, order) in OUTPUT_TABLES.items():
        written[name] = write_csv(_for_csv(getattr(result, attr)), out / name, order)
    written["summary.json"] = write_json(result.summary, out / "summary.json")
    if result.delay_evaluation is not None:
        written["delay_evaluation.json"] = write_json(result.delay_evaluation, out / "delay_evaluation.json")
    return written


def load_outputs(out_dir: Path | str, params: MonitorParams | dict | None = None) -> MonitoringResult:
    """The :class:`MonitoringResult` the ``monitor`` stage wrote (:func:`write_outputs`), read
    back: the site's pages render these aggregates instead of recomputing from the
    recommendations, so their cost does not grow with the data. Values are the written ones
    (six decimals; p- and q-values six significant digits); the fitted delay curves themselves
    are not stored (their table is)."""
    out = Path(out_dir)
    for name in [*(name for name, _ in OUTPUT_TABLES.values()), "alerts.json", "summary.json"]:
        if not (out / name).is_file():
            raise FileNotFoundError(f"{out / name}: missing; run the monitor stage first (dvc repro monitor)")
    tables = {}
    for attr, (name, _) in OUTPUT_TABLES.items():
        frame = pd.read_csv(out / name)
        for col in (
            "window_start",
            "window_end",
            "onset",
            "onset_low",
            "onset_high",
            "first_candidate",
            "last_candidate",
            "confirm_by",
        ):
            if col in frame.columns:
                frame[col] = pd.to_datetime(frame[col]).astype("datetime64[us]")
        for col in ("recs_matured", "events"):  # fractional where estimated, so float as computed
            if col in frame.columns and attr in ("weekly", "daily"):
                frame[col] = frame[col].astype("float64")
        tables[attr] = frame
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    alerts = json.loads((out / "alerts.json").read_text(encoding="utf-8"))
    evaluation = out / "delay_evaluation.json"
    params = params if isinstance(params, MonitorParams) else MonitorParams.from_dict(params)
    waiting = summary.get("status") == WAITING
    span = lambda key: None if waiting else (pd.Timestamp(summary[key]["start"]), pd.Timestamp(summary[key]["end"]))  # noqa: E731
    return MonitoringResult(
        params=params.as_dict(),
        export_time=None if waiting else pd.Timestamp(summary["export_time"]),
        reference=span("reference"),
        current=span("current"),
        alerts=alerts["alerts"],
        incidents=alerts.get("incidents", []),
        summary=summary,
        delay_evaluation=json.loads(evaluation.read_text(encoding="utf-8")) if evaluation.is_file() else None,
        **tables,
    )
