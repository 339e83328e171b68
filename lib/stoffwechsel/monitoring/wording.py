"""Wording: customer groups, dates, values and alert messages in the business's words.

Everything the alerts say is built here: :func:`describe_group` ("customers aged 25-34"),
:func:`date_words` ("2 March 2026"), :func:`hint` (what to check first) and
:func:`alert_message`. The metric labels come from :data:`stoffwechsel.glossary.METRICS`; the
alerts' wording is held to business language (:func:`own_words` strips the client's own texts
before that check).
"""

from __future__ import annotations

import math

import pandas as pd

from .params import MonitorParams
from .prepare import NEW, Prepared

__all__ = ["date_words", "describe_group", "format_value", "DEFAULT_HINTS", "hint", "alert_message", "own_words"]


def date_words(ts) -> str:
    """The one date format of the owner pages and alerts: ``2 March 2026``."""
    ts = pd.Timestamp(ts)
    return f"{ts.day} {ts:%B %Y}"


def describe_group(column: str, value: str) -> str:
    """A customer group in words, e.g. 'customers aged 25-34'."""
    if column == "all":
        return "all customers"
    if column == "segment":
        return str(value)
    if column == "age_band":
        return f"customers aged {value}"
    if column == "region":
        return f"customers in {value}" if value != "Other Germany" else "customers elsewhere in Germany"
    if column == "preferred_channel":
        return {"web": "customers who prefer the web shop", "app": "customers who prefer the app",
                "store": "customers who prefer the store"}.get(value, f"customers who prefer {value}")
    if column == "customer_type":
        return "new customers" if value == NEW else "returning customers"
    if column == "segment_x_age_band":
        seg, _, age = str(value).rpartition(", ")
        return f"{seg} aged {age}"
    return str(value)


def format_value(metric_id: str, v: float) -> str:
    if metric_id in ("ctr", "sustainable_share", "new_season_share", "reused_id_share"):
        return f"{v:.1f}%"
    if metric_id in ("revenue_eur", "revenue_per_100"):
        return f"{v:,.0f} EUR"
    return f"{v:.1f}"


DEFAULT_HINTS = {
    "ctr": "the images, prices and stock of the recommended items, and whether clicks are still tracked",
    "purchases_per_100": "stock, sizes and prices of the recommended items, and whether checkout tracking works",
    "kept_per_100": "returns of recommended items (sizes, fit, product descriptions)",
    "sustainable_share": "the certification data of the product catalogue and which items the model favours",
    "reused_id_share": "how the model tells products apart: article number and season must be used together, "
                       "or a new product inherits the popularity of an old one with the same number",
}


def hint(alert: pd.Series, metrics: pd.DataFrame, prep: Prepared, params: MonitorParams | None = None) -> str:
    """What to check first: the most telling change next to the alert, else the metric's runbook line.

    Reused product numbers are named when their share in the alert's group and window rose by at
    least ``params.hint_reused_points`` points and to at least ``params.hint_reused_factor`` x
    the usual level; a model update when one went live in the alert window's first week."""
    params = params or MonitorParams()
    if alert["metric_id"] != "reused_id_share":
        sel = metrics[(metrics["segment_column"] == alert["segment_column"]) & (metrics["segment"] == alert["segment"])
                      & (metrics["metric_id"] == "reused_id_share")]
        now = sel[(sel["period"] == alert["period"]) & (sel["window_start"] == alert["window_start"])]["estimate"]
        before = sel[sel["period"] == "reference"]["estimate"]
        if (len(now) and len(before) and now.iloc[0] - before.iloc[0] >= params.hint_reused_points
                and now.iloc[0] >= params.hint_reused_factor * before.iloc[0]):
            return (f"new-season products that reuse an old product number (now {now.iloc[0]:.0f}% of the "
                    f"recommendations, usually {before.iloc[0]:.0f}%)")
    for _version, day in prep.rollouts:  # the release code is the team's, not the owner's: named by its day
        if pd.Timedelta(0) <= alert["window_start"] - day <= pd.Timedelta(days=6):
            return f"the model update that went live on {date_words(day)}"
    return DEFAULT_HINTS[alert["metric_id"]]


def alert_message(a: pd.Series, hint: str) -> str:
    """One alert in a sentence: who, which metric, how much, when, how sure, what to check first."""
    verb = "fell" if a["estimate"] < a["expected"] else "rose"
    who = describe_group(a["segment_column"], a["segment"])
    if a["expected"] > 0:
        size = f"by {abs(a['change']) * 100:.0f}% "
    else:
        size = ""
    when = ("in the week of " if a["period"] == "week" else "since the week of ") + date_words(a["window_start"])
    numbers = f"(from {format_value(a['metric_id'], a['expected'])} to {format_value(a['metric_id'], a['estimate'])}"
    if a["completeness"] < 0.99:
        numbers += (f", expected final value; about {a['completeness'] * 100:.0f}% of the outcomes are in, so it will "
                    f"most likely end between {format_value(a['metric_id'], a['estimate_low'])} and "
                    f"{format_value(a['metric_id'], a['estimate_high'])}")
    numbers += ")"
    sure = min(99, int(math.floor((1 - a["q_value"]) * 100)))
    subject = a["metric"] if a["metric_id"] != "ctr" else "The click rate"
    subject = subject[0].upper() + subject[1:]
    return (f"{subject} for {who} {verb} {size}{numbers} {when}; we are {sure}% sure this is not chance; "
            f"check first: {hint}.")


def own_words(message: str, alert: pd.Series, prep: Prepared) -> str:
    """The alert message without the client's texts in it (group names, model versions): only the
    package's own wording is held to business language; a model version named
    ``prod-2.4.0 CTR fix`` or a segment called ``null`` is the client's word, shown as is."""
    client = {str(alert["segment"]), *str(alert["segment"]).split(", "), *(str(v) for v, _ in prep.rollouts)}
    for text in sorted(client, key=len, reverse=True):
        if text:
            message = message.replace(text, " ")
    return message

