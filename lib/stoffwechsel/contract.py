"""The data contract: the one loader every pipeline stage uses to read the client's materials.

:func:`load_materials` reads the four files named in :mod:`stoffwechsel.config`, checks them
against the format in ``docs/materials.md`` and returns typed frames of the rows that pass.
``docs/data-contract.md`` lists every check with its reason text.

Two kinds of problem:

* **File-level** (the file cannot be trusted as a whole): missing file, empty file, header
  without rows, missing columns, unparseable CSV, invalid UTF-8, duplicate keys. These raise
  :class:`ContractError`, whose message is one line naming the file and the problem.
* **Row-level** (one cell is wrong): the row is left out of the accepted frame and every
  problem goes to the quarantine report, one row per (file, line, column, problem) with the
  cell's text and a short, stable reason. Nothing is dropped silently: for every file
  ``read == accepted + quarantined``.

The checks run in three passes, all vectorised:

1. *Parsing* (pandas): required cells must not be empty; dates, timestamps and numbers must
   parse in their one fixed format (``pd.to_datetime`` / ``pd.to_numeric``, ``errors="coerce"``).
2. *Values* (a pandera ``DataFrameSchema`` per file, validated with ``lazy=True``): patterns,
   allowed values, ranges, and rules between columns of one row. Every check's ``error=`` is
   its reason; a row check's error is ``"<column>: <reason>"`` so the report can name its column.
3. *References* (pandas ``isin`` / merges): transactions and recommendations must point at
   accepted customers and product versions, a return at an accepted, earlier purchase of the
   same customer and product.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pandera.pandas as pa

from .config import (
    CUSTOMERS_FILE,
    MATERIAL_FILES,
    MATERIALS_DIR,
    PRODUCTS_FILE,
    RECOMMENDATIONS_FILE,
    TRANSACTIONS_FILE,
)
from .io import sort_frame, write_csv

__all__ = [
    "ContractError",
    "Materials",
    "load_materials",
    "quarantine_report",
    "write_quarantine",
    "QUARANTINE_COLUMNS",
]

# --------------------------------------------------------------------------------------------
# The contract's constants (docs/materials.md), in one place.
# --------------------------------------------------------------------------------------------

PRODUCT_ID_PATTERN = r"SW-\d{4,6}"
SEASON_PATTERN = r"(SS|AW)\d{2}"
CUSTOMER_ID_PATTERN = r"C\d{5,7}"
EVENT_ID_PATTERN = r"T\d{7,9}"
REC_ID_PATTERN = r"R\d{7,9}"

CATEGORIES = (
    "tops", "shirts", "knitwear", "trousers", "jeans",
    "dresses", "skirts", "outerwear", "activewear", "accessories",
)
CERTIFICATIONS = ("GOTS", "Fair Trade", "OEKO-TEX", "bluesign", "GRS")
AGE_BANDS = ("18-24", "25-34", "35-44", "45-54", "55+")
REGIONS = (
    "Berlin", "Hamburg", "München", "Köln", "Frankfurt", "Leipzig", "Other Germany", "Austria",
)
CHANNELS = ("web", "app", "store")
LOYALTY_TIERS = ("none", "silver", "gold")
INTEREST_LEVELS = ("low", "medium", "high")
SEGMENTS = (
    "Eco Enthusiasts", "Trend Seekers", "Bargain Hunters",
    "Classic Professionals", "Occasional Shoppers",
)
EVENT_TYPES = ("browse", "wishlist", "purchase", "return")
SINGLE_UNIT_EVENTS = ("browse", "wishlist")
OUTCOME_STATUSES = ("yes", "no", "pending")
RETURN_STATUSES = ("yes", "no", "pending", "not_purchased")

DESCRIPTION_WORDS = (25, 80)
POSITION_RANGE = (1, 10)
SCORE_RANGE = (0, 1)

#: Attribution windows of the production system: (timestamp, status, anchor, window in days).
OUTCOMES = (
    ("clicked_at", "click_status", "served_at", 1),
    ("purchased_at", "purchase_status", "served_at", 14),
    ("returned_at", "return_status", "purchased_at", 30),
)

TIMEZONE = "Europe/Berlin"
MULTI_SEPARATOR = "|"
ENCODING = "utf-8"

# Cell kinds and the one text shape each must have before it is parsed.
TEXT, MULTI, DATE, TIMESTAMP, DECIMAL, INTEGER = (
    "text", "multi", "date", "timestamp", "decimal", "integer",
)
DATE_SHAPE, DATE_FORMAT = r"\d{4}-\d{2}-\d{2}", "%Y-%m-%d"
TIMESTAMP_SHAPE, TIMESTAMP_FORMAT = r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}", "%Y-%m-%dT%H:%M:%S"
DECIMAL_SHAPE = r"-?\d+(\.\d+)?"
INTEGER_SHAPE = r"-?\d+"

QUARANTINE_COLUMNS = ("file", "row", "column", "value", "reason")
QUARANTINE_SORT = ("file", "row", "column", "reason")

#: In a reason, ``{value}`` stands for the offending cell's text (or a detail derived from it).
VALUE = "{value}"

# Reasons used in more than one place or given a detail by _REASON_DETAILS.
EMPTY = "required value is empty"
NOT_A_NUMBER = "not a number"
NOT_AN_INTEGER = "not an integer"
NOT_A_DATE = "not a date"
NOT_A_TIMESTAMP = "not a timestamp"
DST_GAP = f"time does not exist in {TIMEZONE} (DST gap)"
UNKNOWN_CERTIFICATION = f"unknown certification '{VALUE}'"
DESCRIPTION_LENGTH = (
    f"description has {VALUE} words (allowed {DESCRIPTION_WORDS[0]}-{DESCRIPTION_WORDS[1]})"
)


@dataclass(frozen=True)
class FileSpec:
    """One file of the contract: its columns ``name -> (kind, required)`` and its key."""

    name: str
    columns: dict[str, tuple[str, bool]]
    key: tuple[str, ...]


SPECS = {
    PRODUCTS_FILE: FileSpec(
        PRODUCTS_FILE,
        {
            "product_id": (TEXT, True),
            "season": (TEXT, True),
            "name": (TEXT, True),
            "description": (TEXT, True),
            "category": (TEXT, True),
            "price_eur": (DECIMAL, True),
            "certifications": (MULTI, False),
            "tags": (MULTI, False),
            "sale_start": (DATE, True),
            "sale_end": (DATE, True),
        },
        ("product_id", "season"),
    ),
    CUSTOMERS_FILE: FileSpec(
        CUSTOMERS_FILE,
        {
            "customer_id": (TEXT, True),
            "signup_date": (DATE, True),
            "age_band": (TEXT, True),
            "region": (TEXT, True),
            "preferred_channel": (TEXT, True),
            "loyalty_tier": (TEXT, True),
            "sustainability_interest": (TEXT, True),
            "segment": (TEXT, True),
        },
        ("customer_id",),
    ),
    TRANSACTIONS_FILE: FileSpec(
        TRANSACTIONS_FILE,
        {
            "event_id": (TEXT, True),
            "customer_id": (TEXT, True),
            "product_id": (TEXT, True),
            "season": (TEXT, False),
            "event_type": (TEXT, True),
            "event_time": (TIMESTAMP, True),
            "quantity": (INTEGER, True),
            "unit_price_eur": (DECIMAL, True),
            "channel": (TEXT, True),
            "return_of": (TEXT, False),
        },
        ("event_id",),
    ),
    RECOMMENDATIONS_FILE: FileSpec(
        RECOMMENDATIONS_FILE,
        {
            "rec_id": (TEXT, True),
            "served_at": (TIMESTAMP, True),
            "customer_id": (TEXT, True),
            "product_id": (TEXT, True),
            "season": (TEXT, True),
            "position": (INTEGER, True),
            "score": (DECIMAL, True),
            "model_version": (TEXT, True),
            "clicked_at": (TIMESTAMP, False),
            "purchased_at": (TIMESTAMP, False),
            "returned_at": (TIMESTAMP, False),
            "click_status": (TEXT, True),
            "purchase_status": (TEXT, True),
            "return_status": (TEXT, True),
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


@dataclass
class Materials:
    """The accepted rows of the four files, typed, plus what was quarantined.

    Frames have the contract's columns (extra columns are dropped) in file order, rows in file
    order and a fresh ``RangeIndex``. Dates and timestamps are ``datetime64`` (naive, Europe/Berlin
    wall time; NaT for an empty optional cell), integers ``int64``, decimals ``float64``, text
    ``str`` with ``""`` for an empty optional cell (never NaN); the multi-valued
    ``certifications`` and ``tags`` keep their ``'|'`` text, ``""`` = none.
    """

    products: pd.DataFrame
    customers: pd.DataFrame
    transactions: pd.DataFrame
    recommendations: pd.DataFrame
    quarantine: pd.DataFrame  # QUARANTINE_COLUMNS, sorted by file, row, column (then reason)
    counts: dict[str, dict[str, int]]  # file -> {"read", "accepted", "quarantined"} in rows

    def frame(self, file: str) -> pd.DataFrame:
        """The accepted frame of a file, by its name in :mod:`stoffwechsel.config`."""
        return {
            PRODUCTS_FILE: self.products,
            CUSTOMERS_FILE: self.customers,
            TRANSACTIONS_FILE: self.transactions,
            RECOMMENDATIONS_FILE: self.recommendations,
        }[file]


def load_materials(folder: Path | str | None = None) -> Materials:
    """Read, check and type the four material files in ``folder`` (default: ``materials/``).

    Raises :class:`ContractError` on the first file-level problem; row-level problems are
    quarantined (see the module docstring and ``docs/data-contract.md``).
    """
    folder = Path(folder) if folder is not None else MATERIALS_DIR
    raw = {name: _read_text_frame(folder, SPECS[name]) for name in MATERIAL_FILES}
    typed: dict[str, pd.DataFrame] = {}
    problems: dict[str, list[pd.DataFrame]] = {}
    for name in MATERIAL_FILES:
        typed[name], parse_problems = _parse(raw[name], SPECS[name])
        problems[name] = [parse_problems, _validate(typed[name], _SCHEMAS[name])]

    def accepted(name: str) -> pd.DataFrame:
        return typed[name].drop(index=_problem_rows(problems[name]))

    # References, in dependency order: each file is checked against the accepted rows of the
    # files it points to, so that the accepted frames are consistent with each other.
    products, customers = accepted(PRODUCTS_FILE), accepted(CUSTOMERS_FILE)
    tx_name, rec_name = TRANSACTIONS_FILE, RECOMMENDATIONS_FILE
    problems[tx_name] += _reference_problems(typed[tx_name], raw, products, customers)
    problems[tx_name].append(_return_problems(typed[tx_name], _problem_rows(problems[tx_name])))
    problems[rec_name] += _reference_problems(typed[rec_name], raw, products, customers)

    frames, reports, counts = {}, [], {}
    for name in MATERIAL_FILES:
        found = pd.concat(problems[name], ignore_index=True)
        reports.append(_render(found, raw[name], name))
        frames[name] = _finish(accepted(name), SPECS[name])
        counts[name] = _count(name, len(raw[name]), len(frames[name]), found["row"].nunique())
    quarantine = pd.concat(reports, ignore_index=True)
    return Materials(
        products=frames[PRODUCTS_FILE],
        customers=frames[CUSTOMERS_FILE],
        transactions=frames[TRANSACTIONS_FILE],
        recommendations=frames[RECOMMENDATIONS_FILE],
        quarantine=_sort_quarantine(quarantine),
        counts=counts,
    )


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
    file, row, column, reason; no index; ``\\n`` line ends), via :func:`stoffwechsel.io.write_csv`."""
    return write_csv(m.quarantine, path, sort_by=QUARANTINE_SORT)


