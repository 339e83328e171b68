"""An offline feature store in Feast's vocabulary, with data versioning left to DVC.

* :class:`Entity` -- what features describe, identified by its join keys (``customer_id``).
* :class:`Field` -- one feature: name, dtype string, description.
* :class:`FeatureView` -- a table of features about some entities, one row per entity key and
  event time, plus the time the row was computed (``created_timestamp``). Its
  :attr:`FeatureView.version` fingerprints everything that determines the data (keys, schema,
  ttl, definition), but not the descriptions.
* :class:`FeatureStore` -- the offline store under a root folder: one Parquet file per view
  version and a deterministic ``registry.json``; point-in-time retrieval with
  :meth:`FeatureStore.get_historical_features`.

Nothing here knows the shop's data: views are generic over their join keys. See
``docs/feature-store.md`` for the vocabulary, the file layout and the retrieval rule.

Why one module of over 600 lines: the registry, the version fingerprint and point-in-time
retrieval must agree on one file layout and one set of timestamp rules; the hypothesis test
(tests/test_store.py) checks retrieval against a brute-force reference of exactly these rules.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import re
import tempfile
import textwrap
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from stoffwechsel.data import io

__all__ = [
    "Entity",
    "Field",
    "FeatureView",
    "FeatureStore",
    "FeatureStoreError",
    "SchemaMismatchError",
    "UnknownViewError",
    "code_fingerprint",
    "parse_dtype",
    "bench_retrieval",
    "REGISTRY_FORMAT",
    "DUCKDB_THREADS",
]

#: Version of the layout of ``registry.json``.
REGISTRY_FORMAT = 1
#: DuckDB threads per retrieval call (fixed, so timings and plans do not depend on the machine).
DUCKDB_THREADS = 2
#: Use the sort-free lookup table when availability times rise with stored order (tests switch
#: it off to check the general path against the same reference).
_FAST_PATH = True
#: Length of a version fingerprint (hex characters of a SHA-256).
VERSION_LENGTH = 12

_VIEW_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")
_RESERVED = re.compile(r"^__")  # columns we add inside DuckDB start with "__"


class FeatureStoreError(Exception):
    """Base of the store's errors."""


class SchemaMismatchError(FeatureStoreError, ValueError):
    """A frame does not match a view's declared columns or dtypes."""


class UnknownViewError(FeatureStoreError, LookupError):
    """A view, version or feature that the registry does not hold."""


# --------------------------------------------------------------------------------------------
# dtypes


_SCALAR_DTYPES: dict[str, pa.DataType] = {
    "bool": pa.bool_(),
    "int8": pa.int8(),
    "int16": pa.int16(),
    "int32": pa.int32(),
    "int64": pa.int64(),
    "uint8": pa.uint8(),
    "uint16": pa.uint16(),
    "uint32": pa.uint32(),
    "uint64": pa.uint64(),
    "float32": pa.float32(),
    "float64": pa.float64(),
    "string": pa.string(),
    "date": pa.date32(),
}


def parse_dtype(dtype: str) -> pa.DataType:
    """The Arrow type a dtype string names.

    Scalars: ``bool``, ``int8`` .. ``int64``, ``uint8`` .. ``uint64``, ``float32``, ``float64``,
    ``string``, ``date``, ``timestamp`` (any unit, naive) and ``timestamp[<tz>]`` (any unit, that
    zone; the unit of the frame is kept). Lists: ``list<T>`` for any T above, e.g.
    ``list<float32>`` for embedding vectors. For ``timestamp`` the returned type has unit ``us``;
    :func:`_dtype_matches` ignores the unit.
    """
    text = dtype.strip()
    if text in _SCALAR_DTYPES:
        return _SCALAR_DTYPES[text]
    if text == "timestamp":
        return pa.timestamp("us")
    m = re.fullmatch(r"timestamp\[(.+)\]", text)
    if m:
        return pa.timestamp("us", tz=m.group(1))
    m = re.fullmatch(r"list<(.+)>", text)
    if m:
        return pa.list_(parse_dtype(m.group(1)))
    raise ValueError(
        f"unknown dtype {dtype!r} (use one of {', '.join(_SCALAR_DTYPES)}, timestamp, timestamp[<tz>], list<...>)"
    )


def _canonical_arrow(t: pa.DataType) -> pa.DataType:
    """Large and small variants made equal, dictionaries replaced by their values."""
    if pa.types.is_dictionary(t):
        return _canonical_arrow(t.value_type)
    if pa.types.is_large_string(t) or pa.types.is_string_view(t):
        return pa.string()
    if pa.types.is_large_list(t) or pa.types.is_list_view(t) or pa.types.is_large_list_view(t):
        return pa.list_(_canonical_arrow(t.value_type))
    if pa.types.is_list(t):
        return pa.list_(_canonical_arrow(t.value_type))
    return t


def _dtype_matches(found: pa.DataType, declared: pa.DataType) -> bool:
    found = _canonical_arrow(found)
    if pa.types.is_null(found):  # an all-missing column fits any type
        return True
    if pa.types.is_timestamp(declared):
        return pa.types.is_timestamp(found) and found.tz == declared.tz
    if pa.types.is_list(declared):
        return pa.types.is_list(found) and _dtype_matches(found.value_type, declared.value_type)
    return found == declared


