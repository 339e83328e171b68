"""Verification target 1 by the pipeline (`reproduce` stage, lib/stoffwechsel/reproduction.py):
which earlier commit is checked, that the check runs once per key, that its evidence has
deterministic bytes, and, on a tiny real DVC project, that the clone recomputes with empty caches
and that a difference is reported."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import yaml

from conftest import run
from stoffwechsel import reproduction
from stoffwechsel.reproduction import FEATURE_STAGES

GIT = ["git", "-c", "user.name=t", "-c", "user.email=t@t"]


def fake_lock(tag: str) -> str:
    stages = {
        s: {
            "cmd": f"make {s}",
            "deps": [{"path": "materials/products.csv", "md5": "d" * 32}],
            "outs": [
                {"path": f"data/{s}", "md5": f"{tag:0>28}{s[:4]:0>4}.dir"},
                {"path": f"reports/notebooks/{s}.ipynb", "md5": "n" * 32},  # never compared
            ],
        }
        for s in FEATURE_STAGES
    }
    return yaml.safe_dump({"schema": "2.0", "stages": stages})


def commit(repo, tag: str | None, encoding: bool, message: str) -> str:
    params = {"embeddings": {"batch_size": 64, **({"encoding": "exact-f64"} if encoding else {})}}
    (repo / "params.yaml").write_text(yaml.safe_dump(params))
    if tag is not None:
        (repo / "dvc.lock").write_text(fake_lock(tag))
    run(["git", "add", "-A"], repo)
    run([*GIT, "commit", "-q", "--allow-empty", "-m", message], repo)
    return run(["git", "rev-parse", "HEAD"], repo).stdout.strip()


@pytest.fixture
def history(tmp_path):
    """c1: before issue 22 (no embeddings.encoding); c2, c3: after it, with different features;
    c4: a later commit with c3's features."""
    repo = tmp_path / "repo"
    repo.mkdir()
    run(["git", "init", "-q", "-b", "main"], repo)
    revs = {
        "c1": commit(repo, "a", False, "before the issue"),
        "c2": commit(repo, "b", True, "exact encoder"),
        "c3": commit(repo, "c", True, "new features"),
        "c4": commit(repo, None, True, "docs only"),
    }
    return repo, revs


def test_the_newest_commit_whose_features_differ_is_chosen(history):
    repo, revs = history
    choice = reproduction.choose_commit(repo)  # working tree = HEAD (c4) = c3's features
    assert choice["commit"] == revs["c2"]
    assert "differ" in choice["why_this"]


def test_head_is_checked_when_the_working_tree_has_other_features(history):
    repo, revs = history
    (repo / "dvc.lock").write_text(fake_lock("d"))  # recomputed here, not committed yet
    assert reproduction.choose_commit(repo)["commit"] == revs["c4"]


