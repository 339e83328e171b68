"""The data contract: the one loader every pipeline stage uses to read the client's materials.

:func:`load_materials` reads the four files named in :mod:`stoffwechsel.config`, checks them
against the format in ``docs/materials.md`` and returns typed frames of the rows that pass.
``docs/data-contract.md`` lists every check with its reason text. The contract checks meaning,
not the habits of one exporter: ids are any text, timestamps any common ISO form, vocabularies
(categories, regions, segments, ...) are open. Numbers are strict.

Three outcomes:

* **File-level** problem (the file cannot be trusted as a whole): missing, empty, binary or
  unparseable file, missing columns, duplicate keys, or too many bad rows (more than
  ``materials.max_quarantine_share`` of a file, or none accepted). These raise
  :class:`~stoffwechsel.data.schema.ContractError`, whose message is one line naming the file
  and the problem.
* **Row-level** problem (a cell is wrong): the row is left out of the accepted frame and every
  problem goes to the quarantine report, one row per (file, line, column, problem) with the
  cell's text and a short, stable reason. Nothing is dropped silently: for every file
  ``read == accepted + quarantined``.
* **Finding** (the row is kept, but someone should know): a value outside the known
  vocabulary, an empty or short description, a season outside the ``SS26``/``AW25`` convention,
  no recommendation log. :attr:`Materials.findings` counts them per (file, column, finding).

Each file is read in its own dialect (delimiter, decimal mark, encoding, line ends), detected
by :mod:`stoffwechsel.data.dialect` or set in ``materials.dialects``. Optional *attributes* (customer
age band, region, ...; ``FileSpec.attributes``) may be blank or absent: they read as
``unknown``, a finding. Rows quarantined only because a row they refer to was are the cascade,
counted apart (``Materials.cascaded``).

The checks run in three passes, all vectorised:

1. *Parsing* (pandas/pyarrow): cells are trimmed and mapped (``materials.mapping``); required
   cells must not be empty; ids and codes must hold no control character and no non-ASCII digit;
   dates, timestamps and numbers must parse strictly and lie in their plausible ranges.
2. *Values* (a pandera ``DataFrameSchema`` per file, validated with ``lazy=True``): closed sets
   (event types, outcome statuses), ranges and rules between columns of one row. Every check's
   ``error=`` is its reason; a row check's error is ``"<column>: <reason>"``.
3. *References* (pandas): transactions and recommendations must point at accepted customers and
   product versions, a return at an accepted, earlier purchase of the same customer and product.

The parts, in the order they run: :mod:`stoffwechsel.data.schema` (constants, ``SPECS``,
settings, :class:`~stoffwechsel.data.schema.ContractError`), :mod:`stoffwechsel.data.reading`
(pass 0: the file as text), :mod:`stoffwechsel.data.parsing` (pass 1),
:mod:`stoffwechsel.data.rules` (pass 2), :mod:`stoffwechsel.data.quarantine` (pass 3, findings,
the quarantine report's rows and the counts). This module loads and holds the result.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from stoffwechsel import config
from stoffwechsel.config import (
    CUSTOMERS_FILE,
    MATERIAL_FILES,
    PRODUCTS_FILE,
    RECOMMENDATIONS_FILE,
    TRANSACTIONS_FILE,
)
from stoffwechsel.data import parsing, quarantine, reading, rules
from stoffwechsel.data.dialect import Dialect
from stoffwechsel.data.io import sort_frame, write_csv
from stoffwechsel.data.schema import (
    CASCADE_REASONS,
    QUARANTINE_SORT,
    SPECS,
    ContractError,
    ContractSettings,
    params_section,
)

__all__ = [
    "QuarantineLimitError",
    "Materials",
    "load_materials",
    "quarantine_report",
    "write_quarantine",
]

# --------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------


class QuarantineLimitError(ContractError):
    """Too many rows of a file quarantined (or none accepted). ``materials`` holds what was
    loaded, so that a caller can still show the quarantine report (``None`` after pickling)."""

    def __init__(self, file: str, problem: str, materials: Materials | None = None):
        super().__init__(file, problem)
        self.materials = materials


@dataclass
class Materials:
    """The accepted rows of the four files, typed, plus what was quarantined and found.

    Frames have the contract's columns (extra columns are dropped) in file order, rows in file
    order and a fresh ``RangeIndex``. Dates and timestamps are ``datetime64[us]`` (naive,
    Europe/Berlin wall time; NaT for an empty optional cell), integers ``int64``, decimals
    ``float64``, text ``str`` with ``""`` for an empty optional cell (never NaN); ids are text as
    in the file (trimmed); the multi-valued ``certifications`` and ``tags`` keep their ``'|'``
    text, ``""`` = none.
    """

    products: pd.DataFrame
    customers: pd.DataFrame
    transactions: pd.DataFrame
    recommendations: pd.DataFrame
    quarantine: pd.DataFrame  # QUARANTINE_COLUMNS, sorted by file, row, column (then reason)
    counts: dict[str, dict[str, int]]  # file -> {"read", "accepted", "quarantined"} in rows
    #: FINDING_COLUMNS: rows kept with something worth knowing, per (file, column, finding).
    findings: pd.DataFrame = field(default_factory=lambda: quarantine.empty_findings())
    #: Optional files that held no rows (absent or header-only): {file: why}.
    missing: dict[str, str] = field(default_factory=dict)
    #: How each file was written (detected, or set in params.yaml ``materials.dialects``).
    dialects: dict[str, Dialect] = field(default_factory=dict)
    #: Per file, the quarantined rows whose only problems are CASCADE_REASONS: rows lost because
    #: a row they refer to was quarantined (included in ``counts[file]["quarantined"]``).
    cascaded: dict[str, int] = field(default_factory=dict)

    def frame(self, file: str) -> pd.DataFrame:
        """The accepted frame of a file, by its name in :mod:`stoffwechsel.config`."""
        return {
            PRODUCTS_FILE: self.products,
            CUSTOMERS_FILE: self.customers,
            TRANSACTIONS_FILE: self.transactions,
            RECOMMENDATIONS_FILE: self.recommendations,
        }[file]

    @property
    def has_recommendation_log(self) -> bool:
        return RECOMMENDATIONS_FILE not in self.missing


def load_materials(
    folder: Path | str | None = None, settings: ContractSettings | None = None, **overrides
) -> Materials:
    """Read, check and type the four material files in ``folder``.

    ``folder`` defaults to params.yaml's ``materials.materials_dir``; ``settings`` to
    :meth:`ContractSettings.from_params`; ``overrides`` replace single settings, e.g.
    ``load_materials(folder, max_quarantine_share=1.0)``. Raises :class:`ContractError` on the
    first file-level problem (:class:`QuarantineLimitError` when a file has too many bad rows);
    row-level problems are quarantined (see the module docstring and ``docs/data-contract.md``).
    """
    if settings is None or folder is None:
        section = params_section()
        settings = settings or ContractSettings.from_params(section)
        folder = folder if folder is not None else config.ROOT / section["materials_dir"]
    if overrides:
        settings = dataclasses.replace(settings, **overrides)
    folder = Path(folder)
    read = {
        name: reading.read_file(folder, SPECS[name], settings.mapping.get(name, {}), settings.dialects.get(name, {}))
        for name in MATERIAL_FILES
    }
    raw = {name: r.raw for name, r in read.items()}
    text = {name: r.text for name, r in read.items()}
    missing = {name: r.missing for name, r in read.items() if r.missing}
    schemas = rules.schemas(settings)
    typed: dict[str, pd.DataFrame] = {}
    problems: dict[str, list[pd.DataFrame]] = {}
    for name in MATERIAL_FILES:
        typed[name], parse_problems = parsing.parse(
            text[name], SPECS[name], settings, read[name].controls, read[name].dialect.decimal or "."
        )
        problems[name] = [parse_problems, rules.validate(typed[name], schemas[name])]

    def accepted(name: str) -> pd.DataFrame:
        return typed[name].drop(index=quarantine.problem_rows(problems[name]))

    # References, in dependency order: each file is checked against the accepted rows of the
    # files it points to, so that the accepted frames are consistent with each other.
    products, customers = accepted(PRODUCTS_FILE), accepted(CUSTOMERS_FILE)
    tx_name, rec_name = TRANSACTIONS_FILE, RECOMMENDATIONS_FILE
    problems[tx_name] += quarantine.reference_problems(typed[tx_name], text, products, customers)
    problems[tx_name].append(quarantine.return_problems(typed[tx_name], quarantine.problem_rows(problems[tx_name])))
    problems[rec_name] += quarantine.reference_problems(typed[rec_name], text, products, customers)

    kept, frames, reports, counts, cascaded = {}, {}, [], {}, {}
    for name in MATERIAL_FILES:
        found = pd.concat(problems[name], ignore_index=True)
        reports.append(quarantine.render(found, raw[name], name))
        kept[name] = accepted(name)
        frames[name] = quarantine.finish(kept[name], SPECS[name])
        counts[name] = quarantine.count(name, len(raw[name]), len(frames[name]), found["row"].nunique())
        own = found.loc[~found["reason"].isin(CASCADE_REASONS), "row"]
        cascaded[name] = int(found["row"].nunique() - own.nunique())
    materials = Materials(
        products=frames[PRODUCTS_FILE],
        customers=frames[CUSTOMERS_FILE],
        transactions=frames[TRANSACTIONS_FILE],
        recommendations=frames[RECOMMENDATIONS_FILE],
        quarantine=sort_frame(pd.concat(reports, ignore_index=True), QUARANTINE_SORT),
        counts=counts,
        findings=quarantine.findings(kept, missing, settings, {name: r.attributes for name, r in read.items()}),
        missing=missing,
        dialects={name: r.dialect for name, r in read.items()},
        cascaded=cascaded,
    )
    _check_quarantine_share(materials, settings.max_quarantine_share)
    return materials


def quarantine_report(m: Materials) -> pd.DataFrame:
    """Summary of the quarantine: one row per (file, column, reason) with the number of
    problems and the first line it occurs on, sorted by file, column, reason."""
    q = m.quarantine
    if q.empty:
        return pd.DataFrame({"file": [], "column": [], "reason": [], "problems": [], "first_row": []})
    return (
        q.groupby(["file", "column", "reason"], sort=True)
        .agg(problems=("row", "size"), first_row=("row", "min"))
        .reset_index()
    )


def write_quarantine(m: Materials, path: Path | str) -> Path:
    """Write the quarantine report as UTF-8 CSV, deterministically and atomically (sorted by
    file, row, column, reason; no index; ``\\n`` line ends), via :func:`stoffwechsel.data.io.write_csv`."""
    return write_csv(m.quarantine, path, sort_by=QUARANTINE_SORT)


# --------------------------------------------------------------------------------------------
# The quarantine limit
# --------------------------------------------------------------------------------------------


def _check_quarantine_share(m: Materials, limit: float) -> None:
    """Stop on the first file (in MATERIAL_FILES order) with no accepted row or more than
    ``limit`` of its rows quarantined: one line with the share and the top three reasons."""
    for name in MATERIAL_FILES:
        c = m.counts[name]
        if c["read"] == 0:
            continue  # an optional file without rows (Materials.missing)
        share = c["quarantined"] / c["read"]
        if c["accepted"] and share <= limit:
            continue
        q = m.quarantine[m.quarantine["file"] == name]
        top = (
            q.groupby(["column", "reason"])
            .size()
            .reset_index(name="n")
            .sort_values(["n", "column", "reason"], ascending=[False, True, True], kind="mergesort")
            .head(3)
        )
        reasons = ", ".join(f"{r.column}: {r.reason} ({r.n})" for r in top.itertuples())
        if not c["accepted"]:
            problem = f"no row accepted (all {c['read']} quarantined)"
        else:
            problem = (
                f"{share:.1%} of rows quarantined ({c['quarantined']} of {c['read']}), "
                f"more than the limit of {limit:.1%} (materials.max_quarantine_share)"
            )
        raise QuarantineLimitError(name, f"{problem}; top reasons: {reasons}", m)
