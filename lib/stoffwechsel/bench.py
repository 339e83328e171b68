"""Benchmarks (``make bench``): medians of several runs with min-max, ratios against a baseline
measured in the same run, and the machine's core count. Not part of the test suite: timings on
shared machines are noisy, so figures are reported, never asserted.

Figures: the full pipeline from a clean clone at scale 1 per stage (wall time, peak memory,
kernel start and import overhead), a no-op ``dvc repro``, point-in-time retrieval against pandas
``merge_asof``, embedding throughput against bare ``SentenceTransformer.encode``, and monitoring
aggregation throughput.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import yaml

from stoffwechsel import config

_MEASURE = """
import resource, subprocess, sys, time
t0 = time.perf_counter()
rc = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode
print(time.perf_counter() - t0, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, rc)
"""


def measure(cmd: list[str], cwd: Path) -> dict:
    """Wall time and peak memory (largest child process) of one command."""
    out = subprocess.run([sys.executable, "-c", _MEASURE, *cmd], cwd=cwd, capture_output=True, text=True, check=True).stdout.split()
    if int(out[2]) != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed in {cwd}")
    return {"seconds": round(float(out[0]), 3), "peak_mb": round(int(out[1]) / 1024, 1)}


def summary(values: list[float]) -> dict:
    return {"median": round(statistics.median(values), 4), "min": round(min(values), 4), "max": round(max(values), 4), "runs": len(values)}


def _clone(dest: Path) -> Path:
    subprocess.run(["git", "clone", "-q", str(config.ROOT), str(dest)], check=True)
    return dest


def pipeline_per_stage(work: Path) -> dict:
    """`dvc repro --force` stage by stage in a clean clone (data outputs absent)."""
    clone = _clone(work / "pipeline")
    shutil.rmtree(clone / "reports" / "monitoring", ignore_errors=True)
    stages = list(yaml.safe_load((clone / "dvc.yaml").read_text())["stages"])
    per_stage = {s: measure(["dvc", "repro", "--force", "--single-item", s], clone) for s in stages}
    total = sum(v["seconds"] for v in per_stage.values())
    noop = [measure(["dvc", "repro"], clone)["seconds"] for _ in range(5)]
    return {"stages": per_stage, "total_seconds": round(total, 2),
            "peak_mb": max(v["peak_mb"] for v in per_stage.values()), "noop_repro_seconds": summary(noop)}


def startup_overhead(repeats: int = 3) -> dict:
    """Kernel start (an empty notebook through Papermill) and library imports, per stage."""
    import nbformat
    from nbformat.v4 import new_code_cell, new_notebook

    with tempfile.TemporaryDirectory() as tmp:
        nb = new_notebook(cells=[new_code_cell("1")])
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        src = Path(tmp) / "empty.ipynb"
        nbformat.write(nb, src)
        kernel = [measure([sys.executable, "-c", f"import papermill; papermill.execute_notebook(r'{src}', r'{tmp}/out.ipynb', progress_bar=False)"],
                          Path(tmp))["seconds"] for _ in range(repeats)]
        papermill_import = [measure([sys.executable, "-c", "import papermill"], Path(tmp))["seconds"] for _ in range(repeats)]
    imports = {
        "pandas+duckdb+pyarrow": "import pandas, duckdb, pyarrow",
        "stoffwechsel features": "import stoffwechsel.features, stoffwechsel.store",
        "sentence-transformers": "import sentence_transformers",
        "mlflow": "import mlflow, mlflow.sklearn",
    }
    return {"kernel_start_seconds": summary([k - p for k, p in zip(kernel, papermill_import)]),
            "imports_seconds": {name: summary([measure([sys.executable, "-c", code], config.ROOT)["seconds"] for _ in range(repeats)])
                                for name, code in imports.items()}}


def retrieval(sizes=(10**5, 10**6, 10**7), repeats: int = 3) -> dict:
    from stoffwechsel.store import bench_retrieval

    out = {}
    for n in sizes:
        runs = [bench_retrieval(n, max(n // 10, 1), n, repeat=1) for _ in range(repeats if n < 10**7 else 1)]
        out[str(n)] = {"runs": runs}
    return out


def monitoring_throughput(factors=(1, 100, 1000), repeats: int = 3) -> dict:
    """Production events per second of ``run_monitoring`` on the materials' recommendations
    repeated ``factor`` times (3 x 10^3, 3 x 10^5, 3 x 10^6 rows)."""
    import pandas as pd

    from stoffwechsel.contract import load_materials
    from stoffwechsel.monitoring import run_monitoring

    m = load_materials(config.MATERIALS_DIR)
    params = config.load_params("monitor")
    out = {}
    for f in factors:
        recs = pd.concat([m.recommendations.assign(rec_id=m.recommendations["rec_id"] + f"-{i}") for i in range(f)], ignore_index=True)
        data = SimpleNamespace(products=m.products, customers=m.customers, transactions=m.transactions, recommendations=recs)
        times = []
        for _ in range(repeats if f < 1000 else 1):
            t0 = time.perf_counter()
            run_monitoring(data, params)
            times.append(time.perf_counter() - t0)
        out[str(len(recs))] = {"seconds": summary(times), "events_per_second": round(len(recs) / statistics.median(times))}
    return out


def run_all(out: Path, include_pipeline: bool = True) -> dict:
    from stoffwechsel import embeddings
    from stoffwechsel.contract import load_materials

    figures = {"cores": os.cpu_count()}
    with tempfile.TemporaryDirectory() as tmp:
        if include_pipeline:
            figures["pipeline_scale_1"] = pipeline_per_stage(Path(tmp))
        figures["startup"] = startup_overhead()
        figures["retrieval"] = retrieval()
        figures["monitoring"] = monitoring_throughput()
        params = config.load_params("embeddings")
        products = load_materials(config.MATERIALS_DIR).products
        figures["embeddings"] = embeddings.benchmark(products["description"], embeddings.ModelSpec.from_params(params), Path(tmp),
                                                     3, params["batch_size"])
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(figures, indent=1, sort_keys=True) + "\n")
    return figures


def performance_markdown(f: dict) -> str:
    """The table for docs/performance.md, from the figures of one run."""
    lines = ["# Performance", "", f"Measured by `make bench` on this machine ({f['cores']} cores, shared with other jobs, so",
             "absolute times are noisy; medians of several runs with min-max; ratios are taken within the same run).", ""]
    if "pipeline_scale_1" in f:
        p = f["pipeline_scale_1"]
        k = f["startup"]["kernel_start_seconds"]["median"]
        lines += ["## Pipeline at scale 1 (`dvc repro --force`, stage by stage, clean clone)", "",
                  "| stage | seconds | peak memory (MB) |", "|---|---|---|"]
        lines += [f"| {s} | {v['seconds']} | {v['peak_mb']} |" for s, v in p["stages"].items()]
        n_nb = sum(1 for s in p["stages"] if s != "site")
        lines += [f"| **total** | **{p['total_seconds']}** | **{p['peak_mb']}** |", "",
                  f"Goal: under 60 s. Kernel start per notebook: {k} s (median), {n_nb} stage notebooks, so about "
                  f"{round(100 * k * n_nb / p['total_seconds'])}% of the total is spent starting kernels.",
                  f"No-op `dvc repro`: median {p['noop_repro_seconds']['median']} s (min {p['noop_repro_seconds']['min']}, max {p['noop_repro_seconds']['max']}); goal under 2 s.", ""]
    imp = f["startup"]["imports_seconds"]
    lines += ["## Imports (fresh interpreter, median seconds)", "", "| import | seconds |", "|---|---|"]
    lines += [f"| {name} | {v['median']} |" for name, v in imp.items()]
    lines += ["", "## Point-in-time retrieval vs pandas `merge_asof` (same data, answers checked equal)", "",
              "| spine rows | store, M rows/s (median) | merge_asof, M rows/s | ratio |", "|---|---|---|---|"]
    for n, r in f["retrieval"].items():
        runs = r["runs"]
        store = statistics.median(x["store_cutoff"]["store_rows_per_s"] for x in runs) / 1e6 if "store_cutoff" in runs[0] else float("nan")
        ref = statistics.median(x["store_cutoff"]["merge_asof_rows_per_s"] for x in runs) / 1e6 if "store_cutoff" in runs[0] else float("nan")
        lines.append(f"| {int(n):,} | {store:.2f} | {ref:.2f} | {store / ref:.2f} |")
    e = f["embeddings"]
    lines += ["", "## Embeddings", "", f"Stage path {e['stage_texts_per_s']} texts/s vs bare encode {e['bare_texts_per_s']} texts/s "
              f"(stage/bare time ratio {e['stage_over_bare']}; goal: overhead under 10%, i.e. ratio <= 1.1); a re-run with one "
              f"changed description: {e['rerun_one_changed']['median_s']} s.", "",
              "## Monitoring aggregation (`run_monitoring`)", "", "| production events | seconds (median) | events/s |", "|---|---|---|"]
    lines += [f"| {int(n):,} | {v['seconds']['median']} | {v['events_per_second']:,} |" for n, v in f["monitoring"].items()]
    lines += ["", NOT_MEASURED, BEYOND_ONE_MACHINE]
    return "\n".join(lines)


NOT_MEASURED = """## Not measured yet

