"""Shared fixtures: the project root, and a throw-away clone of the working tree for tests that
run DVC (they must never touch the developer's own outputs)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import yaml

from stoffwechsel.reproduction import EVIDENCE as REPRODUCTION_EVIDENCE  # committed, keyed evidence

ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent


# one content-addressed embedding cache for every temporary clone (vectors are identical either way)
SHARED_EMBEDDING_CACHE = Path(tempfile.gettempdir()) / "stoffwechsel-test-embedding-cache"
os.environ.setdefault("STOFFWECHSEL_EMBEDDING_CACHE", str(SHARED_EMBEDDING_CACHE))
# Two test workers may train at once (each pipeline's `train` uses OpenMP on every core): with
# OpenMP's default busy-waiting, four spinning threads on two cores made a one-minute training
# take fourteen. Passive waiting changes no result (the thread count stays the same).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


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


#: The stages that read no materials (dvc.yaml deps: code, params and the feature outputs only for
#: reproduce, whose evidence is keyed by those): their committed outputs stay in a copy, as in a
#: fresh `git clone`, and DVC decides whether they re-run (tests/test_stage_grain.py keeps the
#: backtest's deps free of materials).
def _declared_outputs(stage: str) -> list[Path]:
    spec = yaml.safe_load((ROOT / "dvc.yaml").read_text(encoding="utf-8"))["stages"][stage]
    return [Path(o if isinstance(o, str) else next(iter(o))) for key in ("outs", "metrics") for o in spec.get(key, [])]


MATERIALS_FREE_OUTPUTS = (REPRODUCTION_EVIDENCE, *_declared_outputs("backtest"))


def copy_without_reports(dest: Path) -> Path:
    """:func:`copy_working_tree` without the developer's reports (outputs are recomputed), but
    with the committed outputs of the stages that read no materials (:data:`MATERIALS_FREE_OUTPUTS`:
    target 1's evidence, keyed by the lock entries it compared; the delayed-label backtest, on
    simulated histories only), as in a fresh `git clone`: the backtest re-runs only where its
    code or params differ from the commit's (30 s of every pipeline copy otherwise)."""
    clone = copy_working_tree(dest)
    kept = {rel: (clone / rel).read_bytes() for rel in MATERIALS_FREE_OUTPUTS if (clone / rel).is_file()}
    shutil.rmtree(clone / "reports", ignore_errors=True)
    for rel, data in kept.items():
        (clone / rel).parent.mkdir(parents=True, exist_ok=True)
        (clone / rel).write_bytes(data)
    return clone


@pytest.fixture(scope="session")
def pipeline_clone(tmp_path_factory) -> Path:
    """A clone of the working tree in which `dvc repro` has run once."""
    clone = copy_without_reports(tmp_path_factory.mktemp("clone"))
    run(["dvc", "repro"], clone)
    return clone


#: The test files whose tests read the session's one `dvc repro` clone (``pipeline_clone``).
PIPELINE_CLONE_FILES = (
    "test_dashboard.py",
    "test_docs.py",
    "test_dvc_deps.py",
    "test_modeling.py",
    "test_pipeline.py",
    "test_remote.py",
    "test_serving.py",
    "test_stage_grain.py",
)


#: The test files that define a module-scoped fixture: each is one work unit of the scheduler below,
#: so that fixture is built once. Split test by test, the two workers each built it (the exact
#: encodings of test_exact_encoding.py twice: 110 s of a 2,186 s CI run; the hostile `dvc repro` of
#: test_injection_browser.py, 400 s, whenever its two renderers landed on both workers).
MODULE_FIXTURE_FILES = frozenset(
    path.name
    for path in Path(__file__).parent.glob("test_*.py")
    if re.search(r"""@pytest\.fixture\(scope=["']module["']""", path.read_text(encoding="utf-8"))
)


#: The longest pipeline and slow work outside the clone, seconds of CI (`--durations`, CI run of
#: 2026-12-07 on 7ea64ce): handed out longest first, so that the last minutes of the suite are not
#: one worker finishing a long test while the other idles (in that run: the two-week real export,
#: 185 s, started last). A rough order is all it needs; files not listed come after, in file order.
LONGEST_FILES = {
    "test_readme.py": 352,
    "test_injection_browser.py": 400,
    "test_real_data.py": 470,
    "test_exact_encoding.py": 120,
    "test_extreme_inputs.py": 112,
    "test_embeddings.py": 101,
    "test_dialects.py": 75,
}


def _uses_the_clone(item) -> bool:
    return "pipeline_clone" in getattr(item, "fixturenames", ())


def pytest_collection_modifyitems(config, items):
    """The longest work is handed out first (the clone's tests, then the fresh-clone README run
    and the other pipeline runs, longest first: :data:`LONGEST_FILES`), so no worker is left with
    a five-minute test at the end while the other idles (`make test` keeps this order:
    ``--no-loadscope-reorder``; xdist's default reorder puts the files with most tests first).
    A test that reads the clone must live in one of PIPELINE_CLONE_FILES, which
    the scheduler below keeps on one worker."""
    strays = sorted({item.path.name for item in items if _uses_the_clone(item)} - set(PIPELINE_CLONE_FILES))
    if strays:
        names = ", ".join(strays)
        raise pytest.UsageError(f"tests/conftest.py: add {names} to PIPELINE_CLONE_FILES (they use the clone)")

    def rank(item) -> tuple[int, float]:
        if item.path.name in PIPELINE_CLONE_FILES:
            return (0, 0.0)
        if item.get_closest_marker("pipeline") or item.get_closest_marker("slow"):
            return (1, -LONGEST_FILES.get(item.path.name, 0.0))
        return (2, 0.0)

    items.sort(key=rank)  # stable: file order within each rank and length


@pytest.hookimpl(optionalhook=True)  # a hook of pytest-xdist: unknown when it is not loaded
def pytest_xdist_make_scheduler(config, log):
    """`make test` (``-n 2 --dist loadgroup``): every test of PIPELINE_CLONE_FILES in one work unit,
    so the clone is built once, on one worker; the tests of each file of MODULE_FIXTURE_FILES in
    one unit per file, for the same reason; every other test is a unit of its own. (xdist's own
    ``xdist_group`` mark does not group under pytest 9: it rewrites ``item._nodeid``, which pytest
    9 no longer reads.)"""
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class OneCloneScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            file = nodeid.split("::", 1)[0].rsplit("/", 1)[-1]
            if file in PIPELINE_CLONE_FILES:
                return "pipeline_clone"
            return file if file in MODULE_FIXTURE_FILES else nodeid

    return OneCloneScheduling(config, log)
