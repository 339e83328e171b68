"""Wording: customer groups, dates, values and alert messages in the business's words.

Everything the alerts say is built here: :func:`describe_group` ("customers aged 25-34"),
:func:`stoffwechsel.formats.date_words` ("2 March 2026"), :func:`hint` (what to check first: a cause only where
:mod:`.diagnosis` finds it in the data) and `change_message` (the size of the change and its
onset with their ranges, and how rare false alarms are at this setting; never "how sure we are").
The metric labels come from :data:`stoffwechsel.glossary.METRICS`; the alerts' wording is held to
business language (:func:`own_words` strips the client's own texts before that check).
"""

from __future__ import annotations

import pandas as pd

from stoffwechsel.formats import date_words, format_value
from stoffwechsel.monitoring.diagnosis import model_cause, reused_cause_since
from stoffwechsel.monitoring.params import MonitorParams
from stoffwechsel.monitoring.prepare import NEW, Prepared

#: What every monitoring page and target says where the shop has sent no recommendation log yet
#: (no rows in production-recommendations-sample.csv): the monitor stage then writes this "waiting"
#: state (:func:`stoffwechsel.monitoring.run.waiting_result`) instead of stopping.
MONITORING_WAITS = (
    "Monitoring starts once a recommendation log is supplied: the shop's data holds no recommendations "
    "shown to customers yet, so there are no clicks, purchases or returns from recommendations to watch."
)

__all__ = [
    "MONITORING_WAITS",
    "describe_group",
    "DEFAULT_HINTS",
    "hint",
    "hint_cause",
    "false_alarm_words",
    "percent_range",
    "onset_words",
    "change_message",
    "own_words",
]


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


DEFAULT_HINTS = {
    "ctr": "the images, prices and stock of the recommended items, and whether clicks are still tracked",
    "purchases_per_100": "stock, sizes and prices of the recommended items, and whether checkout tracking works",
    "kept_per_100": "returns of recommended items (sizes, fit, product descriptions)",
    "revenue_per_100": "prices and discounts of the recommended items, then the purchases they lead to",
    "sustainable_share": "the certification data of the product catalogue and which items the model favours",
}


def hint(alert: pd.Series, prep: Prepared, params: MonitorParams | None = None) -> str:
    """What to check first for a change-point alert (a scan row: group, metric, ``onset`` with its
    range, ``before``, ``after``, ``change``): a likely cause the data supports (:mod:`.diagnosis`:
    reused product numbers whose share rose in the group from the onset on and which did worse than
    the group's other items; a model update within a week of the onset's range at which the
    group's outcome stepped), else the metric's runbook line."""
    params = params or MonitorParams()
    step = alert.copy()  # the model update's test reads a window and the two levels
    step["expected"], step["estimate"] = alert["before"], alert["after"]
    step["window_start"], step["window_end"] = alert["onset_low"], alert["onset_high"] + pd.Timedelta(days=7)
    return (
        reused_cause_since(alert, prep, params) or model_cause(step, prep, params) or DEFAULT_HINTS[alert["metric_id"]]
    )


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


def percent_range(low: float, high: float) -> str:
    """A relative change's range in words: 'between 70% and 93% lower', 'between 5% lower and 20% higher'."""

    def word(v: float) -> str:
        return f"{abs(v) * 100:.0f}% {'lower' if v < 0 else 'higher'}"

    if pd.isna(low) or pd.isna(high):
        return "not known yet"
    if low < 0 < high:
        return f"between {word(low)} and {word(high)}"
    lo, hi = sorted((low, high), key=abs)
    return f"between {abs(lo) * 100:.0f}% and {word(hi)}"


def onset_words(onset, low, high) -> str:
    """Since when, with its range: 'since about 2 March 2026 (it started between 27 February and 4 March)'."""
    when = f"since about {date_words(onset)}"
    if pd.notna(low) and pd.notna(high) and pd.Timestamp(low) < pd.Timestamp(high):
        when += f" (it started between {date_words(low)} and {date_words(high)})"
    return when


def change_message(a: pd.Series, hint: str, fdr: float = MonitorParams.fdr) -> str:
    """One alert in a sentence: who, which metric, how much (with its range), since when (with its
    range), how much of the outcomes since then are in, how rare false alarms are at this setting,
    what to check first. ``a``: a row of the change-point scan (:mod:`.changepoint`)."""
    verb = "fell" if a["change"] < 0 else "rose"
    who = describe_group(a["segment_column"], a["segment"])
    subject = a["metric"] if a["metric_id"] != "ctr" else "The click rate"
    subject = subject[0].upper() + subject[1:]
    numbers = (
        f"from {format_value(a['metric_id'], a['before'])} before to {format_value(a['metric_id'], a['after'])} "
        f"since then; the true change is probably {percent_range(a['change_low'], a['change_high'])}"
    )
    if a["completeness_after"] < 0.99:
        numbers += f"; about {a['completeness_after'] * 100:.0f}% of the outcomes since then are in"
    return (
        f"{subject} for {who} {verb} by {abs(a['change']) * 100:.0f}% "
        f"{onset_words(a['onset'], a['onset_low'], a['onset_high'])} ({numbers}); "
        f"{false_alarm_words(fdr)}; check first: {hint}."
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
