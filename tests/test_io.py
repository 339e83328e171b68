"""Deterministic, atomic writers (stoffwechsel.data.io)."""

from __future__ import annotations

import hashlib
import json
import os
import re

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from stoffwechsel.data import io


def _frame(n: int = 50, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "id": np.arange(n),
            "name": [f"item-{i}" for i in range(n)],
            "x": rng.standard_normal(n),
            "flag": rng.integers(0, 2, n).astype(bool),
            "ts": pd.date_range("2024-01-01", periods=n, freq="h", tz="Europe/Berlin"),
            "vec": [rng.standard_normal(4).astype("float32") for _ in range(n)],
        }
    )


def _leftovers(folder) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


# atomic_write --------------------------------------------------------------------------------


def test_atomic_write_replaces_on_success(tmp_path):
    target = tmp_path / "sub" / "f.txt"
    with io.atomic_write(target, "w") as fh:
        fh.write("one\n")
    with io.atomic_write(target, "w") as fh:
        fh.write("two\n")
    assert target.read_bytes() == b"two\n"
    assert _leftovers(target.parent) == []


def test_atomic_write_failure_keeps_previous_file(tmp_path):
    target = tmp_path / "f.bin"
    target.write_bytes(b"previous")
    with pytest.raises(RuntimeError, match="boom"):
        with io.atomic_write(target) as fh:
            fh.write(b"half of the new")
            raise RuntimeError("boom")
    assert target.read_bytes() == b"previous"
    assert _leftovers(tmp_path) == []


def test_atomic_write_failure_without_previous_file_leaves_nothing(tmp_path):
    target = tmp_path / "f.bin"
    with pytest.raises(RuntimeError):
        with io.atomic_write(target) as fh:
            fh.write(b"x")
            raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def test_atomic_write_uses_umask_permissions(tmp_path):
    old = os.umask(0o022)
    try:
        with io.atomic_write(tmp_path / "f", "w") as fh:
            fh.write("x")
    finally:
        os.umask(old)
    assert (tmp_path / "f").stat().st_mode & 0o777 == 0o644


def test_atomic_write_text_mode_does_not_translate_newlines(tmp_path):
    with io.atomic_write(tmp_path / "f", "w") as fh:
        fh.write("a\nb\r\n")
    assert (tmp_path / "f").read_bytes() == b"a\nb\r\n"


# parquet -------------------------------------------------------------------------------------


def test_write_parquet_is_deterministic_under_row_shuffles(tmp_path):
    df = _frame()
    io.write_parquet(df, tmp_path / "a.parquet", sort_by=["id"])
    shuffled = df.sample(frac=1.0, random_state=7).set_index("name", drop=False)
    io.write_parquet(shuffled, tmp_path / "b.parquet", sort_by=["id"])
    assert (tmp_path / "a.parquet").read_bytes() == (tmp_path / "b.parquet").read_bytes()
    back = pd.read_parquet(tmp_path / "b.parquet")
    pd.testing.assert_frame_equal(back.drop(columns="vec"), df.drop(columns="vec"), check_dtype=False)
    assert all(np.array_equal(a, b) for a, b in zip(back["vec"], df["vec"]))


def test_write_parquet_multi_column_sort(tmp_path):
    df = pd.DataFrame({"a": [2, 1, 2, 1], "b": ["y", "z", "x", "a"], "v": [1.0, 2.0, 3.0, 4.0]})
    io.write_parquet(df, tmp_path / "a.parquet", sort_by=["a", "b"])
    io.write_parquet(df.iloc[::-1], tmp_path / "b.parquet", sort_by=["a", "b"])
    assert (tmp_path / "a.parquet").read_bytes() == (tmp_path / "b.parquet").read_bytes()
    assert pd.read_parquet(tmp_path / "a.parquet")["v"].tolist() == [4.0, 2.0, 3.0, 1.0]


def test_write_parquet_stores_no_pandas_metadata_and_no_time(tmp_path):
    path = io.write_parquet(_frame(), tmp_path / "a.parquet", sort_by=["id"])
    meta = pq.ParquetFile(path).metadata
    assert set(meta.metadata or {}) <= {b"ARROW:schema"}  # no b"pandas"
    assert meta.created_by == f"parquet-cpp-arrow version {pa.__version__}"
    raw = path.read_bytes()
    # The writer's version appears once, in created_by; nothing looks like a date or time.
    assert raw.count(pa.__version__.encode()) == 1
    assert not re.search(rb"20\d\d-\d\d-\d\d", raw)


