"""Feature definitions in Feast's vocabulary: what a feature store holds, apart from how it stores it.

* :class:`Entity` -- what features describe, identified by its join keys (``customer_id``).
* :class:`Field` -- one feature: name, dtype string, description.
* :class:`FeatureView` -- a table of features about some entities, one row per entity key and
  event time, plus the time the row was computed (``created_timestamp``). Its
  :attr:`FeatureView.version` fingerprints everything that determines the data (keys, schema,
  ttl, definition; :func:`code_fingerprint` for the code), but not the descriptions.
* The dtype strings (``float64``, ``list<string>``, ...) and their Arrow types (:func:`parse_dtype`).

The offline store that writes and retrieves the views' rows is :mod:`stoffwechsel.features.store`.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import re
import textwrap
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

__all__ = [
    "Entity",
    "Field",
    "FeatureView",
    "FeatureStoreError",
    "SchemaMismatchError",
    "UnknownViewError",
    "code_fingerprint",
    "parse_dtype",
    "VERSION_LENGTH",
]

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
    :func:`dtype_matches` ignores the unit.
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


def canonical_arrow(t: pa.DataType) -> pa.DataType:
    """Large and small variants made equal, dictionaries replaced by their values."""
    if pa.types.is_dictionary(t):
        return canonical_arrow(t.value_type)
    if pa.types.is_large_string(t) or pa.types.is_string_view(t):
        return pa.string()
    if pa.types.is_large_list(t) or pa.types.is_list_view(t) or pa.types.is_large_list_view(t):
        return pa.list_(canonical_arrow(t.value_type))
    if pa.types.is_list(t):
        return pa.list_(canonical_arrow(t.value_type))
    return t


def dtype_matches(found: pa.DataType, declared: pa.DataType) -> bool:
    found = canonical_arrow(found)
    if pa.types.is_null(found):  # an all-missing column fits any type
        return True
    if pa.types.is_timestamp(declared):
        return pa.types.is_timestamp(found) and found.tz == declared.tz
    if pa.types.is_list(declared):
        return pa.types.is_list(found) and dtype_matches(found.value_type, declared.value_type)
    return found == declared


def arrow_column(values: pd.Series | pa.Array) -> pa.Array:
    if isinstance(values, pa.ChunkedArray):
        return values.combine_chunks()
    if isinstance(values, pa.Array):
        return values
    return pa.Array.from_pandas(values)


def dtype_name(t: pa.DataType) -> str:
    """The dtype string of an Arrow type (inverse of :func:`parse_dtype` where it can be)."""
    t = canonical_arrow(t)
    for name, scalar in _SCALAR_DTYPES.items():
        if t == scalar:
            return name
    if pa.types.is_timestamp(t):
        return "timestamp" if t.tz is None else f"timestamp[{t.tz}]"
    if pa.types.is_list(t):
        return f"list<{dtype_name(t.value_type)}>"
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
_SUB_PACKAGES = tuple(
    sorted(p.name for p in Path(__file__).resolve().parents[1].iterdir() if (p / "__init__.py").is_file())
)
_IN_SUB_PACKAGE = re.compile(r"\bstoffwechsel\.(?:" + "|".join(_SUB_PACKAGES) + r")\.")


def code_fingerprint(obj: Any) -> str:
    """SHA-256 (hex) of the source text of a function, class or module, dedented; for
    ``definition={"code": code_fingerprint(compute_fn), ...}``."""
    source = _IN_SUB_PACKAGE.sub("stoffwechsel.", textwrap.dedent(inspect.getsource(obj)))
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
