"""The offline feature store (stoffwechsel.features.store): versions, registry, point-in-time retrieval."""

from __future__ import annotations

import tempfile
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import ROOT
from stoffwechsel.data import io
from stoffwechsel.features import store
from stoffwechsel.features.store import FeatureStore
from stoffwechsel.features.views import (
    Entity,
    FeatureView,
    Field,
    SchemaMismatchError,
    UnknownViewError,
    code_fingerprint,
)

T0 = pd.Timestamp("2024-03-01 00:00:00")
CUSTOMER = Entity("customer", ("customer_id",), "a shop customer")


def ts(hours: float | None) -> pd.Timestamp:
    return pd.NaT if hours is None else T0 + pd.Timedelta(hours=hours)


def stats_view(**changes) -> FeatureView:
    view = FeatureView(
        name="customer_stats",
        entities=(CUSTOMER,),
        fields=(
            Field("recency_days", "float64", "days since last order"),
            Field("n_orders", "int64", "orders so far"),
        ),
        ttl=None,
        source_stage="features",
        description="per-customer order statistics",
        definition={"code": "abc", "params": {"window_days": 90}},
    )
    return replace(view, **changes)


def stats_frame(rows) -> pd.DataFrame:
    """rows: (customer_id, event hours, created hours, recency, n_orders)."""
    return pd.DataFrame(
        {
            "customer_id": np.array([r[0] for r in rows], dtype="int64"),
            "event_timestamp": pd.to_datetime([ts(r[1]) for r in rows]),
            "created_timestamp": pd.to_datetime([ts(r[2]) for r in rows]),
            "recency_days": np.array([r[3] for r in rows], dtype="float64"),
            "n_orders": np.array([r[4] for r in rows], dtype="int64"),
        }
    )


def spine_frame(rows, **extra) -> pd.DataFrame:
    """rows: (customer_id, hours)."""
    return pd.DataFrame(
        {
            "customer_id": np.array([r[0] for r in rows], dtype="int64"),
            "event_timestamp": pd.to_datetime([ts(r[1]) for r in rows]),
            **extra,
        }
    )


@pytest.fixture
def fs(tmp_path) -> FeatureStore:
    return FeatureStore(tmp_path / "feature_store")


# versions -----------------------------------------------------------------------------------


def test_version_is_a_12_hex_fingerprint_and_stable():
    v = stats_view()
    assert len(v.version) == 12 and int(v.version, 16) >= 0
    assert v.version == stats_view().version


@pytest.mark.parametrize(
    "changes",
    [
        {"fields": (Field("recency_days", "float32"), Field("n_orders", "int64"))},
        {"fields": (Field("recency_days", "float64"),)},
        {"fields": (Field("recency", "float64"), Field("n_orders", "int64"))},
        {"definition": {"code": "abd", "params": {"window_days": 90}}},
        {"definition": {"code": "abc", "params": {"window_days": 30}}},
        {"definition": {"code": "abc", "params": {"window_days": 90}, "model": {"name": "m"}}},
        {"ttl": timedelta(days=7)},
        {"entities": (Entity("customer", ("customer_id", "shop_id")),)},
        {"timestamp_field": "as_of"},
        {"created_timestamp_field": None},
        {"name": "customer_stats2"},
    ],
)
def test_version_changes_with_what_defines_the_data(changes):
    assert stats_view(**changes).version != stats_view().version


def test_version_ignores_descriptions_and_key_order_in_definition():
    base = stats_view()
    documented = stats_view(
        description="new words",
        entities=(Entity("customer", ("customer_id",), "other words"),),
        fields=(
            Field("recency_days", "float64", "changed"),
            Field("n_orders", "int64", "changed too"),
        ),
        source_stage="renamed_stage",
    )
    assert documented.version == base.version
    reordered = stats_view(definition={"params": {"window_days": 90}, "code": "abc"})
    assert reordered.version == base.version
    assert stats_view(ttl=timedelta(days=1)).version == stats_view(ttl=timedelta(hours=24)).version


