"""Building blocks for the website's pages (notebooks in ``notebooks/pages/``), in business
language: tables with business headers, analyst details folded away, and the page inputs read
from the pipeline's deterministic outputs (never from the raw materials, never per customer)."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pandas as pd

from stoffwechsel import config, formats, glossary
from stoffwechsel.site.html_safety import Markup, markdown_text, markup, text

ANALYST_CLASS = "for-analysts"


def read_json(relative: str) -> dict:
    return json.loads((config.ROOT / relative).read_text(encoding="utf-8"))


def number(value: object, digits: int = 3) -> str:
    """A number for owners: thousands separators, never scientific notation (``3,900``, not
    ``3.9e+03``); whole numbers without decimals, others to ``digits`` significant digits (at most
    6 decimals); missing as empty."""
    if value is None or isinstance(value, bool) or (isinstance(value, float) and math.isnan(value)):
        return "" if not isinstance(value, bool) else str(value)
    try:
        v = float(value)
    except (TypeError, ValueError):
        return str(value)
    if math.isnan(v):
        return ""
    if v.is_integer():
        return f"{int(v):,}"
    places = min(6, max(0, digits - 1 - math.floor(math.log10(abs(v)))))
    return f"{v:,.{places}f}"


def table(
    frame: pd.DataFrame, headers: dict[str, str] | None = None, percent: tuple[str, ...] = (), digits: int = 3
) -> Markup:
    """An HTML table with business headers; percentages and numbers formatted (:func:`number`),
    no index. Every cell and header is escaped (it may hold a value from the shop's files)."""
    shown = frame.copy()
    for col in shown.columns:
        if col in percent:
            shown[col] = shown[col].map(lambda v: "" if pd.isna(v) else f"{v:.0%}")
        elif pd.api.types.is_numeric_dtype(shown[col]) and not pd.api.types.is_bool_dtype(shown[col]):
            shown[col] = shown[col].map(lambda v: number(v, digits))
    shown = shown.rename(columns=headers or {})
    return markup(shown.to_html(index=False, border=0, classes="table", na_rep="", escape=True))


def for_analysts(content: str, summary: str = "For analysts: technical names and exact numbers") -> Markup:
    """Technical detail folded into a block the business reader can ignore. ``content`` is
    escaped unless it is package-built :class:`Markup` (e.g. from :func:`table`)."""
    return markup(f'<details class="{ANALYST_CLASS}"><summary>{text(summary)}</summary>{text(content)}</details>')


def paragraph(value: object) -> Markup:
    """A ``<p>`` of text (escaped)."""
    return markup(f"<p>{text(value)}</p>")


def preformatted(value: object) -> Markup:
    """A ``<pre>`` block of text (escaped), e.g. JSON evidence."""
    return markup(f"<pre>{text(value)}</pre>")


def heading(value: object, level: int = 4) -> Markup:
    """An HTML heading of text (escaped)."""
    return markup(f"<h{int(level)}>{text(value)}</h{int(level)}>")


def md(value: object) -> str:
    """A value for a Markdown output (``display(Markdown(...))``, ``output: asis``): shown as
    literal text by both renderers (:func:`stoffwechsel.site.html_safety.markdown_text`)."""
    return markdown_text(value)


#: the data contract's and the resolve stage's reasons, in business words: (pattern on the raw
#: reason, words); the first match wins. Grouped, so one line per kind of problem.
REASON_WORDS = (
    (r"no version of product_id on sale", "product was not on sale on that day"),
    (r"return_of refers to a purchase", "return of a purchase that could not be matched"),
    (r"return without return_of|return_of given", "return not linked to its purchase"),
    (r"not a timestamp|not a date|skipped by|daylight", "date or time unreadable"),
    (r"required value is empty|empty", "required value missing"),
    (r"duplicate|twice|more than once", "listed more than once"),
    (
        r"unknown (product|customer|event)|not in (products|customers)|refers to",
        "refers to something not in the other files",
    ),
    (r"unknown value|allowed:|unknown certification", "value outside the agreed list"),
    (r"description", "product description too short or too long"),
    (r"not a number|not an integer|decimals|must be [<>]=?|must be 1", "number out of range or unreadable"),
    (r"before|after|more than .* after|window", "dates in an impossible order"),
    (r"status", "outcome status contradicts its dates"),
    (r"str_matches|pattern|does not match", "identifier in an unexpected form"),
)


def business_reason(reason: str) -> str:
    """A raw quarantine reason in business words (grouped; unknown ones: 'other problem')."""
    for pattern, words in REASON_WORDS:
        if re.search(pattern, str(reason), re.IGNORECASE):
            return words
    return "other problem"


def data_quality(root: Path | None = None) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """Rows read/accepted/set aside per file, set-aside rows by reason in business words
    (grouped; counts only: the values may hold customer numbers), and how reused article
    numbers were resolved."""
    root = root or config.ROOT
    profile = json.loads((root / "reports/profile/profile.json").read_text())
    files = pd.DataFrame(profile["rows"]).T.reset_index().rename(columns={"index": "file"})
    frames = []
    for rel in ("reports/profile/quarantine.csv", "reports/resolve/quarantine.csv"):
        path = root / rel
        if path.is_file() and path.stat().st_size > 0:
            q = pd.read_csv(path, dtype=str, keep_default_na=False)
            if not q.empty:
                file_col = q["file"] if "file" in q else "transactions.csv"
                frames.append(pd.DataFrame({"file": file_col, "reason": q["reason"].map(business_reason)}))
    reasons = (
        pd.concat(frames)
        .groupby(["file", "reason"])
        .size()
        .rename("rows")
        .reset_index()
        .sort_values(["file", "rows", "reason"], ascending=[True, False, True], ignore_index=True)
        if frames
        else pd.DataFrame(columns=["file", "reason", "rows"])
    )
    resolution = json.loads((root / "reports/resolve/resolution.json").read_text())
    return files, reasons, resolution


#: how the resolve stage tied a transaction to one product version, in business words
RESOLUTION_WORDS = {
    "quarantined": "set aside (no product on sale that day)",
    "season given": "season given in the transaction",
    "single sale window": "only one version on sale that day",
    "overlap rule (price, then in-season)": "two versions on sale: matched by price, then by season",
    "return of purchase": "a return: same product as its purchase",
}


def resolution_table(resolution: dict) -> tuple[pd.DataFrame, dict]:
    """How every transaction was tied to one product and season: one row per rule with two
    counts, all transactions and those of reused article numbers, and a total row that is the
    sum of the rows above it. Also the numbers of the sentence above the table (``read``: rows
    read; ``reused``: transactions of reused numbers; ``ids``: reused numbers; ``set_aside``).
    Raises ValueError when a column does not sum to its file's total (the page would contradict
    itself)."""
    rows = {k: int(v) for k, v in resolution["rows"].items() if k != "rows_read"}
    r = resolution["recycled_ids"]
    reused = {k: int(v) for k, v in r.get("events_by_rule", {}).items()}
    reused["quarantined"] = int(r.get("events_quarantined", 0))
    rules = sorted(set(rows) | set(reused), key=lambda k: (k == "quarantined", -rows.get(k, 0), k))
    out = pd.DataFrame(
        {
            "how": [RESOLUTION_WORDS.get(k, k) for k in rules],
            "all": [rows.get(k, 0) for k in rules],
            "reused": [reused.get(k, 0) for k in rules],
        }
    )
    facts = {
        "read": int(resolution["rows"]["rows_read"]),
        "reused": int(r["events_resolved"]) + reused["quarantined"],
        "ids": int(r["ids"]),
        "set_aside": rows.get("quarantined", 0),
        "reused_set_aside": reused["quarantined"],
    }
    if out["all"].sum() != facts["read"] or out["reused"].sum() != facts["reused"]:
        raise ValueError(
            f"reports/resolve/resolution.json: the rules sum to {out['all'].sum()} transactions "
            f"({out['reused'].sum()} of reused numbers), the file says {facts['read']} "
            f"({facts['reused']})"
        )
    total = pd.DataFrame({"how": ["Total"], "all": [facts["read"]], "reused": [facts["reused"]]})
    return pd.concat([out, total], ignore_index=True), facts


def resolution_sentence(facts: dict) -> str:
    """The sentence above :func:`resolution_table`, naming what each number counts."""
    return (
        f"Of the {number(facts['read'])} transactions read, {number(facts['reused'])} are of the "
        f"{number(facts['ids'])} article numbers that were reused; "
        f"{number(facts['reused'] - facts['reused_set_aside'])} "
        f"of these were tied to one product and season ({number(facts['reused_set_aside'])} set aside). "
        f"The table counts every transaction by how its product and season were found."
    )


#: feature families in the owner's words (the stores' own descriptions and version hashes go to
#: the analysts' fold): technical view name -> (family, what it holds)
FEATURE_FAMILY_WORDS = {
    "customer_profile": ("Customer profile", "What the customer told us at signup."),
    "customer_activity": (
        "Customer activity",
        "What each customer viewed, bought and returned before that week (weekly).",
    ),
    "product_catalog": (
        "Product catalogue",
        "Each product's attributes in its season, known from its first day on sale.",
    ),
    "product_activity": ("Product activity", "How often each product was viewed, bought and returned (weekly)."),
    "product_embedding": (
        "Product descriptions",
        "What each product's description says, condensed into numbers, and its style group.",
    ),
    "customer_taste": (
        "Customer taste",
        "Each customer's taste, from the descriptions of the products they viewed or bought (weekly).",
    ),
}
#: who a feature family describes, in the owner's words
ENTITY_WORDS = {"customer": "customer", "product_version": "product in one season"}


def feature_families(views) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The feature families for owners (business name, who it describes, how many features, what
    it holds) and for analysts (technical name and version), from ``(name, FeatureView)`` pairs."""
    owner, analyst = [], []
    for name, view in views:
        family, holds = FEATURE_FAMILY_WORDS.get(name, (name.replace("_", " ").capitalize(), view.description))
        entity = view.entities[0].name
        owner.append(
            {
                "Feature family": family,
                "Describes": ENTITY_WORDS.get(entity, entity.replace("_", " ")),
                "Features": len(view.fields),
                "What it holds": holds,
            }
        )
        analyst.append(
            {"family": family, "feature view": name, "version": view.version, "description": view.description}
        )
    return pd.DataFrame(owner), pd.DataFrame(analyst)


#: the models and simple rules of the offline comparison in the owner's words
MODEL_WORDS = {
    "combined": "with product descriptions",
    "tabular": "without product descriptions",
    "popularity": "most popular products",
    "category popularity": "popular in favourite categories",
    "taste similarity": "closest to taste",
}


def hit_chart(tidy: pd.DataFrame):
    """Share of customers (%) whose first N recommendations held a product they then bought, by
    list length N, per model with its 95% range (the text above it speaks in percentages too)."""
    import matplotlib.pyplot as plt

    from stoffwechsel.data.profiling import PALETTE

    data = tidy[tidy["metric"] == "hit_rate"]
    fig, ax = plt.subplots(figsize=(10, 3.8))
    lines = {}
    for colour, (model, g) in zip(PALETTE, data.groupby("model", sort=True)):
        g = g.sort_values("k")
        (lines[model],) = ax.plot(g["k"], g["value"] * 100, marker="o", color=colour)
        ax.fill_between(g["k"], g["low"] * 100, g["high"] * 100, color=colour, alpha=0.15)
    # the legend beside the chart (inside it hid the lines), best first at the longest list
    last = data[data["k"] == data["k"].max()].set_index("model")["value"]
    order = sorted(lines, key=lambda m: (-last.get(m, 0.0), m))
    ax.set_xticks(sorted(data["k"].unique()))
    ax.set(
        title="Customers who bought one of the first recommendations (95% ranges)",
        xlabel="Number of recommendations shown",
        ylabel="Share of customers (%)",
    )
    ax.set_ylim(bottom=0)
    ax.legend(
        [lines[m] for m in order],
        [MODEL_WORDS.get(m, m) for m in order],
        fontsize=10,
        loc="upper left",
        bbox_to_anchor=(1.01, 1),
        frameon=False,
        title=f"at {int(data['k'].max())} recommendations, best first",
        title_fontsize=9,
    )
    fig.tight_layout()
    return fig


#: baselines in plain words (what a shop would show without a model)
BASELINE_WORDS = {
    "popularity": "showing the most popular products",
    "category popularity": "showing the most popular products of each customer's favourite categories",
    "taste similarity": "showing the products closest to each customer's taste",
    "buy it again": "showing each customer what they bought before, then the most popular products",
}


def _lists(metrics: list[str]) -> str:
    """'hit_rate@5', 'ndcg@5' -> 'the top 5' (the list lengths the metrics are about)."""
    ks = sorted({int(m.split("@")[1]) for m in metrics})
    return "the top " + ", ".join(map(str, ks[:-1])) + (" and " if len(ks) > 1 else "") + str(ks[-1])


def offline_result_sentences(evaluation: dict) -> list[str]:
    """The offline comparison in plain words, with the 95% ranges: the combined model against
    tabular-only AND against the best simple rule; where a simple rule wins, it says so first."""
    m = evaluation["models"]

    def pct(model: str, metric: str) -> str:
        v = m[model][metric]
        return f"{v['value']:.0%} (range {v['low']:.0%} to {v['high']:.0%})"

    claim = evaluation["claim"]
    better = claim["combined_beats_tabular_on"]
    best = claim.get("best_baseline") or evaluation.get("best_baseline", {}).get("name", "popularity")
    base_wins = claim.get("best_baseline_beats_combined_on", [])
    beats_base = claim.get("combined_beats_best_baseline_on", [])
    rule = BASELINE_WORDS.get(best, best)
    sentences = [
        f"We replayed the {number(evaluation['evaluated_customers'])} customers who bought something in the "
        f"{number(evaluation['test_window']['weeks'])} weeks after "
        f"{formats.date_words(evaluation['test_window']['start'])}.",
        f"For {pct('combined', 'hit_rate@10')} of them, the first 10 recommendations contained a product they "
        "then bought; "
        f"without product descriptions {pct('tabular', 'hit_rate@10')}; {rule} {pct(best, 'hit_rate@10')}.",
    ]
    if base_wins:
        sentences.append(
            f"A simple rule did better than our model: {rule} found more of what customers bought in "
            f"{_lists(base_wins)} (the difference's 95% range stays above zero)."
        )
    worse = claim.get("tabular_beats_combined_on", [])
    compared = list(evaluation.get("combined_minus_tabular") or better + worse)
    rest = len(set(compared) - set(better) - set(worse))
    if better:
        sentences.append(
            "Adding what product descriptions say made the recommendations measurably better than without them "
            f"on {'every measure' if not worse and not rest else 'at least one measure'} of {_lists(better)} "
            "(the improvement's 95% range stays above zero)"
            + ("; elsewhere the difference is within chance." if rest and not worse else ".")
        )
    else:
        sentences.append("Adding what product descriptions say did not make the recommendations measurably better.")
    if worse:
        sentences.append(
            "Without them the recommendations were measurably better on "
            f"{'every measure' if not better and not rest else 'at least one measure'} of {_lists(worse)} "
            "(the difference's 95% range stays below zero)"
            + ("; elsewhere the difference is within chance." if rest else ".")
        )
    if beats_base:
        sentences.append(
            f"Against the best simple rule ({rule}), our model was measurably better on at least one measure of "
            f"{_lists(beats_base)}."
        )
    elif not base_wins:
        sentences.append(f"Against the best simple rule ({rule}), our model was not measurably better or worse.")
    sentences.append(
        f"The candidate products cover {evaluation['candidate_recall']:.0%} of what customers bought; "
        "no ranking can find the rest."
    )
    return sentences


#: why the serving model serves, in the owner's words (model.serving.serving_choice's reasons)
SERVING_REASONS = {
    "baseline_better": "this simple rule found measurably more of what customers bought in the first 10 "
    "recommendations than our model",
    "tabular_better": "it found measurably more of what customers bought in the first 10 recommendations than "
    "the model with descriptions",
    "no_better_model": "no other way of recommending found measurably more of what customers bought in the "
    "first 10 recommendations",
}

SERVING_MODELS = {
    "combined": "the model that reads product descriptions",
    "tabular": "the model without product descriptions",
}


def serving_sentence(serving: dict) -> str:
    """Which model makes the recommendations the shop can serve, and why, in plain words."""
    model = serving["model"]
    who = SERVING_MODELS.get(model) or BASELINE_WORDS.get(model, model)
    return (
        f"The recommendations to serve now come from {who}, because {SERVING_REASONS[serving['reason']]}. "
        f"It learned from all data up to {formats.date_words(serving['data_until'])} and chose "
        f"{number(serving['top_n'])} products for each of the {number(serving['customers'])} customers "
        "who were active in the last months."
    )


# --- monitoring pages ---------------------------------------------------------------------------


#: the pages that show the monitoring (notebooks/pages/<name>.ipynb); without a recommendation log
#: the site shows :func:`waiting_page` in their place (:func:`stoffwechsel.notebooks.run_page_notebooks`)
MONITORING_PAGES = ("overview", "segments", "arriving")
#: the pages that need no recommendation log, as the waiting pages link them (relative to pages/)
PAGES_WITHOUT_MONITORING = {
    "Model": ("model.ipynb", "how well the recommendations would have done on past purchases, and which model serves"),
    "Data quality": ("quality.ipynb", "what was accepted from the shop's files, and what was set aside"),
    "Glossary": ("glossary.ipynb", "what each number means"),
    "Verification": ("../07_verify.ipynb", "the targets the shop signed off on, each checked on this data"),
}


def monitoring_waits(root: Path | None = None) -> bool:
    """True where the monitor stage found no recommendation log (its summary.json's ``status``:
    :data:`stoffwechsel.monitoring.results.WAITING`); False when it monitored, or has not run."""
    from stoffwechsel.monitoring.results import WAITING

    summary = (root or config.ROOT) / "reports" / "monitoring" / "summary.json"
    return summary.is_file() and json.loads(summary.read_text(encoding="utf-8")).get("status") == WAITING


def waiting_page(source: Path):
    """The page shown instead of a monitoring page (:data:`MONITORING_PAGES`) while there is no
    recommendation log: the source page's title, the sentence every monitoring page and target
    uses (:data:`stoffwechsel.monitoring.wording.MONITORING_WAITS`), what to send, and links to
    the pages that work without it. A notebook with no code, so both renderers show it as is."""
    import yaml

    from stoffwechsel.monitoring.wording import MONITORING_WAITS
    from stoffwechsel.site.project import import_nbformat

    nbformat = import_nbformat()

    front = yaml.safe_load(nbformat.read(source, as_version=4).cells[0].source.strip().strip("-"))
    first, rest = MONITORING_WAITS.split(": ", 1)
    links = "".join(f"- [{name}]({href}): {what}\n" for name, (href, what) in PAGES_WITHOUT_MONITORING.items())
    body = (
        f"::: {{.callout-note}}\n**{first}.** {rest[0].upper()}{rest[1:]}\n:::\n\n"
        f"To start it, add the log of the recommendations shown to customers (which products, to whom, when: "
        f"`{config.RECOMMENDATIONS_FILE}` in the shop's materials) and run the pipeline again.\n\n"
        f"What is here already:\n\n{links}"
    )
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_raw_cell(f"---\ntitle: {json.dumps(front['title'])}\n---"),
        nbformat.v4.new_markdown_cell(body),
    ]
    nb.metadata = {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"}}
    return nb


def monitoring_result():
    """The monitoring result for the site pages: the aggregates the `monitor` stage wrote to
    reports/monitoring/ (nothing is recomputed from the recommendations)."""
    from stoffwechsel.monitoring.results import load_outputs

    return load_outputs(config.REPORTS_DIR / "monitoring", config.load_params("monitor"))


#: the metrics of the customer group tables, by id, in the order shown (labels: glossary.METRICS)
GROUP_METRICS = (
    "ctr",
    "purchases_per_100",
    "kept_per_100",
    "revenue_per_100",
    "sustainable_share",
    "new_season_share",
    "reused_id_share",
    "recs_shown",
)


def metric_labels(metric_ids: pd.Series) -> pd.Series:
    """The business label of each metric id (:data:`stoffwechsel.glossary.METRICS`, the one place
    labels come from; the tables' own ``metric`` column is never used to select or label)."""
    return metric_ids.map(glossary.METRICS)


def group_table(
    weekly: pd.DataFrame, column: str, segment: str | None = None, metric_ids: tuple[str, ...] = GROUP_METRICS
) -> pd.DataFrame:
    """Last weeks against the usual period for one grouping (or one group), for the metrics
    ``metric_ids`` (in that order), business headers; groups below the minimum size are absent
    from the monitoring tables already."""
    cur = weekly[
        (weekly["period"] == "current") & (weekly["segment_column"] == column) & weekly["metric_id"].isin(metric_ids)
    ]
    if segment is not None:
        cur = cur[cur["segment"] == segment]
    out = pd.DataFrame(
        {
            "Customer group": cur["segment"],
            "Metric": metric_labels(cur["metric_id"]),
            "Usual level": cur["reference"].round(2),
            "Last weeks (expected final)": cur["estimate"].round(2),
            "Plausible range": [
                f"{lo:.2f} to {hi:.2f}" if pd.notna(lo) else "" for lo, hi in zip(cur["rate_low"], cur["rate_high"])
            ],
            "Outcomes already in": cur["completeness"].map(lambda v: f"{v:.0%}"),
            "Change": cur["change"].map(lambda v: "" if pd.isna(v) else f"{v:+.0%}"),
        }
    )
    order = {m: i for i, m in enumerate(metric_ids)}
    out = out.assign(_o=cur["metric_id"].map(order)).sort_values(["Customer group", "_o"]).drop(columns="_o")
    return out if segment is None else out.drop(columns="Customer group")


#: metrics counted per recommendation shown (x 100): "seen so far" is every event seen so far per
#: 100 recommendations shown, the same base as the expected final value
_PER_SHOWN = ("ctr", "purchases_per_100", "kept_per_100")


def seen_so_far(weekly: pd.DataFrame) -> pd.Series:
    """What has been seen so far in each row of the monitoring table, on the base of its expected
    final value: events seen / recommendations shown x 100 for the rates, revenue seen so far for
    revenue (per 100 recommendations: revenue seen / shown x 100). The table's own ``observed``
    column is the rate among recommendations whose outcomes are all in, which is 0 or empty for
    a recent week with purchases: never shown to owners as "seen so far"."""
    seen = weekly["observed"].astype(float).copy()
    per_shown = weekly["metric_id"].isin(_PER_SHOWN)
    seen[per_shown] = weekly.loc[per_shown, "events"] / weekly.loc[per_shown, "recs"] * 100
    keys = ["period", "window_start", "segment_column", "segment"]
    revenue = weekly[weekly["metric_id"] == "revenue_eur"].set_index(keys)["observed"]
    rev100 = weekly["metric_id"] == "revenue_per_100"
    if rev100.any():
        idx = pd.MultiIndex.from_frame(weekly.loc[rev100, keys])
        seen[rev100] = revenue.reindex(idx).to_numpy() / weekly.loc[rev100, "recs"].to_numpy() * 100
    return seen


def arriving_table(weekly: pd.DataFrame) -> pd.DataFrame:
    """All customers, weeks whose outcomes are not all in: seen so far, share already in and the
    expected final value with its range, one row per week and metric (business headers)."""
    recent = weekly[
        (weekly["segment_column"] == "all") & (weekly["period"] == "week") & (weekly["completeness"] < 0.999)
    ]
    recent = recent.assign(_seen=seen_so_far(recent), _label=metric_labels(recent["metric_id"]))
    recent = recent.sort_values(["window_start", "_label"])
    return pd.DataFrame(
        {
            "Week from": pd.to_datetime(recent["window_start"]).map(formats.date_words),
            "Metric": recent["_label"],
            "Seen so far": recent["_seen"].round(2),
            "Outcomes already in": recent["completeness"].map(lambda v: f"{v:.0%}"),
            "Expected final": recent["estimate"].round(2),
            "Range": [f"{lo:.2f} to {hi:.2f}" for lo, hi in zip(recent["estimate_low"], recent["estimate_high"])],
        }
    )


def weekly_trend(weekly: pd.DataFrame, metric_id: str = "purchases_per_100"):
    """All customers, week by week, for one metric (by id): observed so far vs expected final value
    with its range; weeks whose outcomes are not all in are marked provisional."""
    import textwrap

    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt

    from stoffwechsel.data.profiling import PALETTE
    from stoffwechsel.monitoring.plots import readable

    metric = glossary.METRICS[metric_id]
    w = weekly[
        (weekly["period"] == "week") & (weekly["segment_column"] == "all") & (weekly["metric_id"] == metric_id)
    ].copy()
    w["window_start"] = pd.to_datetime(w["window_start"])
    w = w.sort_values("window_start")
    provisional = w["completeness"] < 0.999
    fig, ax = plt.subplots(figsize=(9, 3.8))
    ax.plot(w["window_start"], seen_so_far(w), marker="o", color=PALETTE[1], label="Seen so far")
    ax.plot(w["window_start"], w["estimate"], marker="s", color=PALETTE[0], label="Expected once all outcomes are in")
    ax.fill_between(
        w["window_start"], w["estimate_low"], w["estimate_high"], color=PALETTE[0], alpha=0.2, label="Range"
    )
    for start in w.loc[provisional, "window_start"]:
        ax.axvspan(start - pd.Timedelta(days=3), start + pd.Timedelta(days=3), color="#999999", alpha=0.15, hatch="//")
    if provisional.any():
        ax.text(w.loc[provisional, "window_start"].iloc[0], ax.get_ylim()[1] * 0.95, "provisional", va="top")
    ax.set(
        title=f"{metric}, all customers, by week shown",
        xlabel="Week the recommendations were shown",
        ylabel=textwrap.fill(metric, 25),
    )
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%d %b"))  # as every other chart
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    readable(fig)
    fig.tight_layout()
    return fig
