"""How much of what could be seen the monitoring sees: a power study against an oracle (issue 16).

A planted shift (``simulate --no-drift --shift COLUMN=VALUE``: from the onset on, click and purchase
probabilities of one customer group are multiplied by ``1 + effect``) is the ground truth. For each
scenario of a grid (customer column x effect x onset x seed x scale) this module runs the production
monitoring (:func:`stoffwechsel.monitoring.run.run_monitoring`, the ``monitor`` params of params.yaml) and
the **oracle**: the best any detector could do, because it knows the group, the outcome and the onset.
The oracle is an exact one-sided test (Fisher's, ``scipy.stats.fisher_exact``) of the group's matured
after-onset counts against its before-onset counts, for clicks and for purchases per recommendation,
Bonferroni over the two at the monitoring's false-alarm rate ``fdr``. Only recommendations whose
attribution window has closed by the export count (matured labels).

Per cell (column x effect x onset x scale, over seeds) the report gives our detection rate, the
oracle's, their ratio, alerts on other groups, and the onset error of our first detecting alert; and,
over no-drift seeds, the alerts raised when nothing was planted (false alarms). Goals (issue 16):
ratio >= 0.8 wherever the oracle reaches 0.5, 0 false alarms over 20 no-drift seeds, onset within 7
days. The grid and the groups live in params.yaml ``power_study``; `stoffwechsel power-study` runs it.

The simulator is imported here on purpose: this is a study on simulated data, never a production
stage (``monitor`` does not import it).
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from stoffwechsel import domain

__all__ = [
    "Scenario",
    "scenarios",
    "run_scenario",
    "summarise",
    "run_study",
    "oracle_p_value",
    "markdown_table",
    "update_docs",
]

#: outcome metrics a planted shift moves (click and purchase probabilities), as monitoring metric ids
SHIFTED_METRICS = ("ctr", "purchases_per_100", "kept_per_100")


@dataclass(frozen=True)
class Scenario:
    """One simulated history: a shift of ``effect`` in ``column == value`` from ``onset`` on (no
    shift when ``column`` is empty: a no-drift control)."""

    column: str
    value: str
    effect: float
    onset_share: float
    seed: int
    scale: float

    @property
    def planted(self) -> bool:
        return bool(self.column)


def onset_day(onset_share: float) -> date:
    """The onset at ``onset_share`` of the production sample's days (first day = 0)."""
    from stoffwechsel.simulation.world import RECS_FIRST_DAY, RECS_LAST_DAY

    days = (RECS_LAST_DAY - RECS_FIRST_DAY).days
    return RECS_FIRST_DAY + timedelta(days=round(onset_share * days))


def scenarios(settings: dict, size: str) -> list[Scenario]:
    """The grid of ``settings[size]`` (params.yaml ``power_study``): every group x effect x onset x
    seed x scale (the segment column: every marketing segment of ``segments`` where the grid says
    ``every_segment``), then the no-drift seeds at each of
    ``no_drift_scales`` (default: scale 1)."""
    grid = settings[size]
    groups = settings["groups"]
    columns = grid.get("columns") or list(groups)
    out = [
        Scenario(c, str(v), float(e), float(o), int(s), float(sc))
        for sc in grid["scales"]
        for c in columns
        for v in (settings["segments"] if c == "segment" and grid.get("every_segment") else [groups[c]])
        for e in grid["effects"]
        for o in grid["onsets"]
        for s in grid["seeds"]
    ]
    out += [
        Scenario("", "", 0.0, 0.0, int(s), float(sc))
        for sc in grid.get("no_drift_scales", [1])
        for s in grid["no_drift_seeds"]
    ]
    return out


def oracle_p_value(recs: pd.DataFrame, customers: pd.DataFrame, sc: Scenario, export: pd.Timestamp) -> float:
    """The oracle's p-value: exact one-sided tests of the group's after-onset click and purchase
    rates against its before-onset rates (matured recommendations only), Bonferroni over the two."""
    members = set(customers.loc[customers[sc.column].astype(str) == sc.value, "customer_id"])
    group = recs[recs["customer_id"].isin(members)]
    onset = pd.Timestamp(onset_day(sc.onset_share))
    alternative = "less" if sc.effect < 0 else "greater"
    p_values = []
    for status, outcome in (("click_status", "click"), ("purchase_status", "purchase")):
        matured = group[group["served_at"] + pd.Timedelta(seconds=domain.WINDOWS_S[outcome]) <= export]
        after = matured["served_at"] >= onset
        hits = matured[status].eq("yes")
        table = [
            [int((hits & after).sum()), int((~hits & after).sum())],
            [int((hits & ~after).sum()), int((~hits & ~after).sum())],
        ]
        if min(sum(table[0]), sum(table[1])) == 0:
            p_values.append(1.0)
            continue
        p_values.append(float(stats.fisher_exact(table, alternative=alternative).pvalue))
    return min(1.0, 2 * min(p_values))