def test_view_validation_errors():
    with pytest.raises(ValueError, match="unknown dtype 'float'"):
        Field("x", "float")
    with pytest.raises(ValueError, match="declared twice"):
        stats_view(fields=(Field("customer_id", "int64"),))
    with pytest.raises(ValueError, match="name"):
        stats_view(name="a:b")
    with pytest.raises(TypeError, match="definition.*not JSON"):
        stats_view(definition={"f": object()})
    with pytest.raises(ValueError, match="ttl"):
        stats_view(ttl=timedelta(0))


def test_code_fingerprint_is_sha256_of_source():
    assert len(code_fingerprint(stats_frame)) == 64
    assert code_fingerprint(stats_frame) != code_fingerprint(spine_frame)


def _defined(source: str):
    namespace: dict = {}
    path = ROOT / "reports" / "test-artifacts" / "fingerprint_probe.py"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(source)
    exec(compile(source, str(path), "exec"), namespace)  # inspect.getsource reads the file
    return namespace["probe"]


def test_code_fingerprint_reads_a_module_by_name_not_by_its_sub_package():
    """Issue 23: moving a module into a sub-package keeps the versions of the views whose code
    imports it; a different module, or an attribute path, still changes the fingerprint."""
    flat = "def probe():\n    from stoffwechsel.keys import product_key\n    return product_key\n"
    moved = flat.replace("stoffwechsel.keys", "stoffwechsel.data.keys")
    other = flat.replace("stoffwechsel.keys", "stoffwechsel.data.timeline")
    attribute = "def probe():\n    return stoffwechsel.exact.snap\n"
    assert code_fingerprint(_defined(flat)) == code_fingerprint(_defined(moved))
    assert code_fingerprint(_defined(flat)) != code_fingerprint(_defined(other))
    assert code_fingerprint(_defined(attribute)) != code_fingerprint(
        _defined(attribute.replace("stoffwechsel.exact.snap", "stoffwechsel.snap"))
    )


# write, read, registry ----------------------------------------------------------------------


