"""MLflow logging for the training stage.

MLflow keeps its own ids and times in ``mlflow.db`` (SQLite, the project's explicit local store)
and ``mlartifacts/``, both git-ignored and not DVC outputs: the files DVC tracks are written by
the stage itself, deterministically, so logging never changes them.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pandas as pd
import yaml

from stoffwechsel import config

EXPERIMENT = "stoffwechsel-recommendations"
# MLflow saves scikit-learn models with skops, which loads only listed types (no pickle).
TRUSTED_TYPES = ["functools.partial", "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
                 "sklearn.utils.validation.check_array"]


def git_commit(root: Path) -> str:
    proc = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True)
    return proc.stdout.strip() if proc.returncode == 0 else "unknown"


def dvc_hashes(root: Path, paths: tuple[str, ...]) -> dict[str, str]:
    """The md5 DVC recorded in dvc.lock for the given outputs (the training data's identity)."""
    lock = root / "dvc.lock"
    if not lock.is_file():
        return {}
    stages = yaml.safe_load(lock.read_text()).get("stages", {})
    return {out["path"]: out["md5"] for s in stages.values() for out in s.get("outs", []) if out["path"] in paths}


#: What a logged model needs to be loaded and scored (pinned to the installed versions).
MODEL_REQUIREMENTS = ("scikit-learn", "skops", "numpy", "pandas", "scipy")


def pip_requirements() -> list[str]:
    """The logged model's requirements, from the installed distributions.

    Given explicitly because MLflow's default inference runs the model's loading in a
    subprocess to see what it imports: 8 s per logged model here (``cProfile`` of
    ``log_training_run``: 16.6 s of 24 s for the two models), and it would also list torch,
    which the lib imports elsewhere but the ranker never needs."""
    from importlib.metadata import version

    return [f"{name}=={version(name)}" for name in MODEL_REQUIREMENTS]


def start(root: Path | None = None):
    """Point MLflow at the project's SQLite store and experiment; returns the mlflow module."""
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")  # no network here, and none wanted
    import mlflow

    root = root or config.ROOT
    mlflow.set_tracking_uri(f"sqlite:///{root / 'mlflow.db'}")
    if mlflow.get_experiment_by_name(EXPERIMENT) is None:
        mlflow.create_experiment(EXPERIMENT, artifact_location=(root / "mlartifacts").as_uri())
    mlflow.set_experiment(EXPERIMENT)
    return mlflow


def log_training_run(name: str, ranker, sample: pd.DataFrame, params: dict, metrics: dict[str, float],
                     feature_views: dict[str, str], data_hashes: dict[str, str], figures: dict, register_as: str | None,
                     root: Path | None = None) -> dict:
    """One MLflow run: parameters, metrics (with intervals), feature view versions, git commit,
    DVC hashes of the training data, the model with its signature, the evaluation figures;
    optionally registered in the model registry with the feature versions as tags."""
    from mlflow.models import infer_signature

    root = root or config.ROOT
    mlflow = start(root)
    x = ranker.matrix(sample)
    with mlflow.start_run(run_name=name) as run:
        mlflow.log_params({k: (v if not isinstance(v, (list, dict)) else str(v)) for k, v in params.items()})
        mlflow.log_params({"feature_set": ranker.feature_set, "n_features": len(ranker.columns)})
        mlflow.log_metrics({k.replace("@", "_at_"): float(v) for k, v in metrics.items() if v == v})
        tags = {f"feature_view.{view}": version for view, version in feature_views.items()}
        tags.update({f"dvc.{path}": md5 for path, md5 in data_hashes.items()})
        tags["git_commit"] = git_commit(root)
        mlflow.set_tags(tags)
        for fname, fig in figures.items():
            mlflow.log_figure(fig, fname)
        info = mlflow.sklearn.log_model(ranker.model, name="model", signature=infer_signature(x, ranker.model.predict_proba(x)[:, 1]),
                                        input_example=x.head(3), registered_model_name=register_as,
                                        skops_trusted_types=TRUSTED_TYPES, pip_requirements=pip_requirements())
        if register_as:
            client = mlflow.MlflowClient()
            for key, value in tags.items():
                client.set_model_version_tag(register_as, info.registered_model_version, key, value)
        return {"run_id": run.info.run_id, "model_uri": info.model_uri, "registered_version": info.registered_model_version}
