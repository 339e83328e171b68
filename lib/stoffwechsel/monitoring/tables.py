"""Business-facing tables of a monitoring result (the notebook and the dashboard show only these
labels): the headline numbers, the alerts, and the shift level of each mix per customer group.
"""

from __future__ import annotations

import pandas as pd

from stoffwechsel.monitoring.results import MonitoringResult

__all__ = ["headline_table", "alerts_table", "drift_overview"]


def headline_table(result: MonitoringResult) -> pd.DataFrame:
    """The headline numbers: usual level, now (expected final value and its range), change."""
    rows = [
        {
            "Metric": h["metric"],
            "Usual level": h["usual_level"],
            "Now (expected final value)": h["now"],
            "Range once all outcomes are in": f"{_fmt_plain(h['now_low'])} to {_fmt_plain(h['now_high'])}",
            "Change": None if h["change"] is None else f"{h['change'] * 100:+.0f}%",
            "Share of outcomes already in": f"{h['share_of_outcomes_in'] * 100:.0f}%",
        }
        for h in result.summary["headline"]
    ]
    return pd.DataFrame(rows)


def _fmt_plain(v) -> str:
    return "" if v is None else f"{v:,.1f}"


def alerts_table(result: MonitoringResult, column: str | None = None) -> pd.DataFrame:
    """Alerts as the client reads them (optionally for one grouping only)."""
    rows = [a for a in result.alerts if column is None or a["segment_column"] == column]
    return pd.DataFrame(
        {
            "Severity": [a["severity"] for a in rows],
            "Customer group": [a["group"] for a in rows],
            "Metric": [a["metric"] for a in rows],
            "What happened": [a["message"] for a in rows],
        }
    )


def drift_overview(result: MonitoringResult, column: str = "segment") -> pd.DataFrame:
    """Shift level of each mix for each group of one grouping, current period against the usual one."""
    d = result.drift
    d = d[
        (d["period"] == "current")
        & d["segment_column"].isin([column, "all"])
        & ~d["feature_id"].str.startswith("traffic")
    ]
    table = d.pivot_table(index="feature", columns="segment", values="level", aggfunc="first")
    table.columns.name, table.index.name = "Customer group", "What is compared"
    return table