def test_write_then_read_roundtrip(fs):
    df = stats_frame([(2, 1, 1, 5.0, 3), (1, 2, 3, 1.5, 1), (1, 0, 0, 2.5, 0)])
    version = fs.write(stats_view(), df)
    assert version == stats_view().version
    assert (fs.root / "customer_stats" / f"v={version}" / "data.parquet").is_file()
    back = fs.read("customer_stats")
    expected = df.sort_values(["customer_id", "event_timestamp"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(back, expected)
    assert fs.list_views() == ["customer_stats"]
    assert fs.get_view("customer_stats") == stats_view()


def test_old_versions_stay_readable(fs):
    v1 = stats_view()
    v2 = stats_view(definition={"code": "abc", "params": {"window_days": 30}})
    df1 = stats_frame([(1, 0, 0, 1.0, 1)])
    df2 = stats_frame([(1, 0, 0, 9.0, 9), (2, 0, 0, 8.0, 8)])
    fs.write(v1, df1)
    fs.write(v2, df2)
    assert fs.list_versions("customer_stats") == sorted([v1.version, v2.version])
    assert fs.current_version("customer_stats") == v2.version
    pd.testing.assert_frame_equal(fs.read("customer_stats", v1.version), df1)
    pd.testing.assert_frame_equal(fs.read("customer_stats"), df2)
    assert fs.get_view("customer_stats", v1.version).definition == v1.definition
    assert fs.get_view("customer_stats").definition == v2.definition
    reg = fs.registry()["views"]["customer_stats"]["versions"]
    assert reg[v1.version]["row_count"] == 1 and reg[v2.version]["row_count"] == 2
    # Retrieval can pin the old version.
    spine = spine_frame([(1, 5)])
    got = fs.get_historical_features(spine, ["customer_stats:n_orders"], versions={"customer_stats": v1.version})
    assert got["n_orders"].tolist() == [1]
    assert fs.get_historical_features(spine, ["customer_stats:n_orders"])["n_orders"].tolist() == [9]
    # Writing v1 again makes it current again.
    fs.write(v1, df1)
    assert fs.current_version("customer_stats") == v1.version


def test_registry_records_the_version(fs):
    view = stats_view(ttl=timedelta(days=30))
    fs.write(view, stats_frame([(1, 0, 1, 1.0, 1), (1, 48, 49, 2.0, 2)]))
    rec = fs.registry()["views"]["customer_stats"]["versions"][view.version]
    assert rec["row_count"] == 2
    assert rec["event_timestamp_min"] == "2024-03-01T00:00:00"
    assert rec["event_timestamp_max"] == "2024-03-03T00:00:00"
    assert rec["ttl_seconds"] == 30 * 86400
    assert rec["join_keys"] == ["customer_id"]
    assert rec["schema"][0] == {"name": "recency_days", "dtype": "float64", "description": "days since last order"}
    assert rec["source_stage"] == "features"
    assert rec["path"] == f"customer_stats/v={view.version}/data.parquet"
    assert rec["data_md5"] == io.md5_file(fs.root / rec["path"])
    assert rec["fingerprint_input"]["definition"] == view.definition


def test_registry_and_data_are_deterministic(tmp_path):
    df = stats_frame([(i % 7, i, i + 1, i / 3, i) for i in range(40)])
    a, b = FeatureStore(tmp_path / "a"), FeatureStore(tmp_path / "b")
    a.write(stats_view(), df)
    b.write(stats_view(), df.sample(frac=1.0, random_state=3).reset_index(drop=True))
    assert a.registry_path.read_bytes() == b.registry_path.read_bytes()
    rel = f"customer_stats/v={stats_view().version}/data.parquet"
    assert (a.root / rel).read_bytes() == (b.root / rel).read_bytes()
    before = a.registry_path.read_bytes()
    a.write(stats_view(), df)  # rewrite: same bytes
    assert a.registry_path.read_bytes() == before


def test_description_edit_keeps_version_and_updates_registry(fs):
    fs.write(stats_view(), stats_frame([(1, 0, 0, 1.0, 1)]))
    fs.write(stats_view(description="better words"), stats_frame([(1, 0, 0, 1.0, 1)]))
    assert fs.list_versions("customer_stats") == [stats_view().version]
    assert fs.get_view("customer_stats").description == "better words"


@pytest.mark.parametrize(
    "mutate, pattern",
    [
        (
            lambda df: df.assign(n_orders=df["n_orders"].astype("float64")),
            r"feature view 'customer_stats': column 'n_orders': expected dtype int64, found float64",
        ),
        (
            lambda df: df.assign(recency_days=df["recency_days"].astype(str)),
            r"feature view 'customer_stats': column 'recency_days': expected dtype float64, found string",
        ),
        (
            lambda df: df.drop(columns="n_orders"),
            r"feature view 'customer_stats': missing column\(s\) \['n_orders'\]",
        ),
        (
            lambda df: df.assign(extra=1),
            r"feature view 'customer_stats': undeclared column\(s\) \['extra'\]",
        ),
        (
            lambda df: df.assign(event_timestamp=df["event_timestamp"].astype(str)),
            r"feature view 'customer_stats': column 'event_timestamp': expected dtype timestamp, found string",
        ),
        (
            lambda df: df.assign(customer_id=df["customer_id"].astype("float64")),
            r"feature view 'customer_stats': join key 'customer_id' must be an integer or string column, found float64",
        ),
        (
            lambda df: df.assign(created_timestamp=pd.NaT),
            r"feature view 'customer_stats': column 'created_timestamp' has 2 missing value",
        ),
        (
            lambda df: pd.concat([df, df.iloc[[0]]]),
            r"feature view 'customer_stats': 1 duplicate row",
        ),
    ],
)
def test_schema_mismatch_errors_name_view_column_and_dtypes(fs, mutate, pattern):
    df = stats_frame([(1, 0, 0, 1.0, 1), (2, 0, 0, 2.0, 2)])
    with pytest.raises(SchemaMismatchError, match=pattern):
        fs.write(stats_view(), mutate(df))
    assert not fs.registry_path.exists()


def test_nullable_and_vector_dtypes_are_accepted(fs):
    view = FeatureView(
        "emb",
        (Entity("product", ("product_id", "season")),),
        (Field("vec", "list<float32>"), Field("n", "int64"), Field("ok", "bool"), Field("label", "string")),
        created_timestamp_field=None,
    )
    df = pd.DataFrame(
        {
            "product_id": ["SW-1", "SW-2"],
            "season": ["SS24", "SS24"],
            "event_timestamp": pd.to_datetime(["2024-01-01", "2024-01-02"]),
            "vec": [np.ones(3, dtype="float32"), np.zeros(3, dtype="float32")],
            "n": pd.array([1, None], dtype="Int64"),
            "ok": pd.array([True, None], dtype="boolean"),
            "label": ["a", None],
        }
    )
    fs.write(view, df)
    back = fs.read("emb")
    assert back["vec"].map(len).tolist() == [3, 3] and back["vec"][0].dtype == np.float32
    with pytest.raises(SchemaMismatchError, match=r"column 'vec': expected dtype list<float32>, found list<float64>"):
        fs.write(view, df.assign(vec=[np.ones(3), np.zeros(3)]))


def test_unknown_view_version_feature(fs):
    with pytest.raises(UnknownViewError, match="no view 'nope'"):
        fs.read("nope")
    fs.write(stats_view(), stats_frame([(1, 0, 0, 1.0, 1)]))
    with pytest.raises(UnknownViewError, match="no version 'deadbeef0000'"):
        fs.read("customer_stats", "deadbeef0000")
    with pytest.raises(UnknownViewError, match="no feature 'nope'"):
        fs.get_historical_features(spine_frame([(1, 0)]), ["customer_stats:nope"])


# atomicity ----------------------------------------------------------------------------------


def _tmp_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.name.endswith(".tmp")]


def test_failed_data_write_leaves_previous_version_and_registry(fs, monkeypatch):
    view = stats_view()
    fs.write(view, stats_frame([(1, 0, 0, 1.0, 1)]))
    data = fs.data_path(view.name, view.version)
    data_before, reg_before = data.read_bytes(), fs.registry_path.read_bytes()

    def broken_write_table(table, where, **kwargs):
        where.write(b"PAR1 half a file")
        raise OSError("disk full")

    monkeypatch.setattr(io.pq, "write_table", broken_write_table)
    with pytest.raises(OSError, match="disk full"):
        fs.write(view, stats_frame([(1, 0, 0, 7.0, 7), (2, 0, 0, 8.0, 8)]))
    with pytest.raises(OSError, match="disk full"):
        fs.write(stats_view(ttl=timedelta(days=1)), stats_frame([(1, 0, 0, 7.0, 7)]))
    assert data.read_bytes() == data_before
    assert fs.registry_path.read_bytes() == reg_before
    assert _tmp_files(fs.root) == []
    assert fs.read(view.name)["n_orders"].tolist() == [1]
    assert fs.list_versions(view.name) == [view.version]


def test_failed_registry_write_leaves_registry_and_removes_new_version(fs, monkeypatch):
    v1, v2 = stats_view(), stats_view(ttl=timedelta(days=1))
    fs.write(v1, stats_frame([(1, 0, 0, 1.0, 1)]))
    reg_before = fs.registry_path.read_bytes()
    real_write_json = io.write_json

    def broken_write_json(obj, path):
        with io.atomic_write(path, "w") as fh:
            fh.write('{"format": 1, "views": {')
            raise OSError("disk full")

    monkeypatch.setattr(io, "write_json", broken_write_json)
    with pytest.raises(OSError, match="disk full"):
        fs.write(v2, stats_frame([(1, 0, 0, 2.0, 2)]))
    monkeypatch.setattr(io, "write_json", real_write_json)
    assert fs.registry_path.read_bytes() == reg_before
    assert not fs.data_path(v2.name, v2.version).exists()
    assert _tmp_files(fs.root) == []
    assert fs.current_version(v1.name) == v1.version
    assert fs.read(v1.name)["n_orders"].tolist() == [1]


# point-in-time retrieval: hand examples -----------------------------------------------------


@pytest.fixture
def pit(fs) -> FeatureStore:
    """ttl 8h; customer 1: rows at 0h (created 0h), 10h (created 10h), 24h (created 30h: late);
    customer 2: one row at 5h."""
    fs.write(
        stats_view(ttl=timedelta(hours=8)),
        stats_frame(
            [
                (1, 0, 0, 100.0, 0),
                (1, 10, 10, 110.0, 10),
                (1, 24, 30, 120.0, 20),
                (2, 5, 5, 205.0, 5),
            ]
        ),
    )
    return fs


def _get(fs, rows, **kwargs):
    out = fs.get_historical_features(spine_frame(rows), ["customer_stats:n_orders"], **kwargs)
    return out["n_orders"].tolist()


def test_pit_exact_match_and_strictly_later_rows(pit):
    na = pd.NA
    assert _get(pit, [(1, 10)]) == [10]  # event == t is used
    assert _get(pit, [(1, 9.999)]) == [na]  # the 0h row is older than the ttl; 10h is later
    assert _get(pit, [(1, 7)]) == [0]  # the 10h row is strictly later: not used
    assert _get(pit, [(1, -1)]) == [na]  # nothing yet


def test_pit_ttl(pit):
    na = pd.NA
    assert _get(pit, [(1, 8)]) == [0]  # 0h row is exactly ttl old: still valid
    assert _get(pit, [(1, 8.5)]) == [na]  # 8.5h old: expired
    assert _get(pit, [(2, 13)]) == [5]
    assert _get(pit, [(2, 13.5)]) == [na]


def test_pit_created_cutoff(pit):
    na = pd.NA
    # At 25h the 24h row exists in event time but was only created at 30h.
    assert _get(pit, [(1, 25)]) == [na]  # default: 10h row is the newest available, 15h > ttl
    assert _get(pit, [(1, 17)], created_cutoff=True) == [10]
    assert _get(pit, [(1, 25)], created_cutoff=False) == [20]  # Feast: the late row is used
    assert _get(pit, [(1, 30)]) == [20]  # created == t is available
    assert _get(pit, [(1, 21)], created_cutoff=True) == [na]


def test_pit_same_event_time_later_created_wins(fs):
    fs.write(stats_view(), stats_frame([(1, 5, 6, 1.0, 1), (1, 5, 8, 2.0, 2), (1, 5, 7, 3.0, 3)]))
    assert _get(fs, [(1, 9), (1, 7.5), (1, 6), (1, 5.5)]) == [2, 3, 1, pd.NA]
    assert _get(fs, [(1, 9), (1, 5)], created_cutoff=False) == [2, 2]


def test_pit_missing_entity_order_index_and_duplicates(pit):
    spine = spine_frame(
        [(2, 6), (9, 6), (1, 12), (1, 12), (1, None), (2, 6)],
        label=list("abcdef"),
    )
    spine.index = [50, 40, 30, 30, 20, 10]
    out = pit.get_historical_features(spine, ["customer_stats"])
    pd.testing.assert_frame_equal(out[spine.columns], spine)  # spine unchanged, same order/index
    assert out.columns.tolist() == ["customer_id", "event_timestamp", "label", "recency_days", "n_orders"]
    assert out["n_orders"].tolist() == [5, pd.NA, 10, 10, pd.NA, 5]
    assert str(out["n_orders"].dtype) == "Int64"
    assert np.allclose(out["recency_days"].to_numpy(), [205, np.nan, 110, 110, np.nan, 205], equal_nan=True)


def test_pit_empty_spine_and_empty_view(pit, fs):
    out = pit.get_historical_features(spine_frame([]), ["customer_stats:n_orders"])
    assert len(out) == 0 and "n_orders" in out.columns
    empty_view = stats_view(name="empty")
    fs.write(empty_view, stats_frame([]))
    out = fs.get_historical_features(spine_frame([(1, 3)]), ["empty"])
    assert out["n_orders"].isna().all()


def test_pit_name_collisions_and_several_views(pit, fs):
    other = stats_view(name="other_stats", fields=(Field("n_orders", "int64"), Field("label", "string")))
    fs.write(
        other,
        pd.DataFrame(
            {
                "customer_id": [1],
                "event_timestamp": [ts(0)],
                "created_timestamp": [ts(0)],
                "n_orders": [77],
                "label": ["x"],
            }
        ),
    )
    spine = spine_frame([(1, 12)], label=["spine"])
    out = fs.get_historical_features(spine, ["customer_stats:n_orders", "other_stats", "customer_stats:recency_days"])
    assert out.columns.tolist() == [
        "customer_id",
        "event_timestamp",
        "label",
        "customer_stats__n_orders",
        "recency_days",
        "other_stats__n_orders",
        "other_stats__label",
    ]
    assert out.iloc[0, 3:].tolist() == [10, 110.0, 77, "x"]
    with pytest.raises(ValueError, match="selected twice"):
        fs.get_historical_features(spine, ["customer_stats", "customer_stats:n_orders"])


def test_pit_spine_errors(pit):
    with pytest.raises(SchemaMismatchError, match="no timestamp column 'ts'"):
        pit.get_historical_features(spine_frame([(1, 0)]), ["customer_stats"], spine_timestamp="ts")
    with pytest.raises(
        SchemaMismatchError, match=r"feature view 'customer_stats': spine has no join key column 'customer_id'"
    ):
        pit.get_historical_features(spine_frame([(1, 0)]).rename(columns={"customer_id": "c"}), ["customer_stats"])
    bad = spine_frame([(1, 0)]).assign(customer_id=["1"])
    with pytest.raises(SchemaMismatchError, match=r"join key 'customer_id': expected dtype int64, found string"):
        pit.get_historical_features(bad, ["customer_stats"])
    zoned = spine_frame([(1, 0)]).assign(event_timestamp=lambda d: d["event_timestamp"].dt.tz_localize("UTC"))
    with pytest.raises(SchemaMismatchError, match="both must be zoned or both naive"):
        pit.get_historical_features(zoned, ["customer_stats"])


def test_pit_time_zones_compare_instants(fs):
    view = stats_view(name="zoned")
    df = stats_frame([(1, 0, 0, 1.0, 1), (1, 10, 10, 2.0, 2)])
    df["event_timestamp"] = df["event_timestamp"].dt.tz_localize("UTC")
    df["created_timestamp"] = df["created_timestamp"].dt.tz_localize("UTC")
    fs.write(view, df)
    # 11:00 in Berlin (UTC+1 in March before DST) is 10:00 UTC: the 10h row is used.
    spine = pd.DataFrame(
        {
            "customer_id": [1, 1],
            "event_timestamp": pd.to_datetime(["2024-03-01 11:00", "2024-03-01 10:59"]).tz_localize("Europe/Berlin"),
        }
    )
    assert fs.get_historical_features(spine, ["zoned:n_orders"])["n_orders"].tolist() == [2, 1]


# point-in-time retrieval: property test against a brute-force reference -------------------


def reference_pit(rows, spine_rows, ttl_h, cutoff):
    """rows: (k1, k2, e, c, value); spine_rows: (k1, k2, t|None). Pure Python."""
    out = []
    for k1, k2, t in spine_rows:
        best = None
        if t is not None:
            for r in rows:
                if (r[0], r[1]) != (k1, k2) or r[2] > t:
                    continue
                if cutoff and r[3] > t:
                    continue
                if ttl_h is not None and r[2] < t - ttl_h:
                    continue
                if best is None or (r[2], r[3]) > (best[2], best[3]):
                    best = r
        out.append(None if best is None else best[4])
    return out


_k1 = st.sampled_from(["a", "b", "c"])
_k2 = st.integers(0, 1)
_feature_rows = st.lists(
    st.tuples(_k1, _k2, st.integers(0, 24), st.integers(0, 36)),
    max_size=40,
    unique_by=lambda r: r[:4],
)
_spine_rows = st.lists(
    st.tuples(st.sampled_from(["a", "b", "c", "zz"]), _k2, st.one_of(st.none(), st.integers(-2, 40))),
    max_size=30,
)


@pytest.mark.slow
@pytest.mark.parametrize("fast_path", [True, False], ids=["fast-path", "general-path"])
@settings(max_examples=200, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rows=_feature_rows,
    spine_rows=_spine_rows,
    ttl_h=st.one_of(st.none(), st.integers(1, 12)),
    cutoff=st.booleans(),
    created=st.sampled_from(["independent", "event_plus_lag", "before_event"]),
    lag=st.integers(0, 6),
    half_hours=st.booleans(),
)
def test_pit_matches_brute_force_reference(fast_path, rows, spine_rows, ttl_h, cutoff, created, lag, half_hours):
    # created: "independent" draws created times freely (availability order differs from event
    # order); "event_plus_lag" and "before_event" keep availability in event order, which the
    # fast path handles. half_hours puts spine times between the feature rows' times too.
    if created == "event_plus_lag":
        rows = [(k1, k2, e, e + lag) for k1, k2, e, _ in rows]
    elif created == "before_event":
        rows = [(k1, k2, e, e - c % 5) for k1, k2, e, c in rows]
    rows = list({r: None for r in rows})  # (keys, event, created) unique, first-seen order
    scale = 0.5 if half_hours else 1.0
    rows = [(k1, k2, e, c, float(i)) for i, (k1, k2, e, c) in enumerate(rows)]
    spine_rows = [(k1, k2, None if t is None else t * scale) for k1, k2, t in spine_rows]
    view = FeatureView(
        "pit",
        (Entity("thing", ("k1", "k2")),),
        (Field("value", "float64"), Field("value_int", "int64")),
        ttl=None if ttl_h is None else timedelta(hours=ttl_h),
    )
    feats = pd.DataFrame(
        {
            "k1": pd.Series([r[0] for r in rows], dtype="str"),
            "k2": np.array([r[1] for r in rows], dtype="int64"),
            "event_timestamp": pd.to_datetime([ts(r[2]) for r in rows]).as_unit("ns"),
            "created_timestamp": pd.to_datetime([ts(r[3]) for r in rows]).as_unit("ns"),
            "value": np.array([r[4] for r in rows], dtype="float64"),
            "value_int": np.array([int(r[4]) for r in rows], dtype="int64"),
        }
    )
    spine = pd.DataFrame(
        {
            "k1": pd.Series([r[0] for r in spine_rows], dtype="str"),
            "k2": np.array([r[1] for r in spine_rows], dtype="int64"),
            "event_timestamp": pd.to_datetime([ts(r[2]) for r in spine_rows]).as_unit("ns"),
        }
    )
    old = store._FAST_PATH
    store._FAST_PATH = fast_path
    try:
        with tempfile.TemporaryDirectory() as tmp:
            fs = FeatureStore(tmp)
            fs.write(view, feats)
            got = fs.get_historical_features(spine, ["pit"], created_cutoff=cutoff)
    finally:
        store._FAST_PATH = old
    want = reference_pit(rows, spine_rows, ttl_h, cutoff)
    assert [None if pd.isna(v) else v for v in got["value"]] == want
    assert [None if v is pd.NA else float(v) for v in got["value_int"]] == want
    pd.testing.assert_frame_equal(got[spine.columns], spine)
