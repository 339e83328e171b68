"""MLflow logging for the training stage.

MLflow keeps its own ids and times in ``mlflow.db`` (SQLite, the project's explicit local store)
and ``mlartifacts/``, both git-ignored and not DVC outputs: the files DVC tracks are written by
the stage itself, deterministically, so logging never changes them.

Paths belong to the project, not to the folder it was first run in. :func:`start` is the one
place that decides them, from the project root at run time (``config.ROOT``, or the ``root``
given): the store is ``<root>/mlflow.db`` and artifacts go to ``<root>/mlartifacts``. MLflow's
SQLite store records absolute artifact URIs when a run or model is created (the experiment's
``artifact_location``, each run's ``artifact_uri``, each logged model's and model version's
location), so a copied or moved clone's ``mlflow.db`` still names the old folder: its runs would
be written there and ``models:/<name>/<version>`` would fail with "No such artifact" once the old
folder is gone. :func:`start` therefore re-points the store first (:func:`rebase_artifact_store`):
every recorded URI under the experiment's old artifact folder is rewritten to the same path
under ``<root>/mlartifacts`` (the clone's copy of those artifacts). Load registered models with
:func:`load_model`, which does the same before loading. Run ids, versions and metrics are kept.
"""

from __future__ import annotations

import os
import sqlite3
from contextlib import closing
import subprocess
from pathlib import Path
from urllib.parse import urlparse
from urllib.request import url2pathname

import pandas as pd
import yaml

from stoffwechsel import config

EXPERIMENT = "stoffwechsel-recommendations"
STORE_FILE = "mlflow.db"  # under the project root; git-ignored
ARTIFACTS_DIR = "mlartifacts"  # under the project root; git-ignored
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


def store_paths(root: Path | None = None) -> tuple[str, str]:
    """The tracking URI and the experiment's artifact location for the project at ``root``."""
    root = Path(root or config.ROOT).resolve()
    return f"sqlite:///{root / STORE_FILE}", (root / ARTIFACTS_DIR).as_uri()


def _text_columns(con: sqlite3.Connection) -> list[tuple[str, str]]:
    tables = [t for (t,) in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'") if t != "alembic_version"]
    return [(t, c[1]) for t in tables for c in con.execute(f'PRAGMA table_info("{t}")')
            if c[2].upper().startswith(("VARCHAR", "TEXT", "CHAR"))]


def rebase_artifact_store(root: Path | None = None) -> dict[str, int]:
    """Re-point a ``mlflow.db`` copied or moved from another folder at this project's
    ``mlartifacts``: every stored value equal to, or under, the experiment's recorded artifact
    location (as a ``file:`` URI or a plain path) is rewritten to the same place under
    ``<root>/mlartifacts``. Returns {"table.column": rows changed} (empty when nothing pointed
    elsewhere, or there is no store yet). One transaction; MLflow need not be imported."""
    root = Path(root or config.ROOT).resolve()
    db = root / STORE_FILE
    _, location = store_paths(root)
    if not db.is_file():
        return {}
    with closing(sqlite3.connect(db)) as con, con:  # closed after; one transaction, committed or rolled back
        if not con.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'experiments'").fetchone():
            return {}
        row = con.execute("SELECT artifact_location FROM experiments WHERE name = ?", (EXPERIMENT,)).fetchone()
        if row is None or row[0] == location:
            return {}
        old = row[0]
        if not old.startswith("file:"):
            raise RuntimeError(f"{db}: experiment '{EXPERIMENT}' keeps its artifacts at {old}, not in a local folder; "
                               f"cannot re-point it at {location}")
        old_path = url2pathname(urlparse(old).path)  # file:///a/b%20c -> /a/b c
        new_path = (root / ARTIFACTS_DIR).as_posix()
        changed: dict[str, int] = {}
        for table, column in _text_columns(con):
            for before, after in ((old, location), (old_path, new_path)):
                cur = con.execute(
                    f'UPDATE "{table}" SET "{column}" = :after || substr("{column}", length(:before) + 1) '
                    f'WHERE "{column}" = :before OR substr("{column}", 1, length(:before) + 1) = :before || \'/\'',
                    {"before": before, "after": after})
                if cur.rowcount > 0:
                    changed[f"{table}.{column}"] = changed.get(f"{table}.{column}", 0) + cur.rowcount
    return changed


def start(root: Path | None = None):
    """Point MLflow at the project's SQLite store and experiment (paths from ``root``, default
    ``config.ROOT``, re-pointed if the store came from another folder); returns the mlflow module."""
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")  # no network here, and none wanted
    import mlflow

    uri, location = store_paths(root)
    rebase_artifact_store(root)
    mlflow.set_tracking_uri(uri)
    experiment = mlflow.get_experiment_by_name(EXPERIMENT)
    if experiment is None:
        mlflow.create_experiment(EXPERIMENT, artifact_location=location)
    elif experiment.artifact_location != location:  # e.g. deleted and restored by hand: never log elsewhere
        raise RuntimeError(f"{uri}: experiment '{EXPERIMENT}' keeps its artifacts at {experiment.artifact_location}, "
                           f"not {location}")
    mlflow.set_experiment(EXPERIMENT)
    return mlflow


def load_model(model_uri: str, root: Path | None = None):
    """A logged or registered model (e.g. ``models:/stoffwechsel-ranker/1``) as an MLflow pyfunc
    model, from this project's store and artifacts."""
    mlflow = start(root)
    return mlflow.pyfunc.load_model(model_uri)


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
