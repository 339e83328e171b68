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

Which code and parameters made a run: its name is ``<model> / <DVC experiment> / <short commit>``
(the experiment only under ``dvc exp run``, which sets ``DVC_EXP_NAME``; ``-dirty`` after the
commit where tracked files other than DVC's outputs differ from it), and its tags hold the full
commit, the dirty flag with the changed files, the experiment name and the parameters that differ
from the commit's ``params.yaml`` (:func:`provenance`). The registered version gets the alias
``champion`` and a description saying what it is and how it was measured. The experiment is
tagged as model development (``mlflow.experimentKind``); MLflow 3.17's UI still opens a bare
experiment link (``#/experiments/<id>``) on its GenAI overview ("No data available"), so link
the runs table itself (:func:`runs_url`: ``#/experiments/<id>/runs``).
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import types
from contextlib import closing
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
TRUSTED_TYPES = [
    "functools.partial",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn.utils.validation.check_array",
]


#: the alias of the newest registered (better) model, and the experiment type MLflow 3 records
CHAMPION_ALIAS = "champion"
EXPERIMENT_KIND = {"mlflow.experimentKind": "custom_model_development"}
#: the environment variable `dvc exp run` sets for its stages
DVC_EXP_ENV = "DVC_EXP_NAME"
PARAMS_FILE = "params.yaml"


def _git(root: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True)


def git_commit(root: Path) -> str:
    proc = _git(root, "rev-parse", "HEAD")
    return proc.stdout.strip() if proc.returncode == 0 else "unknown"


def dvc_outputs(root: Path) -> set[str]:
    """The paths dvc.yaml declares as outputs, metrics or plots of its stages (DVC rewrites them
    during a run, so they never make a run "dirty"), plus dvc.lock."""
    paths = {"dvc.lock"}
    spec = root / "dvc.yaml"
    if spec.is_file():
        for stage in (yaml.safe_load(spec.read_text(encoding="utf-8")) or {}).get("stages", {}).values():
            for kind in ("outs", "metrics", "plots"):
                for entry in stage.get(kind, []) or []:
                    paths.update([entry] if isinstance(entry, str) else entry)
    return {p.rstrip("/") for p in paths}


def changed_files(root: Path) -> list[str] | None:
    """Tracked files that differ from HEAD (staged or not), DVC's outputs left out; None outside git."""
    proc = _git(root, "status", "--porcelain=v1", "--untracked-files=no", "-z")
    if proc.returncode != 0:
        return None
    outputs = dvc_outputs(root)
    entries = [e for e in proc.stdout.split("\0") if e]
    files, skip = [], False
    for entry in entries:
        if skip:  # the source path of a rename
            skip = False
            continue
        status, path = entry[:2], entry[3:]
        skip = "R" in status or "C" in status
        if not any(path == o or path.startswith(o + "/") for o in outputs):
            files.append(path)
    return sorted(files)


def _flatten(tree, prefix: str = "") -> dict:
    if isinstance(tree, dict):
        out = {}
        for key, value in tree.items():
            out.update(_flatten(value, f"{prefix}{key}."))
        return out
    return {prefix[:-1]: tree}


def params_diff(root: Path) -> dict[str, list]:
    """Parameters of ``params.yaml`` that differ from the committed one: {"train.max_iter": [200, 400]}
    (``None`` for a parameter on one side only); empty outside git or without the file."""
    now_file = root / PARAMS_FILE
    proc = _git(root, "show", f"HEAD:{PARAMS_FILE}")
    if proc.returncode != 0 or not now_file.is_file():
        return {}
    before = _flatten(yaml.safe_load(proc.stdout) or {})
    now = _flatten(yaml.safe_load(now_file.read_text(encoding="utf-8")) or {})
    return {k: [before.get(k), now.get(k)] for k in sorted(set(before) | set(now)) if before.get(k) != now.get(k)}


def provenance(root: Path, model: str) -> tuple[str, dict[str, str]]:
    """The run name ``<model> / <DVC experiment> / <short commit>[-dirty]`` and the tags saying
    which code and parameters made the run."""
    commit = git_commit(root)
    changed = changed_files(root)
    dirty = bool(changed)
    experiment = os.environ.get(DVC_EXP_ENV, "").strip()
    diff = params_diff(root)
    short = commit[:7] + ("-dirty" if dirty else "")
    tags = {
        "git_commit": commit,
        "git_dirty": str(dirty).lower(),
        "params_diff": "; ".join(f"{k}: {a} -> {b}" for k, (a, b) in diff.items()) or "none",
    }
    if dirty:
        tags["git_changed"] = ", ".join(changed[:20]) + (f" (+{len(changed) - 20} more)" if len(changed) > 20 else "")
    if experiment:
        tags["dvc_experiment"] = experiment
    return " / ".join([model, *([experiment] if experiment else []), short]), tags


def runs_url(host: str = "http://127.0.0.1:5000", root: Path | None = None) -> str:
    """The MLflow 3 UI page with the runs table of the project's experiment."""
    mlflow = start(root)
    return f"{host}/#/experiments/{mlflow.get_experiment_by_name(EXPERIMENT).experiment_id}/runs"


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
    tables = [
        t for (t,) in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'") if t != "alembic_version"
    ]
    return [
        (t, c[1])
        for t in tables
        for c in con.execute(f'PRAGMA table_info("{t}")')
        if c[2].upper().startswith(("VARCHAR", "TEXT", "CHAR"))
    ]


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
            raise RuntimeError(
                f"{db}: experiment '{EXPERIMENT}' keeps its artifacts at {old}, not in a local folder; "
                f"cannot re-point it at {location}"
            )
        old_path = url2pathname(urlparse(old).path)  # file:///a/b%20c -> /a/b c
        new_path = (root / ARTIFACTS_DIR).as_posix()
        changed: dict[str, int] = {}
        for table, column in _text_columns(con):
            for before, after in ((old, location), (old_path, new_path)):
                cur = con.execute(
                    f'UPDATE "{table}" SET "{column}" = :after || substr("{column}", length(:before) + 1) '
                    f'WHERE "{column}" = :before OR substr("{column}", 1, length(:before) + 1) = :before || \'/\'',
                    {"before": before, "after": after},
                )
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
        raise RuntimeError(
            f"{uri}: experiment '{EXPERIMENT}' keeps its artifacts at {experiment.artifact_location}, not {location}"
        )
    experiment = mlflow.set_experiment(EXPERIMENT)
    for key, value in EXPERIMENT_KIND.items():
        if experiment.tags.get(key) != value:  # what MLflow's UI sets when one picks "model training"
            mlflow.set_experiment_tag(key, value)
    return mlflow


def load_model(model_uri: str, root: Path | None = None):
    """A logged or registered model (e.g. ``models:/stoffwechsel-ranker/1``) as an MLflow pyfunc
    model, from this project's store and artifacts."""
    mlflow = start(root)
    return mlflow.pyfunc.load_model(model_uri)


def _import_skops() -> None:
    """Import ``skops.io`` (MLflow's format for scikit-learn models) without torch.

    At import skops lists scikit-learn's estimators (``sklearn.utils.discovery.all_estimators``),
    whose package walk imports ``sklearn.externals.array_api_compat.torch`` and with it torch:
    2.5-4 s of the train and recommend stages, which never use torch. No estimator lives there
    (``all_estimators`` skips ``externals``), so a placeholder for that one module, in place only
    during the import, gives the same list of trusted types (208 here either way)."""
    if "skops.io" in sys.modules or "torch" in sys.modules:
        return
    name = "sklearn.externals.array_api_compat.torch"
    placeholder = types.ModuleType(name)
    sys.modules.setdefault(name, placeholder)
    try:
        import skops.io  # noqa: F401
    finally:
        if sys.modules.get(name) is placeholder:
            del sys.modules[name]


def log_training_run(
    name: str,
    ranker,
    sample: pd.DataFrame,
    params: dict,
    metrics: dict[str, float],
    feature_views: dict[str, str],
    data_hashes: dict[str, str],
    figures: dict,
    register_as: str | None,
    root: Path | None = None,
    description: str | None = None,
    alias: str | None = None,
) -> dict:
    """One MLflow run named by :func:`provenance`: parameters, metrics (with intervals), feature
    view versions, git commit, dirty flag, DVC experiment and params diff, DVC hashes of the
    training data, the model with its signature, the evaluation figures; optionally registered in
    the model registry with the same tags, the alias ``alias`` (default :data:`CHAMPION_ALIAS`) and
    ``description``."""
    from mlflow.models import infer_signature

    root = root or config.ROOT
    _import_skops()
    mlflow = start(root)
    x = ranker.matrix(sample)
    run_name, run_tags = provenance(Path(root), name)
    with mlflow.start_run(run_name=run_name) as run:
        mlflow.log_params({k: (v if not isinstance(v, (list, dict)) else str(v)) for k, v in params.items()})
        mlflow.log_params({"feature_set": ranker.feature_set, "n_features": len(ranker.columns)})
        mlflow.log_metrics({k.replace("@", "_at_"): float(v) for k, v in metrics.items() if v == v})
        tags = {f"feature_view.{view}": version for view, version in feature_views.items()}
        tags.update({f"dvc.{path}": md5 for path, md5 in data_hashes.items()})
        tags.update(run_tags)
        tags["model"] = name
        mlflow.set_tags(tags)
        for fname, fig in figures.items():
            mlflow.log_figure(fig, fname)
        info = mlflow.sklearn.log_model(
            ranker.model,
            name="model",
            signature=infer_signature(x, ranker.model.predict_proba(x)[:, 1]),
            input_example=x.head(3),
            registered_model_name=register_as,
            skops_trusted_types=TRUSTED_TYPES,
            pip_requirements=pip_requirements(),
        )
        if register_as:
            client = mlflow.MlflowClient()
            version = info.registered_model_version
            for key, value in tags.items():
                client.set_model_version_tag(register_as, version, key, value)
            client.set_registered_model_alias(register_as, alias or CHAMPION_ALIAS, version)
            client.update_model_version(
                register_as, version, description=description or f"{name} ranker, run {run_name}"
            )
        return {
            "run_id": run.info.run_id,
            "run_name": run_name,
            "model_uri": info.model_uri,
            "registered_version": info.registered_model_version,
        }


#: the registry alias of the model version that made the served lists (the recommend stage)
SERVING_ALIAS = "serving"


def log_serving_run(manifest: dict, ranker, sample: pd.DataFrame, register_as: str, root: Path | None = None) -> dict:
    """The recommend stage's run: a trained ranker is logged and registered under ``register_as``
    with the alias :data:`SERVING_ALIAS`, tagged with the manifest (model sha256, feature view
    versions, serving day; ``sample``: retrieved candidate rows, for the model's signature); a simple
    rule (no ranker) is logged as a run with the manifest only."""
    root = root or config.ROOT
    flat = {
        "served_at": manifest["served_at"],
        "top_n": manifest["top_n"],
        **{f"candidates.{k}": v for k, v in manifest["candidates"].items()},
    }
    if ranker is None:
        mlflow = start(root)
        run_name, run_tags = provenance(Path(root), f"serving-{manifest['model']}")
        with mlflow.start_run(run_name=run_name) as run:
            mlflow.log_params(flat)
            mlflow.set_tags({**run_tags, "model": manifest["model"], "why": manifest["why"]})
            mlflow.log_dict(manifest, "manifest.json")
            return {"run_id": run.info.run_id, "run_name": run_name, "model_uri": None, "registered_version": None}
    return log_training_run(
        f"serving-{manifest['model']}",
        ranker,
        sample,
        flat,
        {},
        manifest["feature_views"],
        {},
        {},
        register_as,
        root=root,
        description=f"{manifest['model']} ranker trained on all data up to {manifest['data_until']}: "
        f"the model behind the served lists ({manifest['why']}); model sha256 {manifest['model_sha256']}",
        alias=SERVING_ALIAS,
    )