def _arrow_column(values: pd.Series | pa.Array) -> pa.Array:
    if isinstance(values, pa.ChunkedArray):
        return values.combine_chunks()
    if isinstance(values, pa.Array):
        return values
    return pa.Array.from_pandas(values)


def _dtype_name(t: pa.DataType) -> str:
    """The dtype string of an Arrow type (inverse of :func:`parse_dtype` where it can be)."""
    t = _canonical_arrow(t)
    for name, scalar in _SCALAR_DTYPES.items():
        if t == scalar:
            return name
    if pa.types.is_timestamp(t):
        return "timestamp" if t.tz is None else f"timestamp[{t.tz}]"
    if pa.types.is_list(t):
        return f"list<{_dtype_name(t.value_type)}>"
    return str(t)


# --------------------------------------------------------------------------------------------
# definitions


@dataclass(frozen=True)
class Entity:
    """Something features describe, identified by one or more join key columns."""

    name: str
    join_keys: tuple[str, ...]
    description: str = ""

    def __post_init__(self) -> None:
        keys = (self.join_keys,) if isinstance(self.join_keys, str) else tuple(self.join_keys)
        object.__setattr__(self, "join_keys", keys)
        if not keys:
            raise ValueError(f"entity {self.name!r}: needs at least one join key")
        if len(set(keys)) != len(keys):
            raise ValueError(f"entity {self.name!r}: join keys repeat: {list(keys)}")


@dataclass(frozen=True)
class Field:
    """One feature column: ``dtype`` is a string such as ``"float64"`` or ``"list<float32>"``
    (see :func:`parse_dtype`)."""

    name: str
    dtype: str
    description: str = ""

    def __post_init__(self) -> None:
        if not self.name:
            raise ValueError("a field needs a name")
        try:
            parse_dtype(self.dtype)
        except ValueError as exc:
            raise ValueError(f"field {self.name!r}: {exc}") from None

    @property
    def arrow_type(self) -> pa.DataType:
        return parse_dtype(self.dtype)


#: A module of this package inside a function's source is fingerprinted by its name, not by the
#: sub-package it lives in (``stoffwechsel.data.keys`` reads as ``stoffwechsel.keys``): moving a
#: module keeps the versions of the views whose code imports it (what the code computes, not
#: where it lives). Module names are unique across the package (tests/test_layout.py).
_IN_PACKAGE_MODULE = re.compile(r"\bstoffwechsel(?:\.[a-z_]+)*\.([a-z_]+)\b")


def code_fingerprint(obj: Any) -> str:
    """SHA-256 (hex) of the source text of a function, class or module, dedented; for
    ``definition={"code": code_fingerprint(compute_fn), ...}``."""
    source = _IN_PACKAGE_MODULE.sub(r"stoffwechsel.\1", textwrap.dedent(inspect.getsource(obj)))
    return hashlib.sha256(source.encode("utf-8")).hexdigest()


def _canonical_json(obj: Any, what: str) -> str:
    def default(value: Any) -> Any:
        if isinstance(value, np.generic):
            return value.item()
        raise TypeError(f"{what}: value {value!r} of type {type(value).__name__} is not JSON")

    try:
        return json.dumps(
            obj,
            sort_keys=True,
            separators=(",", ":"),
            ensure_ascii=True,
            allow_nan=False,
            default=default,
        )
    except ValueError as exc:  # NaN / inf
        raise ValueError(f"{what}: {exc}") from None


