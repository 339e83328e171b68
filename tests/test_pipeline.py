"""The pipeline runs headless with `dvc repro`, a second run does nothing, and the features are
reproduced exactly: twice in a row, and from a previous commit (verification target 1)."""

from __future__ import annotations

import json
import subprocess

import pytest
import yaml

from conftest import ROOT, run

pytestmark = pytest.mark.pipeline

ARTIFACTS = ROOT / "reports" / "test-artifacts"
FEATURE_OUTPUTS = ("data/resolved", "data/feature_store")  # present in every commit since #3


def lock_outputs(lock_text: str) -> dict[str, str]:
    """path -> md5 of every stage output recorded in a dvc.lock. Executed notebooks are left
    out: commits before they became undeclared terminal reports recorded them, and they are never
    byte-identical."""
    lock = yaml.safe_load(lock_text)
    return {
        out["path"]: out["md5"]
        for stage in lock["stages"].values()
        for out in stage.get("outs", [])
        if not out["path"].startswith("reports/notebooks/")
    }


def test_repro_runs_every_stage_headless(pipeline_clone):
    for name in ("01_profile", "02_resolve", "03_features", "04_embeddings", "05_train"):
        assert (pipeline_clone / "reports" / "notebooks" / f"{name}.ipynb").is_file()
    figures = json.loads((pipeline_clone / "reports" / "profile" / "profile.json").read_text())
    assert figures["rows"]["transactions.csv"]["read"] == 15000
    assert (pipeline_clone / "data" / "feature_store" / "registry.json").is_file()
    assert (pipeline_clone / "data" / "embedding_store" / "registry.json").is_file()


def test_fresh_run_reproduces_the_committed_lock(pipeline_clone):
    """Recomputed from scratch, every data output and report has the md5 the working tree's
    dvc.lock records: the verification record and the site's manifest too (what describes the
    machine, renderer, browser and test records, is in files neither git nor dvc.lock track)."""
    committed = lock_outputs((ROOT / "dvc.lock").read_text())
    fresh = lock_outputs((pipeline_clone / "dvc.lock").read_text())
    assert set(FEATURE_OUTPUTS) <= set(committed)
    assert {"reports/verification.json", "reports/site.json", "reports/reproduction.json"} <= set(fresh)
    assert "_site" not in fresh
    assert fresh == committed


def test_the_reproduce_stage_holds_its_evidence(pipeline_clone):
    """Target 1 by the pipeline: the `reproduce` stage's evidence either compares an earlier commit's
    features (every output of the three stages, recorded and reproduced) or says what to run, and
    `dvc repro` keeps the committed evidence while the features are the same (the clone is a
    one-commit snapshot without the history the evidence names, so running the check here would
    check the snapshot instead; tests/test_reproduction.py checks that a key is checked once)."""
    path = pipeline_clone / "reports" / "reproduction.json"
    evidence = json.loads(path.read_bytes())
    assert "reproduce" in yaml.safe_load((pipeline_clone / "dvc.lock").read_text())["stages"]
    if evidence["checked"]:
        assert evidence["identical"] is True, evidence["differing"]
        assert {"data/resolved", "data/feature_store", "data/embedding_store"} <= set(evidence["outputs"])
    else:
        assert evidence["why"] and "dvc repro --force reproduce" in evidence["run"]
    assert path.read_bytes() == (ROOT / "reports" / "reproduction.json").read_bytes()


def test_second_repro_does_nothing(pipeline_clone):
    lock_before = (pipeline_clone / "dvc.lock").read_bytes()
    out = run(["dvc", "repro"], pipeline_clone).stdout
    assert "Data and pipelines are up to date" in out
    assert "Running stage" not in out
    assert (pipeline_clone / "dvc.lock").read_bytes() == lock_before


FEATURE_STAGES = ("resolve", "features", "embeddings")


