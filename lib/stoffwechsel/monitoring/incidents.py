"""Incidents: alerts that share one cause, told once.

A shift in one customer group shows in every grouping that contains its customers and often in
more than one metric (fewer clicks, so fewer purchases). An alert belongs to an incident when its
change goes the same way as the incident's lead alert, their onsets lie within
``INCIDENT_ONSET_DAYS`` of each other, and they are about the same metric, or about the same
group or a group and its crossings (``Trend Seekers`` and ``Trend Seekers aged 18-24``). An incident
has a headline in the owner's
words ("Trend Seekers buy 85% less from recommendations since about 2 March 2026"), the groups
inside it with their changes, the likely cause of the lead's change with its evidence (a diagnosis
of :mod:`.diagnosis`) and what to check first. The Overview lists
incidents, most urgent first: severity, then the size of the largest harmful change.

**One planted cause, one headline** (issue 26). A change in one group shows in every group that
holds its customers, diluted where they are a minority (a tier's drop in the segments) and noisier
where the group is a part of it (a crossing). The lead, whose words are the headline, is the alert
with the strongest evidence (the smallest scan p-value) among the named groups; all customers lead
only an incident of their own. The group whose own change explains the others has both the full
size of the change and all of its customers, so it is the one whose evidence is strongest; the
severity of an incident is its most severe member's.
"""

from __future__ import annotations

import pandas as pd

from stoffwechsel.domain import HARMFUL_DIRECTION, SEVERITY_ORDER
from stoffwechsel.formats import date_words
from stoffwechsel.monitoring.wording import onset_words, percent_range

__all__ = ["INCIDENT_ONSET_DAYS", "build_incidents", "incident_headline"]

#: alerts whose onsets lie at most this many days apart can share a cause
INCIDENT_ONSET_DAYS = 7

_CROSSINGS = {"segment_x_age_band": ("segment", "age_band")}


def _parts(alert: dict) -> set[tuple[str, str]]:
    """The (column, value) pairs a group is made of (a crossing: both of its parts)."""
    col, value = alert["segment_column"], str(alert["segment"])
    if col in _CROSSINGS:
        seg, _, age = value.rpartition(", ")
        return {(col, value), (_CROSSINGS[col][0], seg), (_CROSSINGS[col][1], age)}
    return {(col, value)}


def _related_groups(a: dict, b: dict) -> bool:
    """Same group, or a group and a crossing that contains it."""
    if (a["segment_column"], str(a["segment"])) == (b["segment_column"], str(b["segment"])):
        return True
    return bool(_parts(a) & _parts(b)) and (a["segment_column"] in _CROSSINGS or b["segment_column"] in _CROSSINGS)


def _onset_gap(a: dict, b: dict) -> int:
    return abs((pd.Timestamp(a["onset"]) - pd.Timestamp(b["onset"])).days)


def _close_onsets(a: dict, b: dict) -> bool:
    return _onset_gap(a, b) <= INCIDENT_ONSET_DAYS


def _one_cause(a: dict, b: dict) -> bool:
    same_way = (a["change"] or 0) * (b["change"] or 0) > 0
    return same_way and _close_onsets(a, b) and (a["metric_id"] == b["metric_id"] or _related_groups(a, b))


_VERBS = {  # metric id -> (words for a fall, words for a rise); {who} is the group, {pct} the size
    "ctr": ("{who} click {pct} less on recommendations", "{who} click {pct} more on recommendations"),
    "purchases_per_100": ("{who} buy {pct} less from recommendations", "{who} buy {pct} more from recommendations"),
    "kept_per_100": (
        "{who} keep {pct} fewer of the items recommendations sold them",
        "{who} keep {pct} more of the items recommendations sold them",
    ),
    "revenue_per_100": (
        "Recommendations earn {pct} less from {who_lower}",
        "Recommendations earn {pct} more from {who_lower}",
    ),
    "sustainable_share": (
        "{pct} fewer sustainable products are recommended to {who_lower}",
        "{pct} more sustainable products are recommended to {who_lower}",
    ),
}


