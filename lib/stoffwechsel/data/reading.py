"""Pass 0 of the data contract (:mod:`stoffwechsel.data.contract`): one client file read as
frames of text, in its dialect (:mod:`stoffwechsel.data.dialect`): the header (mapped column
names, absent attributes), the records and their field counts, the cells, the unique key. Every
problem of the file as a whole raises :class:`~stoffwechsel.data.schema.ContractError`.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import re
from pathlib import Path
from typing import NamedTuple

import pandas as pd
import pyarrow
import pyarrow.compute as pc
import pyarrow.csv as pyarrow_csv

from stoffwechsel.data import dialect
from stoffwechsel.data.dialect import Dialect, DialectError
from stoffwechsel.data.parsing import arrow_text
from stoffwechsel.data.schema import (
    DECIMAL,
    ENCODING,
    OPTIONAL_FILES,
    PARAMS_SECTION,
    UNKNOWN,
    VOCAB,
    ContractError,
    FileSpec,
)

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


def read_file(folder: Path, spec: FileSpec, mapping: dict, fixed: dict | None = None) -> _File:
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
    counts = pc.count_substring(arrow_text(s), needle).to_numpy(zero_copy_only=False)
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
