"""The composite product key: every event resolved to exactly one product version.

Stoffwechsel reuses article numbers, so ``product_id`` alone names different products in different
seasons. A product version is (product_id, season), written ``SW-1042@AW25`` everywhere
downstream. Transactions from the legacy till carry no season; this module infers it.

Resolution rules (each row is decided by exactly one; the rule used is kept in the
``resolved_by`` column and counted in the stage's report):

1. ``season given``: the row names its season; (product_id, season) exists (the contract checked).
2. ``return of purchase``: a return without season takes the version of the purchase it returns
   (its ``return_of``), which may lie outside every sale window (returns come weeks later).
3. ``single sale window``: exactly one version of the id is on sale on the event's date.
4. ``overlap rule``: two or more versions are on sale on that date (old season's clearance
   running into the new season). The price decides first: the version whose list price equals
   the row's unit price; else the cheapest version whose list price is at or above it (a
   discount only lowers a price); else the version whose *season* contains the date (in-season
   beats clearance), and among equals the newest season. The count of rows decided by this rule
   is reported, and on simulated data its accuracy against the simulator's truth is measured in
   the tests.

Rows that none of these resolve (no version on sale on that date) go to the quarantine report
with the reason; nothing is dropped silently: resolved + quarantined = rows read.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from stoffwechsel.domain import SEASON_CODE

SEASON_GIVEN = "season given"
RETURN_OF_PURCHASE = "return of purchase"
SINGLE_WINDOW = "single sale window"
OVERLAP_RULE = "overlap rule (price, then in-season)"
RULES = (SEASON_GIVEN, RETURN_OF_PURCHASE, SINGLE_WINDOW, OVERLAP_RULE)

NOT_ON_SALE = "no version of product_id on sale on the event date"
RETURNED_PURCHASE_UNRESOLVED = "return_of refers to a purchase that could not be resolved"


def product_key(product_id: pd.Series | str, season: pd.Series | str) -> pd.Series | str:
    """The readable key of a product version: ``SW-1042@AW25``."""
    return product_id + "@" + season


def split_product_key(key: pd.Series) -> pd.DataFrame:
    parts = key.str.split("@", n=1, expand=True)
    return pd.DataFrame({"product_id": parts[0], "season": parts[1]})


def _season_parts(season: pd.Series) -> tuple[pd.Series, pd.Series]:
    """(year, spring?) of each season code; NaN year where the code is not of the SS26/AW25 form
    (the contract keeps such seasons as a finding, so they reach this module)."""
    parts = season.astype(str).str.fullmatch(SEASON_CODE)
    found = season.astype(str).str.extract(f"^{SEASON_CODE}$")
    year = (2000 + pd.to_numeric(found[1])).where(parts.fillna(False))
    return year, found[0] == "SS"


def season_bounds(season: pd.Series) -> tuple[pd.Series, pd.Series]:
    """First and last day of a season code: SS = 1 Mar - 31 Aug, AW = 1 Sep - end of Feb; NaT for
    a code of another form (no in-season rule applies to it)."""
    year, spring = _season_parts(season)
    known = year.notna()
    y = year.fillna(2000).astype(int)
    start = pd.to_datetime(pd.DataFrame({"year": y, "month": np.where(spring, 3, 9), "day": 1}))
    end_exclusive = pd.to_datetime(
        pd.DataFrame({"year": np.where(spring, y, y + 1), "month": np.where(spring, 9, 3), "day": 1})
    )
    return start.where(known), (end_exclusive - pd.Timedelta(days=1)).where(known)


def season_order(season: pd.Series) -> pd.Series:
    """Sortable number of a season code (SS24 < AW24 < SS25); NaN for a code of another form."""
    year, spring = _season_parts(season)
    return year * 2 + (~spring).astype(int).where(year.notna())


@dataclass
class Resolution:
    """Events with their product version, and the rows that could not be resolved."""

    resolved: pd.DataFrame  # input columns + product_key, season_resolved, resolved_by
    quarantine: pd.DataFrame  # event_id, product_id, event_time, reason
    counts: dict[str, int]  # rows read, resolved per rule, quarantined


def resolve_transactions(transactions: pd.DataFrame, products: pd.DataFrame) -> Resolution:
    """Resolve every transaction to one product version (rules in the module docstring)."""
    tx = transactions.reset_index(drop=True)
    season = tx["season"].fillna("").astype(str)
    chosen = pd.Series(season.where(season != "", None), index=tx.index, dtype="object")
    rule = pd.Series(np.where(season != "", SEASON_GIVEN, None), index=tx.index, dtype="object")

    # Rules 3 and 4 for rows without season (returns are handled after, via their purchase).
    open_rows = tx.index[(season == "") & (tx["event_type"] != "return")]
    windows = products[["product_id", "season", "sale_start", "sale_end", "price_eur"]]
    cand = (
        tx.loc[open_rows, ["product_id", "event_time", "unit_price_eur"]].reset_index().merge(windows, on="product_id")
    )
    day = cand["event_time"].dt.normalize()
    cand = cand[(day >= cand["sale_start"]) & (day <= cand["sale_end"])].copy()
    if not cand.empty:
        s_start, s_end = season_bounds(cand["season"])
        cand_day = cand["event_time"].dt.normalize()
        cand["in_season"] = (cand_day >= s_start.values) & (cand_day <= s_end.values)
        cand["order"] = season_order(cand["season"])
        gap = (cand["price_eur"] - cand["unit_price_eur"]).round(2)
        cand["price_exact"] = gap == 0
        # list price at or above the paid price: the smaller the gap the likelier; below: never
        cand["price_gap"] = gap.where(gap >= 0, np.inf)
        n_on_sale = cand.groupby("index")["season"].transform("size")
        best = cand.sort_values(
            ["index", "price_exact", "price_gap", "in_season", "order"], ascending=[True, False, True, False, False]
        ).drop_duplicates("index")
        best = best.set_index("index")
        chosen.loc[best.index] = best["season"]
        multiple = n_on_sale.groupby(cand["index"]).first().reindex(best.index) > 1
        rule.loc[best.index] = np.where(multiple, OVERLAP_RULE, SINGLE_WINDOW)

    # Rule 2: returns without season take their purchase's version.
    returns = tx.index[(season == "") & (tx["event_type"] == "return")]
    if len(returns):
        purchase_season = pd.Series(chosen.values, index=tx["event_id"].values)
        inherited = tx.loc[returns, "return_of"].map(purchase_season)
        chosen.loc[returns] = inherited.values
        rule.loc[returns] = np.where(inherited.notna(), RETURN_OF_PURCHASE, None)

    ok = chosen.notna()
    resolved = tx[ok].copy()
    resolved["season_resolved"] = chosen[ok].astype(str)
    resolved["product_key"] = product_key(resolved["product_id"], resolved["season_resolved"])
    resolved["resolved_by"] = rule[ok].astype(str)

    bad = tx[~ok]
    reason = np.where(bad["event_type"] == "return", RETURNED_PURCHASE_UNRESOLVED, NOT_ON_SALE)
    quarantine = pd.DataFrame(
        {
            "event_id": bad["event_id"],
            "product_id": bad["product_id"],
            "event_time": bad["event_time"],
            "reason": reason,
        }
    ).reset_index(drop=True)

    counts = {"rows_read": int(len(tx))}
    counts.update({r: int((resolved["resolved_by"] == r).sum()) for r in RULES})
    counts["quarantined"] = int(len(quarantine))
    if counts["rows_read"] != sum(counts[r] for r in RULES) + counts["quarantined"]:
        raise RuntimeError(f"resolution lost rows: {counts}")
    return Resolution(resolved.reset_index(drop=True), quarantine, counts)


def resolution_report(res: Resolution, products: pd.DataFrame) -> dict:
    """Counts for the stage's metrics file: rules used, and how the recycled IDs fared."""
    seasons_per_id = products.groupby("product_id")["season"].nunique()
    recycled = set(seasons_per_id[seasons_per_id > 1].index)
    on_recycled = res.resolved["product_id"].isin(recycled)
    quarantined_recycled = res.quarantine["product_id"].isin(recycled)
    versions_hit = res.resolved.loc[on_recycled, "product_key"].nunique()
    return {
        "rows": res.counts,
        "recycled_ids": {
            "ids": len(recycled),
            "ids_with_events": int(res.resolved.loc[on_recycled, "product_id"].nunique()),
            "versions_with_events": int(versions_hit),
            "events_resolved": int(on_recycled.sum()),
            "events_quarantined": int(quarantined_recycled.sum()),
            "events_by_rule": {r: int(((res.resolved["resolved_by"] == r) & on_recycled).sum()) for r in RULES},
        },
    }