@dataclass(frozen=True)
class FeatureView:
    """A versioned table of features about ``entities``.

    Rows are identified by the entities' join keys, the event time (``timestamp_field``: the
    time the values describe) and the creation time (``created_timestamp_field``: when the row
    was computed/became known; ``None`` if the data has no such column). ``ttl`` bounds how old a
    row may be at retrieval time (``None``: no bound). ``source_stage`` names the pipeline stage
    that produces the data. ``definition`` holds what defines the computation (code fingerprint,
    parameters, model, ...) as JSON-able values; it goes into :attr:`version`.
    """

    name: str
    entities: tuple[Entity, ...]
    fields: tuple[Field, ...]
    timestamp_field: str = "event_timestamp"
    created_timestamp_field: str | None = "created_timestamp"
    ttl: timedelta | None = None
    source_stage: str = ""
    description: str = ""
    definition: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _VIEW_NAME.match(self.name):
            raise ValueError(
                f"feature view name {self.name!r}: use letters, digits, '_', '.', '-' "
                "(it names a folder and appears in 'view:feature' references)"
            )
        entities = (self.entities,) if isinstance(self.entities, Entity) else tuple(self.entities)
        fields = (self.fields,) if isinstance(self.fields, Field) else tuple(self.fields)
        object.__setattr__(self, "entities", entities)
        object.__setattr__(self, "fields", fields)
        if not entities:
            raise ValueError(f"feature view {self.name!r}: needs at least one entity")
        if self.ttl is not None and (not isinstance(self.ttl, timedelta) or self.ttl <= timedelta(0)):
            raise ValueError(f"feature view {self.name!r}: ttl must be a positive timedelta or None, got {self.ttl!r}")
        if not isinstance(self.definition, Mapping):
            raise TypeError(
                f"feature view {self.name!r}: definition must be a dict, got {type(self.definition).__name__}"
            )
        names = [*self.join_keys, *self.timestamp_fields, *(f.name for f in fields)]
        seen: set[str] = set()
        for name in names:
            if name in seen:
                raise ValueError(
                    f"feature view {self.name!r}: column {name!r} is declared twice "
                    "(join keys, timestamps and fields must be distinct)"
                )
            if _RESERVED.match(name):
                raise ValueError(f"feature view {self.name!r}: column {name!r}: names starting with '__' are reserved")
            seen.add(name)
        _canonical_json(self.definition, f"feature view {self.name!r}: definition")  # JSON-able?

    @property
    def join_keys(self) -> tuple[str, ...]:
        """The join keys of all entities, in order."""
        return tuple(k for e in self.entities for k in e.join_keys)

    @property
    def timestamp_fields(self) -> tuple[str, ...]:
        """``(timestamp_field,)`` or ``(timestamp_field, created_timestamp_field)``."""
        if self.created_timestamp_field is None:
            return (self.timestamp_field,)
        return (self.timestamp_field, self.created_timestamp_field)

    @property
    def columns(self) -> tuple[str, ...]:
        """The columns of the stored data, in stored order."""
        return (*self.join_keys, *self.timestamp_fields, *(f.name for f in self.fields))

    @property
    def feature_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields)

    def get_field(self, name: str) -> Field:
        for f in self.fields:
            if f.name == name:
                return f
        raise UnknownViewError(
            f"feature view {self.name!r}: no feature {name!r} (have: {', '.join(self.feature_names)})"
        )

    @property
    def ttl_us(self) -> int | None:
        return None if self.ttl is None else self.ttl // timedelta(microseconds=1)

    def fingerprint_input(self) -> dict:
        """What :attr:`version` hashes: everything that determines the data, nothing that only
        documents it (descriptions, entity names, source stage)."""
        return {
            "name": self.name,
            "join_keys": list(self.join_keys),
            "timestamp_field": self.timestamp_field,
            "created_timestamp_field": self.created_timestamp_field,
            "schema": [[f.name, f.dtype] for f in self.fields],
            "ttl_us": self.ttl_us,
            "definition": json.loads(_canonical_json(self.definition, f"feature view {self.name!r}: definition")),
        }

    @property
    def version(self) -> str:
        """First 12 hex characters of the SHA-256 of the canonical JSON of
        :meth:`fingerprint_input`."""
        text = _canonical_json(self.fingerprint_input(), f"feature view {self.name!r}")
        return hashlib.sha256(text.encode("ascii")).hexdigest()[:VERSION_LENGTH]

    # registry round trip ----------------------------------------------------------------

    def to_record(self) -> dict:
        """The registry's description of this view (without data statistics)."""
        fp = self.fingerprint_input()
        return {
            "name": self.name,
            "version": self.version,
            "description": self.description,
            "source_stage": self.source_stage,
            "entities": [
                {"name": e.name, "join_keys": list(e.join_keys), "description": e.description} for e in self.entities
            ],
            "join_keys": list(self.join_keys),
            "timestamp_field": self.timestamp_field,
            "created_timestamp_field": self.created_timestamp_field,
            "ttl_seconds": None if self.ttl is None else self.ttl.total_seconds(),
            "schema": [{"name": f.name, "dtype": f.dtype, "description": f.description} for f in self.fields],
            "definition": fp["definition"],
            "fingerprint_input": fp,
        }

    @classmethod
    def from_record(cls, record: Mapping) -> FeatureView:
        """Rebuild a view from its registry record (inverse of :meth:`to_record`)."""
        fp = record["fingerprint_input"]
        ttl = None if fp["ttl_us"] is None else timedelta(microseconds=fp["ttl_us"])
        return cls(
            name=record["name"],
            entities=tuple(
                Entity(e["name"], tuple(e["join_keys"]), e.get("description", "")) for e in record["entities"]
            ),
            fields=tuple(Field(f["name"], f["dtype"], f.get("description", "")) for f in record["schema"]),
            timestamp_field=record["timestamp_field"],
            created_timestamp_field=record["created_timestamp_field"],
            ttl=ttl,
            source_stage=record.get("source_stage", ""),
            description=record.get("description", ""),
            definition=record["definition"],
        )


# --------------------------------------------------------------------------------------------
# the store


def _default_root() -> Path:
    from stoffwechsel.config import DATA_DIR

    return DATA_DIR / "feature_store"


def _timestamp_ns(arr: pa.Array, what: str) -> pa.Array:
    """A timestamp array as int64 nanoseconds since the epoch (UTC for zoned types; the wall
    clock read as UTC for naive ones), nulls kept."""
    if not pa.types.is_timestamp(arr.type):
        raise SchemaMismatchError(f"{what}: expected a timestamp column, found {_dtype_name(arr.type)}")
    ns = arr.cast(pa.timestamp("ns", tz=arr.type.tz))
    return ns.cast(pa.int64())


def _iso(value: Any) -> str | None:
    if value is None:
        return None
    return pd.Timestamp(value).isoformat()


