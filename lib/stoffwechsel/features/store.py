"""The offline feature store: one Parquet file per feature view version under a root folder,
a deterministic ``registry.json``, and point-in-time retrieval
(:meth:`FeatureStore.get_historical_features`), with data versioning left to DVC.

The views it stores are defined in :mod:`stoffwechsel.features.views` (Feast's entities, fields
and feature views). Nothing here knows the shop's data: views are generic over their join keys.
See ``docs/feature-store.md`` for the vocabulary, the file layout and the retrieval rule; the
hypothesis test (tests/test_store.py) checks retrieval against a brute-force reference.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from stoffwechsel.data import io
from stoffwechsel.features.views import (
    FeatureStoreError,
    FeatureView,
    SchemaMismatchError,
    UnknownViewError,
    arrow_column,
    canonical_arrow,
    dtype_matches,
    dtype_name,
    parse_dtype,
)

__all__ = ["FeatureStore", "REGISTRY_FORMAT", "DUCKDB_THREADS", "duckdb_ident"]

#: Version of the layout of ``registry.json``.
REGISTRY_FORMAT = 1
#: DuckDB threads per retrieval call (fixed, so timings and plans do not depend on the machine).
DUCKDB_THREADS = 2
#: Use the sort-free lookup table when availability times rise with stored order (tests switch
#: it off to check the general path against the same reference).
_FAST_PATH = True


# --------------------------------------------------------------------------------------------
# the store


def _default_root() -> Path:
    from stoffwechsel.config import DATA_DIR

    return DATA_DIR / "feature_store"


def _timestamp_ns(arr: pa.Array, what: str) -> pa.Array:
    """A timestamp array as int64 nanoseconds since the epoch (UTC for zoned types; the wall
    clock read as UTC for naive ones), nulls kept."""
    if not pa.types.is_timestamp(arr.type):
        raise SchemaMismatchError(f"{what}: expected a timestamp column, found {dtype_name(arr.type)}")
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
                return arrow_column(df[col])
            except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError) as exc:
                raise SchemaMismatchError(
                    f"feature view {view.name!r}: column {col!r}: values of pandas dtype "
                    f"{df[col].dtype} cannot be stored ({exc})"
                ) from None

        for key in view.join_keys:
            arr = convert(key)
            t = canonical_arrow(arr.type)
            if not (pa.types.is_integer(t) or pa.types.is_string(t)):
                raise SchemaMismatchError(
                    f"feature view {view.name!r}: join key {key!r} must be an integer or string "
                    f"column, found {dtype_name(arr.type)} (pandas dtype {df[key].dtype})"
                )
            arrays[key] = arr.cast(t)
        for ts in view.timestamp_fields:
            arr = convert(ts)
            if not pa.types.is_timestamp(arr.type):
                raise SchemaMismatchError(
                    f"feature view {view.name!r}: column {ts!r}: expected dtype timestamp, found "
                    f"{dtype_name(arr.type)} (pandas dtype {df[ts].dtype})"
                )
            arrays[ts] = arr
        if view.created_timestamp_field is not None:
            e_tz = arrays[view.timestamp_field].type.tz
            c_tz = arrays[view.created_timestamp_field].type.tz
            if (e_tz is None) != (c_tz is None):
                raise SchemaMismatchError(
                    f"feature view {view.name!r}: {view.timestamp_field!r} is "
                    f"{dtype_name(arrays[view.timestamp_field].type)} but "
                    f"{view.created_timestamp_field!r} is "
                    f"{dtype_name(arrays[view.created_timestamp_field].type)}: both must be "
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
            if not dtype_matches(arr.type, declared):
                raise SchemaMismatchError(
                    f"feature view {view.name!r}: column {f.name!r}: expected dtype {f.dtype}, "
                    f"found {dtype_name(arr.type)} (pandas dtype {df[f.name].dtype})"
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
                    "key_dtypes": {k: dtype_name(table.schema.field(k).type) for k in view.join_keys},
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
        t_arr = arrow_column(spine[spine_timestamp])
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
                    spine_cols[key] = arrow_column(spine[key])
                arr = spine_cols[key]
                found = canonical_arrow(arr.type)
                stored = parse_dtype(record["key_dtypes"][key])
                ok = (
                    (pa.types.is_integer(found) and pa.types.is_integer(stored))
                    or (pa.types.is_string(found) and pa.types.is_string(stored))
                    or pa.types.is_null(found)
                )
                if not ok:
                    raise SchemaMismatchError(
                        f"feature view {view.name!r}: join key {key!r}: expected dtype "
                        f"{record['key_dtypes'][key]}, found {dtype_name(arr.type)} in the spine "
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