def test_forced_rerun_gives_identical_feature_files(pipeline_clone):
    before = lock_outputs((pipeline_clone / "dvc.lock").read_text())
    out = run(["dvc", "repro", "--force", *FEATURE_STAGES], pipeline_clone).stdout
    assert all(f"Running stage '{s}'" in out for s in FEATURE_STAGES)
    after = lock_outputs((pipeline_clone / "dvc.lock").read_text())
    assert after == before


def _previous_commit_with_features() -> str:
    """The newest commit before HEAD whose dvc.lock records the feature outputs (HEAD itself
    when it is the first such commit, or the history is shallow)."""
    revs = subprocess.run(
        ["git", "rev-list", "HEAD", "--", "dvc.lock"], cwd=ROOT, capture_output=True, text=True
    ).stdout.split()
    for rev in revs[1:]:
        text = subprocess.run(["git", "show", f"{rev}:dvc.lock"], cwd=ROOT, capture_output=True, text=True).stdout
        if text and set(FEATURE_OUTPUTS) <= set(lock_outputs(text)):
            return rev
    return "HEAD"


def test_features_reproduce_exactly_from_a_previous_commit(tmp_path):
    """Verification target 1: clone, check out an earlier commit, `dvc repro --force`, and compare
    every output's md5 with that commit's dvc.lock."""
    rev = _previous_commit_with_features()
    clone = tmp_path / "old"
    run(["git", "clone", "-q", str(ROOT), str(clone)], tmp_path)
    run(["git", "checkout", "-q", rev], clone)
    stages = [s for s in FEATURE_STAGES if s in yaml.safe_load((clone / "dvc.yaml").read_text())["stages"]]
    recorded = {k: v for k, v in lock_outputs((clone / "dvc.lock").read_text()).items() if k.startswith("data/")}
    run(["dvc", "repro", "--force", *stages], clone)
    reproduced = {k: v for k, v in lock_outputs((clone / "dvc.lock").read_text()).items() if k.startswith("data/")}
    assert set(FEATURE_OUTPUTS) <= set(recorded)
    commit = run(["git", "rev-parse", "HEAD"], clone).stdout.strip()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "reproduction.json").write_text(
        json.dumps(
            {
                "commit": commit,
                "identical": reproduced == recorded,
                "outputs": recorded,
                "differing": sorted(k for k in recorded if reproduced.get(k) != recorded[k]),
            },
            indent=1,
            sort_keys=True,
        )
        + "\n"
    )
    assert reproduced == recorded, f"commit {rev}: outputs differ from its dvc.lock"


def test_dvc_metrics_and_plots_are_declared(pipeline_clone):
    shown = run(["dvc", "metrics", "show", "--json"], pipeline_clone).stdout
    assert "combined_minus_tabular" in shown and "recycled_ids" in shown
    plots = run(["dvc", "plots", "show", "--json"], pipeline_clone).stdout
    assert "metrics_vs_k.csv" in plots


def test_logged_models_state_their_own_requirements_and_load(pipeline_clone):
    """MLflow logs each ranker with the pinned packages it needs (not an inferred list with
    torch and pytest) and the registered model loads from the registry and scores."""
    import mlflow

    reqs = sorted((pipeline_clone / "mlartifacts").rglob("requirements.txt"))
    assert len(reqs) >= 2
    for path in reqs:
        lines = path.read_text().split()
        assert any(line.startswith("scikit-learn==") for line in lines), path
        assert not any(line.startswith(("torch", "pytest")) for line in lines), lines
    mlflow.set_tracking_uri(f"sqlite:///{pipeline_clone / 'mlflow.db'}")
    name = yaml.safe_load((pipeline_clone / "params.yaml").read_text())["train"]["registered_model"]
    model = mlflow.pyfunc.load_model(f"models:/{name}/latest")
    example = model.input_example
    assert len(example.columns) == len(model.metadata.get_input_schema().input_names()) > 20
    assert len(model.predict(example)) == len(example)