# --------------------------------------------------------------------------------------------
# Pass 0: the file as a frame of text (file-level checks)
# --------------------------------------------------------------------------------------------

_QUOTED = r'"(?:[^"]|"")*"'


def _read_text_frame(folder: Path, spec: FileSpec) -> pd.DataFrame:
    """The file as a frame of ``str`` cells ("" = empty), index = line number of each row.

    Raises :class:`ContractError` for every file-level problem.
    """
    name, path = spec.name, folder / spec.name
    if not path.is_file():
        raise ContractError(name, f"file not found in {folder}")
    data = path.read_bytes()
    if not data.strip():
        raise ContractError(name, f"file is empty ({len(data)} bytes)")
    text = _decode(name, data)
    records = _scan_records(name, text)
    _check_header(name, next(csv.reader([records["text"].iloc[0]])), spec)
    if len(records) == 1:
        raise ContractError(name, "file has a header but no data rows")
    expected = records["fields"].iloc[0]
    rows = records.iloc[1:]
    wrong = rows[rows["fields"] != expected]
    if len(wrong):
        line, fields = wrong["line"].iloc[0], wrong["fields"].iloc[0]
        more = f" (and {len(wrong) - 1} more such lines)" if len(wrong) > 1 else ""
        problem = f"cannot parse CSV: line {line} has {fields} fields, expected {expected}{more}"
        raise ContractError(name, problem)
    try:  # all cells as text, "" for an empty cell; blank lines are skipped (as by the scan)
        frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, na_filter=False)
    except (pd.errors.ParserError, ValueError) as err:  # pragma: no cover - scan catches these
        raise ContractError(name, f"cannot parse CSV: {err}") from None
    if len(frame) != len(records) - 1:  # pragma: no cover - a CSV dialect the scan misreads
        raise ContractError(name, f"cannot parse CSV: {len(frame)} rows but {len(records) - 1} records")
    frame = frame[list(spec.columns)].astype(str)
    frame.index = pd.Index(records["line"].iloc[1:].to_numpy(), name="row")
    _check_unique_key(name, frame, spec.key)
    return frame


