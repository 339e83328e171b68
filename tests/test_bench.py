"""Smoke test of the benchmark suite at tiny size (figures are reported by `make bench`, never
asserted: timings on shared machines are noisy)."""

from __future__ import annotations

from pathlib import Path

from stoffwechsel import bench


def _stage_run(scale, seconds, embedding_seconds=None):
    stages = {"features": {"seconds": seconds[0], "peak_mb": 300.0}, "train": {"seconds": seconds[1], "peak_mb": 900.0}}
    if embedding_seconds:
        stages["embeddings"] = {"seconds": embedding_seconds, "peak_mb": 500.0}
        seconds = (*seconds, embedding_seconds)
    return {
        "scale": scale,
        "rows": {"transactions": int(15000 * scale), "products": int(800 * scale)},
        "stages": stages,
        "total_seconds": sum(seconds),
        "peak_mb": 900.0,
        "site_index": {"mb": 1.2, "bytes": 1, "assets": 3},
        "notebook_seconds": {"features": 1.0, "train": 2.0},
    }


def test_growth_exponent_is_the_log_log_slope():
    runs = [_stage_run(1, (2.0, 10.0)), _stage_run(10, (20.0, 10.0)), _stage_run(100, (400.0, 20.0))]
    g = bench.growth_exponents(runs)
    assert g["1->10"]["features"] == 1.0 and g["1->10"]["train"] == 0.0
    assert g["10->100"]["features"] == 1.3 and g["10->100"]["train"] == 0.3


def test_page_weight_counts_the_page_and_the_local_files_it_loads(tmp_path: Path):
    (tmp_path / "img").mkdir()
    (tmp_path / "img" / "a.png").write_bytes(b"x" * 1000)
    (tmp_path / "style.css").write_bytes(b"y" * 500)
    (tmp_path / "other.html").write_text("not loaded by the page")
    html = '<link href="style.css"><img src="img/a.png"><a href="other.html">x</a><img src="https://example.org/b.png">'
    (tmp_path / "index.html").write_text(html)
    w = bench.page_weight(tmp_path)
    assert w["bytes"] == len(html) + 1500 and w["assets"] == 2


def _figures(runs):
    return {
        "cores": 2,
        "full_repro_scale_1": {
            "cold_cache": {"seconds": 70.0, "peak_mb": 1000.0},
            "filled_cache": {"seconds": bench.summary([50.0]), "peak_mb": 900.0},
            "noop_repro_seconds": bench.summary([1.0, 1.2]),
        },
        "scales": runs,
        "growth": bench.growth_exponents(runs),
        "startup": {
            "kernel_start_seconds": bench.summary([1.0]),
            "runner_import_seconds": bench.summary([0.8]),
            "dvc_start_seconds": bench.summary([0.7]),
            "imports_seconds": {"pandas": bench.summary([0.5, 0.7])},
        },
        "retrieval": bench.retrieval(sizes=(10**4,), repeats=1),
        "monitoring": bench.monitoring_throughput(factors=(1,), repeats=1),
        "embeddings": {
            "texts": 800,
            "repeats": 3,
            "plain_texts_per_s": 2.0,
            "exact_texts_per_s": 1.0,
            "stage_texts_per_s": 1.0,
            "exact_over_plain": 2.0,
            "stage_over_exact": 1.0,
            "rerun_changed": {"median_s": 0.1},
            "rerun_changed_texts": 8,
            "rerun_over_full": 0.02,
        },
    }


def test_benchmark_pieces_run_and_render_at_tiny_size():
    figures = _figures([_stage_run(1, (2.0, 10.0)), _stage_run(10, (20.0, 30.0))])
    run = figures["retrieval"]["10000"]["runs"][0]
    assert run["store_cutoff"]["matched"] > 0  # bench_retrieval checked the store against merge_asof
    assert figures["monitoring"]["3000"]["events_per_second"] > 0
    text = bench.performance_markdown(figures)
    assert "| 10,000 |" in text and "| 3,000 |" in text
    # goals are judged from the figures: 70 s cold misses 60 s, 50 s with the cache meets it
    assert (
        "| full `dvc repro --force`, scale 1, clean clone, empty embedding cache | 70.0 s | under 60 s | **missed** |"
        in text
    )
    assert "| the same, embedding cache filled (every later run on the machine) | 50.0 s | under 60 s | met |" in text
    assert "| train | 10.0 | 900.0 | 30.0 | 900.0 | 0.48 |" in text
    assert "{" not in text  # every placeholder filled
    # stage wall time minus the notebooks' own durations: (2 - 1) + (10 - 2) of 12 s
    assert "9.0 s of the 2 notebook stages' 12.0 s (75%) pass outside the notebooks' cells" in text


def test_cli_renders_the_table_from_saved_figures(tmp_path: Path):
    import json

    from typer.testing import CliRunner

    from stoffwechsel.cli import app

    figures = _figures([_stage_run(1, (2.0, 10.0), 6.0), _stage_run(10, (20.0, 30.0), 60.0)])
    (tmp_path / "b.json").write_text(json.dumps(figures))
    res = CliRunner().invoke(
        app, ["bench", "--render-only", "--out", str(tmp_path / "b.json"), "--doc", str(tmp_path / "p.md")]
    )
    assert res.exit_code == 0, res.output
    assert (tmp_path / "p.md").read_text() == bench.performance_markdown(figures)
    assert (
        "the embedding stage's first encode of 8,000 new descriptions takes 1.0 of the 1.8 minutes; "
        "all other stages together take 0.8 minutes" in (tmp_path / "p.md").read_text()
    )
    missing = CliRunner().invoke(app, ["bench", "--render-only", "--out", str(tmp_path / "none.json")])
    assert missing.exit_code != 0 and "none.json" in missing.output
