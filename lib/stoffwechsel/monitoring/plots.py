"""Charts of a monitoring result for the dashboard and the pages (matplotlib, imported lazily).

Every chart labels its metrics from :data:`stoffwechsel.glossary.METRICS` and selects its rows by
``metric_id``; :func:`readable` keeps every text at least :data:`CHART_MIN_FONT` points.
"""

from __future__ import annotations

import textwrap

import numpy as np
import pandas as pd

from stoffwechsel.formats import date_words
from stoffwechsel.glossary import METRICS, SEGMENT_COLUMN_LABELS
from stoffwechsel.monitoring.prepare import ALL
from stoffwechsel.monitoring.results import MonitoringResult

__all__ = [
    "CHART_MIN_FONT",
    "LAUNCH_NOTE",
    "readable",
    "plot_groups",
    "plot_label_arrival",
    "plot_group_change",
    "plot_decomposition",
]

#: the note at each season launch in the time charts
LAUNCH_NOTE = "new season on sale"
#: the smallest text in a chart (points); charts are drawn about as wide as they are shown, so
#: this is close to the size a reader sees
CHART_MIN_FONT = 10.5


def readable(fig, size: float = CHART_MIN_FONT):
    """Every text of ``fig`` (titles, ticks, labels, legends, notes) at least ``size`` points."""
    import matplotlib.text

    for ax in fig.axes:  # tick labels are made when drawn: set their size on the axes
        ax.tick_params(labelsize=size)
    for t in fig.findobj(matplotlib.text.Text):
        if t.get_text() and t.get_fontsize() < size:
            t.set_fontsize(size)
    return fig


def _axes_dates(ax, result: MonitoringResult):
    """Day-month ticks; dotted lines at model updates, dash-dotted at season launches."""
    import matplotlib.dates as mdates

    ax.xaxis.set_major_formatter(mdates.DateFormatter("%d %b"))
    for r in result.summary.get("model_rollouts", []):
        ax.axvline(pd.Timestamp(r["first_day"]), color="0.6", lw=0.8, ls=":")
    first, last = pd.Timestamp(result.summary["data"]["first_day"]), pd.Timestamp(result.summary["data"]["last_day"])
    for day in pd.date_range(first, last, freq="MS"):
        if day.month in (3, 9):
            ax.axvline(day, color="0.3", lw=0.8, ls="-.")
            ax.text(day, ax.get_ylim()[1], " " + LAUNCH_NOTE, va="top", fontsize=8, color="0.3")


def plot_groups(result: MonitoringResult, metric_id: str, column: str = "segment", groups=None):
    """Weekly expected final value per group with its range, against each group's usual level."""
    import matplotlib.pyplot as plt

    from stoffwechsel.data.profiling import PALETTE

    w = result.weekly[(result.weekly["segment_column"] == column) & (result.weekly["metric_id"] == metric_id)]
    groups = groups or sorted(w["segment"].unique())
    fig, ax = plt.subplots(figsize=(10, 4.4))
    for colour, group in zip(PALETTE, groups):
        g = w[(w["segment"] == group) & (w["period"] == "week")].sort_values("window_start")
        x = g["window_start"] + pd.Timedelta(days=3)
        ax.plot(x, g["estimate"], marker="o", color=colour, label=group, lw=1.8)
        ax.fill_between(x, g["estimate_low"], g["estimate_high"], color=colour, alpha=0.15, lw=0)
        ref = w[(w["segment"] == group) & (w["period"] == "reference")]["estimate"]
        if len(ref):
            ax.axhline(ref.iloc[0], color=colour, lw=0.8, ls="--")
    ax.axvline(pd.Timestamp(result.reference[1]) + pd.Timedelta(hours=12), color="0.3", lw=0.8)
    ax.text(
        pd.Timestamp(result.reference[1]),
        ax.get_ylim()[1],
        " usual period ends",
        va="top",
        ha="right",
        fontsize=8,
        color="0.3",
    )
    _axes_dates(ax, result)
    ax.set(
        title=f"{METRICS[metric_id]} per week ({SEGMENT_COLUMN_LABELS[column].lower()}); dashed: usual level",
        xlabel="Week",
        ylabel=METRICS[metric_id],
    )
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)  # outside: it never covers a line or note
    readable(fig)
    fig.tight_layout()
    return fig