def _covers(alert: dict, sc: Scenario) -> bool:
    """Whether an alert's group is the planted group or one of its crossings."""
    columns = alert["segment_column"].split("_x_")
    if sc.column not in columns:
        return False
    parts = str(alert["segment"]).split(", ", len(columns) - 1) if len(columns) > 1 else [str(alert["segment"])]
    return len(parts) == len(columns) and parts[columns.index(sc.column)] == sc.value


def run_scenario(sc: Scenario, monitor_params: dict) -> dict:
    """Simulate ``sc``, run the monitoring and the oracle on it; one result row."""
    from stoffwechsel.data.contract import load_materials
    from stoffwechsel.monitoring.run import run_monitoring
    from stoffwechsel.monitoring.shift import parse_shift
    from stoffwechsel.simulation.simulate import simulate
    from stoffwechsel.simulation.world import EXPORT_TIME

    with tempfile.TemporaryDirectory(prefix="power-study-") as tmp:
        shift = (
            parse_shift(f"{sc.column}={sc.value}", onset_day(sc.onset_share).isoformat(), sc.effect)
            if sc.planted
            else None
        )
        simulate(Path(tmp), seed=sc.seed, scale=sc.scale, shift=shift, drift=False)
        materials = load_materials(Path(tmp))
    result = run_monitoring(materials, monitor_params)
    alerts = list(result.alerts)
    row = {**asdict(sc), "alerts": len(alerts)}
    # the number of group x metric comparisons of all groups and of the planted group's own
    # false-alarm family (its clicks and purchases): the price any detector pays for not knowing
    # group, metric and onset (the oracle at that multiplicity)
    changes = result.changes
    family = int((changes["segment_column"] != "all").sum())
    own = changes[(changes["segment_column"] == sc.column) & (changes["metric_id"] == "ctr")]
    family_name = str(own["family"].iloc[0]) if len(own) else ""
    row["family_size"] = family
    row["own_family"] = family_name
    row["own_family_size"] = int((changes["family"] == family_name).sum()) if family_name else 0
    row["own_family_share"] = float(own["family_share"].iloc[0]) if len(own) else 0.0
    row["incidents"] = len(result.incidents)
    if not sc.planted:
        return {
            **row,
            "detected": False,
            "oracle_detected": False,
            "oracle_multiplicity_detected": False,
            "oracle_family_detected": False,
            "lead_is_planted": False,
            "other_group_alerts": len(alerts),
            "all_customers_only": False,
            "onset_error_days": None,
        }
    sign = -1 if sc.effect < 0 else 1
    moved = [a for a in alerts if a["metric_id"] in SHIFTED_METRICS and np.sign(a["change"]) == sign]
    hits = [a for a in moved if _covers(a, sc)]
    others = [a for a in alerts if not _covers(a, sc) and a["segment_column"] != "all"]
    onset = pd.Timestamp(onset_day(sc.onset_share))
    first = min((pd.Timestamp(a["onset"]) for a in hits), default=None)
    p = oracle_p_value(materials.recommendations, materials.customers, sc, pd.Timestamp(EXPORT_TIME))
    fdr = float(monitor_params.get("fdr", 0.05))
    share_groups = 1 - float(monitor_params.get("fdr_share_all", 0.35))
    lead = result.incidents[0]["groups"][0] if result.incidents else None
    return {
        **row,
        "detected": bool(hits),
        "oracle_detected": p < fdr,
        # the oracle's test at the level divided by the number of comparisons: of all groups (their
        # share of the budget), and of the planted group's own family (its share)
        "oracle_multiplicity_detected": p * max(family, 1) < fdr * share_groups,
        "oracle_family_detected": p * max(row["own_family_size"], 1) < fdr * row["own_family_share"],
        "lead_is_planted": bool(lead) and lead["segment_column"] == sc.column and str(lead["segment"]) == sc.value,
        "oracle_p": p,
        "other_group_alerts": len(others),
        "all_customers_only": not hits and any(a["segment_column"] == "all" for a in moved),
        "onset_error_days": None if first is None else int((first - onset).days),
    }


