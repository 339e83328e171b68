"""Benchmarks (``make bench``): medians of several runs with min-max, ratios against a baseline
measured in the same run, and the machine's core count. Not part of the test suite: timings on
shared machines are noisy, so figures are reported, never asserted.

Figures: the full ``dvc repro --force`` from a clean clone at scale 1 (cold and filled embedding
cache), the pipeline stage by stage at simulator scales 1, 10 and 100 (wall time, peak memory,
growth exponent, dashboard page weight), a no-op ``dvc repro``, kernel start and import overhead,
point-in-time retrieval against pandas ``merge_asof``, embedding throughput against bare
``SentenceTransformer.encode``, and monitoring aggregation throughput.

Why one module of over 600 lines: the measurements and the page that reports them
(docs/performance.md) must name the same figures; issue #27 re-runs and may split it.
"""

from __future__ import annotations

import json
import math
import os
import re
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

#: Goals of issue #9 on the 2-core machine.
GOALS = {
    "full_repro_scale_1_s": 60,
    "noop_repro_s": 2,
    "retrieval_rows_per_s_at_1e7": 1e6,
    "embedding_overhead": 0.20,  # the stage's path vs the bare exact encode (#27: within 1.2x)
    "exact_over_plain": 2.0,  # exact encode vs plain float32 encode (#22: aim 1.5x, show why where over 2x)
    "scale_100_total_s": 15 * 60,
    "scale_100_peak_mb": 8 * 1024,
    "site_page_mb": 5,
}
#: Growth exponents above this (log-log slope over a tenfold step) grow faster than n log n would
#: at these sizes (n log n over 10x at n ~ 10^5..10^7: slope 1.06-1.09).
NLOGN_SLOPE = 1.15


def measure(cmd: list[str], cwd: Path, env: dict | None = None) -> dict:
    """Wall time and peak memory (the largest process of the command's tree) of one command."""
    out = subprocess.run(
        [sys.executable, "-c", _MEASURE, *cmd], cwd=cwd, capture_output=True, text=True, check=True, env=env
    ).stdout.split()
    if int(out[2]) != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed in {cwd} (exit {out[2]}); run it there to see why")
    return {"seconds": round(float(out[0]), 3), "peak_mb": round(int(out[1]) / 1024, 1)}


def summary(values: list[float]) -> dict:
    return {
        "median": round(statistics.median(values), 4),
        "min": round(min(values), 4),
        "max": round(max(values), 4),
        "runs": len(values),
    }


def _clone(dest: Path) -> Path:
    subprocess.run(["git", "clone", "-q", str(config.ROOT), str(dest)], check=True)
    return dest


def _environment(cache: Path) -> dict:
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", STOFFWECHSEL_EMBEDDING_CACHE=str(cache))
    env.pop("STOFFWECHSEL_ROOT", None)  # each clone is its own project
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    return env


def page_weight(site: Path, page: str = "index.html") -> dict:
    """Bytes of a rendered page and the local files it loads (images, style sheets, scripts)."""
    html = (site / page).read_text(encoding="utf-8")
    refs = set(re.findall(r"""(?:src|href)=["']([^"'#?]+)""", html))
    assets = [
        site / r for r in refs if not re.match(r"^[a-z]+:", r) and not r.endswith(".html") and (site / r).is_file()
    ]
    size = (site / page).stat().st_size + sum(a.stat().st_size for a in assets)
    return {"bytes": size, "mb": round(size / 2**20, 3), "assets": len(assets)}


def _stage_names(clone: Path) -> list[str]:
    return list(yaml.safe_load((clone / "dvc.yaml").read_text())["stages"])


