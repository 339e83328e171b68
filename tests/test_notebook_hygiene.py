"""Notebook diffs that work outside the activated venv, and `make nb-clean` leaving no metadata
diff (issue 17)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import nbformat
import pytest

from conftest import ROOT
from stoffwechsel import notebook_hygiene

SOURCE = ROOT / "notebooks" / "05_train.ipynb"
BARE_PATH = "/usr/bin:/bin"  # git, no venv


def as_jupyter_leaves_it(path: Path, edit_source: bool) -> None:
    """What running a notebook in JupyterLab (or Papermill) does to it, plus an optional source edit."""
    nb = nbformat.read(path, as_version=4)
    cell = next(c for c in nb.cells if c.cell_type == "code" and "parameters" not in c.metadata.get("tags", []))
    if edit_source:
        cell.source += "\nprint('reviewed change')"
    cell.execution_count = 7
    cell.outputs = [nbformat.v4.new_output("stream", text="OUTPUT-TEXT-ONLY\n")]
    cell.metadata["execution"] = {"iopub.execute_input": "2026-03-02T10:00:00.000Z"}
    nb.metadata["language_info"] = {
        "codemirror_mode": {"name": "ipython", "version": 3},
        "file_extension": ".py",
        "mimetype": "text/x-python",
        "name": "python",
        "nbconvert_exporter": "python",
        "pygments_lexer": "ipython3",
        "version": "3.11.2",
    }
    nb.metadata["kernelspec"]["display_name"] = "Python 3 (ipykernel)"
    nb.metadata["papermill"] = {"duration": 1.5}
    nbformat.write(nb, path)


def test_nb_clean_restores_the_committed_bytes(tmp_path):
    path = tmp_path / SOURCE.name
    shutil.copy(SOURCE, path)
    as_jupyter_leaves_it(path, edit_source=False)
    assert path.read_bytes() != SOURCE.read_bytes()
    assert notebook_hygiene.clean([path]) == [path]
    assert path.read_bytes() == SOURCE.read_bytes(), "no language_info, kernelspec or output diff left"
    assert notebook_hygiene.clean([path]) == []  # idempotent


@pytest.fixture()
def repo(tmp_path) -> Path:
    if shutil.which("git") is None:
        pytest.skip("no git")
    repo = tmp_path / "repo"
    repo.mkdir()
    git = lambda *a: subprocess.run(["git", *a], cwd=repo, check=True, capture_output=True)  # noqa: E731
    git("init", "-q")
    git("config", "user.email", "test@example.org")
    git("config", "user.name", "test")
    shutil.copy(ROOT / ".gitattributes", repo / ".gitattributes")
    shutil.copy(SOURCE, repo / "nb.ipynb")
    git("add", ".")
    git("commit", "-qm", "notebook")
    notebook_hygiene.configure_git(repo)
    return repo


def bare_git(repo: Path, *args: str) -> subprocess.CompletedProcess:
    env = {"HOME": os.environ.get("HOME", "/root"), "PATH": BARE_PATH, "GIT_CONFIG_NOSYSTEM": "1"}
    return subprocess.run(["git", *args], cwd=repo, env=env, capture_output=True, text=True)


def test_git_diff_of_a_notebook_works_without_the_venv_on_path(repo):
    assert shutil.which("git-nbdiffdriver", path=BARE_PATH) is None, "the test needs a PATH without the venv"
    configured = bare_git(repo, "config", "diff.jupyternotebook.command").stdout
    assert configured.startswith("/") and "git-nbdiffdriver" in configured
    as_jupyter_leaves_it(repo / "nb.ipynb", edit_source=True)

    diff = bare_git(repo, "diff")
    assert diff.returncode == 0, diff.stderr
    assert "not found" not in diff.stderr and "external diff died" not in diff.stderr
    assert "reviewed change" in diff.stdout and "/cells/" in diff.stdout, "nbdime's cell-by-cell diff"
    for hidden in ("OUTPUT-TEXT-ONLY", "iopub", "ipykernel", "codemirror", "execution_count"):
        assert hidden not in diff.stdout, f"{hidden!r} shown in a source-notebook diff"

    assert bare_git(repo, "commit", "-qam", "edit").returncode == 0
    log = bare_git(repo, "log", "-p", "-1")  # no external driver here: the textconv (nbstripout)
    assert log.returncode == 0, log.stderr
    assert "reviewed change" in log.stdout
    for hidden in ("OUTPUT-TEXT-ONLY", "iopub", "ipykernel", "language_info"):
        assert hidden not in log.stdout, f"{hidden!r} shown by git log -p"
