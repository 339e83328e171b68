"""Page blocks of the monitoring's alerts: incidents, alert lines, value boxes, what silence means.

Split from :mod:`stoffwechsel.site.pages` (which re-exports every name here, so pages call
``incidents_html``); every text from the data is escaped.
"""

from __future__ import annotations

import re

import pandas as pd

from stoffwechsel import glossary
from stoffwechsel.domain import SEVERITY_ORDER
from stoffwechsel.site.html_safety import Markup, markup, text

__all__ = [
    "SEVERITY_STYLE",
    "anchor",
    "group_anchor",
    "group_target",
    "top_alerts",
    "alerts_html",
    "valuebox",
    "tile_sentences",
    "incidents_html",
    "silence_lines",
    "watch_html",
]


SEVERITY_STYLE = {
    "critical": ("danger", "⚠", "Act now"),
    "warning": ("warning", "▲", "Watch"),
    "info": ("success", "✓", "Good news"),
}


def anchor(text: str) -> str:
    """Quarto's heading id: lower case, spaces to hyphens, other punctuation dropped."""

    return re.sub(r"[^a-z0-9\- ]", "", text.lower()).strip().replace(" ", "-")


def group_anchor(column: str, segment: str) -> str:
    """The id of a customer group's place on the customer groups page, unique per grouping (an
    age band and a region may share a name) and never the same as a heading's own id:
    ``group-all-customers``, ``group-segment-bargain-hunters``, ``group-age-band-25-34``."""
    if column == "all":
        return "group-all-customers"
    return "group-" + anchor(f"{column.replace('_', '-')} {segment}")


def group_target(column: str, segment: str) -> Markup:
    """The empty element a "details" link lands on (:func:`group_anchor`)."""
    return markup(f'<span id="{text(group_anchor(column, segment))}"></span>')


def top_alerts(alerts: list[dict], n: int | None = None) -> list[dict]:
    """The alerts for the first screen: the most severe one per customer group, marketing
    segments and all customers first, then the largest changes; at most ``n`` (default: the
    ``monitor.first_screen_alerts`` parameter's default)."""
    if n is None:
        from stoffwechsel.monitoring.params import MonitorParams

        n = MonitorParams().first_screen_alerts
    unranked = len(SEVERITY_ORDER)
    order = sorted(
        alerts,
        key=lambda a: (
            SEVERITY_ORDER.get(a["severity"], unranked),
            a["segment_column"] not in ("segment", "all"),
            -abs(a["change"] or 0),
            a["segment_column"],
            a["segment"],
            a["metric_id"],
        ),
    )
    seen, chosen = set(), []
    for a in order:
        key = (a["segment_column"], a["segment"])
        if key not in seen:
            seen.add(key)
            chosen.append(a)
    return chosen[:n]


def alerts_html(alerts: list[dict], segments_page: str, total: int) -> Markup:
    """Alert lines with colour, icon and a link to the group's detail on the segments page (every
    text from the alerts escaped)."""
    if not alerts:
        return markup(
            '<div class="alert alert-success" role="status"><span class="alert-icon">✓</span> '
            "No alert: every customer group is within its usual range.</div>"
        )
    lines = []
    for a in alerts:
        style, icon, word = SEVERITY_STYLE.get(a["severity"], ("info", "•", ""))
        lines.append(
            f'<div class="alert alert-{style}" role="alert" data-segment="{text(a["segment"])}" '
            f'data-severity="{text(a["severity"])}">'
            f'<span class="alert-icon" aria-label="{word}">{icon}</span> <strong>{word}:</strong> {text(a["message"])} '
            f'<a href="{text(segments_page)}#{group_anchor(a["segment_column"], a["segment"])}">details</a></div>'
        )
    more = total - len(alerts)
    if more > 0:
        lines.append(f'<p><a href="{text(segments_page)}">{int(more)} more alerts on the customer groups page</a></p>')
    return markup("\n".join(lines))


def valuebox(metric: dict, alerts: list[dict] | None = None, fmt: str = "{:.1f}") -> dict:
    """A Quarto value box for a headline metric, coloured by its honest status
    (:func:`stoffwechsel.monitoring.silence.tile_status`, written by the monitor stage): an alert's
    severity; green with a check mark only when the range rules out a harmful change of the
    minimum effect; otherwise neutral, "not clear yet" (never a check mark for mere silence)."""
    from stoffwechsel.monitoring.silence import TILE_STYLE

    color, icon, words = TILE_STYLE[metric.get("status", "not_clear")]
    value = fmt.format(metric["now"])
    change = metric.get("change")
    if change is not None and change == change:
        value += f" ({change:+.0%})"
    if metric.get("status", "not_clear") == "not_clear":
        value += " not clear yet"
    elif metric.get("share_of_outcomes_in", 1) < 0.999:
        value += " provisional"
    return dict(icon=icon, color=color, value=value)


