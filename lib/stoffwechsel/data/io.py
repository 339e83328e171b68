"""Deterministic, atomic file writing.

Every artefact the pipeline writes goes through this module, so that

* a file is either the complete old version or the complete new version, never a torn mix
  (:func:`atomic_write`: temp file in the same folder, ``fsync``, ``os.replace``);
* the same data gives the same bytes, whatever the row order in memory and whenever it is
  written (:func:`write_parquet`, :func:`write_csv`, :func:`write_json`), so DVC's hash of a
  file (:func:`md5_file`) changes exactly when the data changes.

Determinism holds for a pinned pyarrow/pandas (``requirements.lock``): Parquet's ``created_by``
field names the writer's version (``parquet-cpp-arrow version X.Y.Z``) and the zstd encoder ships
with pyarrow, so a pyarrow upgrade may change bytes (once) without changing data. No writer here
stores a wall-clock time.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

__all__ = [
    "replace_marked_block",
    "PARQUET_OPTIONS",
    "CSV_FLOAT_FORMAT",
    "atomic_write",
    "sort_frame",
    "write_parquet",
    "write_csv",
    "write_json",
    "md5_file",
]

#: The fixed options of every Parquet file we write (see :func:`write_parquet`).
PARQUET_OPTIONS: dict[str, Any] = {
    "version": "2.6",
    "compression": "zstd",
    "compression_level": 3,
    "use_dictionary": True,
    "write_statistics": True,
    "data_page_version": "1.0",
    "data_page_size": 1 << 20,
    "row_group_size": 1 << 20,
    "use_compliant_nested_type": True,
    "store_schema": True,  # ARROW:schema keeps tz names, large types; it holds no time or version
    "write_page_index": False,
    "write_page_checksum": False,
    "coerce_timestamps": None,
    "allow_truncated_timestamps": False,
}

#: Significant digits of every float written to CSV and JSON: the precision the numbers mean
#: (rates, hit rates and p-values need 4-6 digits; euros to the cent up to a million need 8), not
#: the 16-17 of a float64. Another machine sums in another order (SIMD width, BLAS kernel, thread
#: count) and so differs in the last bits (about 1e-16 relative); at 8 digits that changes a
#: written value only when it lies within that distance of a rounding midpoint, about one value in
#: 10^8, so the files are the same bytes on every machine. Parquet keeps full precision.
SIGNIFICANT_DIGITS = 8
#: ``printf`` format of floats in CSV files (``0.1`` stays ``0.1``; ``0.1 + 0.2`` -> ``0.3``).
CSV_FLOAT_FORMAT = f"%.{SIGNIFICANT_DIGITS}g"


@contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "wb", encoding: str | None = None) -> Iterator[IO]:
    """Open a temp file next to ``path`` for writing; on success it replaces ``path``.

    The temp file (``.<name>.<random>.tmp`` in the same folder, so ``os.replace`` is an atomic
    rename on the same file system) is flushed and ``fsync``-ed before the rename, and the folder
    is ``fsync``-ed after it. If the ``with`` body raises, the temp file is removed, ``path`` is
    left exactly as it was (or absent), and the exception propagates. The new file gets the
    usual permissions (``0o666`` less the umask), not ``mkstemp``'s ``0o600``.

    ``mode`` is ``"wb"`` (binary) or ``"w"`` (text; ``encoding`` defaults to UTF-8 and no newline
    translation happens, so what is written is what lands on disk).
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_write({path}): mode must be 'w' or 'wb', got {mode!r}")
    path = Path(path)
    folder = path.parent
    folder.mkdir(parents=True, exist_ok=True)
    while True:
        tmp = folder / f".{path.name}.{secrets.token_hex(6)}.tmp"
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
            break
        except FileExistsError:  # pragma: no cover - 48 random bits
            continue
    try:
        if mode == "wb":
            fh = os.fdopen(fd, "wb")
        else:
            fh = os.fdopen(fd, "w", encoding=encoding or "utf-8", newline="")
        with fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            tmp.unlink()
        except FileNotFoundError:
            pass
        raise
    _fsync_dir(folder)


