"""What the dashboard may show about customers (issue 18): no customer id, no group below the
minimum size, not even by subtraction.

* :func:`complement_safe`: which (window, customer group) rows of the monitoring tables may be
  shown. A group with fewer than ``min_customers`` customers is hidden (primary suppression). A
  hidden group must also not be recoverable from what is shown: the groups of one grouping add
  up to "all customers" (Bargain Hunters' four shown age groups subtracted from Bargain Hunters
  give its hidden 55+ group), every segment is the sum of its segment x age band groups, and so is
  every age band. For each such sum with its total shown, the hidden parts together must hold at
  least ``min_customers`` customers; where they do not, the smallest shown part is hidden too
  (it is pooled with the small one). A final exact check (linear algebra over all the sums of a
  window, :func:`derivable`) hides further parts until no hidden group's numbers follow from the
  shown ones. Totals are never hidden to protect a part, so "all customers" always stays.
* :func:`customer_ids_in`: accepted customer ids found in rendered text (the self-check of the
  site's output); :func:`withhold_ids`: the same values replaced by :data:`WITHHELD`.
* :func:`owner_safe_value`: whether a quarantined or reported value may be shown to the owner at
  all (never a value of ``customers.csv`` or of a customer id column).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = [
    "Relation",
    "group_relations",
    "complement_safe",
    "derivable",
    "customer_ids_in",
    "withhold_ids",
    "owner_safe_value",
    "id_pattern",
    "WITHHELD",
    "PERSONAL_FILES",
    "PERSONAL_COLUMNS",
]

WITHHELD = "(withheld: may be a customer number)"
#: files whose cells can be personal data: their values never appear as examples on owner pages
PERSONAL_FILES = ("customers.csv",)
#: columns in any file that hold customer ids
PERSONAL_COLUMNS = ("customer_id",)

Key = tuple[str, str]  # (segment_column, segment)


@dataclass(frozen=True)
class Relation:
    """``parent`` = sum of ``parts`` (recommendations, events, revenue; customers too when the
    parts are ``disjoint`` in customers)."""

    parent: Key
    parts: tuple[Key, ...]
    disjoint: bool = True


def group_relations(
    groups: pd.DataFrame,
    all_key: Key,
    crossing: str | None = None,
    crossing_parts: dict[str, tuple[str, str]] | None = None,
    crossing_columns: tuple[str, str] = ("segment", "age_band"),
    overlapping: tuple[str, ...] = (),
) -> list[Relation]:
    """The sums that hold between customer groups: each grouping adds up to ``all_key``; a crossing
    (e.g. segment x age band, ``crossing_parts``: crossing value -> (first value, second value))
    adds up to each of its two margins. ``groups``: the distinct (segment_column, segment) pairs;
    groupings in ``overlapping`` may hold one customer in two groups (new/returning is decided per
    recommendation)."""
    keys = list(groups[["segment_column", "segment"]].drop_duplicates().itertuples(index=False, name=None))
    by_col: dict[str, list[Key]] = {}
    for col, val in keys:
        if (col, val) != all_key:
            by_col.setdefault(col, []).append((col, val))
    rel = [Relation(all_key, tuple(sorted(parts)), col not in overlapping) for col, parts in sorted(by_col.items())]
    if crossing and crossing in by_col and crossing_parts:
        for side, margin in enumerate(crossing_columns):
            members: dict[Key, list[Key]] = {}
            for key in by_col[crossing]:
                if key[1] in crossing_parts:
                    members.setdefault((margin, crossing_parts[key[1]][side]), []).append(key)
            rel += [Relation(parent, tuple(sorted(parts))) for parent, parts in sorted(members.items())]
    return rel


def _nullspace(matrix: np.ndarray, tol: float = 1e-9) -> np.ndarray:
    if matrix.size == 0:
        return np.eye(matrix.shape[1])
    _, s, vt = np.linalg.svd(matrix)
    rank = int((s > tol * max(1.0, s.max(initial=0.0))).sum())
    return vt[rank:].T


def derivable(keys: list[Key], shown: np.ndarray, relations: Iterable[Relation]) -> list[Key]:
    """The hidden groups of one window whose value follows exactly from the shown groups and the
    sums between groups (any linear combination of them)."""
    index = {k: i for i, k in enumerate(keys)}
    rows = []
    for r in relations:
        if r.parent in index:
            row = np.zeros(len(keys))
            row[index[r.parent]] = 1.0
            for p in r.parts:
                if p in index:
                    row[index[p]] -= 1.0
            rows.append(row)
    rows += [np.eye(len(keys))[i] for i in np.flatnonzero(shown)]
    null = _nullspace(np.array(rows).reshape(len(rows), len(keys)))
    free = np.abs(null).max(axis=1) > 1e-7 if null.size else np.zeros(len(keys), dtype=bool)
    return [k for i, k in enumerate(keys) if not shown[i] and not free[i]]


def _suppress_window(
    keys: list[Key], customers: np.ndarray, min_customers: int, relations: list[Relation], protected: frozenset
) -> np.ndarray:
    index = {k: i for i, k in enumerate(keys)}
    shown = customers >= min_customers
    rels = [
        (index[r.parent], [index[p] for p in r.parts if p in index], r.disjoint) for r in relations if r.parent in index
    ]

    def hide_smallest(candidates) -> bool:
        candidates = [i for i in candidates if shown[i] and keys[i] not in protected]
        if not candidates:
            return False
        shown[min(candidates, key=lambda i: (customers[i], keys[i]))] = False
        return True

    while True:
        changed = False
        for parent, parts, disjoint in rels:  # every sum: its hidden parts together >= the minimum
            hidden = [i for i in parts if not shown[i]]
            if not shown[parent] or not hidden or len(hidden) == len(parts):
                continue  # no total, nothing hidden, or all hidden (their pool is the shown total)
            pool = customers[hidden].sum() if disjoint else customers[hidden].max()
            if pool < min_customers:
                changed |= hide_smallest(parts)
        if changed:
            continue
        leaks = derivable(keys, shown, relations)  # what subtraction across several sums gives away
        if not leaks:
            return shown
        leak = index[leaks[0]]
        siblings = [i for parent, parts, _ in rels if leak in parts or leak == parent for i in parts if i != leak]
        if not hide_smallest(siblings):
            return shown  # pragma: no cover - a leak with no shown sibling cannot be derived


def complement_safe(
    frame: pd.DataFrame,
    min_customers: int,
    relations: list[Relation],
    protected: Iterable[Key] = (),
    window: tuple[str, ...] = ("period", "window_start"),
) -> np.ndarray:
    """Mask over the rows of ``frame`` (one row per window x group: ``window`` columns,
    ``segment_column``, ``segment``, ``customers``): True where the row may be shown. Hidden: groups
    below ``min_customers`` and the parts that would let one be recovered by subtraction (module
    docstring). ``protected`` groups (the "all customers" total) are never hidden to protect a part."""
    shown = np.zeros(len(frame), dtype=bool)
    f = frame.reset_index(drop=True)
    protected = frozenset(protected)
    for _, rows in f.groupby(list(window), sort=False).indices.items():
        block = f.iloc[rows]
        keys = list(zip(block["segment_column"], block["segment"]))
        shown[rows] = _suppress_window(keys, block["customers"].to_numpy(np.int64), min_customers, relations, protected)
    return shown


# --- customer ids in the output --------------------------------------------------------------


def customer_ids_in(text: str, ids: Iterable[str]) -> list[str]:
    """Accepted customer ids that occur in ``text`` as a whole token (sorted, each once)."""
    wanted = {str(i) for i in ids if str(i)}
    if not wanted:
        return []
    tokens = set(re.findall(r"[^\s<>\"'&;,.:()\[\]{}|/=]+", text))
    found = wanted & tokens
    # ids with separators inside (e.g. "C-001 23") are looked up as substrings
    found |= {i for i in wanted - found if re.search(r"[\s<>\"'&;,.:()\[\]{}|/=]", i) and i in text}
    return sorted(found)


#: purely numeric ids shorter than this are not looked for on the pages (a count such as "120"
#: would match); they are still withheld from examples
MIN_NUMERIC_ID_LENGTH = 5


def id_pattern(ids: Iterable[str]) -> str | None:
    """A regular expression matching any of the accepted customer ``ids`` as a whole token (for
    :func:`stoffwechsel.site.scan.customer_ids_report`); None when there is nothing to look for."""
    wanted = sorted(
        {str(i) for i in ids if str(i) and not (str(i).isdigit() and len(str(i)) < MIN_NUMERIC_ID_LENGTH)},
        key=len,
        reverse=True,
    )
    if not wanted:
        return None
    return r"(?<![\w.,-])(?:" + "|".join(re.escape(i) for i in wanted) + r")(?![\w-]|[.,]\d)"


def withhold_ids(values: pd.Series, ids: Iterable[str]) -> pd.Series:
    """``values`` with every value that is, or holds, an accepted customer id replaced by
    :data:`WITHHELD` (looked up once per distinct value)."""
    ids = {str(i) for i in ids if str(i)}
    if not ids or values.empty:
        return values
    distinct = pd.Series(values.dropna().unique())
    bad = {v for v in distinct if isinstance(v, str) and customer_ids_in(v, ids)}
    return values.where(~values.isin(bad), WITHHELD) if bad else values


def owner_safe_value(file: str, column: str, value: object, ids: Iterable[str] = ()) -> str | None:
    """``value`` as it may appear on an owner page, or None where it could be personal data: any
    value of ``customers.csv``, of a customer id column, or holding an accepted customer id."""
    if file in PERSONAL_FILES or column in PERSONAL_COLUMNS or value is None:
        return None
    text = str(value)
    return None if customer_ids_in(text, ids) else text
