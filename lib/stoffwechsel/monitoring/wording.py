"""Wording: customer groups, dates, values and alert messages in the business's words.

Everything the alerts say is built here: :func:`describe_group` ("customers aged 25-34"),
:func:`date_words` ("2 March 2026"), :func:`hint` (what to check first: a cause only where
:mod:`.diagnosis` finds it in the data) and :func:`alert_message` (the size of the change and its
onset with their ranges, and how rare false alarms are at this setting; never "how sure we are").
The metric labels come from :data:`stoffwechsel.glossary.METRICS`; the alerts' wording is held to
business language (:func:`own_words` strips the client's own texts before that check).
"""

from __future__ import annotations

import pandas as pd

from .diagnosis import model_cause, reused_cause
from .params import MonitorParams
from .prepare import NEW, Prepared

__all__ = [
    "date_words",
    "describe_group",
    "format_value",
    "DEFAULT_HINTS",
    "hint",
    "hint_cause",
    "false_alarm_words",
    "alert_message",
    "own_words",
]


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
        return {
            "web": "customers who prefer the web shop",
            "app": "customers who prefer the app",
            "store": "customers who prefer the store",
        }.get(value, f"customers who prefer {value}")
    if column == "loyalty_tier":
        return "customers without a loyalty tier" if value == "none" else f"customers in the {value} loyalty tier"
    if column == "sustainability_interest":
        return f"customers with {value} interest in sustainability"
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
    "revenue_per_100": "prices and discounts of the recommended items, then the purchases they lead to",
    "sustainable_share": "the certification data of the product catalogue and which items the model favours",
}


def hint(alert: pd.Series, metrics: pd.DataFrame, prep: Prepared, params: MonitorParams | None = None) -> str:
    """What to check first: a likely cause the data supports (:mod:`.diagnosis`: reused product
    numbers that rose in the alert's group and window and not in the groups that did not move; a
    model update at which the group's outcome stepped), else the metric's runbook line."""
    params = params or MonitorParams()
    return reused_cause(alert, metrics, params) or model_cause(alert, prep, params) or DEFAULT_HINTS[alert["metric_id"]]


def hint_cause(text: str) -> str:
    """Which cause a hint names: ``reused_product_numbers``, ``model_update`` or ``""`` (runbook line)."""
    if text.startswith("new-season products that reuse"):
        return "reused_product_numbers"
    if text.startswith("the model update"):
        return "model_update"
    return ""


def false_alarm_words(fdr: float) -> str:
    """How rare false alarms are at this setting, e.g. 'on average at most 1 in 20 alerts like this is a
    false alarm' (the false-alarm control ``fdr``)."""
    return f"on average at most 1 in {round(1 / fdr):,} alerts like this is a false alarm"


def _change_range(a: pd.Series) -> str:
    """The range of the size of the change: 'the fall is probably between 25% and 55%' (the plausible
    range of the group's rate against its usual level); empty where there is none."""
    lo, hi = a.get("rate_low"), a.get("rate_high")
    if not a["expected"] > 0 or lo is None or hi is None or pd.isna(lo) or pd.isna(hi):
        return ""
    noun = "fall" if a["estimate"] < a["expected"] else "rise"
    ends = sorted(abs(v / a["expected"] - 1) * 100 for v in (lo, hi))
    if (lo - a["expected"]) * (hi - a["expected"]) > 0:
        return f"; the {noun} is probably between {ends[0]:.0f}% and {ends[1]:.0f}%"
    return f"; the {noun} is probably at most {ends[1]:.0f}%"


def _onset_words(a: pd.Series) -> str:
    """Since when, with the range of starts at which the change shows (the alert's flagged windows)."""
    when = ("in the week of " if a["period"] == "week" else "since about the week of ") + date_words(a["window_start"])
    lo, hi = a.get("onset_low"), a.get("onset_high")
    if a["period"] != "week" and lo is not None and hi is not None and pd.notna(lo) and pd.notna(hi) and lo < hi:
        when += f" (it shows from any week starting between {date_words(lo)} and {date_words(hi)})"
    return when


def alert_message(a: pd.Series, hint: str, fdr: float = MonitorParams.fdr) -> str:
    """One alert in a sentence: who, which metric, how much (with its range), since when (with its
    range), how rare false alarms are at this setting, what to check first."""
    verb = "fell" if a["estimate"] < a["expected"] else "rose"
    who = describe_group(a["segment_column"], a["segment"])
    numbers = f"(from {format_value(a['metric_id'], a['expected'])} to {format_value(a['metric_id'], a['estimate'])}"
    if a["completeness"] < 0.99:
        numbers += (
            f", expected final value; about {a['completeness'] * 100:.0f}% of the outcomes are in, so it will "
            f"most likely end between {format_value(a['metric_id'], a['estimate_low'])} and "
            f"{format_value(a['metric_id'], a['estimate_high'])}"
        )
    numbers += _change_range(a) + ")"
    size = f"by {abs(a['change']) * 100:.0f}% " if a["expected"] > 0 else ""
    subject = a["metric"] if a["metric_id"] != "ctr" else "The click rate"
    subject = subject[0].upper() + subject[1:]
    return (
        f"{subject} for {who} {verb} {size}{numbers} {_onset_words(a)}; {false_alarm_words(fdr)}; check first: {hint}."
    )


def own_words(message: str, alert: pd.Series, prep: Prepared) -> str:
    """The alert message without the client's texts in it (group names, model versions): only the
    package's own wording is held to business language; a model version named
    ``prod-2.4.0 CTR fix`` or a segment called ``null`` is the client's word, shown as is."""
    client = {str(alert["segment"]), *str(alert["segment"]).split(", "), *(str(v) for v, _ in prep.rollouts)}
    for text in sorted(client, key=len, reverse=True):
        if text:
            message = message.replace(text, " ")
    return message
