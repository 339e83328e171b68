"""Pass 1 of the data contract (:mod:`stoffwechsel.data.contract`): cells parsed into their
types with pandas and pyarrow: required cells filled, no control character, no non-ASCII digit;
exact 64-bit integers, finite decimals in the file's decimal mark, dates and timestamps (any
common ISO form, as Europe/Berlin wall time) within their plausible range. Each bad cell is a
problem (``row``, ``column``, ``reason``), never a file-level error.
"""

from __future__ import annotations

import functools
import sys

import numpy as np
import pandas as pd
import pyarrow
import pyarrow.compute as pc

from stoffwechsel.data import dialect
from stoffwechsel.data.quarantine import problems
from stoffwechsel.data.schema import (
    CANONICAL_TIMESTAMP,
    CODE,
    CONTROL_CHARACTER,
    DATE,
    DATE_PATTERN,
    DECIMAL_SHAPE,
    EMPTY,
    ID,
    INT64_DIGITS,
    INTEGER,
    INTEGER_SHAPE,
    MULTI,
    NON_ASCII_DIGITS,
    NOT_A_DATE,
    NOT_A_NUMBER,
    NOT_A_TIMESTAMP,
    NOT_AN_INTEGER,
    NOT_FINITE,
    OUTSIDE_INT64,
    STRING_KINDS,
    TEXT,
    THOUSANDS_SEPARATOR,
    TIMESTAMP,
    TIMESTAMP_PATTERN,
    TIMESTAMP_UNIT,
    TIMEZONE,
    YMD,
    ContractSettings,
    FileSpec,
)

# Control characters (searched for only in a file that holds one).
_CONTROL_ANY = r"[\x00-\x1f\x7f-\x9f]"
_CONTROL_IN_TEXT = r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]"  # tab and line breaks are text


# --------------------------------------------------------------------------------------------
# Pass 1: parsing (pandas / pyarrow)
# --------------------------------------------------------------------------------------------


def parse(
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
            found.append(problems(~filled, column, EMPTY))
        if kind in STRING_KINDS:
            control = pd.Series(False, index=s.index)
            if controls:
                pattern = _CONTROL_IN_TEXT if kind in (TEXT, MULTI) else _CONTROL_ANY
                control = s.str.contains(pattern, regex=True).fillna(False).astype(bool)
            bad = control.copy()
            found.append(problems(control, column, CONTROL_CHARACTER))
            if kind in (ID, CODE):
                digits = _non_ascii_digits(s) & ~control
                found.append(problems(digits, column, NON_ASCII_DIGITS))
                bad |= digits
            typed[column] = s.where(~bad & (filled | (kind == MULTI)))
            continue
        if kind in (DATE, TIMESTAMP):
            value, column_problems = _parse_when(s, filled, kind, settings.date_range(column))
        elif kind == INTEGER:
            value, column_problems = _parse_integer(s, filled)
        else:
            value, column_problems = _parse_decimal(s, filled, decimal)
        found += [problems(mask, column, reason) for reason, mask in column_problems]
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


def arrow_text(s: pd.Series) -> pyarrow.Array:
    return pyarrow.array(s.astype("str").array)


def _cast(s: pd.Series, arrow_type: pyarrow.DataType, dtype: str) -> pd.Series:
    """Text already checked for its shape (NaN elsewhere) cast exactly by pyarrow."""
    values = pc.cast(arrow_text(s), arrow_type)
    if dtype == "Int64":  # values and mask apart: pd.array(..., "Int64") overflows at the int64 limit
        data = pc.fill_null(values, 0).to_numpy(zero_copy_only=False)
        mask = pc.is_null(values).to_numpy(zero_copy_only=False)
        return pd.Series(pd.arrays.IntegerArray(data, mask), index=s.index)
    return pd.Series(values.to_numpy(zero_copy_only=False), index=s.index, dtype=dtype)


#: Common shapes parsed directly, fastest first: (shape, strptime format); anything else goes
#: through TIMESTAMP_PATTERN / DATE_PATTERN.
TIMESTAMP_SHAPES = (
    (CANONICAL_TIMESTAMP, "%Y-%m-%dT%H:%M:%S"),
    (YMD + r" [0-9]{2}:[0-9]{2}:[0-9]{2}", "%Y-%m-%d %H:%M:%S"),
    (YMD + r" [0-9]{2}:[0-9]{2}", "%Y-%m-%d %H:%M"),
    (YMD + r"T[0-9]{2}:[0-9]{2}", "%Y-%m-%dT%H:%M"),
    (YMD, "%Y-%m-%d"),
)
DATE_SHAPES = ((YMD, "%Y-%m-%d"),)


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
        extracted = pc.extract_regex(arrow_text(s[rest]), pattern)
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
