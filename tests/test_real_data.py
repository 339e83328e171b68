"""Data we did not write: the pipeline takes a real export, not only the simulator's own files
(issue 13).

* A real invoice export (tests/fixtures/online-retail: two weeks of the UCI "Online Retail" data,
  CC BY 4.0) goes through `stoffwechsel import-export`, the contract, and every stage that can run
  on two weeks of purchases; training and monitoring stop with a one-line reason.
* The simulator's history written the way real exports look (`simulate --style real`: plain
  numeric ids, minute timestamps with a space, other categories, short and empty descriptions, no
  wishlists, a calendar years earlier) runs through the whole pipeline with nothing changed but
  `materials.materials_dir`: the README's how-to, followed as written.
* The whole UCI year (``../shared/real-data``) from import to site, with issue 25's goals: only
  with ``STOFFWECHSEL_REAL_YEAR=1`` (``make test-real-year``; about 10 minutes here).
"""

from __future__ import annotations

import json
import os
import re
import time

import pandas as pd
import pytest
import yaml

from conftest import ROOT, copy_working_tree, run
from stoffwechsel.monitoring.results import WAITING

pytestmark = pytest.mark.pipeline

FIXTURE = "tests/fixtures/online-retail/online-retail-2011-11-25_2011-12-09.csv.xz"