def test_commits_before_the_issue_are_never_chosen(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    run(["git", "init", "-q", "-b", "main"], repo)
    commit(repo, "a", False, "old")
    (repo / "dvc.lock").write_text(fake_lock("z"))
    choice = reproduction.choose_commit(repo)
    assert choice["commit"] is None
    assert "embeddings.encoding" in choice["why"] and "dvc repro --force reproduce" in choice["run"]


def test_the_first_commit_after_the_issue_checks_itself(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    run(["git", "init", "-q", "-b", "main"], repo)
    commit(repo, "a", False, "old")
    head = commit(repo, "b", True, "exact encoder")
    choice = reproduction.choose_commit(repo)
    assert choice["commit"] == head and choice["why_this"].startswith("HEAD")


def test_a_shallow_clone_says_what_to_run(history, tmp_path):
    repo, _ = history
    shallow = tmp_path / "shallow"
    run(["git", "clone", "-q", "--depth", "1", f"file://{repo}", str(shallow)], tmp_path)
    evidence, ran = reproduction.check_reproduction(shallow, reproduce=pytest.fail)
    assert not ran and evidence["checked"] is False
    assert "shallow" in evidence["why"] and evidence["run"].startswith("git fetch --unshallow")


def test_the_check_runs_once_per_key_and_writes_the_same_bytes(history):
    repo, revs = history
    calls = []

    def fake_reproduce(root, rev, recorded):
        calls.append(rev)
        outs = reproduction.outputs_of(recorded)
        return {
            "outputs": {p: {"recorded": m, "reproduced": m} for p, m in outs.items()},
            "differing": [],
            "identical": True,
        }

    evidence, ran = reproduction.check_reproduction(repo, reproduce=fake_reproduce)
    first = (repo / reproduction.EVIDENCE).read_bytes()
    assert ran and calls == [revs["c2"]] and evidence["identical"] is True
    assert set(evidence["outputs"]) == {f"data/{s}" for s in FEATURE_STAGES}
    assert set(evidence) == {
        "checked",
        "commit",
        "differing",
        "identical",
        "key",
        "method",
        "outputs",
        "stages",
        "why_this_commit",
    }

    again, ran = reproduction.check_reproduction(repo, reproduce=fake_reproduce)
    assert not ran and calls == [revs["c2"]]
    assert (repo / reproduction.EVIDENCE).read_bytes() == first
    assert json.loads(first) == again

    (repo / "dvc.lock").write_text(fake_lock("d"))  # other features here: HEAD is checked, a new key
    _, ran = reproduction.check_reproduction(repo, reproduce=fake_reproduce)
    assert ran and calls[-1] == revs["c4"]


# ------------------------------------------------------------------------------------------------
# A tiny real DVC project: the clone, the empty caches, the comparison
# ------------------------------------------------------------------------------------------------

STAGE_CODE = """
import os, pathlib, sys
stage, out = sys.argv[1], pathlib.Path(sys.argv[2])
out.mkdir(parents=True, exist_ok=True)
cache = pathlib.Path(os.environ["STOFFWECHSEL_EMBEDDING_CACHE"])
cache.mkdir(parents=True, exist_ok=True)
empty = not any(cache.iterdir())
(cache / stage).write_text("x")
noise = os.urandom(8).hex() if pathlib.Path("NOISY").exists() else ""
(out / "part.txt").write_text(f"{stage} {open('materials.txt').read()} empty cache: {empty}{noise}")
"""


def tiny_project(repo) -> None:
    (repo / "stage.py").write_text(STAGE_CODE)
    (repo / "materials.txt").write_text("v1")
    stages = {}
    previous = "materials.txt"
    for s in FEATURE_STAGES:
        stages[s] = {"cmd": f"python stage.py {s} data/{s}", "deps": ["stage.py", previous], "outs": [f"data/{s}"]}
        previous = f"data/{s}"
    (repo / "dvc.yaml").write_text(yaml.safe_dump({"stages": stages}))


@pytest.mark.slow
def test_a_real_clone_recomputes_with_empty_caches(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    run(["git", "init", "-q", "-b", "main"], repo)
    run(["dvc", "init", "-q"], repo)
    tiny_project(repo)
    env = {"STOFFWECHSEL_EMBEDDING_CACHE": str(tmp_path / "shared-cache")}
    run(["dvc", "repro"], repo, **env)
    first = commit(repo, None, True, "exact encoder")
    (repo / "materials.txt").write_text("v2")
    run(["dvc", "repro"], repo, **env)
    commit(repo, None, True, "new materials")

    # the shared cache is full now: a clone that used it would write "empty cache: False"
    os.environ["STOFFWECHSEL_EMBEDDING_CACHE"], saved = (
        env["STOFFWECHSEL_EMBEDDING_CACHE"],
        os.environ.get("STOFFWECHSEL_EMBEDDING_CACHE"),
    )
    try:
        evidence, ran = reproduction.check_reproduction(repo)
    finally:
        if saved is None:
            os.environ.pop("STOFFWECHSEL_EMBEDDING_CACHE")
        else:
            os.environ["STOFFWECHSEL_EMBEDDING_CACHE"] = saved
    assert ran and evidence["commit"] == first
    assert evidence["identical"] is True and evidence["differing"] == [], evidence
    assert sorted(evidence["outputs"]) == [f"data/{s}" for s in sorted(FEATURE_STAGES)]

    # a stage that is not deterministic: the check says which outputs differ
    (repo / "NOISY").write_text("")
    run([*GIT, "add", "NOISY"], repo)
    run([*GIT, "commit", "-q", "-m", "noise"], repo)
    (repo / reproduction.EVIDENCE).unlink()
    (repo / "materials.txt").write_text("v3")  # the working tree's features differ from HEAD's
    run(["dvc", "repro"], repo, **env)
    evidence, ran = reproduction.check_reproduction(repo)
    assert ran and evidence["identical"] is False
    assert evidence["differing"] == [f"data/{s}" for s in sorted(FEATURE_STAGES)]


def test_the_cli_reports_what_is_missing(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    run(["git", "init", "-q", "-b", "main"], repo)
    commit(repo, "a", False, "old")
    proc = subprocess.run(
        [sys.executable, "-m", "stoffwechsel", "check-reproduction"],
        cwd=repo,
        env={**os.environ, "STOFFWECHSEL_ROOT": str(repo)},
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    assert "target 1 not checked" in proc.stdout and "dvc repro --force reproduce" in proc.stdout
    assert json.loads((repo / reproduction.EVIDENCE).read_text())["checked"] is False