def incident_headline(alert: dict) -> str:
    """The incident's headline from its lead alert, in the owner's words."""
    who = alert["group"]
    fall, rise = _VERBS[alert["metric_id"]]
    pct = f"{abs(alert['change']) * 100:.0f}%"
    text = (fall if alert["change"] < 0 else rise).format(who=who[0].upper() + who[1:], who_lower=who, pct=pct)
    return f"{text[0].upper()}{text[1:]} since about {date_words(alert['onset'])}"


def _harm(alert: dict) -> float:
    """The size of a harmful change (0 for a change for the better)."""
    change = alert["change"] or 0.0
    return abs(change) if change * HARMFUL_DIRECTION[alert["metric_id"]] > 0 else 0.0


def _rank(a: dict) -> tuple:
    """Lead first: a named group before all customers, the strongest evidence (smallest p-value),
    then the most severe and the largest change."""
    return (
        a["segment_column"] == "all",
        float(a["p_value"]) if a.get("p_value") is not None else 1.0,
        SEVERITY_ORDER.get(a["severity"], 9),
        -abs(a["change"] or 0),
        a["segment_column"],
        str(a["segment"]),
        a["metric_id"],
    )


def build_incidents(alerts: list[dict]) -> list[dict]:
    """Alerts grouped into incidents (module docstring), most urgent first. Each alert, lead
    candidates first, joins the incident whose lead group (any of the lead group's alerts) it
    shares a cause with (of several, the one with the nearest onset), else leads a new one:
    membership is judged against the lead's group, so two unrelated changes are never chained
    together through an alert that is close to both."""
    groups: list[list[dict]] = []
    for a in sorted(alerts, key=_rank):
        best, gap = None, None
        for members in groups:
            lead = members[0]
            core = [
                m for m in members if (m["segment_column"], m["segment"]) == (lead["segment_column"], lead["segment"])
            ]
            near = [_onset_gap(m, a) for m in core if _one_cause(m, a)]
            # an alert close to two incidents joins the one whose onset is nearest (first on a tie)
            if near and (gap is None or min(near) < gap):
                best, gap = members, min(near)
        if best is not None:
            best.append(a)
        else:
            groups.append([a])
    incidents = []
    for group in groups:
        lead = group[0]
        severity = min((a["severity"] for a in group), key=lambda v: SEVERITY_ORDER.get(v, 9))
        # the cause of the lead's own change; another member's cause is named only for its own group
        incidents.append(
            {
                "severity": severity,
                "headline": incident_headline(lead),
                "metric_id": lead["metric_id"],
                "onset": lead["onset"],
                "onset_low": lead.get("onset_low"),
                "onset_high": lead.get("onset_high"),
                "when": onset_words(lead["onset"], lead.get("onset_low"), lead.get("onset_high")),
                "size": f"the true change is probably {percent_range(lead['change_low'], lead['change_high'])}",
                "cause": lead.get("cause", ""),
                "cause_evidence": lead["check_first"] if lead.get("cause") else "",
                "check_first": lead["check_first"],
                "groups": [
                    {
                        "group": a["group"],
                        "segment_column": a["segment_column"],
                        "segment": a["segment"],
                        "metric": a["metric"],
                        "metric_id": a["metric_id"],
                        "change": a["change"],
                        "change_low": a["change_low"],
                        "change_high": a["change_high"],
                        "onset": a["onset"],
                        "severity": a["severity"],
                        "cause": a.get("cause", ""),
                    }
                    for a in group
                ],
                "_urgency": (SEVERITY_ORDER.get(severity, 9), -max(_harm(a) for a in group), lead["onset"]),
            }
        )
    incidents.sort(key=lambda i: (i["_urgency"], i["headline"]))
    for k, inc in enumerate(incidents, 1):
        del inc["_urgency"]
        inc["id"] = f"incident-{k}"
    return incidents
