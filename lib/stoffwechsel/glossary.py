"""Business words first: every number the monitoring shows has a business label, and the
glossary maps it to its technical name and definition.

The dashboard and every alert message use only the business labels (``Term.label``); the raw
technical terms (``Term.term``: CTR, PSI, p-value, ...) appear only on the glossary page, which
renders :func:`glossary_table`. :func:`technical_terms_in` finds raw terms in a text, so tests
and the dashboard can check that a message is in business language.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass

import pandas as pd

from stoffwechsel.domain import ALERT_METRIC_IDS

__all__ = [
    "Term",
    "GLOSSARY",
    "METRICS",
    "ALERT_METRICS",
    "COLUMN_LABELS",
    "SEGMENT_COLUMN_LABELS",
    "TECHNICAL_TERMS",
    "label",
    "term",
    "glossary_table",
    "technical_terms_in",
]


@dataclass(frozen=True)
class Term:
    """One glossary entry.

    ``label`` is what a business reader sees, ``term`` the technical term (glossary page only),
    ``technical_name`` the identifier used in the output tables (``metric_id``, a column name or a
    drift feature), ``definition`` the exact technical definition, ``plain`` one plain sentence,
    ``unit`` how the value is expressed.
    """

    label: str
    term: str
    technical_name: str
    definition: str
    plain: str
    unit: str = ""
    kind: str = "metric"  # metric | drift | statistic | table


_TERMS = (
    # --- business metrics (per day / week, per customer group) ----------------------------------
    Term(
        "Recommendations shown",
        "impressions",
        "recs_shown",
        "number of rows of the production recommendation sample served in the window",
        "How many recommendations customers saw (in the sampled log).",
        "count",
    ),
    Term(
        "Click rate",
        "CTR (click-through rate)",
        "ctr",
        "clicks / recommendations shown x 100; a click counts within 1 day of serving",
        "Out of 100 recommendations, how many were clicked.",
        "%",
    ),
    Term(
        "Purchases per 100 recommendations",
        "conversion rate per impression",
        "purchases_per_100",
        "attributed purchases / recommendations shown x 100; a purchase counts within 14 days of serving",
        "Out of 100 recommendations, how many led to a purchase.",
        "per 100",
    ),
    Term(
        "Purchases kept per 100 recommendations",
        "return-adjusted conversion",
        "kept_per_100",
        "(attributed purchases - their returns) / recommendations shown x 100; a return counts within "
        "30 days of the purchase",
        "Out of 100 recommendations, how many led to a purchase the customer kept.",
        "per 100",
    ),
    Term(
        "Revenue from recommendations (EUR)",
        "attributed revenue",
        "revenue_eur",
        "sum of products.csv price_eur of the recommended product version (product_id + season) over "
        "recommendations with an attributed purchase (quantity 1 assumed)",
        "Money from purchases that followed a recommendation, at list price.",
        "EUR",
    ),
    Term(
        "Revenue per 100 recommendations (EUR)",
        "revenue per mille / 10",
        "revenue_per_100",
        "attributed revenue / recommendations shown x 100",
        "Money earned for every 100 recommendations shown.",
        "EUR per 100",
    ),
    Term(
        "Sustainable share",
        "certified share",
        "sustainable_share",
        "recommendations of product versions with at least one certification (GOTS, Fair Trade, "
        "OEKO-TEX, bluesign, GRS) / recommendations shown x 100",
        "How many of the recommended items carry a sustainability label.",
        "%",
    ),
    Term(
        "New-season share",
        "current-season share",
        "new_season_share",
        "recommendations whose product season is the season current at serving time (SS = March-August, "
        "AW = September-February) / recommendations shown x 100",
        "How many of the recommended items belong to the season now in the shops.",
        "%",
    ),
    Term(
        "Share of reused product numbers",
        "recycled-ID share",
        "reused_id_share",
        "recommendations of product versions whose product_id was used in an earlier season for a "
        "different product / recommendations shown x 100",
        "How many recommended items carry an article number that an older, different product had "
        "before (the known risk of mixing up products).",
        "%",
    ),
    # --- customer groups -------------------------------------------------------------------------
    Term(
        "Customer group",
        "segment (slice)",
        "segment_column / segment",
        "customers grouped by one customers.csv column (segment, age_band, region, preferred_channel, "
        "loyalty_tier, sustainability_interest), by "
        "new vs returning, or by marketing segment x age band; groups with fewer distinct customers than "
        "the minimum in a window are not shown",
        "A set of customers we look at separately.",
        "",
        "table",
    ),
    Term(
        "New customers",
        "new customer",
        "customer_type = New customers",
        "customers whose signup_date is less than new_customer_days (default 90) days before served_at of "
        "the recommendation; decided per recommendation",
        "Customers who signed up in the last 90 days.",
        "",
        "table",
    ),
    # --- label delay -----------------------------------------------------------------------------
    Term(
        "Still to come",
        "pending label (censoring)",
        "pending",
        "an outcome whose attribution window (1 / 14 / 30 days) had not closed at export time; counted "
        "as 'not yet', never as 'no'",
        "Outcomes that can still happen: we wait, we do not count them as misses.",
        "",
        "statistic",
    ),
    Term(
        "Share of outcomes already in",
        "label completeness",
        "completeness",
        "mean over the window's recommendations of the delay CDF F(export_time - served_at) (returns: "
        "- purchased_at), F estimated from cohorts whose windows closed before export",
        "How much of the final number we have probably seen already.",
        "%",
        "statistic",
    ),
    Term(
        "Time until outcomes arrive",
        "delay distribution (CDF)",
        "delay_curves",
        "empirical distribution of event time - served_at (returns: - purchased_at) among events of "
        "cohorts whose attribution window closed before export",
        "After how long we usually see clicks, purchases and returns.",
        "",
        "statistic",
    ),
    Term(
        "Expected final value",
        "completeness-adjusted estimate",
        "estimate",
        "events seen / (sum over recommendations of F(age)) x 100: a ratio estimator of the final rate",
        "Our best guess of where the number ends once all outcomes are in.",
        "",
        "statistic",
    ),
    Term(
        "Range once all outcomes are in",
        "predictive interval",
        "estimate_low / estimate_high",
        "central interval (param interval, default 90%) of the final value: seen events + negative-binomial "
        "draws of the events still to come (Jeffreys prior), with completeness drawn from a Bayesian "
        "bootstrap of the delay distribution",
        "Where the number will most likely land when every outcome is known.",
        "",
        "statistic",
    ),
    Term(
        "Plausible range",
        "credible interval of the rate",
        "rate_low / rate_high",
        "central interval of the underlying rate: Gamma(events + 1/2) / exposure draws (Jeffreys), "
        "exposure = recommendations x completeness draws",
        "The range the true rate of this group probably lies in, allowing for chance.",
        "",
        "statistic",
    ),
    Term(
        "Observed so far (outcomes in)",
        "matured-only rate",
        "observed",
        "events / recommendations, over the recommendations whose attribution window has closed",
        "The number over the recommendations whose outcomes are all in.",
        "",
        "statistic",
    ),
    Term(
        "Usual level",
        "reference value",
        "expected / reference",
        "the same metric over the reference period (first reference_weeks weeks of the file) for the "
        "same customer group",
        "What the number normally was for this group.",
        "",
        "statistic",
    ),
    # --- statistics ------------------------------------------------------------------------------
    Term(
        "Chance of a fluke",
        "p-value",
        "p_value",
        "two-sided exact test: Fisher's exact test of two proportions when all outcomes are in; the "
        "conditional binomial test of two Poisson rates with completeness-weighted exposure otherwise; "
        "a normal test on the log of posterior draws for purchases kept",
        "How likely a change this large is by chance alone.",
        "",
        "statistic",
    ),
    Term(
        "Chance of a false alarm",
        "q-value (Benjamini-Hochberg)",
        "q_value",
        "p-values adjusted with Benjamini-Hochberg (scipy.stats.false_discovery_control) in four families, "
        "all customers; marketing segments' click rate and purchases; the other single columns'; crossed "
        "groups and secondary outcomes, each divided by its share (fdr_share_*) of the false-alarm budget; "
        "alerts need q <= fdr",
        "An alert needs this to be at most the false-alarm setting: then on average at most 1 in 20 "
        "alerts is a false alarm. It is not the chance that this alert is right.",
        "",
        "statistic",
    ),
    Term(
        "False-alarm control",
        "FDR (false discovery rate), BH",
        "fdr",
        "expected share of false alerts among all alerts, kept at or below the fdr param (default 5%)",
        "Out of 100 alerts, at most about 5 may be false alarms.",
        "",
        "statistic",
    ),
    Term(
        "Minimum change worth an alert",
        "minimum relative effect size",
        "min_relative_effect",
        "alert only if the whole range of the final value lies beyond reference x (1 +/- min_relative_effect)",
        "Changes smaller than this are not worth anybody's time, however sure we are.",
        "",
        "statistic",
    ),
    Term(
        "Severity",
        "alert severity",
        "severity",
        "critical: q <= critical_q and relative change >= critical_relative_effect in the harmful "
        "direction; warning: other harmful alerts; info: a significant change for the better",
        "How urgently somebody should look.",
        "",
        "statistic",
    ),
    # --- drift -----------------------------------------------------------------------------------
    Term(
        "Size of the shift",
        "PSI (population stability index)",
        "psi",
        "sum_i (p_i - q_i) ln(p_i / q_i) over bins, counts smoothed by +0.5; < 0.1 stable, 0.1-0.25 "
        "moderate, > 0.25 major",
        "How differently things are spread out now compared with the usual period.",
        "",
        "drift",
    ),
    Term(
        "Difference between the two mixes",
        "Jensen-Shannon distance",
        "js_distance",
        "scipy.spatial.distance.jensenshannon(p, q, base=2): 0 identical, 1 disjoint",
        "0 means the same mix as usual, 1 means nothing in common.",
        "",
        "drift",
    ),
    Term(
        "Shift level",
        "drift level",
        "level",
        "major shift: PSI >= 0.25 and chi-square q <= 0.01; moderate shift: PSI >= 0.1 and q <= fdr; "
        "stable otherwise (q: Benjamini-Hochberg over the drift table)",
        "Whether the mix changed beyond what chance explains.",
        "",
        "drift",
    ),
    Term(
        "Model confidence",
        "production score distribution",
        "score",
        "distribution of the production model's score over 10 bins cut at the deciles of the reference "
        "period (all customers)",
        "How sure the recommendation model was about the items it showed.",
        "",
        "drift",
    ),
    Term(
        "Product category mix",
        "category distribution",
        "category",
        "share of recommendations per products.csv category",
        "Which kinds of clothes are recommended.",
        "",
        "drift",
    ),
    Term(
        "Certification mix",
        "certification distribution",
        "certification",
        "share of certification labels among recommended items (multi-valued, each label counted; "
        "'none' for items without)",
        "Which sustainability labels the recommended items carry.",
        "",
        "drift",
    ),
    Term(
        "Season mix",
        "season distribution",
        "season",
        "share of recommendations of the current season vs older seasons (clearance)",
        "How much is new-season stock and how much clearance.",
        "",
        "drift",
    ),
    Term(
        "Reused product numbers",
        "recycled-ID distribution",
        "reused_id",
        "share of recommendations of product versions whose product_id was used before vs first-use ids",
        "How often an article number that belonged to another product is recommended.",
        "",
        "drift",
    ),
    Term(
        "Customer mix",
        "traffic mix",
        "traffic",
        "share of recommendations per customer group of one grouping (small groups pooled)",
        "Which customers the recommendations went to.",
        "",
        "drift",
    ),
    # --- root cause ------------------------------------------------------------------------------
    Term(
        "Change from customer mix",
        "shift-share decomposition: mix effect",
        "mix_effect",
        "sum_s (w1_s - w0_s) (m0_s + m1_s) / 2, w = share of recommendations, m = metric of group s",
        "How much of the change comes from showing recommendations to different customers.",
        "",
        "table",
    ),
    Term(
        "Change within customer groups",
        "shift-share decomposition: within effect",
        "within_effect",
        "sum_s (m1_s - m0_s) (w0_s + w1_s) / 2; mix + within = total change exactly",
        "How much of the change comes from customers behaving differently.",
        "",
        "table",
    ),
    # --- other technical terms readers may meet ------------------------------------------------------
    Term(
        "Ranking quality",
        "NDCG (normalised discounted cumulative gain)",
        "ndcg",
        "DCG@k / ideal DCG@k with gain 1/log2(position + 1); not computed in monitoring (the sample holds "
        "one shown item per row, not whole lists)",
        "Whether the best items are at the top of the list.",
        "",
        "statistic",
    ),
    Term(
        "Estimate from model confidence",
        "CBPE (confidence-based performance estimation)",
        "cbpe",
        "not used: the model scores the mis-keyed SS26 items like other items (simulated data: mean score "
        "0.45 vs 0.47) while they are clicked about six times less, so estimates from calibrated scores "
        "would miss exactly the drift monitoring must see; label delay is handled by delay curves instead",
        "Guessing results from how sure the model was, before outcomes arrive.",
        "",
        "statistic",
    ),
)

#: business label -> Term
GLOSSARY: dict[str, Term] = {t.label: t for t in _TERMS}

#: metric_id -> business label, in dashboard order
METRICS: dict[str, str] = {t.technical_name: t.label for t in _TERMS if t.kind == "metric"}

#: the metrics compared with their reference and alerted on (stoffwechsel.domain)
ALERT_METRICS = ALERT_METRIC_IDS

#: drift feature id -> business label
DRIFT_FEATURES: dict[str, str] = {
    t.technical_name: t.label
    for t in _TERMS
    if t.kind == "drift" and t.technical_name not in ("psi", "js_distance", "level")
}

#: grouping column -> business label
SEGMENT_COLUMN_LABELS: dict[str, str] = {
    "all": "All customers",
    "segment": "Marketing segment",
    "age_band": "Age",
    "region": "Region",
    "preferred_channel": "Preferred channel",
    "loyalty_tier": "Loyalty tier",
    "sustainability_interest": "Interest in sustainability",
    "customer_type": "New or returning",
    "segment_x_age_band": "Marketing segment and age",
}

#: output table column -> business label (headers for the dashboard)
COLUMN_LABELS: dict[str, str] = {
    "period": "Period type",
    "window_start": "From",
    "window_end": "To",
    "segment_column": "Grouping",
    "segment": "Customer group",
    "metric_id": "Metric (code)",
    "metric": "Metric",
    "recs": "Recommendations shown",
    "customers": "Customers",
    "recs_matured": "Recommendations with all outcomes in",
    "events": "Outcomes seen",
    "exposure": "Recommendations, weighted by outcomes already in",
    "observed": "Observed so far (outcomes in)",
    "completeness": "Share of outcomes already in",
    "estimate": "Expected final value",
    "estimate_low": "Range once all outcomes are in: low",
    "estimate_high": "Range once all outcomes are in: high",
    "rate_low": "Plausible range: low",
    "rate_high": "Plausible range: high",
    "reference": "Usual level",
    "expected": "Usual level",
    "change": "Change against usual level",
    "p_value": "Chance of a fluke",
    "q_value": "Chance of a false alarm",
    "alert": "Alert",
    "severity": "Severity",
    "message": "What happened",
    "feature": "What is compared",
    "feature_id": "What is compared (code)",
    "psi": "Size of the shift",
    "js_distance": "Difference between the two mixes",
    "level": "Shift level",
    "mix_effect": "Change from customer mix",
    "within_effect": "Change within customer groups",
    "total_change": "Total change",
    "reference_share": "Share of recommendations, usual period",
    "current_share": "Share of recommendations, now",
    "reference_value": "Usual level",
    "current_value": "Now",
    "outcome": "Outcome",
    "delay": "Time after the recommendation",
    "delay_unit": "Unit",
    "share_observed": "Share of final outcomes seen by then",
}

#: raw technical words that must not appear in business text: the package's alert wording
#: (:func:`technical_terms_in`: case-sensitively for acronyms, case-insensitively for the rest) and
#: the site's pages outside the glossary and analyst blocks
#: (:func:`stoffwechsel.site.scan.forbidden_terms_report`: case-insensitively, plurals included)
TECHNICAL_TERMS = (
    "CTR",
    "PSI",
    "NDCG",
    "CBPE",
    "FDR",
    "BH",
    "KS",
    "JS",
    "CDF",
    "AUC",
    "RMSE",
    "MAP@K",
    "recall@k",
    "precision@k",
    "p-value",
    "p value",
    "q-value",
    "q value",
    "p_value",
    "q_value",
    "z-score",
    "Benjamini",
    "Hochberg",
    "Benjamini-Hochberg",
    "Jensen",
    "Shannon",
    "Jensen-Shannon",
    "Kolmogorov-Smirnov",
    "Poisson",
    "binomial",
    "Fisher",
    "chi-square",
    "chi-squared",
    "isotonic",
    "confidence interval",
    "credible",
    "segment_column",
    "metric_id",
    "age_band",
    "preferred_channel",
    "loyalty_tier",
    "sustainability_interest",
    "customer_type",
    "segment_x_age_band",
    "window_start",
    "window_end",
    "purchase_status",
    "click_status",
    "return_status",
    "served_at",
    "customer_id",
    "product_id",
    "null",
    "NaN",
    # wrong phrasings: a q-value is not the chance that an alert is right (issue 16)
    "% sure",
    "sure this is not chance",
    "sure it is not chance",
)
_ACRONYMS = {t for t in TECHNICAL_TERMS if t.isupper()}


def label(technical_name: str) -> str:
    """The business label of a metric id, drift feature, grouping or table column."""
    for table in (METRICS, DRIFT_FEATURES, SEGMENT_COLUMN_LABELS, COLUMN_LABELS):
        if technical_name in table:
            return table[technical_name]
    raise KeyError(f"no business label for '{technical_name}'")


def term(business_label: str) -> Term:
    """The glossary entry of a business label."""
    return GLOSSARY[business_label]


def glossary_table() -> pd.DataFrame:
    """The glossary page: one row per term, business label first."""
    frame = pd.DataFrame([asdict(t) for t in _TERMS])
    return frame[["label", "term", "technical_name", "definition", "plain", "unit", "kind"]]


def technical_terms_in(text: str) -> list[str]:
    """The raw technical terms found in ``text`` (empty list = business language only)."""
    found = []
    for raw in TECHNICAL_TERMS:
        if raw in _ACRONYMS:
            if re.search(rf"(?<![A-Za-z]){re.escape(raw)}(?![A-Za-z])", text):
                found.append(raw)
        elif re.search(rf"(?<![A-Za-z_]){re.escape(raw)}(?![A-Za-z_])", text, flags=re.IGNORECASE):
            found.append(raw)
    return found
