"""MLflow paths belong to the project: a copied or moved clone logs to itself and loads its
registered models after the original folder is gone (issue 18)."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from stoffwechsel import config
from stoffwechsel.model import tracking
from stoffwechsel.model.ranker import Ranker

MODEL = "stoffwechsel-ranker-test"


def tiny_ranker() -> tuple[Ranker, pd.DataFrame]:
    from sklearn.ensemble import HistGradientBoostingClassifier

    rng = np.random.default_rng(0)
    x = pd.DataFrame({"f1": rng.normal(size=80), "f2": rng.normal(size=80)})
    model = HistGradientBoostingClassifier(max_iter=5, random_state=0).fit(x, (x["f1"] > 0).astype(int))
    return Ranker("tabular", ["f1", "f2"], {}, model), x


def log(root: Path | None, name: str) -> dict:
    ranker, x = tiny_ranker()
    return tracking.log_training_run(
        name,
        ranker,
        x.head(20),
        {"max_iter": 5},
        {"ndcg@10": 0.5},
        {"product_catalog": "v1"},
        {},
        {},
        register_as=MODEL,
        root=root,
    )


def stored_strings(db: Path) -> list[str]:
    with sqlite3.connect(db) as con:
        tables = [t for (t,) in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return [v for t in tables for row in con.execute(f'SELECT * FROM "{t}"') for v in row if isinstance(v, str)]


def artifact_folders(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in (root / "mlartifacts").rglob("*") if p.name == "MLmodel"}


def test_copied_then_moved_clone_logs_to_itself_and_loads_its_models(tmp_path, monkeypatch):
    a, b = tmp_path / "A", tmp_path / "B"
    a.mkdir()
    (a / "params.yaml").write_text("train: {}\n")
    first = log(a, "tabular")
    assert first["registered_version"] == 1
    in_a = artifact_folders(a)
    assert in_a, "the first run's model must be stored under A"

    shutil.copytree(a, b)  # a copied clone, the original still in place
    monkeypatch.setattr(config, "ROOT", b)  # as the notebook runs it: no root given, the project's root at run time
    second = log(None, "combined")
    assert second["registered_version"] == 2
    assert artifact_folders(a) == in_a, "the copy must not write into the original's mlartifacts"
    assert len(artifact_folders(b)) == len(in_a) + 1

    shutil.rmtree(a)  # now it is a move
    strings = stored_strings(b / "mlflow.db")
    assert not [s for s in strings if str(a) in s], "mlflow.db still names the old folder"
    assert any(s.startswith((b / "mlartifacts").as_uri()) for s in strings)
    x = tiny_ranker()[1].head(5)
    for version in (1, 2):
        model = tracking.load_model(f"models:/{MODEL}/{version}", root=b)
        assert len(model.predict(x)) == 5


def test_only_paths_under_the_old_artifact_folder_are_rewritten(tmp_path):
    """The rewrite matches the old folder as a whole path component, as URI and as plain path,
    and leaves other values alone; a store already at home is not touched."""
    root = tmp_path / "new"
    root.mkdir()
    old = "file:///elsewhere/A/mlartifacts"
    rows = {
        "exp": old,
        "run": old + "/r1/artifacts",
        "plain": "/elsewhere/A/mlartifacts/models/m-1/artifacts",
        "sibling": old + "2/r2/artifacts",
        "other": "models:/m-1",
    }
    with sqlite3.connect(root / "mlflow.db") as con:
        con.execute("CREATE TABLE experiments (name VARCHAR(256), artifact_location VARCHAR(256))")
        con.execute("INSERT INTO experiments VALUES (?, ?)", (tracking.EXPERIMENT, old))
        con.execute("CREATE TABLE things (key VARCHAR(20), value TEXT)")
        con.executemany("INSERT INTO things VALUES (?, ?)", rows.items())
    changed = tracking.rebase_artifact_store(root)
    assert changed == {"experiments.artifact_location": 1, "things.value": 3}
    home = (root / "mlartifacts").resolve()
    with sqlite3.connect(root / "mlflow.db") as con:
        now = dict(con.execute("SELECT key, value FROM things"))
        assert con.execute("SELECT artifact_location FROM experiments").fetchone()[0] == home.as_uri()
    assert now == {
        "exp": home.as_uri(),
        "run": home.as_uri() + "/r1/artifacts",
        "plain": home.as_posix() + "/models/m-1/artifacts",
        "sibling": old + "2/r2/artifacts",
        "other": "models:/m-1",
    }
    assert tracking.rebase_artifact_store(root) == {}


def test_a_store_whose_artifacts_are_not_local_is_refused(tmp_path):
    with sqlite3.connect(tmp_path / "mlflow.db") as con:
        con.execute("CREATE TABLE experiments (name VARCHAR(256), artifact_location VARCHAR(256))")
        con.execute("INSERT INTO experiments VALUES (?, ?)", (tracking.EXPERIMENT, "s3://bucket/mlartifacts"))
    with pytest.raises(RuntimeError, match=r"mlflow.db: experiment .* keeps its artifacts at s3://bucket/mlartifacts"):
        tracking.rebase_artifact_store(tmp_path)


# --- which code and parameters made a run (issue 17) ------------------------------------------


def git_project(root: Path) -> Path:
    import subprocess

    root.mkdir(parents=True, exist_ok=True)
    (root / "params.yaml").write_text("train:\n  max_iter: 200\n  learning_rate: 0.05\n")
    (root / "dvc.yaml").write_text(
        "stages:\n  train:\n    cmd: x\n    outs:\n      - reports/claims.json:\n          cache: false\n"
        "    metrics:\n      - reports/evaluation.json:\n          cache: false\n"
    )
    (root / "reports").mkdir()
    for name in ("claims.json", "evaluation.json"):
        (root / "reports" / name).write_text("{}\n")
    (root / "dvc.lock").write_text("schema: '2.0'\n")
    for cmd in (
        ["init", "-q"],
        ["config", "user.email", "t@example.org"],
        ["config", "user.name", "t"],
        ["add", "."],
        ["commit", "-qm", "project"],
    ):
        subprocess.run(["git", *cmd], cwd=root, check=True, capture_output=True)
    return root


def test_a_run_from_a_clean_commit_is_named_by_model_and_commit(tmp_path, monkeypatch):
    monkeypatch.delenv(tracking.DVC_EXP_ENV, raising=False)
    root = git_project(tmp_path / "p")
    # DVC rewrites its outputs and dvc.lock during a run: that is not "dirty"
    (root / "reports" / "evaluation.json").write_text('{"a": 1}\n')
    (root / "dvc.lock").write_text("schema: '2.0'\nstages: {}\n")
    name, tags = tracking.provenance(root, "combined")
    commit = tracking.git_commit(root)
    assert name == f"combined / {commit[:7]}"
    assert tags["git_dirty"] == "false" and tags["params_diff"] == "none" and "dvc_experiment" not in tags


def test_an_experiment_run_names_the_experiment_and_tags_dirty_and_params_diff(tmp_path, monkeypatch):
    """As `dvc exp run -S train.max_iter=400` runs the stage: params.yaml changed in the
    workspace, HEAD at the baseline commit, DVC_EXP_NAME set."""
    root = git_project(tmp_path / "p")
    (root / "params.yaml").write_text("train:\n  max_iter: 400\n  learning_rate: 0.05\n  seed: 8\n")
    monkeypatch.setenv(tracking.DVC_EXP_ENV, "swift-lamb")
    commit = tracking.git_commit(root)
    name, tags = tracking.provenance(root, "tabular")
    assert name == f"tabular / swift-lamb / {commit[:7]}-dirty"
    assert tags == {
        "git_commit": commit,
        "git_dirty": "true",
        "git_changed": "params.yaml",
        "dvc_experiment": "swift-lamb",
        "params_diff": "train.max_iter: 200 -> 400; train.seed: None -> 8",
    }


def test_the_registered_version_gets_the_champion_alias_a_description_and_the_run_tags(tmp_path, monkeypatch):
    root = git_project(tmp_path / "p")
    (root / "params.yaml").write_text("train:\n  max_iter: 400\n  learning_rate: 0.05\n")
    monkeypatch.setenv(tracking.DVC_EXP_ENV, "swift-lamb")
    ranker, x = tiny_ranker()
    logged = tracking.log_training_run(
        "combined",
        ranker,
        x.head(20),
        {"max_iter": 400},
        {"ndcg@10": 0.5},
        {},
        {},
        {},
        register_as=MODEL,
        root=root,
        description="combined ranker, measured",
    )
    mlflow = tracking.start(root)
    client = mlflow.MlflowClient()
    run = client.get_run(logged["run_id"])
    assert run.info.run_name == logged["run_name"] == f"combined / swift-lamb / {tracking.git_commit(root)[:7]}-dirty"
    assert run.data.tags["params_diff"] == "train.max_iter: 200 -> 400" and run.data.tags["git_dirty"] == "true"
    version = client.get_model_version_by_alias(MODEL, tracking.CHAMPION_ALIAS)
    assert (
        str(version.version) == str(logged["registered_version"]) and version.description == "combined ranker, measured"
    )
    assert version.tags["dvc_experiment"] == "swift-lamb"
    experiment = mlflow.get_experiment_by_name(tracking.EXPERIMENT)
    assert experiment.tags["mlflow.experimentKind"] == "custom_model_development"
    assert tracking.runs_url(root=root) == f"http://127.0.0.1:5000/#/experiments/{experiment.experiment_id}/runs"


def test_skops_trusts_the_same_types_without_importing_torch():
    """tracking._import_skops keeps torch out of the train and recommend stages (issue #27) and
    changes nothing skops trusts: its list of scikit-learn types equals a plain import's."""
    import json
    import subprocess
    import sys

    listing = "from skops.io._trusted_types import SKLEARN_ESTIMATOR_TYPE_NAMES as t; "
    plain = "import skops.io; " + listing + "print(json.dumps([t, 'torch' in sys.modules]))"
    placed = (
        "from stoffwechsel.model.tracking import _import_skops; _import_skops(); "
        + listing
        + "print(json.dumps([t, 'torch' in sys.modules]))"
    )
    out = {}
    for name, code in (("plain", plain), ("placed", placed)):
        proc = subprocess.run([sys.executable, "-c", "import json, sys; " + code], capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr
        out[name] = json.loads(proc.stdout)
    assert out["plain"][1], "a plain skops import no longer imports torch: the placeholder can go"
    assert out["placed"][1] is False
    assert len(out["placed"][0]) > 100 and out["placed"][0] == out["plain"][0]