class FeatureStore:
    """The offline store: ``root/<view>/v=<version>/data.parquet`` plus ``root/registry.json``.

    One writer at a time (the pipeline stage that owns a view); readers may run alongside, since
    every file is replaced atomically.
    """

    def __init__(self, root: str | Path | None = None, threads: int = DUCKDB_THREADS) -> None:
        self.root = Path(root) if root is not None else _default_root()
        self.threads = int(threads)

    # layout -------------------------------------------------------------------------------

    @property
    def registry_path(self) -> Path:
        return self.root / "registry.json"

    def data_path(self, view_name: str, version: str) -> Path:
        """Where a view version's data lives (relative layout: ``<view>/v=<version>/data.parquet``)."""
        return self.root / view_name / f"v={version}" / "data.parquet"

    # registry -----------------------------------------------------------------------------

    def registry(self) -> dict:
        """The registry as a dict (a fresh copy; empty if nothing was written yet)."""
        if not self.registry_path.is_file():
            return {"format": REGISTRY_FORMAT, "views": {}}
        with open(self.registry_path, encoding="utf-8") as fh:
            reg = json.load(fh)
        if reg.get("format") != REGISTRY_FORMAT:
            raise FeatureStoreError(
                f"{self.registry_path}: registry format {reg.get('format')!r}, this code reads {REGISTRY_FORMAT}"
            )
        return reg

    def list_views(self) -> list[str]:
        """Names of the registered views, sorted."""
        return sorted(self.registry()["views"])

    def list_versions(self, view_name: str) -> list[str]:
        """The registered versions of a view, sorted (which is current: :meth:`current_version`)."""
        return sorted(self._view_entry(self.registry(), view_name)["versions"])

    def current_version(self, view_name: str) -> str:
        """The version recorded as ``current``: the one written last."""
        return self._view_entry(self.registry(), view_name)["current"]

    def get_view(self, name: str, version: str | None = None) -> FeatureView:
        """The definition of a registered view version (``None``: the current one)."""
        record = self._version_record(self.registry(), name, version)
        view = FeatureView.from_record(record)
        if view.version != record["version"]:  # pragma: no cover - registry edited by hand
            raise FeatureStoreError(
                f"{self.registry_path}: view {name!r} version {record['version']} rebuilds as {view.version}"
            )
        return view

    def _view_entry(self, reg: dict, view_name: str) -> dict:
        try:
            return reg["views"][view_name]
        except KeyError:
            have = ", ".join(sorted(reg["views"])) or "none"
            raise UnknownViewError(f"feature store {self.root}: no view {view_name!r} (have: {have})") from None

    def _version_record(self, reg: dict, view_name: str, version: str | None) -> dict:
        entry = self._view_entry(reg, view_name)
        version = entry["current"] if version is None else version
        try:
            return entry["versions"][version]
        except KeyError:
            raise UnknownViewError(
                f"feature store {self.root}: view {view_name!r} has no version {version!r} "
                f"(have: {', '.join(sorted(entry['versions']))})"
            ) from None

    # write --------------------------------------------------------------------------------

    def validate(self, view: FeatureView, df: pd.DataFrame) -> pa.Table:
        """Check ``df`` against ``view`` and return it as an Arrow table in stored column order
        and declared types (rows not yet sorted). Raises :class:`SchemaMismatchError` naming the
        view, the column, the expected and the found dtype."""
        expected = list(view.columns)
        missing = [c for c in expected if c not in df.columns]
        extra = [c for c in df.columns if c not in expected]
        if missing or extra:
            parts = []
            if missing:
                parts.append(f"missing column(s) {missing}")
            if extra:
                parts.append(f"undeclared column(s) {extra}")
            raise SchemaMismatchError(f"feature view {view.name!r}: {'; '.join(parts)} (expected exactly {expected})")
        if df.columns.duplicated().any():
            dup = sorted(set(df.columns[df.columns.duplicated()]))
            raise SchemaMismatchError(f"feature view {view.name!r}: column(s) {dup} appear twice")

        arrays: dict[str, pa.Array] = {}

        def convert(col: str) -> pa.Array:
            try:
                return _arrow_column(df[col])
            except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError) as exc:
                raise SchemaMismatchError(
                    f"feature view {view.name!r}: column {col!r}: values of pandas dtype "
                    f"{df[col].dtype} cannot be stored ({exc})"
                ) from None

        for key in view.join_keys:
            arr = convert(key)
            t = _canonical_arrow(arr.type)
            if not (pa.types.is_integer(t) or pa.types.is_string(t)):
                raise SchemaMismatchError(
                    f"feature view {view.name!r}: join key {key!r} must be an integer or string "
                    f"column, found {_dtype_name(arr.type)} (pandas dtype {df[key].dtype})"
                )
            arrays[key] = arr.cast(t)
        for ts in view.timestamp_fields:
            arr = convert(ts)
            if not pa.types.is_timestamp(arr.type):
                raise SchemaMismatchError(
                    f"feature view {view.name!r}: column {ts!r}: expected dtype timestamp, found "
                    f"{_dtype_name(arr.type)} (pandas dtype {df[ts].dtype})"
                )
            arrays[ts] = arr
        if view.created_timestamp_field is not None:
            e_tz = arrays[view.timestamp_field].type.tz
            c_tz = arrays[view.created_timestamp_field].type.tz
            if (e_tz is None) != (c_tz is None):
                raise SchemaMismatchError(
                    f"feature view {view.name!r}: {view.timestamp_field!r} is "
                    f"{_dtype_name(arrays[view.timestamp_field].type)} but "
                    f"{view.created_timestamp_field!r} is "
                    f"{_dtype_name(arrays[view.created_timestamp_field].type)}: both must be "
                    "zoned or both naive"
                )
        for key in (*view.join_keys, *view.timestamp_fields):
            nulls = arrays[key].null_count
            if nulls:
                first = int(np.flatnonzero(df[key].isna().to_numpy())[0])
                raise SchemaMismatchError(
                    f"feature view {view.name!r}: column {key!r} has {nulls} missing value(s) "
                    f"(first at row {df.index[first]!r}); keys and timestamps must be set"
                )
        for f in view.fields:
            arr = convert(f.name)
            declared = f.arrow_type
            if not _dtype_matches(arr.type, declared):
                raise SchemaMismatchError(
                    f"feature view {view.name!r}: column {f.name!r}: expected dtype {f.dtype}, "
                    f"found {_dtype_name(arr.type)} (pandas dtype {df[f.name].dtype})"
                )
            if pa.types.is_timestamp(declared):
                arrays[f.name] = arr  # keep the frame's unit
            else:
                arrays[f.name] = arr.cast(declared)
        return pa.table([arrays[c] for c in expected], names=expected)

    def write(self, view: FeatureView, df: pd.DataFrame) -> str:
        """Validate ``df`` against ``view``, store it as version :attr:`FeatureView.version` and
        register it as the view's ``current`` version. Returns the version.

        The data is sorted by join keys, event and created timestamp; a (keys, event, created)
        combination may occur only once. The data file is written first, then the registry,
        each atomically: a failure leaves the previous registry, and every previous version's
        data, as they were (a file of a version that did not exist before is removed again).
        """
        table = self.validate(view, df)
        order = [*view.join_keys, *view.timestamp_fields]
        table = table.take(pc.sort_indices(table, sort_keys=[(c, "ascending") for c in order]))
        self._check_unique(view, table, order)

        version = view.version
        path = self.data_path(view.name, version)
        reg = self.registry()
        existed = path.exists()
        io.write_arrow_parquet(table, path)
        try:
            record = view.to_record()
            events = table[view.timestamp_field]
            record.update(
                {
                    "path": path.relative_to(self.root).as_posix(),
                    "row_count": table.num_rows,
                    "event_timestamp_min": _iso(pc.min(events).as_py()),
                    "event_timestamp_max": _iso(pc.max(events).as_py()),
                    "key_dtypes": {k: _dtype_name(table.schema.field(k).type) for k in view.join_keys},
                    "timestamp_dtypes": {t: str(table.schema.field(t).type) for t in view.timestamp_fields},
                    "data_md5": io.md5_file(path),
                }
            )
            entry = reg["views"].setdefault(view.name, {"current": version, "versions": {}})
            entry["versions"][version] = record
            entry["current"] = version
            io.write_json(reg, self.registry_path)
        except BaseException:
            if not existed:
                path.unlink(missing_ok=True)
                try:
                    path.parent.rmdir()
                except OSError:
                    pass
            raise
        return version

    @staticmethod
    def _check_unique(view: FeatureView, table: pa.Table, order: list[str]) -> None:
        if table.num_rows < 2:
            return
        same = np.ones(table.num_rows - 1, dtype=bool)
        for c in order:
            col = table[c].combine_chunks()
            eq = pc.equal(col.slice(1), col.slice(0, table.num_rows - 1))
            same &= eq.to_numpy(zero_copy_only=False)
        if same.any():
            i = int(np.flatnonzero(same)[0])
            row = {c: table[c][i].as_py() for c in order}
            raise SchemaMismatchError(
                f"feature view {view.name!r}: {int(same.sum())} duplicate row(s) on {order}, "
                f"e.g. {row}; each (keys, event time, created time) may occur once"
            )

    # read ---------------------------------------------------------------------------------

    def read_arrow(self, view_name: str, version: str | None = None, columns: Sequence[str] | None = None) -> pa.Table:
        """A stored view version as an Arrow table (``None``: the current version)."""
        record = self._version_record(self.registry(), view_name, version)
        path = self.root / record["path"]
        if not path.is_file():
            raise FeatureStoreError(
                f"feature view {view_name!r} version {record['version']}: data file {path} is "
                "missing (dvc pull / dvc checkout?)"
            )
        return pq.read_table(path, columns=list(columns) if columns is not None else None)

    def read(self, view_name: str, version: str | None = None) -> pd.DataFrame:
        """A stored view version as a DataFrame, sorted by keys and timestamps
        (``None``: the current version)."""
        return self.read_arrow(view_name, version).to_pandas()

    # point-in-time retrieval --------------------------------------------------------------

    def _plan(
        self, reg: dict, features: Sequence[str], versions: Mapping[str, str] | None
    ) -> list[tuple[FeatureView, dict, list[str]]]:
        """Resolve feature references to (view, record, [feature names]) in first-seen order."""
        versions = dict(versions or {})
        plan: dict[str, tuple[FeatureView, dict, list[str]]] = {}
        for ref in features:
            if not isinstance(ref, str) or not ref:
                raise ValueError(f"feature reference {ref!r}: use 'view:feature' or 'view'")
            view_name, _, feature = ref.partition(":")
            if view_name not in plan:
                record = self._version_record(reg, view_name, versions.pop(view_name, None))
                plan[view_name] = (FeatureView.from_record(record), record, [])
            view, _, chosen = plan[view_name]
            names = list(view.feature_names) if not feature else [view.get_field(feature).name]
            for name in names:
                if name in chosen:
                    raise ValueError(f"feature {view_name}:{name} is selected twice in {list(features)}")
                chosen.append(name)
        if versions:
            raise ValueError(f"versions given for view(s) not selected: {sorted(versions)}")
        return list(plan.values())

    def get_historical_features(
        self,
        spine: pd.DataFrame,
        features: Sequence[str],
        spine_timestamp: str = "event_timestamp",
        created_cutoff: bool = True,
        versions: Mapping[str, str] | None = None,
    ) -> pd.DataFrame:
        """Point-in-time correct features for each row of ``spine``.

        ``spine`` holds the join keys of every selected view and a timestamp column
        ``spine_timestamp`` (t). ``features`` are ``"view:feature"`` or ``"view"`` (all its
        features); ``versions`` may pin ``{view: version}`` (default: each view's current one).

        For each spine row and view, the feature row used is the one with the same join keys,
        ``event_timestamp <= t``, ``event_timestamp >= t - ttl`` (if the view has a ttl) and,
        with ``created_cutoff`` (default), ``created_timestamp <= t``, that has the largest event
        timestamp (ties: largest created timestamp). ``created_cutoff=False`` is Feast's rule:
        created timestamps only break ties. No such row (or a missing key/t): nulls.

        Returns ``spine`` (all columns, same rows, order and index) with one column per feature,
        named ``<feature>``, or ``<view>__<feature>`` where the name is selected from several
        views or is a spine column. Integer and bool features come back as pandas' nullable
        ``Int*``/``boolean`` dtypes, floats with NaN, others with None/NaT.
        """
        reg = self.registry()
        plan = self._plan(reg, features, versions)
        if spine_timestamp not in spine.columns:
            raise SchemaMismatchError(f"spine: no timestamp column {spine_timestamp!r} (have: {list(spine.columns)})")

        # Output names.
        counts: dict[str, int] = {}
        for _, _, names in plan:
            for n in names:
                counts[n] = counts.get(n, 0) + 1
        out_names: list[list[str]] = []
        for view, _, names in plan:
            cols = []
            for n in names:
                out = n if counts[n] == 1 and n not in spine.columns else f"{view.name}__{n}"
                if out in spine.columns:
                    raise ValueError(f"feature {view.name}:{n}: output column {out!r} is already a spine column")
                cols.append(out)
            out_names.append(cols)

        # The spine as Arrow: the keys, t in ns and the row number.
        n = len(spine)
        t_arr = _arrow_column(spine[spine_timestamp])
        t_ns = _timestamp_ns(t_arr, f"spine column {spine_timestamp!r}")
        t_np = pc.fill_null(t_ns, 0).to_numpy()
        spine_cols: dict[str, pa.Array] = {}
        for view, record, _ in plan:
            for key in view.join_keys:
                if key not in spine.columns:
                    raise SchemaMismatchError(
                        f"feature view {view.name!r}: spine has no join key column {key!r} "
                        f"(have: {list(spine.columns)})"
                    )
                if key not in spine_cols:
                    spine_cols[key] = _arrow_column(spine[key])
                arr = spine_cols[key]
                found = _canonical_arrow(arr.type)
                stored = parse_dtype(record["key_dtypes"][key])
                ok = (
                    (pa.types.is_integer(found) and pa.types.is_integer(stored))
                    or (pa.types.is_string(found) and pa.types.is_string(stored))
                    or pa.types.is_null(found)
                )
                if not ok:
                    raise SchemaMismatchError(
                        f"feature view {view.name!r}: join key {key!r}: expected dtype "
                        f"{record['key_dtypes'][key]}, found {_dtype_name(arr.type)} in the spine "
                        f"(pandas dtype {spine[key].dtype})"
                    )
                if pa.types.is_null(found):  # an all-missing key column matches nothing
                    spine_cols[key] = arr.cast(stored)
                elif found != arr.type:
                    spine_cols[key] = arr.cast(found)
            spine_zoned = t_arr.type.tz is not None
            view_zoned = ", tz=" in record["timestamp_dtypes"][view.timestamp_field]
            if spine_zoned != view_zoned:
                raise SchemaMismatchError(
                    f"feature view {view.name!r}: its {view.timestamp_field!r} is "
                    f"{record['timestamp_dtypes'][view.timestamp_field]} but spine column "
                    f"{spine_timestamp!r} is {t_arr.type}: both must be zoned or both naive"
                )
        spine_cols["__t"] = t_ns
        spine_cols["__row"] = pa.array(np.arange(n, dtype=np.int64))
        spine_table = pa.table(spine_cols)

        new_columns: dict[str, Any] = {}
        con = duckdb.connect(config={"threads": str(self.threads), "preserve_insertion_order": False})
        con.execute("SET enable_progress_bar = false")
        try:
            con.register("spine", spine_table)
            for (view, record, names), cols in zip(plan, out_names):
                feature_table, idx = self._match_rows(con, view, record, names, created_cutoff, t_np)
                for name, out in zip(names, cols):
                    # A Series on the spine's own index: assign neither aligns nor copies it.
                    new_columns[out] = pd.Series(_take(feature_table[name], idx), index=spine.index, copy=False)
        finally:
            con.close()
        return spine.assign(**new_columns) if new_columns else spine.copy()

    def _match_rows(
        self,
        con: duckdb.DuckDBPyConnection,
        view: FeatureView,
        record: dict,
        names: list[str],
        created_cutoff: bool,
        t_ns: np.ndarray,
    ) -> tuple[pa.Table, np.ndarray]:
        """The selected feature columns of a view version (stored row order) and, for each
        spine row, the stored row number to use (-1: none).

        Stored rows are sorted by (keys, event, created), so within one key the row number
        orders rows by (event, created). A row is *available* at t from
        ``a = max(event, created)`` on (``a = event`` without the created cutoff). The answer for
        (key, t) is the largest row number among the key's rows with ``a <= t``: the running
        maximum of row numbers over the key's rows in ``a`` order (rows with equal ``a`` merged
        first), looked up with an ASOF join on ``a <= t``. When ``a`` never decreases within a
        key in stored order (always without the cutoff; with it whenever rows are created in
        event order), that running maximum is the row number itself and the lookup table is
        just the last stored row of each (key, a). A ttl cannot change which row wins: if the
        winner's event is older than t - ttl, so is every other available row's, so it is
        applied afterwards.
        """
        use_created = created_cutoff and view.created_timestamp_field is not None
        cols = [*view.join_keys, view.timestamp_field, *names]
        if use_created:
            cols.insert(len(view.join_keys) + 1, view.created_timestamp_field)
        table = self.read_arrow(view.name, record["version"], columns=cols)
        m = table.num_rows
        event_ns = _timestamp_ns(table[view.timestamp_field].combine_chunks(), view.timestamp_field).to_numpy()
        avail = event_ns
        if use_created:
            created_ns = _timestamp_ns(
                table[view.created_timestamp_field].combine_chunks(), view.created_timestamp_field
            ).to_numpy()
            avail = np.maximum(event_ns, created_ns)

        # same_key[i]: row i and row i + 1 have the same join keys.
        same_key = np.ones(max(m - 1, 0), dtype=bool)
        for key in view.join_keys:
            col = table[key].combine_chunks()
            same_key &= pc.equal(col.slice(1), col.slice(0, max(m - 1, 0))).to_numpy(zero_copy_only=False)
        rising = avail[1:] >= avail[:-1]
        keys = [duckdb_ident(k) for k in view.join_keys]
        key_list = ", ".join(keys)
        if _FAST_PATH and bool(np.all(rising | ~same_key)):
            last = np.ones(m, dtype=bool)
            last[:-1] = ~(same_key & (avail[1:] == avail[:-1]))
            lookup = pa.table(
                {
                    **{k: table[k].filter(last) for k in view.join_keys},
                    "__a": avail[last],
                    "__best": np.flatnonzero(last).astype(np.int64),
                }
            )
            source = "lookup"
        else:
            lookup = pa.table(
                {
                    **{k: table[k] for k in view.join_keys},
                    "__a": avail,
                    "__r": np.arange(m, dtype=np.int64),
                }
            )
            source = f"""(
                SELECT {key_list}, __a,
                       max(__r) OVER (PARTITION BY {key_list} ORDER BY __a
                                      ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS __best
                FROM (SELECT {key_list}, __a, max(__r) AS __r FROM lookup GROUP BY {key_list}, __a)
            )"""
        on = " AND ".join(f"s.{k} = h.{k}" for k in keys)
        con.register("lookup", lookup)
        try:
            res = con.sql(
                f"SELECT s.__row AS __row, h.__best AS __best "
                f"FROM spine s ASOF LEFT JOIN {source} h ON {on} AND s.__t >= h.__a"
            ).to_arrow_table()
        finally:
            con.unregister("lookup")
        n = len(t_ns)
        idx = np.full(n, -1, dtype=np.int64)
        idx[res["__row"].to_numpy()] = pc.fill_null(res["__best"], -1).to_numpy()
        if view.ttl is not None and m:
            hit = idx >= 0
            stale = np.zeros(n, dtype=bool)
            stale[hit] = event_ns[idx[hit]] < t_ns[hit] - view.ttl_us * 1000
            idx[stale] = -1
        return table.select(names), idx


