"""Source notebooks under git: cleaning them, and diffs that work outside the activated venv.

**Cleaning** (``make nb-clean`` -> :func:`clean`): nbstripout removes outputs, execution counts
and volatile metadata (keeping cell ids); then the notebook metadata is set to the one form every
committed notebook has (:data:`NOTEBOOK_METADATA`). nbstripout alone keeps what Jupyter writes
when a notebook is opened or run (``language_info`` with version, mimetype, ...; a kernelspec
display name such as "Python 3 (ipykernel)"), which left a metadata diff after cleaning.

**Diffs** (``make nbdime`` -> :func:`configure_git`): ``.gitattributes`` maps ``*.ipynb`` to the
``jupyternotebook`` diff and merge drivers. nbdime's own ``git-nbdiffdriver config --enable``
writes the bare command name, so ``git diff`` outside the activated venv failed ("git-nbdiffdriver:
not found, external diff died"). Here the drivers are written with absolute paths to the venv's
executables (their shebangs name the venv's Python, so no activation is needed), the diff ignores
outputs, metadata and details (execution counts), and a ``textconv`` (nbstripout to stdout) makes
``git log -p`` and ``git show``, which do not run external diff drivers, show cleaned notebooks
too. Without ``make nbdime`` git diffs notebooks as plain JSON.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path

import nbformat

#: the notebook metadata of every committed source notebook (tests/test_project.py allows these keys)
NOTEBOOK_METADATA = {
    "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
    "language_info": {"name": "python"},
}
#: metadata nbstripout removes besides its defaults
EXTRA_KEYS = ("metadata.papermill", "metadata.widgets", "cell.metadata.papermill", "cell.metadata.execution")
#: what Jupyter adds to the notebook metadata when it runs one; left out of `git log -p` views
#: (the textconv), and reset by :func:`clean`
JUPYTER_METADATA_KEYS = tuple(
    f"metadata.language_info.{k}"
    for k in ("codemirror_mode", "file_extension", "mimetype", "nbconvert_exporter", "pygments_lexer", "version")
) + ("metadata.kernelspec.display_name",)
DRIVER = "jupyternotebook"  # the name .gitattributes uses
#: what source-notebook diffs leave out (nbdime's ignorables)
DIFF_IGNORES = ("--ignore-outputs", "--ignore-metadata", "--ignore-details")


def venv_bin() -> Path:
    """The folder of this Python's executables (the venv's ``bin``), as an absolute path."""
    return Path(sys.executable).absolute().parent


def nbstripout_command() -> list[str]:
    return [str(venv_bin() / "nbstripout"), "--keep-id", "--extra-keys", " ".join(EXTRA_KEYS)]


def clean(paths: Iterable[Path]) -> list[Path]:
    """Strip outputs and volatile metadata, then set :data:`NOTEBOOK_METADATA`; returns the
    notebooks whose bytes changed."""
    changed = []
    for path in map(Path, paths):
        before = path.read_bytes()
        subprocess.run([*nbstripout_command(), str(path)], check=True)
        nb = nbformat.read(path, as_version=4)
        if dict(nb.metadata) != NOTEBOOK_METADATA:
            nb.metadata = nbformat.from_dict(NOTEBOOK_METADATA)
            nbformat.write(nb, path)
        if path.read_bytes() != before:
            changed.append(path)
    return changed


def git_settings() -> dict[str, str]:
    """The git config entries of the notebook diff and merge drivers, with absolute paths."""
    bin_dir = venv_bin()
    return {
        f"diff.{DRIVER}.command": f"{bin_dir / 'git-nbdiffdriver'} diff {' '.join(DIFF_IGNORES)}",
        f"diff.{DRIVER}.textconv": (
            f"{bin_dir / 'nbstripout'} -t --keep-id --extra-keys '{' '.join(EXTRA_KEYS + JUPYTER_METADATA_KEYS)}'"
        ),
        f"merge.{DRIVER}.driver": f"{bin_dir / 'git-nbmergedriver'} merge %O %A %B %L %P",
        f"merge.{DRIVER}.name": "jupyter notebook merge driver (nbdime)",
    }


def configure_git(repo: Path) -> dict[str, str]:
    """Write :func:`git_settings` into the repository's git config (``git config --local``)."""
    settings = git_settings()
    for key, value in settings.items():
        subprocess.run(["git", "config", "--local", key, value], cwd=repo, check=True)
    return settings