def pipeline_at_scale(work: Path, scale: float, seed: int = 42) -> dict:
    """The pipeline stage by stage (``dvc repro --force --single-item``) in a clean clone whose
    materials are ``stoffwechsel simulate --scale`` output, with an empty embedding cache."""
    clone = _clone(work / f"scale-{scale:g}")
    env = _environment(work / f"cache-scale-{scale:g}")
    out: dict = {"scale": scale}
    if scale != 1:  # the committed materials are the simulator's scale-1 output (tested)
        out["simulate"] = measure(
            ["stoffwechsel", "simulate", "--out", "materials", "--scale", str(scale), "--seed", str(seed)], clone, env
        )
    sizes = {
        name: sum(1 for _ in open(clone / "materials" / f"{name}.csv", encoding="utf-8")) - 1
        for name in ("transactions", "products", "customers", "production-recommendations-sample")
    }
    out["rows"] = sizes
    out["stages"] = {
        s: measure(["dvc", "repro", "--force", "--single-item", s], clone, env) for s in _stage_names(clone)
    }
    out["total_seconds"] = round(sum(v["seconds"] for v in out["stages"].values()), 2)
    out["peak_mb"] = max(v["peak_mb"] for v in out["stages"].values())
    out["site_index"] = page_weight(clone / "_site")
    durations = {}
    for nb in sorted((clone / "reports" / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        meta = json.loads(nb.read_text(encoding="utf-8"))["metadata"].get("papermill", {})
        durations[nb.stem.split("_", 1)[1]] = round(float(meta.get("duration") or 0), 2)
    out["notebook_seconds"] = durations  # time inside the kernel; the rest of a stage is start-up
    shutil.rmtree(clone)
    return out


def growth_exponents(runs: list[dict]) -> dict:
    """Per stage, the log-log slope of wall time between consecutive scales (1 = linear)."""
    runs = sorted(runs, key=lambda r: r["scale"])
    out = {}
    for a, b in zip(runs, runs[1:]):
        step = f"{a['scale']:g}->{b['scale']:g}"
        k = math.log(b["scale"] / a["scale"])
        out[step] = {
            s: round(math.log(b["stages"][s]["seconds"] / a["stages"][s]["seconds"]) / k, 2)
            for s in a["stages"]
            if s in b["stages"]
        }
        out[step]["total"] = round(math.log(b["total_seconds"] / a["total_seconds"]) / k, 2)
    return out


def full_repro(work: Path, repeats: int = 1) -> dict:
    """``dvc repro --force`` (one DVC process, as a user runs it) in a clean clone: first with an
    empty embedding cache, then again with the cache the first run filled; and no-op repros."""
    clone = _clone(work / "full")
    env = _environment(work / "cache-full")
    cold = measure(["dvc", "repro", "--force"], clone, env)
    warm = [measure(["dvc", "repro", "--force"], clone, env) for _ in range(repeats)]
    noop = [measure(["dvc", "repro"], clone, env)["seconds"] for _ in range(5)]
    shutil.rmtree(clone)
    return {
        "cold_cache": cold,
        "filled_cache": {"seconds": summary([w["seconds"] for w in warm]), "peak_mb": max(w["peak_mb"] for w in warm)},
        "noop_repro_seconds": summary(noop),
    }


def startup_overhead(repeats: int = 3) -> dict:
    """What every stage pays before its own work: the runner (CLI + Papermill import), a kernel
    start (an empty notebook through the runner's Papermill), and the libraries stages import."""
    import nbformat
    from nbformat.v4 import new_code_cell, new_notebook

    with tempfile.TemporaryDirectory() as tmp:
        nb = new_notebook(cells=[new_code_cell("1")])
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        src = Path(tmp) / "empty.ipynb"
        nbformat.write(nb, src)
        runner = "from stoffwechsel.notebooks import import_papermill; pm = import_papermill()"
        kernel = [
            measure(
                [
                    sys.executable,
                    "-c",
                    f"{runner}; pm.execute_notebook(r'{src}', r'{tmp}/out.ipynb', progress_bar=False)",
                ],
                Path(tmp),
            )["seconds"]
            for _ in range(repeats)
        ]
        runner_import = [measure([sys.executable, "-c", runner], Path(tmp))["seconds"] for _ in range(repeats)]
        dvc_start = [measure(["dvc", "version"], Path(tmp))["seconds"] for _ in range(repeats)]
    imports = {
        "pandas+duckdb+pyarrow": "import pandas, duckdb, pyarrow",
        "stoffwechsel features": "import stoffwechsel.features.tabular, stoffwechsel.features.store",
        "scikit-learn": "import sklearn.ensemble",
        "sentence-transformers": "import sentence_transformers",
        "mlflow": "import mlflow, mlflow.sklearn",
        "matplotlib": "import matplotlib.pyplot",
    }
    return {
        "runner_import_seconds": summary(runner_import),
        "kernel_start_seconds": summary([k - p for k, p in zip(kernel, runner_import)]),
        "dvc_start_seconds": summary(dvc_start),
        "imports_seconds": {
            name: summary([measure([sys.executable, "-c", code], config.ROOT)["seconds"] for _ in range(repeats)])
            for name, code in imports.items()
        },
    }


def retrieval(sizes=(10**5, 10**6, 10**7), repeats: int = 3) -> dict:
    from stoffwechsel.features.retrieval_bench import bench_retrieval

    out = {}
    for n in sizes:
        runs = [bench_retrieval(n, max(n // 10, 1), n, repeat=1) for _ in range(repeats)]
        out[str(n)] = {"runs": runs}
    return out


def monitoring_throughput(factors=(1, 100, 1000), repeats: int = 3) -> dict:
    """Production events per second of ``run_monitoring`` on the materials' recommendations
    repeated ``factor`` times (3 x 10^3, 3 x 10^5, 3 x 10^6 rows)."""
    import pandas as pd

    from stoffwechsel.data.contract import load_materials
    from stoffwechsel.monitoring.run import run_monitoring

    m = load_materials(config.MATERIALS_DIR)
    params = config.load_params("monitor")
    out = {}
    for f in factors:
        recs = pd.concat(
            [m.recommendations.assign(rec_id=m.recommendations["rec_id"] + f"-{i}") for i in range(f)],
            ignore_index=True,
        )
        data = SimpleNamespace(
            products=m.products, customers=m.customers, transactions=m.transactions, recommendations=recs
        )
        times = []
        for _ in range(repeats if f < 1000 else 1):
            t0 = time.perf_counter()
            run_monitoring(data, params)
            times.append(time.perf_counter() - t0)
        out[str(len(recs))] = {
            "seconds": summary(times),
            "events_per_second": round(len(recs) / statistics.median(times)),
        }
    return out


def run_all(out: Path, include_pipeline: bool = True, scales=(1, 10, 100)) -> dict:
    from stoffwechsel.data.contract import load_materials
    from stoffwechsel.features import embeddings

    figures: dict = {"cores": os.cpu_count(), "started": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    with tempfile.TemporaryDirectory() as tmp:
        if include_pipeline:
            figures["full_repro_scale_1"] = full_repro(Path(tmp))
            figures["scales"] = [pipeline_at_scale(Path(tmp), s) for s in scales]
            figures["growth"] = growth_exponents(figures["scales"])
        figures["startup"] = startup_overhead()
        figures["retrieval"] = retrieval()
        figures["monitoring"] = monitoring_throughput()
        params = config.load_params("embeddings")
        products = load_materials(config.MATERIALS_DIR).products
        figures["embeddings"] = embeddings.benchmark(
            products["description"], embeddings.ModelSpec.from_params(params), Path(tmp), 3, params["batch_size"]
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(figures, indent=1, sort_keys=True) + "\n")
    return figures


def _met(ok: bool) -> str:
    return "met" if ok else "**missed**"


def performance_markdown(f: dict) -> str:
    """docs/performance.md from the figures of one run: tables, goals met or missed, causes."""
    lines = [
        "# Performance",
        "",
        f"Measured by `make bench` (`stoffwechsel bench`) on this machine: {f['cores']} cores, "
        "shared with other jobs, so",
        "absolute times are noisy; medians of several runs with min-max where runs were repeated; ratios are taken",
        "within the same run. Raw figures: `reports/benchmarks.json`"
        f"{' (run started ' + f['started'] + ')' if 'started' in f else ''}.",
        "",
    ]
    st = f["startup"]
    k, r, d = (
        st["kernel_start_seconds"]["median"],
        st["runner_import_seconds"]["median"],
        st["dvc_start_seconds"]["median"],
    )
    goals = []
    if "full_repro_scale_1" in f:
        full = f["full_repro_scale_1"]
        cold, warm = full["cold_cache"]["seconds"], full["filled_cache"]["seconds"]["median"]
        s1 = next(s for s in f["scales"] if s["scale"] == 1)
        n_nb = len(s1["notebook_seconds"])
        fixed = n_nb * (k + r)
        noop = full["noop_repro_seconds"]["median"]
        goals += [
            (
                "full `dvc repro --force`, scale 1, clean clone, empty embedding cache",
                f"{cold} s",
                "under 60 s",
                _met(cold < GOALS["full_repro_scale_1_s"]),
            ),
            (
                "the same, embedding cache filled (every later run on the machine)",
                f"{warm} s",
                "under 60 s",
                _met(warm < GOALS["full_repro_scale_1_s"]),
            ),
            ("no-op `dvc repro`", f"{noop} s", "under 2 s", _met(noop < GOALS["noop_repro_s"])),
        ]
        emb = f["embeddings"]
        under_load = ", under load" if emb.get("note") else ""
        outside = sum(s1["stages"][st_]["seconds"] - sec for st_, sec in s1["notebook_seconds"].items())
        inside = sum(s1["notebook_seconds"].values())
        runs_warm = full["filled_cache"]["seconds"]["runs"]
        lines += [
            "## Full pipeline at scale 1",
            "",
            f"`dvc repro --force` in a clean clone: **{cold} s** with an empty embedding cache (peak memory "
            f"{full['cold_cache']['peak_mb']} MB), **{warm} s** "
            f"({'one run' if runs_warm == 1 else f'median of {runs_warm}'}) once the "
            f"content-addressed cache holds the descriptions. No-op `dvc repro`: median {noop} s "
            f"(min {full['noop_repro_seconds']['min']}, max {full['noop_repro_seconds']['max']}).",
            "",
            f"Where the time goes: each of the {n_nb} notebook stages starts the runner ({r} s: CLI and Papermill) "
            f"and a kernel ({k} s), {round(fixed, 1)} s in all, about {round(100 * fixed / cold)}% of the cold run; "
            "DVC itself "
            f"starts in {d} s. Measured per stage (scale-1 column below: stage wall time minus the notebook's own "
            f"duration as Papermill records it), {round(outside, 1)} s of the {n_nb} notebook stages' "
            f"{round(outside + inside, 1)} s ({round(100 * outside / (outside + inside))}%) pass outside the "
            "notebooks' "
            "cells: DVC hashing and locking, the runner, kernel start and shutdown; library imports happen inside "
            "the cells (their cost is in the start-up table). With an empty cache the embedding stage encodes all "
            f"{s1['rows']['products']:,} descriptions "
            f"at about {emb['exact_texts_per_s']} texts/s (exact encode, measured below{under_load}), "
            f"{round(s1['rows']['products'] / emb['exact_texts_per_s'], 1)} s of model time. The stage-by-stage table "
            "is the scale-1 column below.",
            "",
        ]
    if "scales" in f:
        runs = sorted(f["scales"], key=lambda s: s["scale"])
        head = " | ".join(f"scale {s['scale']:g}: s | MB" for s in runs)
        lines += [
            "## The pipeline at simulator scales " + ", ".join(f"{s['scale']:g}" for s in runs),
            "",
            "Each scale in its own clean clone with `stoffwechsel simulate --scale N` materials and an empty embedding "
            "cache; every stage run as `dvc repro --force --single-item STAGE` (so each includes one DVC start). "
            "Growth exponent: log-log slope of the stage's wall time per tenfold step (1 = linear; above "
            f"{NLOGN_SLOPE} grows faster than n log n).",
            "",
            "| rows | " + " | ".join(f"scale {s['scale']:g}" for s in runs) + " |",
            "|---|" + "---|" * len(runs),
        ]
        for name in runs[0]["rows"]:
            lines.append(f"| {name} | " + " | ".join(f"{s['rows'][name]:,}" for s in runs) + " |")
        steps = list(f["growth"])
        lines += [
            "",
            f"| stage | {head} | " + " | ".join(f"exponent {st_}" for st_ in steps) + " |",
            "|---|" + "---|---|" * len(runs) + "---|" * len(steps),
        ]
        slow = []
        for stage in runs[0]["stages"]:
            cells = " | ".join(f"{s['stages'][stage]['seconds']} | {s['stages'][stage]['peak_mb']}" for s in runs)
            ex = [f["growth"][st_].get(stage) for st_ in steps]
            lines.append(f"| {stage} | {cells} | " + " | ".join(f"{e}" for e in ex) + " |")
            if ex and ex[-1] is not None and ex[-1] > NLOGN_SLOPE:
                slow.append(f"{stage} ({ex[-1]})")
        lines.append(
            "| **total** | "
            + " | ".join(f"**{s['total_seconds']}** | **{s['peak_mb']}**" for s in runs)
            + " | "
            + " | ".join(f"{f['growth'][st_]['total']}" for st_ in steps)
            + " |"
        )
        if any("simulate" in s for s in runs):
            lines += [
                "",
                "Simulating the materials (not a pipeline stage): "
                + ", ".join(
                    f"scale {s['scale']:g} {s['simulate']['seconds']} s / {s['simulate']['peak_mb']} MB"
                    for s in runs
                    if "simulate" in s
                )
                + ".",
            ]
        big = runs[-1]
        if "embeddings" in big["stages"]:
            rest = big["total_seconds"] - big["stages"]["embeddings"]["seconds"]
            lines += [
                "",
                f"At scale {big['scale']:g} the embedding stage's first encode of {big['rows']['products']:,} new "
                f"descriptions takes {round(big['stages']['embeddings']['seconds'] / 60, 1)} of the "
                f"{round(big['total_seconds'] / 60, 1)} minutes; all other stages together take {round(rest / 60, 1)} "
                "minutes (derived from the table: total minus the embedding stage).",
            ]
        lines += [
            "",
            "Dashboard page weight (`_site/index.html` with the images and styles it loads): "
            + ", ".join(f"scale {s['scale']:g}: {s['site_index']['mb']} MB" for s in runs)
            + "; it shows aggregates only, so it does "
            "not grow with the data.",
            "",
        ]
        goals += [
            (
                f"scale {big['scale']:g}, whole pipeline",
                f"{round(big['total_seconds'] / 60, 1)} min",
                "under 15 min",
                _met(big["total_seconds"] < GOALS["scale_100_total_s"]),
            ),
            (
                f"scale {big['scale']:g}, peak memory",
                f"{big['peak_mb']:,} MB",
                "within 8 GB",
                _met(big["peak_mb"] < GOALS["scale_100_peak_mb"]),
            ),
            (
                f"scale {big['scale']:g}, stages growing faster than n log n",
                ", ".join(slow) or "none",
                "none",
                _met(not slow),
            ),
            (
                f"scale {big['scale']:g}, dashboard page weight",
                f"{big['site_index']['mb']} MB",
                "under 5 MB",
                _met(big["site_index"]["mb"] < GOALS["site_page_mb"]),
            ),
        ]
    lines += [
        "## Start-up costs (fresh interpreter, median seconds)",
        "",
        "| what | seconds |",
        "|---|---|",
        f"| DVC start (`dvc version`) | {d} |",
        f"| runner: CLI + Papermill import | {r} |",
        f"| kernel start (empty notebook) | {k} |",
    ]
    lines += [f"| import {name} | {v['median']} |" for name, v in st["imports_seconds"].items()]
    lines += [
        "",
        "## Point-in-time retrieval vs pandas `merge_asof` (same data, answers checked equal)",
        "",
        "| spine rows | store, M rows/s (median, min-max) | merge_asof, M rows/s | store / merge_asof |",
        "|---|---|---|---|",
    ]
    at_top = None
    for n, rr in f["retrieval"].items():
        store = [x["store_cutoff"]["store_rows_per_s"] / 1e6 for x in rr["runs"]]
        ref = [x["store_cutoff"]["merge_asof_rows_per_s"] / 1e6 for x in rr["runs"]]
        ratio = statistics.median(s_ / r_ for s_, r_ in zip(store, ref))
        lines.append(
            f"| {int(n):,} | {statistics.median(store):.2f} ({min(store):.2f}-{max(store):.2f}) | "
            f"{statistics.median(ref):.2f} | {ratio:.2f} |"
        )
        at_top = (int(n), statistics.median(store))
    if at_top:
        goals.append(
            (
                f"retrieval at {at_top[0]:,} spine rows",
                f"{at_top[1]:.2f} M rows/s",
                "at least 1 M rows/s at 10^7",
                _met(at_top[1] * 1e6 >= GOALS["retrieval_rows_per_s_at_1e7"] and at_top[0] >= 10**7),
            )
        )
    e = f["embeddings"]
    over = e["stage_over_exact"] - 1
    goals.append(
        (
            "embedding stage vs bare exact encode",
            f"{over:+.0%} time",
            "overhead under 20%",
            _met(over < GOALS["embedding_overhead"]),
        )
    )
    goals.append(
        (
            "exact encode vs plain float32 encode (2 threads)",
            f"{e['exact_over_plain']:.2f}x time",
            f"at most {GOALS['exact_over_plain']}x",
            _met(e["exact_over_plain"] <= GOALS["exact_over_plain"]),
        )
    )
    rerun = e.get("rerun_changed", {})
    lines += [
        "",
        "## Embeddings",
        "",
        f"{e['texts']:,} descriptions, medians of {e.get('repeats', '?')} runs on {e.get('cores', '?')} cores: "
        f"plain float32 `SentenceTransformer.encode` {e['plain_texts_per_s']} texts/s (the machine's practical "
        f"limit, not exact across machines); the exact encoding ({e.get('encoding', '?')}: float64 forward pass, "
        f"rounded to a grid) {e['exact_texts_per_s']} texts/s ({e['exact_over_plain']}x the plain time); the "
        f"stage's path (cache look-up, exact encoding, cache write) {e['stage_texts_per_s']} texts/s (stage/exact "
        f"time {e['stage_over_exact']}). Re-run with {e.get('rerun_changed_texts', 1)} changed descriptions (1%): "
        f"{rerun.get('median_s')} s, {e.get('rerun_over_full', '?')} of a full embedding."
        + (f" Note: {e['note']}." if e.get("note") else ""),
        "",
    ]
    compared = e.get("encoders_compared")
    if compared:  # the encodings side by side, one run (issue #22: before and after)
        lines += [
            f"Encodings compared in one run on {compared['texts']} descriptions, medians of {compared['rounds']} "
            f"interleaved rounds (`{compared['command']}`):",
            "",
            "| encoding | texts/s (min-max) | time vs plain float32 |",
            "|---|---|---|",
        ]
        lines += [
            f"| {m['method']} | {m['texts_per_s_median']} ({m['min']}-{m['max']}) | {m['time_vs_plain']}x |"
            for m in compared["methods"]
        ]
        lines.append("")
    check = f.get("reproduction_check")
    if check:
        lines += [
            "## The target-1 check (`reproduce` stage)",
            "",
            f"{check['text']}",
            "",
        ]
    lines += [
        "## Monitoring aggregation (`run_monitoring`)",
        "",
        "| production events | seconds (median) | events/s |",
        "|---|---|---|",
    ]
    lines += [
        f"| {int(n):,} | {v['seconds']['median']} | {v['events_per_second']:,} |" for n, v in f["monitoring"].items()
    ]
    lines += ["", "## Goals", "", "| goal | measured | target | |", "|---|---|---|---|"]
    lines += [f"| {a} | {b} | {c} | {m} |" for a, b, c, m in goals]
    lines += ["", CAUSES, BEYOND_ONE_MACHINE]
    return "\n".join(lines)


#: Why goals are missed, from the measurements above and profiles (kept by hand: read it against
#: the tables; each cause names the command that measured it).
CAUSES = """## Why the missed goals are missed, and what was done

Speed work in #9, each measured before and after with `python -m cProfile` / Papermill's per-cell
durations in `reports/notebooks/*.ipynb`. The stages run one by one (`dvc repro --force
--single-item`, scale 1, empty embedding cache) took 171 s before and 129 s after (scale-1 column):

- Runner start: `import papermill` took 2.7 s, 1.9 s of it `rfc3987_syntax` compiling a Lark
  grammar for jsonschema's "iri" format, which notebooks never use (`python -X importtime -c
  "import papermill"`); the runner now imports Papermill without it (`notebooks.import_papermill`).
- Training: MLflow inferred each logged model's requirements by loading it in a subprocess,
  16.6 s of the stage's 24 s of logging; the requirements are now given (`tracking.pip_requirements`).
- Verification: the five site pages ran one after another (17.6 s), each recomputing the
  monitoring from the recommendations; they now run two at a time and read the aggregates the
  `monitor` stage wrote (`monitoring.results.load_outputs`): 8.7 s, and flat in the data size.
- Monitoring: the delayed-label backtest (3 simulated histories x 15 export dates) runs in one
  forked worker per core; the report is identical for any number of workers (tested).
- Scale: training samples at most `train.max_customers_per_spine` customers per spine (1,000;
  every customer at scale 1), so training stops growing with the shop; evaluation still scores
  every test customer.

Speed work in #27 (2026-12-07, after #22-#25 added exact encoding, six candidate sources and the
`recommend` stage; not a `make bench` run, which was not repeated: its tables above predate them).
Before, `dvc repro` in a fresh copy of ac1eb95 without reports (scale 1, empty embedding cache,
Python renderer, quiet machine): 477 s, by stage profile 12, resolve 9, features 10, embeddings
68, reproduce 97, train 82, recommend 69, monitor 17, backtest 30, verify 56, site 27 s (time
between DVC's "Running stage" lines). Profiles (`python -m cProfile` over each notebook's cells):

- `train`: building the training set 23 s (the six candidate sources at 21 training moments,
  0.87 s each, 18 s; point-in-time retrieval 4.7 s), fitting the two rankers 23 s (2 x 200 trees
  on 154,351 rows), MLflow logging 12 s, of which importing skops 5.9 s: at import skops lists
  scikit-learn's estimators, and that walk imports torch (2.5-4 s).
- `recommend`: its refit built the training set again from scratch, 32 s for 23 moments of which
  21 are the train stage's. The train stage now writes its labelled candidates (`data/training/`,
  with how many candidates each moment drew, so the negative sampling's random sequence continues
  exactly) and the refit adds only the later moments: 15.7 s -> 1.5 s for the candidates, the same
  training frame to the byte (tested), the stage's main cell 53 s -> 28 s. skops is imported
  without torch (the same 208 trusted types, tested): 5.9 s -> 3.5 s, in `train` and `recommend`.
- `verify`: the seven page notebooks 19 s; target 8's `--help` checks of the README's 48 commands
  15 s (`mlflow ui --help` 8 s, `jupyter lab --help` 5.4 s: each imports its whole server);
  the planted-shift check 9 s. Not changed.
- `site`: executes the same seven pages again (17.5 s) before rendering (Python 5.6 s, Quarto
  30 s). Not changed: rendering `verify`'s executed pages would need them declared as its output,
  byte-identical on every machine; not done.
- `backtest` (45 simulated exports in a process pool): pipeline copies in the tests now keep its
  committed output, as a fresh clone does, so DVC skips it there.

The test suite (`make test`, where every pipeline copy pays the above): one pipeline run fewer
(the README's fresh clone is also the other-machine check), the exact-encoding test loads the
model 4 times, not 7, the two-week export test freezes `reproduce` (100 s), the stage-grain
experiment renders with the Python renderer, the longest tests are handed out first, and
`make setup` installs the lock with uv (about a minute; pip took about 4).

What remains, by cause (stage times: the scale-1 column above; inside a stage: Papermill's per-cell
durations in `reports/notebooks/*.ipynb` of a `dvc repro` on the same code, 2026-11-27):

- Scale 1 under 60 s (about 138 s with an empty embedding cache, 114 s with it filled): no single
  cause. `train` (about 40 s: retrieving and building 130,685 candidate rows and fitting the two
  gradient-boosted rankers, 24 s; MLflow logging, 10 s with an existing store, of which importing MLflow
  and skops is about 6 s; a fresh SQLite store adds about 4 s of migrations) and `embeddings` \
(29 s on an empty cache: 13 s
  of encoding 800 long descriptions on two cores plus 8 s importing sentence-transformers; 6 s
  with the cache filled) are the largest; `monitor` (15 s in the kernel, 10 s of it the
  delayed-label backtest, already on both cores) and `verify` (11 s: five page kernels and a
  Chromium check) follow. Starting the runner and a kernel costs 1.6 s per stage (8% of the run).
  Fewer training rows or trees would shorten the 13 s fit, but change the model and its measured
  comparison, which is not a trade made for speed alone; DVC runs stages one after another, so
  independent stages (`profile`, `monitor`) cannot overlap.
- Scale 100 under 15 minutes: the embedding stage encodes every description once, 80,000 at
  scale 100 (about 22 minutes at the CPU throughput above); all other stages together take about
  7 minutes. Re-runs encode only changed descriptions (1% changed: the re-run figure above). On
  GPU workers the same model encodes thousands of texts per second (see below); on this machine
  the first encode can only be spread over time (it is incremental and cached).
- Peak memory at scale 100 is within 8 GB but close to it in `train` and `embeddings` (about
  7.5 GB each). Not profiled at that scale; the likely holders are the weekly customer rows
  (17,249 at scale 1, growing with the customers) with vector columns in pandas. Not yet reduced.
"""

BEYOND_ONE_MACHINE = """## Beyond one machine (on paper)

| stage | where this machine runs out | on a retailer's distributed stack | what changes, what stays |
|---|---|---|---|
| contract, resolve | pandas in memory: roughly 10^8 transaction rows \
| the same checks as SQL or Spark (pandera has a PySpark backend) \
| checks and reasons stay; the loader changes |
| features | DuckDB aggregation is streaming and multi-threaded; the weekly rows grow with events \
| the window SQL of `_weekly_rolling` runs as is on Spark SQL or a warehouse; Parquet to object storage \
| feature definitions, fingerprints and the registry stay; the engine and the store path change |
| point-in-time retrieval | DuckDB ASOF join, millions of spine rows per second here \
| Spark or warehouse ASOF/range joins, or an offline store such as Feast's \
| the retrieval rule (event <= t, created <= t) stays |
| embeddings | CPU encode, tens of texts per second on two cores \
| batch encode on GPU workers (thousands per second), same model hash \
| the content-addressed cache and the train-only fitting stay |
| training, evaluation | one process; training already sampled per spine \
| the same scikit-learn model on a larger sample, or a distributed ranker \
| the paired bootstrap and the claim rule stay |
| monitoring | vectorised pandas on the recommendation log \
| the same aggregates in SQL on the event stream, daily \
| the delay curves, intervals and false-alarm control stay |
"""