def plot_label_arrival(result: MonitoringResult):
    """Left: how soon outcomes arrive. Right: share of outcomes already in, per week."""
    import matplotlib.pyplot as plt

    from stoffwechsel.data.profiling import PALETTE

    fig, (a1, a2) = plt.subplots(2, 1, figsize=(6, 6.8))  # stacked: drawn about as wide as its card
    names = {"click": "Clicks (hours)", "purchase": "Purchases (days)", "return": "Returns (days after purchase)"}
    for colour, (outcome, g) in zip(PALETTE, result.delay_curves.groupby("outcome", sort=False)):
        a1.plot(g["delay"], g["share_observed"] * 100, color=colour, label=names[outcome])
        a1.fill_between(g["delay"], g["share_low"] * 100, g["share_high"] * 100, color=colour, alpha=0.15, lw=0)
    a1.set(
        title="How soon outcomes arrive",
        xlabel="Time after the recommendation (hours or days)",
        ylabel="Final outcomes seen (%)",
    )
    a1.legend(loc="lower right", frameon=False)
    w = result.weekly[(result.weekly["segment_column"] == "all") & (result.weekly["period"] == "week")]
    for colour, metric_id in zip(PALETTE[1:], ("purchases_per_100", "kept_per_100")):
        g = w[w["metric_id"] == metric_id].sort_values("window_start")
        a2.bar(
            g["window_start"] + pd.Timedelta(days=1 if metric_id == "kept_per_100" else -1),
            g["completeness"] * 100,
            width=2.5,
            color=colour,
            label=METRICS[metric_id],
        )
    _axes_dates(a2, result)
    a2.set(title="Share of outcomes already in, per week", xlabel="Week", ylabel="Already in (%)")
    a2.set_ylim(0, 135)  # room above the bars for the legend
    a2.legend(loc="upper center", ncol=1, frameon=False)
    readable(fig)
    fig.tight_layout()
    return fig


def plot_group_change(result: MonitoringResult, metric_ids=("ctr", "purchases_per_100"), column: str = "segment"):
    """Per group: usual level and the last weeks (expected final value), each with its plausible
    range, one panel per metric. Groups hit differently stand out at a glance."""
    import matplotlib.pyplot as plt

    from stoffwechsel.data.profiling import PALETTE

    w = result.weekly[
        (result.weekly["segment_column"] == column) & result.weekly["period"].isin(["reference", "current"])
    ]
    groups = sorted(set(w.loc[w["period"] == "current", "segment"]) & set(w.loc[w["period"] == "reference", "segment"]))
    fig, axes = plt.subplots(
        1, len(metric_ids), figsize=(4 * len(metric_ids), 0.55 * len(groups) + 2.2), sharey=True, squeeze=False
    )
    y = np.arange(len(groups))
    for ax, metric_id in zip(axes[0], metric_ids):
        m = w[w["metric_id"] == metric_id].set_index(["period", "segment"])
        for offset, period, colour, name in (
            (-0.15, "reference", "0.55", "usual period"),
            (0.15, "current", PALETTE[3], "last weeks"),
        ):
            g = m.loc[period].reindex(groups)
            lo, hi = g["rate_low"].fillna(g["estimate"]), g["rate_high"].fillna(g["estimate"])
            err = [np.maximum(g["estimate"] - lo, 0), np.maximum(hi - g["estimate"], 0)]
            ax.errorbar(g["estimate"], y + offset, xerr=err, fmt="o", color=colour, capsize=3, label=name)
        ax.set_yticks(y, groups)
        ax.set(title=textwrap.fill(METRICS[metric_id], 30), xlabel="with its plausible range")
        ax.set_xlim(left=0)
    axes[0][0].invert_yaxis()
    fig.suptitle(
        f"Usual period ({date_words(result.reference[0])} to {date_words(result.reference[1])}) against "
        f"{date_words(result.current[0])} to {date_words(result.current[1])}",
        fontsize=11,
        x=0.02,
        ha="left",
    )
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="upper left", bbox_to_anchor=(0.01, 0.94), ncol=2, frameon=False)
    readable(fig)
    fig.tight_layout(rect=(0, 0, 1, 0.86))
    return fig


def plot_decomposition(result: MonitoringResult, metric_id: str = "purchases_per_100", column: str = "segment"):
    """Change of the headline number split into customer mix and change within each group."""
    import matplotlib.pyplot as plt

    from stoffwechsel.data.profiling import PALETTE

    d = result.decomposition
    d = d[(d["segment_column"] == column) & (d["metric_id"] == metric_id)].set_index("segment")
    order = [s for s in d.index if s != ALL] + [ALL]
    d = d.loc[order]
    fig, ax = plt.subplots(figsize=(6, 0.5 * len(d) + 2.2))  # drawn about as wide as its card
    y = np.arange(len(d))
    ax.barh(y - 0.2, d["mix_effect"], height=0.4, color=PALETTE[0], label="Change from customer mix")
    ax.barh(y + 0.2, d["within_effect"], height=0.4, color=PALETTE[3], label="Change within customer groups")
    ax.axvline(0, color="0.3", lw=0.8)
    ax.set_yticks(y, [s if s != ALL else "All customers (total)" for s in d.index])
    ax.invert_yaxis()
    ax.set(
        title=textwrap.fill(f"Why {METRICS[metric_id].lower()} changed", 40),
        xlabel=f"Contribution to the change, last {len(pd.date_range(*result.current, freq='W-MON'))} weeks\n"
        f"against the usual period",
    )
    ax.legend(loc="best", framealpha=0.9)
    readable(fig)
    fig.tight_layout()
    return fig