def duckdb_ident(name: str) -> str:
    """``name`` quoted as a DuckDB identifier."""
    return '"' + name.replace('"', '""') + '"'


_NULLABLE = {
    pa.int8(): pd.Int8Dtype(),
    pa.int16(): pd.Int16Dtype(),
    pa.int32(): pd.Int32Dtype(),
    pa.int64(): pd.Int64Dtype(),
    pa.uint8(): pd.UInt8Dtype(),
    pa.uint16(): pd.UInt16Dtype(),
    pa.uint32(): pd.UInt32Dtype(),
    pa.uint64(): pd.UInt64Dtype(),
    pa.bool_(): pd.BooleanDtype(),
}


def _take(column: pa.ChunkedArray, idx: np.ndarray) -> Any:
    """Rows ``idx`` of ``column`` (-1: missing) as a pandas-ready array whose dtype does not
    depend on whether anything is missing: floats as numpy with NaN, integers and bools as
    pandas' nullable arrays, everything else as pandas makes it from Arrow (None/NaT)."""
    missing = idx < 0
    if pa.types.is_floating(column.type):
        values = column.to_numpy()  # nulls -> NaN
        if not len(values):
            return np.full(len(idx), np.nan, dtype=values.dtype)
        out = values.take(np.where(missing, 0, idx))
        out[missing] = np.nan
        return out
    taken = column.take(pa.array(idx, mask=missing))
    return taken.to_pandas(types_mapper=_NULLABLE.get).array


