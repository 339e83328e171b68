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
  :class:`ContractError`, whose message is one line naming the file and the problem.
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

Why one module of over 600 lines: the three passes share one table of cell kinds, reason texts
and per-file rules (``SPECS``); split apart, a reason text and the check that emits it would
live in different files.
"""

from __future__ import annotations

import csv
import dataclasses
import functools
import io
import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd
import pandera.pandas as pa
import pyarrow
import pyarrow.compute as pc
import pyarrow.csv as pyarrow_csv

from stoffwechsel import config, domain
from stoffwechsel.data import dialect
from stoffwechsel.config import (
    CUSTOMERS_FILE,
    MATERIAL_FILES,
    PRODUCTS_FILE,
    RECOMMENDATIONS_FILE,
    TRANSACTIONS_FILE,
)
from stoffwechsel.data.dialect import Dialect, DialectError
from stoffwechsel.data.io import sort_frame, write_csv

__all__ = [
    "ContractError",
    "QuarantineLimitError",
    "ContractSettings",
    "Materials",
    "load_materials",
    "quarantine_report",
    "write_quarantine",
    "QUARANTINE_COLUMNS",
    "FINDING_COLUMNS",
    "CASCADE_REASONS",
]

# --------------------------------------------------------------------------------------------
# The contract's constants (docs/materials.md), in one place.
# --------------------------------------------------------------------------------------------

# The shop's vocabulary (known values, closed sets, attribution windows): stoffwechsel.domain.
KNOWN_VALUES = domain.KNOWN_VALUES
CATEGORIES = domain.CATEGORIES
CERTIFICATIONS = domain.CERTIFICATIONS
SEGMENTS = domain.SEGMENTS
EVENT_TYPES = domain.EVENT_TYPES
SINGLE_UNIT_EVENTS = domain.SINGLE_UNIT_EVENTS
OUTCOME_STATUSES = domain.OUTCOME_STATUSES
RETURN_STATUSES = domain.RETURN_STATUSES
OUTCOMES = domain.OUTCOMES

SEASON_CONVENTION = domain.SEASON_CODE  # a finding when not followed, never a quarantine
POSITION_RANGE = (1, 10)
SCORE_RANGE = (0, 1)
#: A description shorter than ``materials.description_min_words`` words is a finding. Scripts
#: written without spaces (Chinese, Japanese, Thai, ...) count this many characters as one word.
CHARACTERS_PER_WORD_UNSPACED = 1.5
EXAMPLE_CHARACTERS = 80  # longer example values in findings are cut

TIMEZONE = "Europe/Berlin"
TIMESTAMP_UNIT = "datetime64[us]"
MULTI_SEPARATOR = "|"
ENCODING = "utf-8"  # of the text handed to the CSV readers (files: stoffwechsel.data.dialect)
UNKNOWN = domain.UNKNOWN  # a blank attribute cell, or every cell of an absent attribute column
PARAMS_SECTION = "materials"
#: The one file that may be absent or header-only ("no recommendation log").
OPTIONAL_FILES = (RECOMMENDATIONS_FILE,)

# Cell kinds.
ID = "id"  # identifiers: any text; no control character, no non-ASCII digit
CODE = "code"  # season: like an id
VOCAB = "vocabulary"  # open vocabulary: any text; outside KNOWN_VALUES = a finding
CLOSED = "closed"  # closed set, checked by the schema
TEXT = "text"  # free text (name, description, model_version)
MULTI = "multi"  # '|'-separated free list (certifications, tags)
DATE, TIMESTAMP, DECIMAL, INTEGER = "date", "timestamp", "decimal", "integer"
_STRING_KINDS = (ID, CODE, VOCAB, CLOSED, TEXT, MULTI)

# Text shapes (ASCII digits only: Python's \d would accept any script's digits).
_YMD = r"[0-9]{4}-[0-9]{2}-[0-9]{2}"
CANONICAL_TIMESTAMP = _YMD + r"T[0-9]{2}:[0-9]{2}:[0-9]{2}"
TIMESTAMP_PATTERN = (
    rf"^(?P<d>{_YMD})(?:[T ](?P<h>[0-9]{{2}}):(?P<m>[0-9]{{2}})"
    r"(?::(?P<s>[0-9]{2})(?:[.,](?P<f>[0-9]{1,9}))?)? ?(?P<z>Z|[+-][0-9]{2}(?::?[0-9]{2})?)?)?$"
)
DATE_PATTERN = rf"^(?P<d>{_YMD})(?:[T ]00:00(?::00(?:[.,]0{{1,9}})?)?)?$"
DECIMAL_SHAPE = dialect.DECIMAL_SHAPES["."]
INTEGER_SHAPE = r"-?[0-9]+"
INT64_DIGITS = {False: "9223372036854775807", True: "9223372036854775808"}  # by sign (negative?)
_CONTROL_ANY = r"[\x00-\x1f\x7f-\x9f]"
_CONTROL_IN_TEXT = r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]"  # tab and line breaks are text
_UNSPACED_SCRIPTS = (
    "[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"  # kana, CJK ideographs
    "\u0e00-\u0eff\u1000-\u109f\u1780-\u17ff]"  # Thai, Lao, Myanmar, Khmer
)
_CJK_PUNCTUATION = "[\u3000-\u303f\uff01-\uff0f\uff1a-\uff20\uff3b-\uff40\uff5b-\uff65]"

QUARANTINE_COLUMNS = ("file", "row", "column", "value", "reason")
QUARANTINE_SORT = ("file", "row", "column", "reason")
FINDING_COLUMNS = ("file", "column", "finding", "rows", "example")

# Reasons (stable texts: the offending value is in the report's ``value`` column).
EMPTY = "required value is empty"
CONTROL_CHARACTER = "contains a control character"
NON_ASCII_DIGITS = "contains non-ASCII digits"
NOT_A_NUMBER = "not a number"
NOT_AN_INTEGER = "not an integer"
OUTSIDE_INT64 = "integer outside the 64-bit range"
NOT_FINITE = "number too large (not finite)"
NOT_A_DATE = "not a date"
NOT_A_TIMESTAMP = "not a timestamp"
DST_GAP = f"time does not exist in {TIMEZONE} (DST gap)"
UNKNOWN_VALUE = "unknown value (allowed: {allowed})"
THOUSANDS_SEPARATOR = "number with a thousands separator (write it without)"
#: Reasons that quarantine a row only because a row it refers to was quarantined: the cascade,
#: counted apart from the rows with a problem of their own (``Materials.cascaded``).
QUARANTINED_CUSTOMER = "customer_id refers to a quarantined customer"
QUARANTINED_PRODUCT = "product_id refers to a quarantined product"
QUARANTINED_VERSION = "product version (product_id, season) is quarantined"
QUARANTINED_PURCHASE = "return_of refers to a quarantined purchase"
CASCADE_REASONS = (QUARANTINED_CUSTOMER, QUARANTINED_PRODUCT, QUARANTINED_VERSION, QUARANTINED_PURCHASE)

# Findings.
OUTSIDE_KNOWN = "value outside the known list"
UNKNOWN_CERTIFICATION = "certification outside the known list"
SEASON_UNCONVENTIONAL = "season not in the SS26/AW25 form"
DECIMAL_ID = "id written as a decimal number (kept as text)"
DESCRIPTION_EMPTY = "description is empty"
DESCRIPTION_SHORT = "description shorter than {n} words"
NO_RECOMMENDATION_LOG = "no recommendation log: {why}"
ATTRIBUTE_BLANK = f"attribute is blank (read as '{UNKNOWN}')"
ATTRIBUTE_ABSENT = f"attribute column absent from the file (every row '{UNKNOWN}')"
LIST_ABSENT = "attribute column absent from the file (every row: none)"
WITHHELD = "(withheld: a customer id)"


@dataclass(frozen=True)
class FileSpec:
    """One file of the contract: its columns ``name -> (kind, required)``, its key, and its
    *attributes*: optional describing columns (never needed to use a row) that may be blank or
    absent from the file altogether; a blank vocabulary attribute reads as :data:`UNKNOWN`, a
    blank list as none. Both are findings, never a quarantine."""

    name: str
    columns: dict[str, tuple[str, bool]]
    key: tuple[str, ...]
    attributes: tuple[str, ...] = ()


SPECS = {
    PRODUCTS_FILE: FileSpec(
        PRODUCTS_FILE,
        {
            "product_id": (ID, True),
            "season": (CODE, True),
            "name": (TEXT, True),
            "description": (TEXT, False),
            "category": (VOCAB, True),
            "price_eur": (DECIMAL, True),
            "certifications": (MULTI, False),
            "tags": (MULTI, False),
            "sale_start": (DATE, True),
            "sale_end": (DATE, True),
        },
        ("product_id", "season"),
        ("certifications", "tags"),
    ),
    CUSTOMERS_FILE: FileSpec(
        CUSTOMERS_FILE,
        {
            "customer_id": (ID, True),
            "signup_date": (DATE, True),
            "age_band": (VOCAB, False),
            "region": (VOCAB, False),
            "preferred_channel": (VOCAB, False),
            "loyalty_tier": (VOCAB, False),
            "sustainability_interest": (VOCAB, False),
            "segment": (VOCAB, False),
        },
        ("customer_id",),
        ("age_band", "region", "preferred_channel", "loyalty_tier", "sustainability_interest", "segment"),
    ),
    TRANSACTIONS_FILE: FileSpec(
        TRANSACTIONS_FILE,
        {
            "event_id": (ID, True),
            "customer_id": (ID, True),
            "product_id": (ID, True),
            "season": (CODE, False),
            "event_type": (CLOSED, True),
            "event_time": (TIMESTAMP, True),
            "quantity": (INTEGER, True),
            "unit_price_eur": (DECIMAL, True),
            "channel": (VOCAB, False),
            "return_of": (ID, False),
        },
        ("event_id",),
        ("channel",),
    ),
    RECOMMENDATIONS_FILE: FileSpec(
        RECOMMENDATIONS_FILE,
        {
            "rec_id": (ID, True),
            "served_at": (TIMESTAMP, True),
            "customer_id": (ID, True),
            "product_id": (ID, True),
            "season": (CODE, True),
            "position": (INTEGER, True),
            "score": (DECIMAL, True),
            "model_version": (TEXT, True),
            "clicked_at": (TIMESTAMP, False),
            "purchased_at": (TIMESTAMP, False),
            "returned_at": (TIMESTAMP, False),
            "click_status": (CLOSED, True),
            "purchase_status": (CLOSED, True),
            "return_status": (CLOSED, True),
            "export_time": (TIMESTAMP, True),
        },
        ("rec_id",),
    ),
}


# --------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------


class ContractError(Exception):
    """File-level problem; ``str(e)`` is ONE line naming the file and the problem."""

    def __init__(self, file: str, problem: str):
        self.file = file
        self.problem = " ".join(str(problem).split())  # one line, whatever the cause said
        super().__init__(f"{file}: {self.problem}")

    def __reduce__(self):
        return (type(self), (self.file, self.problem))


class QuarantineLimitError(ContractError):
    """Too many rows of a file quarantined (or none accepted). ``materials`` holds what was
    loaded, so that a caller can still show the quarantine report (``None`` after pickling)."""

    def __init__(self, file: str, problem: str, materials: Materials | None = None):
        super().__init__(file, problem)
        self.materials = materials


@dataclass(frozen=True)
class ContractSettings:
    """The contract's settings: params.yaml's ``materials`` section (``docs/data-contract.md``).

    The defaults are defined once, in params.yaml; :meth:`from_params` reads them.
    """

    mapping: Mapping  # file -> {"columns": {ours: theirs}, "values": {our column: {theirs: ours}}}
    max_quarantine_share: float  # a file with more quarantined rows than this share stops
    earliest_date: str  # no date or timestamp before this day ...
    latest_date: str  # ... or after it (recommendations: nothing after their export_time either)
    date_ranges: Mapping  # column -> [earliest, latest] overriding the two above (null = keep)
    max_quantity: int  # transactions.quantity is 1..max_quantity
    max_price_eur: float  # prices above this are quarantined
    description_min_words: int  # shorter descriptions are a finding
    dialects: Mapping  # file -> {encoding, delimiter, decimal, line_ends} fixed where detection is wrong

    @classmethod
    def from_params(cls, section: Mapping | None = None) -> ContractSettings:
        """Settings from params.yaml's ``materials`` section (or the given dict)."""
        if section is None:
            section = _params_section()
        missing = [f.name for f in dataclasses.fields(cls) if f.name not in section]
        if missing:
            raise ValueError(f"params.yaml {PARAMS_SECTION}: missing setting(s) {', '.join(missing)}")
        return cls(**{f.name: section[f.name] for f in dataclasses.fields(cls)})

    def __post_init__(self):
        def fail(key: str, problem: str):
            raise ValueError(f"params.yaml {PARAMS_SECTION}.{key}: {problem}")

        share = self.max_quarantine_share
        if isinstance(share, bool) or not isinstance(share, (int, float)) or not 0 <= share <= 1:
            fail("max_quarantine_share", f"must be a number in [0, 1], got {share!r}")
        for key in ("max_quantity", "max_price_eur", "description_min_words"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
                fail(key, f"must be a number >= 0, got {value!r}")
        for key in ("earliest_date", "latest_date"):
            object.__setattr__(self, key, _iso_day(getattr(self, key), lambda p, k=key: fail(k, p)))
        ranges = {}
        date_columns = {c for s in SPECS.values() for c, (k, _) in s.columns.items() if k in (DATE, TIMESTAMP)}
        for column, bounds in dict(self.date_ranges or {}).items():
            key = f"date_ranges.{column}"
            if column not in date_columns:
                fail(key, f"no date or timestamp column '{column}' (have: {', '.join(sorted(date_columns))})")
            if not isinstance(bounds, (list, tuple)) or len(bounds) != 2:
                fail(key, f"must be [earliest, latest], got {bounds!r}")
            ranges[column] = tuple(
                default if b is None else _iso_day(b, lambda p, k=key: fail(k, p))
                for b, default in zip(bounds, (self.earliest_date, self.latest_date))
            )
        object.__setattr__(self, "date_ranges", ranges)
        object.__setattr__(self, "mapping", _normalise_mapping(self.mapping))
        object.__setattr__(self, "dialects", dialect.normalise_dialects(self.dialects, MATERIAL_FILES))

    def date_range(self, column: str) -> tuple[str, str]:
        """(earliest, latest) plausible day of a date or timestamp column, as ``YYYY-MM-DD``."""
        return self.date_ranges.get(column, (self.earliest_date, self.latest_date))


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
    findings: pd.DataFrame = field(default_factory=lambda: _empty_findings())
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
        section = _params_section()
        settings = settings or ContractSettings.from_params(section)
        folder = folder if folder is not None else config.ROOT / section["materials_dir"]
    if overrides:
        settings = dataclasses.replace(settings, **overrides)
    folder = Path(folder)
    read = {
        name: _read_file(folder, SPECS[name], settings.mapping.get(name, {}), settings.dialects.get(name, {}))
        for name in MATERIAL_FILES
    }
    raw = {name: r.raw for name, r in read.items()}
    text = {name: r.text for name, r in read.items()}
    missing = {name: r.missing for name, r in read.items() if r.missing}
    schemas = _schemas(settings)
    typed: dict[str, pd.DataFrame] = {}
    problems: dict[str, list[pd.DataFrame]] = {}
    for name in MATERIAL_FILES:
        typed[name], parse_problems = _parse(
            text[name], SPECS[name], settings, read[name].controls, read[name].dialect.decimal or "."
        )
        problems[name] = [parse_problems, _validate(typed[name], schemas[name])]

    def accepted(name: str) -> pd.DataFrame:
        return typed[name].drop(index=_problem_rows(problems[name]))

    # References, in dependency order: each file is checked against the accepted rows of the
    # files it points to, so that the accepted frames are consistent with each other.
    products, customers = accepted(PRODUCTS_FILE), accepted(CUSTOMERS_FILE)
    tx_name, rec_name = TRANSACTIONS_FILE, RECOMMENDATIONS_FILE
    problems[tx_name] += _reference_problems(typed[tx_name], text, products, customers)
    problems[tx_name].append(_return_problems(typed[tx_name], _problem_rows(problems[tx_name])))
    problems[rec_name] += _reference_problems(typed[rec_name], text, products, customers)

    kept, frames, reports, counts, cascaded = {}, {}, [], {}, {}
    for name in MATERIAL_FILES:
        found = pd.concat(problems[name], ignore_index=True)
        reports.append(_render(found, raw[name], name))
        kept[name] = accepted(name)
        frames[name] = _finish(kept[name], SPECS[name])
        counts[name] = _count(name, len(raw[name]), len(frames[name]), found["row"].nunique())
        own = found.loc[~found["reason"].isin(CASCADE_REASONS), "row"]
        cascaded[name] = int(found["row"].nunique() - own.nunique())
    materials = Materials(
        products=frames[PRODUCTS_FILE],
        customers=frames[CUSTOMERS_FILE],
        transactions=frames[TRANSACTIONS_FILE],
        recommendations=frames[RECOMMENDATIONS_FILE],
        quarantine=sort_frame(pd.concat(reports, ignore_index=True), QUARANTINE_SORT),
        counts=counts,
        findings=_findings(kept, missing, settings, {name: r.attributes for name, r in read.items()}),
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
# Settings helpers
# --------------------------------------------------------------------------------------------


def _params_section() -> Mapping:
    """params.yaml's ``materials`` section, or ValueError saying where it was looked for."""
    try:
        return config.load_params(PARAMS_SECTION)
    except FileNotFoundError:
        raise ValueError(
            f"no params.yaml at {config.PARAMS_FILE}: run from the project folder or set STOFFWECHSEL_ROOT"
        ) from None
    except KeyError as err:
        raise ValueError(str(err.args[0])) from None


def _iso_day(value, fail: Callable[[str], None]) -> str:
    """A setting's day as ``YYYY-MM-DD`` (YAML reads an unquoted 1990-01-01 as a date)."""
    text = str(value)
    if re.fullmatch(_YMD, text):
        try:
            return date.fromisoformat(text).isoformat()
        except ValueError:
            pass
    fail(f"must be a day YYYY-MM-DD, got {value!r}")


def _normalise_mapping(mapping) -> dict[str, dict[str, dict]]:
    """Check ``materials.mapping``; codes and names become text (YAML may read ``1`` as a number)."""
    if mapping is None:
        return {}
    if not isinstance(mapping, Mapping):
        raise ValueError(f"params.yaml {PARAMS_SECTION}.mapping: must be a mapping of file names, got {mapping!r}")
    out = {}
    for file, spec in mapping.items():
        if file not in SPECS:
            raise ContractError(
                str(file),
                f"params.yaml {PARAMS_SECTION}.mapping names an unknown file "
                f"(the files are: {', '.join(MATERIAL_FILES)})",
            )
        spec = spec or {}
        extra = set(spec) - {"columns", "values"}
        if extra:
            raise ContractError(
                file,
                f"params.yaml {PARAMS_SECTION}.mapping: unknown key(s) {', '.join(map(str, extra))} "
                "(allowed: columns, values)",
            )
        columns = {str(k): str(v).strip() for k, v in (spec.get("columns") or {}).items()}
        values = {
            str(k): {str(a).strip(): str(b) for a, b in (v or {}).items()}
            for k, v in (spec.get("values") or {}).items()
        }
        for column in [*columns, *values]:
            if column not in SPECS[file].columns:
                raise ContractError(
                    file,
                    f"params.yaml {PARAMS_SECTION}.mapping: no contract column '{column}' "
                    f"(columns: {', '.join(SPECS[file].columns)})",
                )
        theirs = list(columns.values())
        doubled = sorted({t for t in theirs if theirs.count(t) > 1})
        if doubled:
            raise ContractError(
                file,
                f"params.yaml {PARAMS_SECTION}.mapping: column(s) {', '.join(doubled)} "
                "mapped onto more than one contract column",
            )
        out[file] = {"columns": columns, "values": values}
    return out


# --------------------------------------------------------------------------------------------
# Pass 0: the file as a frame of text (file-level checks)
# --------------------------------------------------------------------------------------------

_QUOTED = r'"(?:[^"]|"")*"'


class _File(NamedTuple):
    raw: pd.DataFrame  # the cells as written (str, "" = empty); index = line number of each row
    text: pd.DataFrame  # the same, trimmed and value-mapped; blank vocabulary attributes UNKNOWN
    missing: str  # why an optional file has no rows ("" if it has some)
    controls: bool  # whether a cell may hold a control character (if not, cells are not searched)
    dialect: Dialect  # how the file is written
    attributes: dict  # attribute column -> mask of its blank rows, or None when the column is absent


def _read_file(folder: Path, spec: FileSpec, mapping: dict, fixed: dict | None = None) -> _File:
    """The file as text frames; raises :class:`ContractError` for every file-level problem.
    ``fixed``: the parts of the file's dialect set in params.yaml (``materials.dialects``)."""
    name, path = spec.name, folder / spec.name
    optional = name in OPTIONAL_FILES
    fixed = fixed or {}

    def no_rows(problem: str, why: str, found: Dialect = Dialect()):
        if not optional:
            raise ContractError(name, problem)
        empty = pd.DataFrame({c: pd.Series([], dtype="str") for c in spec.columns})
        empty.index = pd.Index([], dtype="int64", name="row")
        return _File(empty, empty.copy(), why, False, found, {})

    if path.is_dir():
        raise ContractError(name, f"is a directory, not a file (in {folder})")
    if not path.exists():
        return no_rows(f"file not found in {folder}", "file absent")
    if not path.is_file():
        raise ContractError(name, "not a regular file")
    try:
        data = path.read_bytes()
    except OSError as err:
        raise ContractError(name, f"cannot read the file: {err.strerror or err}") from None
    if not data.strip():
        return no_rows(f"file is empty ({len(data)} bytes)", "file is empty")
    if b"\x00" in data:
        raise ContractError(name, "contains NUL bytes: a binary file or not UTF-8 (e.g. UTF-16)")
    try:
        decoded, encoding = dialect.decode(data, fixed.get("encoding"))
    except DialectError as err:
        raise ContractError(name, str(err)) from None
    line_ends = fixed.get("line_ends") or dialect.detect_line_ends(decoded)
    text = dialect.to_lf(decoded, line_ends, "line_ends" in fixed)
    first = next((line for line in text.split("\n", 64) if line.strip()), "")
    columns = mapping.get("columns", {})
    ours = {theirs: our for our, theirs in columns.items()}
    expected = {columns.get(c, c) for c in spec.columns} | set(ours)
    delimiter = fixed.get("delimiter") or dialect.detect_delimiter(first, expected)
    has_decimals = any(k == DECIMAL for k, _ in spec.columns.values())
    found = Dialect(encoding, delimiter, fixed.get("decimal", ".") if has_decimals else None, line_ends, tuple(fixed))
    records = _scan_records(name, text, delimiter)
    header, absent = _header(name, records["text"].iloc[0], spec, columns, found)
    if len(records) == 1:
        return no_rows("file has a header but no data rows", "file has a header but no data rows", found)
    expected_fields = records["fields"].iloc[0]
    rows = records.iloc[1:]
    wrong = rows[rows["fields"] != expected_fields]
    if len(wrong):
        line, fields = wrong["line"].iloc[0], wrong["fields"].iloc[0]
        more = f" (and {len(wrong) - 1} more such lines)" if len(wrong) > 1 else ""
        problem = f"cannot parse CSV: line {line} has {fields} fields, expected {expected_fields}{more}"
        if delimiter != ",":
            problem += f" ({dialect.DELIMITERS[delimiter]}-separated)"
        raise ContractError(name, problem)
    frame = _cells(name, text, header, delimiter)
    if len(frame) != len(records) - 1:  # pragma: no cover - a CSV dialect the scan misreads
        raise ContractError(name, f"cannot parse CSV: {len(frame)} rows but {len(records) - 1} records")
    for column in absent:
        frame[column] = pd.Series("", index=frame.index, dtype="str")
    raw = frame[list(spec.columns)].astype(str)
    raw.index = pd.Index(records["line"].iloc[1:].to_numpy(), name="row")
    cleaned = pd.DataFrame({c: raw[c].str.strip() for c in raw.columns}, index=raw.index)
    for column, codes in mapping.get("values", {}).items():
        cleaned[column] = cleaned[column].replace(codes)
    if has_decimals and "decimal" not in fixed:
        numbers = [cleaned[c] for c, (k, _) in spec.columns.items() if k == DECIMAL and c not in absent]
        found = dataclasses.replace(found, decimal=dialect.detect_decimal(pd.concat(numbers), delimiter))
    attributes = {}
    for column in spec.attributes:
        blank = None if column in absent else cleaned[column] == ""
        attributes[column] = blank
        if spec.columns[column][0] == VOCAB:
            cleaned.loc[cleaned[column] == "", column] = UNKNOWN
    _check_unique_key(name, cleaned, spec.key)
    utf8 = data if encoding.startswith("utf-8") else decoded.encode(ENCODING)
    controls = _has_control_characters(utf8) or bool(records.attrs["multiline"])
    return _File(raw, cleaned, "", controls, found, attributes)


def _cells(name: str, text: str, header: list[str], delimiter: str = ",") -> pd.DataFrame:
    """All cells as ``str`` ("" for an empty cell), columns named ``header``; blank lines are
    skipped (as by the scan). pyarrow's reader (fast, threaded) unless a stray ``\r`` is in
    the text (pyarrow would end a line there); pandas' reader otherwise or if pyarrow fails."""
    text = text.lstrip("\n")  # blank lines before the header (pyarrow's skip_rows would count them)
    if "\r" not in text:
        try:
            table = pyarrow_csv.read_csv(
                io.BytesIO(text.encode(ENCODING)),
                read_options=pyarrow_csv.ReadOptions(
                    column_names=[f"c{i}" for i in range(len(header))], skip_rows=1, block_size=1 << 24
                ),
                parse_options=pyarrow_csv.ParseOptions(delimiter=delimiter, newlines_in_values=True),
                convert_options=pyarrow_csv.ConvertOptions(
                    column_types={f"c{i}": pyarrow.large_string() for i in range(len(header))},
                    strings_can_be_null=False,
                    quoted_strings_can_be_null=False,
                ),
            )
        except (pyarrow.ArrowInvalid, ValueError):
            pass
        else:
            return pd.DataFrame({h: pd.array(column, dtype="str") for h, column in zip(header, table.columns)})
    try:
        frame = pd.read_csv(
            io.StringIO(text), sep=delimiter, dtype=str, keep_default_na=False, na_filter=False, lineterminator="\n"
        )
    except Exception as err:  # noqa: BLE001 - any parser failure is one line naming the file
        raise ContractError(name, f"cannot parse CSV: {err}") from None
    if len(frame.columns) != len(header):  # pragma: no cover - the scan counted the fields
        raise ContractError(name, f"cannot parse CSV: {len(frame.columns)} columns but {len(header)} names")
    frame.columns = header
    return frame


def _has_control_characters(data: bytes) -> bool:
    """Whether the UTF-8 bytes hold a control character other than a line feed: C0 (tab and
    carriage return included), DEL, or C1 (U+0080-U+009F, bytes C2 80-C2 9F)."""
    c0 = bytes(range(0x20)).replace(b"\n", b"") + b"\x7f"
    if data.translate(None, bytes(sorted(set(range(256)) - set(c0)))):
        return True
    return b"\xc2" in data and re.search(rb"\xc2[\x80-\x9f]", data) is not None


def _scan_records(name: str, text: str, delimiter: str = ",") -> pd.DataFrame:
    """Every non-blank CSV record, header included: its first ``line``, its ``fields`` count
    and its ``text``.

    Vectorised over physical lines: a line with an odd number of quotes opens (or closes) a
    quoted field running across lines, so records are runs of lines; fields are counted as the
    delimiters outside quoted text. (pandas would silently pad a short row with empty cells.)
    """
    lines = pd.Series(text.split("\n"), dtype="str")
    odd = _count_literal(lines, '"') % 2 == 1
    inside_after = odd.cumsum() % 2 == 1  # after this line we are inside a quoted field
    starts = ~inside_after.shift(fill_value=False)
    if inside_after.iloc[-1]:
        opened = starts[starts].index[-1] + 1
        raise ContractError(name, f"cannot parse CSV: unclosed quote in the record starting at line {opened}")
    records = lines
    if not starts.all():
        records = lines.groupby(starts.cumsum()).agg("\n".join)
        records.index = starts[starts].index
    records = records[records != ""]
    unquoted = records.str.replace(_QUOTED, "", regex=True) if '"' in text else records
    out = pd.DataFrame(
        {"line": records.index + 1, "fields": _count_literal(unquoted, delimiter) + 1, "text": records}
    ).reset_index(drop=True)
    out.attrs["multiline"] = not starts.all()  # a quoted cell spans lines
    return out


def _count_literal(s: pd.Series, needle: str) -> pd.Series:
    """Occurrences of ``needle`` in each cell (pyarrow's literal count; pandas' is a regex)."""
    counts = pc.count_substring(_arrow_text(s), needle).to_numpy(zero_copy_only=False)
    return pd.Series(counts, index=s.index, dtype="int64")


HEADER_SHOWN = 120  # characters of a header line quoted in an error


def _header(
    name: str, line: str, spec: FileSpec, columns: dict[str, str], found: Dialect
) -> tuple[list[str], list[str]]:
    """The header's column names (trimmed, then renamed by the mapping ``{ours: theirs}``) and
    the attribute columns absent from it."""
    try:
        header = dialect.split_header(line, found.delimiter)
    except csv.Error as err:  # e.g. a field over the csv module's 128 KiB limit
        raise ContractError(name, f"cannot parse CSV header (line 1): {err}") from None
    ours = {theirs: our for our, theirs in columns.items()}
    renamed = [ours.get(h, h) for h in header]
    seen, duplicated = set(), []
    for column in renamed:
        if column in seen and column not in duplicated:
            duplicated.append(column)
        seen.add(column)
    if duplicated:
        detail = [f"{c} (mapped from {columns[c]})" if c in columns else c for c in duplicated]
        raise ContractError(name, f"duplicate column name(s): {', '.join(detail)}")
    if not seen & set(spec.columns):
        shown = line if len(line) <= HEADER_SHOWN else line[: HEADER_SHOWN - 1] + "…"
        raise ContractError(
            name,
            f"no expected column in the header, read as {found.describe()}: {shown!r} "
            f"(set the file's dialect in params.yaml {dialect.PARAMS_KEY}, or its column names in "
            f"{PARAMS_SECTION}.mapping)",
        )
    missing = [c for c in spec.columns if c not in seen and c not in spec.attributes]
    if missing:
        detail = [f"{c} (mapped from {columns[c]})" if c in columns else c for c in missing]
        raise ContractError(name, f"missing required column(s): {', '.join(detail)}")
    return renamed, [c for c in spec.attributes if c not in seen]


def _check_unique_key(name: str, frame: pd.DataFrame, key: tuple[str, ...]) -> None:
    """Duplicate keys (among rows whose key cells are all filled) are a file-level error."""
    keys = frame[list(key)]
    keys = keys[(keys != "").all(axis=1)]
    dup = keys[keys.duplicated(keep=False)]
    if dup.empty:
        return
    groups = dup.reset_index().groupby(list(key), sort=False)["row"].agg(list)
    first_key, rows = groups.index[0], groups.iloc[0]
    first_key = first_key if isinstance(first_key, tuple) else (first_key,)
    shown = ", ".join(f"{c}={v}" for c, v in zip(key, first_key))
    more = len(groups) - 1
    raise ContractError(
        name,
        f"duplicate key {shown} on lines {', '.join(map(str, rows))}"
        + (f" (and {more} more duplicate keys)" if more else ""),
    )


# --------------------------------------------------------------------------------------------
# Pass 1: parsing (pandas / pyarrow)
# --------------------------------------------------------------------------------------------


def _parse(
    text: pd.DataFrame, spec: FileSpec, settings: ContractSettings, controls: bool = True, decimal: str = "."
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Typed frame (same index; bad or empty cells are NaN/NaT/NA) and parse problems.
    ``controls=False``: the file holds no control character, so cells are not searched for one.
    ``decimal``: the file's decimal mark (:mod:`stoffwechsel.data.dialect`)."""
    typed, found = {}, []
    for column, (kind, required) in spec.columns.items():
        s = text[column]
        filled = s != ""
        if required:
            found.append(_problems(~filled, column, EMPTY))
        if kind in _STRING_KINDS:
            control = pd.Series(False, index=s.index)
            if controls:
                pattern = _CONTROL_IN_TEXT if kind in (TEXT, MULTI) else _CONTROL_ANY
                control = s.str.contains(pattern, regex=True).fillna(False).astype(bool)
            bad = control.copy()
            found.append(_problems(control, column, CONTROL_CHARACTER))
            if kind in (ID, CODE):
                digits = _non_ascii_digits(s) & ~control
                found.append(_problems(digits, column, NON_ASCII_DIGITS))
                bad |= digits
            typed[column] = s.where(~bad & (filled | (kind == MULTI)))
            continue
        if kind in (DATE, TIMESTAMP):
            value, column_problems = _parse_when(s, filled, kind, settings.date_range(column))
        elif kind == INTEGER:
            value, column_problems = _parse_integer(s, filled)
        else:
            value, column_problems = _parse_decimal(s, filled, decimal)
        found += [_problems(mask, column, reason) for reason, mask in column_problems]
        typed[column] = value
    return pd.DataFrame(typed, index=text.index), pd.concat(found, ignore_index=True)


@functools.cache
def _non_ascii_digit_class() -> str:
    """A regex class of every character Python calls a digit except 0-9 (Arabic-Indic,
    full-width, superscript, ...): 778 characters in about 80 runs, computed once."""
    runs, start, previous = [], None, None
    for code in range(128, sys.maxunicode + 1):
        if chr(code).isdigit():
            if start is None:
                start = code
            elif code != previous + 1:
                runs.append((start, previous))
                start = code
            previous = code
    runs.append((start, previous))
    return "[" + "".join(chr(a) if a == b else f"{chr(a)}-{chr(b)}" for a, b in runs) + "]"


def _non_ascii_digits(s: pd.Series) -> pd.Series:
    """Whether each cell holds a digit other than 0-9 (checked only on non-ASCII cells)."""
    out = pd.Series(False, index=s.index)
    other = ~s.str.isascii().fillna(True).astype(bool)
    if other.any():
        out[other] = s[other].str.contains(_non_ascii_digit_class(), regex=True).fillna(False).astype(bool)
    return out


def _number_shape_problem(s: pd.Series, filled: pd.Series, shape_ok: pd.Series, reason: str) -> list:
    """Cells that are not a number: non-ASCII digits get their own reason."""
    bad = filled & ~shape_ok
    digits = bad & _non_ascii_digits(s)
    return [(NON_ASCII_DIGITS, digits), (reason, bad & ~digits)]


def _parse_integer(s: pd.Series, filled: pd.Series) -> tuple[pd.Series, list]:
    """Exact 64-bit integers (never through a float): ``-?[0-9]+`` within int64."""
    integer = s.str.fullmatch(INTEGER_SHAPE).fillna(False).astype(bool)
    decimal = s.str.fullmatch(DECIMAL_SHAPE).fillna(False).astype(bool)
    digits = s.str.removeprefix("-").str.lstrip("0")
    n = digits.str.len().fillna(0).astype("int64")
    fits = integer & (n <= 19)
    edge = fits & (n == 19)  # 19 digits: compare with the int64 limit as text
    if edge.any():
        negative = s[edge].str.startswith("-").fillna(False).astype(bool)
        limit = negative.map({True: INT64_DIGITS[True], False: INT64_DIGITS[False]})
        fits[edge] = (digits[edge] <= limit.astype("str")).fillna(False).astype(bool)
    problems = _number_shape_problem(s, filled, decimal, NOT_A_NUMBER)
    problems += [(NOT_AN_INTEGER, decimal & ~integer), (OUTSIDE_INT64, integer & ~fits)]
    return _cast(s.where(fits), pyarrow.int64(), "Int64"), problems


def _parse_decimal(s: pd.Series, filled: pd.Series, decimal: str = ".") -> tuple[pd.Series, list]:
    """Finite decimals written ``-?[0-9]+(.[0-9]+)?`` (``,`` for the mark in a decimal-comma
    file; no exponent, no ``nan``/``inf``); a number with thousands separators is refused."""
    shape = s.str.fullmatch(dialect.DECIMAL_SHAPES[decimal]).fillna(False).astype(bool)
    number = s if decimal == "." else s.str.replace(decimal, ".", regex=False)
    value = _cast(number.where(shape), pyarrow.float64(), "float64")  # too many digits: inf
    finite = pd.Series(np.isfinite(value.to_numpy()), index=s.index)
    thousands = filled & ~shape & s.str.fullmatch(dialect.THOUSANDS_SHAPES[decimal]).fillna(False).astype(bool)
    problems = _number_shape_problem(s, filled, shape | thousands, NOT_A_NUMBER)
    problems += [(THOUSANDS_SEPARATOR, thousands), (NOT_FINITE, shape & ~finite)]
    return value.where(finite), problems


def _arrow_text(s: pd.Series) -> pyarrow.Array:
    return pyarrow.array(s.astype("str").array)


def _cast(s: pd.Series, arrow_type: pyarrow.DataType, dtype: str) -> pd.Series:
    """Text already checked for its shape (NaN elsewhere) cast exactly by pyarrow."""
    values = pc.cast(_arrow_text(s), arrow_type)
    if dtype == "Int64":
        return pd.Series(pd.array(values, dtype="Int64"), index=s.index)
    return pd.Series(values.to_numpy(zero_copy_only=False), index=s.index, dtype=dtype)


#: Common shapes parsed directly, fastest first: (shape, strptime format); anything else goes
#: through TIMESTAMP_PATTERN / DATE_PATTERN.
TIMESTAMP_SHAPES = (
    (CANONICAL_TIMESTAMP, "%Y-%m-%dT%H:%M:%S"),
    (_YMD + r" [0-9]{2}:[0-9]{2}:[0-9]{2}", "%Y-%m-%d %H:%M:%S"),
    (_YMD + r" [0-9]{2}:[0-9]{2}", "%Y-%m-%d %H:%M"),
    (_YMD + r"T[0-9]{2}:[0-9]{2}", "%Y-%m-%dT%H:%M"),
    (_YMD, "%Y-%m-%d"),
)
DATE_SHAPES = ((_YMD, "%Y-%m-%d"),)


def _parse_when(s: pd.Series, filled: pd.Series, kind: str, bounds: tuple[str, str]) -> tuple[pd.Series, list]:
    """Dates or timestamps as ``datetime64[us]`` Europe/Berlin wall time (see
    ``docs/data-contract.md``); cells outside ``bounds`` (days ``YYYY-MM-DD``) are problems."""
    reason = NOT_A_DATE if kind == DATE else NOT_A_TIMESTAMP
    shapes = TIMESTAMP_SHAPES if kind == TIMESTAMP else DATE_SHAPES
    fmt = pd.Series(None, index=s.index, dtype="object")  # the strptime format of each simple cell
    rest = filled.copy()
    for shape, strptime in shapes:
        if not rest.any():
            break
        hit = rest & s.str.fullmatch(shape).fillna(False).astype(bool)
        fmt[hit] = strptime
        rest &= ~hit
    day = s.str.slice(0, 10).where(fmt.notna())
    parts = None
    if rest.any():
        pattern = TIMESTAMP_PATTERN if kind == TIMESTAMP else DATE_PATTERN
        extracted = pc.extract_regex(_arrow_text(s[rest]), pattern)
        parts = pd.DataFrame(
            {f.name: pd.array(pc.struct_field(extracted, f.name), dtype="str") for f in extracted.type},
            index=s[rest].index,
        )
        day[rest] = parts["d"]
    matched = day.notna()
    early, late = (matched & (day < bounds[0])), (matched & (day > bounds[1]))
    in_range = matched & ~early & ~late
    value = pd.Series(pd.NaT, index=s.index, dtype=TIMESTAMP_UNIT)
    for strptime in fmt[in_range & fmt.notna()].unique():
        at = in_range & (fmt == strptime)
        value[at] = pd.to_datetime(s[at], format=strptime, errors="coerce").astype(TIMESTAMP_UNIT)
    if parts is not None:
        slow = in_range & rest
        value[slow] = _assemble(parts.loc[slow[slow].index], kind)
    problems = _number_shape_problem(s, filled, matched, reason)
    problems += [
        (reason, in_range & value.isna()),
        (f"before the plausible range (from {bounds[0]})", early),
        (f"after the plausible range (to {bounds[1]})", late),
    ]
    return value, problems


def _assemble(parts: pd.DataFrame, kind: str) -> pd.Series:
    """Wall-clock times from regex parts ``d h m s f z`` ("" = not given); NaT where a part is
    out of range (hour 24, minute 60, 30 February, offset beyond 18 hours)."""
    day = pd.to_datetime(parts["d"], format="%Y-%m-%d", errors="coerce").astype(TIMESTAMP_UNIT)
    if kind == DATE:
        return day

    def number(text: pd.Series) -> pd.Series:  # digits only (the pattern says so); "" = 0
        return _cast(text.replace("", "0"), pyarrow.int64(), "Int64").astype("int64")

    hour, minute, second = number(parts["h"]), number(parts["m"]), number(parts["s"])
    micro = number(parts["f"].str.pad(9, side="right", fillchar="0")) // 1000
    clock_ok = (hour <= 23) & (minute <= 59) & (second <= 59)
    value = day + pd.to_timedelta(hour * 3600 + minute * 60 + second, unit="s") + pd.to_timedelta(micro, unit="us")
    zone = parts["z"]
    aware = zone != ""
    if aware.any():
        digits = zone[aware].replace("Z", "+0000").str.replace(":", "", regex=False)
        sign = np.where(digits.str.startswith("-"), -1, 1)
        hours, minutes = number(digits.str.slice(1, 3)), number(digits.str.slice(3, 5))
        offset = sign * (hours * 60 + minutes)
        clock_ok[aware] = clock_ok[aware] & (hours <= 18) & (minutes <= 59)
        utc = (value[aware] - pd.to_timedelta(offset, unit="min")).dt.tz_localize("UTC")
        value[aware] = utc.dt.tz_convert(TIMEZONE).dt.tz_localize(None).astype(TIMESTAMP_UNIT)
    return value.where(clock_ok).astype(TIMESTAMP_UNIT)


# --------------------------------------------------------------------------------------------
# Pass 2: values (one pandera schema per file)
# --------------------------------------------------------------------------------------------


def _one_of(allowed: tuple[str, ...]) -> pa.Check:
    return pa.Check.isin(allowed, error=UNKNOWN_VALUE.format(allowed=", ".join(allowed)))


def _row_rule(column: str, reason: str, bad: Callable[[pd.DataFrame], pd.Series]) -> pa.Check:
    """A check across the columns of a row; ``bad`` marks failing rows, ``column`` is reported."""
    return pa.Check(lambda df: ~bad(df).fillna(False).astype(bool), error=f"{column}: {reason}", ignore_na=False)


def _exists_in_berlin(s: pd.Series) -> pd.Series:
    """False for wall-clock times skipped by the spring DST change (02:00-03:00)."""
    ambiguous = np.zeros(len(s), dtype=bool)
    return s.dt.tz_localize(TIMEZONE, nonexistent="NaT", ambiguous=ambiguous).notna()


def _has_cents_only(s: pd.Series) -> pd.Series:
    cents = s * 100
    return pd.Series(np.isclose(cents, cents.round(), rtol=0, atol=1e-6), index=s.index)


def _timestamp_column(*checks: pa.Check) -> pa.Column:
    return pa.Column(nullable=True, checks=[*checks, pa.Check(_exists_in_berlin, error=DST_GAP)])


def _column(*checks: pa.Check) -> pa.Column:
    return pa.Column(nullable=True, checks=list(checks))


def _between(low, high, low_strict: bool = False) -> list[pa.Check]:
    first = pa.Check.gt(low, error=f"must be > {low}") if low_strict else pa.Check.ge(low, error=f"must be >= {low}")
    return [first, pa.Check.le(high, error=f"must be <= {high:g}")]


def _outcome_rules() -> list[pa.Check]:
    """Recommendation outcomes: timestamps vs. statuses vs. attribution windows (OUTCOMES)."""
    rules = [
        _row_rule("served_at", "served_at after export_time", lambda d: d.served_at > d.export_time),
        _row_rule(
            "export_time",
            "export_time differs from the rest of the file",
            lambda d: d.export_time.notna() & (d.export_time != d.export_time.mode().max()),
        ),
        _row_rule(
            "returned_at",
            "returned_at without purchased_at",
            lambda d: d.returned_at.notna() & d.purchased_at.isna(),
        ),
        _row_rule(
            "return_status",
            "return_status 'not_purchased' but purchase_status 'yes'",
            lambda d: (d.return_status == "not_purchased") & (d.purchase_status == "yes"),
        ),
        _row_rule(
            "return_status",
            "return outcome (yes/no) without a purchase",
            lambda d: d.return_status.isin(("yes", "no")) & d.purchase_status.isin(("no", "pending")),
        ),
        # A pending purchase may have return_status 'pending' (not yet known) or 'not_purchased'.
        _row_rule(
            "return_status",
            "return_status 'pending' but purchase_status 'no'",
            lambda d: (d.return_status == "pending") & (d.purchase_status == "no"),
        ),
    ]
    for ts, status, anchor, days in OUTCOMES:
        span = "1 day" if days == 1 else f"{days} days"

        def window_end(d, anchor=anchor, window=pd.Timedelta(days=days)):
            return d[anchor] + window

        rules += [
            _row_rule(ts, f"{ts} before {anchor}", lambda d, ts=ts, a=anchor: d[ts] < d[a]),
            _row_rule(ts, f"{ts} more than {span} after {anchor}", lambda d, ts=ts, end=window_end: d[ts] > end(d)),
            _row_rule(ts, f"{ts} after export_time", lambda d, ts=ts: d[ts] > d.export_time),
            _row_rule(
                status,
                "status 'yes' without timestamp",
                lambda d, ts=ts, st=status: (d[st] == "yes") & d[ts].isna(),
            ),
            _row_rule(
                status,
                "status other than 'yes' with a timestamp",
                lambda d, ts=ts, st=status: d[st].notna() & (d[st] != "yes") & d[ts].notna(),
            ),
            _row_rule(
                status,
                "status 'pending' after its window closed",
                lambda d, st=status, end=window_end: (d[st] == "pending") & (d.export_time >= end(d)),
            ),
            _row_rule(
                status,
                "status 'no' while its window is open",
                lambda d, st=status, end=window_end: (d[st] == "no") & (d.export_time < end(d)),
            ),
        ]
    return rules


def _schemas(settings: ContractSettings) -> dict[str, pa.DataFrameSchema]:
    max_price, max_quantity = settings.max_price_eur, settings.max_quantity
    return {
        PRODUCTS_FILE: pa.DataFrameSchema(
            {
                "price_eur": _column(
                    *_between(0, max_price, low_strict=True),
                    pa.Check(_has_cents_only, error="more than two decimals"),
                ),
            },
            checks=[
                _row_rule("sale_end", "sale_end before sale_start", lambda d: d.sale_end < d.sale_start),
            ],
            name=PRODUCTS_FILE,
        ),
        CUSTOMERS_FILE: pa.DataFrameSchema({}, name=CUSTOMERS_FILE),
        TRANSACTIONS_FILE: pa.DataFrameSchema(
            {
                "event_type": _column(_one_of(EVENT_TYPES)),
                "event_time": _timestamp_column(),
                "quantity": _column(*_between(1, max_quantity)),
                "unit_price_eur": _column(*_between(0, max_price)),
            },
            checks=[
                _row_rule(
                    "quantity",
                    f"must be 1 for {' and '.join(SINGLE_UNIT_EVENTS)}",
                    lambda d: d.event_type.isin(SINGLE_UNIT_EVENTS) & (d.quantity > 1),
                ),
                _row_rule(
                    "return_of",
                    "return_of given on a non-return event",
                    lambda d: d.return_of.notna() & d.event_type.notna() & (d.event_type != "return"),
                ),
                _row_rule(
                    "return_of",
                    "return without return_of",
                    lambda d: (d.event_type == "return") & d.return_of.isna(),
                ),
            ],
            name=TRANSACTIONS_FILE,
        ),
        RECOMMENDATIONS_FILE: pa.DataFrameSchema(
            {
                "served_at": _timestamp_column(),
                "position": _column(*_between(*POSITION_RANGE)),
                "score": _column(*_between(*SCORE_RANGE)),
                "clicked_at": _timestamp_column(),
                "purchased_at": _timestamp_column(),
                "returned_at": _timestamp_column(),
                "click_status": _column(_one_of(OUTCOME_STATUSES)),
                "purchase_status": _column(_one_of(OUTCOME_STATUSES)),
                "return_status": _column(_one_of(RETURN_STATUSES)),
                "export_time": _timestamp_column(),
            },
            checks=_outcome_rules(),
            name=RECOMMENDATIONS_FILE,
        ),
    }


def _validate(typed: pd.DataFrame, schema: pa.DataFrameSchema) -> pd.DataFrame:
    """Problems found by ``schema`` (lazy): failure cases mapped back to line and column."""
    if typed.empty:
        return _problems(pd.Series(False, index=typed.index), "", "")
    try:
        schema.validate(typed, lazy=True)
    except pa.errors.SchemaErrors as err:
        cases = err.failure_cases
    else:
        return _problems(pd.Series(False, index=typed.index), "", "")
    if cases["index"].isna().any():  # pragma: no cover - a schema-level failure is a bug here
        unexpected = cases[cases["index"].isna()].to_dict("records")
        raise RuntimeError(f"{schema.name}: unexpected schema failure: {unexpected}")
    column = cases["column"].astype(str)
    reason = cases["check"].astype(str)
    is_row_rule = cases["schema_context"] == "DataFrameSchema"
    split = reason[is_row_rule].str.split(": ", n=1, expand=True)
    if not split.empty:
        column[is_row_rule], reason[is_row_rule] = split[0], split[1]
    found = pd.DataFrame({"row": cases["index"].astype("int64"), "column": column, "reason": reason})
    return found.drop_duplicates(ignore_index=True)


# --------------------------------------------------------------------------------------------
# Pass 3: references between files and between transactions (pandas)
# --------------------------------------------------------------------------------------------


def _keys_in(frame: pd.DataFrame, columns: list[str], keys: pd.DataFrame) -> pd.Series:
    """Whether each row's ``columns`` occur as a row of ``keys`` (same column names)."""
    values, known = _joined(frame, columns), _joined(keys, columns).dropna().unique()
    # A hash lookup; Series.isin on Arrow-backed text loops over ``known`` in Python.
    return pd.Series(pd.Index(known).get_indexer(values) >= 0, index=frame.index)


def _joined(frame: pd.DataFrame, columns: list[str]) -> pd.Series:
    """One text key per row from ``columns`` (NaN if a part is missing), for fast ``isin``."""
    key = frame[columns[0]].astype(str).where(frame[columns[0]].notna())
    for column in columns[1:]:
        key = key + "\x1f" + frame[column].where(frame[column].notna())
    return key


def _reference_problems(
    child: pd.DataFrame, text: dict[str, pd.DataFrame], products: pd.DataFrame, customers: pd.DataFrame
) -> list[pd.DataFrame]:
    """Customer and product references of transactions or recommendations.

    A reference to a row that exists in the file (``text``: all rows, trimmed) but was
    quarantined is a problem too (with its own reason), so that the accepted frames join
    without loss.
    """
    customer = child["customer_id"].notna()
    product = child["product_id"].notna()
    season = child["season"].notna()
    all_products = text[PRODUCTS_FILE]
    known_id = _keys_in(child, ["product_id"], all_products)
    version = ["product_id", "season"]
    known_version = _keys_in(child, version, all_products)
    accepted_version = _keys_in(child, version, products)
    known_customer = _keys_in(child, ["customer_id"], text[CUSTOMERS_FILE])
    return [
        _problems(customer & ~known_customer, "customer_id", "unknown customer_id"),
        _problems(
            customer & known_customer & ~_keys_in(child, ["customer_id"], customers),
            "customer_id",
            QUARANTINED_CUSTOMER,
        ),
        _problems(product & ~known_id, "product_id", "unknown product_id"),
        _problems(
            product & known_id & ~season & ~_keys_in(child, ["product_id"], products),
            "product_id",
            QUARANTINED_PRODUCT,
        ),
        _problems(
            product & known_id & season & ~known_version, "season", "unknown product version (product_id, season)"
        ),
        _problems(
            product & season & known_version & ~accepted_version,
            "season",
            QUARANTINED_VERSION,
        ),
    ]


def _return_problems(tx: pd.DataFrame, quarantined_rows: pd.Index) -> pd.DataFrame:
    """Each return must point (``return_of``) at an accepted purchase of the same customer and
    product version that happened earlier."""
    returns = tx[(tx["event_type"] == "return") & tx["return_of"].notna()]
    targets = tx[tx["event_id"].notna()].reset_index().set_index("event_id")
    linked = returns.join(targets.add_prefix("p_"), on="return_of")
    found = linked["p_event_type"].eq("purchase")
    both_seasons = linked["season"].notna() & linked["p_season"].notna()
    other_product = (linked["product_id"] != linked["p_product_id"]) | (
        both_seasons & (linked["season"] != linked["p_season"])
    )
    return pd.concat(
        [
            _problems(~found, "return_of", "return_of refers to no purchase"),
            _problems(
                found & linked["customer_id"].notna() & (linked["customer_id"] != linked["p_customer_id"]),
                "return_of",
                "return_of refers to a purchase by another customer",
            ),
            _problems(found & other_product, "return_of", "return_of refers to a purchase of another product"),
            _problems(
                found & (linked["event_time"] < linked["p_event_time"]), "return_of", "return before its purchase"
            ),
            _problems(
                found & (linked["event_time"] == linked["p_event_time"]),
                "return_of",
                "return at the same time as its purchase",
            ),
            _problems(
                found & linked["p_row"].isin(quarantined_rows),
                "return_of",
                QUARANTINED_PURCHASE,
            ),
        ],
        ignore_index=True,
    )


# --------------------------------------------------------------------------------------------
# Findings: rows kept with something worth knowing
# --------------------------------------------------------------------------------------------


def _empty_findings() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series([], dtype="int64" if c == "rows" else "str") for c in FINDING_COLUMNS})


def description_words(s: pd.Series) -> pd.Series:
    """Length of each text in words, any script: runs of non-space, where characters of scripts
    written without spaces (Chinese, Japanese, Thai, ...) count
    :data:`CHARACTERS_PER_WORD_UNSPACED` to a word and their punctuation not at all."""
    s = s.fillna("").str.replace(_CJK_PUNCTUATION, " ", regex=True)
    unspaced = s.str.count(_UNSPACED_SCRIPTS)
    words = s.str.replace(_UNSPACED_SCRIPTS, " ", regex=True).str.count(r"\S+")
    return words + unspaced / CHARACTERS_PER_WORD_UNSPACED


def _findings(
    kept: dict[str, pd.DataFrame],
    missing: dict[str, str],
    settings: ContractSettings,
    attributes: dict[str, dict] | None = None,
) -> pd.DataFrame:
    """One row per (file, column, finding) over the accepted rows: how many rows, one example
    (the most frequent value, ties by first occurrence; a customer id is withheld).
    ``attributes``: per file, attribute column -> mask of blank rows (None: column absent)."""
    found: list[tuple[str, str, str, pd.Series]] = []  # file, column, finding, values of the rows
    absent: list[tuple[str, str, str]] = []  # file, column, finding: about a whole column
    for name, frame in kept.items():
        for column, blank in (attributes or {}).get(name, {}).items():
            is_list = SPECS[name].columns[column][0] == MULTI
            if blank is None:
                absent.append((name, column, LIST_ABSENT if is_list else ATTRIBUTE_ABSENT))
            elif not is_list:  # a blank list is "none", as always
                rows = blank.reindex(frame.index, fill_value=False).to_numpy(dtype=bool)
                found.append((name, column, ATTRIBUTE_BLANK, frame.loc[rows, column]))
        for column, (kind, _) in SPECS[name].columns.items():
            s = frame[column]
            if kind == ID:
                found.append((name, column, DECIMAL_ID, s[s.str.fullmatch(r"[0-9]+\.[0-9]+").fillna(False)]))
            elif kind == CODE:
                found.append(
                    (
                        name,
                        column,
                        SEASON_UNCONVENTIONAL,
                        s[s.notna() & ~s.str.fullmatch(SEASON_CONVENTION).fillna(False)],
                    )
                )
            elif kind == VOCAB:
                outside = (
                    s.notna() & ~s.isin(KNOWN_VALUES[column]) & ~((s == UNKNOWN) & (column in SPECS[name].attributes))
                )
                found.append((name, column, OUTSIDE_KNOWN, s[outside]))
            elif column == "certifications":
                tokens = s[s.fillna("") != ""].str.split(MULTI_SEPARATOR).explode().str.strip()
                unknown = tokens[~tokens.isin(CERTIFICATIONS)]
                found.append((name, column, UNKNOWN_CERTIFICATION, unknown.groupby(level=0).first()))
            elif column == "description":
                text = s.fillna("")
                empty = text == ""
                short = ~empty & (description_words(text) < settings.description_min_words)
                found.append((name, column, DESCRIPTION_EMPTY, text[empty]))
                found.append((name, column, DESCRIPTION_SHORT.format(n=settings.description_min_words), text[short]))
    customer_ids = pd.Index(kept[CUSTOMERS_FILE]["customer_id"].dropna().unique())
    rows = []
    for name, column, finding, values in found:
        if len(values):
            counts = values.groupby(values, sort=False).size()
            example = str(counts.idxmax())
            if example in customer_ids:
                example = WITHHELD
            elif len(example) > EXAMPLE_CHARACTERS:
                example = example[: EXAMPLE_CHARACTERS - 1] + "…"
            rows.append((name, column, finding, len(values), example))
    for name, why in missing.items():
        rows.append((name, "", NO_RECOMMENDATION_LOG.format(why=why), 0, ""))
    for name, column, finding in absent:
        if name not in missing:
            rows.append((name, column, finding, len(kept[name]), ""))
    if not rows:
        return _empty_findings()
    out = pd.DataFrame(rows, columns=list(FINDING_COLUMNS)).astype({"rows": "int64"})
    for c in ("file", "column", "finding", "example"):
        out[c] = out[c].astype("str")
    return sort_frame(out, ("file", "column", "finding"))


# --------------------------------------------------------------------------------------------
# Assembling the result
# --------------------------------------------------------------------------------------------


def _problems(mask: pd.Series, column: str, reason: str) -> pd.DataFrame:
    """Problem rows (row, column, reason) for the lines where ``mask`` is True."""
    rows = mask.index.to_numpy()[mask.to_numpy(dtype=bool, na_value=False)]
    # Text stays object here (cheap); _render gives the report its final dtypes.
    return pd.DataFrame(
        {
            "row": rows.astype("int64"),
            "column": np.full(len(rows), column, dtype=object),
            "reason": np.full(len(rows), reason, dtype=object),
        }
    )


def _problem_rows(found: list[pd.DataFrame]) -> pd.Index:
    return pd.Index(pd.concat(found, ignore_index=True)["row"].unique())


def _render(found: pd.DataFrame, raw: pd.DataFrame, name: str) -> pd.DataFrame:
    """Quarantine rows of one file: add the file name and the cell's text as in the file."""
    found = found.drop_duplicates(ignore_index=True)
    value = pd.Series("", index=found.index, dtype=str)
    for column in found["column"].unique():
        at = found["column"] == column
        value[at] = raw[column].reindex(found.loc[at, "row"]).to_numpy()
    return pd.DataFrame(
        {"file": name, "row": found["row"], "column": found["column"], "value": value, "reason": found["reason"]},
        columns=list(QUARANTINE_COLUMNS),
    ).astype({"file": str, "row": "int64", "column": str, "value": str, "reason": str})


def _finish(accepted: pd.DataFrame, spec: FileSpec) -> pd.DataFrame:
    """Accepted rows with their final dtypes and a fresh index: integers ``int64``, decimals
    ``float64``, dates and timestamps ``datetime64[us]``, text ``str`` with ``""`` for an empty
    cell (NaN only stood in for it during the checks). Also right for a frame without rows."""
    frame = accepted.copy()
    for column, (kind, _) in spec.columns.items():
        if kind in _STRING_KINDS:
            frame[column] = frame[column].fillna("").astype("str")
        elif kind == INTEGER:
            frame[column] = frame[column].astype("int64")
        elif kind == DECIMAL:
            frame[column] = frame[column].astype("float64")
        else:
            frame[column] = frame[column].astype(TIMESTAMP_UNIT)
    return frame.reset_index(drop=True)


def _count(name: str, read: int, accepted: int, quarantined: int) -> dict[str, int]:
    """Row counts of one file; every row read is either accepted or quarantined."""
    if read != accepted + quarantined:  # pragma: no cover - would be a bug in this module
        raise RuntimeError(f"{name}: {read} rows read but {accepted} accepted + {quarantined} quarantined")
    return {"read": read, "accepted": accepted, "quarantined": quarantined}


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