def _decode(name: str, data: bytes) -> str:
    """UTF-8 text (a leading byte-order mark is dropped), or :class:`ContractError`."""
    try:
        text = data.decode(ENCODING)
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        raise ContractError(
            name, f"not valid UTF-8: byte 0x{data[err.start]:02X} at offset {err.start} (line {line})"
        ) from None
    return text.removeprefix("\ufeff")


def _scan_records(name: str, text: str) -> pd.DataFrame:
    """Every non-blank CSV record, header included: its first ``line``, its ``fields`` count
    and its ``text``.

    Vectorised over physical lines: a line with an odd number of quotes opens (or closes) a
    quoted field running across lines, so records are runs of lines; fields are counted as the
    commas outside quoted text. (pandas would silently pad a short row with empty cells.)
    """
    lines = pd.Series(text.split("\n"), dtype="str").str.removesuffix("\r")
    odd = lines.str.count('"') % 2 == 1
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
    return pd.DataFrame(
        {"line": records.index + 1, "fields": unquoted.str.count(",") + 1, "text": records}
    ).reset_index(drop=True)


def _check_header(name: str, header: list[str], spec: FileSpec) -> None:
    seen, duplicated = set(), []
    for column in header:
        if column in seen and column not in duplicated:
            duplicated.append(column)
        seen.add(column)
    if duplicated:
        raise ContractError(name, f"duplicate column name(s): {', '.join(duplicated)}")
    missing = [c for c in spec.columns if c not in seen]
    if missing:
        raise ContractError(name, f"missing required column(s): {', '.join(missing)}")


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
# Pass 1: parsing (pandas)
# --------------------------------------------------------------------------------------------