The whole pipeline at `stoffwechsel simulate --scale 10` and `--scale 100` (wall time, peak memory
and growth exponent per stage) is not part of the suite yet. At the embedding throughput measured
here (about 60-70 descriptions per second on 2 cores), the 80,000 descriptions of scale 100 alone
take about 20 minutes on a cold cache, so the scale-100 goal (under 15 minutes) would be missed
on the first run; re-runs embed only changed descriptions.
"""

BEYOND_ONE_MACHINE = """## Beyond one machine (on paper)

| stage | where this machine runs out | on a retailer's distributed stack | what changes, what stays |
|---|---|---|---|
| contract, resolve | pandas in memory: roughly 10^8 transaction rows | the same checks as SQL or Spark (pandera has a PySpark backend) | checks and reasons stay; the loader changes |
| features | DuckDB aggregation is streaming and multi-threaded; the weekly rows grow with events | the window SQL of `_weekly_rolling` runs as is on Spark SQL or a warehouse; Parquet to object storage | feature definitions, fingerprints and the registry stay; the engine and the store path change |
| point-in-time retrieval | DuckDB ASOF join, about 2.5 M spine rows/s here | Spark or warehouse ASOF/range joins, or an offline store such as Feast's | the retrieval rule (event <= t, created <= t) stays |
| embeddings | CPU encode, about 60-70 texts/s | batch encode on GPU workers (thousands per second), same model hash | the content-addressed cache and the train-only fitting stay |
| training, evaluation | one process | the same scikit-learn model on a larger sample, or a distributed ranker | the paired bootstrap and the claim rule stay |
| monitoring | vectorised pandas; 3 million events in about 20 s here | the same aggregates in SQL on the event stream, daily | the delay curves, intervals and false-alarm control stay |
"""
