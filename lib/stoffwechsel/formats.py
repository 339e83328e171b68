"""Dates and values in the owner's words: the one date format of the pages and alerts and the
unit each monitored value is shown in. Ground floor: the monitoring and the site both use it."""

from __future__ import annotations

import pandas as pd


def date_words(ts) -> str:
    """The one date format of the owner pages and alerts: ``2 March 2026``."""
    ts = pd.Timestamp(ts)
    return f"{ts.day} {ts:%B %Y}"


def format_value(metric_id: str, v: float) -> str:
    if metric_id in ("ctr", "sustainable_share", "new_season_share", "reused_id_share"):
        return f"{v:.1f}%"
    if metric_id in ("revenue_eur", "revenue_per_100"):
        return f"{v:,.0f} EUR"
    return f"{v:.1f}"