def test_write_parquet_failure_mid_write_keeps_previous_file(tmp_path, monkeypatch):
    path = tmp_path / "a.parquet"
    io.write_parquet(_frame(seed=1), path, sort_by=["id"])
    before = path.read_bytes()

    def broken_write_table(table, where, **kwargs):
        where.write(b"PAR1 partial garbage")
        raise OSError("disk full")

    monkeypatch.setattr(io.pq, "write_table", broken_write_table)
    with pytest.raises(OSError, match="disk full"):
        io.write_parquet(_frame(seed=2), path, sort_by=["id"])
    assert path.read_bytes() == before
    assert _leftovers(tmp_path) == []


def test_sort_frame_names_missing_column():
    with pytest.raises(KeyError, match="'nope'"):
        io.sort_frame(pd.DataFrame({"a": [1]}), ["nope"])


# csv and json -------------------------------------------------------------------------------


def test_write_csv_is_deterministic(tmp_path):
    df = pd.DataFrame({"id": [3, 1, 2], "x": [0.1 + 0.2, 1 / 3, np.nan], "s": ["c", None, "b"]}, index=[9, 8, 7])
    io.write_csv(df, tmp_path / "a.csv", sort_by=["id"])
    io.write_csv(df.iloc[[2, 0, 1]], tmp_path / "b.csv", sort_by=["id"])
    a = (tmp_path / "a.csv").read_bytes()
    assert a == (tmp_path / "b.csv").read_bytes()
    assert a == b"id,x,s\n1,0.33333333,\n2,,b\n3,0.3,c\n"


def test_floats_are_written_at_the_precision_they_mean(tmp_path):
    """CSV and JSON carry SIGNIFICANT_DIGITS digits: two results that differ in the last bits of
    a float64, as another machine's summation order makes them, are the same bytes."""
    x = 0.1234567890123
    other_machine = np.nextafter(np.nextafter(x, 1.0), 1.0)  # two float64 steps away
    assert other_machine != x
    for i, v in enumerate((x, other_machine)):
        io.write_csv(pd.DataFrame({"v": [v]}), tmp_path / f"{i}.csv", sort_by=[])
        io.write_json({"v": v, "nested": [{"w": v}]}, tmp_path / f"{i}.json")
    assert (tmp_path / "0.csv").read_bytes() == (tmp_path / "1.csv").read_bytes() == b"v\n0.12345679\n"
    assert (tmp_path / "0.json").read_bytes() == (tmp_path / "1.json").read_bytes()
    assert json.loads((tmp_path / "0.json").read_text()) == {"v": 0.12345679, "nested": [{"w": 0.12345679}]}


def test_write_json_is_sorted_indented_with_newline(tmp_path):
    path = io.write_json({"b": [1, 2], "a": {"z": "ü", "y": None}}, tmp_path / "x.json")
    text = path.read_text(encoding="utf-8")
    assert text == '{\n  "a": {\n    "y": null,\n    "z": "ü"\n  },\n  "b": [\n    1,\n    2\n  ]\n}\n'
    assert json.loads(text) == {"a": {"y": None, "z": "ü"}, "b": [1, 2]}


def test_write_json_refuses_nan_and_keeps_previous(tmp_path):
    path = io.write_json({"a": 1}, tmp_path / "x.json")
    with pytest.raises(ValueError):
        io.write_json({"a": float("nan")}, path)
    assert json.loads(path.read_text()) == {"a": 1}
    assert _leftovers(tmp_path) == []


# md5 ----------------------------------------------------------------------------------------


def test_md5_file_matches_hashlib_and_dvc(tmp_path):
    path = tmp_path / "f.bin"
    data = os.urandom(3 * (1 << 20) + 17) + b"line\r\nline\n"
    path.write_bytes(data)
    assert io.md5_file(path) == hashlib.md5(data).hexdigest()
    dvc_hash = pytest.importorskip("dvc_data.hashfile.hash")
    assert io.md5_file(path) == dvc_hash.file_md5(str(path))
    text = tmp_path / "t.csv"
    text.write_bytes(b"a,b\r\n1,2\r\n")
    assert io.md5_file(text) == dvc_hash.file_md5(str(text))