# --------------------------------------------------------------------------------------------
# benchmark


def bench_retrieval(
    n_spine: int,
    n_entities: int,
    n_feature_rows: int,
    n_features: int = 3,
    seed: int = 0,
    threads: int = DUCKDB_THREADS,
    repeat: int = 2,
) -> dict:
    """Time :meth:`FeatureStore.get_historical_features` against ``pandas.merge_asof`` on the same
    random data (one view, integer key, ``n_features`` float64 features) and check that the
    answers are equal. Returns spine rows per second (best of ``repeat``) for

    * ``store_feast``: the store with ``created_cutoff=False`` vs ``merge_asof`` on the event time;
    * ``store_cutoff``: the store with ``created_cutoff=True`` vs ``merge_asof`` on the created
      time (equivalent here because created = event + 1 hour for every row).

    ``merge_asof`` timings include sorting the spine by time and restoring its order. Not a test.
    """
    rng = np.random.default_rng(seed)
    base = np.datetime64("2024-01-01T00:00:00", "ns")
    span_s = 365 * 24 * 3600
    lag = np.timedelta64(3600, "s")
    # Unique event times (whole seconds), so merge_asof's handling of ties plays no part.
    offsets = rng.choice(span_s, size=n_feature_rows, replace=False)
    event = base + offsets.astype("timedelta64[s]")
    feats = pd.DataFrame({"entity_id": rng.integers(0, n_entities, n_feature_rows)})
    feats["event_timestamp"] = event
    feats["created_timestamp"] = event + lag
    fnames = [f"f{i}" for i in range(n_features)]
    for name in fnames:
        feats[name] = rng.standard_normal(n_feature_rows)
    spine = pd.DataFrame(
        {
            "entity_id": rng.integers(0, int(n_entities * 1.1) + 1, n_spine),
            "event_timestamp": base + rng.integers(0, span_s + 7200, n_spine).astype("timedelta64[s]"),
        }
    )
    view = FeatureView(
        name="bench",
        entities=(Entity("entity", ("entity_id",)),),
        fields=tuple(Field(f, "float64") for f in fnames),
        source_stage="bench",
    )

    def merge_asof(on: str) -> pd.DataFrame:
        left = spine.assign(__pos=np.arange(n_spine)).sort_values("event_timestamp", kind="stable")
        right = feats[["entity_id", on, *fnames]].sort_values(on, kind="stable")
        right = right.rename(columns={on: "__on"})
        merged = pd.merge_asof(
            left,
            right,
            left_on="event_timestamp",
            right_on="__on",
            by="entity_id",
            direction="backward",
            allow_exact_matches=True,
        )
        merged = merged.sort_values("__pos").reset_index(drop=True)
        return merged[fnames]

    def best_time(fn) -> tuple[float, Any]:
        times, result = [], None
        for _ in range(max(1, repeat)):
            t0 = time.perf_counter()
            result = fn()
            times.append(time.perf_counter() - t0)
        return min(times), result

    out: dict[str, Any] = {
        "n_spine": n_spine,
        "n_entities": n_entities,
        "n_feature_rows": n_feature_rows,
        "n_features": n_features,
        "threads": threads,
    }
    with tempfile.TemporaryDirectory() as tmp:
        store = FeatureStore(Path(tmp), threads=threads)
        store.write(view, feats)
        for label, cutoff, on in (
            ("store_feast", False, "event_timestamp"),
            ("store_cutoff", True, "created_timestamp"),
        ):
            # best_time calls fn() at once, with no arguments: the defaults bind this iteration's values
            t_store, got = best_time(lambda c=cutoff: store.get_historical_features(spine, ["bench"], created_cutoff=c))
            t_pandas, want = best_time(lambda o=on: merge_asof(o))
            for name in fnames:
                a = got[name].to_numpy(dtype=float, na_value=np.nan)
                b = want[name].to_numpy(dtype=float, na_value=np.nan)
                if not np.array_equal(a, b, equal_nan=True):
                    raise AssertionError(f"bench {label}: feature {name} differs from merge_asof")
            out[label] = {
                "store_rows_per_s": n_spine / t_store,
                "merge_asof_rows_per_s": n_spine / t_pandas,
                "store_s": t_store,
                "merge_asof_s": t_pandas,
                "matched": float(got[fnames[0]].notna().mean()),
            }
    return out