def _parse(raw: pd.DataFrame, spec: FileSpec) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Typed frame (same index; unparseable or empty cells are NaN/NaT) and parse problems."""
    typed, found = {}, []
    for column, (kind, required) in spec.columns.items():
        text = raw[column]
        empty = text == ""
        if required:
            found.append(_problems(empty, column, EMPTY))
        if kind == MULTI:
            typed[column] = text
            continue
        if kind == TEXT:
            typed[column] = text.where(~empty)
            continue
        if kind in (DATE, TIMESTAMP):
            shape, fmt, reason = (
                (DATE_SHAPE, DATE_FORMAT, NOT_A_DATE)
                if kind == DATE
                else (TIMESTAMP_SHAPE, TIMESTAMP_FORMAT, NOT_A_TIMESTAMP)
            )
            value = pd.to_datetime(text.where(text.str.fullmatch(shape)), format=fmt, errors="coerce")
            found.append(_problems(~empty & value.isna(), column, reason))
        else:  # DECIMAL, INTEGER
            number = text.str.fullmatch(DECIMAL_SHAPE)
            value = pd.to_numeric(text.where(number), errors="coerce").astype("float64")
            found.append(_problems(~empty & ~number, column, NOT_A_NUMBER))
            if kind == INTEGER:
                found.append(_problems(number & ~text.str.fullmatch(INTEGER_SHAPE), column, NOT_AN_INTEGER))
                value = value.where(text.str.fullmatch(INTEGER_SHAPE))
        typed[column] = value
    return pd.DataFrame(typed, index=raw.index), pd.concat(found, ignore_index=True)


# --------------------------------------------------------------------------------------------
# Pass 2: values (one pandera schema per file)
# --------------------------------------------------------------------------------------------


def _pattern(pattern: str) -> pa.Check:
    return pa.Check(lambda s: s.str.fullmatch(pattern), error=f"does not match pattern ^{pattern}$")


def _one_of(allowed: tuple[str, ...]) -> pa.Check:
    return pa.Check.isin(allowed, error=f"unknown value '{VALUE}' (allowed: {', '.join(allowed)})")


def _row_rule(column: str, reason: str, bad: Callable[[pd.DataFrame], pd.Series]) -> pa.Check:
    """A check across the columns of a row; ``bad`` marks failing rows, ``column`` is reported."""
    return pa.Check(
        lambda df: ~bad(df).fillna(False).astype(bool), error=f"{column}: {reason}", ignore_na=False
    )


def _exists_in_berlin(s: pd.Series) -> pd.Series:
    """False for wall-clock times skipped by the spring DST change (02:00-03:00)."""
    ambiguous = np.zeros(len(s), dtype=bool)
    return s.dt.tz_localize(TIMEZONE, nonexistent="NaT", ambiguous=ambiguous).notna()


def _has_cents_only(s: pd.Series) -> pd.Series:
    cents = s * 100
    return pd.Series(np.isclose(cents, cents.round(), rtol=0, atol=1e-6), index=s.index)


def _known_certifications(s: pd.Series) -> pd.Series:
    tokens = s[s != ""].str.split(MULTI_SEPARATOR).explode()
    ok = tokens.isin(CERTIFICATIONS).groupby(level=0).all()
    return ok.reindex(s.index, fill_value=True)


def _word_count(s: pd.Series) -> pd.Series:
    return s.str.count(r"\S+")


def _timestamp_column(*checks: pa.Check) -> pa.Column:
    return pa.Column(nullable=True, checks=[*checks, pa.Check(_exists_in_berlin, error=DST_GAP)])


def _column(*checks: pa.Check) -> pa.Column:
    return pa.Column(nullable=True, checks=list(checks))


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
            f"return_status '{VALUE}' without a purchase",
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
            _row_rule(
                ts, f"{ts} more than {span} after {anchor}", lambda d, ts=ts, end=window_end: d[ts] > end(d)
            ),
            _row_rule(ts, f"{ts} after export_time", lambda d, ts=ts: d[ts] > d.export_time),
            _row_rule(
                status,
                "status 'yes' without timestamp",
                lambda d, ts=ts, st=status: (d[st] == "yes") & d[ts].isna(),
            ),
            _row_rule(
                status,
                f"status '{VALUE}' with a timestamp",
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


_SCHEMAS = {
    PRODUCTS_FILE: pa.DataFrameSchema(
        {
            "product_id": _column(_pattern(PRODUCT_ID_PATTERN)),
            "season": _column(_pattern(SEASON_PATTERN)),
            "description": _column(
                pa.Check(lambda s: _word_count(s).between(*DESCRIPTION_WORDS), error=DESCRIPTION_LENGTH)
            ),
            "category": _column(_one_of(CATEGORIES)),
            "price_eur": _column(
                pa.Check.gt(0, error="must be > 0"),
                pa.Check(_has_cents_only, error="more than two decimals"),
            ),
            "certifications": _column(pa.Check(_known_certifications, error=UNKNOWN_CERTIFICATION)),
        },
        checks=[
            _row_rule("sale_end", "sale_end before sale_start", lambda d: d.sale_end < d.sale_start),
        ],
        name=PRODUCTS_FILE,
    ),
    CUSTOMERS_FILE: pa.DataFrameSchema(
        {
            "customer_id": _column(_pattern(CUSTOMER_ID_PATTERN)),
            "age_band": _column(_one_of(AGE_BANDS)),
            "region": _column(_one_of(REGIONS)),
            "preferred_channel": _column(_one_of(CHANNELS)),
            "loyalty_tier": _column(_one_of(LOYALTY_TIERS)),
            "sustainability_interest": _column(_one_of(INTEREST_LEVELS)),
            "segment": _column(_one_of(SEGMENTS)),
        },
        name=CUSTOMERS_FILE,
    ),
    TRANSACTIONS_FILE: pa.DataFrameSchema(
        {
            "event_id": _column(_pattern(EVENT_ID_PATTERN)),
            "event_type": _column(_one_of(EVENT_TYPES)),
            "event_time": _timestamp_column(),
            "quantity": _column(pa.Check.ge(1, error="must be >= 1")),
            "unit_price_eur": _column(pa.Check.ge(0, error="must be >= 0")),
            "channel": _column(_one_of(CHANNELS)),
            "return_of": _column(_pattern(EVENT_ID_PATTERN)),
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
            "rec_id": _column(_pattern(REC_ID_PATTERN)),
            "served_at": _timestamp_column(),
            "position": _column(
                pa.Check.ge(POSITION_RANGE[0], error=f"must be >= {POSITION_RANGE[0]}"),
                pa.Check.le(POSITION_RANGE[1], error=f"must be <= {POSITION_RANGE[1]}"),
            ),
            "score": _column(
                pa.Check.ge(SCORE_RANGE[0], error=f"must be >= {SCORE_RANGE[0]}"),
                pa.Check.le(SCORE_RANGE[1], error=f"must be <= {SCORE_RANGE[1]}"),
            ),
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
    child: pd.DataFrame, raw: dict[str, pd.DataFrame], products: pd.DataFrame, customers: pd.DataFrame
) -> list[pd.DataFrame]:
    """Customer and product references of transactions or recommendations.

    A reference to a row that exists in the file but was quarantined is a problem too (with its
    own reason), so that the accepted frames join without loss.
    """
    customer = child["customer_id"].notna()
    product = child["product_id"].notna()
    season = child["season"].notna()
    all_products = raw[PRODUCTS_FILE]
    known_id = _keys_in(child, ["product_id"], all_products)
    version = ["product_id", "season"]
    known_version = _keys_in(child, version, all_products)
    accepted_version = _keys_in(child, version, products)
    known_customer = _keys_in(child, ["customer_id"], raw[CUSTOMERS_FILE])
    return [
        _problems(customer & ~known_customer, "customer_id", "unknown customer_id"),
        _problems(
            customer & known_customer & ~_keys_in(child, ["customer_id"], customers),
            "customer_id",
            "customer_id refers to a quarantined customer",
        ),
        _problems(product & ~known_id, "product_id", "unknown product_id"),
        _problems(
            product & known_id & ~season & ~_keys_in(child, ["product_id"], products),
            "product_id",
            "product_id refers to a quarantined product",
        ),
        _problems(
            product & known_id & season & ~known_version, "season", "unknown product version (product_id, season)"
        ),
        _problems(
            product & season & known_version & ~accepted_version,
            "season",
            "product version (product_id, season) is quarantined",
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
                "return_of refers to a quarantined purchase",
            ),
        ],
        ignore_index=True,
    )


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


def _first_unknown_certification(values: pd.Series) -> pd.Series:
    tokens = values.str.split(MULTI_SEPARATOR).explode()
    return tokens[~tokens.isin(CERTIFICATIONS)].groupby(level=0).first().reindex(values.index)


#: Reasons whose ``{value}`` is a detail derived from the cell rather than the cell itself.
_REASON_DETAILS: dict[str, Callable[[pd.Series], pd.Series]] = {
    UNKNOWN_CERTIFICATION: _first_unknown_certification,
    DESCRIPTION_LENGTH: lambda values: _word_count(values).astype(str),
}


def _render(found: pd.DataFrame, raw: pd.DataFrame, name: str) -> pd.DataFrame:
    """Quarantine rows of one file: add the file name and cell text, fill in ``{value}``."""
    found = found.drop_duplicates(ignore_index=True)
    value = pd.Series("", index=found.index, dtype=str)
    for column in found["column"].unique():
        at = found["column"] == column
        value[at] = raw[column].reindex(found.loc[at, "row"]).to_numpy()
    reason = found["reason"].copy()
    for template in reason[reason.str.contains(VALUE, regex=False)].unique():
        at = reason == template
        detail = _REASON_DETAILS.get(template, lambda v: v)(value[at])
        head, tail = template.split(VALUE, 1)
        reason[at] = head + detail.astype(str) + tail
    return pd.DataFrame(
        {"file": name, "row": found["row"], "column": found["column"], "value": value, "reason": reason},
        columns=list(QUARANTINE_COLUMNS),
    ).astype({"file": str, "row": "int64", "column": str, "value": str, "reason": str})


def _sort_quarantine(q: pd.DataFrame) -> pd.DataFrame:
    return sort_frame(q, QUARANTINE_SORT)


def _finish(accepted: pd.DataFrame, spec: FileSpec) -> pd.DataFrame:
    """Accepted rows with their final dtypes and a fresh index: integers ``int64``, and text
    ``str`` with ``""`` for an empty cell (NaN only stood in for it during the checks)."""
    kinds = {c: kind for c, (kind, _) in spec.columns.items()}
    frame = accepted.astype({c: "int64" for c, kind in kinds.items() if kind == INTEGER})
    text = [c for c, kind in kinds.items() if kind == TEXT]
    frame[text] = frame[text].fillna("")
    return frame.reset_index(drop=True)


def _count(name: str, read: int, accepted: int, quarantined: int) -> dict[str, int]:
    """Row counts of one file; every row read is either accepted or quarantined."""
    if read != accepted + quarantined:  # pragma: no cover - would be a bug in this module
        raise RuntimeError(f"{name}: {read} rows read but {accepted} accepted + {quarantined} quarantined")
    return {"read": read, "accepted": accepted, "quarantined": quarantined}