def _run(args: tuple[Scenario, dict]) -> dict:
    return run_scenario(*args)


def run_study(settings: dict, monitor_params: dict, size: str, jobs: int = 1, progress=None) -> pd.DataFrame:
    """All scenarios of ``size``; ``jobs`` processes side by side. Rows sorted by scenario."""
    grid = scenarios(settings, size)
    rows: list[dict] = []
    if jobs > 1:
        with ProcessPoolExecutor(jobs) as pool:
            for row in pool.map(_run, [(sc, monitor_params) for sc in grid]):
                rows.append(row)
                if progress:
                    progress(len(rows), len(grid), row)
    else:
        for sc in grid:
            rows.append(run_scenario(sc, monitor_params))
            if progress:
                progress(len(rows), len(grid), rows[-1])
    return pd.DataFrame(rows).sort_values(
        ["scale", "column", "effect", "onset_share", "seed"], kind="stable", ignore_index=True
    )


def summarise(rows: pd.DataFrame, goals: dict) -> dict:
    """Per cell (scale, column, effect, onset) over seeds: detection rates, their ratio, other-group
    alerts, onset error; and the no-drift false alarms. ``goals`` (params.yaml) judge each cell."""
    planted = rows[rows["column"] != ""]
    cells = []
    for key, g in planted.groupby(["scale", "column", "value", "effect", "onset_share"], sort=True):
        g = g.reset_index(drop=True)
        ours, oracle = float(g["detected"].mean()), float(g["oracle_detected"].mean())
        matched = float(g["oracle_multiplicity_detected"].mean())
        own = float(g["oracle_family_detected"].mean()) if "oracle_family_detected" in g else None
        found = g[g["detected"]]
        errors = g["onset_error_days"].dropna().astype(float)
        ratio = ours / oracle if oracle > 0 else None
        cell = dict(zip(["scale", "column", "value", "effect", "onset_share"], key))
        in_scope = oracle >= goals["oracle_at_least"]
        cell.update(
            runs=len(g),
            detection=ours,
            oracle_detection=oracle,
            oracle_multiplicity_detection=matched,
            oracle_family_detection=own,
            incidents_per_run=float(found["incidents"].mean()) if "incidents" in g and len(found) else None,
            lead_is_planted=float(found["lead_is_planted"].mean()) if "lead_is_planted" in g and len(found) else None,
            ratio=ratio,
            other_group_alerts=float(g["other_group_alerts"].mean()),
            all_customers_only=int(g["all_customers_only"].sum()),
            median_onset_error_days=float(errors.median()) if len(errors) else None,
            meets_ratio=(not in_scope) or (ratio is not None and ratio >= goals["ratio_at_least"]),
            meets_onset=bool(len(errors) == 0 or (errors.abs() <= goals["onset_within_days"]).all()),
        )
        cells.append(cell)
    calm = rows[rows["column"] == ""]
    return {
        "cells": cells,
        "no_drift": {
            "seeds": len(calm),
            "alerts": int(calm["alerts"].sum()),
            "seeds_with_alerts": int((calm["alerts"] > 0).sum()),
            "by_scale": {
                f"{scale:g}": {"seeds": len(c), "alerts": int(c["alerts"].sum())} for scale, c in calm.groupby("scale")
            },
        },
        "goals": goals,
    }


def goal_counts(summary: dict, segments: bool = True) -> dict[float, dict[str, int]]:
    """Per scale, the counts the docs and the README quote from a summary, for the marketing-segment
    cells (``segments``) or the other columns': ``reached`` (cells where the full oracle finds the
    shift in at least ``oracle_at_least`` of the runs), ``met`` (of those, ours at
    ``ratio_at_least`` of its rate), ``family_reached`` (of those, cells the oracle at its family's
    multiplicity also finds that often) and ``keeps_up`` (of those, ours at ``ratio_at_least`` of
    that oracle's rate)."""
    goals = summary["goals"]
    counts: dict[float, dict[str, int]] = {}
    for c in summary["cells"]:
        if (c["column"] == "segment") != segments:
            continue
        n = counts.setdefault(c["scale"], dict(reached=0, met=0, family_reached=0, keeps_up=0))
        if c["oracle_detection"] < goals["oracle_at_least"]:
            continue
        n["reached"] += 1
        n["met"] += bool(c["meets_ratio"])
        family = c.get("oracle_family_detection")
        if family is not None and family >= goals["oracle_at_least"]:
            n["family_reached"] += 1
            n["keeps_up"] += c["detection"] >= goals["ratio_at_least"] * family
    return counts