def tile_sentences(headline: list[dict], metric_ids: tuple[str, ...]) -> list[str]:
    """What each headline tile without an alert means, in words: 'Purchases per 100 recommendations:
    not clear yet: ...' (a tile with an alert is told by its incident)."""
    by_id = {h["metric_id"]: h for h in headline}
    quiet = [m for m in metric_ids if m in by_id and by_id[m].get("status") in ("fine", "not_clear")]
    return [f"{glossary.METRICS[m]}: {by_id[m]['status_words']}." for m in quiet]


def incidents_html(incidents: list[dict], segments_page: str, quiet: list[str] | None = None) -> Markup:
    """The incidents, most urgent first: headline, when and how much (with ranges), the groups inside,
    the likely cause with its evidence, what to check first, a link to the groups' details; then
    what the silence of the rest means (``quiet``). Every text escaped."""
    lines = []
    if not incidents:
        lines.append(
            '<div class="alert alert-light" role="status"><span class="alert-icon">…</span> '
            "<strong>No alert:</strong> no change that today's data can show. That is not the same as "
            "no change: what could be seen by now is below and on the customer groups page.</div>"
        )
    for inc in incidents:
        style, icon, word = SEVERITY_STYLE.get(inc["severity"], ("info", "•", ""))
        groups = ", ".join(
            f"{g['group']} ({glossary.METRICS[g['metric_id']].lower()} {g['change']:+.0%})" for g in inc["groups"]
        )
        cause = (
            f"<li>Likely cause: {text(inc['cause_evidence'])}</li>"
            if inc["cause"]
            else "<li>No cause found in the data (reused product numbers and model updates were checked).</li>"
        )
        check = "" if inc["cause"] else f"<li>Check first: {text(inc['check_first'])}</li>"
        lead = inc["groups"][0]
        lines.append(
            f'<div class="alert alert-{style} incident" role="alert" id="{text(inc["id"])}" '
            f'data-severity="{text(inc["severity"])}" data-segment="{text(lead["segment"])}">'
            f'<span class="alert-icon" aria-label="{word}">{icon}</span> '
            f"<strong>{word}: {text(inc['headline'])}</strong>"
            f"<ul><li>When: {text(inc['when'])}; {text(inc['size'])}.</li>"
            f"<li>Groups inside: {text(groups)}.</li>{cause}{check}</ul>"
            f'<a href="{text(segments_page)}#{group_anchor(lead["segment_column"], lead["segment"])}">details</a></div>'
        )
    if quiet:
        lines.append("<p><strong>Where no alert fired:</strong></p><ul>")
        lines.extend(f"<li>{text(q)}</li>" for q in quiet)
        lines.append("</ul>")
    return markup("\n".join(lines))


def silence_lines(
    changes: pd.DataFrame, column: str, segment: str, params, since=None, metric_ids=("ctr", "purchases_per_100")
):
    """What could have been seen by now in one group, per metric without an alert, for a change from
    ``since`` (the current period's start) on (the monitor stage's ``changes.csv``)."""
    from stoffwechsel.monitoring.silence import silence_sentence

    rows = changes[
        (changes["segment_column"] == column)
        & (changes["segment"].astype(str) == str(segment))
        & changes["metric_id"].isin(metric_ids)
        & ~changes["alert"].astype(bool)
    ]
    order = {m: i for i, m in enumerate(metric_ids)}
    rows = rows.assign(_o=rows["metric_id"].map(order)).sort_values("_o")
    return [silence_sentence(r, params, since) for _, r in rows.iterrows()]


def watch_target(column: str, segment: str) -> str:
    """Where a watch-list line's "details" link lands on the customer groups page: the group's own
    place for all customers and the marketing segments (which always have one), else its grouping's
    heading (groups of other columns have a place of their own only where they have an alert)."""
    if column in ("all", "segment"):
        return group_anchor(column, segment)
    return anchor(glossary.SEGMENT_COLUMN_LABELS[column])


def watch_html(items: list[dict], segments_page: str) -> Markup:
    """The watch list below the alerts (:func:`stoffwechsel.monitoring.watch.watch_list`): the largest
    movements that are not alerts, in a plain list with a neutral heading (no alert colour, icon or
    role: none of it may read as an alert), each with a link to the group's detail. Empty: nothing."""
    if not items:
        return markup("")
    from stoffwechsel.monitoring.watch import WATCH_HEADING

    lines = [f'<div class="watch-list" role="note"><p><strong>{text(WATCH_HEADING)}:</strong></p><ul>']
    for item in items:
        link = f"{text(segments_page)}#{watch_target(item['segment_column'], item['segment'])}"
        lines.append(
            f'<li data-segment="{text(item["segment"])}" data-metric="{text(item["metric_id"])}">'
            f'{text(item["text"])} <a href="{link}">details</a></li>'
        )
    lines.append("</ul></div>")
    return markup("\n".join(lines))
