"""Paths and constants in one place.

Every path the pipeline reads or writes is named here, relative to the project root, so that
notebooks, the CLI and the tests agree on them. Stage parameters live in ``params.yaml``
(one section per stage) and are read with :func:`load_params`.
"""

from __future__ import annotations

import os
from pathlib import Path

import yaml


def project_root() -> Path:
    """The project root: ``$STOFFWECHSEL_ROOT`` if set, else the nearest folder above the
    current directory that holds ``params.yaml`` (notebooks run from ``notebooks/``)."""
    env = os.environ.get("STOFFWECHSEL_ROOT")
    if env:
        return Path(env).resolve()
    here = Path.cwd().resolve()
    for folder in (here, *here.parents):
        if (folder / "params.yaml").is_file():
            return folder
    return here


ROOT = project_root()
MATERIALS_DIR = ROOT / "materials"
DATA_DIR = ROOT / "data"
REPORTS_DIR = ROOT / "reports"
NOTEBOOKS_DIR = ROOT / "notebooks"
EXECUTED_NOTEBOOKS_DIR = REPORTS_DIR / "notebooks"
PARAMS_FILE = ROOT / "params.yaml"
#: Beside reports/verification.json: this machine's verification facts (untracked; read by the
#: verify stage's page and the site's analysts' block)
VERIFICATION_ENVIRONMENT_FILE = "verification-environment.json"

# The client's four files, by role.
PRODUCTS_FILE = "products.csv"
CUSTOMERS_FILE = "customers.csv"
TRANSACTIONS_FILE = "transactions.csv"
RECOMMENDATIONS_FILE = "production-recommendations-sample.csv"
DVC_TEMPLATE_FILE = "dvc-config-template.yaml"
MATERIAL_FILES = (PRODUCTS_FILE, CUSTOMERS_FILE, TRANSACTIONS_FILE, RECOMMENDATIONS_FILE)


def load_params(section: str | None = None, path: Path | None = None) -> dict:
    """``params.yaml`` as a dict, or one stage's section of it."""
    with open(path or PARAMS_FILE, encoding="utf-8") as fh:
        params = yaml.safe_load(fh) or {}
    if section is None:
        return params
    if section not in params:
        raise KeyError(f"{path or PARAMS_FILE}: no section '{section}' (have: {', '.join(params)})")
    return params[section]


def embedding_cache_dir(param: str) -> Path:
    """The embedding cache folder: ``$STOFFWECHSEL_EMBEDDING_CACHE`` if set (the tests share one
    cache across their temporary clones), else params.yaml's ``embeddings.cache_dir`` under the
    project root. The cache is content-addressed, so sharing it never changes a vector."""
    return Path(os.environ.get("STOFFWECHSEL_EMBEDDING_CACHE") or ROOT / param)