def markdown_table(summary: dict) -> str:
    """The docs/monitoring.md table: one row per cell, what is missed in words."""

    def pct(v):
        return "-" if v is None else f"{100 * v:.0f}%"

    lines = [
        "| scale | group | change | onset | ours | oracle | ours / oracle | oracle at our multiplicity "
        "| oracle at its family's multiplicity | other-group alerts per run | incidents per detecting run "
        "| lead is the planted group | onset error (days, median) | goal |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for c in summary["cells"]:
        verdict = (
            "met"
            if c["meets_ratio"] and c["meets_onset"]
            else (
                "missed: detection below 0.8 of the oracle"
                if not c["meets_ratio"]
                else f"missed: the onset is more than {summary['goals']['onset_within_days']} days off in some run"
            )
        )
        yardstick = c.get("oracle_family_detection")
        yardstick = c["oracle_multiplicity_detection"] if yardstick is None else yardstick
        if not c["meets_ratio"] and yardstick < summary["goals"]["oracle_at_least"]:
            verdict += " (the price of not knowing group, metric and onset: the oracle itself, paying for our "
            verdict += "number of comparisons, finds it in under half the runs)"
        elif not c["meets_ratio"]:
            verdict += " (below what the oracle reaches even at our number of comparisons: a weakness of our test)"
        if c["oracle_detection"] < summary["goals"]["oracle_at_least"]:
            verdict = "out of reach (the oracle sees it in under half the runs)"
        onset = "-" if c["median_onset_error_days"] is None else f"{c['median_onset_error_days']:+.0f}"
        ratio = "-" if c["ratio"] is None else f"{c['ratio']:.2f}"
        incidents = "-" if c.get("incidents_per_run") is None else f"{c['incidents_per_run']:.1f}"
        lines.append(
            f"| {c['scale']:g} | {c['column']} = {c['value']} | {c['effect']:+.0%} "
            f"| {c['onset_share']:.0%} of window | {pct(c['detection'])} | {pct(c['oracle_detection'])} "
            f"| {ratio} | {pct(c.get('oracle_multiplicity_detection'))} | {pct(c.get('oracle_family_detection'))} "
            f"| {c['other_group_alerts']:.1f} | {incidents} | {pct(c.get('lead_is_planted'))} | {onset} "
            f"| {verdict} |"
        )
    nd = summary["no_drift"]
    lines.append("")
    by_scale = "".join(
        f"; scale {k}: {v['alerts']} alerts over {v['seeds']} seeds" for k, v in nd.get("by_scale", {}).items()
    )
    lines.append(
        f"No-drift seeds: {nd['alerts']} alerts over {nd['seeds']} seeds "
        f"({nd['seeds_with_alerts']} seeds with any alert{by_scale})."
    )
    return "\n".join(lines) + "\n"


#: the generated block of docs/monitoring.md (one per grid size)
def docs_markers(size: str) -> tuple[str, str]:
    return (
        f"<!-- power-study {size}: generated by `stoffwechsel power-study --size {size} --doc docs/monitoring.md` -->",
        f"<!-- end power-study {size} -->",
    )


def update_docs(text: str, table: str, size: str) -> str:
    """``text`` with its power-study block of ``size`` replaced by ``table``."""
    from stoffwechsel.data.io import replace_marked_block

    return replace_marked_block(text, table, docs_markers(size))


def progress_printer(prefix: str = "[power-study]") -> Callable[[int, int, dict], None]:
    """One line per finished scenario."""

    def show(done: int, total: int, row: dict) -> None:
        what = f"{row['column']}={row['value']} {row['effect']:+.0%}" if row["column"] else "no drift"
        print(
            f"{prefix} {done}/{total} {what} seed {row['seed']} scale {row['scale']:g}: "
            f"ours {'yes' if row['detected'] else 'no'}, oracle {'yes' if row['oracle_detected'] else 'no'}, "
            f"{row['alerts']} alerts",
            flush=True,
        )

    return show