def readme_block(marker: str) -> list[str]:
    """The commands of the README's code block that follows ``<!-- marker -->``."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(rf"<!-- {marker} -->\s*```bash\n(.*?)```", text, re.S)
    assert block, f"README.md has no bash block after <!-- {marker} -->"
    lines = [line.split("  #")[0].strip() for line in block.group(1).splitlines()]
    return [line for line in lines if line and not line.startswith("#")]


def run_line(line: str, cwd, check: bool = True):
    """One README line in bash; the site is rendered by the Python renderer (the Quarto render is
    tested by tests/test_dashboard.py and tests/test_site_browser.py; here it cost a minute)."""
    return run(["bash", "-c", line], cwd, check=check, STOFFWECHSEL_SITE_RENDERER="python")


@pytest.fixture
def clone(tmp_path):
    """A copy of the working tree with its committed reports, as the clone the README's reader
    follows the how-to in. Every stage that reads the materials runs again and rewrites its
    reports (the test asserts which stages ran); `backtest`, which reads none, is up to date and
    does not run (without the committed reports it ran for nothing: 32 s alone on 2 cores).
    `reproduce` is frozen (committed in the copy): it reads no materials either, and in this
    one-commit copy, without the history a reader's clone has, it would recompute the copy's own
    committed features from scratch (2-3 minutes per test; tests/test_reproduction.py tests the
    check, the pipeline tests its evidence)."""
    clone = copy_working_tree(tmp_path / "real")
    run(["dvc", "freeze", "reproduce"], clone)
    run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-am", "freeze reproduce"], clone)
    return clone


def test_readme_how_to_runs_the_whole_pipeline_on_real_style_exports(clone):
    commands = readme_block("how-to: own data")
    assert any("materials.materials_dir=" in c for c in commands), commands
    ran = []
    for line in commands:
        ran += re.findall(r"Running stage '(\w+)'", run_line(line, clone).stdout)
    stages = set(yaml.safe_load((clone / "dvc.yaml").read_text())["stages"])
    assert sorted(ran) == sorted(stages - {"backtest", "reproduce"}), ran  # each stage reading the materials ran
    params = yaml.safe_load((clone / "params.yaml").read_text())
    folder = clone / params["materials"]["materials_dir"]
    assert folder != clone / "materials" and (folder / "transactions.csv").is_file()
    first = (folder / "transactions.csv").read_text().splitlines()[1]
    assert re.match(r"\d+,\d+,\d+,", first) and re.search(r",20\d\d-\d\d-\d\d \d\d:\d\d,", first), first
    assert (clone / "_site" / "index.html").is_file()
    profile = json.loads((clone / "reports" / "profile" / "profile.json").read_text())
    assert profile["rows"]["transactions.csv"]["quarantined"] == 0
    calendar = json.loads((clone / "reports" / "profile" / "calendar.json").read_text())
    assert calendar["cutoff"].startswith(("2019", "2020", "2021")), (
        calendar
    )  # derived from the data, not the simulator's 2025
    evaluation = json.loads((clone / "reports" / "metrics" / "evaluation.json").read_text())
    assert evaluation["customers"] > 50


def test_real_invoice_export_runs_as_far_as_two_weeks_of_purchases_allow(tmp_path):
    """...and a stage that stops deletes no tracked file (issue 24): DVC removes a stage's outputs
    before it runs; the runner puts the committed ones back when the stage stops."""
    clone = copy_working_tree(tmp_path / "shop")  # the committed reports are in the clone's commit
    # `reproduce` frozen, as in the how-to's clone: on the new features it would recompute the
    # committed commit's features in a clone of its own (100 s, the suite's last minutes in CI)
    run(["dvc", "freeze", "reproduce"], clone)
    run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-am", "freeze reproduce"], clone)
    commands = readme_block("how-to: invoice export")
    for line in commands:
        if line.startswith("dvc "):
            break
        run_line(line, clone)
    validate = run(["stoffwechsel", "validate", "shop"], clone).stdout
    assert "transactions.csv: 28706 read, 28706 accepted, 0 quarantined" in validate, validate
    params = clone / "params.yaml"
    params.write_text(params.read_text().replace("materials_dir: materials ", "materials_dir: shop "))
    repro = run(["dvc", "repro"], clone, check=False)
    log = repro.stdout + repro.stderr
    assert repro.returncode != 0 and "error: stage 'train' stopped: too little history" in log, log
    assert "Traceback" not in log and "[IPKernelApp] ERROR" not in log, log
    status = run(["git", "status", "--porcelain", "--untracked-files=no"], clone).stdout.splitlines()
    assert not [line for line in status if "D" in line[:2]], status
    # what such a run changes (README, "how-to: invoice export"): params.yaml, dvc.lock and the
    # reports of the stages that ran
    changed = sorted(line[3:] for line in status)
    assert {"params.yaml", "dvc.lock", "reports/profile/profile.json"} <= set(changed), changed
    assert not [p for p in changed if p.startswith(("reports/metrics/", "reports/monitoring/"))], changed
    figures = json.loads((clone / "reports" / "profile" / "profile.json").read_text())
    assert figures["rows"]["products.csv"]["accepted"] == 2389
    assert (clone / "data" / "feature_store" / "registry.json").is_file()
    assert (clone / "data" / "embedding_store" / "registry.json").is_file()
    resolution = json.loads((clone / "reports" / "resolve" / "resolution.json").read_text())
    assert resolution["rows"]["quarantined"] == 0
    proc = run(["stoffwechsel", "run-notebook", "train"], clone, check=False)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and re.search(r"history", errors[0]), proc.stderr
    assert "Traceback" not in proc.stderr
    # no recommendation log in an invoice export: the monitor stage waits for one (issue 25)
    run(["stoffwechsel", "run-notebook", "monitor"], clone)
    summary = json.loads((clone / "reports" / "monitoring" / "summary.json").read_text())
    assert summary["status"] == WAITING and summary["alerts"]["total"] == 0, summary


#: The whole UCI "Online Retail" year (541,909 invoice lines, CC BY 4.0), beside the project
REAL_YEAR = ROOT.parent / "shared" / "real-data" / "online-retail-2010-12-01_2011-12-09.csv.xz"
#: a wholesale shop's candidate budget (README: "On the whole UCI year"); the fashion defaults stay
REAL_YEAR_SETTINGS = {"train.candidates_per_source": "100", "train.candidate_budget": "300"}


@pytest.mark.skipif(
    os.environ.get("STOFFWECHSEL_REAL_YEAR") != "1" or not REAL_YEAR.is_file(),
    reason="the whole UCI year takes about 10 minutes on 2 cores, beyond CI's 30: make test-real-year runs it "
    "(needs ../shared/real-data)",
)
def test_the_whole_real_year_runs_to_the_site_and_beats_buy_it_again(clone):
    """Issue 25's goals on the real year, from import to site: candidates hold at least 30% of what
    the test customers bought; the combined model beats the strongest baseline on hit rate@10 and
    NDCG@10 with paired intervals above 0; lists to serve are written; without a recommendation log
    the site is built (model side) and targets 5 and 6 wait for one. Times go to
    reports/test-artifacts/real-year.json."""
    started = time.perf_counter()
    run(["stoffwechsel", "import-export", str(REAL_YEAR), "--out", "shop"], clone)
    imported = time.perf_counter() - started
    settings = {"materials.materials_dir": "shop", **REAL_YEAR_SETTINGS}
    argv = ["dvc", "exp", "run", *(a for k, v in settings.items() for a in ("-S", f"{k}={v}"))]
    repro = run_line(" ".join(argv), clone)
    ran = re.findall(r"Running stage '(\w+)'", repro.stdout)
    assert {"train", "recommend", "monitor", "verify", "site"} <= set(ran), ran
    candidates = json.loads((clone / "reports" / "metrics" / "candidates.json").read_text())
    assert candidates["test_window"]["at_budget"] >= 0.30, candidates["test_window"]
    claims = json.loads((clone / "reports" / "metrics" / "claims.json").read_text())
    assert claims["best_baseline"]["name"] == "buy it again", claims["best_baseline"]
    for metric in ("hit_rate@10", "ndcg@10"):
        assert claims["combined_minus_best_baseline"][metric]["low"] > 0, (
            metric,
            claims["combined_minus_best_baseline"],
        )
    serving = json.loads((clone / "reports" / "metrics" / "serving.json").read_text())
    lists = pd.read_parquet(clone / "data" / "recommendations" / "recommendations.parquet")
    assert len(lists) == serving["customers"] * serving["top_n"] and serving["customers"] > 1000, serving
    summary = json.loads((clone / "reports" / "monitoring" / "summary.json").read_text())
    assert summary["status"] == WAITING
    record = {t["id"]: t["status"] for t in json.loads((clone / "reports" / "verification.json").read_text())}
    assert record == {
        1: "pass",
        2: "pass",
        3: "pass",
        4: "pass",
        5: "not checked",
        6: "not checked",
        7: "pass",
        8: "pass",
    }
    assert len(list((clone / "_site").rglob("*.html"))) == 8
    artifacts = ROOT / "reports" / "test-artifacts"
    artifacts.mkdir(parents=True, exist_ok=True)
    (artifacts / "real-year.json").write_text(
        json.dumps(
            {
                "import_s": round(imported, 1),
                "import_to_site_s": round(time.perf_counter() - started, 1),
                "stages_ran": ran,
                "candidate_recall_at_budget": candidates["test_window"]["at_budget"],
                "combined_minus_buy_it_again": {
                    m: claims["combined_minus_best_baseline"][m] for m in ("hit_rate@10", "ndcg@10")
                },
                "combined_minus_tabular": {m: claims["combined_minus_tabular"][m] for m in ("hit_rate@10", "ndcg@10")},
                "serving": {k: serving[k] for k in ("model", "customers", "top_n")},
            },
            indent=1,
        )
        + "\n"
    )