def _fsync_dir(folder: Path) -> None:
    """Make a rename in ``folder`` durable (a no-op where folders cannot be opened)."""
    try:
        dfd = os.open(folder, os.O_RDONLY)
    except OSError:  # pragma: no cover - e.g. Windows
        return
    try:
        os.fsync(dfd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(dfd)


def sort_frame(df: pd.DataFrame, sort_by: Sequence[str]) -> pd.DataFrame:
    """``df`` sorted by ``sort_by`` (stable, nulls last) with a fresh ``RangeIndex``.

    Rows tied on all of ``sort_by`` keep their input order, so the output is independent of the
    input row order only when ``sort_by`` identifies a row; pass a unique key for that.
    """
    sort_by = list(sort_by)
    missing = [c for c in sort_by if c not in df.columns]
    if missing:
        raise KeyError(f"sort_by: no column {', '.join(map(repr, missing))} (have: {list(df.columns)})")
    if not sort_by:
        return df.reset_index(drop=True)
    # kind="mergesort" is stable for one column; for several pandas uses a stable lexsort.
    return df.sort_values(sort_by, kind="mergesort", na_position="last").reset_index(drop=True)


def _to_arrow(df: pd.DataFrame, schema: pa.Schema | None) -> pa.Table:
    table = pa.Table.from_pandas(df, schema=schema, preserve_index=False)
    # Drop the b"pandas" metadata (it records the pandas version and the index) so the bytes
    # depend on the data only.
    return table.replace_schema_metadata(None)


def write_parquet(
    df: pd.DataFrame,
    path: str | os.PathLike,
    sort_by: Sequence[str],
    schema: pa.Schema | None = None,
) -> Path:
    """Write ``df`` to ``path`` as Parquet, deterministically and atomically.

    Rows are sorted by ``sort_by`` (:func:`sort_frame`), the index is dropped, pandas' schema
    metadata is stripped, and the file is written with :data:`PARQUET_OPTIONS`. ``schema``
    (optional) fixes the Arrow types; without it pyarrow infers them. Returns ``path``.
    """
    path = Path(path)
    table = _to_arrow(sort_frame(df, sort_by), schema)
    return write_arrow_parquet(table, path)


def write_arrow_parquet(table: pa.Table, path: str | os.PathLike) -> Path:
    """Write an Arrow table as is (row order kept) with :data:`PARQUET_OPTIONS`, atomically."""
    path = Path(path)
    table = table.replace_schema_metadata(None)
    with atomic_write(path, "wb") as fh:
        pq.write_table(table, fh, **PARQUET_OPTIONS)
    return path


def write_csv(
    df: pd.DataFrame,
    path: str | os.PathLike,
    sort_by: Sequence[str],
    float_format: str = CSV_FLOAT_FORMAT,
) -> Path:
    """Write ``df`` to ``path`` as UTF-8 CSV, deterministically and atomically.

    Rows sorted by ``sort_by`` (:func:`sort_frame`), no index, ``\\n`` line ends, floats with
    ``float_format`` (default :data:`CSV_FLOAT_FORMAT`), missing values as empty cells.
    """
    path = Path(path)
    frame = sort_frame(df, sort_by)
    with atomic_write(path, "w", encoding="utf-8") as fh:
        frame.to_csv(fh, index=False, lineterminator="\n", float_format=float_format, na_rep="")
    return path


def write_json(obj: Any, path: str | os.PathLike) -> Path:
    """Write ``obj`` as JSON: sorted keys, indent 2, UTF-8, trailing newline, atomically.

    Floats are written with :data:`SIGNIFICANT_DIGITS` significant digits; NaN and infinities are
    refused (they are not JSON).
    """
    path = Path(path)
    text = json.dumps(_meaningful(obj), sort_keys=True, indent=2, ensure_ascii=False, allow_nan=False) + "\n"
    with atomic_write(path, "w", encoding="utf-8") as fh:
        fh.write(text)
    return path


def _meaningful(obj: Any) -> Any:
    """``obj`` with every float rounded to :data:`SIGNIFICANT_DIGITS` significant digits (in dicts,
    lists and tuples; other values as they are)."""
    if isinstance(obj, float):
        return float(f"{obj:.{SIGNIFICANT_DIGITS}g}") if obj == obj and abs(obj) != float("inf") else obj
    if isinstance(obj, dict):
        return {k: _meaningful(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_meaningful(v) for v in obj]
    return obj


def md5_file(path: str | os.PathLike, chunk_size: int = 1 << 20) -> str:
    """The MD5 hex digest of the file's bytes: what DVC 3 records as ``md5`` in ``.dvc`` files
    and ``dvc.lock`` (DVC 2's ``md5-dos2unix``, which turned CRLF into LF in text files, is not
    reproduced)."""
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as fh:
        while chunk := fh.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


def sha256_file(path: Path | str) -> str:
    """SHA-256 of a file's bytes, read in 1 MiB chunks (model weights, imported exports)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def replace_marked_block(text: str, block: str, markers: tuple[str, str]) -> str:
    """``text`` with the part between the two marker lines replaced by ``block`` (markers kept):
    how generated tables live inside hand-written Markdown."""
    start, end = markers
    if start not in text or end not in text:
        raise ValueError(f"the document lacks the markers {start} ... {end}")
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    return f"{head}{start}\n{block.rstrip()}\n{end}{tail}"
