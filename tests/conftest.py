"""Shared fixtures: the project root, and a throw-away clone of the working tree for tests that
run DVC (they must never touch the developer's own outputs)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent


# one content-addressed embedding cache for every temporary clone (vectors are identical either way)
SHARED_EMBEDDING_CACHE = Path(tempfile.gettempdir()) / "stoffwechsel-test-embedding-cache"
os.environ.setdefault("STOFFWECHSEL_EMBEDDING_CACHE", str(SHARED_EMBEDDING_CACHE))


def tool_env(**extra: str) -> dict[str, str]:
    """Environment for subprocesses: this interpreter's bin first on PATH, offline model hub."""
    env = dict(os.environ)
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    env.pop("MPLBACKEND", None)
    env.pop("STOFFWECHSEL_ROOT", None)
    env.update(extra)
    return env


def run(cmd: list[str], cwd: Path, check: bool = True, **extra: str) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, cwd=cwd, env=tool_env(**extra), capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


def copy_working_tree(dest: Path) -> Path:
    """Copy the files git would see (tracked + untracked, not ignored) into a new git repo."""
    listed = (
        subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=ROOT,
            capture_output=True,
            check=True,
        )
        .stdout.decode()
        .split("\0")
    )
    for rel in filter(None, listed):
        src = ROOT / rel
        if src.is_file():
            target = dest / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, target)
    run(["git", "init", "-q", "-b", "main"], dest)
    run(["git", "add", "-A"], dest)
    run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "snapshot"], dest)
    return dest


@pytest.fixture(scope="session")
def pipeline_clone(tmp_path_factory) -> Path:
    """A clone of the working tree in which `dvc repro` has run once."""
    clone = copy_working_tree(tmp_path_factory.mktemp("clone"))
    # reports from the developer's tree must not leak in: outputs are recomputed
    shutil.rmtree(clone / "reports", ignore_errors=True)
    run(["dvc", "repro"], clone)
    return clone


def pytest_collection_modifyitems(config, items):
    """Under pytest-xdist (`make test` runs two workers with ``--dist loadgroup``), every test that
    reads the session's one `dvc repro` clone runs in the same worker, so the clone is built once;
    the other tests spread over both workers. The longest work is handed out first (the clone's
    group, then the fresh-clone README run and the real-data runs), so no worker is left with a
    five-minute test at the end while the other idles."""
    for item in items:
        if "pipeline_clone" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.xdist_group("pipeline_clone"))

    def rank(item) -> int:
        if "pipeline_clone" in getattr(item, "fixturenames", ()):
            return 0
        return 1 if item.get_closest_marker("pipeline") or item.get_closest_marker("slow") else 2

    items.sort(key=rank)  # stable: file order within each rank
