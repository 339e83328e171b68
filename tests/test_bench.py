"""Smoke test of the benchmark suite at tiny size (figures are reported by `make bench`, never
asserted: timings on shared machines are noisy)."""

from __future__ import annotations

from stoffwechsel import bench


def test_benchmark_pieces_run_and_render_at_tiny_size():
    figures = {
        "cores": 2,
        "startup": {"kernel_start_seconds": bench.summary([1.0]), "imports_seconds": {"pandas": bench.summary([0.5, 0.7])}},
        "retrieval": bench.retrieval(sizes=(10**4,), repeats=1),
        "monitoring": bench.monitoring_throughput(factors=(1,), repeats=1),
        "embeddings": {"stage_texts_per_s": 1.0, "bare_texts_per_s": 1.0, "stage_over_bare": 1.0, "rerun_one_changed": {"median_s": 0.1}},
    }
    run = figures["retrieval"]["10000"]["runs"][0]
    assert run["store_cutoff"]["matched"] > 0  # bench_retrieval checked the store against merge_asof
    assert figures["monitoring"]["3000"]["events_per_second"] > 0
    text = bench.performance_markdown(figures)
    assert "| 10,000 |" in text and "| 3,000 |" in text
