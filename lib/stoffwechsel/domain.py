"""The shop's vocabulary, in one place: what the production system's events, statuses and attribution
windows are, which values of the customer and product columns we know, which outcome metrics exist and
in which direction a change of each one hurts, and how alert severities rank.

Everything here is a fact about Stoffwechsel's systems (docs/materials.md), not a tuning choice:
thresholds and other settings live in ``params.yaml``. The contract (what a file must hold), the
simulator (what it writes), the features and the monitoring all import these names; business labels
for the ids defined here live in :mod:`stoffwechsel.glossary` only.
"""

from __future__ import annotations

__all__ = [
    "DAY_S",
    "OUTCOMES",
    "WINDOW_DAYS",
    "WINDOWS_S",
    "EVENT_TYPES",
    "SINGLE_UNIT_EVENTS",
    "OUTCOME_STATUSES",
    "RETURN_STATUSES",
    "KNOWN_VALUES",
    "SEASON_CODE",
    "CATEGORIES",
    "CERTIFICATIONS",
    "SEGMENTS",
    "AGE_BANDS",
    "REGIONS",
    "CHANNELS",
    "LOYALTY_TIERS",
    "INTEREST_LEVELS",
    "CUSTOMER_ID_SHAPE",
    "METRIC_IDS",
    "ALERT_METRIC_IDS",
    "OUTCOME_ALERT_METRIC_IDS",
    "PRIMARY_METRIC_IDS",
    "DIAGNOSIS_METRIC_IDS",
    "HARMFUL_DIRECTION",
    "TOTAL_METRIC_IDS",
    "SEVERITY_ORDER",
]

DAY_S = 86400.0

#: Attribution windows of the production system: (timestamp, status, anchor, window in days).
#: A click counts within 1 day of serving, a purchase within 14 days of serving, a return within
#: 30 days of the purchase; until then the status is "pending".
OUTCOMES: tuple[tuple[str, str, str, int], ...] = (
    ("clicked_at", "click_status", "served_at", 1),
    ("purchased_at", "purchase_status", "served_at", 14),
    ("returned_at", "return_status", "purchased_at", 30),
)
#: outcome -> attribution window in days / in seconds (the same windows as :data:`OUTCOMES`)
WINDOW_DAYS: dict[str, int] = {"click": OUTCOMES[0][3], "purchase": OUTCOMES[1][3], "return": OUTCOMES[2][3]}
WINDOWS_S: dict[str, float] = {outcome: days * DAY_S for outcome, days in WINDOW_DAYS.items()}

# Closed sets: these values carry meaning in the pipeline (a client's codes are mapped onto them).
EVENT_TYPES = ("browse", "wishlist", "purchase", "return")
SINGLE_UNIT_EVENTS = ("browse", "wishlist")
OUTCOME_STATUSES = ("yes", "no", "pending")
RETURN_STATUSES = ("yes", "no", "pending", "not_purchased")

CATEGORIES = (
    "tops",
    "shirts",
    "knitwear",
    "trousers",
    "jeans",
    "dresses",
    "skirts",
    "outerwear",
    "activewear",
    "accessories",
)
CERTIFICATIONS = ("GOTS", "Fair Trade", "OEKO-TEX", "bluesign", "GRS")
SEGMENTS = ("Eco Enthusiasts", "Trend Seekers", "Bargain Hunters", "Classic Professionals", "Occasional Shoppers")
AGE_BANDS = ("18-24", "25-34", "35-44", "45-54", "55+")
REGIONS = ("Berlin", "Hamburg", "München", "Köln", "Frankfurt", "Leipzig", "Other Germany", "Austria")
CHANNELS = ("web", "app", "store")
LOYALTY_TIERS = ("none", "silver", "gold")
INTEREST_LEVELS = ("low", "medium", "high")

#: Stoffwechsel's season codes: SS26 = spring/summer 2026 (1 Mar - 31 Aug), AW25 = autumn/winter
#: 2025/26 (1 Sep - end of Feb). Other codes are kept (a finding); they have no calendar bounds.
SEASON_CODE = r"(SS|AW)([0-9]{2})"

#: The value of a customer or transaction attribute that is blank or whose column is absent
#: (data contract; an invoice export's missing attributes): its own group, never a bad row.
UNKNOWN = "unknown"

#: Known values of the open vocabularies: used for wording and for findings, never to reject a row.
KNOWN_VALUES: dict[str, tuple[str, ...]] = {
    "category": CATEGORIES,
    "certifications": CERTIFICATIONS,
    "age_band": AGE_BANDS,
    "region": REGIONS,
    "preferred_channel": CHANNELS,
    "channel": CHANNELS,
    "loyalty_tier": LOYALTY_TIERS,
    "sustainability_interest": INTEREST_LEVELS,
    "segment": SEGMENTS,
}

#: The shape of Stoffwechsel's own customer numbers (C + 5-7 digits). The site's privacy self-check
#: looks for the accepted ids themselves; this shape is its fallback when no materials are at hand.
CUSTOMER_ID_SHAPE = r"\bC\d{5,7}\b"

#: Outcome metrics of the recommendations, by id (labels: glossary.METRICS).
METRIC_IDS = (
    "recs_shown",
    "ctr",
    "purchases_per_100",
    "kept_per_100",
    "revenue_eur",
    "revenue_per_100",
    "sustainable_share",
    "new_season_share",
    "reused_id_share",
)
#: metric id -> the direction in which a change hurts the business (-1: a fall hurts)
HARMFUL_DIRECTION: dict[str, int] = {
    "ctr": -1,
    "purchases_per_100": -1,
    "kept_per_100": -1,
    "revenue_per_100": -1,
    "sustainable_share": -1,
    "reused_id_share": +1,
}
#: diagnoses, not alarms: metrics that explain outcome changes and are never alerted on by
#: themselves (the share of reused product numbers drifts with normal catalogue turnover); the
#: monitoring names one as the likely cause of an outcome alert when it moved in the same group and time
DIAGNOSIS_METRIC_IDS = ("reused_id_share",)
#: the metrics compared with their reference and alerted on (revenue in total and shown counts depend
#: on traffic and sampling: revenue per 100 recommendations is the revenue metric alerted on; the
#: new-season share changes by design at every season launch; diagnoses are not alarms)
ALERT_METRIC_IDS = tuple(m for m in HARMFUL_DIRECTION if m not in DIAGNOSIS_METRIC_IDS)
#: the alert metrics every recommendation has an outcome for (weighted up in the false-alarm control)
PRIMARY_METRIC_IDS = ("ctr", "purchases_per_100")
#: the outcomes of the recommendations among them (a diagnosis can explain an alert on these)
OUTCOME_ALERT_METRIC_IDS = ("ctr", "purchases_per_100", "kept_per_100", "revenue_per_100")
#: metrics that are totals over a window (their usual level scales with the window's length)
TOTAL_METRIC_IDS = ("recs_shown", "revenue_eur")

#: alert severity -> rank (most urgent first)
SEVERITY_ORDER: dict[str, int] = {"critical": 0, "warning": 1, "info": 2}
